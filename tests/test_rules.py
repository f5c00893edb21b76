"""The shipped rules.yaml is complete and consistent, and parse_rules rejects bad rule files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_auditor.engine import answer_all
from mlops_auditor.errors import InputError
from mlops_auditor.rules import REQUIRED, Rules, load_rules, parse_rules

# (id, sheet number) of the questionnaire's 56 statements, in order, as in the project's
# statement-ids.md; 2.2.7 spans sheets 22-26 through its five parts.
STATEMENTS = [
    ("1.1.1", "1"), ("1.1.2", "2"), ("1.1.3", "3"), ("1.2.1", "4"), ("1.2.2", "5"),
    ("1.2.3", "6"), ("1.3.1", "7"), ("1.3.2", "8"),
    ("2.1.1", "9"), ("2.1.2", "10"), ("2.1.3", "11"), ("2.1.4", "12"), ("2.1.5", "13"),
    ("2.1.6", "14"), ("2.1.7", "15"),
    ("2.2.1", "16"), ("2.2.2", "17"), ("2.2.3", "18"), ("2.2.4", "19"), ("2.2.5", "20"),
    ("2.2.6", "21"), ("2.2.7", "22-26"), ("2.2.8", "27"), ("2.2.9", "28"),
    ("3.1.1", "29"), ("3.1.2", "30"),
    ("3.2.1", "31"), ("3.2.2", "32"), ("3.2.3", "33"), ("3.2.4", "34"), ("3.2.5", "35"),
    ("3.2.6", "36"), ("3.2.7", "37"), ("3.2.8", "38"),
    ("4.1.1", "39"), ("4.1.2", "40"), ("4.2.1", "41"), ("4.2.2", "42"), ("4.3.1", "43"),
    ("4.3.2", "44"), ("4.4.1", "45"), ("4.4.2", "46"),
    ("5.1", "47"), ("5.2", "48"), ("5.3", "49"), ("5.4", "50"), ("5.5", "51"), ("5.6", "52"),
    ("5.7", "53"),
    ("6.1", "54"), ("6.2", "55"), ("6.3", "56"), ("6.4", "57"),
    ("7.1", "58"), ("7.2", "59"), ("7.3", "60"),
]
PARTS = [("2.2.7.1", "22"), ("2.2.7.2", "23"), ("2.2.7.3", "24"), ("2.2.7.4", "25"),
         ("2.2.7.5", "26")]


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules()


# The shipped rules -------------------------------------------------------------------------

def test_the_questionnaire_has_56_statements() -> None:
    assert len(STATEMENTS) == 56
    assert len({sid for sid, _ in STATEMENTS}) == 56


def test_shipped_rules_are_the_statements_in_order_with_2_2_7_parts_after_it(rules: Rules) -> None:
    at = STATEMENTS.index(("2.2.7", "22-26")) + 1
    expected = STATEMENTS[:at] + PARTS + STATEMENTS[at:]
    assert [(s.id, s.sheet) for s in rules.statements] == expected


def test_sheet_numbers_1_to_60_are_each_used_once(rules: Rules) -> None:
    sheets = [s.sheet for s in rules.statements if not s.parts]
    assert sorted(sheets, key=int) == [str(n) for n in range(1, 61)]


def test_every_statement_has_every_required_field(rules: Rules) -> None:
    for s in rules.statements:
        for key in REQUIRED:
            value = getattr(s, key)
            assert isinstance(value, str) and value.strip(), f"{s.id}: {key} is empty"


def test_sections_1_to_4_are_the_baseline(rules: Rules) -> None:
    assert [(s.id, s.baseline) for s in rules.sections] == [
        ("1", True), ("2", True), ("3", True), ("4", True),
        ("5", False), ("6", False), ("7", False)]
    for s in rules.statements:
        assert s.baseline is (s.section in ("1", "2", "3", "4")), s.id
        assert s.id.split(".")[0] == s.section, s.id


def test_subsections_belong_to_their_statement(rules: Rules) -> None:
    for s in rules.statements:
        number = s.subsection.split(" ")[0]
        assert s.id.startswith(number + "."), f"{s.id}: subsection {s.subsection!r}"


def test_2_2_7_is_answered_from_its_five_parts(rules: Rules) -> None:
    parent = rules.get("2.2.7")
    assert parent is not None
    assert parent.parts == tuple(pid for pid, _ in PARTS)
    assert (parent.applies_when, parent.yes_when, parent.no_when) == (None, None, None)
    lead = parent.text.split(" 1. ")[0]
    assert lead.endswith("look up unambiguously:")
    for pid, _ in PARTS:
        part = rules.get(pid)
        assert part is not None and part.parent == "2.2.7"
        assert part.text.startswith(lead + " ") and part.text.endswith(".")
        assert part.text[len(lead) + 1:].rstrip(".") in parent.text
    assert all(s.parent is None for s in rules.statements if not s.id.startswith("2.2.7."))


def test_every_named_fact_is_declared_by_a_builtin_check(rules: Rules) -> None:
    from mlops_auditor.checks import BUILTIN

    declared = {fid for module in BUILTIN for fid in module.FACTS}
    assert rules.fact_ids() - declared == set()


def test_manual_statements_list_evidence_for_the_reviewer(rules: Rules) -> None:
    for s in rules.statements:
        if s.decidable == "manual":
            assert s.related_facts, s.id


def test_nothing_observed_leaves_every_statement_to_a_person(rules: Rules) -> None:
    """Cannot observe is never no: with no facts at all, no statement is yes, no or n/a."""
    answers = answer_all(rules, {})
    assert len(answers) == len(rules.statements)
    assert {a.status for a in answers} == {"manual"}


def test_the_source_is_attributed(rules: Rules) -> None:
    assert rules.source["licence"] == "MIT"
    assert rules.source["url"] == "https://github.com/marvelousmlops/mlops_maturity_assessment"
    assert "Vechtomova" in rules.source["authors"]


# parse_rules rejects bad input -------------------------------------------------------------

def statement(sid: str = "1.1", **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": sid, "sheet": 1, "section": "1", "subsection": "1.1 Example", "text": "A statement.",
        "decidable": "auto", "yes_when": {"fact": "a.x"}, "no_when": {"not": {"fact": "a.x"}},
        "what_it_checks": "w", "why_it_matters": "y", "how_to_confirm": "h", "remediation": "r",
    }
    raw.update(changes)
    return {k: v for k, v in raw.items() if v is not None}


def rule_file(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"source": {"title": "t"},
            "sections": [{"id": "1", "title": "One", "baseline": True}],
            "statements": list(statements) or [statement()]}


def problems_of(data: Any) -> list[str]:
    return parse_rules(data)[1]


def test_a_minimal_rule_file_parses() -> None:
    rules, problems = parse_rules(rule_file())
    assert problems == []
    (s,) = rules.statements
    assert (s.id, s.sheet, s.section_title, s.baseline) == ("1.1", "1", "One", True)


def test_a_missing_field_is_named() -> None:
    data = rule_file(statement(remediation=None))
    assert problems_of(data) == ["statement 1.1: missing remediation"]


def test_an_empty_field_counts_as_missing() -> None:
    assert problems_of(rule_file(statement(text=""))) == ["statement 1.1: missing text"]


def test_an_unknown_key_is_named() -> None:
    assert problems_of(rule_file(statement(colour="red"))) == [
        "statement 1.1: unknown key(s) colour"]


def test_an_unknown_section_is_named() -> None:
    assert problems_of(rule_file(statement(section="9"))) == [
        "statement 1.1: unknown section '9'"]


def test_a_bad_condition_is_named_with_its_place() -> None:
    (problem,) = problems_of(rule_file(statement(yes_when={"fact": "a.x", "approx": 1})))
    assert problem.startswith("statement 1.1.yes_when: unknown comparison ['approx']")


def test_a_bad_decidable_is_named() -> None:
    problems = problems_of(rule_file(statement(decidable="sometimes")))
    assert "statement 1.1: decidable must be one of auto, assisted, manual" in problems


def test_auto_needs_both_yes_when_and_no_when() -> None:
    assert problems_of(rule_file(statement(no_when=None))) == [
        "statement 1.1: 'auto' needs both yes_when and no_when"]


def test_assisted_needs_one_condition() -> None:
    data = rule_file(statement(decidable="assisted", yes_when=None, no_when=None))
    assert problems_of(data) == ["statement 1.1: 'assisted' needs yes_when or no_when"]


def test_manual_cannot_have_yes_when() -> None:
    data = rule_file(statement(decidable="manual", no_when=None))
    assert problems_of(data) == ["statement 1.1: 'manual' cannot have yes_when or no_when"]


def test_a_part_that_does_not_exist_is_named() -> None:
    parent = statement("1.2", yes_when=None, no_when=None, parts=["1.2.1", "1.2.2"])
    part = statement("1.2.1", parent="1.2")
    assert problems_of(rule_file(parent, part)) == ["statement 1.2: part 1.2.2 is not a statement"]


def test_a_duplicate_id_is_named() -> None:
    assert problems_of(rule_file(statement(), statement(sheet=2))) == [
        "statement 1.1: duplicate id"]


def test_a_file_that_is_not_a_mapping_is_rejected() -> None:
    assert problems_of(["statements"]) == ["expected a mapping with 'sections' and 'statements'"]


def test_every_problem_is_reported_not_only_the_first() -> None:
    data = rule_file(statement(colour="red"), statement("1.2", section="9"), statement())
    assert problems_of(data) == [
        "statement 1.1: unknown key(s) colour",
        "statement 1.2: unknown section '9'",
        "statement 1.1: duplicate id",
    ]


def test_load_rules_turns_problems_into_one_input_error(tmp_path: Path) -> None:
    data = rule_file(statement(no_when=None))
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"1 problem\(s\): statement 1.1: 'auto' needs both"):
        load_rules(path)


def test_load_rules_rejects_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("statements: [\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read rules"):
        load_rules(path)

