"""The condition language of rules.yaml: validation, three-valued evaluation, deciding facts."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_auditor.conditions import deciding_facts, evaluate, fact_ids, validate
from mlops_auditor.model import Fact


def facts(values: dict[str, Any]) -> dict[str, Fact]:
    """Facts from id -> value; a value of None is a fact that could not be observed."""
    return {fid: Fact(fid, value, unknown="not observed" if value is None else None)
            for fid, value in values.items()}


# validate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("cond", [
    {"fact": "a.x"},
    {"fact": "a.share", "ge": 0.9},
    {"fact": "a.items", "eq": []},
    {"not": {"fact": "a.x"}},
    {"all": [{"fact": "a.x"}, {"any": [{"fact": "a.y"}, {"not": {"fact": "a.z", "lt": 1}}]}]},
])
def test_validate_accepts_well_formed_conditions(cond: Any) -> None:
    assert validate(cond) == []


def test_validate_rejects_a_non_mapping() -> None:
    assert validate(["a.x"], "rule") == ["rule: expected a mapping, got list"]


def test_validate_rejects_an_unknown_comparison_and_names_it() -> None:
    (problem,) = validate({"fact": "a.x", "approx": 1}, "rule")
    assert problem.startswith("rule: unknown comparison ['approx']")
    assert "ge" in problem  # the message lists what is allowed


def test_validate_rejects_two_comparisons_on_one_fact() -> None:
    (problem,) = validate({"fact": "a.x", "gt": 1, "lt": 5})
    assert "unknown comparison ['gt', 'lt']" in problem


def test_validate_rejects_a_branch_with_company() -> None:
    (problem,) = validate({"all": [{"fact": "a.x"}], "fact": "a.y"}, "rule")
    assert problem == "rule: 'all' must stand alone, found ['all', 'fact']"


@pytest.mark.parametrize("members", [[], {"fact": "a.x"}, None])
def test_validate_needs_a_non_empty_member_list(members: Any) -> None:
    assert validate({"any": members}, "rule") == ["rule.any: expected a non-empty list"]


def test_validate_needs_fact_or_branch() -> None:
    (problem,) = validate({"ge": 1}, "rule")
    assert problem == "rule: expected 'fact', 'all', 'any' or 'not', found ['ge']"


def test_validate_needs_a_string_fact_id() -> None:
    assert validate({"fact": 3}, "rule") == ["rule.fact: expected a fact id string"]


def test_validate_names_the_path_to_a_nested_problem() -> None:
    cond = {"all": [{"fact": "a.x"}, {"not": {"any": [{"fact": "a.y"}, {"fact": 1}]}}]}
    assert validate(cond, "s.yes_when") == [
        "s.yes_when.all[1].not.any[1].fact: expected a fact id string"]


def test_validate_reports_every_bad_member() -> None:
    problems = validate({"any": [{"fact": 1}, {"fact": "a.x"}, {"oops": 2}]}, "r")
    assert len(problems) == 2
    assert problems[0].startswith("r.any[0]")
    assert problems[1].startswith("r.any[2]")


# fact_ids ----------------------------------------------------------------------------------

def test_fact_ids_collects_every_id_of_a_nested_tree() -> None:
    cond = {"all": [{"fact": "a.x"}, {"any": [{"not": {"fact": "b.y", "ge": 1}}, {"fact": "a.x"}]}]}
    assert fact_ids(cond) == {"a.x", "b.y"}


# evaluate: single facts --------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (3, True), (0, False), (0.0, False), ("yes", True),
    ("", False), (("x",), True), ((), False),
])
def test_a_bare_fact_is_its_truthiness(value: Any, expected: bool) -> None:
    assert evaluate({"fact": "a.x"}, facts({"a.x": value})) is expected


def test_a_fact_that_was_not_reported_is_unknown() -> None:
    assert evaluate({"fact": "a.missing"}, facts({"a.x": True})) is None


def test_a_fact_that_could_not_be_observed_is_unknown_not_false() -> None:
    assert evaluate({"fact": "a.x"}, facts({"a.x": None})) is None
    assert evaluate({"fact": "a.x", "lt": 0.5}, facts({"a.x": None})) is None
    assert evaluate({"not": {"fact": "a.x"}}, facts({"a.x": None})) is None


@pytest.mark.parametrize(("op", "arg", "value", "expected"), [
    ("eq", 0, 0, True), ("eq", 0, 1, False),
    ("ne", 0, 1, True), ("ne", 0, 0, False),
    ("gt", 0, 1, True), ("gt", 0, 0, False),
    ("ge", 0.9, 0.9, True), ("ge", 0.9, 0.89, False),
    ("lt", 0.5, 0.49, True), ("lt", 0.5, 0.5, False),
    ("le", 1, 1, True), ("le", 1, 2, False),
    ("contains", "lint", ("lint", "format"), True), ("contains", "types", ("lint",), False),
    ("contains", "prod", "preprod", True),
    ("in", ["github", "gitlab"], "gitlab", True), ("in", ["github"], "azure", False),
])
def test_comparisons(op: str, arg: Any, value: Any, expected: bool) -> None:
    assert evaluate({"fact": "a.x", op: arg}, facts({"a.x": value})) is expected


def test_an_empty_tuple_equals_an_empty_list() -> None:
    cond = {"fact": "a.items", "eq": []}
    assert evaluate(cond, facts({"a.items": ()})) is True
    assert evaluate(cond, facts({"a.items": ("data",)})) is False


def test_a_tuple_compares_equal_to_the_same_list() -> None:
    cond = {"fact": "a.items", "eq": ["data", "training"]}
    assert evaluate(cond, facts({"a.items": ("data", "training")})) is True
    assert evaluate(cond, facts({"a.items": ("training", "data")})) is False


def test_a_comparison_of_unlike_types_is_unknown_not_an_error() -> None:
    assert evaluate({"fact": "a.x", "gt": 0}, facts({"a.x": "many"})) is None
    assert evaluate({"fact": "a.x", "contains": "y"}, facts({"a.x": 3})) is None


# evaluate: three-valued all / any / not ----------------------------------------------------

TRI = facts({"t.true": True, "t.false": False, "t.unknown": None})
T, F, U = {"fact": "t.true"}, {"fact": "t.false"}, {"fact": "t.unknown"}


@pytest.mark.parametrize(("members", "expected"), [
    ([T, T], True), ([T, F], False), ([F, U], False), ([T, U], None), ([U, U], None),
])
def test_all_is_false_when_any_member_is_false_and_unknown_otherwise(
        members: list[Any], expected: bool | None) -> None:
    assert evaluate({"all": members}, TRI) is expected


@pytest.mark.parametrize(("members", "expected"), [
    ([F, F], False), ([T, F], True), ([T, U], True), ([F, U], None), ([U, U], None),
])
def test_any_is_true_when_any_member_is_true_and_unknown_otherwise(
        members: list[Any], expected: bool | None) -> None:
    assert evaluate({"any": members}, TRI) is expected


@pytest.mark.parametrize(("inner", "expected"), [(T, False), (F, True), (U, None)])
def test_not_keeps_unknown(inner: Any, expected: bool | None) -> None:
    assert evaluate({"not": inner}, TRI) is expected


def test_unknown_propagates_through_nesting() -> None:
    cond = {"all": [T, {"any": [F, {"not": U}]}]}
    assert evaluate(cond, TRI) is None
    assert evaluate({"any": [cond, T]}, TRI) is True


# deciding_facts ----------------------------------------------------------------------------

def test_a_false_all_is_decided_by_its_false_members_only() -> None:
    cond = {"all": [T, F, {"fact": "t.false2"}]}
    values = facts({"t.true": True, "t.false": False, "t.false2": 0})
    assert deciding_facts(cond, values) == ["t.false", "t.false2"]


def test_a_true_any_is_decided_by_its_true_members_only() -> None:
    assert deciding_facts({"any": [F, T, U]}, TRI) == ["t.true"]


def test_an_unknown_branch_is_decided_by_its_unknown_members() -> None:
    assert deciding_facts({"all": [T, U]}, TRI) == ["t.unknown"]
    assert deciding_facts({"any": [F, U]}, TRI) == ["t.unknown"]


def test_a_true_all_or_false_any_is_decided_by_every_member() -> None:
    assert deciding_facts({"all": [T, {"not": F}]}, TRI) == ["t.true", "t.false"]
    assert deciding_facts({"any": [F, {"not": T}]}, TRI) == ["t.false", "t.true"]


def test_deciding_facts_walks_nested_branches() -> None:
    cond = {"all": [T, {"any": [F, {"fact": "t.true", "ge": 1}]}, {"not": F}]}
    assert evaluate(cond, TRI) is True
    assert deciding_facts(cond, TRI) == ["t.true", "t.true", "t.false"]
    failing = {"all": [T, {"any": [F, {"not": T}]}]}
    assert deciding_facts(failing, TRI) == ["t.false", "t.true"]
