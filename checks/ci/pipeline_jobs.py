"""An AWS CodePipeline pipeline (read from CloudFormation or CDK) as stages of actions, and
those actions as jobs: source actions give the runs, build actions run commands, deploy actions
deploy by provider."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.ci.catalogue import _cat
from mlops_auditor.checks.ci.codebuild import _buildspec, _run_entries
from mlops_auditor.checks.ci.jobs import _add, env_names
from mlops_auditor.checks.ci.model import JobCtx, Run, Scan
from mlops_auditor.snapshot import Snapshot


@dataclass
class _Action:
    """One action of a pipeline stage, read from CloudFormation or CDK."""

    stage: str
    name: str
    category: str  # source, build, test, deploy, approval, invoke
    provider: str
    line: int | None
    position: int = 0  # index of its stage
    order: int = 1  # RunOrder inside the stage
    branch: str | None = None  # source: the branch it watches
    idle: str | None = None  # source: why it never starts the pipeline
    buildspec: str | None = None  # build: a buildspec file of the repository
    inline: tuple[tuple[str, int | None], ...] = ()  # build: commands written in the pipeline
    classes: frozenset[str] = frozenset()  # deploy: what it does
    text: str = ""  # deploy: the command it stands for
    about: str = ""  # deploy: what it applies, for the evidence
    target: str | None = None  # deploy: the stack it applies (see _same_stack)
    missing: str | None = None  # what could not be resolved


@dataclass
class _Pipeline:
    """A pipeline's actions and the runs that start it besides its source actions."""

    path: str
    name: str
    line: int | None
    own: str | None  # the stack that defines it: "template:<file>" or "cdk-app:<folder>"
    actions: list[_Action] = field(default_factory=list)
    events: list[Run] = field(default_factory=list)
    triggers: dict[str, list[Run]] = field(default_factory=dict)  # source action -> its runs


@cache
def _cp() -> dict[str, Any]:
    cat: dict[str, Any] = _cat()["codepipeline"]
    return cat


def _words(name: str) -> str:
    """``DeployModelDev`` -> ``Deploy Model Dev``, so environment words in names are seen."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)


def _unread(scan: Scan, path: str, line: int | None, what: str) -> None:
    """Part of a pipeline this reader could not resolve: facts it might decide stay unknown
    when nothing else decides them."""
    scan.unread.setdefault(path, common.at(path, line, f"AWS CodePipeline: {what}"))
    scan.note(path, line, what)


def _pipeline_jobs(snap: Snapshot, scan: Scan, pipe: _Pipeline) -> None:
    """The actions of one pipeline as jobs, in stage and run order.

    A pipeline whose buildspec is not in the repository builds another repository (a template
    for projects elsewhere): it is left unread. Every action runs on what starts the pipeline
    (its sources, rules and triggers). A manual
    approval does not make the actions after it manual: the pipeline was started by the push
    and continues by itself once someone approves, which is continuous delivery with a review
    gate, not a developer deploying by hand; the evidence names the approval. When every IaC
    apply of the pipeline is known to target stacks other than the pipeline's own (no
    self-update), those applies carry the reason they leave infrastructure to hand deployment.
    """
    foreign = next((a.buildspec for a in pipe.actions
                    if a.buildspec and not snap.exists(a.buildspec)), None)
    if foreign:
        _unread(scan, pipe.path, pipe.line, f"pipeline {pipe.name} builds another repository "
                                            f"(its buildspec {foreign} is not in this one)")
        return
    runs = _source_runs(scan, pipe) + pipe.events
    if not runs:
        runs = [Run("other", "no trigger found in the repository (started by hand or by a rule "
                             "defined elsewhere)", pipe.path, pipe.line)]
    lines = snap.lines(pipe.path)
    if pipe.actions and not any(a.category == "source" for a in pipe.actions):
        _unread(scan, pipe.path, pipe.line, f"pipeline {pipe.name}: its source is not defined "
                                            "in this file")
    gates = [(a.position, a.order, f"{a.stage}/{a.name}") for a in pipe.actions
             if a.category == "approval"]
    applies: list[tuple[int, str | None]] = []
    for action in sorted(pipe.actions, key=lambda a: (a.position, a.order)):
        gate = next((g for p, o, g in gates if (p, o) < (action.position, action.order)), None)
        own_runs = tuple(replace(r, detail=f"{r.detail}, after approval {gate}")
                         for r in runs) if gate else tuple(runs)
        about = f" ({action.about})" if action.about else ""
        label = f"{pipe.name}/{action.stage}/{action.name}{about}"
        scan.job("aws-codepipeline", pipe.path, action.line,
                 f"{pipe.name}: {action.stage}/{action.name}")
        envs = frozenset(env_names(_words(f"{action.stage} {action.name}")))
        ctx = JobCtx("aws-codepipeline", pipe.path, lines, label, action.line, own_runs,
                     envs=envs)
        if action.missing:
            _unread(scan, pipe.path, action.line, f"pipeline {pipe.name} action "
                                                  f"{action.name}: {action.missing}")
            continue
        applies += _action_commands(snap, scan, ctx, action)
    if pipe.own and applies and all(t is not None and not _same_stack(pipe.own, t)
                                    for _, t in applies):
        where = pipe.own.split(":", 1)[1] or "the repository root"
        scope = f"not the pipeline's own stack ({where}): deployed by hand"
        for index, _ in applies:
            scan.commands[index] = replace(scan.commands[index], scope=scope)


def _action_commands(snap: Snapshot, scan: Scan, ctx: JobCtx, action: _Action
                     ) -> list[tuple[int, str | None]]:
    """Commands of one action; returns the IaC applies among them (index in scan.commands, the
    stack each applies or None when unknown)."""
    if action.category == "approval":
        _add(scan, ctx, f"manual approval {action.name}", classes=frozenset())
        return []
    if action.category == "deploy":
        _add(scan, ctx, action.text, classes=action.classes)
        return [(len(scan.commands) - 1, action.target)] if "deploy_iac" in action.classes \
            else []
    if action.buildspec is not None:
        return _buildspec(snap, scan, ctx, action.buildspec)
    if action.inline:
        return _run_entries(snap, scan, ctx, [(t, n, None) for t, n in action.inline])
    if action.category != "source":
        _add(scan, ctx, f"{action.provider} {action.category} {action.name}",
             classes=frozenset())
    return []


def _same_stack(own: str, target: str) -> bool:
    """May TARGET be the pipeline's OWN stack? Templates compare by file name (a packaged copy
    keeps the name), CDK apps by folder; a CDK Pipelines stage is another stack of its app. A
    template deployed by a CDK pipeline may be the app's own: True when it cannot be told."""
    own_kind, own_name = own.split(":", 1)
    kind, name = target.split(":", 1)
    if own_kind == kind == "template":
        stem = posixpath.splitext(posixpath.basename(own_name))[0].lower()
        return stem in posixpath.basename(name).lower()
    if own_kind == kind:
        return own_name == name
    return kind != "cdk-stage"


def _source_runs(scan: Scan, pipe: _Pipeline) -> list[Run]:
    """Runs of the pipeline's source actions: a push to the branch a repository source
    watches (a merge to that branch: a pipeline follows one branch), an upload to an S3 source
    (data, not a code push) or an image push; a source that does not detect changes starts
    nothing. A V2 trigger replaces its source's default runs."""
    runs: list[Run] = []
    for action in pipe.actions:
        if action.category != "source":
            continue
        if action.name in pipe.triggers:
            runs += pipe.triggers[action.name]
            continue
        if action.idle:
            scan.note(pipe.path, action.line, f"source {action.name} of pipeline {pipe.name} "
                                              f"starts nothing ({action.idle}, no rule)")
            continue
        if action.provider in _cp()["branch_sources"]:
            branch = action.branch or "the configured branch"
            runs.append(Run("merge", f"push to {branch} (source {action.name})", pipe.path,
                            action.line))
        elif action.provider == "S3":
            runs.append(Run("other", f"upload of {action.branch or 'an object'} to S3 (source "
                                     f"{action.name}: data, not a code push)", pipe.path,
                            action.line))
        else:
            runs.append(Run("other", f"{action.provider} source {action.name} changes",
                            pipe.path, action.line))
    return runs
