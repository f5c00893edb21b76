"""CircleCI: jobs run from workflows, with filters, schedules and approval jobs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlops_auditor.checks.ci.conditions import _REGEX_LITERAL, _regex_search
from mlops_auditor.checks.ci.jobs import _add, _add_script
from mlops_auditor.checks.ci.model import FEATURE, TAG, JobCtx, Run, Scan
from mlops_auditor.checks.ci.reading import (
    _default_branch,
    _dig,
    _files,
    _find,
    _find_key,
    _load_yaml,
    _mapping,
    _scalar,
)
from mlops_auditor.checks.common import as_list as _as_list
from mlops_auditor.snapshot import Snapshot


def scan_circleci(snap: Snapshot, scan: Scan) -> None:
    """CircleCI: jobs run from ``workflows`` with branch/tag filters, scheduled triggers and
    approval jobs (a job after an approval runs by hand). Scripts run with ``bash -eo
    pipefail``."""
    for path in _files(snap, "circleci"):
        doc = _load_yaml(snap, scan, path)
        if not isinstance(doc, dict):
            continue
        lines = snap.lines(path)
        default = _default_branch("\n".join(lines))
        jobs = _mapping(doc.get("jobs"))
        workflows = _mapping(doc.get("workflows"))
        if not workflows and "build" in jobs:
            workflows = {"(default)": {"jobs": ["build"]}}
        for workflow in workflows.values():
            if isinstance(workflow, dict):
                _circleci_workflow(scan, path, lines, default, jobs, workflow)


def _circleci_workflow(scan: Scan, path: str, lines: list[str], default: str,
                       jobs: dict[str, Any], workflow: dict[str, Any]) -> None:
    schedules = [_dig(t, "schedule", "cron") for t in _as_list(workflow.get("triggers"))]
    manual: set[str] = set()
    for entry in _as_list(workflow.get("jobs")):
        name, spec = (next(iter(entry.items())) if isinstance(entry, dict) and entry
                      else (entry, {}))
        spec = spec if isinstance(spec, dict) else {}
        alias = str(spec.get("name", name))
        if spec.get("type") == "approval" or any(str(r) in manual
                                                 for r in _as_list(spec.get("requires"))):
            manual.add(alias)
            if spec.get("type") == "approval":
                continue
        runs = _circleci_runs(path, lines, default, spec.get("filters"), schedules)
        if alias in manual:
            runs = [replace(r, kind="manual", detail=f"{r.detail}, after an approval job")
                    for r in runs]
        line = _find_key(lines, str(name))
        scan.job("circleci", path, line, alias)
        job = jobs.get(str(name))
        values = {str(k): [str(x) for x in _as_list(v) if _scalar(x)]
                  for k, v in (_dig(spec, "matrix", "parameters") or {}).items()}
        ctx = JobCtx("circleci", path, lines, f"job {alias}", line, tuple(runs),
                     values=values)
        if not isinstance(job, dict):
            _add(scan, ctx, f"orb job {name}", classes=frozenset())
            continue
        for step in _as_list(job.get("steps")):
            command = _dig(step, "run", "command") if isinstance(_dig(step, "run"), dict) \
                else _dig(step, "run")
            if _scalar(command):
                _add_script(scan, ctx, str(command), errexit=True, pipefail=True)


def _circleci_runs(path: str, lines: list[str], default: str, filters: Any,
                   schedules: list[Any]) -> list[Run]:
    """Runs of a workflow job: scheduled triggers, else branch/tag ``only``/``ignore`` filters
    (every branch and no tag by default)."""
    if schedules:
        return [Run("schedule", f"scheduled workflow (cron '{c}')", path, _find(lines, str(c)))
                for c in schedules]

    def allowed(spec: Any, name: str) -> bool:
        only, ignore = _dig(spec, "only"), _dig(spec, "ignore")

        def hit(patterns: Any) -> bool:
            return any(_regex_search(p, name) is True if _REGEX_LITERAL.fullmatch(str(p))
                       else str(p) == name for p in _as_list(patterns))
        return (only is None or hit(only)) and not hit(ignore)

    runs = []
    branches, tags = _dig(filters, "branches"), _dig(filters, "tags")
    if allowed(branches, default):
        runs.append(Run("merge", f"push to {default}", path, None))
    if allowed(branches, FEATURE):
        runs.append(Run("pr", "push to any branch (pull request branches included)", path, None))
    if _dig(tags, "only") is not None and allowed(tags, TAG):
        runs.append(Run("tag", "push of a tag", path, None))
    return runs
