"""The CI gate (``mlops-audit audit --gate``): which statements break the policy, one reason each.

Default policy: every statement of the baseline sections (1-4) must be yes or n/a; confirmed
answers count. An unconfirmed manual statement breaks it unless manual answers are allowed, and a
stale confirmation (evidence changed, expired) breaks it unless stale answers are allowed.
With a baseline (a previous ``--format json`` report), only regressions break it: a statement,
in any section, that was yes or n/a in the baseline and does not hold now under the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlops_auditor.errors import InputError
from mlops_auditor.model import Answer

HOLDING = ("yes", "n/a")
STATUSES = ("yes", "no", "n/a", "manual")


@dataclass(frozen=True)
class Policy:
    allow_manual: bool = False
    allow_stale: bool = False


def load_baseline(path: Path) -> dict[str, str]:
    """Statement id -> status from a previous JSON report; anything else is an InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--baseline {path}: cannot read it as JSON ({exc})") from None
    return parse_baseline(text, f"--baseline {path}")


def parse_baseline(text: str, where: str) -> dict[str, str]:
    """Statement id -> status from the text of a previous JSON report (WHERE names it)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: cannot read it as JSON ({exc})") from None
    rows = doc.get("statements") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise InputError(f"{where}: not an mlops-audit JSON report "
                         "(no 'statements' list; write one with --format json)")
    out: dict[str, str] = {}
    for row in rows:
        if not (isinstance(row, dict) and isinstance(row.get("id"), str)
                and row.get("status") in STATUSES):
            raise InputError(f"{where}: a statement without a valid id and status")
        out[row["id"]] = row["status"]
    return out


def problem(a: Answer, policy: Policy) -> str | None:
    """Why this answer does not hold under the policy, or None when it holds."""
    if a.status == "no":
        return "is no (sections 1-4 must be yes or n/a)"
    if a.status == "manual":
        return None if policy.allow_manual else (
            "is manual: no one confirmed it (mlops-audit confirm, or --allow-manual)")
    if a.stale is not None and not policy.allow_stale:
        return (f"is confirmed {a.status} but stale: {a.stale} (re-confirm it, or "
                "--allow-stale)")
    return None


def failures(answers: Sequence[Answer], policy: Policy,
             baseline: Mapping[str, str] | None = None) -> list[str]:
    """One line per statement that breaks the policy (empty when the gate passes)."""
    out = []
    for a in answers:
        sid = a.statement.id
        why = problem(a, policy)
        if why is None:
            continue
        if baseline is not None:
            before = baseline.get(sid)
            if before in HOLDING:
                now = a.status if a.stale is None else f"{a.status} (stale: {a.stale})"
                out.append(f"gate: {sid} was {before} in the baseline, now {now}")
        elif a.statement.baseline and a.statement.parent is None:
            out.append(f"gate: {sid} {why}")
    return out
