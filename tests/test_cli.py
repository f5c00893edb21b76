"""End-to-end tests of the command line: every output format asserted on its content."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from mlops_auditor.cli import main
from tests.gitrepo import RepoBuilder

STATEMENT_IDS = [
    "1.1.1", "1.1.2", "1.1.3", "1.2.1", "1.2.2", "1.2.3", "1.3.1", "1.3.2",
    "2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5", "2.1.6", "2.1.7",
    "2.2.1", "2.2.2", "2.2.3", "2.2.4", "2.2.5", "2.2.6", "2.2.7",
    "2.2.7.1", "2.2.7.2", "2.2.7.3", "2.2.7.4", "2.2.7.5", "2.2.8", "2.2.9",
    "3.1.1", "3.1.2", "3.2.1", "3.2.2", "3.2.3", "3.2.4", "3.2.5", "3.2.6", "3.2.7", "3.2.8",
    "4.1.1", "4.1.2", "4.2.1", "4.2.2", "4.3.1", "4.3.2", "4.4.1", "4.4.2",
    "5.1", "5.2", "5.3", "5.4", "5.5", "5.6", "5.7",
    "6.1", "6.2", "6.3", "6.4", "7.1", "7.2", "7.3",
]

TRAIN = """\
import pandas as pd
from sklearn.linear_model import LogisticRegression


def load(path):
    \"\"\"Read the raw table and drop incomplete rows.\"\"\"
    return pd.read_csv(path).dropna()


def train(frame):
    \"\"\"Fit the churn model.\"\"\"
    model = LogisticRegression()
    model.fit(frame[["a", "b"]], frame["y"])
    return model
"""

WORKFLOW = """\
name: ci
on:
  pull_request:
  push:
    branches: [main]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install -r requirements.txt
      - run: python -m pytest
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small ML project with a pull-request history, CI and tests."""
    b = RepoBuilder(tmp_path / "proj")
    b.commit("Initial import", {"README.md": "# Churn model\n", "src/train.py": TRAIN,
                                "requirements.txt": "pandas==2.2.2\nscikit-learn==1.5.0\n"})
    b.merge_pr(1, "ci", {".github/workflows/ci.yml": WORKFLOW}, title="Add CI")
    b.merge_pr(2, "tests", {"tests/test_train.py":
                            "from src.train import train\n\n\ndef test_train():\n"
                            "    assert train is not None\n"}, title="Add tests")
    b.close()
    return b.path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def tree_digest(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def test_text_report_lists_every_statement_with_summary_and_verdict(repo: Path) -> None:
    code, out, err = run("audit", str(repo))
    assert code == 0, err
    for sid in STATEMENT_IDS:
        assert f" {sid} " in out, sid
    assert "Summary: 56 statements" in out
    assert "Verdict: not baseline mature" in out
    assert "commit " in out.splitlines()[1]
    # evidence is shown with its place: the workflow that runs the tests on pull requests
    assert ".github/workflows/ci.yml" in out


def test_json_report_validates_and_carries_evidence(repo: Path) -> None:
    code, out, err = run("audit", str(repo), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    schema = json.loads(resources.files("mlops_auditor").joinpath(
        "schema", "audit-result.schema.json").read_text())
    jsonschema.validate(doc, schema)
    assert [s["id"] for s in doc["statements"]] == STATEMENT_IDS
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert doc["repo"]["head"] == head
    assert doc["repo"]["branch"] == "main"
    for s in doc["statements"]:
        if s["status"] in ("yes", "no") and not s["parts"]:
            assert s["evidence"], f"{s['id']} is {s['status']} without evidence"
    by_id = {s["id"]: s for s in doc["statements"]}
    assert by_id["3.2.3"]["status"] == "yes"
    assert any(e["path"] == ".github/workflows/ci.yml" for e in by_id["3.2.3"]["evidence"])
    assert sum(sec["counts"]["yes"] + sec["counts"]["no"] + sec["counts"]["n/a"]
               + sec["counts"]["manual"] for sec in doc["sections"]) == 56
    assert doc["tool"]["questionnaire"]["licence"] == "MIT"


def test_output_file(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, out, _ = run("audit", str(repo), "--format", "json", "--output", str(target))
    assert code == 0 and out == ""
    assert json.loads(target.read_text())["schema_version"] == "1.2"


def test_audit_changes_nothing_in_the_repository(repo: Path) -> None:
    before = tree_digest(repo)
    assert run("audit", str(repo))[0] == 0
    assert run("audit", str(repo), "--format", "json")[0] == 0
    assert tree_digest(repo) == before


def test_repository_config_cannot_run_commands(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = f"sh -c 'touch {marker}'"
    with open(repo / ".git" / "config", "a", encoding="utf-8") as cfg:
        cfg.write(f"[core]\n\tfsmonitor = {evil}\n\tpager = {evil}\n\tsshCommand = {evil}\n"
                  f"[diff]\n\texternal = {evil}\n[diff \"x\"]\n\ttextconv = {evil}\n"
                  f"[filter \"x\"]\n\tclean = {evil}\n\tsmudge = {evil}\n"
                  f"[log]\n\tshowSignature = true\n[gpg]\n\tprogram = {evil}\n")
    (repo / ".gitattributes").write_text("* diff=x filter=x\n")
    hook = repo / ".git" / "hooks" / "post-index-change"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    (repo / "src" / "train.py").write_text(TRAIN + "\n# edited\n")  # a dirty working tree
    code, out, err = run("audit", str(repo))
    assert code == 0, err
    assert not marker.exists()
    assert "did not see" in out  # the uncommitted change is reported, not read


def test_uncommitted_changes_are_named(repo: Path) -> None:
    (repo / "README.md").write_text("# changed\n")
    (repo / "new.py").write_text("x = 1\n")
    doc = json.loads(run("audit", str(repo), "--format", "json")[1])
    assert doc["repo"]["uncommitted"] == ["README.md"]
    assert doc["repo"]["untracked"] == 1


def test_rev_audits_an_older_commit_without_checkout(repo: Path) -> None:
    first = subprocess.run(["git", "-C", str(repo), "rev-list", "--max-parents=0", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.strip()
    doc = json.loads(run("audit", str(repo), "--rev", first, "--format", "json")[1])
    assert doc["repo"]["head"] == first and doc["repo"]["rev"] == first
    by_id = {s["id"]: s for s in doc["statements"]}
    assert by_id["3.2.3"]["status"] == "no"  # CI arrived later


def test_plain_folder_audits_with_history_unknown(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    doc = json.loads(run("audit", str(tmp_path), "--format", "json")[1])
    assert doc["repo"]["is_git"] is False
    by_id = {s["id"]: s for s in doc["statements"]}
    assert by_id["2.2.3"]["status"] == "manual"
    assert "no history" in json.dumps(by_id["2.2.3"]).lower()


@pytest.mark.parametrize(("args", "message"), [
    (["audit", "/nonexistent/repo"], "no such file or folder"),
    (["audit", ".", "--rev", "no-such-rev-here"], "no such commit"),
    (["audit", ".", "--rev", "--output=x"], "cannot start with '-'"),
    (["explain", "9.9"], "no statement '9.9'"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, repo: Path) -> None:
    args = [str(repo) if a == "." else a for a in args]
    code, out, err = run(*args)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


def test_unknown_format_is_a_usage_error() -> None:
    code, _, err = run("audit", ".", "--format", "pdf")
    assert code == 2 and "pdf" in err


def test_list_and_explain() -> None:
    code, out, _ = run("list")
    assert code == 0
    for sid in STATEMENT_IDS:
        assert f" {sid} " in out
    code, out, _ = run("explain", "3.2.3")
    assert code == 0
    for heading in ("What the auditor checks:", "Why it matters:", "How to confirm:",
                    "How to reach yes:", "Yes when:", "ci.pr_tests"):
        assert heading in out


def test_terminal_output_is_stripped_of_control_characters(tmp_path: Path) -> None:
    b = RepoBuilder(tmp_path / "evil")
    b.commit("Initial \x1b[31mred\x1b[0m", {"README.md": "# x\n", "src/train.py": TRAIN})
    b.merge_pr(1, "x", {"docs/\x1b]0;title\x07.md": "# Architecture\n"}, title="x")
    b.close()
    code, out, _ = run("audit", str(b.path), "--verbose")
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out


def test_installed_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("mlops-audit")
    if not exe.exists():
        pytest.skip("console script not installed next to this interpreter")
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"}, check=False)
    assert proc.returncode == 0 and "mlops-audit" in proc.stdout
    proc = subprocess.run([str(exe), "audit", "/nonexistent/repo"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr == "mlops-audit: /nonexistent/repo: no such file or folder\n"


def test_catalogue_extension_teaches_a_new_hook(tmp_path: Path) -> None:
    b = RepoBuilder(tmp_path / "p")
    b.commit("Initial", {"train.py": TRAIN, ".pre-commit-config.yaml":
                         "repos:\n  - repo: https://git.example.com/acme/hooks\n"
                         "    rev: v1\n    hooks:\n      - id: acme-style\n"})
    b.close()
    extra = tmp_path / "acme.yaml"
    extra.write_text("precommit:\n  hook_ids:\n    acme-style: [lint]\n")

    def status(*more: str) -> str:
        doc = json.loads(run("audit", str(b.path), "--format", "json", *more)[1])
        return next(s["status"] for s in doc["statements"] if s["id"] == "3.2.1")

    assert status() == "no"
    assert status("--catalogue", str(extra)) == "yes"
    assert status() == "no"  # the extension does not outlive its audit


@pytest.mark.parametrize(("content", "message"), [
    ("nope: {}\n", "unknown catalogue 'nope'"),
    ("precommit:\n  hook_ids: [a]\n", "precommit.hook_ids: expected a mapping"),
    ("- a\n", "expected a mapping of catalogue names"),
])
def test_bad_catalogue_extension_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    extra = tmp_path / "x.yaml"
    extra.write_text(content)
    code, _, err = run("audit", str(tmp_path), "--catalogue", str(extra))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
