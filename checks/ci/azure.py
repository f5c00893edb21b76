"""Azure Pipelines: triggers, templates with parameters, template conditionals, stages, jobs,
deployment jobs and steps."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mlops_auditor.checks.ci.conditions import narrow
from mlops_auditor.checks.ci.jobs import _add_action, _add_script, _job_envs
from mlops_auditor.checks.ci.model import (
    FEATURE,
    MAX_DEPTH,
    TAG,
    UNKNOWN,
    JobCtx,
    PathFilter,
    Run,
    Scan,
    Val,
)
from mlops_auditor.checks.ci.reading import (
    _branch_allowed,
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


@dataclass(frozen=True)
class _Az:
    """Where Azure Pipelines items are read: their file, parameters and the runs so far."""

    path: str
    lines: list[str]
    runs: tuple[Run, ...]
    params: Mapping[str, Any]
    stack: tuple[str, ...] = ()
    stage: str = ""


def _azure_lookup(run: Run) -> Callable[[str], Val]:
    def look(name: str) -> Val:
        key = re.sub(r"^variables\.", "", name, flags=re.I).lower()
        return run.values.get(key, UNKNOWN)
    return look


def _azure_values(reason: str, ref: str, default: str) -> dict[str, Val]:
    return {"build.reason": reason, "build.sourcebranch": ref,
            "build.sourcebranchname": ref.rsplit("/", 1)[-1],
            "system.pullrequest.targetbranch": f"refs/heads/{default}"
            if reason == "PullRequest" else None}


def _azure_branches(spec: Any) -> tuple[Any, Any]:
    """(include, exclude) of an Azure branch or path filter (a list, or include/exclude)."""
    if isinstance(spec, dict):
        return spec.get("include"), spec.get("exclude")
    return spec, None


def azure_runs(doc: dict[str, Any], path: str, lines: list[str], default: str) -> list[Run]:
    """Runs of a pipeline's ``trigger:``, ``pr:`` and ``schedules:``.

    No ``trigger:`` means a push to any branch runs it; no ``pr:`` means pull requests run it
    (true for GitHub-hosted code; on Azure Repos, branch policies decide, which the repository
    does not show); ``none`` disables either. A pipeline with no automatic trigger runs by hand.
    """
    runs: list[Run] = []
    trigger = doc.get("trigger")
    if trigger != "none":
        spec = trigger if isinstance(trigger, dict) else {"branches": trigger}
        include, exclude = _azure_branches(spec.get("branches"))
        paths = _azure_paths(spec.get("paths"))
        line = _find_key(lines, "trigger") if "trigger" in doc else None
        absent = " (no trigger: every branch)" if trigger is None else ""
        if _branch_allowed(default, include, exclude):
            runs.append(Run("merge", f"CI trigger on {default}{absent}", path, line,
                            _azure_values("IndividualCI", f"refs/heads/{default}", default),
                            paths))
        if _branch_allowed(FEATURE, include, exclude):
            runs.append(Run("pr", f"CI trigger on every branch{absent}", path, line,
                            _azure_values("IndividualCI", f"refs/heads/{FEATURE}", default),
                            paths))
        tags_in, tags_out = _azure_branches(spec.get("tags"))
        if tags_in is not None and _branch_allowed(TAG, tags_in, tags_out):
            runs.append(Run("tag", "CI trigger on tags", path, line,
                            _azure_values("IndividualCI", f"refs/tags/{TAG}", default), paths))
    pr = doc.get("pr")
    if pr != "none":
        spec = pr if isinstance(pr, dict) else {"branches": pr}
        include, exclude = _azure_branches(spec.get("branches"))
        paths = _azure_paths(spec.get("paths"))
        if include is None or _branch_allowed(default, include, exclude):
            detail = "pr trigger" if "pr" in doc else "pull requests (no pr: section)"
            runs.append(Run("pr", detail, path, _find_key(lines, "pr") if "pr" in doc else None,
                            _azure_values("PullRequest", "refs/pull/1/merge", default), paths))
    for item in _as_list(doc.get("schedules")):
        if isinstance(item, dict):
            cron = str(item.get("cron"))
            runs.append(Run("schedule", f"schedule (cron '{cron}')", path, _find(lines, cron),
                            _azure_values("Schedule", f"refs/heads/{default}", default)))
    if not runs:
        runs.append(Run("manual", "no automatic trigger (runs by hand)", path, None,
                        _azure_values("Manual", f"refs/heads/{default}", default)))
    return runs


def _azure_paths(spec: Any) -> PathFilter | None:
    if not spec:
        return None
    include, exclude = _azure_branches(spec)
    return PathFilter(tuple(str(p) for p in _as_list(include)) if include else None,
                      tuple(str(p) for p in _as_list(exclude)))


def _subst(text: str, params: Mapping[str, Any]) -> str:
    """``${{ parameters.name }}`` replaced by the value passed to a template."""
    def value(match: re.Match[str]) -> str:
        found = params.get(match.group(1))
        return str(found) if _scalar(found) else match.group(0)
    return re.sub(r"\$\{\{\s*parameters\.([\w-]+)\s*\}\}", value, text)


def _template_refs(value: Any, depth: int = 0) -> list[str]:
    if depth > 40:
        return []
    if isinstance(value, dict):
        found = [str(v) for k, v in value.items() if k == "template" and isinstance(v, str)]
        return found + [r for v in value.values() for r in _template_refs(v, depth + 1)]
    if isinstance(value, list):
        return [r for v in value for r in _template_refs(v, depth + 1)]
    return []


def _azure_path(ref: str, base: str) -> str:
    if ref.startswith("/"):
        return posixpath.normpath(ref.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), ref))


def _looks_like_azure(doc: Any) -> bool:
    return isinstance(doc, dict) and any(k in doc for k in ("trigger", "pr", "schedules")) and (
        any(isinstance(doc.get(k), list) for k in ("stages", "jobs", "steps")) or "extends" in doc)


def scan_azure(snap: Snapshot, scan: Scan) -> None:
    """Azure Pipelines: every pipeline file that no other one uses as a ``template:``."""
    named = _files(snap, "azure-pipelines")
    ci_files = set(_files(snap, "github-actions")) | set(_files(snap, "gitlab-ci"))
    sniffed = [p for p in _files(snap, "azure-sniff")
               if p not in named and p not in ci_files and _looks_like_azure(snap.yaml(p).value)]
    candidates = named + sniffed
    templates = {_azure_path(ref, p) for p in candidates
                 for ref in _template_refs(snap.yaml(p).value) if "@" not in ref}
    for path in candidates:
        if path not in templates:
            _azure_pipeline(snap, scan, path)
        elif path not in scan.files:
            scan.files.append(path)


def _azure_pipeline(snap: Snapshot, scan: Scan, path: str) -> None:
    """A root pipeline file: its triggers, then its body."""
    doc = _load_yaml(snap, scan, path)
    if not isinstance(doc, dict):
        return
    lines = snap.lines(path)
    runs = tuple(azure_runs(doc, path, lines, _default_branch("\n".join(lines))))
    _azure_body(snap, scan, _Az(path, lines, runs, {}), doc)


def _azure_template(snap: Snapshot, scan: Scan, az: _Az, item: dict[str, Any]
                    ) -> tuple[_Az, dict[str, Any]] | None:
    """A local ``template:`` with its parameters (defaults, then the values passed)."""
    ref = _subst(str(item["template"]), az.params)
    line = _find(az.lines, ref)
    if "@" in ref:
        scan.note(az.path, line, f"template {ref} is in another repository; not read")
        return None
    path = _azure_path(ref, az.path)
    if path in az.stack or path == az.path or len(az.stack) >= MAX_DEPTH:
        scan.note(az.path, line, f"template {ref} includes itself or nests too deeply")
        return None
    if not snap.exists(path):
        scan.note(az.path, line, f"template {ref} not found")
        return None
    doc = _load_yaml(snap, scan, path)
    if not isinstance(doc, dict):
        return None
    params: dict[str, Any] = {}
    declared = doc.get("parameters")
    if isinstance(declared, list):
        params = {str(p["name"]): p.get("default") for p in declared
                  if isinstance(p, dict) and "name" in p}
    elif isinstance(declared, dict):
        params = {str(k): v for k, v in declared.items()}
    given = item.get("parameters")
    for key, value in (given.items() if isinstance(given, dict) else []):
        params[str(key)] = _subst(str(value), az.params) if _scalar(value) else value
    return replace(az, path=path, lines=snap.lines(path), params=params,
                   stack=(*az.stack, az.path)), doc


def _azure_items(items: Any, runs: tuple[Run, ...], params: Mapping[str, Any],
                 depth: int = 0) -> list[tuple[dict[str, Any], tuple[Run, ...]]]:
    """Items of a stages/jobs/steps list with template conditionals (``${{ if ... }}:``)
    opened: their items run only when the condition may hold."""
    result: list[tuple[dict[str, Any], tuple[Run, ...]]] = []
    for item in _as_list(items):
        if not isinstance(item, dict):
            continue
        keys = list(item)
        if len(keys) == 1 and isinstance(keys[0], str) and keys[0].startswith("${{"):
            condition = re.match(r"\$\{\{\s*(?:else)?if\s+(.*?)\s*\}\}$", keys[0])
            inner = runs
            if condition:
                inner = narrow(runs, _subst(condition.group(1), params), _azure_lookup)
            if depth < MAX_DEPTH:
                result += _azure_items(item[keys[0]], inner, params, depth + 1)
            continue
        result.append((item, runs))
    return result


def _narrow_azure(runs: tuple[Run, ...], condition: Any, params: Mapping[str, Any]
                  ) -> tuple[Run, ...]:
    return narrow(runs, _subst(str(condition), params) if condition is not None else None,
                  _azure_lookup)


def _azure_body(snap: Snapshot, scan: Scan, az: _Az, doc: dict[str, Any]) -> None:
    """A pipeline or template body: ``extends``, then stages, jobs or steps."""
    if isinstance(doc.get("extends"), dict) and "template" in doc["extends"]:
        loaded = _azure_template(snap, scan, az, doc["extends"])
        if loaded:
            _azure_body(snap, scan, loaded[0], loaded[1])
    if isinstance(doc.get("stages"), list):
        _azure_stages(snap, scan, az, doc["stages"])
    elif isinstance(doc.get("jobs"), list):
        _azure_jobs(snap, scan, az, doc["jobs"])
    elif isinstance(doc.get("steps"), list):
        _azure_job(snap, scan, az, {"job": "(steps)", "steps": doc["steps"]}, az.runs)


def _azure_stages(snap: Snapshot, scan: Scan, az: _Az, stages: list[Any]) -> None:
    """Stages; by default a stage depends on the one before and is skipped when it is."""
    done: dict[str, tuple[Run, ...]] = {}
    previous: str | None = None
    for item, runs in _azure_items(stages, az.runs, az.params):
        if "template" in item:
            loaded = _azure_template(snap, scan, replace(az, runs=runs), item)
            if loaded:
                _azure_body(snap, scan, loaded[0], loaded[1])
            continue
        name = str(item.get("stage", ""))
        own = _narrow_azure(runs, item.get("condition"), az.params)
        needs = _as_list(item.get("dependsOn")) if "dependsOn" in item else (
            [previous] if previous else [])
        if item.get("condition") is None or "succeeded" in str(item.get("condition")):
            for need in needs:
                if str(need) in done:
                    own = tuple(r for r in own if r in done[str(need)])
        done[name] = own
        previous = name
        _azure_jobs(snap, scan, replace(az, runs=own, stage=name), item.get("jobs"))


def _azure_jobs(snap: Snapshot, scan: Scan, az: _Az, jobs: Any) -> None:
    done: dict[str, tuple[Run, ...]] = {}
    for item, runs in _azure_items(jobs, az.runs, az.params):
        if "template" in item:
            loaded = _azure_template(snap, scan, replace(az, runs=runs), item)
            if loaded:
                _azure_body(snap, scan, loaded[0], loaded[1])
            continue
        own = runs
        if item.get("condition") is None or "succeeded" in str(item.get("condition")):
            for need in _as_list(item.get("dependsOn")):
                if str(need) in done:
                    own = tuple(r for r in own if r in done[str(need)])
        name = str(item.get("deployment") or item.get("job") or "")
        done[name] = _azure_job(snap, scan, az, item, own)


def _azure_job(snap: Snapshot, scan: Scan, az: _Az, item: dict[str, Any],
               runs: tuple[Run, ...]) -> tuple[Run, ...]:
    """A job or deployment job: condition, continueOnError, environment, matrix and steps."""
    name = _subst(str(item.get("deployment") or item.get("job") or "(job)"), az.params)
    line = _find_key(az.lines, name)
    scan.job("azure-pipelines", az.path, line, f"{az.stage}/{name}" if az.stage else name)
    own = _narrow_azure(runs, item.get("condition"), az.params)
    values: dict[str, list[str]] = {k: [str(v)] for k, v in az.params.items() if _scalar(v)}
    matrix = _dig(item, "strategy", "matrix")
    for leg in (matrix.values() if isinstance(matrix, dict) else []):
        for key, value in (leg.items() if isinstance(leg, dict) else []):
            if _scalar(value):
                values.setdefault(str(key), []).append(str(value))
    environment = item.get("environment")
    env_name = environment.get("name") if isinstance(environment, dict) else environment
    envs, param = _job_envs(_subst(str(env_name), az.params).split(".")[0]
                            if _scalar(env_name) else None, values)
    soft = "continueOnError: true" if item.get("continueOnError") is True else None
    label = f"job {az.stage + '/' if az.stage else ''}{name}"
    ctx = JobCtx("azure-pipelines", az.path, az.lines, label, line, own, soft, envs, param, values)
    steps = list(_as_list(item.get("steps")))
    strategy = _mapping(item.get("strategy"))
    for kind in ("runOnce", "rolling", "canary"):
        for hook in ("preDeploy", "deploy", "routeTraffic", "postRouteTraffic"):
            steps += _as_list(_dig(strategy, kind, hook, "steps"))
    _azure_steps(snap, scan, ctx, replace(az, runs=own), steps)
    return own


def _azure_steps(snap: Snapshot, scan: Scan, ctx: JobCtx, az: _Az, steps: list[Any]) -> None:
    """Script steps (``script``, ``bash``, ``pwsh``, ``powershell``: no ``set -e`` unless the
    script sets it), tasks from the catalogue, and step templates."""
    for item, runs in _azure_items(steps, ctx.runs, az.params):
        if item.get("enabled") is False:
            continue
        if "template" in item:
            loaded = _azure_template(snap, scan, replace(az, runs=runs), item)
            if loaded:
                inner, doc = loaded
                inner_ctx = replace(ctx, path=inner.path, lines=inner.lines, runs=runs,
                                    line=_find_key(inner.lines, "steps"))
                _azure_steps(snap, scan, inner_ctx, inner, _as_list(doc.get("steps")))
            continue
        own = _narrow_azure(runs, item.get("condition"), az.params)
        soft = "continueOnError: true" if item.get("continueOnError") is True else None
        step_ctx = replace(ctx, runs=own, soft=ctx.soft or soft)
        for key in ("script", "bash", "pwsh", "powershell"):
            if _scalar(item.get(key)):
                _add_script(scan, step_ctx, _subst(str(item[key]), az.params), errexit=False,
                            pipefail=False)
        if isinstance(item.get("task"), str):
            task = str(item["task"])
            inputs = _mapping(item.get("inputs"))
            inputs = {k: _subst(str(v), az.params) if _scalar(v) else v for k, v in inputs.items()}
            _add_action(scan, step_ctx, "azure_tasks", task.split("@")[0], f"task: {task}",
                        inputs)
