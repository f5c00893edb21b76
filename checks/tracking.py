"""Traceability of runs and models (2.2.7.x), retraining (2.2.8) and roll-back (2.2.9): which
commit, environment, model artifact and training data a run used, and how models are replaced.

Code counts only where it runs (see monitoring's code index): imports without calls, calls in
stubs, under ``if False:`` or in functions nothing calls are counter-evidence, never support.
"""

from __future__ import annotations

import ast
import re
from pathlib import PurePosixPath
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.codeindex import (
    CodeIndex,
    Use,
    code_index,
    matcher,
    not_counted,
    strings_in,
    use_evidence,
)
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
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "tracking.tools": "experiment/lineage tools in use: mlflow, dvc, wandb, sagemaker, vertex, "
                      "azureml, databricks, neptune, comet, clearml",
    "tracking.code_commit": "runs/models record the git commit (MLflow runs from a git checkout, "
                            "explicit commit tags, dvc.lock, W&B/ClearML/Neptune/Comet runs, "
                            "${bundle.git.commit}, image tags with the commit sha)",
    "tracking.environment": "the environment is recorded with the run/model (MLflow log_model "
                            "requirements, MLproject environment, conda.yaml beside a model, a "
                            "container image per run)",
    "tracking.model_artifacts": "model artifacts are versioned (log_model/register_model, DVC "
                                "outs, W&B model artifacts, SageMaker model packages, Vertex "
                                "Model.upload, Azure ML models, bundle registered models)",
    "tracking.training_data": "training data is versioned or logged with the run (DVC-tracked "
                              "data, mlflow.log_input, W&B artifacts, Delta time travel, feature "
                              "store training sets)",
    "tracking.mutable_data_source": "training data is read from a mutable location (a URL with "
                                    "'latest', a raw branch URL, ?ref=main)",
    "tracking.retraining": "retraining is scheduled or triggered (scheduled training job, "
                           "pipeline schedule, drift-triggered run)",
    "tracking.rollback": "a roll-back mechanism exists (registry aliases/stages, blue/green with "
                         "auto roll-back, Argo Rollouts/Flagger, helm rollback, deploy by version)",
}


def collect(snap: Snapshot) -> list[Fact]:
    code = code_index(snap)
    return [tools(snap, code), code_commit(snap, code), environment(snap, code),
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
    """The commit is recorded: MLflow runs started from scripts (MLflow stores
    mlflow.source.git.commit automatically in a git checkout), ``mlflow run`` projects, tools
    that record the commit (W&B, ClearML, Neptune, Comet), explicit commit tags, commit
    variables read in code, dvc.lock (pins outputs to the commit), ``${bundle.git.commit}`` and
    image tags or labels carrying the commit sha in CI and container files."""
    cat = _cat()["code_commit"]
    items: list[Evidence] = []
    runs = code.calls(tuple(cat["mlflow_runs"]), notebooks=False)
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
    places = ci_files(snap) + snap.glob("Dockerfile*", "**/Dockerfile*", "Makefile", "*.sh")
    items += [e for e in common.grep(snap, places, ref)
              if context.search(e.detail) and ref.search(_without_comment(e.detail))]
    items += common.grep(snap, [y.path for y in yaml_files(snap)],
                         re.compile(r"\$\{bundle\.git\.commit\}"))
    return verdict("tracking.code_commit", unique(items),
                   "MLflow runs in scripts, commit tags, dvc.lock, W&B runs or commit shas in "
                   "image tags", "code, dvc.lock, MLproject, CI, Dockerfiles and bundle YAML",
                   counter=not_counted(code, cat["mlflow_runs"], ("mlflow", "wandb")),
                   unparsed=code.unparsed, snap=snap)


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
    for rule in cat["keyword_calls"]:
        for u in code.keys([rule["keyword"]]):
            if _matches(u.within, rule["call"]):
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
                   counter=not_counted(code, list(cat["calls"]), ("mlflow",)),
                   unparsed=code.unparsed, snap=snap)


def _matches(name: str, pattern: str) -> bool:
    return matcher((pattern,))(name)


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
    Neptune, BentoML, Hugging Face Hub), registration in SageMaker/Vertex/Azure ML/Databricks
    (code, IaC, bundles, CLI commands), W&B artifacts of type model, DVC-tracked model files."""
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
    items += common.grep(snap, ci_files(snap) + snap.glob("*.sh", "Makefile"),
                         re.compile(cat["commands"]))
    return verdict("tracking.model_artifacts", unique(items),
                   "model logging/registration, model packages, model artifacts or DVC-tracked "
                   "models", "code, notebooks, dvc files, IaC, bundles and CI",
                   counter=not_counted(code, cat["calls"], ("mlflow", "wandb")),
                   unparsed=[*bad, *cfn_bad, *code.unparsed], snap=snap)


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
    store training sets, registered datasets (Azure ML, Vertex, ClearML)."""
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
    return verdict("tracking.training_data", unique(items),
                   "DVC-tracked data, logged dataset inputs, dataset artifacts, Delta versions "
                   "or feature-store training sets", "dvc files, code and notebooks",
                   counter=not_counted(code, cat["calls"]), unparsed=code.unparsed, snap=snap)


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
    schedules) in files about training, and drift checks that start a training run. Paused
    schedules are counter-evidence."""
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


def rollback(snap: Snapshot, code: CodeIndex) -> Fact:
    """A way back to the previous model: registry aliases/stages set from code or used in model
    URIs (models:/name@alias, /Production; notebooks do not deploy, so they do not count),
    SageMaker blue/green with auto roll-back (code,
    Terraform, CloudFormation), Argo Rollouts / Flagger canaries, KServe canary traffic,
    helm rollback / rollout undo / helm --atomic, deployments parametrised by model version."""
    cat = _cat()["rollback"]
    items = [use_evidence(u, "registry alias/stage")
             for u in code.calls(tuple(cat["calls"]), notebooks=False)]
    items += [use_evidence(u, "deployment roll-back setting")
              for u in code.keys(cat["keys"], notebooks=False)]
    items += [use_evidence(u, "model deployed by alias/stage/version")
              for u in code.strings(re.compile(cat["model_uri"]), notebooks=False)]
    keys = set(cat["keys"])
    tf, bad = terraform_blocks(snap)
    cfn, cfn_bad = cfn_resources(snap)
    for b in [*tf, *cfn]:
        hit = next((k for k, _, _ in walk(b.body) if k in keys), None)
        if hit:
            items.append(common.at(b.path, b.line, f"{b.type}.{b.name}: {hit}"))
    version_var = re.compile(cat["version_var"])
    for b in tf:
        for k, v, _ in walk(b.body):
            if k in cat["version_keys"] and version_var.search(str(v)):
                items.append(common.at(b.path, b.line, f"{b.type}.{b.name}: {k} = {v}"))
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
    items += common.grep(snap, ci_files(snap) + snap.glob(*cat["command_files"]),
                         re.compile(cat["commands"]))
    return verdict("tracking.rollback", unique(items),
                   "registry aliases/stages, blue/green with auto roll-back, progressive "
                   "delivery or roll-back commands", "code, IaC, manifests, bundles and CI",
                   counter=[*not_counted(code, cat["calls"], notebooks=False), *(
                       use_evidence(u, "not counted (notebook)")
                       for u in code.calls(tuple(cat["calls"]), live=None) if u.notebook)],
                   unparsed=[*bad, *cfn_bad], snap=snap)
