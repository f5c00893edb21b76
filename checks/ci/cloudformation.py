"""AWS CodePipeline defined in CloudFormation: pipelines, their actions, CodeBuild projects,
V2 triggers and the EventBridge rules that start them."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from mlops_auditor import parsers
from mlops_auditor.checks.ci.codebuild import buildspec_commands
from mlops_auditor.checks.ci.model import FEATURE, PathFilter, Run, Scan
from mlops_auditor.checks.ci.pipeline_jobs import (
    _Action,
    _cp,
    _Pipeline,
    _pipeline_jobs,
    _unread,
    _words,
)
from mlops_auditor.checks.ci.reading import (
    _branch_allowed,
    _default_branch,
    _dig,
    _find,
    _find_key,
    _mapping,
    _scalar,
    _search_order,
)
from mlops_auditor.checks.common import as_list as _as_list
from mlops_auditor.model import Evidence
from mlops_auditor.snapshot import Snapshot


def _cfn_file(snap: Snapshot, scan: Scan, path: str) -> None:
    """The pipelines of one CloudFormation template (YAML or JSON; ``!Ref``/``!Sub`` tags read
    as plain data, parameters resolved to their defaults)."""
    parsed = snap.json(path) if path.lower().endswith(".json") else snap.yaml(path)
    if not parsed.ok:
        scan.unparseable[path] = Evidence(detail=f"unparseable: {parsed.error}", path=path)
        return
    resources = _mapping(_dig(parsed.value, "Resources"))
    pipelines = [n for n, r in resources.items() if isinstance(r, dict)
                 and r.get("Type") == "AWS::CodePipeline::Pipeline"]
    if not pipelines:
        return
    scan.files.append(path)
    params = {str(k): v.get("Default") for k, v in
              _mapping(_dig(parsed.value, "Parameters")).items() if isinstance(v, dict)}
    lines = snap.lines(path)
    used: set[str] = set()
    for name in pipelines:
        pipe = _cfn_pipeline(path, lines, str(name), resources, params, used)
        _cfn_rules(scan, pipe, resources, lines)
        _pipeline_jobs(snap, scan, pipe)
    for name, res in resources.items():
        if _dig(res, "Type") == "AWS::CodeBuild::Project" and name not in used and \
                _dig(res, "Properties", "Triggers", "Webhook") in (True, "true", "True"):
            _unread(scan, path, _find_key(lines, str(name)),
                    f"CodeBuild project {name} has its own webhook triggers; not read")


def _cfn_value(value: Any, params: Mapping[str, Any]) -> str | None:
    """A scalar, a ``Ref`` to a parameter with a default (``!Ref X`` reads as ``X``), or the
    text of a ``Sub``; None for other intrinsic functions."""
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if key == "Ref":
            value = inner
        elif key == "Fn::Sub":
            value = inner[0] if isinstance(inner, list) and inner else inner
        else:
            return None
    if isinstance(value, str) and value in params and _scalar(params[value]):
        return str(params[value])
    return str(value) if _scalar(value) else None


def _cfn_line(lines: list[str], name: str, start: int | None) -> int | None:
    """Line of ``Name: NAME`` (YAML or JSON) from line START on."""
    pattern = re.compile(rf"""\bName["']?\s*:\s*["']?{re.escape(name)}["']?\s*,?\s*(#.*)?$""")
    for index in _search_order(start, len(lines)):
        if pattern.search(lines[index]):
            return index + 1
    return _find(lines, name, start)


def _cfn_pipeline(path: str, lines: list[str], name: str, resources: dict[Any, Any],
                  params: Mapping[str, Any], used: set[str]) -> _Pipeline:
    """One ``AWS::CodePipeline::Pipeline``: its stages' actions (Category/Provider of
    ActionTypeId, Configuration, RunOrder) and its V2 ``Triggers``."""
    props = _mapping(_dig(resources, name, "Properties"))
    line = _find_key(lines, name)
    pipe = _Pipeline(path, name, line, f"template:{path}")
    cursor = line
    for position, stage in enumerate(_as_list(props.get("Stages"))):
        stage_name = str(_dig(stage, "Name") or f"stage {position + 1}")
        for item in _as_list(_dig(stage, "Actions")):
            if not isinstance(item, dict):
                continue
            action_name = str(item.get("Name") or "action")
            cursor = _cfn_line(lines, action_name, cursor) or cursor
            action = _Action(stage_name, action_name,
                             str(_dig(item, "ActionTypeId", "Category") or "").lower(),
                             str(_dig(item, "ActionTypeId", "Provider") or ""), cursor,
                             position, _int(item.get("RunOrder")))
            config = _mapping(item.get("Configuration"))
            if action.provider == "Commands":
                action.inline = tuple((str(c), None) for c in _as_list(item.get("Commands"))
                                      if _scalar(c))
            pipe.actions.append(_cfn_action(action, config, resources, params, used))
    for trigger in _as_list(props.get("Triggers")):
        git = _mapping(_dig(trigger, "GitConfiguration"))
        source = str(git.get("SourceActionName") or "")
        pipe.triggers[source] = _cfn_trigger_runs(path, lines, git)
    return pipe


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 1


def _cfn_action(action: _Action, config: dict[str, Any], resources: dict[Any, Any],
                params: Mapping[str, Any], used: set[str]) -> _Action:
    """What one CloudFormation action does, from its category, provider and configuration."""
    if action.category == "source":
        action.branch = _cfn_value(config.get("BranchName"), params)
        if action.provider == "S3":
            action.branch = _cfn_value(config.get("S3ObjectKey"), params)
        if str(config.get("DetectChanges", "true")).lower() == "false":
            action.idle = "DetectChanges: false"
        elif str(config.get("PollForSourceChanges", "true")).lower() == "false":
            action.idle = "PollForSourceChanges: false"  # cleared by an event rule
        return action
    if action.category in ("build", "test") and action.provider == "CodeBuild":
        return _cfn_codebuild(action, config, resources, params, used)
    if action.category == "deploy":
        return _deploy_action(action, config, params)
    if action.category not in ("approval", "invoke") and action.provider != "Commands":
        action.missing = f"{action.provider} {action.category} action not read"
    return action


def _cfn_codebuild(action: _Action, config: dict[str, Any], resources: dict[Any, Any],
                   params: Mapping[str, Any], used: set[str]) -> _Action:
    """A CodeBuild action: the project it names (``!Ref Project`` or the project's Name) and
    that project's BuildSpec: a file of the repository (``buildspec.yml`` when none is given)
    or an inline buildspec."""
    ref = config.get("ProjectName")
    ref = ref.get("Ref") if isinstance(ref, dict) else ref
    project = next((str(n) for n, r in resources.items() if _dig(r, "Type") ==
                    "AWS::CodeBuild::Project" and (n == ref or _cfn_value(
                        _dig(r, "Properties", "Name"), params) == ref)), None)
    if project is None:
        action.missing = f"CodeBuild project {ref} is not defined in this template"
        return action
    used.add(project)
    spec = _dig(resources, project, "Properties", "Source", "BuildSpec")
    if spec is None:
        action.buildspec = "buildspec.yml"
    elif isinstance(spec, str) and spec.strip().startswith("arn:"):
        action.missing = f"the buildspec of CodeBuild project {project} is in S3 ({spec})"
    elif isinstance(spec, str) and "\n" not in spec.strip() and "phases" not in spec:
        action.buildspec = posixpath.normpath(spec.strip().lstrip("/") or "buildspec.yml")
    elif isinstance(spec, str):
        try:
            doc = parsers.load_yaml(spec)
        except parsers.ParseError:
            action.missing = f"the inline buildspec of CodeBuild project {project} cannot be " \
                             "parsed"
            return action
        action.inline = tuple((text, None) for text, _, _ in buildspec_commands(doc))
    else:
        action.missing = f"the BuildSpec of CodeBuild project {project} is not a literal"
    return action


def _deploy_action(action: _Action, config: Mapping[str, Any],
                   params: Mapping[str, Any]) -> _Action:
    """A deploy action: CloudFormation applies a template to a stack (a change set only
    previews, a delete deploys nothing); the providers of the catalogue deploy an application.
    The command shown names the stack or the target, so the same deployment to several
    environments has one shape."""
    if action.provider == "CloudFormation":
        mode = str(config.get("ActionMode") or "CREATE_UPDATE").upper()
        kind = _cp()["cloudformation_modes"].get(mode, "none")
        action.classes = frozenset() if kind == "none" else frozenset({kind})
        stack = _cfn_value(config.get("StackName"), params) or _words(action.name)
        template = str(_cfn_value(config.get("TemplatePath"), params) or "").split("::")[-1]
        action.text = f"CloudFormation deploy: stack {stack}"
        action.about = (f"{mode}: " if kind != "deploy_iac" else "") + (template or "template")
        action.target = f"template:{template}" if template else None
        return action
    kind = _cp()["deploy_providers"].get(action.provider)
    action.classes = frozenset({kind}) if kind else frozenset()
    named = [f"{key} {_cfn_value(config.get(key), params)}" for key in _cp()["deploy_keys"]
             if _cfn_value(config.get(key), params)]
    action.text = f"{action.provider} deploy: " + (", ".join(named) or _words(action.name))
    return action


def _cfn_trigger_runs(path: str, lines: list[str], git: dict[str, Any]) -> list[Run]:
    """Runs of a V2 pipeline trigger: pushes filtered by branches (a feature branch push counts
    as pull-request validation, as elsewhere) or tags, and pull requests."""
    runs: list[Run] = []
    line = _find_key(lines, "GitConfiguration")
    for push in _as_list(git.get("Push")):
        include = _dig(push, "Branches", "Includes")
        exclude = _dig(push, "Branches", "Excludes")
        paths = _cfn_paths(push)
        if _dig(push, "Tags") is not None:
            runs.append(Run("tag", "push of a tag (pipeline trigger)", path, line, paths=paths))
        if _dig(push, "Branches") is None and _dig(push, "Tags") is not None:
            continue
        default = _default_branch(" ".join(map(str, _as_list(include))))
        if _branch_allowed(default, include, exclude):
            runs.append(Run("merge", f"push to {default} (pipeline trigger)", path, line,
                            paths=paths))
        if _branch_allowed(FEATURE, include, exclude):
            runs.append(Run("pr", "push to a feature branch (pipeline trigger)", path, line,
                            paths=paths))
    for request in _as_list(git.get("PullRequest")):
        events = ", ".join(map(str, _as_list(_dig(request, "Events")))) or "any event"
        runs.append(Run("pr", f"pull request ({events}; pipeline trigger)", path, line,
                        paths=_cfn_paths(request)))
    return runs


def _cfn_paths(spec: Any) -> PathFilter | None:
    files = _dig(spec, "FilePaths")
    if not isinstance(files, dict):
        return None
    include = files.get("Includes")
    return PathFilter(tuple(map(str, _as_list(include))) if include is not None else None,
                      tuple(map(str, _as_list(files.get("Excludes")))))


def _cfn_rules(scan: Scan, pipe: _Pipeline, resources: dict[Any, Any], lines: list[str]
               ) -> None:
    """EventBridge rules of the template that start the pipeline: a schedule, events of the
    repository or bucket a source polls no more (they restore that source's trigger), or
    other events (an alarm); a disabled rule starts nothing. A CodePipeline webhook restores
    the trigger of a GitHub source."""
    target = re.compile(rf"(?<![\w]){re.escape(pipe.name)}(?![\w])")
    for name, res in resources.items():
        props = _mapping(_dig(res, "Properties"))
        if _dig(res, "Type") == "AWS::CodePipeline::Webhook" and \
                target.search(str(props.get("TargetPipeline"))):
            _restore(pipe, {"GitHub"})
            continue
        if _dig(res, "Type") != "AWS::Events::Rule" or not any(
                target.search(str(_dig(t, "Arn"))) for t in _as_list(props.get("Targets"))):
            continue
        line = _find_key(lines, str(name))
        if str(props.get("State", "ENABLED")).upper() == "DISABLED":
            scan.note(pipe.path, line, f"rule {name} would start pipeline {pipe.name} but is "
                                       "disabled")
            continue
        sources = [str(s) for s in _as_list(_dig(props, "EventPattern", "source"))]
        if props.get("ScheduleExpression"):
            pipe.events.append(Run("schedule", f"schedule {props['ScheduleExpression']} (rule "
                                               f"{name})", pipe.path, line))
        events = {"aws.codecommit": "CodeCommit", "aws.s3": "S3"}
        _restore(pipe, {events[s] for s in sources if s in events})
        others = [s for s in sources if s not in ("aws.codecommit", "aws.s3")]
        if others:
            pipe.events.append(Run("other", f"rule {name} on {', '.join(others)} events",
                                   pipe.path, line))


def _restore(pipe: _Pipeline, providers: set[str]) -> None:
    """Sources of these providers that stopped polling are started by a rule or webhook."""
    for action in pipe.actions:
        if action.category == "source" and action.provider in providers and \
                action.idle == "PollForSourceChanges: false":
            action.idle = None
