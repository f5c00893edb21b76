"""GitLab CI: the root pipeline with its local includes, ``extends`` templates, ``rules``,
``only``/``except`` and child pipelines."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from mlops_auditor.checks.ci.conditions import (
    _REGEX_LITERAL,
    _regex_search,
    evaluate,
    parse_expression,
    truth,
)
from mlops_auditor.checks.ci.jobs import _add_script, _job_envs
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

_GITLAB_RESERVED = {"stages", "variables", "default", "include", "workflow", "image", "services",
                    "cache", "before_script", "after_script", "types", "spec"}


def _gitlab_runs(path: str, line: int | None, default: str) -> list[Run]:
    """The pipelines GitLab can create: merge request, feature branch, default branch, tag,
    schedule and run by hand (web), each with its predefined variables."""
    def run(kind: str, detail: str, source: str, branch: str | None, ref: str,
            tag: str | None, mr: bool) -> Run:
        values: dict[str, Val] = {
            "CI_PIPELINE_SOURCE": source, "CI_COMMIT_BRANCH": branch, "CI_COMMIT_REF_NAME": ref,
            "CI_COMMIT_TAG": tag, "CI_DEFAULT_BRANCH": default, "_mr": "1" if mr else None,
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": default if mr else None,
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": FEATURE if mr else None,
            "CI_OPEN_MERGE_REQUESTS": UNKNOWN if branch == FEATURE else ("1" if mr else None),
            "CI_COMMIT_REF_PROTECTED": "true" if branch == default or tag else UNKNOWN}
        return Run(kind, detail, path, line, values)

    return [
        run("pr", "merge request pipeline", "merge_request_event", None, FEATURE, None, True),
        run("pr", "branch pipeline of a feature branch", "push", FEATURE, FEATURE, None, False),
        run("merge", f"push to the default branch ({default})", "push", default, default,
            None, False),
        run("tag", "tag pipeline", "push", None, TAG, TAG, False),
        run("schedule", "scheduled pipeline", "schedule", default, default, None, False),
        run("manual", "pipeline run by hand (web)", "web", default, default, None, False),
    ]


def _gitlab_lookup(run: Run) -> Callable[[str], Val]:
    def look(name: str) -> Val:
        key = name.strip("${}")
        if key in run.values:
            return run.values[key]
        if key.startswith("CI_MERGE_REQUEST_"):
            return run.values.get("_mr")
        return UNKNOWN
    return look


def _with_when(run: Run, when: str) -> Run | None:
    if when in ("never", "on_failure"):
        return None
    if when == "manual":
        return replace(run, kind="manual", detail=f"{run.detail}, started by hand "
                                                  "(when: manual)")
    return run


def _changes(value: Any) -> list[str] | None:
    if isinstance(value, dict):
        value = value.get("paths")
    return [str(v) for v in _as_list(value)] if value is not None else None


def gitlab_rules(rules: list[Any], run: Run, default_when: str) -> Run | None:
    """Apply ``rules:`` to one pipeline: the first rule whose ``if`` matches decides. A rule
    with ``changes:`` limits the job to those paths (the next rules still apply when they do
    not change). A condition that cannot be decided counts as matching, except for ``when:
    never`` rules."""
    filtered: list[str] = []
    whens: list[str] = []
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        condition = rule.get("if")
        node = parse_expression(str(condition)) if condition is not None else None
        result = True if condition is None else (
            truth(evaluate(node, _gitlab_lookup(run))) if node else None)
        if result is False:
            continue
        if rule.get("exists") is not None:
            result = None
        when = str(rule.get("when", default_when))
        if result is None and when == "never":
            continue
        changes = _changes(rule.get("changes"))
        if changes is not None:
            if when != "never":
                filtered += changes
                whens.append(when)
            continue
        if when == "never":
            break
        return _with_when(run, when)
    if not filtered:
        return None
    limited = replace(run, paths=PathFilter(tuple(filtered)))
    return _with_when(limited, "manual" if set(whens) == {"manual"} else "on_success")


def _gitlab_refs(refs: Any, run: Run) -> bool:
    """Does one pipeline match ``only``/``except`` refs (keywords, branch names, /regex/)?"""
    source = run.values.get("CI_PIPELINE_SOURCE")
    ref = run.values.get("CI_COMMIT_REF_NAME")
    keywords = {"branches": run.values.get("CI_COMMIT_BRANCH") is not None,
                "tags": run.values.get("CI_COMMIT_TAG") is not None,
                "merge_requests": source == "merge_request_event",
                "schedules": source == "schedule", "web": source == "web",
                "pushes": source == "push"}
    for item in (str(r) for r in _as_list(refs)):
        if item in keywords:
            hit: Val = keywords[item]
        elif _REGEX_LITERAL.fullmatch(item):
            hit = _regex_search(item, ref)
        else:
            hit = item == ref and source != "merge_request_event"
        if hit is True:
            return True
    return False


def _gitlab_only_except(job: dict[str, Any], run: Run, when: str) -> Run | None:
    """Legacy ``only:``/``except:`` (refs, variables, changes); without ``only`` a job runs for
    branches and tags."""
    only, exclude = job.get("only"), job.get("except")
    only_refs = only.get("refs") if isinstance(only, dict) else only
    if not _gitlab_refs(only_refs if only_refs is not None else ["branches", "tags"], run):
        return None
    look = _gitlab_lookup(run)
    if isinstance(only, dict) and only.get("variables") is not None:
        found = [truth(evaluate(n, look)) if (n := parse_expression(str(v))) else None
                 for v in _as_list(only.get("variables"))]
        if found and all(f is False for f in found):
            return None
    except_refs = exclude.get("refs") if isinstance(exclude, dict) else exclude
    if except_refs is not None and _gitlab_refs(except_refs, run):
        return None
    include = _changes(only.get("changes")) if isinstance(only, dict) else None
    ignore = _changes(exclude.get("changes")) if isinstance(exclude, dict) else None
    if include is not None or ignore:
        run = replace(run, paths=PathFilter(tuple(include) if include is not None else None,
                                            tuple(ignore or ())))
    return _with_when(run, when)


def gitlab_job_runs(job: dict[str, Any], runs: Iterable[Run],
                    config: dict[str, Any]) -> tuple[Run, ...]:
    """The pipelines a job runs in. A job without ``rules``/``only``/``except`` runs in every
    pipeline the workflow allows, so it validates merge requests unless ``workflow: rules``
    exclude both merge request and feature-branch pipelines."""
    when = str(job.get("when", "on_success"))
    rules = job.get("rules")
    result = []
    for run in runs:
        if isinstance(rules, list):
            decided = gitlab_rules(_gitlab_flatten(rules, config), run, when)
        elif "only" in job or "except" in job:
            decided = _gitlab_only_except(job, run, when)
        else:
            decided = _with_when(run, when)
        if decided is not None:
            result.append(decided)
    return tuple(result)


def _gitlab_reference(item: list[Any], config: dict[str, Any]) -> Any:
    """What a ``!reference [.job, key]`` tag points to (the tag itself is read as a list)."""
    if len(item) < 2 or not all(isinstance(k, str) for k in item) or item[0] not in config:
        return None
    node: Any = config
    for key in item:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _gitlab_flatten(items: Any, config: dict[str, Any], depth: int = 0) -> list[Any]:
    """Script lines or rules with nested lists and ``!reference`` tags resolved."""
    if isinstance(items, str):
        return [items]
    result: list[Any] = []
    for item in _as_list(items):
        if isinstance(item, list) and depth < MAX_DEPTH:
            target = _gitlab_reference(item, config)
            result += _gitlab_flatten(target if target is not None else item, config, depth + 1)
        elif item is not None:
            result.append(item)
    return result


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return override


def _gitlab_include_paths(snap: Snapshot, scan: Scan, path: str, include: Any) -> list[str]:
    """Local files of ``include:`` (a path, ``{local: ...}``, or a list of them; globs
    allowed). Remote, project, template and component includes are noted as unresolved."""
    found: list[str] = []
    lines = snap.lines(path)
    for item in _as_list(include):
        if isinstance(item, dict) and "local" not in item:
            kind = next((k for k in ("remote", "project", "template", "component") if k in item),
                        "include")
            target = str(item.get(kind, item))
            scan.note(path, _find(lines, target), f"unresolved {kind} include: {target} "
                                                  "(its jobs were not read)")
            continue
        target = str(item.get("local") if isinstance(item, dict) else item)
        if re.match(r"https?://", target):
            scan.note(path, _find(lines, target), f"unresolved remote include: {target}")
            continue
        local = target.lstrip("/")
        hits = snap.glob(local) if any(c in local for c in "*?") else (
            [local] if snap.exists(local) else [])
        if not hits:
            scan.note(path, _find(lines, target), f"included file {target} not found")
        found += hits
    return found


def _gitlab_load(snap: Snapshot, scan: Scan, path: str, seen: tuple[str, ...],
                 origin: dict[str, str]) -> dict[str, Any] | None:
    """A GitLab CI file merged with its local includes (the including file wins); ORIGIN maps
    each top-level key to the file that defines it."""
    doc = _load_yaml(snap, scan, path)
    if doc is None:
        return None
    if not isinstance(doc, dict):
        return {}
    merged: dict[str, Any] = {}
    if len(seen) < MAX_DEPTH:
        for included in _gitlab_include_paths(snap, scan, path, doc.get("include")):
            if included in seen or included == path:
                continue
            part = _gitlab_load(snap, scan, included, (*seen, path), origin)
            merged = _deep_merge(merged, part or {})
    for key in doc:
        origin[str(key)] = path
    result: dict[str, Any] = _deep_merge(merged, doc)
    return result


def _gitlab_extends(config: dict[str, Any], name: str, depth: int = 0) -> dict[str, Any]:
    """A job with the templates it ``extends:`` merged in (the job's own keys win)."""
    job = config.get(name)
    if not isinstance(job, dict) or depth > MAX_DEPTH:
        return {}
    merged: dict[str, Any] = {}
    for parent in _as_list(job.get("extends")):
        merged = _deep_merge(merged, _gitlab_extends(config, str(parent), depth + 1))
    result: dict[str, Any] = _deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})
    return result


def _gitlab_owner(config: dict[str, Any], name: str, key: str, depth: int = 0) -> str | None:
    """The job or template whose ``key`` (script) a job ends up with through ``extends``."""
    job = config.get(name)
    if not isinstance(job, dict) or depth > MAX_DEPTH:
        return None
    if key in job:
        return name
    for parent in reversed(_as_list(job.get("extends"))):
        owner = _gitlab_owner(config, str(parent), key, depth + 1)
        if owner:
            return owner
    return None


def scan_gitlab(snap: Snapshot, scan: Scan) -> None:
    """GitLab CI: the root ``.gitlab-ci.yml`` with its local includes and child pipelines."""
    for path in _files(snap, "gitlab-ci"):
        if "/" not in path:
            _gitlab_pipeline(snap, scan, path, None, ())


def _gitlab_pipeline(snap: Snapshot, scan: Scan, path: str, parent: tuple[Run, ...] | None,
                     stack: tuple[str, ...]) -> None:
    """A GitLab pipeline file (the root one, or a child pipeline started by a job with the
    parent job's runs): ``workflow: rules`` filter the pipelines, then each job is read."""
    origin: dict[str, str] = {}
    config = _gitlab_load(snap, scan, path, stack, origin)
    if config is None:
        return
    lines = snap.lines(path)
    default = _default_branch("\n".join(lines))
    if parent is None:
        runs: tuple[Run, ...] = tuple(_gitlab_runs(path, None, default))
    else:
        runs = tuple(replace(r, values={**r.values, "CI_PIPELINE_SOURCE": "parent_pipeline"})
                     for r in parent)
    workflow_rules = _dig(config, "workflow", "rules")
    if isinstance(workflow_rules, list):
        rules = _gitlab_flatten(workflow_rules, config)
        runs = tuple(r for run in runs if (r := gitlab_rules(rules, run, "always")) is not None)
    for name in config:
        if (not isinstance(name, str) or name.startswith(".") or name in _GITLAB_RESERVED
                or not isinstance(config[name], dict)):
            continue
        job = _gitlab_extends(config, name)
        if not any(k in job for k in ("script", "trigger", "run")):
            continue
        _gitlab_job(snap, scan, config, origin, path, name, job, runs, stack)


def _gitlab_job(snap: Snapshot, scan: Scan, config: dict[str, Any], origin: dict[str, str],
                root: str, name: str, job: dict[str, Any], runs: tuple[Run, ...],
                stack: tuple[str, ...]) -> None:
    """One job with its templates merged: its pipelines, environment, ``allow_failure`` and
    its before_script + script lines (one shell session), cited where the script is written."""
    job_path = origin.get(name, root)
    job_lines = snap.lines(job_path)
    job_line = _find_key(job_lines, name)
    if not stack:
        scan.job("gitlab-ci", job_path, job_line, name)
    own = gitlab_job_runs(job, runs, config)
    if "schedule" not in str(_dig(config, "workflow", "rules")) + str(job.get("rules")) + str(
            job.get("only")):
        # Schedules are set up in GitLab, not in the file: only rules that single out
        # scheduled pipelines show that one exists.
        own = tuple(r for r in own if r.kind != "schedule")
    child = _dig(job, "trigger", "include")
    if child is not None:
        for child_path in _gitlab_include_paths(snap, scan, job_path, child):
            if child_path not in stack and len(stack) < MAX_DEPTH:
                _gitlab_pipeline(snap, scan, child_path, own, (*stack, root))
        return
    values = _gitlab_values(config, job)
    envs, param = _job_envs(job.get("environment"), values)
    if _dig(job, "environment", "action") in ("stop", "prepare", "verify", "access"):
        envs, param = frozenset(), False
    soft = "allow_failure: true" if job.get("allow_failure") is True else None
    owner = _gitlab_owner(config, name, "script") or name
    script_path = origin.get(owner, root)
    script_lines = snap.lines(script_path)
    ctx = JobCtx("gitlab-ci", script_path, script_lines, f"job {name}",
                 _find_key(script_lines, owner), own, soft, envs, param, values)
    defaults = _mapping(config.get("default"))
    before = job.get("before_script", defaults.get("before_script", config.get("before_script")))
    script = [str(s) for s in _gitlab_flatten(before, config) + _gitlab_flatten(
        job.get("script"), config) if _scalar(s)]
    _add_script(scan, ctx, "\n".join(script), errexit=True, pipefail=False)
    after = job.get("after_script", defaults.get("after_script", config.get("after_script")))
    after_lines = [str(s) for s in _gitlab_flatten(after, config) if _scalar(s)]
    _add_script(scan, ctx, "\n".join(after_lines), errexit=True, pipefail=False,
                soft="after_script: its failure does not fail the job")


def _gitlab_values(config: dict[str, Any], job: dict[str, Any]) -> dict[str, list[str]]:
    """Variables (global and job) and ``parallel: matrix`` values a job's commands can use."""
    values: dict[str, list[str]] = {}
    for source in (config.get("variables"), job.get("variables")):
        for key, value in (source.items() if isinstance(source, dict) else []):
            value = value.get("value") if isinstance(value, dict) else value
            if _scalar(value):
                values[str(key)] = [str(value)]
    for entry in _as_list(_dig(job, "parallel", "matrix")):
        for key, options in (entry.items() if isinstance(entry, dict) else []):
            values.setdefault(str(key), [])
            values[str(key)] += [str(o) for o in _as_list(options) if _scalar(o)]
    return values
