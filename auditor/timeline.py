"""The maturity timeline (``mlops-audit timeline``): past revisions of the first-parent history,
each audited straight from the object store (no checkout), to show how each section's answers
changed over time.

Revisions are picked from the history of HEAD read once: the last commit of each month or
quarter (the tip of the branch when the period ended), or every Nth first-parent commit, at most
``MAX_POINTS`` of the newest. The rules and the checks are loaded once for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mlops_auditor.errors import InputError
from mlops_auditor.history import Commit
from mlops_auditor.model import AuditResult
from mlops_auditor.rules import Rules

SCHEMA_VERSION = "1.0"
MAX_POINTS = 24
PERIODS = ("month", "quarter")


@dataclass(frozen=True)
class Every:
    """How revisions are spaced: one per calendar ``month`` or ``quarter``, or every
    ``commits``-th first-parent commit."""

    period: str | None = None
    commits: int | None = None

    def __str__(self) -> str:
        return self.period or str(self.commits)


@dataclass(frozen=True)
class SectionPoint:
    id: str
    title: str
    counts: dict[str, int]
    score: float | None  # share of the applicable statements answered yes

    @property
    def applicable(self) -> int:
        """How many of the section's statements apply (every answer but n/a)."""
        return sum(v for k, v in self.counts.items() if k != "n/a")


@dataclass(frozen=True)
class Point:
    """One audited revision: when it was committed, its answers per section and statement."""

    date: str
    commit: str
    subject: str
    sections: tuple[SectionPoint, ...]
    baseline_mature: bool
    statements: dict[str, str]


def parse_every(text: str) -> Every:
    """``month``, ``quarter`` or a positive number of commits; InputError otherwise."""
    value = text.strip().lower()
    if value in PERIODS:
        return Every(period=value)
    if value.isdigit() and int(value) > 0:
        return Every(commits=int(value))
    raise InputError(f"--every {text!r}: expected month, quarter or a number of commits (e.g. 50)")


def parse_since(text: str) -> int:
    """An ISO date (``2024-01-31``) as the timestamp of its first second, UTC."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"--since {text!r}: expected an ISO date, e.g. 2024-01-31") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _period(timestamp: int, period: str) -> tuple[int, int]:
    """The calendar month or quarter (UTC) a commit time falls in."""
    when = datetime.fromtimestamp(timestamp, UTC)
    return (when.year, when.month if period == "month" else (when.month - 1) // 3 + 1)


def pick(commits: Sequence[Commit], every: Every, since: int | None = None,
         limit: int = MAX_POINTS) -> list[Commit]:
    """The revisions to audit from COMMITS (first-parent history, newest first), oldest first:
    per month or quarter the newest commit on the line (what the branch held when the period
    ended), or every Nth commit counted back from HEAD; only those committed on or after SINCE;
    the newest LIMIT of them."""
    line = [c for c in commits if since is None or c.committed >= since]
    chosen: list[Commit] = []
    if every.commits:
        chosen = line[::every.commits]
    else:
        seen: set[tuple[int, int]] = set()
        for c in line:
            key = _period(c.committed, every.period or "month")
            if key not in seen:
                seen.add(key)
                chosen.append(c)
    return list(reversed(chosen[:limit]))


def history_of(path: Path) -> list[Commit]:
    """The first-parent history of HEAD at PATH, read once; InputError when there is none."""
    from mlops_auditor.snapshot import open_snapshot

    with open_snapshot(path) as snap:
        if not snap.info.is_git:
            raise InputError(f"{path}: the timeline needs a git repository")
        history = snap.history
        if history.reason or not history.commits:
            raise InputError(f"{path}: {history.unusable_reason}")
        return list(history.commits)


def build(path: Path, every: Every, since: int | None, rules: Rules,
          progress: Callable[[str], None] | None = None) -> list[Point]:
    """Audit each picked revision of PATH with one load of RULES and of the checks."""
    from mlops_auditor.engine import all_checks
    from mlops_auditor.engine import audit as run_audit

    chosen = pick(history_of(path), every, since)
    checks, _ = all_checks()
    points = []
    for i, commit in enumerate(chosen, 1):
        if progress:
            progress(f"auditing revision {i}/{len(chosen)} ({commit.sha[:12]})")
        result = run_audit(path, rev=commit.sha, rules=rules, checks=checks)
        points.append(point(commit, result))
    return points


def point(commit: Commit, result: AuditResult) -> Point:
    """What the timeline keeps of one revision's audit."""
    sections = tuple(SectionPoint(s.id, s.title, dict(s.counts), s.score)
                     for s in result.sections)
    return Point(
        date=datetime.fromtimestamp(commit.committed, UTC).date().isoformat(),
        commit=commit.sha,
        subject=commit.subject,
        sections=sections,
        baseline_mature=result.baseline_mature,
        statements={a.statement.id: a.status for a in result.answers},
    )


def to_document(points: Sequence[Point], repository: str, every: Every,
                since: str | None) -> dict[str, Any]:
    """The versioned JSON document: the points, oldest first."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "mlops-audit timeline",
        "repository": repository,
        "every": str(every),
        "since": since,
        "points": [{
            "date": p.date,
            "commit": p.commit,
            "subject": p.subject,
            "baseline_mature": p.baseline_mature,
            "sections": [{"id": s.id, "title": s.title, "counts": s.counts, "score": s.score}
                         for s in p.sections],
            "statements": p.statements,
        } for p in points],
    }


def render_json(points: Sequence[Point], repository: str, every: Every,
                since: str | None) -> str:
    return json.dumps(to_document(points, repository, every, since), indent=2,
                      ensure_ascii=False) + "\n"


def render_text(points: Sequence[Point]) -> str:
    """A table: date, commit, per section the yes count over the applicable statements, and
    the baseline verdict."""
    if not points:
        return "no revisions in the chosen range\n"
    ids = [s.id for s in points[0].sections]
    header = ["date", "commit", *(f"s{sid}" for sid in ids), "baseline"]
    rows = [header]
    for p in points:
        cells = {s.id: f"{s.counts.get('yes', 0)}/{s.applicable}" for s in p.sections}
        rows.append([p.date, p.commit[:12], *(cells.get(sid, "-") for sid in ids),
                     "mature" if p.baseline_mature else "not mature"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    legend = "sections: " + ", ".join(f"s{s.id} {s.title}" for s in points[0].sections)
    return "\n".join([*lines, "", "yes / applicable statements per section", legend]) + "\n"
