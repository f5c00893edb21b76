"""The answers file: validation, digest and staleness, where it is read from, and the init and
confirm commands, ending with the whole loop audit -> init -> confirm -> stale -> gate."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_auditor import answers
from mlops_auditor.cli import main
from mlops_auditor.engine import answer_all, audit
from mlops_auditor.errors import InputError
from mlops_auditor.model import Answer, Confirmation, Evidence
from mlops_auditor.rules import load_rules
from tests.gitrepo import RepoBuilder
from tests.test_cli import TRAIN, WORKFLOW

KNOWN = {"1.1.1", "5.1", "3.2.3"}
DIGEST = "a" * 64
GOALS = "# Churn model\n\n## Business goals\n\nCut churn by 5% this year; KPI: monthly churn.\n"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    b = RepoBuilder(tmp_path / "proj")
    b.commit("Initial import", {"README.md": "# Churn model\n", "src/train.py": TRAIN,
                                "requirements.txt": "pandas==2.2.2\nscikit-learn==1.5.0\n"})
    b.merge_pr(1, "ci", {".github/workflows/ci.yml": WORKFLOW}, title="Add CI")
    b.close()
    return b.path


def statement_lines(report: str, sid: str) -> list[str]:
    """The lines of one statement in the text report: its head line and the indented ones."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [sid])
    end = start + 1
    while end < len(lines) and lines[end].startswith(" " * 18):
        end += 1
    return lines[start:end]


# -- validation -----------------------------------------------------------------------------------


def test_a_valid_file_is_read_with_yaml_booleans_and_dates() -> None:
    text = f"""\
version: 1
answers:
  "1.1.1":
    answer: yes
    by: Ada
    date: 2026-01-31
    why: goals are in the wiki
    links: [https://wiki.example/goals]
    expires: 2027-01-31
  "5.1":
    answer: n/a
    by: Bo
    date: "2026-02-01"
    why: no model in production
    evidence_digest: "{DIGEST}"
"""
    got = answers.parse(text, "answers.yaml", KNOWN)
    assert got["1.1.1"] == Confirmation("yes", "Ada", "2026-01-31", "goals are in the wiki",
                                         ("https://wiki.example/goals",), "2027-01-31", None)
    assert got["5.1"].answer == "n/a" and got["5.1"].evidence_digest == DIGEST
    assert answers.parse("", "answers.yaml", KNOWN) == {}
    assert answers.parse("version: 1\nanswers:\n", "answers.yaml", KNOWN) == {}


@pytest.mark.parametrize("text, message", [
    ("answers:\n  \"1.1.1\":\n    answer: maybe\n    by: A\n    date: 2026-01-01\n    why: w\n",
     "answers.1.1.1.answer (line 3): 'maybe' is not one of yes, no, n/a"),
    ("answers:\n  \"1.1.1\":\n    answer: yes\n    date: 2026-01-01\n    why: w\n",
     "answers.1.1.1 (line 2): missing 'by'"),
    ("answers:\n  \"9.9\":\n    answer: yes\n", "answers.9.9 (line 2): no such statement"),
    ("answers:\n  5.1:\n    answer: yes\n", "answers.5.1 (line 2): write the statement id as a "
                                            "quoted string"),
    ("answers:\n  \"1.1.1\":\n    answer: no\n    by: A\n    date: last week\n    why: w\n",
     "answers.1.1.1.date (line 5): expected an ISO date"),
    ("answers:\n  \"1.1.1\":\n    answer: no\n    by: A\n    date: 2026-01-01\n    why: w\n"
     "    colour: red\n", "answers.1.1.1.colour (line 7): unknown key"),
    ("answers:\n  \"1.1.1\":\n    answer: no\n    by: A\n    date: 2026-01-01\n    why: w\n"
     "    links: https://x\n", "answers.1.1.1.links (line 7): expected a list"),
    ("answers:\n  \"1.1.1\":\n    answer: no\n    by: A\n    date: 2026-01-01\n    why: w\n"
     "    evidence_digest: abc\n", "answers.1.1.1.evidence_digest (line 7): expected 64"),
    ("answer:\n  x: 1\n", "answer (line 1): unknown key"),
    ("version: 2\n", "version (line 1): only version 1 is known"),
    ("answers: [1, 2]\n", "answers (line 1): expected a mapping of statement ids"),
    ("- just\n- a list\n", "expected a mapping with 'version' and 'answers'"),
    ("answers: {\n", "invalid YAML"),
])
def test_invalid_files_name_the_key_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        answers.parse(text, "answers.yaml", KNOWN)
    assert str(caught.value).startswith("answers.yaml: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# -- digest and staleness ---------------------------------------------------------------------


def manual_answer() -> Answer:
    rules = load_rules()
    return next(a for a in answer_all(rules, {}) if a.statement.id == "1.1.1")


def test_digest_follows_status_and_what_was_found_in_files() -> None:
    one = (Evidence("found goals", "README.md", 3), Evidence("did not find it in 3 files"))
    digest = answers.evidence_digest("manual", one)
    assert digest != answers.evidence_digest("yes", one)
    assert digest != answers.evidence_digest("manual", (Evidence("found goals", "docs/a.md", 3),
                                                        *one))
    assert digest != answers.evidence_digest("manual", (Evidence("found aims", "README.md", 3),))
    # unrelated churn: a line moved, a search summary counted more files, a new commit
    churn = (Evidence("did not find it in 9 files"), Evidence("merged", commit="ab" * 20),
             Evidence("found goals", "README.md", 7))
    assert answers.evidence_digest("manual", churn) == digest


def test_a_confirmation_wins_and_keeps_the_automated_answer() -> None:
    a = manual_answer()
    digest = answers.evidence_digest(a.status, a.evidence)
    c = Confirmation("no", "Ada", "2026-01-31", "no goals anywhere", evidence_digest=digest)
    got = answers.apply(a, c, date(2026, 2, 1))
    assert (got.status, got.source, got.automated, got.stale) == ("no", "confirmed", "manual",
                                                                   None)
    assert got.reason == "confirmed no by Ada on 2026-01-31: no goals anywhere"
    assert got.evidence == a.evidence


def test_changed_evidence_expiry_and_missing_digest_make_it_stale() -> None:
    a = manual_answer()
    c = Confirmation("yes", "Ada", "2026-01-31", "wiki", expires="2026-06-30",
                     evidence_digest=DIGEST)
    got = answers.apply(a, c, date(2026, 7, 1))
    assert got.status == "yes"
    assert got.stale == "evidence changed since confirmed; expired on 2026-06-30"
    fresh = Confirmation("yes", "Ada", "2026-01-31", "wiki", expires="2026-06-30",
                         evidence_digest=answers.evidence_digest(a.status, a.evidence))
    assert answers.apply(a, fresh, date(2026, 6, 30)).stale is None
    unsigned = Confirmation("yes", "Ada", "2026-01-31", "wiki")
    assert "no evidence digest recorded" in (answers.apply(a, unsigned, date(2026, 2, 1)).stale
                                             or "")


def test_rendered_file_reads_back_and_templates_the_open_statements() -> None:
    rules = load_rules()
    all_answers = answer_all(rules, {})
    c = Confirmation("n/a", "Bo \"the lead\"", "2026-01-31", "no model:\n# served yet",
                     ("https://x.example/a?b=1",), "2027-01-01", DIGEST)
    text = answers.render_file(all_answers, {"1.1.1": c})
    assert answers.parse(text, "answers.yaml", {s.id for s in rules.statements}) == {"1.1.1": c}
    assert "  # 1.1.2: Overview of all team members" in text
    assert "How to confirm:" in text
    empty = answers.render_file(all_answers, {})
    assert "answers: {}" in empty
    assert answers.parse(empty, "answers.yaml", {s.id for s in rules.statements}) == {}


# -- where it is read from ------------------------------------------------------------------------


def entry(answer: str, why: str) -> str:
    return (f"answers:\n  \"1.1.1\":\n    answer: {answer}\n    by: Ada\n"
            f"    date: 2026-01-31\n    why: {why}\n")


def status_of(path: Path, sid: str, rev: str | None = None) -> tuple[str, str]:
    a = next(a for a in audit(path, rev=rev).answers if a.statement.id == sid)
    return a.status, a.source


def test_committed_file_counts_and_working_tree_file_wins_without_rev(tmp_path: Path) -> None:
    b = RepoBuilder(tmp_path / "p")
    first = b.commit("init", {"README.md": "# x\n", answers.ANSWERS_PATH: entry("no", "none")})
    b.close()
    assert status_of(b.path, "1.1.1") == ("no", "confirmed")
    (b.path / answers.ANSWERS_PATH).write_text(entry("yes", "in the wiki"))
    assert status_of(b.path, "1.1.1") == ("yes", "confirmed")
    assert status_of(b.path, "1.1.1", rev=first) == ("no", "confirmed")


def test_confirming_a_part_does_not_make_its_confirmed_whole_stale(repo: Path) -> None:
    for sid in ("2.2.7", "2.2.7.1"):
        code, _, err = run("confirm", sid, "--answer", "yes", "--by", "A", "--note", "n",
                           str(repo))
        assert code == 0, err
    got = {a.statement.id: a for a in audit(repo).answers}
    assert (got["2.2.7"].status, got["2.2.7"].stale) == ("yes", None)
    assert (got["2.2.7.1"].status, got["2.2.7.1"].automated) == ("yes", "no")
    assert got["2.2.7"].automated == "no"


def test_a_symlinked_working_tree_file_is_not_followed(tmp_path: Path) -> None:
    b = RepoBuilder(tmp_path / "p")
    b.commit("init", {"README.md": "# x\n"})
    b.close()
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(entry("yes", "planted"))
    (b.path / ".mlops-audit").mkdir()
    (b.path / answers.ANSWERS_PATH).symlink_to(outside)
    assert status_of(b.path, "1.1.1") == ("manual", "auto")
    code, _, err = run("confirm", "1.1.1", "--answer", "yes", "--by", "A", "--note", "n",
                       str(b.path))
    assert code == 2 and "symbolic link" in err
    assert outside.read_text() == entry("yes", "planted")


def test_bad_committed_answers_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    b = RepoBuilder(tmp_path / "p")
    b.commit("init", {answers.ANSWERS_PATH: entry("perhaps", "w")})
    b.close()
    code, out, err = run("audit", str(b.path))
    assert code == 2 and out == ""
    assert err == ("mlops-audit: .mlops-audit/answers.yaml: answers.1.1.1.answer (line 3): "
                   "'perhaps' is not one of yes, no, n/a\n")


# -- commands -------------------------------------------------------------------------------------


def test_init_writes_the_skeleton_once_and_never_for_a_bare_repository(
        repo: Path, tmp_path: Path) -> None:
    code, out, err = run("init", str(repo))
    assert code == 0, err
    assert "wrote" in out
    text = (repo / answers.ANSWERS_PATH).read_text()
    assert "  # 1.1.1: Business goals and KPIs" in text and "  # How to confirm:" in text
    assert "# 3.2.3" not in text  # decided by the evidence: nothing to confirm
    code, _, err = run("init", str(repo))
    assert code == 2 and "already exists" in err and err.count("\n") == 1
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    code, _, err = run("init", str(bare))
    assert code == 2 and "bare repository" in err
    assert not (bare / ".mlops-audit").exists()


def test_confirm_needs_answer_by_and_note_and_a_known_id(repo: Path) -> None:
    code, _, err = run("confirm", "1.1.1", "--answer", "yes", str(repo))
    assert code == 2 and "needs --answer, --by and --note" in err
    code, _, err = run("confirm", "9.9", "--answer", "yes", "--by", "A", "--note", "n", str(repo))
    assert code == 2 and "no statement '9.9'" in err
    code, _, err = run("confirm", "1.1.1", "--answer", "yes", "--by", "A", "--note", "n",
                       "--expires", "soon", str(repo))
    assert code == 2 and "--expires 'soon'" in err
    assert not (repo / ".mlops-audit").exists()


def test_interactive_confirm_walks_open_statements_with_their_evidence(repo: Path) -> None:
    # first statement: yes with a link; second: skip; then quit
    code, out, err = run("confirm", str(repo),
                         stdin="yes\nAda\ngoals in the wiki\nhttps://wiki.example/g\nskip\nquit\n")
    assert code == 0, err
    assert "1.1.1" in out and "did not find a section on business goals" in out
    assert "How to confirm:" in out and "recorded 1.1.1: yes" in out
    got = answers.parse((repo / answers.ANSWERS_PATH).read_text(), "a", {"1.1.1", "1.1.2"})
    assert list(got) == ["1.1.1"]
    assert (got["1.1.1"].by, got["1.1.1"].links) == ("Ada", ("https://wiki.example/g",))
    assert got["1.1.1"].evidence_digest is not None


# -- the whole loop -------------------------------------------------------------------------------


def test_audit_init_confirm_confirmed_stale_gate(repo: Path) -> None:
    code, out, _ = run("audit", str(repo))
    assert statement_lines(out, "1.1.1")[0].split()[1] == "manual"
    assert run("init", str(repo))[0] == 0
    code, out, err = run("confirm", "1.1.1", "--answer", "yes", "--by", "Ada Dev", "--note",
                         "goals and KPIs are in the wiki", "--link", "https://wiki.example/g",
                         str(repo))
    assert code == 0, err
    assert "recorded 1.1.1: yes by Ada Dev" in out

    code, out, _ = run("audit", str(repo))
    lines = statement_lines(out, "1.1.1")
    assert lines[0].split()[1] == "yes"
    assert f"confirmed yes (by Ada Dev, {date.today().isoformat()}); automated: manual" in lines[1]
    assert not any("stale" in line for line in lines)
    code, out, _ = run("audit", "--format", "json", str(repo))
    doc = {s["id"]: s for s in json.loads(out)["statements"]}
    c = doc["1.1.1"]["confirmation"]
    assert doc["1.1.1"]["status"] == "yes" and doc["1.1.1"]["source"] == "confirmed"
    assert (c["by"], c["automated"], c["stale"], c["links"]) == (
        "Ada Dev", "manual", None, ["https://wiki.example/g"])
    assert doc["1.1.2"]["confirmation"] is None

    b = RepoBuilder(repo)  # the evidence changes: the README gains a goals section
    b.commit("Document goals", {"README.md": GOALS, answers.ANSWERS_PATH:
                                (repo / answers.ANSWERS_PATH).read_text()})
    b.close()
    code, out, _ = run("audit", str(repo))
    lines = statement_lines(out, "1.1.1")
    assert lines[0].split()[1] == "yes"
    assert any(line.strip() == "stale: evidence changed since confirmed" for line in lines)

    code, out, err = run("audit", "--gate", "--allow-manual", str(repo))
    assert code == 1
    assert "1.1.1" in out  # the report is printed as usual
    assert ("gate: 1.1.1 is confirmed yes but stale: evidence changed since confirmed "
            "(re-confirm it, or --allow-stale)") in err.splitlines()
