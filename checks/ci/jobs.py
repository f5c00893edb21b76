"""A job's commands into the scan: the environments they deploy to, scripts line by line,
and actions, tasks and pipes classified from the catalogue."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mlops_auditor.checks.ci.catalogue import _cat, _env_words, _regex
from mlops_auditor.checks.ci.commands import classify, shell_lines, soft_reason
from mlops_auditor.checks.ci.model import Command, JobCtx, Scan
from mlops_auditor.checks.ci.reading import _find, _scalar


def env_names(text: str) -> set[str]:
    """Environments named inside TEXT ("deploy-prod" -> prod, "ml_staging" -> staging)."""
    lowered = text.lower().replace("pre-prod", "preprod").replace("non-prod", "nonprod")
    words = _env_words()
    return {words[w] for w in re.split(r"[^a-z0-9]+", lowered) if w in words}


def _env_name(name: str) -> str:
    found = env_names(name)
    return found.pop() if len(found) == 1 else name.lower()


def _expand(text: str, values: Mapping[str, list[str]]) -> list[str]:
    """TEXT once per value of the matrix entries / inputs / parameters / variables it uses."""
    results = [text]
    for key, options in values.items():
        ref = re.compile(rf"\$\{{\{{\s*(matrix|inputs|parameters)\.{re.escape(key)}\s*\}}\}}"
                         rf"|\$\{{?{re.escape(key)}\b\}}?|\$\({re.escape(key)}\)")
        if any(ref.search(r) for r in results) and options:
            results = [ref.sub(option, r) for r in results for option in options][:20]
    return results


def _job_envs(environment: Any, values: Mapping[str, list[str]]) -> tuple[frozenset[str], bool]:
    """Environments a job deploys to from its ``environment:`` (name or {name}), expanded over
    the matrix / inputs it refers to; True when that gives several."""
    name = environment.get("name") if isinstance(environment, dict) else environment
    if not _scalar(name) or not str(name).strip():
        return frozenset(), False
    expanded = {_env_name(n) for n in _expand(str(name), values) if "$" not in n}
    return frozenset(expanded), len(expanded) > 1


def _command_envs(text: str, ctx: JobCtx) -> tuple[frozenset[str], bool]:
    """Environments one command deploys to: the values of an environment-like matrix entry,
    input, parameter or variable it uses; else its job's environment; else environment words
    in the command, then in the job's name."""
    env_key = _regex("env_keys")
    used: set[str] = set()
    for key, options in ctx.values.items():
        expanded = _expand(text, {key: options})
        if expanded != [text] and (env_key.search(key) or any(env_names(o) for o in options)):
            used |= {_env_name(o) for o in options}
    if used:
        return frozenset(used), len(used) > 1
    if ctx.envs:
        return ctx.envs, ctx.env_param
    named = env_names(text) or env_names(ctx.label.split(" (called by")[0])
    return frozenset(named), False


def _add(scan: Scan, ctx: JobCtx, text: str, *, line: int | None = None,
         classes: frozenset[str] | None = None, soft: str | None = None) -> None:
    envs, param = _command_envs(text, ctx)
    scan.commands.append(Command(
        ctx.system, ctx.path, line or ctx.line, text, ctx.label, ctx.runs,
        classify(text) if classes is None else classes, soft or ctx.soft, envs, param))


def _add_script(scan: Scan, ctx: JobCtx, script: str, errexit: bool, pipefail: bool,
                soft: str | None = None) -> None:
    """Each command line of a script, found in the file from the job's line on."""
    cursor = ctx.line
    for line in shell_lines(script, errexit, pipefail):
        number = _find(ctx.lines, line.first, cursor)
        cursor = number or cursor
        classes = classify(line.text)
        reason = soft or ctx.soft or (soft_reason(line) if classes else None)
        _add(scan, ctx, line.text, line=number, classes=classes, soft=reason)


class _Inputs(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _add_action(scan: Scan, ctx: JobCtx, section: str, name: str, shown: str,
                inputs: Any) -> None:
    """A GitHub action / Azure task / Bitbucket pipe: classified from the catalogue by name,
    optionally by one input (trivy's scan-type), or by the command/script its inputs hold."""
    inputs = inputs if isinstance(inputs, dict) else {}
    actions: dict[str, dict[str, Any]] = _cat()[section]
    key = name.lower().split("@")[0].rstrip("/")
    spec = actions.get(key) or actions.get("/".join(key.split("/")[:2])) or {}
    line = _find(ctx.lines, shown, ctx.line)
    soft = next((f"{k}: true" for k in ("soft_fail", "soft-fail", "continue-on-error")
                 if str(inputs.get(k)).lower() == "true"), None)
    if "class" in spec:
        wanted: dict[str, list[Any]] = spec.get("when") or {}
        ok = all(str(inputs.get(k)).lower() in [str(v).lower() for v in vs]
                 for k, vs in wanted.items())
        _add(scan, ctx, shown, line=line,
             classes=frozenset({spec["class"]}) if ok else frozenset(), soft=soft)
    elif "command" in spec:
        command = str(spec["command"]).format_map(
            _Inputs({str(k): str(v) for k, v in inputs.items()}))
        _add(scan, ctx, f"{shown} ({command.strip()})", line=line,
             classes=classify(command), soft=soft)
    else:
        _add(scan, ctx, shown, line=line, classes=frozenset(), soft=soft)
    for input_name in spec.get("script", []):
        if _scalar(inputs.get(input_name)):
            _add_script(scan, ctx, str(inputs[input_name]), errexit=True, pipefail=False)
