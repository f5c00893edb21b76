"""Many repositories at once (``mlops-audit portfolio``): the ``--format json`` results that each
repository's own CI produced, gathered into one matrix of repositories x statements, the share of
repositories at each answer per statement, and the weakest practices across the organisation.

Only the result documents are read (never the repositories themselves); every piece of text in
them came from somewhere else, so it is escaped in HTML and defused in CSV.
"""

from __future__ import annotations

import csv
import importlib.resources
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import jinja2

from mlops_auditor import __version__
from mlops_auditor.errors import InputError
from mlops_auditor.render.html import ICON, STATUSES, clean

SCHEMA_VERSION = "1.0"
_VERSION = re.compile(r"^1\.[0-9]+$")
_ID = re.compile(r"^([1-7](\.[0-9]+){1,3}|[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+)$")  # as the schema
_MAX_BYTES = 50_000_000  # a result document is a few hundred kilobytes; refuse anything absurd
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell as a formula


@dataclass(frozen=True)
class Repository:
    """One repository's result: its name in the portfolio, where it was audited, the commit, the
    verdict, and each statement's answer by id."""

    name: str
    path: str
    file: str
    commit: str | None
    branch: str | None
    baseline_mature: bool
    reason: str
    statuses: dict[str, str]


@dataclass(frozen=True)
class Statement:
    """A statement as the results describe it, with how many repositories gave each answer."""

    id: str
    text: str
    section: str
    baseline: bool
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """The repositories whose result holds this statement."""
        return sum(self.counts.values())

    def share(self, status: str) -> float:
        """The share of those repositories at STATUS (0 when none holds the statement)."""
        return self.counts[status] / self.total if self.total else 0.0

    @property
    def yes_where_applicable(self) -> float | None:
        """The share of yes among the repositories where the statement applies (not n/a); None
        when it applies nowhere, which is no weakness."""
        applicable = self.total - self.counts["n/a"]
        return self.counts["yes"] / applicable if applicable else None


@dataclass(frozen=True)
class Portfolio:
    repositories: list[Repository]
    statements: list[Statement]

    def weakest(self) -> list[Statement]:
        """The practices to work on: statements not yes everywhere they apply, baseline first,
        then by their share of yes (lowest first), then in questionnaire order."""
        order = {s.id: n for n, s in enumerate(self.statements)}
        weak = [s for s in self.statements
                if s.yes_where_applicable is not None and s.yes_where_applicable < 1]
        return sorted(weak, key=lambda s: (not s.baseline, s.yes_where_applicable, order[s.id]))


def result_files(paths: Sequence[Path]) -> list[Path]:
    """The result documents named: files as given, and a folder's ``*.json`` files (not its
    subfolders), sorted by name."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.glob("*.json") if f.is_file())
            if not found:
                raise InputError(f"{p}: no .json result files in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    if not files:
        raise InputError("portfolio: name at least one RESULT.json file or a folder of them")
    return files


def read_result(path: Path) -> dict[str, Any]:
    """A result document, checked lightly: a JSON object of schema 1.x with a list of
    statements, each with an id and an answer. Anything else is one InputError naming PATH."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise InputError(f"{path}: too large for an audit result")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; expected `mlops-audit audit --format json` "
                         "output") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: not an audit result (expected a JSON object)")
    version = doc.get("schema_version")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise InputError(f"{path}: schema_version {version!r} is not 1.x; expected "
                         "`mlops-audit audit --format json` output")
    statements = doc.get("statements")
    if not isinstance(statements, list) or not statements:
        raise InputError(f"{path}: no statements list")
    for n, s in enumerate(statements):
        if not (isinstance(s, dict) and isinstance(s.get("id"), str) and _ID.match(s["id"])
                and s.get("status") in STATUSES):
            raise InputError(f"{path}: statement {n + 1} has no id or no valid status")
    for key in ("repo", "verdict"):
        if not isinstance(doc.get(key), dict):
            raise InputError(f"{path}: no {key} object")
    return doc


def name_of(repo_path: str, file: Path) -> str:
    """The repository's name: the last part of the audited path, or the result file's name
    when the path says nothing (``.``, as in CI where the audit runs inside the repository)."""
    last = PureWindowsPath(repo_path).name if "\\" in repo_path else PurePosixPath(repo_path).name
    return last if last not in ("", ".", "..") else file.stem


def build(paths: Sequence[Path]) -> Portfolio:
    """Read every result named by PATHS into the matrix; statements in questionnaire order (the
    order of the results, with any statement only some results hold after the others)."""
    files = result_files(paths)
    docs = [(f, read_result(f)) for f in files]
    statements: dict[str, dict[str, Any]] = {}
    repositories = []
    for f, doc in docs:
        repo, verdict = doc["repo"], doc["verdict"]
        path = str(repo.get("path") or "")
        statuses = {}
        for s in doc["statements"]:
            statements.setdefault(s["id"], s)
            statuses[s["id"]] = s["status"]
        head = repo.get("head")
        branch = repo.get("branch")
        repositories.append(Repository(
            name=clean(name_of(path, f)), path=clean(path), file=clean(f.name),
            commit=clean(head) if isinstance(head, str) else None,
            branch=clean(branch) if isinstance(branch, str) else None,
            baseline_mature=verdict.get("baseline_mature") is True,
            reason=clean(verdict.get("reason", "")), statuses=statuses))
    names = [r.name for r in repositories]
    repositories = [r if names.count(r.name) == 1 else _renamed(r, f"{r.name} ({r.file})")
                    for r in repositories]
    rows = []
    for sid, s in statements.items():
        counts = dict.fromkeys(STATUSES, 0)
        for r in repositories:
            if sid in r.statuses:
                counts[r.statuses[sid]] += 1
        rows.append(Statement(id=sid, text=clean(s.get("text", "")),
                              section=clean(s.get("section", "")),
                              baseline=s.get("baseline") is True, counts=counts))
    return Portfolio(repositories, rows)


def _renamed(r: Repository, name: str) -> Repository:
    return Repository(name, r.path, r.file, r.commit, r.branch, r.baseline_mature, r.reason,
                      r.statuses)


def verdict(r: Repository) -> str:
    return "baseline mature" if r.baseline_mature else "not baseline mature"


def _cell(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(_FORMULA) else text


def to_csv(p: Portfolio) -> str:
    """One row per repository: name, audited path, commit, verdict, then each statement's
    answer in questionnaire order (empty when the result does not hold the statement)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["repository", "path", "commit", "verdict", *(s.id for s in p.statements)])
    for r in p.repositories:
        w.writerow([_cell(r.name), _cell(r.path), r.commit or "", verdict(r),
                    *(r.statuses.get(s.id, "") for s in p.statements)])
    return out.getvalue()


def to_document(p: Portfolio) -> dict[str, Any]:
    """The matrix, each statement's counts and shares, and the weakest practices, as data."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlops-auditor", "version": __version__},
        "repositories": [
            {"name": r.name, "path": r.path, "file": r.file, "commit": r.commit,
             "branch": r.branch, "baseline_mature": r.baseline_mature, "reason": r.reason,
             "statuses": {s.id: r.statuses.get(s.id) for s in p.statements}}
            for r in p.repositories],
        "statements": [
            {"id": s.id, "text": s.text, "section": s.section, "baseline": s.baseline,
             "repositories": s.total, "counts": s.counts,
             "shares": {k: round(s.share(k), 4) for k in STATUSES},
             "yes_where_applicable": (None if s.yes_where_applicable is None
                                      else round(s.yes_where_applicable, 4))}
            for s in p.statements],
        "weakest": [s.id for s in p.weakest()],
    }


def to_json(p: Portfolio) -> str:
    return json.dumps(to_document(p), indent=2, ensure_ascii=False) + "\n"


def to_html(p: Portfolio, now: datetime | None = None) -> str:
    """One self-contained page, autoescaped, with no script and nothing loaded from elsewhere."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    text = (importlib.resources.files("mlops_auditor.templates")
            .joinpath("portfolio.html.j2").read_text(encoding="utf-8"))
    mature = sum(r.baseline_mature for r in p.repositories)
    return env.from_string(text).render(
        p=p, weakest=p.weakest(), statuses=STATUSES, icon=ICON, verdict=verdict,
        mature=mature, version=__version__,
        date=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        pct=lambda x: f"{x:.0%}")


def render(paths: Sequence[Path], fmt: str) -> str:
    """The portfolio of the results named by PATHS in FMT (html, csv or json)."""
    p = build(paths)
    if fmt == "csv":
        return to_csv(p)
    if fmt == "json":
        return to_json(p)
    return to_html(p)
