"""The data model every stage shares: evidence, facts, statements, answers and the audit result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# A fact's value. None means the repository could not be observed well enough to tell
# ("cannot observe"), which is never the same as False ("looked, and did not find").
FactValue = bool | int | float | str | tuple[str, ...] | None

Status = Literal["yes", "no", "n/a", "manual"]
Decidable = Literal["auto", "assisted", "manual"]


@dataclass(frozen=True)
class Evidence:
    """One place that supports or contradicts a fact: a file (and line), a commit, or a search.

    A search that found nothing is evidence too: ``path`` is None and ``detail`` says what was
    looked for and where.
    """

    detail: str
    path: str | None = None
    line: int | None = None
    commit: str | None = None


@dataclass(frozen=True)
class Fact:
    """An atomic finding of a check, e.g. ``ci.pr_tests`` is True, with the evidence for it.

    ``unknown`` carries the reason when ``value`` is None (shallow clone, unparseable file,
    a check that failed).
    """

    id: str
    value: FactValue
    evidence: tuple[Evidence, ...] = ()
    unknown: str | None = None

    @property
    def truthy(self) -> bool | None:
        if self.value is None:
            return None
        return bool(self.value)


@dataclass(frozen=True)
class Statement:
    """One statement of the questionnaire with the rule that answers it (from rules.yaml)."""

    id: str
    sheet: str
    section: str
    section_title: str
    subsection: str
    text: str
    baseline: bool
    decidable: Decidable
    what_it_checks: str
    why_it_matters: str
    how_to_confirm: str
    remediation: str
    applies_when: object | None = None
    yes_when: object | None = None
    no_when: object | None = None
    parts: tuple[str, ...] = ()
    parent: str | None = None
    related_facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Confirmation:
    """A person's answer to one statement, from the answers file (``.mlops-audit/answers.yaml``),
    with the digest of the automated evidence they saw when they gave it."""

    answer: Literal["yes", "no", "n/a"]
    by: str
    date: str
    why: str
    links: tuple[str, ...] = ()
    expires: str | None = None
    evidence_digest: str | None = None


@dataclass(frozen=True)
class Answer:
    """The answer to one statement. When a person confirmed it (``source`` "confirmed"),
    ``confirmation`` holds what they recorded, ``automated`` what the evidence alone says, and
    ``stale`` why the confirmation may no longer hold (evidence changed, expired), else None.
    A statement the configuration switched off (``source`` "configured") is n/a, and
    ``switched_off`` holds the reason the configuration gives."""

    statement: Statement
    status: Status
    source: Literal["auto", "confirmed", "configured"]
    reason: str
    evidence: tuple[Evidence, ...] = ()
    facts: tuple[str, ...] = ()
    confirmation: Confirmation | None = None
    automated: Status | None = None
    stale: str | None = None
    switched_off: str | None = None


@dataclass(frozen=True)
class CheckError:
    check: str
    message: str


@dataclass(frozen=True)
class RepoInfo:
    path: str
    is_git: bool
    head: str | None
    branch: str | None
    shallow: bool
    rev: str | None
    uncommitted: tuple[str, ...] = ()
    untracked: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SectionScore:
    id: str
    title: str
    baseline: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def applicable(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "n/a")

    @property
    def score(self) -> float | None:
        """Share of applicable statements answered yes; None when none applies."""
        return self.counts.get("yes", 0) / self.applicable if self.applicable else None


@dataclass(frozen=True)
class GateSettings:
    """The gate policy a configuration sets; the command line's flags override it. ``baseline``
    is the previous report's statement id -> status, when the configuration names one."""

    allow_manual: bool | None = None
    allow_stale: bool | None = None
    baseline: dict[str, str] | None = None


@dataclass(frozen=True)
class AuditResult:
    repo: RepoInfo
    answers: tuple[Answer, ...]
    facts: dict[str, Fact]
    errors: tuple[CheckError, ...]
    sections: tuple[SectionScore, ...]
    baseline_mature: bool
    verdict_reason: str
    elapsed_seconds: float
    gate: GateSettings | None = None  # the configuration's gate policy, when it sets one
