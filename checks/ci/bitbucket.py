"""Bitbucket Pipelines: default, branch, pull-request, tag and custom pipelines, their steps
and pipes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlops_auditor.checks.ci.jobs import _add_action, _add_script, _job_envs
from mlops_auditor.checks.ci.model import FEATURE, MAX_DEPTH, JobCtx, Run, Scan
from mlops_auditor.checks.ci.reading import (
    _default_branch,
    _dig,
    _files,
    _find,
    _find_key,
    _glob_matches,
    _load_yaml,
    _mapping,
    _scalar,
)
from mlops_auditor.checks.common import as_list as _as_list
from mlops_auditor.snapshot import Snapshot


def scan_bitbucket(snap: Snapshot, scan: Scan) -> None:
    """Bitbucket Pipelines: ``default`` (every branch without its own pipeline), ``branches``,
    ``pull-requests``, ``tags`` and ``custom`` (by hand); ``trigger: manual`` steps; pipes from
    the catalogue."""
    for path in _files(snap, "bitbucket-pipelines"):
        doc = _load_yaml(snap, scan, path)
        pipelines = _dig(doc, "pipelines")
        if not isinstance(pipelines, dict):
            continue
        lines = snap.lines(path)
        default = _default_branch("\n".join(lines))
        branches = _mapping(pipelines.get("branches"))
        own_default = any(_glob_matches(str(p), default) for p in branches)
        sections: list[tuple[str, Any, list[Run]]] = []
        line = _find_key(lines, "default")
        base = [Run("pr", "push to any branch (default pipeline)", path, line)]
        if not own_default:
            base.append(Run("merge", f"push to {default} (default pipeline)", path, line))
        sections.append(("default", pipelines.get("default"), base))
        for pattern, items in branches.items():
            line = _find_key(lines, str(pattern))
            runs = [Run("merge", f"push to {default} (branches: {pattern})", path, line)] \
                if _glob_matches(str(pattern), default) else []
            if _glob_matches(str(pattern), FEATURE):
                runs.append(Run("pr", f"push to a feature branch (branches: {pattern})", path,
                                line))
            sections.append((f"branches {pattern}", items, runs))
        for key, kind in (("pull-requests", "pr"), ("tags", "tag"), ("custom", "manual")):
            block = pipelines.get(key)
            for pattern, items in (block.items() if isinstance(block, dict) else []):
                line = _find_key(lines, str(pattern))
                sections.append((f"{key} {pattern}", items,
                                 [Run(kind, f"{key}: {pattern}", path, line)]))
        for name, items, runs in sections:
            _bitbucket_steps(scan, path, lines, name, items, tuple(runs), 0)


def _bitbucket_steps(scan: Scan, path: str, lines: list[str], section: str, items: Any,
                     runs: tuple[Run, ...], depth: int) -> None:
    for item in _as_list(items):
        if not isinstance(item, dict) or depth > MAX_DEPTH:
            continue
        nested = item.get("parallel", _dig(item, "stage"))
        if nested is not None:
            inner = nested.get("steps") if isinstance(nested, dict) else nested
            stage_runs = runs
            if _dig(item, "stage", "trigger") == "manual":
                stage_runs = tuple(replace(r, kind="manual") for r in runs)
            _bitbucket_steps(scan, path, lines, section, inner, stage_runs, depth + 1)
            continue
        step = item.get("step")
        if not isinstance(step, dict):
            continue
        name = str(step.get("name", section))
        line = _find(lines, name) if "name" in step else _find_key(lines, section)
        scan.job("bitbucket-pipelines", path, line, name)
        own = runs if step.get("trigger") != "manual" else tuple(
            replace(r, kind="manual", detail=f"{r.detail}, trigger: manual") for r in runs)
        envs, _ = _job_envs(step.get("deployment"), {})
        ctx = JobCtx("bitbucket-pipelines", path, lines, f"step {name}", line, own,
                     envs=envs)
        for script_line in _as_list(step.get("script")):
            if isinstance(script_line, dict) and isinstance(script_line.get("pipe"), str):
                pipe = str(script_line["pipe"])
                _add_action(scan, ctx, "bitbucket_pipes", pipe.split(":")[0], f"pipe: {pipe}",
                            script_line.get("variables"))
            elif _scalar(script_line):
                _add_script(scan, ctx, str(script_line), errexit=True, pipefail=False)
        after = [str(s) for s in _as_list(step.get("after-script")) if _scalar(s)]
        _add_script(scan, ctx, "\n".join(after), errexit=True, pipefail=False,
                    soft="after-script: its failure does not fail the step")
