"""Traceability of runs and models (2.2.7.x), retraining (2.2.8) and roll-back (2.2.9): which
commit, environment, model artifact and training data a run used, and how models are replaced.

Code counts only where it runs (see monitoring's code index): imports without calls, calls in
stubs, under ``if False:`` or in functions nothing calls are counter-evidence, never support.
"""

from __future__ import annotations

import ast
import posixpath
import re
from pathlib import PurePosixPath
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.codeindex import (
    CodeIndex,
    Use,
    code_index,
    dotted,
    not_counted,
    strings_in,
    use_evidence,
)
from mlops_auditor.checks.common import as_list
from mlops_auditor.checks.configfiles import (
    bundle_resources,
    cfn_resources,
    ci_files,
    key_line,
    kind_docs,
    terraform_blocks,
    unique,
    verdict,
    walk,
    yaml_files,
)
from mlops_auditor.checks.environment import dockerfile_instructions
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "tracking.tools": "experiment/lineage tools in use: mlflow, dvc, wandb, sagemaker, vertex, "
                      "azureml, databricks, neptune, comet, clearml",
    "tracking.code_commit": "runs/models record the git commit (MLflow fluent runs from a git "
                            "checkout, explicit commit tags, dvc.lock, W&B/ClearML/Neptune/Comet "
                            "runs, ${bundle.git.commit}, image tags with the commit sha); "
                            "unknown when only a CI build id is recorded",
    "tracking.unrecorded_registrations": "models are also logged or registered from files that "
                                         "record no commit, while other files do record it "
                                         "(so not every run can be traced to its commit)",
    "tracking.environment": "the environment is recorded with the run/model (MLflow log_model "
                            "requirements, MLproject environment, conda.yaml beside a model, a "
                            "container image or registered environment per run; images tagged "
                            "or looked up as 'latest' do not count)",
    "tracking.model_artifacts": "model artifacts are versioned (log_model/register_model, DVC "
                                "outs, W&B model artifacts, SageMaker model packages or models "
                                "from a training job's output, Vertex Model.upload, Azure ML "
                                "models, bundle registered models, model files committed to git)",
    "tracking.training_data": "training data is versioned or logged with the run (DVC-tracked "
                              "data, mlflow.log_input, W&B artifacts, Delta time travel, feature "
                              "store training sets, registered dataset versions, datasets "
                              "shipped with a library); unknown when only a data version tag or "
                              "manifest is recorded",
    "tracking.mutable_data_source": "training data is read from a mutable location (a URL with "
                                    "'latest', a raw branch URL, ?ref=main)",
    "tracking.retraining": "retraining is scheduled or triggered (scheduled training job, "
                           "pipeline schedule, drift- or alarm-triggered run, new data starting "
                           "the training pipeline)",
    "tracking.rollback": "a roll-back mechanism exists (registry aliases/stages set to a chosen "
                         "version or followed by the deployment, blue/green or traffic shifting "
                         "with auto roll-back, Argo Rollouts/Flagger, helm rollback, deploy by "
                         "version, CI roll-back stages); promoting the newest version is not one",
}


def collect(snap: Snapshot) -> list[Fact]:
    code = code_index(snap)
    return [tools(snap, code), code_commit(snap, code), unrecorded_registrations(snap, code),
            environment(snap, code),
            model_artifacts(snap, code), training_data(snap, code),
            mutable_data_source(snap, code), retraining(snap, code), rollback(snap, code)]


def _cat() -> dict[str, Any]:
    return common.catalogue("tracking")


def tools(snap: Snapshot, code: CodeIndex) -> Fact:
    """Tools whose APIs the code calls where it runs, or whose project files exist (dvc.yaml,
    MLproject, databricks.yml)."""
    cat = _cat()["tools"]
    names: list[str] = []
    items: list[Evidence] = []
    for tool, patterns in cat["calls"].items():
        uses = code.calls(tuple(patterns))
        if uses:
            names.append(tool)
            items.append(use_evidence(uses[0], tool))
    for tool, patterns in cat["files"].items():
        paths = [p for p in snap.glob(*patterns) if _meaningful(snap, p)]
        if paths and tool not in names:
            names.append(tool)
            items.append(common.at(paths[0], None, f"{tool} project file"))
    if not names:
        return Fact("tracking.tools", (), (common.searched(
            "calls of tracking tools or their project files", "code, notebooks, dvc.yaml, "
            "MLproject, databricks.yml"),))
    return Fact("tracking.tools", tuple(sorted(names)), tuple(items))


def _without_comment(line: str) -> str:
    """A shell/YAML line without its trailing ``# comment``."""
    return re.sub(r"(^|\s)#.*$", "", line)


def _meaningful(snap: Snapshot, path: str) -> bool:
    """A tool's project file with content: a non-empty mapping (INI-style configs: any text)."""
    if not path.endswith((".yaml", ".yml", ".lock", ".dvc", "MLproject")):
        text = snap.text(path)
        return text.ok and bool(text.value.strip())
    parsed = snap.yaml(path)
    return parsed.ok and isinstance(parsed.value, dict) and bool(parsed.value)


def code_commit(snap: Snapshot, code: CodeIndex) -> Fact:
    """The commit is recorded: MLflow runs started through the fluent API from scripts (MLflow
    stores mlflow.source.git.commit automatically in a git checkout; notebooks, exported
    notebook sources and integrations that create runs through MlflowClient do not count),
    ``mlflow run`` projects, tools that record the commit (W&B, ClearML, Neptune, Comet),
    explicit commit tags, commit variables read in code, dvc.lock (pins outputs to the commit),
    ``${bundle.git.commit}`` and image tags or labels carrying the commit sha in CI and
    container files."""
    cat = _cat()["code_commit"]
    items: list[Evidence] = []
    all_runs = code.calls(tuple(cat["mlflow_runs"]), notebooks=False)
    away = _away_from_checkout(snap, code, {u.path for u in all_runs})
    runs = [u for u in all_runs if u.path not in away]
    if runs:
        items.append(use_evidence(runs[0], "MLflow run in a script: MLflow records the git "
                                           "commit (mlflow.source.git.commit) automatically "
                                           "when run from a git checkout"))
    for path in snap.glob("MLproject", "**/MLproject"):
        if _meaningful(snap, path):
            items.append(common.at(path, 1, "MLflow project: `mlflow run` records the git "
                                            "commit"))
    for pattern, why in cat["recorders"].items():
        items += [use_evidence(u, why) for u in code.calls((pattern,))[:1]]
    ref = re.compile(cat["commit_ref"])
    words = re.compile(cat["tag_words"])
    for u in code.calls(tuple(cat["tag_calls"])):
        if any(words.search(s) for s in strings_in(u, code.files[u.path])[:2]):
            items.append(use_evidence(u, "commit tagged on the run"))
    # A commit identifier counts in ML code only: a tool reading git for its own purposes does
    # not make model runs traceable.
    items += [use_evidence(u, "commit identifier used in ML code") for u in code.strings(ref)
              if common.ml_context(snap, u.path)]
    items += [use_evidence(u, "commit identifier used in ML code") for u in code.uses()
              if u.kind == "call" and u.live and ref.search(u.text)
              and common.ml_context(snap, u.path)]
    for path in snap.glob("dvc.lock", "**/dvc.lock"):
        parsed = snap.yaml(path)
        if parsed.ok and isinstance(parsed.value, dict) and parsed.value.get("stages"):
            items.append(common.at(path, 1, "dvc.lock pins each stage's outputs (hashes) to "
                                            "the commit"))
    context = re.compile(cat["ci_context"])
    places = _pipeline_files(snap) + snap.glob("Dockerfile*", "**/Dockerfile*", "Makefile",
                                               "*.sh")
    items += [e for e in common.grep(snap, places, ref)
              if context.search(e.detail) and ref.search(_without_comment(e.detail))]
    items += common.grep(snap, _bundle_yaml(snap), re.compile(r"\$\{bundle\.git\.commit\}"))
    builds = [] if items else _build_ids(snap, code, places)
    if builds:
        return common.unknown(
            "tracking.code_commit", "a CI build or run id is recorded with runs, models or "
            "images: the commit is found through the CI system, only while it keeps the build",
            unique(builds))
    return verdict("tracking.code_commit", unique(items),
                   "MLflow runs in scripts, commit tags, dvc.lock, W&B runs or commit shas in "
                   "image tags", "code, dvc.lock, MLproject, CI, Dockerfiles and bundle YAML",
                   counter=[*_runs_without_commit(code, cat, all_runs, away),
                            *not_counted(code, cat["mlflow_runs"], ("mlflow", "wandb"))],
                   unparsed=code.unparsed, snap=snap)


def _bundle_yaml(snap: Snapshot) -> list[str]:
    """YAML files of Databricks asset bundles: a databricks.yml and the files below its folder
    (the resources it includes). Elsewhere ``${bundle.git.commit}`` is only text."""
    roots = [posixpath.dirname(p) for p in snap.glob("databricks.yml", "databricks.yaml")]
    return [p for p in snap.glob("**/*.yml", "**/*.yaml")
            if any(not root or p.startswith(root + "/") for root in roots)]


def _commit_recording_files(snap: Snapshot, code: CodeIndex) -> set[str]:
    """Files whose runs record the commit themselves: fluent MLflow runs in scripts run from the
    checkout, commit tags on runs, commit identifiers read in ML code."""
    cat = _cat()["code_commit"]
    all_runs = code.calls(tuple(cat["mlflow_runs"]), notebooks=False)
    away = _away_from_checkout(snap, code, {u.path for u in all_runs})
    paths = {u.path for u in all_runs if u.path not in away}
    words = re.compile(cat["tag_words"])
    paths |= {u.path for u in code.calls(tuple(cat["tag_calls"]))
              if any(words.search(s) for s in strings_in(u, code.files[u.path])[:2])}
    ref = re.compile(cat["commit_ref"])
    paths |= {u.path for u in code.strings(ref) if common.ml_context(snap, u.path)}
    return paths


def unrecorded_registrations(snap: Snapshot, code: CodeIndex) -> Fact:
    """When some files record the commit with their runs, models logged or registered from
    other files (a notebook, a second training path) do not: a model from those cannot be
    traced to its commit, so "any given run" is not traceable. Judged only when some file does
    record the commit; a commit recorded by CI for every job covers all files."""
    fact_id = "tracking.unrecorded_registrations"
    recording = _commit_recording_files(snap, code)
    cat = _cat()["model_artifacts"]
    registrations = [u for u in [*code.calls(tuple(cat["calls"])), *code.keys(cat["keys"])]
                     if not common.is_test_path(u.path)]
    if not recording:
        return Fact(fact_id, False, (common.searched(
            "files that record the commit with their runs, to compare with the files that "
            "register models", "code and notebooks"),))
    missing = [u for u in registrations if u.path not in recording]
    if missing:
        return Fact(fact_id, True, tuple(unique(
            [use_evidence(u, "model logged or registered without a commit record here")
             for u in missing])[:20]))
    return Fact(fact_id, False, (Evidence(
        f"every file that logs or registers models ({len({u.path for u in registrations})}) "
        "records the commit"),))


def _build_ids(snap: Snapshot, code: CodeIndex, places: list[str]) -> list[Evidence]:
    """CI build or run numbers put on runs, models or images (CI lines that also name a tag,
    label, image or model; identifiers read in ML code): a lookup through the CI system."""
    ref = re.compile(_cat()["code_commit"]["build_ref"])
    context = re.compile(_cat()["code_commit"]["build_context"])
    items = [e for e in common.grep(snap, places, ref)
             if context.search(e.detail) and ref.search(_without_comment(e.detail))]
    items += [use_evidence(u, "CI build id used in ML code") for u in code.strings(ref)
              if common.ml_context(snap, u.path)]
    return items


def _notebook_source(snap: Snapshot, path: str) -> bool:
    """A notebook exported as a Python file (``# Databricks notebook source``): it runs as a
    notebook, where MLflow does not take the commit from a checkout (in a Databricks Git folder
    it may; the repository cannot show where it runs)."""
    lines = snap.lines(path)
    return bool(lines) and bool(re.match(_cat()["code_commit"]["notebook_source"], lines[0]))


def _runs_without_commit(code: CodeIndex, cat: dict[str, Any], runs: list[Use],
                         away: dict[str, str]) -> list[Evidence]:
    """Counter-evidence: MLflow runs that record no commit (integrations creating runs through
    MlflowClient.create_run; runs in scripts that do not run from the checkout)."""
    items = [use_evidence(u, f"not counted: {why}")
             for pattern, why in cat["no_commit_runs"].items()
             for u in code.calls((pattern,), notebooks=False)[:1]]
    seen: set[str] = set()
    for u in runs:
        if u.path in away and away[u.path] not in seen:
            seen.add(away[u.path])
            items.append(use_evidence(u, f"not counted: {away[u.path]}"))
    return items


def _away_from_checkout(snap: Snapshot, code: CodeIndex, paths: set[str]) -> dict[str, str]:
    """Scripts whose MLflow runs cannot take the commit from a git checkout, with the reason:
    notebook sources, and scripts that configuration (CI, job definitions, shell scripts)
    names at a remote storage location (``dbfs:/.../train.py``, ``s3://.../train.py``): they
    are copied there and run without the repository's .git."""
    remote = _cat()["code_commit"]["remote_storage"]
    away = {}
    for path in sorted(paths):
        name = PurePosixPath(path).name
        if _notebook_source(snap, path):
            away[path] = ("MLflow run in a notebook source, which does not take the commit "
                          "from a checkout")
        elif name in code.config_text and re.search(
                rf"(?:{remote})\S*/{re.escape(name)}\b", code.config_text):
            away[path] = ("the script is copied to remote storage and runs from there, "
                          "outside a git checkout")
    return away


def environment(snap: Snapshot, code: CodeIndex) -> Fact:
    """The environment travels with the run or model: MLflow log_model/save_model (writes
    conda.yaml and requirements.txt), W&B/ClearML runs (record packages), jobs tied to an
    image or environment (SageMaker image_uri/framework_version, Azure ML environment, Vertex
    container_uri, Kubeflow base_image), MLproject environments, environment files beside an
    MLmodel, Azure ML job YAML with an environment."""
    cat = _cat()["environment"]
    items: list[Evidence] = []
    for pattern, why in cat["calls"].items():
        items += [use_evidence(u, why) for u in code.calls((pattern,))[:2]]
    floating: list[Evidence] = []
    for rule in cat["keyword_calls"]:
        for u in code.keys([rule["keyword"]]):
            if not _matches(u.within, rule["call"]):
                continue
            tag = _floating_image(code, u) if rule["keyword"] in cat["image_keywords"] else ""
            if tag:
                floating.append(use_evidence(u, f"not counted: the image is {tag}, which "
                                                "changes under the same name"))
            else:
                items.append(use_evidence(u, f"run tied to `{rule['keyword']}`"))
    for path in snap.glob("MLproject", "**/MLproject"):
        parsed = snap.yaml(path)
        keys = [k for k in cat["mlproject_keys"]
                if isinstance(parsed.value, dict) and parsed.value.get(k)]
        if keys:
            items.append(common.at(path, key_line(snap.text(path).value, keys[0]),
                                   f"MLproject declares {keys[0]}"))
    for path in snap.glob("MLmodel", "**/MLmodel"):
        folder = str(PurePosixPath(path).parent)
        for name in cat["model_env_files"]:
            sibling = name if folder == "." else f"{folder}/{name}"
            if snap.exists(sibling):
                items.append(common.at(sibling, 1, "environment file stored with the model"))
                break
    for y in yaml_files(snap):
        for doc in y.docs:
            if isinstance(doc, dict) and doc.get("command") and doc.get("environment"):
                items.append(common.at(y.path, key_line(y.text, "environment"),
                                       "job runs in a named environment"))
    return verdict("tracking.environment", unique(items),
                   "model logging with requirements, run environments or images",
                   "code, MLproject, MLmodel folders and job YAML",
                   counter=[*floating, *not_counted(code, list(cat["calls"]), ("mlflow",))],
                   unparsed=code.unparsed, snap=snap)


def _scopes(code: CodeIndex, u: Use) -> tuple[int, ...]:
    """The binding scopes around a use, innermost first (see codeindex._read_bindings)."""
    scopes: list[int] = []
    owner = u.owner
    while owner is not None:
        scopes.append(id(owner.node))
        owner = code.defs.get(owner.parent) if owner.parent else None
    return (*scopes, 0)


def _floating_image(code: CodeIndex, u: Use) -> str:
    """How an image keyword's value floats ("tagged latest", "looked up as the latest
    version"), or "" when it does not: a literal ending in ``:latest``, or a value taken from an
    image lookup (``sagemaker.image_uris.retrieve``) that asks for version "latest" in the same
    function. Such an image changes under the same name, so the run does not record its
    environment."""
    cat = _cat()["environment"]
    latest = re.compile(cat["floating_tag"])
    f = code.files[u.path]
    if any(latest.search(s.strip()) for s in strings_in(u, f)):
        return "tagged latest"
    resolved = dotted(u.node, f, _scopes(code, u)) or ""
    lookups = [c for c in code.calls(tuple(cat["image_lookups"]))
               if c.path == u.path and c.owner is u.owner]
    for c in lookups:
        if resolved.startswith(c.name) and any(
                latest.search(s.strip()) for s in strings_in(c, f)):
            return "looked up as the latest version"
    return ""


def _matches(name: str, pattern: str) -> bool:
    return common.name_matcher((pattern,))(name)


def _dvc_outs(snap: Snapshot) -> list[tuple[str, int | None, str, str]]:
    """(file, line, kind, path) of DVC-tracked paths: "out" for outputs and .dvc files, "dep"
    for stage dependencies."""
    found: list[tuple[str, int | None, str, str]] = []
    for path in snap.glob("*.dvc", "**/*.dvc"):
        parsed = snap.yaml(path)
        doc = parsed.value if parsed.ok and isinstance(parsed.value, dict) else {}
        outs = doc.get("outs")
        for out in outs if isinstance(outs, list) else []:
            if isinstance(out, dict) and out.get("path"):
                found.append((path, 1, "out", f"{PurePosixPath(path).parent}/{out['path']}"))
    for path in snap.glob("dvc.yaml", "**/dvc.yaml"):
        parsed = snap.yaml(path)
        doc = parsed.value if parsed.ok and isinstance(parsed.value, dict) else {}
        stages = doc.get("stages")
        text = snap.text(path).value or ""
        for stage in stages.values() if isinstance(stages, dict) else []:
            if not isinstance(stage, dict):
                continue
            for kind, key in (("out", "outs"), ("dep", "deps")):
                entries = stage.get(key)
                for entry in entries if isinstance(entries, list) else []:
                    name = next(iter(entry), "") if isinstance(entry, dict) else str(entry)
                    found.append((path, common.first_line(text, re.compile(re.escape(
                        str(name)))), kind, str(name)))
    return found


def model_artifacts(snap: Snapshot, code: CodeIndex) -> Fact:
    """Model artifacts versioned: logged/registered models (MLflow, W&B, Comet, ClearML,
    Neptune, BentoML, Hugging Face Hub), registration in SageMaker/Vertex/Azure ML (SDK v1 and
    v2)/Databricks (code, IaC, bundles, CLI commands), SageMaker models created from a
    training job's output (pipeline model steps; IaC models whose artifact location names the
    job or version), W&B artifacts of type model, DVC-tracked model files, and model files
    committed to git that the code loads or the image copies."""
    cat = _cat()["model_artifacts"]
    items = [use_evidence(u, "model versioned") for u in code.calls(tuple(cat["calls"]))]
    items += [use_evidence(u, "registered model") for u in code.keys(cat["keys"])]
    for rule in cat["keyword_calls"]:
        items += [use_evidence(u, f"model uploaded by the tracker ({rule['keyword']})")
                  for u in code.keys([rule["keyword"]]) if _matches(u.within, rule["call"])]
    items += [use_evidence(u, "W&B artifact of type model")
              for u in code.calls(tuple(cat["artifact_calls"])) if _artifact_type(u) == "model"]
    model_path = re.compile(cat["model_path"])
    items += [common.at(f, line, f"DVC-tracked model: {p}") for f, line, kind, p in
              _dvc_outs(snap) if kind == "out" and model_path.search(p)]
    tf, bad = terraform_blocks(snap)
    items += [common.at(b.path, b.line, f"resource {b.type}.{b.name}") for b in tf
              if b.kind == "resource" and b.type in cat["terraform"]]
    cfn, cfn_bad = cfn_resources(snap)
    items += [common.at(b.path, b.line, f"{b.type} {b.name}") for b in cfn
              if b.type in cat["cloudformation"]]
    items += [common.at(y.path, key_line(y.text, name), f"bundle {kind} {name}")
              for y, kind, name, _ in bundle_resources(snap, cat["bundle_resources"])]
    items += common.grep(snap, _pipeline_files(snap) + snap.glob("*.sh", "Makefile"),
                         re.compile(cat["commands"]))
    items += _per_run_models(snap, cat)
    items += _committed_models(snap, code, cat)
    return verdict("tracking.model_artifacts", unique(items),
                   "model logging/registration, model packages, model artifacts or DVC-tracked "
                   "models", "code, notebooks, dvc files, IaC, bundles and CI",
                   counter=not_counted(code, cat["calls"], ("mlflow", "wandb")),
                   unparsed=[*bad, *cfn_bad, *code.unparsed], snap=snap)


def _per_run_models(snap: Snapshot, cat: dict[str, Any]) -> list[Evidence]:
    """SageMaker models in CloudFormation/Terraform whose artifact location (after the bucket)
    names the training job, run or version that wrote it: each deployment points at its own
    artifact. A fixed location would be overwritten by the next training, and a bare parameter
    cannot be judged, so neither counts."""
    per_run = re.compile(cat["per_run_location"])
    tf, _ = terraform_blocks(snap)
    cfn, _ = cfn_resources(snap)
    items = []
    for b in [*cfn, *(t for t in tf if t.kind == "resource")]:
        key = cat["model_resources"].get(b.type)
        if key is None:
            continue
        for k, v, _ in walk(b.body):
            location = re.sub(r"^s3://[^/]+/?", "", str(v)) if k == key else ""
            if per_run.search(location):
                items.append(common.at(b.path, b.line, f"{b.type} {b.name}: artifact of one "
                                                       f"training run ({k}: {v})"))
                break
    return items


def _committed_models(snap: Snapshot, code: CodeIndex, cat: dict[str, Any]
                      ) -> list[Evidence]:
    """Model files committed to git (by extension, pickles only when the path names a model;
    tests and vendored folders left out) that the code names or a Dockerfile copies: git keeps
    every version, and the image built from a commit serves that commit's model. Weaker than a
    registry: nothing outside git records which version runs."""
    files, ambiguous = re.compile(cat["model_files"]), re.compile(cat["ambiguous_files"])
    words = re.compile(cat["model_words"])
    skip = set(snap.glob(*common.NOT_PROJECT_CODE))
    models = [p for p in snap.files if files.search(p) and p not in skip
              and not common.is_test_path(p) and (words.search(p) or not ambiguous.search(p))]
    items: list[Evidence] = []
    copies = _dockerfile_copies(snap) if models else []
    for path in models[:20]:
        name = PurePosixPath(path).name
        named = code.strings(re.compile(rf"(^|/|['\"]){re.escape(name)}['\"]?$"),
                             notebooks=False)
        copied = [(f, line) for f, line, src in copies
                  if src == "" or path == src or path.startswith(src + "/")]
        if named:
            items.append(use_evidence(named[0], f"model file {path} committed to git and "
                                                "loaded by the code"))
        if copied:
            items.append(common.at(copied[0][0], copied[0][1], f"model file {path} committed "
                                                               "to git and copied into the "
                                                               "image"))
    return items


def _dockerfile_copies(snap: Snapshot) -> list[tuple[str, int, str]]:
    """(Dockerfile, line, source) of COPY/ADD instructions from the build context (copies from
    another stage left out). The context is the repository root or the Dockerfile's folder, so
    each source is given relative to both ("" is the whole repository)."""
    found = []
    for path in snap.glob(*common.catalogue("environment")["dockerfiles"]):
        text = snap.text(path)
        if not text.ok:
            continue
        folder = str(PurePosixPath(path).parent)
        for line, keyword, args in dockerfile_instructions(text.value):
            tokens = [t.strip('[],"') for t in args.split()]
            if keyword not in ("COPY", "ADD") or any(t.startswith("--from") for t in tokens):
                continue
            for src in [t for t in tokens if t and not t.startswith("--")][:-1]:
                rel = "" if src in (".", "./") else str(PurePosixPath(src))
                found.append((path, line, rel))
                if folder != ".":
                    found.append((path, line, f"{folder}/{rel}".rstrip("/")))
    return found


def _artifact_type(u: Use) -> str:
    """The ``type`` of a ``wandb.Artifact(name, type)`` call."""
    node = u.node
    if not isinstance(node, ast.Call):
        return ""
    for kw in node.keywords:
        if kw.arg == "type" and isinstance(kw.value, ast.Constant):
            return str(kw.value.value)
    if len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
        return str(node.args[1].value)
    return ""


def training_data(snap: Snapshot, code: CodeIndex) -> Fact:
    """Training data versioned or logged: DVC-tracked data (.dvc files, stage dependencies on
    data), mlflow.log_input / mlflow.data, W&B dataset artifacts and use_artifact, DVC API
    reads, Delta time travel (versionAsOf, VERSION AS OF), pinned dataset revisions, feature
    store training sets, registered datasets (Azure ML SDK v1 and v2, Vertex, ClearML) and
    their links to models, training on datasets shipped with a library. A data version or
    manifest recorded with jobs, with nothing else, cannot be judged from the repository
    (unknown): what it versions may be a pointer to data that is overwritten."""
    cat = _cat()["training_data"]
    data_path = re.compile(cat["data_path"])
    model_path = re.compile(_cat()["model_artifacts"]["model_path"])
    items = [common.at(f, line, f"DVC-tracked data: {p}") for f, line, kind, p in _dvc_outs(snap)
             if data_path.search(p) and not (kind == "out" and model_path.search(p))]
    items += [use_evidence(u, "training data logged/versioned")
              for u in code.calls(tuple(cat["calls"]))]
    items += [use_evidence(u, "W&B dataset artifact")
              for u in code.calls(tuple(cat["artifact_calls"])) if _artifact_type(u) == "dataset"]
    items += [use_evidence(u, "versioned read (Delta time travel)")
              for u in code.strings(re.compile(cat["versioned_read"]))]
    for rule in cat["version_keywords"]:
        items += [use_evidence(u, f"pinned `{rule['keyword']}`")
                  for u in code.keys([rule["keyword"]]) if _matches(u.within, rule["call"])]
    for rule in cat["data_links"]:
        items += [use_evidence(u, f"registered data linked to the model (`{rule['keyword']}`)")
                  for u in code.keys([rule["keyword"]]) if _matches(u.within, rule["call"])]
    items += _bundled_data(code, cat)
    pointers = [] if items else _data_version_pointers(code, cat)
    if pointers:
        return common.unknown(
            "tracking.training_data", "a data version or manifest is recorded with the jobs, "
            "but what it versions lies outside the repository: check that it pins the data "
            "itself, not a pointer to data that can be overwritten", unique(pointers))
    return verdict("tracking.training_data", unique(items),
                   "DVC-tracked data, logged dataset inputs, dataset artifacts, Delta versions "
                   "or feature-store training sets", "dvc files, code and notebooks",
                   counter=not_counted(code, cat["calls"]), unparsed=code.unparsed, snap=snap)


def _bundled_data(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """Training on a dataset shipped with a library (``sklearn.datasets.load_*``, Keras
    datasets): the data is fixed by the library's version. Counts only when every script that
    fits a model also loads such a dataset; beside training on other data it decides
    nothing."""
    skip = common.name_matcher(cat["not_bundled"])
    bundled = [u for u in code.calls(tuple(cat["bundled_datasets"]), notebooks=False)
               if not skip(u.name)]
    if not bundled:
        return []
    fitting = {u.path for u in code.calls(tuple(cat["fit_calls"]), notebooks=False)}
    if not fitting or not fitting <= {u.path for u in bundled}:
        return []
    return [use_evidence(u, "trains on a dataset shipped with the library (fixed by its "
                            "version)") for u in bundled][:5]


def _data_version_pointers(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """Data versions or manifests recorded with jobs in scripts: tag keys and job arguments
    named like ``DataVersionId`` or ``--data-manifest``."""
    pattern = re.compile(cat["version_pointer"])
    return [use_evidence(u, "data version or manifest recorded with the job")
            for u in code.uses() if u.kind in ("key", "str") and len(u.name) < 40
            and pattern.search(u.name) and u.live and not u.notebook][:10]


def mutable_data_source(snap: Snapshot, code: CodeIndex) -> Fact:
    """Data read from a location whose content changes under the same address: a URL with
    ``/latest``, a raw file on a branch (raw.githubusercontent.com/.../main/, /blob/main/,
    /resolve/main/), ``?ref=main``; in read calls that run (URLs bound to names are followed)
    and in fetch commands of scripts and dvc.yaml."""
    cat = _cat()["mutable_data_source"]
    urls = re.compile("|".join(cat["urls"]))
    items = []
    for u in code.calls(tuple(cat["read_calls"])):
        hits = [m.group(0) for m in map(urls.search, strings_in(u, code.files[u.path])) if m]
        if hits:
            items.append(use_evidence(u, f"reads a mutable URL ({hits[0]})"))
    fetch = re.compile(cat["script_fetch"])
    items += [e for e in common.grep(snap, snap.glob(*cat["scripts"]), urls)
              if fetch.search(e.detail)]
    if items:
        return Fact("tracking.mutable_data_source", True, tuple(unique(items)[:20]))
    return Fact("tracking.mutable_data_source", False, (common.searched(
        "data reads from URLs with 'latest', raw branch URLs or ?ref=<branch>",
        "code, notebooks, shell scripts, Dockerfiles and dvc.yaml"),))


def _mentions_training(snap: Snapshot, path: str, pattern: re.Pattern[str]) -> bool:
    return bool(common.grep(snap, [path], pattern, limit=1))


def retraining(snap: Snapshot, code: CodeIndex) -> Fact:
    """Retraining scheduled or triggered: scheduled CI workflows that train, bundle/Terraform
    jobs with a schedule or trigger whose tasks train, Kubernetes CronJobs that train, Azure ML
    schedules, scheduling calls (Airflow DAG schedule, Dagster/Prefect/Kubeflow/Vertex/SageMaker
    schedules) in files about training, drift checks that start a training run, EventBridge
    rules (CloudFormation) that start a training pipeline on a schedule, an alarm or new data,
    and delivery pipelines whose source is a data location in a repository that defines
    training jobs. Paused schedules and disabled rules are counter-evidence."""
    cat = _cat()["retraining"]
    train = re.compile(cat["train"])
    items: list[Evidence] = []
    counter: list[Evidence] = []
    items += _scheduled_ci(snap, train)
    for y, _, name, body in bundle_resources(snap, ["jobs"]):
        triggers = [k for k in cat["bundle_trigger_keys"] if body.get(k)]
        if triggers and train.search(f"{name} {body.get('tasks')}"):
            paused = any(isinstance(v, dict) and v.get("pause_status") == "PAUSED"
                         for v in (body.get(k) for k in triggers))
            evidence = common.at(y.path, key_line(y.text, name),
                                 f"bundle job {name} trains on a {triggers[0]}")
            (counter if paused else items).append(
                Evidence(detail=f"paused: {evidence.detail}", path=y.path, line=evidence.line)
                if paused else evidence)
    tf, bad = terraform_blocks(snap)
    for b in tf:
        if b.kind == "resource" and b.type in cat["terraform"] and train.search(str(b.body)) \
                and any(k in b.body for k in ("schedule", "schedule_expression", "trigger")):
            items.append(common.at(b.path, b.line, f"scheduled training: {b.type}.{b.name}"))
    for y, doc in kind_docs(snap, ["CronJob"]):
        if train.search(str(doc.get("spec"))):
            items.append(common.at(y.path, key_line(y.text, "schedule"), "CronJob that trains"))
    for y in yaml_files(snap):
        for doc in y.docs:
            if isinstance(doc, dict) and doc.get("trigger") and doc.get("create_job") and \
                    train.search(y.text):
                items.append(common.at(y.path, key_line(y.text, "trigger"),
                                       "Azure ML schedule of a training job"))
    keywords = set(cat["schedule_keywords"]) | {"cron_expression", "triggers", "trigger"}
    for u in code.calls(tuple(cat["schedule_calls"]), notebooks=False):
        node = u.node
        scheduled = any(kw.arg in keywords and not _is_none(kw.value)
                        for kw in getattr(node, "keywords", []))
        if scheduled and _mentions_training(snap, u.path, train):
            items.append(use_evidence(u, "scheduled pipeline in a training file"))
    items += _drift_triggered(code, cat)
    rules, disabled = _event_rules(snap, cat, train)
    items += rules
    counter += disabled
    items += _data_sourced_pipelines(snap, code, cat, train)
    return verdict("tracking.retraining", unique(items),
                   "scheduled or triggered training (CI schedules, job schedules, DAG "
                   "schedules, drift-triggered runs)", "CI, bundles, Terraform, manifests and "
                   "code", counter=counter, unparsed=bad, snap=snap)


def _is_none(node: Any) -> bool:
    return isinstance(node, ast.Constant) and node.value in (None, False, "")


def _workflow_trigger(doc: Any) -> Any:
    # PyYAML reads the bare key `on` as True.
    return doc.get("on", doc.get(True)) if isinstance(doc, dict) else None


def _scheduled_ci(snap: Snapshot, train: re.Pattern[str]) -> list[Evidence]:
    """Scheduled CI pipelines whose steps train (GitHub ``on: schedule``, Azure ``schedules:``,
    GitLab jobs that run on the ``schedule`` pipeline source), and GitHub workflows started by
    a drift dispatch event that train."""
    items = []
    for path in ci_files(snap):
        parsed = snap.yaml(path)
        doc = parsed.value if parsed.ok and isinstance(parsed.value, dict) else None
        if doc is None:
            continue
        text = snap.text(path).value or ""
        trigger = _workflow_trigger(doc)
        steps = " ".join(str(v) for k, v, _ in walk(doc) if k in ("run", "script", "uses",
                                                                   "inputs", "with", "bash"))
        if not train.search(steps):
            continue
        if (isinstance(trigger, dict) and trigger.get("schedule")) or doc.get("schedules"):
            items.append(common.at(path, common.first_line(text, re.compile(r"cron")),
                                   "scheduled CI pipeline that trains"))
        elif isinstance(trigger, dict) and re.search(r"(?i)drift|retrain", str(
                trigger.get("repository_dispatch"))):
            items.append(common.at(path, common.first_line(text, re.compile("dispatch")),
                                   "training started by a drift/retrain dispatch event"))
        elif path.endswith(".gitlab-ci.yml") and re.search(r"schedule", str(doc)):
            items.append(common.at(path, common.first_line(text, re.compile("schedule")),
                                   "GitLab job on scheduled pipelines that trains"))
    return items


def _drift_triggered(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """A call that starts a training run/pipeline from code that checks drift (its enclosing
    function or module mentions drift)."""
    drift_word = re.compile(cat["drift_words"])
    items = []
    for u in code.calls(tuple(cat["trigger_calls"]), notebooks=False):
        names = u.owner.refs | {u.owner.name} if u.owner else code.files[u.path].module_refs
        if any(drift_word.search(n) for n in names):
            items.append(use_evidence(u, "run started when drift is detected"))
    return items


def _event_rules(snap: Snapshot, cat: dict[str, Any], train: re.Pattern[str]
                 ) -> tuple[list[Evidence], list[Evidence]]:
    """CloudFormation EventBridge rules that start a pipeline (CodePipeline, Step Functions,
    SageMaker) which trains, on a schedule, an alarm (a drift or metric alarm) or new objects in
    a bucket; rules on code changes are CI, not retraining. Whether the target trains is read
    from the target resource in the same template (its stages or steps), else from the
    template. Disabled rules are returned apart, as counter-evidence."""
    target = re.compile(cat["event_targets"])
    cfn, _ = cfn_resources(snap)
    by_name = {(b.path, b.name): b for b in cfn}
    items: list[Evidence] = []
    disabled: list[Evidence] = []
    for b in cfn:
        if b.type != "AWS::Events::Rule" or not isinstance(b.body, dict):
            continue
        arns = [str(t.get("Arn")) for t in as_list(b.body.get("Targets"))
                if isinstance(t, dict) and target.search(str(t.get("Arn")))]
        why = _event_trigger(b.body, cat)
        if not arns or not why:
            continue
        named = [by_name[(b.path, n)] for a in arns for n in re.findall(r"\$\{(\w+)", a)
                 if (b.path, n) in by_name]
        body = " ".join(str(t.body) for t in named) or (snap.text(b.path).value or "")
        if not train.search(body):
            continue
        evidence = common.at(b.path, b.line, f"{b.name}: a pipeline that trains is started by "
                                             f"{why}")
        if str(b.body.get("State", "")).upper() == "DISABLED":
            disabled.append(Evidence(f"disabled: {evidence.detail}", b.path, b.line))
        else:
            items.append(evidence)
    return items, disabled


def _event_trigger(body: dict[str, Any], cat: dict[str, Any]) -> str:
    """What an EventBridge rule reacts to ("a schedule", "an alarm", "new data in a bucket"), or
    "" for other events."""
    if body.get("ScheduleExpression"):
        return "a schedule"
    pattern = body.get("EventPattern")
    sources = as_list(pattern.get("source")) if isinstance(pattern, dict) else []
    return next((cat["event_sources"][s] for s in map(str, sources)
                 if s in cat["event_sources"]), "")


def _data_sourced_pipelines(snap: Snapshot, code: CodeIndex, cat: dict[str, Any],
                            train: re.Pattern[str]) -> list[Evidence]:
    """Delivery pipelines that run when data changes: a CodePipeline S3 source action on a data
    location (named for data or a manifest; CloudFormation, or CDK ``S3SourceAction`` in
    Python code or TypeScript text), in a repository whose code defines training jobs or whose
    pipeline has a training stage. Sources that do not poll and are not triggered
    (PollForSourceChanges false, S3Trigger.NONE) are left to the event rules that start
    them."""
    words = re.compile(cat["data_words"])
    trains = bool(code.calls(tuple(cat["training_jobs"]), notebooks=False))
    items: list[Evidence] = []
    cfn, _ = cfn_resources(snap)
    for b in cfn:
        if b.type != "AWS::CodePipeline::Pipeline" or not (trains or train.search(str(b.body))):
            continue
        for _, action, _ in walk(b.body):
            if isinstance(action, dict) and _s3_source(action) and words.search(str(action)):
                items.append(common.at(b.path, b.line, f"{b.name}: runs when the data source "
                                                       f"{action.get('Name', '')} changes"))
                break
    if not trains:
        return items
    for u in code.calls(("*.S3SourceAction",), notebooks=False):
        named = " ".join([*strings_in(u, code.files[u.path]), *(
            ast.unparse(k.value) for k in getattr(u.node, "keywords", []))])
        if words.search(named) and "S3Trigger.NONE" not in named:
            items.append(use_evidence(u, "pipeline source on a data location: new data starts "
                                         "the pipeline that trains"))
    return items + _cdk_typescript_sources(snap, words)


def _cdk_typescript_sources(snap: Snapshot, words: re.Pattern[str]) -> list[Evidence]:
    """``new S3SourceAction({...})`` in CDK TypeScript whose arguments (read as text, up to the
    first closing parenthesis) name a data location and do not switch the trigger off;
    commented-out lines do not count."""
    call = re.compile(r"S3SourceAction\s*\(")
    skip = set(snap.glob(*common.NOT_PROJECT_CODE))
    items = []
    for path in snap.glob("**/*.ts"):
        text = snap.text(path) if path not in skip and not path.endswith(".d.ts") else None
        if text is None or not text.ok or "S3SourceAction" not in text.value:
            continue
        lines = text.value.split("\n")
        for match in call.finditer(text.value):
            args = text.value[match.end():match.end() + 600].split(")", 1)[0]
            line = text.value.count("\n", 0, match.start()) + 1
            if words.search(args) and "S3Trigger.NONE" not in args and \
                    not common.is_comment(lines[line - 1], "//"):
                items.append(common.at(path, line, "pipeline source on a data location: new "
                                                   "data starts the pipeline that trains"))
    return items


def _s3_source(action: dict[str, Any]) -> bool:
    """A CodePipeline action that takes its input from S3 and polls for changes."""
    kind = action.get("ActionTypeId")
    config = action.get("Configuration")
    polls = not isinstance(config, dict) or str(config.get("PollForSourceChanges", "true")
                                                ).lower() != "false"
    return isinstance(kind, dict) and kind.get("Provider") == "S3" and \
        kind.get("Category") == "Source" and polls


def rollback(snap: Snapshot, code: CodeIndex) -> Fact:
    """A way back to an earlier model version: registry aliases/stages pointed at a chosen
    version (promoting the version just registered is not a way back) or followed by model
    URIs (models:/name@alias, /Production; notebooks do not deploy, so they do not count),
    SageMaker blue/green with auto roll-back (code, Terraform, CloudFormation), CodeDeploy
    traffic shifting that rolls back on alarms or hooks, Argo Rollouts / Flagger canaries,
    KServe canary traffic, helm rollback / rollout undo / helm --atomic, deployments
    parametrised by model version, CI roll-back stages, and deploy pipelines that take the
    model version or build to deploy as a parameter."""
    cat = _cat()["rollback"]
    items, promotions = _registry_pointers(code, cat)
    items += [use_evidence(u, "deployment roll-back setting")
              for u in code.keys(cat["keys"], notebooks=False)]
    items += [use_evidence(u, "model deployed by alias/stage/version")
              for u in code.strings(re.compile(cat["model_uri"]), notebooks=False)]
    iac, bad = _iac_rollback(snap, cat)
    items += iac
    items += _manifest_rollback(snap, cat)
    items += common.grep(snap, _pipeline_files(snap) + snap.glob(*cat["command_files"]),
                         re.compile(cat["commands"]))
    items += _ci_rollback(snap, cat)
    return verdict("tracking.rollback", unique(items),
                   "registry aliases/stages, blue/green with auto roll-back, progressive "
                   "delivery or roll-back commands", "code, IaC, manifests, bundles and CI",
                   counter=[*promotions, *not_counted(code, cat["calls"], notebooks=False), *(
                       use_evidence(u, "not counted (notebook)")
                       for u in code.calls(tuple(cat["calls"]), live=None) if u.notebook)],
                   unparsed=bad, snap=snap)


def _registry_pointers(code: CodeIndex, cat: dict[str, Any]
                       ) -> tuple[list[Evidence], list[Evidence]]:
    """Registry alias/stage calls in scripts, split into ways back (the version is chosen:
    a literal, a parameter, a CLI argument, an environment variable, a widget) and promotions
    (the version comes from the registry call that just produced or looked it up): moving the
    alias to the newest version leaves no coded way to an earlier one."""
    chosen: list[Evidence] = []
    promoted: list[Evidence] = []
    for u in code.calls(tuple(cat["calls"]), notebooks=False):
        how = _version_choice(code, u, cat)
        if how:
            chosen.append(use_evidence(u, f"registry alias/stage set to a version {how}"))
        else:
            promoted.append(use_evidence(u, "not counted: promotes the version just produced "
                                            "or looked up, no way back to an earlier one"))
    return chosen, promoted


def _version_choice(code: CodeIndex, u: Use, cat: dict[str, Any]) -> str:
    """How the version argument of an alias/stage call is chosen ("written in the code",
    "given as input", "passed as a parameter"), or "" when it is not chosen by a person."""
    node = u.node
    if not isinstance(node, ast.Call):
        return ""
    position = cat["version_position"].get(u.name.rsplit(".", 1)[-1])
    arg = next((kw.value for kw in node.keywords if kw.arg == "version"), None)
    if arg is None and position is not None and len(node.args) > position:
        arg = node.args[position]
    while isinstance(arg, ast.Call) and len(arg.args) == 1 and isinstance(arg.func, ast.Name) \
            and arg.func.id in ("str", "int"):
        arg = arg.args[0]
    if arg is None:
        return ""
    if isinstance(arg, ast.Constant):
        return "written in the code"
    resolved = dotted(arg, code.files[u.path], _scopes(code, u)) or ""
    if re.search(cat["chosen_version"], resolved):
        return "given as input"
    if isinstance(arg, ast.Name) and resolved == arg.id and _is_parameter(code, u, arg.id):
        return "passed as a parameter"
    return ""


def _is_parameter(code: CodeIndex, u: Use, name: str) -> bool:
    """NAME is a parameter of a function around the use."""
    owner = u.owner
    while owner is not None:
        node = owner.node
        if not isinstance(node, ast.ClassDef):
            a = node.args
            if name in {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}:
                return True
        owner = code.defs.get(owner.parent) if owner.parent else None
    return False


def _iac_rollback(snap: Snapshot, cat: dict[str, Any]) -> tuple[list[Evidence], list[str]]:
    """Roll-back settings in Terraform and CloudFormation (blue/green with auto roll-back,
    AutoRollbackConfiguration), Terraform deployments parametrised by model version, and SAM
    DeploymentPreference traffic shifting (canary/linear) with alarms or hooks, which CodeDeploy
    rolls back to the previous version when they fail."""
    keys = set(cat["keys"])
    tf, bad = terraform_blocks(snap)
    cfn, cfn_bad = cfn_resources(snap)
    items = []
    for b in [*tf, *cfn]:
        hit = next((k for k, _, _ in walk(b.body) if k in keys), None)
        if hit:
            items.append(common.at(b.path, b.line, f"{b.type}.{b.name}: {hit}"))
    version_var = re.compile(cat["version_var"])
    for b in tf:
        for k, v, _ in walk(b.body):
            if k in cat["version_keys"] and version_var.search(str(v)):
                items.append(common.at(b.path, b.line, f"{b.type}.{b.name}: {k} = {v}"))
    shifting = re.compile(cat["shifting_types"])
    for b in cfn:
        pref = b.body.get("DeploymentPreference") if isinstance(b.body, dict) else None
        if isinstance(pref, dict) and shifting.search(str(pref.get("Type", ""))) and (
                pref.get("Alarms") or pref.get("Hooks")):
            items.append(common.at(b.path, b.line, f"{b.name}: {pref['Type']} traffic shifting "
                                                   "rolls back on alarms/hooks"))
    return items, [*bad, *cfn_bad]


def _manifest_rollback(snap: Snapshot, cat: dict[str, Any]) -> list[Evidence]:
    """YAML deployments by model version variable, KServe canaries (the previous revision is
    kept), and progressive-delivery kinds (Argo Rollouts, Flagger canaries)."""
    version_var = re.compile(cat["version_var"])
    items = []
    for y in yaml_files(snap):
        for doc in y.docs:
            for k, v, _ in walk(doc):
                if k in cat["version_keys"] and version_var.search(str(v)):
                    items.append(common.at(y.path, key_line(y.text, k),
                                           f"deployed by model version variable: {k}: {v}"))
                elif k == cat["kserve_key"]:
                    items.append(common.at(y.path, key_line(y.text, k),
                                           f"KServe canary ({k}) keeps the previous revision"))
    items += [common.at(y.path, key_line(y.text, "kind"), f"progressive delivery: kind "
                                                          f"{doc.get('kind')}")
              for y, doc in kind_docs(snap, cat["kinds"])]
    return items


_JOB_NAMES = ("stage", "job", "deployment", "name", "displayName")
_JOB_BODIES = ("steps", "script", "jobs", "strategy", "run")


def _ci_rollback(snap: Snapshot, cat: dict[str, Any]) -> list[Evidence]:
    """CI stages and jobs named for roll-back that run something (Azure stages/jobs, GitHub
    and GitLab jobs), and deploy pipelines whose parameter or input selects the model version
    or build to deploy, so an earlier one can be deployed again."""
    job = re.compile(cat["rollback_job"])
    items = []
    for path in _pipeline_files(snap):
        parsed = snap.yaml(path)
        text = snap.text(path).value or ""
        if not parsed.ok or not isinstance(parsed.value, dict):
            continue
        for k, v, mapping in walk(parsed.value):
            name, body = (v, mapping) if k in _JOB_NAMES and isinstance(v, str) else (k, v)
            if job.search(name) and isinstance(body, dict) and any(
                    body.get(b) for b in _JOB_BODIES):
                items.append(common.at(path, common.first_line(text, re.compile(
                    re.escape(name))), f"roll-back stage or job `{name}`"))
        items += _version_parameters(path, parsed.value, text, cat)
    return unique(items)


def _pipeline_files(snap: Snapshot) -> list[str]:
    """CI files, with Azure Pipelines files found where the ci check looks for them (named
    pipeline files, and files in pipeline folders whose YAML holds stages, jobs or steps) and
    the local files GitLab CI includes."""
    files: list[str] = snap.memo("tracking.pipeline_files", lambda: _find_pipeline_files(snap))
    return files


def _find_pipeline_files(snap: Snapshot) -> list[str]:
    globs = common.catalogue("ci")["files"]
    found = []
    for path in snap.glob(*globs["azure-pipelines"], *globs["azure-sniff"]):
        doc = snap.yaml(path).value
        if isinstance(doc, dict) and any(isinstance(doc.get(k), list)
                                         for k in ("stages", "jobs", "steps")):
            found.append(path)
    for path in snap.glob(*globs["gitlab-ci"]):
        doc = snap.yaml(path).value
        for item in as_list(doc.get("include") if isinstance(doc, dict) else None):
            local = item.get("local") if isinstance(item, dict) else item
            if isinstance(local, str) and snap.exists(local.lstrip("/")):
                found.append(local.lstrip("/"))
    return list(dict.fromkeys([*ci_files(snap), *found]))


def _version_parameters(path: str, doc: dict[str, Any], text: str, cat: dict[str, Any]
                        ) -> list[Evidence]:
    """Parameters of an Azure pipeline or inputs of a manually started/called GitHub workflow
    that name the model version, artifact build or run to deploy, in a file that deploys and
    uses them."""
    if not re.search(cat["deploy_words"], text):
        return []
    names = [str(p.get("name")) for p in as_list(doc.get("parameters")) if isinstance(p, dict)]
    trigger = _workflow_trigger(doc)
    for event in ("workflow_dispatch", "workflow_call"):
        spec = trigger.get(event) if isinstance(trigger, dict) else None
        inputs = spec.get("inputs") if isinstance(spec, dict) else None
        names += [str(n) for n in inputs] if isinstance(inputs, dict) else []
    param = re.compile(cat["version_parameter"])
    return [common.at(path, common.first_line(text, re.compile(rf"\b{re.escape(n)}\b")),
                      f"deploys the model version or build given as parameter `{n}`")
            for n in names if param.search(n) and text.count(n) >= 2]
