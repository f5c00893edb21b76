"""The model of what CI configuration says: runs (what starts a job, with sample values of the
CI system's variables), commands (what a job runs) and the scan that collects them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops_auditor.checks import common
from mlops_auditor.model import Evidence
from mlops_auditor.snapshot import matching

FEATURE = "feature-x"  # a sample feature branch name: what a pull request's branch is called
TAG = "v1.2.3"  # a sample release tag
MAX_DEPTH = 8  # nesting of includes, templates, reusable workflows


class _Unknown:
    """A value the repository does not tell (a variable set in the CI system, a secret)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
Val = str | bool | None | _Unknown


@dataclass(frozen=True)
class PathFilter:
    """Paths a trigger is limited to (GitHub ``paths``/``paths-ignore``, GitLab ``changes``,
    Azure ``paths: include/exclude``). GitHub's ``!pattern`` negations are applied in order."""

    include: tuple[str, ...] | None
    exclude: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.include is not None:
            parts.append("paths " + ", ".join(self.include[:6]))
        if self.exclude:
            parts.append("ignoring " + ", ".join(self.exclude[:6]))
        return "; ".join(parts) or "any path"

    def triggered_by(self, path: str) -> bool:
        if self.include is not None:
            hit = False
            for pattern in self.include:
                negated = pattern.startswith("!")
                if _path_matches(pattern[1:] if negated else pattern, path):
                    hit = not negated
            if not hit:
                return False
        return not any(_path_matches(p, path) for p in self.exclude)


def _path_matches(pattern: str, path: str) -> bool:
    """Does a CI path filter match PATH? Lenient on purpose: a pattern with variables, a folder
    (``infra/``) or a bare prefix (Azure's ``infra``) matches what it could match."""
    pattern = pattern.strip().lstrip("/")
    if not pattern or "$" in pattern:
        return True
    if pattern.endswith("/"):
        pattern += "**"
    if not any(c in pattern for c in "*?["):
        return path == pattern or path.startswith(pattern.rstrip("/") + "/")
    return bool(matching([path], pattern))


@dataclass(frozen=True, eq=False)
class Run:
    """One way a pipeline gets started, with sample values of the CI system's variables for it.

    ``kind``: ``pr`` (a pull/merge request, or a push to any feature branch), ``merge`` (a push
    to the default branch), ``tag`` (a release tag or release), ``schedule``, ``manual`` (started
    by hand) or ``other``. Runs compare by identity, so a job's runs can be intersected with the
    runs of the jobs it needs.
    """

    kind: str
    detail: str
    path: str
    line: int | None
    values: Mapping[str, Val] = field(default_factory=dict)
    paths: PathFilter | None = None


@dataclass(frozen=True)
class Command:
    """One command line of a job (or a deploying action/task), with the runs that start it."""

    system: str
    path: str
    line: int | None
    text: str
    job: str
    runs: tuple[Run, ...]
    classes: frozenset[str]
    soft: str | None = None  # why its failure cannot fail the job
    envs: frozenset[str] = frozenset()
    env_param: bool = False  # the command itself is run for each of several environments
    scope: str | None = None  # why this IaC apply leaves the infrastructure to hand deployment

    @property
    def kinds(self) -> set[str]:
        return {run.kind for run in self.runs}


@dataclass(frozen=True)
class JobCtx:
    """What the commands of one job share."""

    system: str
    path: str  # the file the commands are written in
    lines: list[str]
    label: str
    line: int | None
    runs: tuple[Run, ...]
    soft: str | None = None
    envs: frozenset[str] = frozenset()
    env_param: bool = False
    values: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass
class Scan:
    """Everything read from the CI configuration of a snapshot."""

    jobs: dict[str, list[Evidence]] = field(default_factory=dict)  # system -> its jobs
    files: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    unparseable: dict[str, Evidence] = field(default_factory=dict)
    unread: dict[str, Evidence] = field(default_factory=dict)  # CI/CD this check cannot read
    notes: list[Evidence] = field(default_factory=list)

    def job(self, system: str, path: str, line: int | None, name: str) -> None:
        self.jobs.setdefault(system, []).append(common.at(path, line, f"job {name}"))

    def note(self, path: str, line: int | None, detail: str) -> None:
        self.notes.append(common.at(path, line, detail))
