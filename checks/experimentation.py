"""Online experimentation (7.x): requests and predictions captured, traffic split between
models, and whether a user keeps the same variant (sticky) or each request is split at random.

Code counts only where it runs, and splitting/capture code only on the serving path (see
monitoring's code index): a notebook or an uncalled helper does not route live traffic.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.codeindex import (
    CodeIndex,
    Definition,
    Use,
    code_index,
    strings_in,
    use_evidence,
)
from mlops_auditor.checks.configfiles import (
    cfn_resources,
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
    "experimentation.capture": "requests and predictions are captured for analysis (SageMaker "
                               "data capture, KServe/Seldon loggers, Azure ML data collectors, "
                               "Databricks inference tables, own logging to a store on a "
                               "prediction path, batch predictions stored with their inputs)",
    "experimentation.traffic_split": "traffic can be split between model variants (weighted "
                                     "variants, canaries, feature-flag SDKs, own split code)",
    "experimentation.sticky": "a user keeps the same variant (a hash of a user/customer id, "
                              "flag SDKs keyed by user, header/cookie routing)",
    "experimentation.random_split": "variants are chosen at random per request (random draws "
                                    "in the serving code, weighted platform splits without "
                                    "session affinity)",
}


def collect(snap: Snapshot) -> list[Fact]:
    code = code_index(snap)
    platform = platform_splits(snap, code)
    own = own_splits(code)
    flags = flag_sdks(code)
    sticky_items, sticky_counter = sticky_evidence(snap, code, own)
    split_items = [*platform, *flags, *own["random"], *own["hashed"], *own["builtin"]]
    random_items = [Evidence(detail=common.excerpt(
        f"weights split each request independently (no session affinity): {e.detail}"),
        path=e.path, line=e.line) for e in platform] + own["random"]
    where = "serving code, IaC, manifests, bundles, endpoint YAML and CI"
    return [
        capture(snap, code),
        verdict("experimentation.traffic_split", unique(split_items),
                "weighted variants, canaries, feature-flag SDKs or own split code", where,
                unparsed=code.unparsed, snap=snap),
        verdict("experimentation.sticky", unique(sticky_items),
                "variant assignment by a hash of a user id, flag SDKs keyed by user, or "
                "header/cookie routing", where, counter=sticky_counter),
        verdict("experimentation.random_split", unique(random_items),
                "random per-request variant choice or weighted splits without affinity", where),
    ]


def _cat() -> dict[str, Any]:
    return common.catalogue("experimentation")


def _switched_off(node: ast.AST, flags: list[str]) -> bool:
    """A capture setting whose enable flag is False (keyword or dict key)."""
    pairs: list[tuple[str | None, ast.AST]] = []
    if isinstance(node, ast.Call):
        pairs = [(kw.arg, kw.value) for kw in node.keywords]
    elif isinstance(node, ast.Dict):
        pairs = [(k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None,
                  v) for k, v in zip(node.keys, node.values, strict=True)]
    return any(k in flags and isinstance(v, ast.Constant) and v.value is False for k, v in pairs)


def _config_off(value: Any, flags: list[str]) -> bool:
    blocks = value if isinstance(value, list) else [value]
    return value in (False, None, "false", {}, []) or any(
        isinstance(b, dict) and any(b.get(f) in (False, "false") for f in flags) for b in blocks)


def capture(snap: Snapshot, code: CodeIndex) -> Fact:
    """Capture of requests and predictions: platform capture switched on (SageMaker
    DataCaptureConfig, Databricks auto_capture_config / inference tables, Azure ML data
    collectors, Vertex request-response logging, KServe/Seldon loggers) in code, IaC or YAML;
    own code on a prediction path (the serving path, or a client calling a deployed model,
    also in JavaScript/TypeScript) that writes the request and the prediction to a store
    (database, queue, object store); batch prediction jobs that store each input with its
    prediction. A data-preparation join is not capture: only prediction paths count.
    Capture set up only in a notebook and capture helpers that are stubs are
    counter-evidence."""
    cat = _cat()["capture"]
    flags = cat["enable_flags"]
    configured = [u for u in [*code.calls(tuple(cat["calls"])), *code.keys(cat["keys"])]
                  if not _switched_off(u.node, flags)]
    items = [use_evidence(u, f"capture configured ({u.name})") for u in configured
             if not u.notebook]
    counter = [use_evidence(u, "not counted (notebook)") for u in configured if u.notebook][:3]
    keys = set(cat["keys"])
    tf, bad = terraform_blocks(snap)
    cfn, cfn_bad = cfn_resources(snap)
    for b in [*tf, *cfn]:
        hit = next((k for k, v, _ in walk(b.body) if k in keys and not _config_off(v, flags)),
                   None)
        if hit:
            items.append(common.at(b.path, b.line, f"{b.type}.{b.name}: {hit}"))
    for y in yaml_files(snap):
        for doc in y.docs:
            hit = next((k for k, v, _ in walk(doc) if k in keys and not _config_off(v, flags)),
                       None)
            if hit:
                items.append(common.at(y.path, key_line(y.text, hit), f"capture configured: "
                                                                      f"{hit}"))
                break
    for y, doc in kind_docs(snap, cat["kinds"]):
        if any(k == cat["kind_key"] and v for k, v, _ in walk(doc.get("spec"))):
            items.append(common.at(y.path, key_line(y.text, cat["kind_key"]),
                                   f"{doc.get('kind')} request/response logger"))
    items += _own_capture(code, cat) + _batch_capture(code, cat) + _script_capture(snap, cat)
    return verdict("experimentation.capture", unique(items),
                   "platform capture or own logging of requests and predictions to a store",
                   "serving code, model clients (Python, JavaScript/TypeScript), batch "
                   "prediction jobs, IaC, bundles and endpoint YAML",
                   counter=counter + _capture_stubs(code, cat), unparsed=[*bad, *cfn_bad],
                   snap=snap)


def _own_capture(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """Store writes in a function that handles both the input and the prediction (its names
    mention a request/input and a prediction/output), where that function is a prediction
    path: on the serving path, or a client that calls a deployed model (SageMaker
    invoke_endpoint, a Vertex endpoint's predict) and stores what it sent and got back."""
    predictions = re.compile(cat["prediction_words"])
    inputs = re.compile(cat["input_words"])
    insert = re.compile(cat["sql_insert"])
    writes = code.calls(tuple(cat["store_calls"]), notebooks=False)
    writes += [u for u in code.calls(tuple(cat["execute_calls"]), notebooks=False)
               if any(insert.search(s) for s in strings_in(u, code.files[u.path]))]
    clients = {u.owner.key for u in code.calls(tuple(cat["invoke_calls"]), notebooks=False)
               if u.owner is not None}
    items = []
    for u in writes:
        if u.owner is None or not (code.on_serving_path(u) or u.owner.key in clients):
            continue
        names = " ".join([u.owner.name, *u.owner.refs])
        if predictions.search(names) and inputs.search(names):
            items.append(use_evidence(u, f"request and prediction stored in `{u.owner.name}`"))
    return items


def _batch_capture(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """Managed batch prediction jobs whose output keeps each input with its prediction in a
    store: a Vertex batch prediction job with a destination (its result lines carry the
    instance and the prediction), a SageMaker batch transform joined with its input
    (``join_source="Input"``). ``key=value`` in the catalogue asks for that literal value."""
    items = []
    for pattern, wanted in cat["batch_calls"].items():
        for u in code.calls((pattern,), notebooks=False):
            node = u.node
            if not isinstance(node, ast.Call):
                continue
            given = {k.arg: k.value for k in node.keywords if k.arg}
            for want in wanted:
                key, _, literal = str(want).partition("=")
                val = given.get(key)
                if val is None or (isinstance(val, ast.Constant) and not val.value):
                    continue
                if literal and not (isinstance(val, ast.Constant) and val.value == literal):
                    continue
                items.append(use_evidence(u, f"batch predictions stored with their inputs "
                                             f"({key})"))
                break
    return items


def _script_capture(snap: Snapshot, cat: dict[str, Any]) -> list[Evidence]:
    """JavaScript/TypeScript modules (an API handler in front of a model, read as text: no
    parser) that call a deployed model and write to a store in the same module: the request
    and the prediction are persisted. Imports, comments and test files do not count."""
    invoke = re.compile(cat["script_invoke"])
    store = re.compile(cat["script_store"])
    skip = set(snap.glob(*common.NOT_PROJECT_CODE, *cat["script_skip"]))
    items = []
    for path in snap.glob(*cat["script_files"]):
        if path in skip or common.is_test_path(path) or snap.size(path) > 512 * 1024:
            continue
        code_lines = [(n, line) for n, line in enumerate(snap.lines(path), start=1)
                      if not common.is_comment(line, "//") and not _script_import(line)]
        calls = next((n for n, line in code_lines if invoke.search(line)), None)
        writes = [(n, line) for n, line in code_lines if store.search(line)]
        if calls and writes:
            n, line = writes[0]
            items.append(common.at(path, n, f"model called (line {calls}) and the request "
                                            f"and prediction stored: {line.strip()}"))
    return items


def _script_import(line: str) -> bool:
    text = line.strip()
    return text.startswith(("import ", "export {", "} from")) or "require(" in text


def _capture_stubs(code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    name = re.compile(cat["capture_name"])
    items = []
    for f in code.serving_files():
        for u in f.uses:
            if u.kind == "call" and u.live:
                for d in code.resolve(f.path, u.name):
                    if d.stub and name.search(d.name):
                        items.append(use_evidence(u, f"not counted: `{d.name}` is a stub"))
    return unique(items)[:5]


def platform_splits(snap: Snapshot, code: CodeIndex) -> list[Evidence]:
    """Weighted splits a platform applies per request: two or more SageMaker production
    variants (Terraform, CloudFormation, code), traffic dicts with two or more deployments
    (Azure endpoints, Vertex traffic_split, Databricks routes), partial traffic_percentage,
    KServe canaryTrafficPercent, Istio weights, Seldon predictors/experiments, Argo Rollouts and
    Flagger canaries, ``--traffic "blue=90 green=10"`` in scripts."""
    cat = _cat()["traffic_split"]
    items: list[Evidence] = []
    tf, _ = terraform_blocks(snap)
    for b in tf:
        block = cat["terraform_variants"].get(b.type)
        if block and isinstance(b.body.get(block), list) and len(b.body[block]) >= 2:
            items.append(common.at(b.path, b.line, f"{b.type}.{b.name}: "
                                                   f"{len(b.body[block])} weighted variants"))
        items += _routes(b.path, b.line, f"{b.type}.{b.name}", b.body)
    cfn, _ = cfn_resources(snap)
    for b in cfn:
        key = cat["cfn_variants"].get(b.type)
        if key and isinstance(b.body.get(key), list) and len(b.body[key]) >= 2:
            items.append(common.at(b.path, b.line, f"{b.type} {b.name}: "
                                                   f"{len(b.body[key])} weighted variants"))
    by_file: dict[str, list[Use]] = {}
    for u in code.calls(tuple(cat["variant_calls"]), notebooks=False):
        by_file.setdefault(u.path, []).append(u)
    items += [use_evidence(uses[0], f"{len(uses)} production variants")
              for uses in by_file.values() if len(uses) >= 2]
    for u in code.keys(cat["weight_keys"], notebooks=False):
        if _weighted(u):
            items.append(use_evidence(u, f"traffic split ({u.name})"))
    for y in yaml_files(snap):
        for doc in y.docs:
            items += _yaml_split(y.path, y.text, doc, cat)
    items += common.grep(snap, [y.path for y in yaml_files(snap)] + snap.glob("*.sh", "**/*.sh",
                                                                               "Makefile"),
                         re.compile(cat["cli"]))
    return items


def _weighted(u: Use) -> bool:
    """A traffic value naming two or more variants, or a partial percentage."""
    node = u.node
    if isinstance(node, ast.Dict):
        return len(node.keys) >= 2
    if isinstance(node, (ast.List, ast.Tuple)):
        return len(node.elts) >= 2
    if u.name == "traffic_percentage":
        return not (isinstance(node, ast.Constant) and node.value in (0, 100))
    return False


def _routes(path: str, line: int | None, what: str, body: Any) -> list[Evidence]:
    """Serving-endpoint routes: two or more with a traffic percentage."""
    for key, val, _ in walk(body):
        if key == "routes" and isinstance(val, list) and sum(
                1 for r in val if isinstance(r, dict) and "traffic_percentage" in r) >= 2:
            return [common.at(path, line, f"{what}: {len(val)} weighted routes")]
    return []


def _yaml_split(path: str, text: str, doc: Any, cat: dict[str, Any]) -> list[Evidence]:
    if not isinstance(doc, dict):
        return []
    kind = doc.get("kind")
    spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    items = _routes(path, key_line(text, "routes"), "serving endpoint", doc)
    if isinstance(doc.get("traffic"), dict) and len(doc["traffic"]) >= 2:
        items.append(common.at(path, key_line(text, "traffic"),
                               f"endpoint traffic over {len(doc['traffic'])} deployments"))
    if any(k == cat["kserve_key"] for k, _, _ in walk(spec)):
        items.append(common.at(path, key_line(text, cat["kserve_key"]), "KServe canary traffic"))
    if kind == "VirtualService":
        weighted = [r for k, v, _ in walk(spec) if k == "route" and isinstance(v, list)
                    for r in v if isinstance(r, dict) and "weight" in r]
        if len(weighted) >= 2:
            items.append(common.at(path, key_line(text, "weight"), "Istio weighted routes"))
    elif kind == "SeldonDeployment":
        predictors = spec.get("predictors")
        if isinstance(predictors, list) and len(predictors) >= 2:
            items.append(common.at(path, key_line(text, "predictors"),
                                   f"Seldon: {len(predictors)} predictors with traffic"))
    elif kind == "Experiment" and isinstance(spec.get("candidates"), list):
        items.append(common.at(path, key_line(text, "candidates"), "Seldon experiment"))
    elif kind in ("Rollout", "Canary") and "canary" in str(spec).lower():
        items.append(common.at(path, key_line(text, "canary"), f"{kind} canary weights"))
    return items


def flag_sdks(code: CodeIndex) -> list[Evidence]:
    """Feature-flag/experiment SDKs called where code runs (notebooks excluded)."""
    items = []
    for name, patterns in _cat()["traffic_split"]["flag_sdks"].items():
        uses = code.calls(tuple(patterns), notebooks=False)
        if uses:
            items.append(use_evidence(uses[0], f"feature-flag SDK {name}"))
    return items


def own_splits(code: CodeIndex) -> dict[str, list[Evidence]]:
    """Variant choices in serving code: live functions on the serving path whose names mention
    variants/experiments/canaries and that draw a random number ("random"), hash something
    ("hashed": (hashlib, mmh3, crc32, xxhash) of a user field), or use the builtin hash()
    ("builtin": salted per process for strings, so not stable across workers)."""
    cat = _cat()
    words = re.compile(cat["traffic_split"]["experiment_words"])
    users = re.compile(cat["sticky"]["user_words"])
    hashes = common.name_matcher(cat["sticky"]["hash_calls"])
    randoms = common.name_matcher(cat["random_split"]["random_calls"])
    by_owner: dict[str, list[Use]] = {}
    for u in code.uses():
        if u.kind == "call" and u.owner is not None and code.on_serving_path(u):
            by_owner.setdefault(u.owner.key, []).append(u)
    found: dict[str, list[Evidence]] = {"random": [], "hashed": [], "hashed_other": [],
                                        "builtin": []}
    for key, uses in by_owner.items():
        d: Definition = code.defs[key]
        if not words.search(" ".join([d.name, *d.refs])):
            continue
        for u in uses:
            if randoms(u.name):
                found["random"].append(use_evidence(u, f"random variant choice in `{d.name}`"))
            elif hashes(u.name):
                args = ast.unparse(u.node)
                if not feeds_decision(d.node, u.node):
                    found["hashed_other"].append(use_evidence(
                        u, f"a hash in `{d.name}` that does not decide the variant"))
                    continue
                kind = "hashed" if users.search(args) else "hashed_other"
                found[kind].append(use_evidence(u, f"variant from a hash in `{d.name}`"))
            elif u.name == "hash":
                found["builtin"].append(use_evidence(u, f"builtin hash() in `{d.name}`"))
    return found


def feeds_decision(function: ast.AST, call: ast.AST) -> bool:
    """Whether the value of CALL (a hash) decides something in FUNCTION: it, or a name assigned
    from it (followed through further assignments), stands in a comparison, a modulo, a branch
    test, an index or the returned value. A hash that only pseudonymises a log line does not."""
    tainted: set[str] = set()

    def carries(node: ast.AST) -> bool:
        return any(n is call or (isinstance(n, ast.Name) and n.id in tainted)
                   for n in common.walk(node))

    assignments = [n for n in common.walk(function)
                   if isinstance(n, ast.Assign | ast.AnnAssign | ast.AugAssign) and n.value]
    changed = True
    while changed:
        changed = False
        for a in assignments:
            targets = a.targets if isinstance(a, ast.Assign) else [a.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names - tainted and a.value is not None and carries(a.value):
                tainted |= names
                changed = True
    for node in common.walk(function):
        if isinstance(node, ast.Compare) and carries(node):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and carries(node):
            return True
        if isinstance(node, ast.If | ast.IfExp | ast.While) and carries(node.test):
            return True
        if isinstance(node, ast.Subscript) and carries(node.slice):
            return True
        if isinstance(node, ast.Return) and node.value is not None and carries(node.value):
            return True
    return False


def _matched_headers(spec: Any) -> list[tuple[str, str]]:
    """(header name, match value) of the ``match: - headers:`` conditions of Istio routes."""
    found = []
    for key, val, _ in walk(spec):
        if key == "match" and isinstance(val, list):
            for cond in val:
                named = cond.get("headers") if isinstance(cond, dict) else None
                if isinstance(named, dict):
                    found += [(str(h), str(v)) for h, v in named.items()]
    return found


def sticky_evidence(snap: Snapshot, code: CodeIndex, own: dict[str, list[Evidence]]
                    ) -> tuple[list[Evidence], list[Evidence]]:
    """Stickiness: own hashing of a user/customer/session id, flag SDK evaluations keyed by a
    user (LaunchDarkly contexts, Optimizely user ids, GrowthBook hash attributes, Unleash
    context/stickiness), stickiness keys in flag configuration, Istio routes matched on a
    header or cookie naming a user or session. Counter-evidence: hashes of other values,
    builtin hash(), and routes matched on other headers (a version header the client sets
    picks a version; it does not keep a user on one)."""
    cat = _cat()["sticky"]
    items = list(own["hashed"])
    items += [use_evidence(u, "flag evaluated per user key")
              for u in code.calls(tuple(cat["keyed_calls"]), notebooks=False)]
    sdk = common.name_matcher(cat["sdk_calls"])
    items += [use_evidence(u, f"flag SDK keyed by `{u.name}`")
              for u in code.keys(cat["keyed_keywords"], notebooks=False) if sdk(u.within)]
    config_keys = set(cat["config_keys"])
    for y in yaml_files(snap):
        hit = next((k for doc in y.docs for k, _, _ in walk(doc) if k in config_keys), None)
        if hit:
            items.append(common.at(y.path, key_line(y.text, hit), f"sticky assignment: {hit}"))
    for path in snap.glob("**/*.json"):
        if snap.size(path) > 1024 * 1024:
            continue
        text = snap.text(path)
        if text.ok and any(f'"{k}"' in text.value for k in config_keys):
            parsed = snap.json(path)
            hit = next((k for k, _, _ in walk(parsed.value) if k in config_keys), None) \
                if parsed.ok else None
            if hit:
                items.append(common.at(path, common.first_line(text.value, re.compile(
                    re.escape(f'"{hit}"'))), f"sticky assignment: {hit}"))
    users = re.compile(cat["user_words"])
    counter: list[Evidence] = []
    for y, doc in kind_docs(snap, ["VirtualService"]):
        headers = _matched_headers(doc.get("spec"))
        keyed = [h for h, value in headers if users.search(h) or (
            h.lower() == "cookie" and users.search(value))]
        if keyed:
            items.append(common.at(y.path, key_line(y.text, "match"),
                                   f"Istio routes matched on a user header/cookie: "
                                   f"{', '.join(keyed)}"))
        elif headers:
            counter.append(common.at(y.path, key_line(y.text, "match"), (
                f"not sticky: routes matched on {', '.join(sorted({h for h, _ in headers}))}, "
                "a header the client sets to pick a version, not an assignment per user")))
    counter += [Evidence(detail=common.excerpt(f"not sticky: hash of a non-user value: "
                                               f"{e.detail}"), path=e.path, line=e.line)
                for e in own["hashed_other"]]
    counter += [Evidence(detail=common.excerpt(f"not sticky: builtin hash() of a string is "
                                               f"salted per process: {e.detail}"),
                         path=e.path, line=e.line) for e in own["builtin"]]
    return items, counter
