"""Releases: tags on the audited history, and release notes kept for them (changelog entries,
release-notes folders, release tooling)."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from mlops_auditor.checks import common
from mlops_auditor.checks.docs import parse_document
from mlops_auditor.history import Tag
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "releases.tags": "number of version tags (v1.2.0, model-1.2) on the audited history; tags "
                     "naming no version (build numbers, `nightly`) are not releases; None when "
                     "there is no git history",
    "releases.notes": "release notes are kept: a changelog with version entries, a release-notes "
                      "folder, or release tooling (release-please, semantic-release, towncrier, "
                      "git-cliff, changesets); None when version tags exist but the repository "
                      "holds no notes, since they may be on the hosting service's releases page",
    "releases.tags_without_notes": "tags naming a version that has no entry in a changelog or "
                                   "release-notes file (tags without a version are not releases)",
}


def canonical(version: str) -> tuple[str, ...]:
    """A version in a comparable form: `v1.2.0`, `1.2` and `1.2.0` are equal, and so are
    `1.0.0-rc.1` and `1.0.0rc1`."""
    parts = re.findall(r"\d+|[a-z]+", version.lower().lstrip("v"))
    aliases = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}
    parts = [aliases.get(p, p) for p in parts]
    release = 0
    while release < len(parts) and parts[release].isdigit():
        release += 1
    numbers = [str(int(p)) for p in parts[:release]]
    while len(numbers) > 1 and numbers[-1] == "0":
        numbers.pop()
    return (*numbers, *parts[release:])


def tag_version(name: str) -> str | None:
    """The version a tag names, prefixes dropped (`v1.2.0`, `model-v1.2.0`, `pkg@1.2.0`)."""
    match = common.ignorecase(str(common.catalogue("releases")["version"])).search(name)
    return match.group(1) if match else None


# -- release notes in files -------------------------------------------------------------------

@dataclass
class Notes:
    versions: dict[tuple[str, ...], Evidence] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # notes files with at least one entry
    empty: list[str] = field(default_factory=list)  # changelogs without a version entry
    failed: list[str] = field(default_factory=list)


def notes_files(snap: Snapshot) -> tuple[list[str], list[str]]:
    """Changelog files by name, and files in release-notes folders (outside vendored code)."""
    catalogue = common.catalogue("releases")
    named = common.ignorecase(catalogue["changelog_name"])
    folders = common.ignorecase(catalogue["notes_folders"])
    extensions = common.ignorecase(catalogue["notes_extensions"])
    vendored = set(snap.glob(*common.NOT_PROJECT_CODE))
    changelogs = [p for p in snap.files if named.match(posixpath.basename(p)) and p not in vendored]
    in_folders = [p for p in snap.files if folders.search(p) and extensions.search(p)
                  and p not in vendored and p not in changelogs]
    return changelogs, in_folders


def read_notes(snap: Snapshot) -> Notes:
    """Version entries of every changelog and release-notes file: headings that name a version,
    lines that start with a version and a date, and release-notes files named by a version.
    A changelog with no version entry (only "Unreleased") is recorded as empty."""
    catalogue = common.catalogue("releases")
    version = common.ignorecase(str(catalogue["version"]))
    dated = common.ignorecase(str(catalogue["dated_version_line"]))
    notes = Notes()
    changelogs, in_folders = notes_files(snap)
    for path in changelogs + in_folders:
        text = snap.text(path)
        if not text.ok:
            notes.failed.append(path)
            continue
        entries = 0
        document = parse_document(path, text.value)
        for heading in document.headings:
            line = heading.line + 1
            evidence = common.at(path, line, heading.title)
            match = version.search(heading.title)
            if match:
                notes.versions.setdefault(canonical(match.group(1)), evidence)
                entries += 1
        for number, line_text in enumerate(document.lines, start=1):
            if dated.match(line_text) and not document.code[number - 1]:
                match = version.search(line_text)
                if match:
                    evidence = common.at(path, number, line_text)
                    notes.versions.setdefault(canonical(match.group(1)), evidence)
                    entries += 1
        if path in in_folders:
            match = version.search(posixpath.basename(path))
            if match and text.value.strip():
                notes.versions.setdefault(canonical(match.group(1)),
                                          common.at(path, 1, f"release notes file {path}"))
                entries += 1
        if entries:
            notes.files.append(path)
        elif path in changelogs:
            notes.empty.append(path)
    return notes


def release_tools(snap: Snapshot) -> list[tuple[str, bool, Evidence]]:
    """Release tooling configured in the repository: (tool, writes to the hosting service,
    evidence). A configuration file that is empty does not count."""
    tools = common.catalogue("releases")["tools"]
    found: list[tuple[str, bool, Evidence]] = []
    pyproject = snap.toml("pyproject.toml") if snap.exists("pyproject.toml") else None
    tool_table = pyproject.value.get("tool") if pyproject and pyproject.ok and isinstance(
        pyproject.value, dict) else None
    for name, spec in tools.items():
        hosting = bool(spec.get("hosting"))
        for path in spec.get("files") or ():
            if snap.exists(path) and (snap.text(path).value or "").strip():
                found.append((name, hosting, common.at(path, 1, f"{name} is configured")))
                break
        else:
            key = spec.get("pyproject")
            if key and isinstance(tool_table, dict) and isinstance(tool_table.get(key), dict):
                line = common.first_line(snap.text("pyproject.toml").value or "",
                                         re.compile(rf"^\[tool\.{re.escape(key)}"))
                found.append((name, hosting, common.at(
                    "pyproject.toml", line, f"{name} is configured ([tool.{key}])")))
    return found


# -- facts ------------------------------------------------------------------------------------

def collect(snap: Snapshot) -> list[Fact]:
    notes = read_notes(snap)
    tools = release_tools(snap)
    return [_tags_fact(snap), _notes_fact(snap, notes, tools),
            _without_notes_fact(snap, notes, tools)]


def version_tags(snap: Snapshot) -> list[Tag]:
    """Tags of the audited history that name a version (``v1.2.0``, ``model-1.2``): releases.
    A tag naming no version (a CI build number such as ``199259``, ``nightly``, ``deployed``)
    marks a build or a moving pointer, not a release."""
    return [t for t in snap.history.tags if tag_version(t.name) is not None]


def _unversioned_note(snap: Snapshot) -> list[Evidence]:
    other = [t.name for t in snap.history.tags if tag_version(t.name) is None]
    if not other:
        return []
    return [Evidence(f"{len(other)} tag(s) name no version and are not taken for releases: "
                     f"{', '.join(other[:5])}")]


def _tags_fact(snap: Snapshot) -> Fact:
    """The number of version tags, each cited with its commit."""
    history = snap.history
    if history.reason:
        return common.unknown("releases.tags", history.reason)
    tags = version_tags(snap)
    items = [Evidence(f"tag {t.name}", commit=t.commit) for t in tags[:15]]
    if history.shallow:
        items.insert(0, Evidence("shallow clone: tags on commits outside the fetched history "
                                 "are not seen"))
    if not tags:
        items.append(Evidence("no version tags on the audited history"))
    return common.value("releases.tags", len(tags), items + _unversioned_note(snap))


def _notes_fact(snap: Snapshot, notes: Notes,
                tools: list[tuple[str, bool, Evidence]]) -> Fact:
    """Notes kept in the repository (True). Without any: None when version tags exist (or the
    history that would show them is missing or shallow), because GitHub and GitLab keep release
    notes on releases attached to tags, which git does not hold; False only when the full
    history has no version tag, so no release exists to carry notes anywhere."""
    support = [notes.versions[v] for v in notes.versions][:10] + [e for _, _, e in tools]
    if support:
        return Fact("releases.notes", True, tuple(support[:20]))
    empty = [common.at(p, None, "changelog without any version entry") for p in notes.empty]
    unread = common.unreadable(snap, notes.failed)
    if notes.failed and not notes.empty:
        return common.unknown("releases.notes", "the only release-notes files could not be read",
                              unread)
    search = common.searched("a changelog with version entries, a release-notes folder or "
                             "release tooling (release-please, semantic-release, towncrier, "
                             "git-cliff, changesets)", "the repository")
    history = snap.history
    tags = [] if history.reason else version_tags(snap)
    if tags or history.shallow or history.reason:
        seen = (f"{len(tags)} version tag(s) (latest {tags[0].name})" if tags
                else "a shallow clone may hide version tags" if history.shallow
                else "without git history, version tags cannot be seen")
        return common.unknown(
            "releases.notes", f"{seen} but no notes in the repository: they may be kept on the "
                              "hosting service's releases page (GitHub/GitLab Releases), which "
                              "git does not hold", [search, *empty, *unread])
    return Fact("releases.notes", False, tuple([search, *empty, *unread][:20]))


def _without_notes_fact(snap: Snapshot, notes: Notes,
                        tools: list[tuple[str, bool, Evidence]]) -> Fact:
    history = snap.history
    if history.reason:
        return common.unknown("releases.tags_without_notes", history.reason)
    if notes.failed and not notes.files:
        return common.unknown("releases.tags_without_notes",
                              "the release-notes files could not be read",
                              common.unreadable(snap, notes.failed))
    missing: list[str] = []
    matched: list[Evidence] = []
    unversioned: list[str] = []
    for tag in history.tags:
        version = tag_version(tag.name)
        if version is None:
            unversioned.append(tag.name)
            continue
        hit = notes.versions.get(canonical(version))
        if hit is None:
            missing.append(tag.name)
        else:
            matched.append(Evidence(f"tag {tag.name}: notes at {hit.path}:{hit.line}",
                                    path=hit.path, line=hit.line, commit=tag.commit))
    items = [Evidence(f"tag {name} has no entry in a changelog or release-notes file")
             for name in missing[:10]]
    items += matched[:5]
    if unversioned:
        items.append(Evidence(f"{len(unversioned)} tag(s) name no version and are not taken for "
                              f"releases: {', '.join(unversioned[:5])}"))
    hosting = sorted({name for name, writes, _ in tools if writes})
    if hosting and missing:
        items.insert(0, Evidence(f"{', '.join(hosting)} may write notes to the hosting service's "
                                 "releases page, which the audit cannot see"))
    elif missing and not notes.files:
        items.insert(0, Evidence("no notes in the repository: they may be kept on the hosting "
                                 "service's releases page, which the audit cannot see"))
    return common.value("releases.tags_without_notes", tuple(missing), items)
