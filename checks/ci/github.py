"""GitHub Actions: workflows, their triggers, reusable workflows and local composite
actions."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from mlops_auditor.checks.ci.conditions import _skips_with_needs, narrow
from mlops_auditor.checks.ci.jobs import _add_action, _add_script, _expand, _job_envs
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
    _scalar,
)
from mlops_auditor.checks.common import as_list as _as_list
from mlops_auditor.snapshot import Snapshot


def _github_values(event: str, ref: str, default: str, merged: bool = False) -> dict[str, Val]:
    is_pr = event.startswith("pull_request")
    ref_name = ref.split("/", 2)[2] if ref.startswith("refs/") else ref
    return {"github.event_name": event, "github.ref": ref, "github.ref_name": ref_name,
            "github.ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "github.base_ref": default if is_pr else "",
            "github.head_ref": FEATURE if is_pr else "",
            "github.event.pull_request.merged": merged if is_pr else None}


def _github_lookup(run: Run) -> Callable[[str], Val]:
    def look(name: str) -> Val:
        return run.values.get(name.lower(), UNKNOWN)
    return look


def _github_filter(spec: Any, key: str) -> PathFilter | None:
    if not isinstance(spec, dict) or (key not in spec and f"{key}-ignore" not in spec):
        return None
    include = spec.get(key)
    return PathFilter(tuple(str(p) for p in _as_list(include)) if include is not None else None,
                      tuple(str(p) for p in _as_list(spec.get(f"{key}-ignore"))))


def github_runs(on: Any, path: str, lines: list[str], default: str) -> list[Run]:
    """Runs of a workflow's ``on:`` (a string, a list or a mapping of events).

    A push to any branch counts as validating pull requests (their branches are pushed), as a
    GitLab branch pipeline does; ``pull_request`` closed-only workflows run after the merge.
    ``workflow_run`` counts as following a merge when its branches include the default branch.
    """
    if isinstance(on, str):
        events: dict[str, Any] = {on: None}
    elif isinstance(on, list):
        events = {str(e): None for e in on}
    elif isinstance(on, dict):
        events = {str(k): v for k, v in on.items()}
    else:
        events = {}
    runs: list[Run] = []
    for event, spec in events.items():
        line = _find_key(lines, event) or _find(lines, event)

        def run(kind: str, detail: str, ref: str, paths: PathFilter | None = None,
                merged: bool = False, event: str = event, line: int | None = line) -> None:
            runs.append(Run(kind, detail, path, line,
                            _github_values(event, ref, default, merged), paths))

        cfg = spec if isinstance(spec, dict) else {}
        if event in ("pull_request", "pull_request_target"):
            types = [str(t) for t in _as_list(cfg.get("types"))]
            if types and set(types) == {"closed"}:
                run("merge", f"{event} closed (after the merge)", "refs/pull/1/merge",
                    merged=True)
            else:
                ref = f"refs/heads/{default}" if event.endswith("target") else "refs/pull/1/merge"
                run("pr", event, ref, _github_filter(cfg, "paths"))
        elif event == "merge_group":
            run("pr", "merge_group (merge queue)", f"refs/heads/gh-readonly-queue/{default}/pr-1")
        elif event == "push":
            _github_push(cfg, default, run)
        elif event == "release":
            run("tag", "release", f"refs/tags/{TAG}")
        elif event == "schedule":
            for item in _as_list(spec):
                cron = str(item.get("cron")) if isinstance(item, dict) else "?"
                run("schedule", f"schedule (cron '{cron}')", f"refs/heads/{default}",
                    line=_find(lines, cron, line) or line)
        elif event == "workflow_dispatch":
            run("manual", "workflow_dispatch (started by hand)", f"refs/heads/{default}")
        elif event == "workflow_run":
            if _branch_allowed(default, cfg.get("branches"), cfg.get("branches-ignore")):
                run("merge", "workflow_run (after another workflow on the default branch)",
                    f"refs/heads/{default}")
        elif event != "workflow_call":
            run("other", event, "")
    return runs


def _github_push(cfg: dict[str, Any], default: str, run: Callable[..., None]) -> None:
    """Runs of ``on: push`` from its branch and tag filters (no filter: every branch and tag;
    branch filters only: no tags; tag filters only: no branches)."""
    has_branches = "branches" in cfg or "branches-ignore" in cfg
    has_tags = "tags" in cfg or "tags-ignore" in cfg
    paths = _github_filter(cfg, "paths")
    if has_branches or not has_tags:
        include, exclude = cfg.get("branches"), cfg.get("branches-ignore")
        if _branch_allowed(default, include, exclude):
            run("merge", f"push to {default}", f"refs/heads/{default}", paths)
        if _branch_allowed(FEATURE, include, exclude):
            run("pr", "push to any branch (pull request branches included)",
                f"refs/heads/{FEATURE}", paths)
    if (has_tags or not has_branches) and _branch_allowed(TAG, cfg.get("tags"),
                                                          cfg.get("tags-ignore")):
        run("tag", "push of a tag", f"refs/tags/{TAG}", paths)


def _matrix_values(strategy: Any) -> dict[str, list[str]]:
    """Values of each matrix key (lists and ``include`` entries; a computed matrix has none)."""
    matrix = _dig(strategy, "matrix")
    values: dict[str, list[str]] = {}
    if not isinstance(matrix, dict):
        return values
    for key, options in matrix.items():
        if key == "include":
            for entry in _as_list(options):
                for k, v in (entry.items() if isinstance(entry, dict) else []):
                    if _scalar(v):
                        values.setdefault(str(k), []).append(str(v))
        elif key != "exclude" and isinstance(options, list):
            values.setdefault(str(key), []).extend(str(o) for o in options if _scalar(o))
    return {k: list(dict.fromkeys(v)) for k, v in values.items()}


def _github_shell(shell: Any) -> tuple[bool, bool]:
    """(errexit, pipefail) of a run step's shell: the default is ``bash -e``; an explicit
    ``shell: bash`` adds pipefail; pwsh/cmd/python scripts fail on their last command only."""
    if not isinstance(shell, str):
        return True, False
    words = shell.split()
    if "{0}" in shell:
        return "-e" in shell or "errexit" in shell, "pipefail" in shell
    if words and words[0] == "bash":
        return True, True
    if words and words[0] in ("pwsh", "powershell", "cmd", "python"):
        return False, True
    return True, False


@dataclass(frozen=True)
class _Caller:
    runs: tuple[Run, ...]
    values: Mapping[str, list[str]]
    label: str
    path: str


def scan_github(snap: Snapshot, scan: Scan) -> None:
    """GitHub Actions workflows (``.github/workflows/*.yml``)."""
    for path in _files(snap, "github-actions"):
        _github_workflow(snap, scan, path, None, ())


def _github_workflow(snap: Snapshot, scan: Scan, path: str, caller: _Caller | None,
                     stack: tuple[str, ...]) -> None:
    """One workflow: standalone with its own ``on:``, or called (``uses: ./.github/workflows/
    x.yml``) with the caller job's runs and inputs."""
    doc = _load_yaml(snap, scan, path)
    if not isinstance(doc, dict):
        return
    lines = snap.lines(path)
    default = _default_branch("\n".join(lines))
    if caller is None:
        runs = tuple(github_runs(doc.get("on", doc.get(True)), path, lines, default))
        values: Mapping[str, list[str]] = {}
    else:
        runs, values = caller.runs, caller.values
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict):
        return
    shell = _dig(doc, "defaults", "run", "shell")
    job_runs: dict[str, tuple[Run, ...]] = {}
    for name in _needs_order(jobs):
        job = jobs[name]
        own = narrow(runs, job.get("if"), _github_lookup)
        if _skips_with_needs(job.get("if")):
            for need in _as_list(job.get("needs")):
                if str(need) in job_runs:
                    own = tuple(r for r in own if r in job_runs[str(need)])
        job_runs[name] = own
        line = _find_key(lines, name)
        label = f"job {name}" + (f" (called by {caller.path}: {caller.label})" if caller else "")
        if caller is None:
            scan.job("github-actions", path, line, name)
        matrix = {**values, **_matrix_values(job.get("strategy"))}
        if isinstance(job.get("uses"), str):
            _github_call(snap, scan, path, lines, name, job, own, matrix, stack)
            continue
        envs, param = _job_envs(job.get("environment"), matrix)
        soft = "continue-on-error: true (job)" if job.get("continue-on-error") is True else None
        ctx = JobCtx("github-actions", path, lines, label, line, own, soft, envs, param, matrix)
        job_shell = _dig(job, "defaults", "run", "shell") or shell
        _github_steps(snap, scan, ctx, job.get("steps"), job_shell, 0)


def _needs_order(jobs: dict[Any, Any]) -> list[str]:
    """Job names with every job after the jobs it needs (cycles broken arbitrarily)."""
    names = [str(n) for n, j in jobs.items() if isinstance(j, dict)]
    ordered: list[str] = []
    pending = list(names)
    for _ in range(len(names) + 1):
        for name in list(pending):
            needs = [str(n) for n in _as_list(jobs[name].get("needs"))]
            if all(n in ordered or n not in names for n in needs):
                ordered.append(name)
                pending.remove(name)
    return ordered + pending


def _github_call(snap: Snapshot, scan: Scan, path: str, lines: list[str], name: str,
                 job: dict[str, Any], runs: tuple[Run, ...], matrix: Mapping[str, list[str]],
                 stack: tuple[str, ...]) -> None:
    """A job calling a reusable workflow: a local one is read with this job's runs and inputs;
    another repository's is reported as unresolved."""
    target = str(job["uses"])
    line = _find(lines, target)
    if not target.startswith("./"):
        scan.note(path, line, f"job {name} calls a reusable workflow in another repository "
                              f"({target}); its steps were not read")
        ctx = JobCtx("github-actions", path, lines, f"job {name}", line, runs)
        _add_action(scan, ctx, "actions", target, f"uses: {target}", job.get("with"))
        return
    callee = posixpath.normpath(target[2:].split("@")[0])
    if callee in stack or callee == path or len(stack) >= MAX_DEPTH:
        scan.note(path, line, f"job {name}: reusable workflow {callee} calls itself or nests "
                              "too deeply; not followed")
        return
    if not snap.exists(callee):
        scan.note(path, line, f"job {name}: reusable workflow {callee} not found")
        return
    inputs: dict[str, list[str]] = {}
    for key, value in (job.get("with") or {}).items() if isinstance(job.get("with"), dict) else []:
        if _scalar(value):
            inputs[str(key)] = _expand(str(value), matrix)
    _github_workflow(snap, scan, callee, _Caller(runs, inputs, f"job {name}", path),
                     (*stack, path))


def _github_steps(snap: Snapshot, scan: Scan, ctx: JobCtx, steps: Any, shell: Any,
                  depth: int) -> None:
    """Steps of a job (or of a local composite action): ``run:`` scripts line by line, and
    ``uses:`` actions from the catalogue."""
    for step in _as_list(steps):
        if not isinstance(step, dict):
            continue
        runs = narrow(ctx.runs, step.get("if"), _github_lookup)
        soft = "continue-on-error: true" if step.get("continue-on-error") is True else None
        step_ctx = replace(ctx, runs=runs, soft=ctx.soft or soft)
        if _scalar(step.get("run")):
            errexit, pipefail = _github_shell(step.get("shell") or shell)
            _add_script(scan, step_ctx, str(step["run"]), errexit, pipefail)
        uses = step.get("uses")
        if not isinstance(uses, str):
            continue
        if uses.startswith("./") and depth < MAX_DEPTH:
            _github_local_action(snap, scan, step_ctx, uses, depth)
        else:
            _add_action(scan, step_ctx, "actions", uses, f"uses: {uses}", step.get("with"))


def _github_local_action(snap: Snapshot, scan: Scan, ctx: JobCtx, uses: str, depth: int) -> None:
    """A local composite action (``uses: ./.github/actions/x``): its steps run in the job."""
    folder = posixpath.normpath(uses[2:])
    path = next((p for p in (f"{folder}/action.yml", f"{folder}/action.yaml") if snap.exists(p)),
                None)
    if path is None:
        scan.note(ctx.path, _find(ctx.lines, uses, ctx.line), f"local action {folder} not found")
        return
    doc = _load_yaml(snap, scan, path)
    if _dig(doc, "runs", "using") != "composite":
        return
    lines = snap.lines(path)
    action_ctx = replace(ctx, path=path, lines=lines, line=_find_key(lines, "steps"))
    _github_steps(snap, scan, action_ctx, _dig(doc, "runs", "steps"), None, depth + 1)
