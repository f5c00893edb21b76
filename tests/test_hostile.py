"""The hostile corpus: every repository in tests/hostile.py is audited in every output format;
no command from it runs (the marker never appears), nothing outside its tree reaches a report,
not a byte under .git changes, the audit stays within a time bound, and the result says what
could not be read."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_auditor.cli import FORMATS, main
from tests import hostile

TIME_BOUND = 20.0
PASSWD = (Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").splitlines()[0]
          if Path("/etc/passwd").is_file() else hostile.SECRET)

Builder = Callable[[Path, Path], Path]

# builder, text the JSON report must contain, files the evidence must call unreadable (and why)
Case = tuple[Builder, tuple[str, ...], dict[str, str]]
UNPARSEABLE = "unparseable: "
LINKS = "8 symbolic link(s) not followed, their targets not read: .github, README.md, docs, etc,"
CASES: dict[str, Case] = {
    "config-commands": (hostile.config_commands, ("changed and 1 untracked",), {}),
    "hooks": (hostile.hooks, (), {}),
    "importable-code": (hostile.importable_code, (), {}),
    "symlinks-git": (hostile.symlinks_git, (LINKS,), {}),
    "symlinks-plain": (hostile.symlinks_plain, ("not a git repository", LINKS), {}),
    "big-file": (hostile.big_file, (), {"huge.py": "file too large",
                                        ".github/workflows/ci.yml": "file too large"}),
    "missing-objects": (hostile.missing_objects, (), {
        "train.py": "object missing"}),
    "bad-bytes": (hostile.bad_bytes, (), {
        "model.py": "binary content", "requirements.txt": "binary content",
        "notebook.ipynb": "binary content", "main.tf": "binary content",
        "train.py": "not valid UTF-8", "README.md": "not valid UTF-8"}),
    "malformed": (hostile.malformed, (), {
        ".github/workflows/ci.yml": "invalid YAML", ".gitlab-ci.yml": "invalid YAML",
        ".pre-commit-config.yaml": "invalid YAML", "main.tf": "invalid HCL",
        "notebook.ipynb": "invalid JSON", "pyproject.toml": "invalid TOML"}),
    "alias-bomb": (hostile.alias_bomb, (), {
        ".github/workflows/ci.yml": "aliases expand", ".gitlab-ci.yml": "aliases expand",
        ".pre-commit-config.yaml": "aliases expand"}),
    "deep-nesting": (hostile.deep_nesting, (), {
        ".github/workflows/ci.yml": "nested too deeply", "notebook.ipynb": "nested too deeply",
        "deep.py": "too many nested"}),
    "markup": (hostile.markup, ("1 symbolic link(s) not followed",), {}),
    "empty-repo": (hostile.empty_repo, ("no commits yet",), {}),
    "bare-repo": (hostile.bare_repo, (), {}),
    "shallow-clone": (hostile.shallow_clone, ("shallow clone", "insufficient history"), {}),
    "detached-head": (hostile.detached_head, ("\"branch\": null",), {}),
    "lfs-pointers": (hostile.lfs_pointers, (), {}),
    "submodule": (hostile.submodule, (), {}),
    "odd-paths": (hostile.odd_paths, (), {}),
    "not-a-repository": (hostile.not_a_repository, ("not a git repository",), {}),
}


def _guarded(path: Path) -> Path:
    """The folder whose bytes must not change: .git of a work tree, the whole bare repository,
    the whole folder when it is not a repository."""
    return path / ".git" if (path / ".git").exists() else path


def _audit_all_formats(path: Path) -> dict[str, str]:
    reports: dict[str, str] = {}
    for fmt in FORMATS:
        result = CliRunner().invoke(main, ["audit", str(path), "--format", fmt])
        assert result.exit_code == 0, (fmt, result.output, result.stderr)
        assert result.stderr == "", (fmt, result.stderr)
        reports[fmt] = result.stdout
    return reports


def _assert_escaped(reports: dict[str, str]) -> None:
    """JSON and SARIF are valid JSON; markdown and JUnit never carry raw markup; text carries no
    terminal escape; no format carries /etc/passwd or the outside secret."""
    doc = json.loads(reports["json"])
    assert isinstance(doc, dict)
    for where, text in _strings(json.loads(reports["sarif"])):
        # SARIF text and markdown are shown to people; a property bag holds data (a path).
        assert "<script" not in text or ".properties." in where, where
    tree = ET.fromstring(reports["junit"])
    assert not list(tree.iter("script"))
    assert "<script" not in reports["junit"]
    assert "<script" not in reports["markdown"]
    for fmt in ("text", "markdown", "junit"):
        assert "\x1b" not in reports[fmt], fmt
    for fmt, report in reports.items():
        assert hostile.SECRET not in report, fmt
        assert PASSWD not in report, fmt


def _strings(doc: object, where: str = "") -> list[tuple[str, str]]:
    """Every string in a JSON document with the path of keys leading to it."""
    if isinstance(doc, dict):
        return [x for k, v in doc.items() for x in _strings(v, f"{where}.{k}")]
    if isinstance(doc, list):
        return [x for v in doc for x in _strings(v, f"{where}[]")]
    return [(where, doc)] if isinstance(doc, str) else []


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_repository(name: str, tmp_path: Path) -> None:
    builder, expected, unreadable = CASES[name]
    marker = tmp_path / "MARKER"
    path = builder(tmp_path, marker)
    assert not marker.exists(), "the fixture itself ran its command"
    before = hostile.tree_digest(_guarded(path))
    started = time.perf_counter()
    reports = _audit_all_formats(path)
    elapsed = time.perf_counter() - started
    assert not marker.exists(), "a command from the repository ran"
    assert hostile.tree_digest(_guarded(path)) == before, "bytes under .git changed"
    assert elapsed < TIME_BOUND
    _assert_escaped(reports)
    doc = json.loads(reports["json"])
    for text in expected:
        assert text in reports["json"], text
    said = {(e["path"], e["detail"]) for f in doc["facts"].values() for e in f["evidence"]
            if e["detail"].startswith(UNPARSEABLE)}
    for path, why in unreadable.items():
        assert any(p == path and why in d for p, d in said), (path, why, said)
    assert doc["errors"] == []


def test_markup_reaches_the_reports_escaped(tmp_path: Path) -> None:
    """The markup case is only meaningful if its strings reach the reports: JSON keeps them as
    data, markdown and JUnit escape them."""
    path = hostile.markup(tmp_path, tmp_path / "MARKER")
    reports = _audit_all_formats(path)
    assert hostile.MARKUP in json.dumps(json.loads(reports["json"]), ensure_ascii=False)
    for fmt in ("markdown", "junit"):
        assert "&lt;script&gt;" in reports[fmt], fmt
    assert "alert(1)" in reports["text"]


@pytest.mark.parametrize("builder", [hostile.config_commands, hostile.hooks])
def test_the_traps_are_armed(tmp_path: Path, builder: Builder) -> None:
    """Control: plain git in these fixtures does run their commands, so the marker staying away
    during the audit means something."""
    marker = tmp_path / "MARKER"
    path = builder(tmp_path, marker)
    for args in (("status",), ("log", "-p", "-1"), ("checkout", "-q", "-b", "other")):
        with contextlib.suppress(subprocess.CalledProcessError):
            hostile.git(path, *args)
    assert marker.exists()


def test_symlinks_are_reported_not_followed(tmp_path: Path) -> None:
    path = hostile.symlinks_git(tmp_path, tmp_path / "MARKER")
    doc = json.loads(_audit_all_formats(path)["json"])
    assert hostile.SECRET not in json.dumps(doc)


def test_other_owner_is_refused_in_one_line_or_audited(tmp_path: Path) -> None:
    """git refuses a repository owned by someone else: one line on stderr, exit 2, no hook."""
    marker = tmp_path / "MARKER"
    path = hostile.other_owner(tmp_path, marker)
    before = hostile.tree_digest(path / ".git")
    result = CliRunner().invoke(main, ["audit", str(path), "--format", "json"])
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1 and "owned by another user" in result.stderr
    else:
        json.loads(result.stdout)
    assert not marker.exists()
    assert hostile.tree_digest(path / ".git") == before


@pytest.mark.parametrize("target", ["missing", "file"])
def test_bad_path_is_one_line_exit_2(tmp_path: Path, target: str) -> None:
    path = tmp_path / "nothing"
    if target == "file":
        path.write_text("x\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["audit", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mlops-audit: ")


def test_bom_and_crlf_are_read(tmp_path: Path) -> None:
    """A byte-order mark and CRLF line ends are ordinary text: the workflow and the script that
    carry them count as evidence, next to the binary files that are called unreadable."""
    path = hostile.bad_bytes(tmp_path, tmp_path / "MARKER")
    doc = json.loads(CliRunner().invoke(main, ["audit", str(path), "--format", "json"]).stdout)
    facts = doc["facts"]
    assert facts["ci.present"]["value"] is True
    assert facts["ci.present"]["evidence"][0]["path"] == ".github/workflows/ci.yml"
    assert "mlflow" in facts["tracking.tools"]["value"]
    assert [e["path"] for e in facts["tracking.tools"]["evidence"]] == ["serve.py"]
