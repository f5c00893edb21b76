"""The CI gate: the default policy (sections 1-4 yes or n/a), manual and stale answers, and the
baseline mode that fails only on regressions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_auditor import gate
from mlops_auditor.cli import main
from mlops_auditor.engine import answer_all
from mlops_auditor.errors import InputError
from mlops_auditor.model import Answer, Confirmation
from mlops_auditor.rules import load_rules
from tests.gitrepo import RepoBuilder
from tests.test_cli import TRAIN, WORKFLOW

STRICT = gate.Policy()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def answers_with(**statuses: str) -> list[Answer]:
    """Every statement yes, except those named (id with '_' for '.'), e.g. ``_3_2_3="no"``."""
    wanted = {k.lstrip("_").replace("_", "."): v for k, v in statuses.items()}
    out = []
    for a in answer_all(load_rules(), {}):
        status = wanted.get(a.statement.id, "yes")
        out.append(dataclasses.replace(a, status=status))
    return out


def test_all_yes_passes_and_each_broken_baseline_statement_gets_a_line() -> None:
    assert gate.failures(answers_with(), STRICT) == []
    got = gate.failures(answers_with(_3_2_3="no", _1_1_1="manual", _5_1="no", _2_2_7_1="no"),
                        STRICT)
    assert got == [
        "gate: 1.1.1 is manual: no one confirmed it (mlops-audit confirm, or --allow-manual)",
        "gate: 3.2.3 is no (sections 1-4 must be yes or n/a)",
    ]  # 5.1 is not a baseline statement; 2.2.7.1 is a part, judged through 2.2.7


def test_manual_and_stale_pass_only_when_allowed() -> None:
    answers = answers_with(_1_1_1="manual")
    stale = [dataclasses.replace(a, stale="expired on 2026-01-01") if a.statement.id == "1.1.2"
             else a for a in answers]
    assert len(gate.failures(stale, STRICT)) == 2
    assert gate.failures(stale, gate.Policy(allow_manual=True)) == [
        "gate: 1.1.2 is confirmed yes but stale: expired on 2026-01-01 (re-confirm it, or "
        "--allow-stale)"]
    assert gate.failures(stale, gate.Policy(allow_manual=True, allow_stale=True)) == []


def test_baseline_fails_only_on_regressions_in_any_section() -> None:
    baseline = {"3.2.3": "yes", "5.1": "n/a", "1.1.1": "no", "2.1.1": "manual"}
    now = answers_with(_1_1_1="no", _2_1_1="no", _3_2_3="yes", _5_1="no", _6_1="no")
    assert gate.failures(now, STRICT, baseline) == ["gate: 5.1 was n/a in the baseline, now no"]
    lost = answers_with(_3_2_3="manual")
    assert gate.failures(lost, STRICT, baseline) == [
        "gate: 3.2.3 was yes in the baseline, now manual"]
    assert gate.failures(lost, gate.Policy(allow_manual=True), baseline) == []


def test_load_baseline_reads_a_report_and_refuses_anything_else(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"statements": [{"id": "3.2.3", "status": "yes"}]}))
    assert gate.load_baseline(good) == {"3.2.3": "yes"}
    for name, content, message in [
            ("a.json", "{", "cannot read it as JSON"),
            ("b.json", "[]", "not an mlops-audit JSON report"),
            ("c.json", '{"statements": [{"id": "1.1.1", "status": "maybe"}]}',
             "without a valid id and status")]:
        bad = tmp_path / name
        bad.write_text(content)
        with pytest.raises(InputError, match=message):
            gate.load_baseline(bad)


@pytest.fixture
def builder(tmp_path: Path) -> RepoBuilder:
    b = RepoBuilder(tmp_path / "proj")
    b.commit("Initial import", {"README.md": "# Churn model\n", "src/train.py": TRAIN,
                                "requirements.txt": "pandas==2.2.2\nscikit-learn==1.5.0\n"})
    b.merge_pr(1, "ci", {".github/workflows/ci.yml": WORKFLOW}, title="Add CI")
    return b


def test_baseline_mode_passes_without_regression_and_fails_when_a_yes_is_lost(
        builder: RepoBuilder, tmp_path: Path) -> None:
    repo = builder.path
    previous = tmp_path / "previous.json"
    code, _, err = run("audit", "--format", "json", "-o", str(previous), str(repo))
    assert code == 0, err
    assert json.loads(previous.read_text())["statements"]

    code, out, err = run("audit", "--gate", str(repo))
    assert code == 1 and "gate: 1.2.1 is no (sections 1-4 must be yes or n/a)" in err
    assert "Verdict:" in out

    builder.commit("Unrelated change", {"src/util.py": "X = 1\n"})
    code, out, err = run("audit", "--baseline", str(previous), str(repo))  # implies --gate
    assert (code, err) == (0, "")
    assert "Verdict:" in out

    builder.commit("Drop the tests from CI", {".github/workflows/ci.yml":
                                              WORKFLOW.replace("      - run: python -m pytest\n",
                                                               "")})
    builder.close()
    report = tmp_path / "now.txt"
    code, out, err = run("audit", "--gate", "--baseline", str(previous), "-o", str(report),
                         str(repo))
    assert code == 1 and out == ""
    assert err.splitlines() == ["gate: 3.2.3 was yes in the baseline, now no"]
    assert "3.2.3" in report.read_text()


def test_baseline_mode_fails_on_a_stale_confirmation_unless_allowed(
        builder: RepoBuilder, tmp_path: Path) -> None:
    repo = builder.path
    code, _, err = run("confirm", "1.1.1", "--answer", "yes", "--by", "Ada", "--note", "wiki",
                       str(repo))
    assert code == 0, err
    previous = tmp_path / "previous.json"
    assert run("audit", "--format", "json", "-o", str(previous), str(repo))[0] == 0
    assert run("audit", "--baseline", str(previous), str(repo))[0] == 0
    builder.commit("Goals", {"README.md": "# Churn\n\n## Business goals\n\nCut churn by 5%.\n"})
    builder.close()
    code, _, err = run("audit", "--baseline", str(previous), str(repo))
    assert code == 1
    assert err.splitlines() == [
        "gate: 1.1.1 was yes in the baseline, now yes (stale: evidence changed since confirmed)"]
    code, _, err = run("audit", "--baseline", str(previous), "--allow-stale", str(repo))
    assert (code, err) == (0, "")


def test_a_bad_baseline_is_one_line_and_exit_2(builder: RepoBuilder, tmp_path: Path) -> None:
    builder.close()
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    code, out, err = run("audit", "--baseline", str(bad), str(builder.path))
    assert code == 2 and out == ""
    assert err.startswith(f"mlops-audit: --baseline {bad}: cannot read it as JSON")
    assert err.count("\n") == 1


def test_a_confirmed_yes_counts_even_when_the_automated_answer_is_no() -> None:
    a = answers_with(_1_1_1="no")[0]
    confirmed = dataclasses.replace(
        a, status="yes", source="confirmed", automated="no",
        confirmation=Confirmation("yes", "Ada", "2026-01-01", "w"))
    assert gate.problem(confirmed, STRICT) is None
