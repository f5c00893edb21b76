"""How the engine turns facts into answers, and keeps going when a check fails."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from mlops_auditor.engine import answer, audit, collect_facts, combine_parts, verdict
from mlops_auditor.model import Evidence, Fact, Statement
from mlops_auditor.rules import load_rules
from tests.conftest import MakeSnapshot


def statement(**conditions: Any) -> Statement:
    decidable = conditions.pop("decidable", "auto")
    return Statement(id="9.9", sheet="99", section="2", section_title="T", subsection="S",
                     text="t", baseline=True, decidable=decidable, what_it_checks="w",
                     why_it_matters="y", how_to_confirm="h", remediation="r", **conditions)


def facts(**values: Any) -> dict[str, Fact]:
    out = {}
    for key, val in values.items():
        fid = key.replace("__", ".")
        out[fid] = Fact(fid, val, (Evidence(f"seen {fid}", path=f"{fid}.txt", line=1),),
                        unknown=None if val is not None else "shallow clone")
    return out


YES = {"fact": "a.ok"}
NO = {"not": {"fact": "a.ok"}}


def test_yes_and_no_cite_the_deciding_evidence() -> None:
    s = statement(yes_when=YES, no_when=NO)
    yes = answer(s, facts(a__ok=True))
    assert yes.status == "yes" and yes.evidence[0].path == "a.ok.txt"
    no = answer(s, facts(a__ok=False))
    assert no.status == "no" and no.facts == ("a.ok",)


def test_counter_evidence_outweighs_support() -> None:
    s = statement(yes_when=YES, no_when={"fact": "a.bad"})
    a = answer(s, facts(a__ok=True, a__bad=True))
    assert a.status == "no"
    assert [e.path for e in a.evidence] == ["a.bad.txt"]


def test_unknown_never_becomes_no() -> None:
    s = statement(yes_when=YES, no_when=NO)
    a = answer(s, facts(a__ok=None))
    assert a.status == "manual"
    assert "cannot observe" in a.reason and "shallow clone" in a.reason


def test_unobserved_counter_evidence_does_not_block_observed_support() -> None:
    s = statement(yes_when=YES, no_when={"fact": "a.bad"})
    a = answer(s, facts(a__ok=True, a__bad=None))
    assert a.status == "yes"
    assert "could not observe: a.bad" in a.reason


def test_missing_fact_is_unknown() -> None:
    assert answer(statement(yes_when=YES, no_when=NO), {}).status == "manual"


def test_applies_when_false_is_na_with_its_evidence() -> None:
    s = statement(applies_when={"fact": "a.api"}, yes_when=YES, no_when=NO)
    a = answer(s, facts(a__api=False, a__ok=False))
    assert a.status == "n/a" and a.evidence[0].path == "a.api.txt"
    assert answer(s, facts(a__api=None, a__ok=True)).status == "manual"


def test_assisted_without_support_goes_to_a_person_with_what_was_searched() -> None:
    s = statement(decidable="assisted", yes_when=YES)
    a = answer(s, facts(a__ok=False))
    assert a.status == "manual"
    assert a.evidence and "person" in a.reason


def test_manual_lists_related_evidence() -> None:
    s = statement(decidable="manual", related_facts=("a.ok",))
    a = answer(s, facts(a__ok=True))
    assert a.status == "manual" and a.evidence[0].path == "a.ok.txt"


def test_parts_combine() -> None:
    parent = statement(parts=("9.9.1", "9.9.2"))
    child = statement(yes_when=YES, no_when=NO)
    yes, no = answer(child, facts(a__ok=True)), answer(child, facts(a__ok=False))
    manual = answer(child, {})
    assert combine_parts(parent, [yes, yes]).status == "yes"
    assert combine_parts(parent, [yes, no]).status == "no"
    assert combine_parts(parent, [yes, manual]).status == "manual"


def _module(name: str, declared: dict[str, str], collect: Any) -> types.ModuleType:
    module = types.ModuleType(f"plugins.{name}")
    module.FACTS = declared  # type: ignore[attr-defined]
    module.collect = collect  # type: ignore[attr-defined]
    return module


def test_a_failing_check_records_an_error_and_the_audit_goes_on(snapshot: MakeSnapshot) -> None:
    def boom(snap: object) -> list[Fact]:
        raise ValueError("odd content")

    good = _module("good", {"good.x": "x"}, lambda snap: [Fact("good.x", True)])
    bad = _module("bad", {"bad.y": "y"}, boom)
    sneaky = _module("sneaky", {"sneaky.z": "z"}, lambda snap: [Fact("other.q", True)])
    found, errors = collect_facts(snapshot({"a.txt": "x"}), [good, bad, sneaky])
    assert found["good.x"].value is True
    assert found["bad.y"].value is None and "odd content" in (found["bad.y"].unknown or "")
    assert found["sneaky.z"].value is None and "did not report" in (found["sneaky.z"].unknown or "")
    assert {e.check for e in errors} == {"bad", "sneaky"}
    assert "other.q" not in found


def test_failed_check_shows_in_the_result_and_its_statements_go_manual(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("print(1)\n")
    from mlops_auditor.checks import BUILTIN

    def boom(snap: object) -> list[Fact]:
        raise RuntimeError("parser exploded")

    broken = [_module("ci", dict(m.FACTS), boom) if m.__name__.endswith(".ci") else m
              for m in BUILTIN]
    result = audit(tmp_path, checks=broken)
    assert [e.check for e in result.errors] == ["ci"]
    by_id = {a.statement.id: a for a in result.answers}
    assert by_id["3.2.3"].status == "manual"
    assert "parser exploded" in by_id["3.2.3"].reason


def test_verdict_counts_only_baseline_statements() -> None:
    rules = load_rules()
    answers = [answer(s, {}) for s in rules.statements if not s.parts]
    mature, reason = verdict(answers)
    assert not mature and "need a person" in reason
