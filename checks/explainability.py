"""Explainability (6.x): explanation libraries that run, explanations served with predictions,
and out-of-distribution / low-confidence handling on the serving path.

An explanation computed in a notebook or in offline code counts as a library in use, not as an
explanation served: only serving code (route handlers, model-server classes and what they call)
or a response schema carrying explanation fields counts for ``in_serving``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.codeindex import (
    CodeIndex,
    code_index,
    not_counted,
    use_evidence,
)
from mlops_auditor.checks.configfiles import (
    cfn_resources,
    key_line,
    kind_docs,
    unique,
    verdict,
    walk,
    yaml_files,
)
from mlops_auditor.checks.monitoring import (
    confidence_gates,
    fallback_gates,
)
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "explainability.libraries": "explanation libraries/services called where code runs "
                                "(shap, lime, captum, interpret, alibi, dalex, eli5, "
                                "sagemaker-clarify, vertex-explanations, azureml-interpret, "
                                "sklearn-inspection)",
    "explainability.in_serving": "explanations are produced on the serving path (explanation "
                                 "calls in serving code, online explainers, or a response "
                                 "schema with explanation fields)",
    "explainability.ood": "out-of-distribution or low-confidence inputs are handled on the "
                          "serving path (confidence gates, outlier/drift detectors, conformal "
                          "prediction)",
}


def collect(snap: Snapshot) -> list[Fact]:
    code = code_index(snap)
    return [libraries(snap, code), in_serving(snap, code), ood(snap, code)]


def _cat() -> dict[str, Any]:
    return common.catalogue("explainability")


def _all_patterns() -> tuple[str, ...]:
    return tuple(p for patterns in _cat()["libraries"].values() for p in patterns)


def libraries(snap: Snapshot, code: CodeIndex) -> Fact:
    """Explanation libraries whose calls run (notebooks count), explanation settings passed in
    code (Vertex explanation_spec, SageMaker explainer_config) and explanation keys in YAML/JSON
    or CloudFormation configuration, and explainers in KServe/Seldon manifests."""
    cat = _cat()
    found: dict[str, Evidence] = {}
    for name, patterns in cat["libraries"].items():
        uses = code.calls(tuple(patterns))
        if uses:
            found[name] = use_evidence(uses[0], name)
    for u in code.keys(cat["keys"]):
        found.setdefault(cat["keys"][u.name], use_evidence(u, cat["keys"][u.name]))
    for path, line, name, what in _config_explanations(snap):
        found.setdefault(name, common.at(path, line, what))
    for path, line, name, what in _served_explainers(snap):
        found.setdefault(name, common.at(path, line, what))
    if found:
        return Fact("explainability.libraries", tuple(sorted(found)), tuple(found.values()))
    return Fact("explainability.libraries", (), (
        common.searched("calls of explanation libraries or explanation settings",
                        "code, notebooks and configuration"),
        *not_counted(code, _all_patterns(), ("shap", "lime", "captum", "interpret", "alibi",
                                             "dalex", "eli5"))))


def _config_explanations(snap: Snapshot) -> list[tuple[str, int | None, str, str]]:
    """(path, line, library, detail) for explanation keys in YAML/JSON and CloudFormation."""
    keys = _cat()["config_keys"]
    found = []
    for y in yaml_files(snap):
        hit = next((k for doc in y.docs for k, v, _ in walk(doc) if k in keys and v), None)
        if hit:
            found.append((y.path, key_line(y.text, hit), keys[hit], f"{hit} in configuration"))
    cfn, _ = cfn_resources(snap)
    for b in cfn:
        hit = next((k for k, v, _ in walk(b.body) if k in keys and v), None)
        if hit:
            found.append((b.path, b.line, keys[hit], f"{b.type} {b.name}: {hit}"))
    return found


def _served_explainers(snap: Snapshot) -> list[tuple[str, int | None, str, str]]:
    """Explainers deployed next to a model: KServe InferenceService ``spec.explainer``, Seldon
    ``explainer`` on a predictor, SageMaker endpoint ExplainerConfig (online explainability)."""
    found = []
    for y, doc in kind_docs(snap, _cat()["serving_kinds"]):
        for key, val, _ in walk(doc.get("spec")):
            if key == "explainer" and val:
                kind = next(iter(val), "explainer") if isinstance(val, dict) else "explainer"
                name = "alibi" if kind == "alibi" or "alibi" in str(val).lower() else \
                    f"{str(doc.get('kind')).lower()}-explainer"
                found.append((y.path, key_line(y.text, "explainer"), name,
                              f"{doc.get('kind')} explainer ({kind})"))
                break
    serving_keys = set(_cat()["serving_keys"])
    cfn, _ = cfn_resources(snap)
    for b in cfn:
        if any(k in serving_keys and v for k, v, _ in walk(b.body)):
            found.append((b.path, b.line, "sagemaker-clarify",
                          f"{b.type} {b.name}: online explainability (ExplainerConfig)"))
    return found


def in_serving(snap: Snapshot, code: CodeIndex) -> Fact:
    """Explanations served with predictions: explanation calls on the serving path (in serving
    files or in project code they call), explainers configured on the endpoint (KServe/Seldon
    explainers, SageMaker ExplainerConfig / explainer_config), explanation settings attached
    to the model a deployment serves (see ``deployed_explanations``), or a response schema of
    the serving code with explanation fields. Explanations only in notebooks or offline code
    are recorded as counter-evidence."""
    cat = _cat()
    patterns = _all_patterns()
    calls = code.calls(patterns)
    items = [use_evidence(u, "explanation on the serving path") for u in calls
             if code.on_serving_path(u)]
    items += [use_evidence(u, "online explainer configured")
              for u in code.keys(cat["serving_keys"], notebooks=False)]
    items += deployed_explanations(snap, code)
    items += [common.at(p, line, what) for p, line, _, what in _served_explainers(snap)]
    items += _response_fields(code, cat)
    counter = [use_evidence(u, "not on the serving path (notebook)" if u.notebook else
                            "not on the serving path (offline code)")
               for u in calls if not code.on_serving_path(u)][:5]
    if not code.serving_files():
        counter.insert(0, Evidence(detail="no serving code found (web routes, model-server "
                                          "classes, handler modules)"))
    return verdict("explainability.in_serving", unique(items),
                   "explanations on the serving path or explanation fields in responses",
                   "serving code, endpoint configuration and response schemas",
                   counter=counter, unparsed=code.unparsed, snap=snap)


def deployed_explanations(snap: Snapshot, code: CodeIndex) -> list[Evidence]:
    """Explanation settings attached to a model when it is uploaded or deployed (Vertex
    ``Model.upload(explanation_metadata=..., explanation_parameters=...)``, an
    ``explanationSpec`` in model or deployment configuration): the deployed model then answers
    explanation requests next to predictions, so explanations are on the serving path even
    when no project code computes them. Settings built but never passed to an upload or
    deployment do not count."""
    cat = _cat()
    deploy = common.name_matcher(cat["deploy_calls"])
    items = [use_evidence(u, f"explanations attached to the deployed model ({u.name})")
             for u in code.keys(cat["deploy_keys"], notebooks=False) if deploy(u.within)]
    served = set(cat["served_config_keys"])
    for y in yaml_files(snap):
        # The setting is a mapping of explanation parameters; a key naming it with a plain value
        # (documentation, a tool's own catalogue) is not a configured explanation.
        hit = next((k for doc in y.docs for k, v, _ in walk(doc)
                    if k in served and isinstance(v, dict) and v), None)
        if hit:
            items.append(common.at(y.path, key_line(y.text, hit),
                                   f"explanations configured on the served model: {hit}"))
    return items


def _response_fields(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """Schema classes (pydantic/marshmallow) defined in serving code or named by it (e.g. as
    ``response_model=``) whose annotated fields carry an explanation; request/input/config
    classes are left out."""
    field = re.compile(cat["response_field"])
    not_response = re.compile(cat["not_response"])
    bases = common.name_matcher(cat["response_bases"])
    items = []
    for d in code.defs.values():
        if d.kind != "class" or d.cell is not None or not_response.search(d.name):
            continue
        if not code.serves(d):
            continue
        if not any(bases(b) for b in d.bases):
            continue
        for stmt in d.node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and \
                    field.search(stmt.target.id):
                items.append(common.at(d.path, stmt.lineno, f"response schema `{d.name}` "
                                                            f"carries `{stmt.target.id}`"))
                break
    return items


def ood(snap: Snapshot, code: CodeIndex) -> Fact:
    """Inputs the model should not answer with confidence are caught while serving: confidence
    gates (a confidence/probability compared with a threshold, routing to unknown/abstain/
    review), branches that replace a prediction whose class probability is below a threshold
    (answering "other" instead), outlier or drift detectors called on the serving path, or
    conformal prediction (prediction sets instead of a single overconfident answer)."""
    cat = _cat()["ood"]
    items = confidence_gates(code) + fallback_gates(code)
    items += [use_evidence(u, "detector on the serving path")
              for u in code.calls(tuple(cat["serving_calls"]), notebooks=False)
              if code.on_serving_path(u)]
    items += [use_evidence(u, "conformal prediction")
              for u in code.calls(tuple(cat["conformal_calls"]), notebooks=False)]
    return verdict("explainability.ood", unique(items),
                   "confidence gates, detectors on the serving path or conformal prediction",
                   "serving code and the code it calls", counter=not_counted(
                       code, cat["conformal_calls"], ("mapie", "alibi_detect", "pyod")),
                   unparsed=code.unparsed, snap=snap)
