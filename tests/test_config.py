"""The configuration: pyproject.toml [tool.mlops-audit], .mlops-audit.yaml or --config FILE."""

from __future__ import annotations

import json
import textwrap
from importlib import resources
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest
from click.testing import CliRunner

from mlops_auditor import config
from mlops_auditor.cli import main
from mlops_auditor.engine import audit
from mlops_auditor.errors import InputError
from mlops_auditor.model import Fact
from mlops_auditor.render import jsondoc, text
from mlops_auditor.rules import load_rules
from mlops_auditor.snapshot import Snapshot
from tests.conftest import MakeSnapshot, write_tree
from tests.gitrepo import RepoBuilder

STATEMENT = """\
  - id: "{id}"
    sheet: "{sheet}"
    section: "{section}"
    subsection: "Org rules"
    text: "{text}"
    decidable: manual
    what_it_checks: "Nothing automatic."
    why_it_matters: "The organisation asks for it."
    how_to_confirm: "Ask the owner."
    remediation: "Write it down."
"""


def statement(sid: str, section: str, words: str = "The organisation's own statement.") -> str:
    return STATEMENT.format(id=sid, sheet=sid, section=section, text=words)


def recorder() -> tuple[ModuleType, list[Snapshot]]:
    """A check that remembers the snapshot it was given (to see what the checks see)."""
    seen: list[Snapshot] = []
    module = ModuleType("mlops_auditor.checks.recorder")
    module.FACTS = {}  # type: ignore[attr-defined]

    def collect(snap: Snapshot) -> list[Fact]:
        seen.append(snap)
        return []

    module.collect = collect  # type: ignore[attr-defined]
    return module, seen


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    root.mkdir(parents=True, exist_ok=True)
    write_tree(root, files)  # type: ignore[arg-type]
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def by_id(result: object, sid: str) -> object:
    return next(a for a in result.answers if a.statement.id == sid)  # type: ignore[attr-defined]


# -- reading and validating ------------------------------------------------------------------


def test_no_configuration_is_the_empty_one(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"pyproject.toml": "[project]\nname = 'x'\n", "README.md": "# x\n"})
    assert config.from_snapshot(snap) == config.Config()


def test_pyproject_table_and_yaml_file_give_the_same_settings(snapshot: MakeSnapshot) -> None:
    toml = snapshot({"pyproject.toml": """\
        [tool.mlops-audit]
        exclude = ["docs/**"]
        root = "./ml/"
        switch_off = { "1.1.1" = "goals live in the product wiki" }
        """}).__enter__()
    got = config.from_snapshot(toml)
    assert got.where == "pyproject.toml [tool.mlops-audit]"
    assert (got.exclude, got.root) == (("docs/**",), "ml")
    assert got.switch_off == {"1.1.1": "goals live in the product wiki"}
    assert got.gate is None
    toml.close()
    yml = snapshot({"pyproject.toml": "[project]\nname = 'x'\n", ".mlops-audit.yaml": """\
        exclude: ["docs/**"]
        root: ml
        switch_off: {"1.1.1": "goals live in the product wiki"}
        """})
    again = config.from_snapshot(yml)
    assert again.where == ".mlops-audit.yaml"
    assert (again.exclude, again.root, again.switch_off) == (got.exclude, got.root,
                                                             got.switch_off)


@pytest.mark.parametrize(("files", "message"), [
    ({".mlops-audit.yaml": "exlude: [x]\n"}, ".mlops-audit.yaml: unknown key 'exlude'"),
    ({"pyproject.toml": "[tool.mlops-audit]\nswitchoff = {}\n"},
     "pyproject.toml [tool.mlops-audit]: unknown key 'switchoff'"),
    ({".mlops-audit.yaml": "gate: {allow_manul: true}\n"},
     ".mlops-audit.yaml: gate: unknown key 'allow_manul'"),
    ({".mlops-audit.yaml": "gate: {allow_manual: 'yes'}\n"}, "gate.allow_manual: expected true"),
    ({".mlops-audit.yaml": "- a list\n"}, ".mlops-audit.yaml: expected a mapping"),
    ({".mlops-audit.yaml": "exclude: docs\n"}, "exclude: expected a list"),
    ({".mlops-audit.yaml": "switch_off: {'1.1.1': ''}\n"}, "1.1.1: needs a reason"),
    ({".mlops-audit.yaml": "exclude: [\n"}, ".mlops-audit.yaml: cannot read it"),
    ({".mlops-audit.yaml": "root: ml\n", "pyproject.toml": "[tool.mlops-audit]\nroot = 'ml'\n"},
     "configuration in both"),
])
def test_bad_configuration_is_an_input_error_naming_file_and_key(
        snapshot: MakeSnapshot, files: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.from_snapshot(snapshot(files))


@pytest.mark.parametrize("name", ["../outside.yaml", "/etc/passwd", "ml/../../x.yaml",
                                  "C:/rules.yaml", "..\\rules.yaml"])
def test_a_path_that_could_leave_the_tree_is_refused(snapshot: MakeSnapshot, name: str) -> None:
    snap = snapshot({".mlops-audit.yaml": f"rules: [{json.dumps(name)}]\n"})
    with pytest.raises(InputError, match="inside the repository"):
        config.from_snapshot(snap)
    with pytest.raises(InputError, match="root"):
        config.from_snapshot(snapshot({".mlops-audit.yaml": f"root: {json.dumps(name)}\n"}))


def test_a_named_file_must_be_tracked_in_the_tree(tmp_path: Path, snapshot: MakeSnapshot) -> None:
    (tmp_path / "secret.yaml").write_text("statements: []\n")
    snap = snapshot({".mlops-audit.yaml": "rules: [org/rules.yaml]\n"})
    with pytest.raises(InputError, match=r"\.mlops-audit\.yaml: org/rules\.yaml: cannot read"):
        config.from_snapshot(snap)


def test_unknown_key_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "exclude: []\npolicy: strict\n"})
    code, out, err = run("audit", str(root))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "mlops-audit: .mlops-audit.yaml: unknown key 'policy' (known: exclude, root, rules, "
        "catalogues, switch_off, gate)"]


# -- each key in an audit ----------------------------------------------------------------------


def test_exclude_adds_to_the_default_patterns(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "exclude: ['legacy/**']\n",
                           "legacy/train.py": "x = 1\n", "src/train.py": "x = 1\n",
                           "tests/fixtures/a.py": "x = 1\n"})
    check, seen = recorder()
    result = audit(root, checks=[check])
    assert "src/train.py" in seen[0].files
    assert "legacy/train.py" not in seen[0].files and "tests/fixtures/a.py" not in seen[0].files
    assert any("configured exclude patterns" in n for n in result.repo.notes)
    assert any(n.startswith("configuration: .mlops-audit.yaml") for n in result.repo.notes)


def test_root_audits_only_its_folder_and_says_history_is_whole(tmp_path: Path) -> None:
    root = tree(tmp_path, {"pyproject.toml": "[tool.mlops-audit]\nroot = 'services/ml'\n",
                           "services/ml/train.py": "x = 1\n", "services/web/app.py": "x = 1\n",
                           "services/mlx/other.py": "x = 1\n"})
    check, seen = recorder()
    result = audit(root, checks=[check])
    assert seen[0].files == ("services/ml/train.py",)
    note = next(n for n in result.repo.notes if n.startswith("only files under"))
    assert "services/ml/" in note and "history facts" in note and "whole repository" in note


def test_rules_file_overrides_a_statement_and_adds_a_namespaced_one(tmp_path: Path) -> None:
    rules_yaml = ("sections:\n  - {id: acme, title: Acme policy, baseline: false}\n"
                  "statements:\n" + statement("1.1.1", "1", "Our own wording of 1.1.1.")
                  + statement("acme.1", "acme"))
    root = tree(tmp_path, {".mlops-audit.yaml": "rules: [policy/rules.yaml]\n",
                           "policy/rules.yaml": rules_yaml})
    result = audit(root, checks=[])
    assert by_id(result, "1.1.1").statement.text == "Our own wording of 1.1.1."  # type: ignore[attr-defined]
    added = by_id(result, "acme.1")
    assert added.statement.section_title == "Acme policy"  # type: ignore[attr-defined]
    assert len(result.answers) == len(load_rules().statements) + 1
    assert [s.id for s in result.sections][-1] == "acme"
    assert "acme.1" in text.render(result, {})


@pytest.mark.parametrize(("rules_yaml", "message"), [
    ("statements:\n" + statement("8.1", "1"), "namespaced id"),
    ("statements:\n" + statement("acme.1", "acme"), "unknown section 'acme'"),
    ("sections:\n  - {id: '1', title: Mine, baseline: false}\n", "section 1 is the question"),
    ("statement: []\n", "unknown key 'statement'"),
])
def test_rules_file_problems_are_refused(tmp_path: Path, rules_yaml: str, message: str) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "rules: [rules.yaml]\n", "rules.yaml": rules_yaml})
    with pytest.raises(InputError, match=message):
        audit(root, checks=[])


def test_catalogues_extend_the_checks_catalogues_for_this_audit(tmp_path: Path) -> None:
    from mlops_auditor.checks import common

    root = tree(tmp_path, {".mlops-audit.yaml": "catalogues: [org/catalogue.yaml]\n",
                           "org/catalogue.yaml": "precommit:\n  quality: [acme-lint]\n"})
    seen: list[object] = []
    check, _ = recorder()
    check.collect = lambda snap: seen.append(common.catalogue("precommit")["quality"]) or []  # type: ignore[attr-defined]
    audit(root, checks=[check])
    assert seen == [["lint", "format", "acme-lint"]]
    audit(tree(tmp_path / "other", {"README.md": "# x\n"}), checks=[check])
    assert seen[-1] == ["lint", "format"]  # one repository's additions do not leak into the next


def test_a_bad_catalogue_extension_names_the_file(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "catalogues: [c.yaml]\n",
                           "c.yaml": "nosuch: {}\n"})
    with pytest.raises(InputError, match=r"\.mlops-audit\.yaml: c\.yaml: unknown catalogue"):
        audit(root, checks=[])


def test_switched_off_statements_are_na_with_the_reason_in_text_and_json(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": textwrap.dedent("""\
        switch_off:
          "1.2.1": no data science team; models are bought in
        """)})
    result = audit(root)
    off = by_id(result, "1.2.1")
    assert (off.status, off.source) == ("n/a", "configured")  # type: ignore[attr-defined]
    assert off.reason.startswith(  # type: ignore[attr-defined]
        "switched off by configuration: no data science team; models are bought in")
    report = text.render(result, {})
    line = next(i for i, row in enumerate(report.splitlines()) if row.strip().startswith("1.2.1"))
    assert "switched off by configuration: no data science team" in report.splitlines()[line + 1]
    doc = json.loads(jsondoc.render(result, {}))
    row = next(s for s in doc["statements"] if s["id"] == "1.2.1")
    assert row["switched_off"] == "no data science team; models are bought in"
    assert (row["status"], row["source"]) == ("n/a", "configured")
    assert next(s for s in doc["statements"] if s["id"] == "1.2.2")["switched_off"] is None
    schema = json.loads(resources.files("mlops_auditor").joinpath(
        "schema", "audit-result.schema.json").read_text())
    jsonschema.validate(doc, schema)


def test_switching_off_an_unknown_statement_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "switch_off: {'9.9.9': gone}\n"})
    with pytest.raises(InputError, match=r"switch_off: no statement '9\.9\.9'"):
        audit(root, checks=[])


# -- the gate, and precedence ------------------------------------------------------------------


def test_a_gate_policy_in_the_configuration_turns_the_gate_on(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "gate: {}\n", "README.md": "# x\n"})
    code, _, err = run("audit", str(root))
    assert code == 1 and "is manual" in err and "gate: " in err
    code, _, err = run("audit", str(tree(tmp_path / "plain", {"README.md": "# x\n"})))
    assert code == 0 and err == ""


def test_cli_flags_override_the_repository_gate_policy(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "gate: {allow_manual: true}\n"})
    _, _, err = run("audit", str(root))
    assert "is manual" not in err and "is no" in err
    _, _, err = run("audit", str(root), "--no-allow-manual")
    assert "is manual" in err


def test_gate_baseline_is_read_from_the_tree_and_the_cli_baseline_wins(tmp_path: Path) -> None:
    root = tree(tmp_path, {"README.md": "# x\n"})
    code, report, _ = run("audit", str(root), "--format", "json")
    doc = json.loads(report)
    write_tree(root, {"ci/baseline.json": json.dumps(doc),
                      ".mlops-audit.yaml": "gate: {baseline: ci/baseline.json}\n"})
    code, _, err = run("audit", str(root))
    assert (code, err) == (0, "")  # nothing regressed against the committed baseline
    for row in doc["statements"]:
        row["status"] = "yes"
    (tmp_path / "all-yes.json").write_text(json.dumps(doc))
    code, _, err = run("audit", str(root), "--baseline", str(tmp_path / "all-yes.json"))
    assert code == 1 and "was yes in the baseline" in err


def test_config_option_replaces_the_repository_configuration(tmp_path: Path) -> None:
    root = tree(tmp_path, {".mlops-audit.yaml": "unknown_key: 1\n"})
    trusted = tmp_path / "org"
    write_tree(trusted, {"audit.toml": "[tool.mlops-audit]\nswitch_off = {'1.2.1' = 'bought'}\n"
                                       "rules = ['more.yaml']\n",
                         "more.yaml": "statements:\n" + statement("1.1.1", "1", "Org wording.")})
    code, report, err = run("audit", str(root), "--config", str(trusted / "audit.toml"),
                            "--format", "json")
    assert (code, err) == (0, "")
    rows = {s["id"]: s for s in json.loads(report)["statements"]}
    assert rows["1.2.1"]["switched_off"] == "bought" and rows["1.1.1"]["text"] == "Org wording."
    code, _, err = run("audit", str(root), "--config", str(tmp_path / "missing.yaml"))
    assert code == 2 and "--config" in err


def test_the_committed_configuration_at_the_audited_revision_counts(tmp_path: Path) -> None:
    repo = RepoBuilder(tmp_path / "git")
    first = repo.commit("start", {".mlops-audit.yaml": "switch_off: {'1.2.1': first reason}\n"})
    repo.commit("change", {".mlops-audit.yaml": "switch_off: {'1.2.1': second reason}\n"})
    (repo.path / ".mlops-audit.yaml").write_text("not_a_key: 1\n")  # uncommitted: never read
    now = audit(repo.path, checks=[])
    assert by_id(now, "1.2.1").switched_off == "second reason"  # type: ignore[attr-defined]
    then = audit(repo.path, rev=first, checks=[])
    assert by_id(then, "1.2.1").switched_off == "first reason"  # type: ignore[attr-defined]


def test_confirm_records_an_organisation_statement_from_a_rules_file(tmp_path: Path) -> None:
    repo = RepoBuilder(tmp_path / "git")
    repo.commit("start", {".mlops-audit.yaml": "rules: [rules.yaml]\n",
                          "rules.yaml": "statements:\n" + statement("acme.1", "1")})
    code, out, err = run("confirm", "acme.1", str(repo.path), "--answer", "yes", "--by", "Ada",
                         "--note", "owner named in the wiki")
    assert (code, err) == (0, "") and "recorded acme.1: yes" in out
    answered = audit(repo.path, checks=[])
    assert by_id(answered, "acme.1").source == "confirmed"  # type: ignore[attr-defined]
    code, _, err = run("confirm", "acme.2", str(repo.path), "--answer", "yes", "--by", "Ada",
                       "--note", "x")
    assert code == 2 and "no statement 'acme.2'" in err
