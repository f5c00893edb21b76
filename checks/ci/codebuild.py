"""AWS CodeBuild: the commands of a buildspec, the repository scripts they run (followed one
level) and the stack an IaC apply applies."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import replace
from typing import Any

from mlops_auditor.checks import precommit
from mlops_auditor.checks.ci.catalogue import _regex
from mlops_auditor.checks.ci.commands import (
    ShellLine,
    _segment_classes,
    classify,
    shell_lines,
    soft_reason,
    split_shell,
)
from mlops_auditor.checks.ci.jobs import _add
from mlops_auditor.checks.ci.model import JobCtx, Scan
from mlops_auditor.checks.ci.reading import (
    _dig,
    _find,
    _find_key,
    _load_yaml,
    _mapping,
    _scalar,
)
from mlops_auditor.checks.common import as_list as _as_list
from mlops_auditor.snapshot import Snapshot


def _buildspec(snap: Snapshot, scan: Scan, ctx: JobCtx, path: str
               ) -> list[tuple[int, str | None]]:
    """The commands of a buildspec file (``phases: {install, pre_build, build, post_build}:
    commands``), run in the action's runs."""
    doc = _load_yaml(snap, scan, path)
    lines = snap.lines(path)
    spec_ctx = replace(ctx, path=path, lines=lines, line=_find_key(lines, "phases"))
    return _run_entries(snap, scan, spec_ctx, buildspec_commands(doc))


def buildspec_commands(doc: Any) -> list[tuple[str, int | None, str | None]]:
    """Command entries of a parsed buildspec, phase by phase: (script, None, why its failure
    does not fail the build). A phase with ``on-failure: CONTINUE`` does not fail it."""
    entries: list[tuple[str, int | None, str | None]] = []
    for name, phase in _mapping(_dig(doc, "phases")).items():
        if not isinstance(phase, dict):
            continue
        soft = f"on-failure: CONTINUE ({name} phase)" if str(
            phase.get("on-failure", "")).upper().startswith("CONTINUE") else None
        for key in ("commands", "finally"):
            entries += [(str(c), None, soft) for c in _as_list(phase.get(key)) if _scalar(c)]
    return entries


def _run_entries(snap: Snapshot, scan: Scan, ctx: JobCtx,
                 entries: list[tuple[str, int | None, str | None]]
                 ) -> list[tuple[int, str | None]]:
    """Command entries of a CodeBuild job, in one shell whose directory changes (``cd``,
    ``pushd``, ``popd``) carry over; each entry fails the build on its last line's failure. A
    script an entry runs (``bash scripts/deploy.sh``) is followed one level. Returns the IaC
    applies with the stack each applies."""
    applies: list[tuple[int, str | None]] = []
    cwd: str | None = ""
    stack: list[str | None] = []
    cursor = ctx.line
    for script, given, entry_soft in entries:
        for line in shell_lines(script, errexit=False, pipefail=False):
            number = given or _find(ctx.lines, line.first, cursor)
            cursor = number or cursor
            cwd = _chdir(cwd, stack, line.text)
            classes = classify(line.text)
            soft = entry_soft or (soft_reason(line) if classes else None)
            _add(scan, ctx, line.text, line=number, classes=classes, soft=soft)
            if "deploy_iac" in classes:
                applies.append((len(scan.commands) - 1, _iac_target(snap, line.text, cwd)))
            parts = split_shell(line.text)
            if len(parts) > 1 and parts[0][1] == "||" and _regex("masking").search(parts[1][0]):
                soft = soft or f"`|| {parts[1][0]}` swallows the script's failure"
            applies += _followed(snap, scan, ctx, line.text, cwd, soft)
    return applies


def _followed(snap: Snapshot, scan: Scan, ctx: JobCtx, text: str, cwd: str | None,
              soft: str | None) -> list[tuple[int, str | None]]:
    """The lines of the repository's shell script (or make target) a command line runs, each
    a command of the job; a line whose failure the script ignores (no ``set -e``, ``|| true``)
    does not count."""
    steps = _script_steps(snap, text, cwd)
    if not steps:
        return []
    if steps[0].path not in scan.files:
        scan.files.append(steps[0].path)
    applies: list[tuple[int, str | None]] = []
    here: str | None = cwd
    stack: list[str | None] = []
    lines = snap.lines(steps[0].path)
    script_ctx = replace(ctx, path=steps[0].path, lines=lines)
    for step in steps:
        here = _chdir(here, stack, step.text)
        classes = classify(step.text)
        reason = soft or (None if step.fails else "its failure is ignored by the script (no "
                                                   "`set -e` and not the last line)")
        if classes and not reason:
            reason = soft_reason(ShellLine(0, step.text, step.text, True, False, True))
        if step.path != script_ctx.path:
            script_ctx = replace(ctx, path=step.path, lines=snap.lines(step.path))
        _add(scan, script_ctx, step.text, line=step.line, classes=classes, soft=reason)
        if "deploy_iac" in classes:
            applies.append((len(scan.commands) - 1, _iac_target(snap, step.text, here)))
    return applies


def _script_steps(snap: Snapshot, text: str, cwd: str | None) -> list[precommit.Step] | None:
    """The steps of the script or make target that the first command of TEXT runs, found from
    the directory CWD (``bash ./scripts/x.sh``, ``sh -e x.sh``, ``./x.sh``, ``make target``)."""
    first = split_shell(text)[0][0]
    try:
        words = shlex.split(first)
    except ValueError:
        return None
    if not words or cwd is None:
        return None
    if posixpath.basename(words[0]) in ("make", "gmake"):
        return precommit.follow(snap, first) if cwd == "" else None
    errexit = False
    if words[0] in ("bash", "sh", "zsh", "source", "."):
        flags = [w for w in words[1:] if w.startswith("-")]
        if "-c" in flags:
            return None
        errexit = any("e" in f for f in flags if not f.startswith("--"))
        words = [w for w in words[1:] if not w.startswith("-")]
    elif not words[0].endswith((".sh", ".bash")):
        return None
    path = _join(cwd, words[0]) if words and "$" not in words[0] else None
    if path is None or not snap.exists(path):
        return None
    return precommit.script_steps(snap, path, errexit)


def _join(cwd: str, relative: str) -> str | None:
    """A repository path from a working directory and a relative path; None outside it."""
    if relative.startswith(("/", "~")):
        return None
    path = posixpath.normpath(posixpath.join(cwd, relative))
    return None if path.startswith("..") else ("" if path == "." else path)


def _chdir(cwd: str | None, stack: list[str | None], text: str) -> str | None:
    """The working directory after the ``cd``/``pushd``/``popd`` commands of a line (None
    when it cannot be told: a variable, ``cd -``, the home folder)."""
    for segment, _ in split_shell(text):
        words = segment.split()
        if not words or words[0] not in ("cd", "pushd", "popd"):
            continue
        if words[0] == "popd":
            cwd = stack.pop() if stack else None
            continue
        if words[0] == "pushd":
            stack.append(cwd)
        target = words[1].strip("'\"") if len(words) > 1 else "~"
        if target in ("$CODEBUILD_SRC_DIR", "${CODEBUILD_SRC_DIR}"):
            cwd = ""
        elif cwd is None or "$" in target or target == "-":
            cwd = None
        else:
            cwd = _join(cwd, target)
    return cwd


def _cdk_app(snap: Snapshot, folder: str) -> str | None:
    """The CDK app a folder belongs to: the nearest folder at or above it with a cdk.json."""
    while True:
        if snap.exists(posixpath.join(folder, "cdk.json")):
            return folder
        if not folder:
            return None
        folder = posixpath.dirname(folder)


def _iac_target(snap: Snapshot, text: str, cwd: str | None) -> str | None:
    """The stack an IaC apply command applies: ``cdk deploy`` the CDK app of its directory,
    a CloudFormation or SAM deploy the template it names; None when it cannot be told."""
    for segment, _ in split_shell(text):
        if "deploy_iac" not in _segment_classes(segment):
            continue
        if re.search(r"\bcdk\s+deploy\b", segment):
            app = _cdk_app(snap, cwd) if cwd is not None else None
            return f"cdk-app:{app}" if app is not None else None
        named = re.search(r"(?:--template(?:-file|-body|-url)?[= ]|\s-t\s+)\s*(\S+)", segment)
        if named and "$" not in named.group(1):
            return "template:" + posixpath.basename(named.group(1).strip("'\""))
        return None
    return None
