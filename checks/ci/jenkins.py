"""Jenkins: Jenkinsfiles read as text, their ``sh``/``bat`` steps in ``stage`` blocks."""

from __future__ import annotations

import re
from dataclasses import replace

from mlops_auditor.checks import common
from mlops_auditor.checks.ci.jobs import _add_script
from mlops_auditor.checks.ci.model import FEATURE, JobCtx, Run, Scan
from mlops_auditor.checks.ci.reading import _default_branch, _files, _glob_matches
from mlops_auditor.model import Evidence
from mlops_auditor.snapshot import Snapshot

_JENKINS_STEP = re.compile(
    r"""\b(?:sh|bat|powershell|pwsh)\b\s*\(?\s*(?:script\s*:\s*)?('''|\"\"\"|'|")(.*?)\1""",
    re.S)
_JENKINS_STAGE = re.compile(r"""\bstage\s*\(\s*['"]([^'"]+)['"]\s*\)\s*\{""")


def _block_end(text: str, start: int) -> int:
    """Index after the ``}`` closing the ``{`` at START (quotes and comments not parsed)."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _jenkins_stage_runs(block: str, base: list[Run], path: str, default: str
                        ) -> tuple[Run, ...]:
    """Runs of a stage from its ``when { }``: branch, changeRequest(), buildingTag(); an
    ``input`` step makes it manual. Conditions it does not read keep every run."""
    when = re.search(r"\bwhen\s*\{", block)
    runs = list(base)
    if when:
        condition = block[when.end() - 1 : _block_end(block, when.end() - 1)]
        kinds: set[str] = set()
        if re.search(r"\bchangeRequest\s*\(", condition):
            kinds.add("pr")
        for pattern in re.findall(r"""\bbranch\s*(?:\(\s*)?(?:pattern\s*:\s*)?['"]([^'"]+)""",
                                  condition):
            kinds |= {"merge"} if _glob_matches(pattern, default) else set()
            kinds |= {"pr"} if _glob_matches(pattern, FEATURE) else set()
        if re.search(r"""\b(buildingTag\s*\(|tag\s+['"])""", condition):
            kinds.add("tag")
            runs.append(Run("tag", "Jenkins build of a tag", path, None))
        unread = re.search(r"\b(not|anyOf|expression|environment|triggeredBy)\b", condition)
        if kinds and not unread:
            runs = [r for r in runs if r.kind in kinds]
    if re.search(r"\binput\s*[({]", block):
        runs = [replace(r, kind="manual", detail=f"{r.detail}, confirmed by hand (input)")
                for r in runs]
    return tuple(runs)


def scan_jenkins(snap: Snapshot, scan: Scan) -> None:
    """Jenkinsfiles, read as text: ``sh``/``bat``/``powershell`` steps inside ``stage`` blocks.
    A multibranch pipeline builds every branch and change request unless ``when`` says
    otherwise; ``triggers { cron(...) }`` schedules it."""
    for path in _files(snap, "jenkins"):
        scan.files.append(path)
        parsed = snap.text(path)
        if not parsed.ok:
            scan.unparseable[path] = Evidence(detail=f"unparseable: {parsed.error}", path=path)
            continue
        text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), parsed.value,
                      flags=re.S)
        lines = text.split("\n")
        default = _default_branch(text)
        base = [Run("pr", "Jenkins build of a change request or feature branch", path, None),
                Run("merge", f"Jenkins build of {default}", path, None)]
        cron = re.search(r"\b(cron|pollSCM)\s*\(\s*['\"]([^'\"]*)", text)
        if cron:
            line = text[: cron.start()].count("\n") + 1
            base.append(Run("schedule", f"Jenkins {cron.group(1)} '{cron.group(2)}'", path, line))
        stages = [(m.group(1), m.start(), _block_end(text, m.end() - 1))
                  for m in _JENKINS_STAGE.finditer(text)]
        for name, start, _ in stages:
            scan.job("jenkins", path, text[:start].count("\n") + 1, name)
        for step in _JENKINS_STEP.finditer(text):
            line = text[: step.start()].count("\n") + 1
            if common.is_comment(lines[line - 1], "//"):
                continue
            inside = [s for s in stages if s[1] <= step.start() < s[2]]
            stage = max(inside, key=lambda s: s[1]) if inside else None
            runs = _jenkins_stage_runs(text[stage[1] : stage[2]], base, path, default) \
                if stage else tuple(base)
            tail = text[step.end() : step.end() + 120]
            soft = "returnStatus: true" if re.match(r"[^)]*returnStatus\s*:\s*true", tail) \
                else None
            ctx = JobCtx("jenkins", path, lines, f"stage {stage[0] if stage else '(pipeline)'}",
                         line, runs, soft)
            _add_script(scan, ctx, step.group(2), errexit=True, pipefail=False)
