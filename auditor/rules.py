"""Loading and validating rules.yaml: the statements, and the conditions that answer them."""

from __future__ import annotations

import re
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
# A statement an organisation adds needs a namespaced id (``acme.1``): the questionnaire's
# numbers stay reserved, so a later edition of it can never collide with an addition.
NEW_ID = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$")


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


def parse_rules(data: Any, known: frozenset[str] = frozenset()) -> tuple[Rules, list[str]]:
    """Rules from parsed YAML, and every problem found; KNOWN are statement ids defined
    elsewhere that parts may name (an organisation's rules file on top of the shipped ones)."""
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
    ids = {s.id for s in statements} | known
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


def merge_rules(base: Rules, data: Any, where: str) -> Rules:
    """An organisation's rules file (parsed YAML, same format as rules.yaml) on top of BASE: a
    statement with an existing id replaces it, a new (namespaced) id adds one. A new statement
    needs a section: one of BASE's or one this file adds; BASE's sections cannot be redefined."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with 'statements' (and 'sections')")
    unknown = sorted(str(k) for k in data if k not in ("sections", "statements"))
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: sections, statements)")
    added, raw_statements = data.get("sections") or [], data.get("statements") or []
    if not isinstance(added, list) or not isinstance(raw_statements, list):
        raise InputError(f"{where}: 'sections' and 'statements' must be lists")
    existing = {s.id for s in base.sections}
    for raw in added:
        if isinstance(raw, dict) and str(raw.get("id")) in existing:
            raise InputError(f"{where}: section {raw.get('id')} is the questionnaire's; "
                             "add statements to it instead of redefining it")
    base_sections = [{"id": s.id, "title": s.title, "baseline": s.baseline}
                     for s in base.sections]
    known = frozenset(s.id for s in base.statements)
    extra, problems = parse_rules({"sections": base_sections + added,
                                   "statements": raw_statements}, known)
    if problems:
        raise InputError(f"{where}: {len(problems)} problem(s): " + "; ".join(problems[:5]))
    for s in extra.statements:
        if s.id not in known and not NEW_ID.match(s.id):
            raise InputError(f"{where}: statement {s.id}: a new statement needs a namespaced "
                             "id such as 'acme.1' (the questionnaire's numbers are reserved)")
    overrides = {s.id: s for s in extra.statements if s.id in known}
    new = tuple(s for s in extra.statements if s.id not in known)
    merged = tuple(overrides.get(s.id, s) for s in base.statements) + new
    return Rules(base.source, extra.sections, merged)
