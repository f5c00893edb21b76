"""Feature store (5.x): which feature store is used, whether transformations are shared by
training and serving, defined in configuration, tracked per model and resolved by the store.

Code counts only where it runs (see monitoring's code index).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.codeindex import (
    CodeIndex,
    Definition,
    code_index,
    not_counted,
    use_evidence,
)
from mlops_auditor.checks.configfiles import (
    cfn_resources,
    key_line,
    terraform_blocks,
    unique,
    verdict,
    yaml_files,
)
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "featurestore.present": "a feature store is defined or used (Feast repository, Databricks "
                            "Feature Engineering, Hopsworks, Tecton, SageMaker/Vertex/Azure ML "
                            "feature stores)",
    "featurestore.tools": "feature stores found: feast, databricks-feature-engineering, "
                          "hopsworks, tecton, sagemaker-feature-store, vertex-feature-store, "
                          "azureml-feature-store",
    "featurestore.shared_transforms": "the same transformation code serves training and "
                                      "serving (one project module called by both, or "
                                      "transformations computed by the store)",
    "featurestore.config_separate": "feature definitions live in configuration (a Feast "
                                    "repository, YAML/JSON feature configs) apart from "
                                    "transformation code",
    "featurestore.usage_tracked": "which model uses which features is recorded (Feast/Tecton "
                                  "FeatureService, Databricks FE log_model with a training set, "
                                  "Hopsworks feature views)",
    "featurestore.dependencies_managed": "the feature store resolves feature dependencies "
                                         "(Feast, Tecton, Databricks FE, Hopsworks in use)",
}


def collect(snap: Snapshot) -> list[Fact]:
    code = code_index(snap)
    found = stores(snap, code)
    names = tuple(sorted(found))
    evidence = [e for items in found.values() for e in items[:2]]
    where = "code, notebooks, feature_store.yaml, Terraform and CloudFormation"
    present = verdict("featurestore.present", evidence, "feature store definitions or calls",
                      where, counter=not_counted(code, _all_tool_patterns(), (
                          "feast", "hopsworks", "hsfs", "tecton")),
                      unparsed=_feast_unparsed(snap), snap=snap)
    tools = common.value("featurestore.tools", names, evidence or [common.searched(
        "feature store definitions or calls", where)])
    return [present, tools, shared_transforms(snap, code), config_separate(snap, code),
            usage_tracked(snap, code), dependencies_managed(found)]


def _cat() -> dict[str, Any]:
    return common.catalogue("featurestore")


def _all_tool_patterns() -> list[str]:
    return [p for patterns in _cat()["tools"].values() for p in patterns]


def stores(snap: Snapshot, code: CodeIndex) -> dict[str, list[Evidence]]:
    """Feature store -> evidence: calls that run (definitions, clients, lookups), a Feast
    feature_store.yaml with project, registry and provider, and feature-store resources in
    Terraform/CloudFormation."""
    cat = _cat()
    found: dict[str, list[Evidence]] = {}
    for tool, patterns in cat["tools"].items():
        uses = code.calls(tuple(patterns))
        if uses:
            found.setdefault(tool, []).extend(use_evidence(u, tool) for u in uses[:3])
    feast_config = _feast_configs(snap)
    if feast_config:
        found.setdefault("feast", []).extend(
            common.at(p, 1, "Feast feature_store.yaml (project, registry, provider)")
            for p in feast_config)
    tf, _ = terraform_blocks(snap)
    for tool, types in cat["terraform"].items():
        for b in tf:
            if b.kind == "resource" and b.type in types:
                found.setdefault(tool, []).append(
                    common.at(b.path, b.line, f"resource {b.type}.{b.name}"))
    cfn, _ = cfn_resources(snap)
    for tool, types in cat["cloudformation"].items():
        for b in cfn:
            if b.type in types:
                found.setdefault(tool, []).append(common.at(b.path, b.line, f"{b.type} {b.name}"))
    return found


def _feast_configs(snap: Snapshot) -> list[str]:
    """feature_store.yaml files that name a project, a registry and a provider."""
    cat = _cat()["feast"]
    paths = []
    for path in snap.glob(*cat["config_files"]):
        parsed = snap.yaml(path)
        if parsed.ok and isinstance(parsed.value, dict) and all(
                parsed.value.get(k) for k in cat["config_keys"]):
            paths.append(path)
    return paths


def _feast_unparsed(snap: Snapshot) -> list[str]:
    return snap.glob(*_cat()["feast"]["config_files"])


def shared_transforms(snap: Snapshot, code: CodeIndex) -> Fact:
    """Training and serving share transformations: transformations the store computes at both
    times (Feast on-demand views, Databricks FeatureFunction, Tecton realtime views, Hopsworks
    transformation functions), or one project module of transformation functions whose
    functions both training code (fit/train calls, notebooks included) and serving/inference
    code (serving files, files that predict but do not train) call, imports resolved."""
    cat = _cat()
    items = [use_evidence(u, "transformation computed by the feature store")
             for u in code.calls(tuple(cat["store_transforms"]))]
    items += _shared_modules(code, cat["shared"])
    items += _bundled_transforms(code, cat["bundled"])
    return verdict("featurestore.shared_transforms", unique(items),
                   "store-computed transformations, a transformation module called by both "
                   "training and serving code, or a model saved with its transformation steps",
                   "code and notebooks",
                   unparsed=code.unparsed, snap=snap)


def _bundled_transforms(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """A model saved with its transformation steps: an sklearn Pipeline (two or more steps) in a
    script that saves or logs a model, or a SageMaker PipelineModel of two or more models. What
    is served is the fitted pipeline, so serving transforms inputs with the training code."""
    savers = {u.path for u in code.calls(tuple(cat["savers"]), notebooks=False)}
    items: list[Evidence] = []
    for u in code.calls(tuple(cat["pipelines"]), notebooks=False):
        call = u.node
        steps = len(call.args[0].elts) if isinstance(call, ast.Call) and call.args and \
            isinstance(call.args[0], ast.List) else len(getattr(call, "args", []))
        if u.path in savers and steps >= 2:
            items.append(use_evidence(u, "the model is saved as a pipeline with its "
                                         "transformation steps"))
    for u in code.calls(tuple(cat["pipeline_models"]), notebooks=False):
        models = next((kw.value for kw in getattr(u.node, "keywords", [])
                       if kw.arg == "models"), None)
        if isinstance(models, ast.List) and len(models.elts) >= 2:
            items.append(use_evidence(u, "served as a pipeline model whose first container is "
                                         "the fitted preprocessor"))
    return items


def _shared_modules(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    trains = {u.path for u in code.calls(tuple(cat["training_calls"]))}
    serves = {f.path for f in code.serving_files()}
    serves |= {u.path for u in code.calls(tuple(cat["inference_calls"]), notebooks=False)
               if u.path not in trains}
    trains -= serves
    words = re.compile(cat["transform_words"])

    def used(paths: set[str]) -> dict[str, dict[str, set[str]]]:
        """Module path -> function name -> calling files, for project functions called."""
        result: dict[str, dict[str, set[str]]] = {}
        for u in code.uses():
            if u.kind != "call" or u.path not in paths or not u.live:
                continue
            for d in code.resolve(u.path, u.name):
                if _transform(d) and d.path != u.path and d.path not in paths:
                    result.setdefault(d.path, {}).setdefault(d.name, set()).add(u.path)
        return result

    by_training, by_serving = used(trains), used(serves)
    items = []
    for module in sorted(by_training.keys() & by_serving.keys()):
        functions = sorted(by_training[module].keys() & by_serving[module].keys()) or sorted(
            by_training[module].keys() | by_serving[module].keys())
        if not (words.search(module) or any(words.search(f) for f in functions)):
            continue
        trainer = sorted(set().union(*by_training[module].values()))[0]
        server = sorted(set().union(*by_serving[module].values()))[0]
        items.append(common.at(module, None, f"transformations ({', '.join(functions[:4])}) "
                                             f"called by training ({trainer}) and serving "
                                             f"({server})"))
    return items


def _transform(d: Definition) -> bool:
    return d.kind in ("function", "class") and not d.stub and d.cell is None


def config_separate(snap: Snapshot, code: CodeIndex) -> Fact:
    """Feature definitions kept in configuration: a Feast repository (feature_store.yaml plus
    entity/feature-view definitions that run), or YAML/JSON files whose content lists features
    (a ``features:``-style key with a non-empty list or mapping)."""
    cat = _cat()
    items: list[Evidence] = []
    definitions = code.calls(tuple(cat["feast"]["definitions"]), notebooks=False)
    configs = _feast_configs(snap)
    if configs and definitions:
        items.append(common.at(configs[0], 1, f"Feast repository: feature_store.yaml with "
                                              f"definitions in {definitions[0].path}"))
    key = re.compile(cat["config"]["feature_key"])
    skip = set(snap.glob(*cat["config"]["skip"], *cat["feast"]["config_files"]))
    for y in yaml_files(snap):
        if y.path in skip:
            continue
        hit = _feature_key(y.docs, key)
        if hit:
            items.append(common.at(y.path, key_line(y.text, hit), f"feature configuration "
                                                                  f"`{hit}`"))
    for path in snap.glob("**/*feature*.json"):
        if path in skip or snap.size(path) > 1024 * 1024:
            continue
        parsed = snap.json(path)
        hit = _feature_key((parsed.value,), key) if parsed.ok else None
        if hit:
            items.append(common.at(path, None, f"feature configuration `{hit}`"))
    return verdict("featurestore.config_separate", unique(items),
                   "a Feast repository or YAML/JSON feature definitions",
                   "feature_store.yaml, YAML and JSON files",
                   unparsed=_feast_unparsed(snap), snap=snap)


def _feature_key(docs: tuple[Any, ...], key: re.Pattern[str]) -> str | None:
    """A key naming features whose value is a non-empty list or mapping, at most two levels
    deep (``features:`` or ``featurize: {features: [...]}``)."""
    for doc in docs:
        levels = [doc] if isinstance(doc, dict) else []
        levels += [v for v in doc.values() if isinstance(v, dict)] if isinstance(doc, dict) else []
        for mapping in levels:
            for k, v in mapping.items():
                if key.match(str(k)) and isinstance(v, (list, dict)) and v:
                    return str(k)
    return None


def usage_tracked(snap: Snapshot, code: CodeIndex) -> Fact:
    """Feature use recorded per model: Feast/Tecton FeatureService definitions, Hopsworks
    feature views, Databricks Feature Engineering log_model with a training set (the model
    carries its feature lineage)."""
    cat = _cat()["usage_tracked"]
    items = [use_evidence(u, "features used by a model declared")
             for u in code.calls(tuple(cat["calls"]))]
    log_model = common.name_matcher(cat["log_model_calls"])
    for u in code.keys([cat["log_model_keyword"]]):
        if log_model(u.within):
            items.append(use_evidence(u, "model logged with its training set (feature lineage)"))
    return verdict("featurestore.usage_tracked", unique(items),
                   "FeatureService definitions, feature views or log_model with a training set",
                   "code and notebooks", counter=not_counted(code, cat["calls"]),
                   unparsed=code.unparsed, snap=snap)


def dependencies_managed(found: dict[str, list[Evidence]]) -> Fact:
    """True when a store that resolves feature dependencies itself is in use (Feast, Tecton,
    Databricks Feature Engineering, Hopsworks); the evidence names the mechanism."""
    mechanisms = _cat()["dependencies"]
    items = []
    for tool, evidence in sorted(found.items()):
        if tool in mechanisms and evidence:
            first = evidence[0]
            items.append(Evidence(detail=common.excerpt(f"{mechanisms[tool]} ({first.detail})"),
                                  path=first.path, line=first.line))
    if items:
        return Fact("featurestore.dependencies_managed", True, tuple(items))
    detail = (f"feature stores found ({', '.join(sorted(found))}) do not resolve feature "
              "dependencies themselves" if found else None)
    return Fact("featurestore.dependencies_managed", False, (
        common.searched("Feast, Tecton, Databricks Feature Engineering or Hopsworks in use",
                        "code, notebooks and feature store configuration"),
        *([Evidence(detail=detail)] if detail else [])))
