"""Loading and validating rules.yaml: the statements, and the conditions that answer them."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from mlops_auditor import conditions, parsers
from mlops_auditor.errors import InputError
from mlops_auditor.model import Statement

REQUIRED = ("id", "sheet", "section", "subsection", "text", "decidable", "what_it_checks",
            "why_it_matters", "how_to_confirm", "remediation")
OPTIONAL = ("applies_when", "yes_when", "no_when", "parts", "parent", "related_facts")
CONDITIONS = ("applies_when", "yes_when", "no_when")
DECIDABLE = ("auto", "assisted", "manual")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    baseline: bool


@dataclass(frozen=True)
class Rules:
    source: dict[str, str]
    sections: tuple[Section, ...]
    statements: tuple[Statement, ...]

    def get(self, statement_id: str) -> Statement | None:
        return next((s for s in self.statements if s.id == statement_id), None)

    def fact_ids(self) -> set[str]:
        ids: set[str] = set()
        for s in self.statements:
            for cond in (s.applies_when, s.yes_when, s.no_when):
                if cond is not None:
                    ids |= conditions.fact_ids(cond)
            ids |= set(s.related_facts)
        return ids


def default_rules_text() -> str:
    return resources.files("mlops_auditor").joinpath("rules.yaml").read_text(encoding="utf-8")


def load_rules(path: Path | None = None) -> Rules:
    """The rules shipped with the auditor, or those of PATH; InputError names every problem."""
    where = str(path) if path else "rules.yaml"
    try:
        text = path.read_text(encoding="utf-8") if path else default_rules_text()
        data = parsers.load_yaml(text)
    except (OSError, UnicodeDecodeError, parsers.ParseError) as exc:
        raise InputError(f"{where}: cannot read rules: {exc}") from None
    rules, problems = parse_rules(data)
    if problems:
        raise InputError(f"{where}: {len(problems)} problem(s): " + "; ".join(problems[:5]))
    return rules


def parse_rules(data: Any) -> tuple[Rules, list[str]]:
    problems: list[str] = []
    if not isinstance(data, dict):
        return Rules({}, (), ()), ["expected a mapping with 'sections' and 'statements'"]
    sections: list[Section] = []
    for i, raw in enumerate(data.get("sections") or []):
        try:
            sections.append(Section(str(raw["id"]), str(raw["title"]), bool(raw["baseline"])))
        except (KeyError, TypeError):
            problems.append(f"sections[{i}]: needs id, title and baseline")
    by_section = {s.id: s for s in sections}
    statements: list[Statement] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("statements") or []):
        if not isinstance(raw, dict):
            problems.append(f"statements[{i}]: expected a mapping")
            continue
        sid = str(raw.get("id", f"#{i}"))
        where = f"statement {sid}"
        missing = [k for k in REQUIRED if raw.get(k) in (None, "")]
        unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        if sid in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(sid)
        section = by_section.get(str(raw["section"]))
        if section is None:
            problems.append(f"{where}: unknown section {raw['section']!r}")
            continue
        if raw["decidable"] not in DECIDABLE:
            problems.append(f"{where}: decidable must be one of {', '.join(DECIDABLE)}")
        for key in CONDITIONS:
            if raw.get(key) is not None:
                problems += conditions.validate(raw[key], f"{where}.{key}")
        problems += _decidable_matches(where, raw)
        statements.append(Statement(
            id=sid, sheet=str(raw["sheet"]), section=section.id, section_title=section.title,
            subsection=str(raw["subsection"]), text=str(raw["text"]).strip(),
            baseline=section.baseline, decidable=raw["decidable"],
            what_it_checks=str(raw["what_it_checks"]).strip(),
            why_it_matters=str(raw["why_it_matters"]).strip(),
            how_to_confirm=str(raw["how_to_confirm"]).strip(),
            remediation=str(raw["remediation"]).strip(),
            applies_when=raw.get("applies_when"), yes_when=raw.get("yes_when"),
            no_when=raw.get("no_when"), parts=tuple(str(p) for p in raw.get("parts") or ()),
            parent=str(raw["parent"]) if raw.get("parent") else None,
            related_facts=tuple(str(f) for f in raw.get("related_facts") or ()),
        ))
    ids = {s.id for s in statements}
    for s in statements:
        for part in s.parts:
            if part not in ids:
                problems.append(f"statement {s.id}: part {part} is not a statement")
    source = {str(k): str(v) for k, v in (data.get("source") or {}).items()}
    return Rules(source, tuple(sections), tuple(statements)), problems


def _decidable_matches(where: str, raw: dict[str, Any]) -> list[str]:
    """`decidable` must say truthfully what the conditions can decide."""
    has_yes, has_no = raw.get("yes_when") is not None, raw.get("no_when") is not None
    kind = raw["decidable"]
    if raw.get("parts"):
        return []
    if kind == "auto" and not (has_yes and has_no):
        return [f"{where}: 'auto' needs both yes_when and no_when"]
    if kind == "assisted" and not (has_yes or has_no):
        return [f"{where}: 'assisted' needs yes_when or no_when"]
    if kind == "manual" and (has_yes or has_no):
        return [f"{where}: 'manual' cannot have yes_when or no_when"]
    return []
