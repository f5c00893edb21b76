"""The Markdown, SARIF and JUnit formats, each asserted on its content: all three are rendered
from the same audit of a small repository whose workflow file has a hostile name."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from click.testing import CliRunner

from mlops_auditor.cli import main
from mlops_auditor.engine import audit as run_audit
from mlops_auditor.model import Confirmation
from mlops_auditor.render import junit, markdown, sarif
from mlops_auditor.render.markdown import escape
from mlops_auditor.rules import load_rules
from tests.gitrepo import RepoBuilder
from tests.test_cli import STATEMENT_IDS, TRAIN, WORKFLOW

TOP_LEVEL = [sid for sid in STATEMENT_IDS if sid.count(".") < 3]
PARTS = [sid for sid in STATEMENT_IDS if sid.count(".") == 3]
# A file name that would break a Markdown table, inject HTML and is not valid XML as it stands.
HOSTILE = ".github/workflows/ci|<script>`x`\x01.yml"
# The official schema lives beside the clone (in CI too); tests do not ship a copy of it.
SARIF_SCHEMA = (Path(__file__).resolve().parents[2] / "shared" / "schemas"
                / "sarif-schema-2.1.0.json")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ML project whose pull-request workflow (hostile name) runs the tests with `|| true`,
    so that 3.2.3 is no with that workflow's line as counter-evidence."""
    b = RepoBuilder(tmp_path_factory.mktemp("formats") / "proj")
    b.commit("Initial import", {"README.md": "# Churn model\n", "src/train.py": TRAIN,
                                "requirements.txt": "pandas==2.2.2\nscikit-learn==1.5.0\n"})
    swallowed = WORKFLOW.replace("python -m pytest", "python -m pytest || true")
    b.merge_pr(1, "ci", {HOSTILE: swallowed}, title="Add CI")
    b.merge_pr(2, "tests", {"tests/test_train.py":
                            "from src.train import train\n\n\ndef test_train():\n"
                            "    assert train is not None\n"}, title="Add tests")
    b.close()
    return b.path


@pytest.fixture(scope="module")
def document(repo: Path) -> dict[str, Any]:
    """The JSON format of the same audit, to compare the other formats against."""
    doc: dict[str, Any] = json.loads(audit(repo, "json"))
    return doc


@pytest.fixture(scope="module")
def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in document["statements"]}


def audit(repo: Path, fmt: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, ["audit", str(repo), "--format", fmt], env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_escape_makes_markdown_and_html_inert() -> None:
    assert escape("a|b") == "a&#124;b"
    assert escape("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert escape("`code` *bold* __init__ [x](y) it's\nnext") == (
        "&#96;code&#96; &#42;bold&#42; &#95;&#95;init&#95;&#95; &#91;x&#93;(y) it&#39;s next")


def test_markdown_has_summary_table_every_statement_and_escapes_names(
        repo: Path, statuses: dict[str, str]) -> None:
    out = audit(repo, "markdown")
    lines = out.splitlines()
    assert lines[0] == "## MLOps maturity audit: not baseline mature"
    assert "| section | ✅ yes | ❌ no | ⚪ n/a | ❓ manual | score |" in lines
    assert any(line.startswith("| 1. Documentation (baseline) | ") for line in lines)
    assert any(line.startswith("| **all 56 statements** | ") for line in lines)
    # every table row has the same number of cells: no repository text split one
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 1 + 7 + 1 and {line.count("|") for line in table} == {7}
    for sid in STATEMENT_IDS:
        assert f"<b>{sid}</b> {statuses[sid]} — " in out, sid
    assert out.count("<details>") == out.count("</details>") == len(STATEMENT_IDS)
    # the workflow is cited as evidence, with its name made inert
    assert "ci&#124;&lt;script&gt;&#96;x&#96;" in out
    assert "<script>" not in out and "ci|" not in out
    # a statement that is not yes says how to confirm it and how to reach yes
    no = next(sid for sid in TOP_LEVEL if statuses[sid] == "no")
    block = out.split(f"<b>{no}</b>", 1)[1].split("</details>", 1)[0]
    assert "**How to confirm:**" in block and "**How to reach yes:**" in block


def test_sarif_validates_and_reports_no_and_manual_at_their_evidence(
        repo: Path, statuses: dict[str, str], document: dict[str, Any]) -> None:
    assert statuses["3.2.3"] == "no"
    out = audit(repo, "sarif", env={"GITHUB_SERVER_URL": "https://github.com",
                                   "GITHUB_REPOSITORY": "acme/churn"})
    log = json.loads(out)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "mlops-auditor" and driver["version"]
    assert driver["informationUri"].startswith("https://")
    # one rule per statement, the parts of 2.2.7 included
    assert [r["id"] for r in driver["rules"]] == STATEMENT_IDS
    rule = driver["rules"][STATEMENT_IDS.index("1.1.1")]
    assert rule["shortDescription"]["text"].startswith("Business goals and KPIs")
    assert rule["help"]["text"].startswith("How to reach yes: ")
    assert rule["properties"]["section"] == "1" and rule["properties"]["baseline"] is True
    assert rule["properties"]["decidable"] in ("auto", "assisted", "manual")
    # results: exactly the no and manual answers of statements answered on their own evidence
    expected = {sid for sid, st in statuses.items() if st in ("no", "manual") and sid != "2.2.7"}
    assert {r["ruleId"] for r in run["results"]} == expected
    for r in run["results"]:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        level = {"manual": "note", "no": "error" if r["ruleId"][0] in "1234" else "warning"}
        assert r["level"] == level[statuses[r["ruleId"]]], r["ruleId"]
        assert r["locations"] and all(
            not loc["physicalLocation"]["artifactLocation"]["uri"].startswith("/")
            for loc in r["locations"])
    # each result is located at its evidence files and lines, or, when the evidence names no
    # file (a search that found nothing), at the README
    evidence = {s["id"]: s["evidence"] for s in document["statements"]}
    for r in run["results"]:
        located = [(loc["physicalLocation"]["artifactLocation"]["uri"],
                    loc["physicalLocation"].get("region", {}).get("startLine"))
                   for loc in r["locations"]]
        cited = list(dict.fromkeys((quote(e["path"]), e["line"]) for e in evidence[r["ruleId"]]
                                   if e["path"]))
        assert located == (cited or [("README.md", None)]), r["ruleId"]
    # the 'no' of 3.2.3 points at the hostile workflow, percent-encoded, at the step's line
    (r323,) = [r for r in run["results"] if r["ruleId"] == "3.2.3"]
    assert r323["level"] == "error"
    assert r323["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": ".github/workflows/ci%7C%3Cscript%3E%60x%60%01.yml",
                             "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12}}
    assert "|| true" in r323["locations"][0]["message"]["text"]
    head = document["repo"]["head"]
    assert run["versionControlProvenance"] == [
        {"repositoryUri": "https://github.com/acme/churn", "revisionId": head, "branch": "main"}]
    if not SARIF_SCHEMA.is_file():
        pytest.skip(f"official SARIF schema not found at {SARIF_SCHEMA}")
    jsonschema.validate(log, json.loads(SARIF_SCHEMA.read_text(encoding="utf-8")))


def test_junit_has_56_cases_failures_for_no_and_skips_for_manual_and_na(
        repo: Path, statuses: dict[str, str]) -> None:
    root = ET.fromstring(audit(repo, "junit"))
    assert root.tag == "testsuites" and root.get("tests") == "56"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"mlops_audit.section_{n}" for n in range(1, 8)]
    cases = root.findall("testsuite/testcase")
    assert [c.get("name", "").split(" ", 1)[0] for c in cases] == TOP_LEVEL
    for case in cases:
        sid = case.get("name", "").split(" ", 1)[0]
        assert case.get("classname") == f"mlops_audit.section_{sid.split('.')[0]}"
        failure, skipped = case.find("failure"), case.find("skipped")
        status = statuses[sid]
        assert (failure is not None) == (status == "no"), sid
        assert (skipped is not None) == (status in ("manual", "n/a")), sid
        if status == "n/a":
            assert skipped is not None and skipped.get("message", "").startswith("n/a: ")
        if status == "manual":
            assert skipped is not None and skipped.get("message", "").startswith("manual: ")
    assert int(root.get("failures", "")) == sum(statuses[sid] == "no" for sid in TOP_LEVEL)
    # 2.2.7 carries its parts; the hostile file name survives as text, its control char replaced
    props = next(c for c in cases if c.get("name", "").startswith("2.2.7 ")).findall(
        "properties/property")
    assert [p.get("name") for p in props] == PARTS
    assert all(p.get("value", "").split(":")[0] == statuses[p.get("name", "")] for p in props)
    texts = "".join(el.text or "" for el in root.iter())
    assert ".github/workflows/ci|<script>`x`?.yml" in texts


def test_every_format_shows_a_confirmation_beside_the_automated_answer(repo: Path) -> None:
    """A person's yes over an automated no, gone stale: all three formats say who, why, what
    the evidence alone answers and why the confirmation is stale."""
    rules = load_rules()
    result = run_audit(repo, rules=rules)
    by_id = {a.statement.id: a for a in result.answers}
    assert by_id["3.2.3"].status == "no"
    confirmed = replace(by_id["3.2.3"], status="yes", source="confirmed", automated="no",
                        stale="the evidence changed since it was confirmed",
                        confirmation=Confirmation(answer="yes", by="Bo <b>Lead</b>",
                                                  date="2026-01-02", why="tests gate merges"))
    result = replace(result, answers=tuple(confirmed if a.statement.id == "3.2.3" else a
                                           for a in result.answers))
    md = markdown.render(result, rules.source)
    block = md.split("<b>3.2.3</b>", 1)[1].split("</details>", 1)[0]
    assert block.startswith(" yes (confirmed), stale — ")
    assert ("**Confirmed yes** by Bo &lt;b&gt;Lead&lt;/b&gt; on 2026-01-02: tests gate merges"
            in block)
    assert "**The evidence alone answers:** no" in block
    assert "**Stale:** the evidence changed since it was confirmed" in block
    log = json.loads(sarif.render(result, rules.source))
    assert "3.2.3" not in {r["ruleId"] for r in log["runs"][0]["results"]}  # yes: no result
    root = ET.fromstring(junit.render(result, rules.source))
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("3.2.3 "))
    assert case.find("failure") is None
    out = case.findtext("system-out") or ""
    assert "confirmed yes by Bo <b>Lead</b> on 2026-01-02: tests gate merges" in out
    assert "the evidence alone answers: no" in out and "stale: the evidence changed" in out
