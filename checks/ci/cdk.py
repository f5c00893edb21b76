"""AWS CodePipeline defined in CDK code: ``codepipeline.Pipeline`` with its stages and
actions, and CDK Pipelines ``CodePipeline`` with its source, synth step and stages."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from mlops_auditor.checks.ci.cdk_code import (
    _args,
    _Call,
    _Code,
    _items,
    _literal,
    _norm,
    _object,
    _positional,
    _props,
    _resolve,
    _strings,
    _text,
    read_cdk,
)
from mlops_auditor.checks.ci.cloudformation import _deploy_action, _int
from mlops_auditor.checks.ci.codebuild import _cdk_app
from mlops_auditor.checks.ci.model import Run, Scan
from mlops_auditor.checks.ci.pipeline_jobs import _Action, _cp, _Pipeline, _pipeline_jobs, _unread
from mlops_auditor.snapshot import Snapshot

MAX_PIPELINES = 20  # pipelines read from one CDK file


def _cdk_file(snap: Snapshot, scan: Scan, path: str, text: str) -> None:
    """The pipelines created in one CDK file: ``codepipeline.Pipeline`` with its stages and
    actions, and CDK Pipelines ``pipelines.CodePipeline`` with its source, synth step and
    stages. Actions bound to variables are followed within the file."""
    src = read_cdk(path, text)
    imported = {name for name in _cp()["cdk_pipeline"] if re.search(
        rf"\bimport\b(?:\s*\{{[^}}]*|\s*\([^)]*|[^;\n]*)\b{name}\b", src.text)}
    pipelines = [c for c in src.calls if _is_pipeline(src, c, imported)]
    if not pipelines:
        return
    scan.files.append(path)
    app = _cdk_app(snap, posixpath.dirname(path))
    own = f"cdk-app:{app}" if app is not None else None
    if len(pipelines) > MAX_PIPELINES:
        _unread(scan, path, src.line(pipelines[MAX_PIPELINES].start),
                f"more than {MAX_PIPELINES} pipelines in one file; the rest were not read")
    for call in pipelines[:MAX_PIPELINES]:
        if call.name == "CodePipeline":
            pipe = _cdk_pipelines(src, call, own)
        else:
            pipe = _cdk_classic(src, call, own, len(pipelines))
        if not pipe.actions:
            _unread(scan, path, pipe.line, f"pipeline {pipe.name}: its stages are not "
                                           "defined in this file")
        _pipeline_jobs(snap, scan, pipe)


def _is_pipeline(src: _Code, call: _Call, imported: set[str]) -> bool:
    """A pipeline construct: ``codepipeline.Pipeline(this, ...)`` or ``pipelines.CodePipeline(
    self, ...)`` (or the class imported by name: IMPORTED), whose first argument is the
    scope."""
    modules = _cp()["cdk_pipeline"].get(call.name)
    if modules is None:
        return False
    receiver = call.receiver.rsplit(".", 1)[-1]
    if receiver not in modules and not (receiver == "" and call.name in imported):
        return False
    first = _args(src, call)[:1]
    return bool(first) and re.fullmatch(r"[A-Za-z_$][\w$]*", first[0][1]) is not None


def _cdk_name(src: _Code, call: _Call, props: Mapping[str, tuple[int, str]]) -> str:
    name = props.get("pipelinename")
    positional = _positional(src, call)
    second = positional[1][1] if len(positional) > 1 else None
    return _literal(name[1] if name else None) or _literal(second) or "pipeline"


def _cdk_classic(src: _Code, call: _Call, own: str | None, count: int) -> _Pipeline:
    """``codepipeline.Pipeline``: stages from its ``stages`` property and from ``addStage``
    calls on it (with ``addAction`` on a stage bound to a variable), in the order written."""
    props = _props(src, call)
    pipe = _Pipeline(src.path, _cdk_name(src, call, props), src.line(call.start), own)
    var = src.bound.get(call.open)
    stages: list[tuple[str, list[tuple[int, str]]]] = []
    for offset, text in _items(src, props.get("stages")):
        stage = _object(src, offset, text)
        stages.append((_literal(_text(stage.get("stagename"))) or f"stage {len(stages) + 1}",
                       _items(src, stage.get("actions"))))
    for added in src.calls:
        if _norm(added.name) != "addstage":
            continue
        receiver = re.sub(r"^(this|self)\.", "", added.receiver)
        stage = _props(src, added)
        if "stagename" not in stage or (count > 1 and receiver != var):
            continue
        actions = _items(src, stage.get("actions"))
        stage_var = src.bound.get(added.open)
        actions += [a for more in src.calls if stage_var and _norm(more.name) == "addaction"
                    and re.sub(r"^(this|self)\.", "", more.receiver) == stage_var
                    for a in _positional(src, more)[:1]]
        stages.append((_literal(_text(stage.get("stagename"))) or f"stage {len(stages) + 1}",
                       actions))
    if "pullrequestfilter" in _norm(src.text[call.open : call.close]):
        pipe.events.append(Run("pr", "pull request (pipeline trigger with a pull request "
                                     "filter)", src.path, pipe.line))
    for position, (stage_name, actions) in enumerate(stages):
        for offset, text in actions:
            found = _resolve(src, (offset, text))
            if not found:
                pipe.actions.append(_Action(stage_name, text, "unknown", "", src.line(offset),
                                            position, missing=f"action {text} is not "
                                                              "defined in this file"))
            pipe.actions += [_cdk_action(src, c, stage_name, position) for c in found]
    return pipe


def _cdk_action(src: _Code, call: _Call, stage: str, position: int) -> _Action:
    """An action of ``aws-codepipeline-actions`` from its class (catalogue) and properties."""
    spec = next((v for k, v in _cp()["cdk_actions"].items() if _norm(k) == _norm(call.name)),
                None)
    line = src.line(call.start)
    if spec is None:
        return _Action(stage, call.name, "unknown", "", line, position,
                       missing=f"{call.name} is not an action class the auditor knows")
    props = _props(src, call)
    action = _Action(stage, _literal(_text(props.get("actionname"))) or call.name, spec[0],
                     spec[1], line, position, _int(_text(props.get("runorder")) or 1))
    if action.category == "source":
        _cdk_source(action, props)
    elif action.provider == "CodeBuild":
        _cdk_codebuild(src, action, props)
    elif action.provider == "Commands":
        action.inline = _strings(src, props.get("commands"))
    elif action.provider == "Jenkins":
        action.missing = "a Jenkins action: its job runs on a Jenkins server"
    elif action.category == "deploy":
        template = re.search(r"""['"]([^'"]+)['"]""", _text(props.get("templatepath")) or "")
        config = {"ActionMode": spec[2] if len(spec) > 2 else None,
                  "StackName": _literal(_text(props.get("stackname"))),
                  "TemplatePath": template.group(1) if template else None}
        _deploy_action(action, {k: v for k, v in config.items() if v}, {})
    return action


def _cdk_source(action: _Action, props: Mapping[str, tuple[int, str]]) -> None:
    """A CDK source action: its branch (a literal, the fallback of ``x || 'main'``, or CDK's
    default), or the object key of an S3 source; ``trigger: ...NONE`` and ``triggerOnPush:
    false`` start nothing."""
    if action.provider == "S3":
        action.branch = _literal(_text(props.get("bucketkey")))
    elif "branch" in props:
        given = props["branch"][1]
        action.branch = _literal(given) or f"the configured branch ({given.strip()})"
    else:
        action.branch = str(_cp()["cdk_default_branch"])
    if re.search(r"\.NONE\b", _text(props.get("trigger")) or ""):
        action.idle = "trigger: NONE"
    if _norm(_text(props.get("triggeronpush")) or "") == "false":
        action.idle = "triggerOnPush: false"


def _cdk_codebuild(src: _Code, action: _Action, props: Mapping[str, tuple[int, str]]) -> None:
    """A ``CodeBuildAction``: its project (bound in this file) and the project's buildSpec:
    ``BuildSpec.fromSourceFilename(path)``, ``BuildSpec.fromObject({...})`` (its ``commands``
    lists), or ``buildspec.yml`` of the source when none is given."""
    projects = [c for c in _resolve(src, props.get("project"))
                if _norm(c.name) in ("pipelineproject", "project")]
    if not projects:
        action.missing = f"CodeBuild project {_text(props.get('project'))} is not defined in " \
                         "this file"
        return
    spec = _props(src, projects[0]).get("buildspec")
    if spec is None:
        action.buildspec = "buildspec.yml"
        return
    for call in _resolve(src, spec):
        kind = _norm(call.name)
        first = _positional(src, call)[:1]
        if kind == "fromsourcefilename" and first and _literal(first[0][1]):
            action.buildspec = posixpath.normpath(str(_literal(first[0][1])).lstrip("/"))
            return
        if kind in ("fromobject", "fromobjecttoyaml"):
            action.inline = _inline_commands(src, call)
            return
    action.missing = f"the buildSpec {spec[1][:60]} is not a literal file or object"


def _inline_commands(src: _Code, call: _Call) -> tuple[tuple[str, int | None], ...]:
    """The ``commands`` lists of a buildspec written as an object in code, in order."""
    found: list[tuple[str, int | None]] = []
    pattern = re.compile(r"""\bcommands\b['"]?\s*[:=]\s*\[""")
    for match in pattern.finditer(src.text, call.open, call.close):
        start = match.end() - 1
        found += _strings(src, (start, src.text[start : src.close(start) + 1]))
    return tuple(found)


def _cdk_pipelines(src: _Code, call: _Call, own: str | None) -> _Pipeline:
    """CDK Pipelines ``CodePipeline``: sources from ``CodePipelineSource.<kind>(repo, branch)``,
    the synth step's commands, its self-mutation (an IaC apply of its own stack, unless
    ``selfMutation: false``) and each ``addStage`` (a CloudFormation apply of the stage's
    stacks) with its ``pre``/``post`` steps; a ``ManualApprovalStep`` gates what follows."""
    props = _props(src, call)
    line = src.line(call.start)
    pipe = _Pipeline(src.path, _cdk_name(src, call, props), line, own)
    kinds = _cp()["cdk_sources"]
    for source in src.calls:
        provider = kinds.get(_norm(source.name))
        if provider and _norm(source.receiver).endswith("codepipelinesource"):
            pipe.actions.append(_pipelines_source(src, source, str(provider)))
    for step in _resolve(src, props.get("synth")):
        pipe.actions += _pipelines_steps(src, [step], "Build", 1, 1)
    mutates = _norm(_text(props.get("selfmutation")) or "") != "false"
    if mutates:
        pipe.actions.append(_Action(
            "UpdatePipeline", "SelfMutate", "deploy", "CloudFormation", line, 2,
            classes=frozenset({"deploy_iac"}), target=own or "cdk-app:",
            text="cdk deploy of the pipeline's own stack", about="CDK Pipelines self-mutation"))
    position = 3
    for added in src.calls:
        kind = _norm(added.name)
        if kind not in ("addstage", "addwave"):
            continue
        positional = _positional(src, added)
        options = _props(src, added)
        if not positional or positional[0][1].startswith("{") or "stagename" in options:
            continue
        stage_name, cls = _pipelines_stage(src, positional[0], kind)
        pre = [c for e in _items(src, options.get("pre")) for c in _resolve(src, e)]
        post = [c for e in _items(src, options.get("post")) for c in _resolve(src, e)]
        pipe.actions += _pipelines_steps(src, pre, stage_name, position, 1)
        if kind == "addstage":
            pipe.actions.append(_Action(
                stage_name, f"deploy {cls}", "deploy", "CloudFormation", src.line(added.start),
                position, 2, classes=frozenset({"deploy_iac"}),
                text=f"CDK Pipelines deploy of stage {cls} {stage_name}",
                target=own if mutates and own else
                f"cdk-stage:{stage_name}"))
        pipe.actions += _pipelines_steps(src, post, stage_name, position, 3)
        position += 1
    return pipe


def _pipelines_source(src: _Code, call: _Call, provider: str) -> _Action:
    """``CodePipelineSource.gitHub('owner/repo', 'main')`` and the like: the branch is the
    second argument; an S3 source's second argument is its object key."""
    positional = _positional(src, call)
    repo = _literal(positional[0][1]) if positional else None
    second = positional[1][1] if len(positional) > 1 else None
    action = _Action("Source", repo or provider, "source", provider, src.line(call.start))
    action.branch = _literal(second) or (f"the configured branch ({second})" if second else
                                         None)
    options = "".join(t for _, t in positional[2:]) + src.text[call.open : call.close]
    if re.search(r"\.NONE\b", options) or re.search(r"trigger_?on_?push\s*[:=]\s*false",
                                                    options, re.I):
        action.idle = "its trigger is switched off"
    return action


def _pipelines_stage(src: _Code, first: tuple[int, str], kind: str) -> tuple[str, str]:
    """The id and class of the stage an ``addStage`` deploys (``new AppStage(this, 'Prod')``,
    or a variable bound to one); a wave's name."""
    if kind == "addwave":
        return _literal(first[1]) or first[1], "wave"
    for stage in _resolve(src, first):
        positional = _positional(src, stage)
        name = _literal(positional[1][1]) if len(positional) > 1 else None
        return name or first[1], stage.name
    return first[1], "stage"


def _pipelines_steps(src: _Code, steps: list[_Call], stage: str, position: int, order: int
                     ) -> list[_Action]:
    """CDK Pipelines steps: ``ShellStep``/``CodeBuildStep`` run their install commands and
    commands; ``ManualApprovalStep`` and ``ConfirmPermissionsBroadening`` are approvals."""
    actions = []
    for step in steps:
        kind = _norm(step.name)
        positional = _positional(src, step)
        name = (_literal(positional[0][1]) if positional else None) or step.name
        line = src.line(step.start)
        if kind in ("manualapprovalstep", "confirmpermissionsbroadening"):
            actions.append(_Action(stage, name, "approval", "Manual", line, position, order))
        elif kind in ("shellstep", "codebuildstep"):
            props = _props(src, step)
            commands = _strings(src, props.get("installcommands")) + _strings(
                src, props.get("commands"))
            actions.append(_Action(stage, name, "build", "CodeBuild", line, position, order,
                                   inline=commands))
    return actions
