"""The releases check: tags from real git history, matched to changelog entries."""

from __future__ import annotations

from pathlib import Path

from mlops_auditor.checks import releases
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Snapshot, open_snapshot
from tests.conftest import MakeSnapshot
from tests.gitrepo import RepoBuilder

KEEP_A_CHANGELOG = """\
# Changelog

## [Unreleased]

## [1.1.0] - 2024-03-01
### Added
- drift report

## [1.0.0] - 2024-01-10
- first model
"""


def facts(snap: Snapshot) -> dict[str, Fact]:
    return {f.id: f for f in releases.collect(snap)}


def tagged_repo(tmp_path: Path, files: dict[str, str | None], tags: list[str]) -> Snapshot:
    builder = RepoBuilder(tmp_path / "repo")
    builder.commit("initial", {"train.py": "print('train')\n"})
    for tag in tags:
        builder.commit(f"release {tag}", {"VERSION": tag})
        builder.tag(tag)
    builder.commit("notes", files)
    builder.close()
    return open_snapshot(tmp_path / "repo")


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    assert set(facts(snapshot({"x.txt": ""}))) == set(releases.FACTS)


def test_tags_matched_to_changelog_entries(tmp_path: Path) -> None:
    with tagged_repo(tmp_path, {"CHANGELOG.md": KEEP_A_CHANGELOG}, ["v1.0.0", "v1.1.0"]) as snap:
        found = facts(snap)
    assert found["releases.tags"].value == 2
    assert {e.detail for e in found["releases.tags"].evidence} == {"tag v1.0.0", "tag v1.1.0"}
    assert found["releases.notes"].value is True
    assert (found["releases.notes"].evidence[0].path,
            found["releases.notes"].evidence[0].line) == ("CHANGELOG.md", 5)
    assert found["releases.tags_without_notes"].value == ()
    lines = {e.detail.split(":")[0]: e.line for e in found["releases.tags_without_notes"].evidence}
    assert lines == {"tag v1.1.0": 5, "tag v1.0.0": 9}


def test_tag_missing_from_changelog_is_listed(tmp_path: Path) -> None:
    with tagged_repo(tmp_path, {"CHANGELOG.md": KEEP_A_CHANGELOG},
                     ["v1.0.0", "v1.1.0", "v1.2.0"]) as snap:
        found = facts(snap)
    assert found["releases.tags_without_notes"].value == ("v1.2.0",)
    assert "tag v1.2.0 has no entry" in found["releases.tags_without_notes"].evidence[0].detail


def test_prefixed_tags_and_rst_version_headings(tmp_path: Path) -> None:
    history = "History\n=======\n\n2.0 (2024-05-01)\n----------------\n\n* new model\n"
    with tagged_repo(tmp_path, {"docs/HISTORY.rst": history}, ["model-v2.0.0"]) as snap:
        found = facts(snap)
    assert found["releases.tags_without_notes"].value == ()
    assert found["releases.notes"].evidence[0].path == "docs/HISTORY.rst"
    assert found["releases.notes"].evidence[0].line == 4


def test_version_tags_without_notes_in_the_repository_may_have_hosted_notes(
        tmp_path: Path) -> None:
    with tagged_repo(tmp_path, {"README.md": "# x\n"}, ["v0.1", "nightly"]) as snap:
        found = facts(snap)
    assert found["releases.tags"].value == 1
    notes = found["releases.notes"]
    assert notes.value is None
    assert "hosting service" in (notes.unknown or "") and "v0.1" in (notes.unknown or "")
    assert "did not find a changelog" in notes.evidence[0].detail
    fact = found["releases.tags_without_notes"]
    assert fact.value == ("v0.1",)
    assert "hosting service" in fact.evidence[0].detail
    assert "name no version" in fact.evidence[-1].detail and "nightly" in fact.evidence[-1].detail


def test_build_number_tags_are_not_releases(tmp_path: Path) -> None:
    with tagged_repo(tmp_path, {"README.md": "# x\n"}, ["199259", "200117"]) as snap:
        found = facts(snap)
    tags = found["releases.tags"]
    assert tags.value == 0
    assert "no version tags" in tags.evidence[0].detail
    assert "199259" in tags.evidence[-1].detail and "name no version" in tags.evidence[-1].detail
    # No release exists to attach notes to, on the hosting service or anywhere.
    assert found["releases.notes"].value is False
    assert found["releases.tags_without_notes"].value == ()


def test_hosting_service_tooling_is_named_in_evidence(tmp_path: Path) -> None:
    with tagged_repo(tmp_path, {"release-please-config.json": '{"packages": {".": {}}}'},
                     ["v1.0.0"]) as snap:
        found = facts(snap)
    assert found["releases.notes"].value is True
    assert found["releases.notes"].evidence[0].path == "release-please-config.json"
    assert found["releases.tags_without_notes"].value == ("v1.0.0",)
    assert "hosting service" in found["releases.tags_without_notes"].evidence[0].detail
    assert "release-please" in found["releases.tags_without_notes"].evidence[0].detail


def test_not_a_git_repository_cannot_count_tags(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"CHANGELOG.md": KEEP_A_CHANGELOG}))
    assert found["releases.tags"].value is None
    assert "not a git repository" in (found["releases.tags"].unknown or "")
    assert found["releases.tags_without_notes"].value is None
    assert found["releases.notes"].value is True


def test_repository_without_tags(tmp_path: Path) -> None:
    with tagged_repo(tmp_path, {"README.md": "# x\n"}, []) as snap:
        found = facts(snap)
    assert found["releases.tags"].value == 0
    assert found["releases.tags_without_notes"].value == ()
    assert found["releases.notes"].value is False


def test_changelog_with_only_unreleased_is_not_notes(tmp_path: Path) -> None:
    changelog = "# Changelog\n\n## Unreleased\n\n- TODO\n"
    with tagged_repo(tmp_path, {"CHANGELOG.md": changelog}, []) as snap:
        fact = facts(snap)["releases.notes"]
    assert fact.value is False
    assert fact.evidence[1].path == "CHANGELOG.md"
    assert "without any version entry" in fact.evidence[1].detail


def test_code_named_history_is_not_a_changelog(tmp_path: Path) -> None:
    with tagged_repo(tmp_path, {"src/history.py": "# 1.0.0 (2024-01-01)\n"}, []) as snap:
        assert facts(snap)["releases.notes"].value is False


def test_without_git_history_missing_notes_cannot_be_told(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"README.md": "# x\n"}))["releases.notes"]
    assert fact.value is None
    assert "without git history" in (fact.unknown or "")
    assert "did not find a changelog" in fact.evidence[0].detail


def test_dated_version_lines_and_notes_folders(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"NEWS": "1.3.0 (2024-06-01)\n  * faster scoring\n",
                     "release-notes/v1.4.0.md": "Retrained on May data.\n"})
    notes = releases.read_notes(snap)
    assert notes.versions[releases.canonical("1.3")].line == 1
    assert notes.versions[releases.canonical("v1.4.0")].path == "release-notes/v1.4.0.md"


def test_release_tooling_in_pyproject(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"pyproject.toml": "[project]\nname = 'x'\n\n[tool.towncrier]\n"
                                             "directory = 'changes'\n"}))["releases.notes"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("pyproject.toml", 4)


def test_canonical_versions() -> None:
    assert releases.canonical("v1.2.0") == releases.canonical("1.2")
    assert releases.canonical("1.0.0-rc.1") == releases.canonical("1.0.0rc1")
    assert releases.canonical("1.2.1") != releases.canonical("1.2")
    assert releases.tag_version("model-v3.1.0") == "3.1.0"
    assert releases.tag_version("nightly") is None
