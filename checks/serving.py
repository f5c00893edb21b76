"""How models are served: real-time APIs and online endpoints, batch scoring, API documentation,
authentication, hard-coded secrets and load tests."""

from __future__ import annotations

import ast
import bisect
import functools
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mlops_auditor.checks import common, mlcode
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "serving.realtime_api": "Real-time serving: a web API with routes (FastAPI, Flask, Django, "
                            "...), BentoML/Ray Serve/KServe/Seldon/TorchServe/MLflow serving, or "
                            "an online endpoint defined in infrastructure code or config.",
    "serving.batch": "Batch scoring: jobs or scripts that load a model, predict over a dataset "
                     "and write the results (spark_udf, batch transform, batch endpoints).",
    "serving.api_documented": "The API is described: an OpenAPI/Swagger spec, typed request and "
                              "response models on every prediction route, .proto services or "
                              "BentoML typed IO.",
    "serving.auth": "The serving API authenticates callers (security dependencies, API keys, "
                    "JWT/OAuth, endpoint auth_mode, IAM-authenticated managed endpoints).",
    "serving.hardcoded_secret": "A secret is hard-coded in tracked code or configuration (AWS "
                                "key, private key, password/token literal).",
    "serving.load_tests": "Load or stress test definitions exist (locust, k6, JMeter, Gatling, "
                          "vegeta, artillery).",
}

REALTIME_WHAT = ("web routes (FastAPI/Flask/Django/Starlette/aiohttp/Litestar), model servers "
                 "(BentoML, Ray Serve, KServe, Seldon, TorchServe, Triton, MLflow), online "
                 "endpoints (SageMaker, Azure ML, Vertex AI, Databricks)")
BATCH_WHAT = ("batch scoring (a file that loads a model, reads data, predicts and writes results; "
              "spark_udf; batch transform; batch endpoints; scheduled scoring jobs)")


def _cat(*keys: str) -> Any:
    """A value from the serving catalogue (``catalogues/serving.yaml``), None when absent."""
    value: Any = common.catalogue("serving")
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _list(*keys: str) -> list[Any]:
    """A list from the serving catalogue, empty when absent."""
    value = _cat(*keys)
    return value if isinstance(value, list) else []


def _project(snap: Snapshot, *patterns: str, tests: bool = False) -> list[str]:
    """Tracked files matching PATTERNS outside vendored/environment folders (and tests)."""
    skip: set[str] = snap.memo("serving.not_project",
                               lambda: set(snap.glob(*common.NOT_PROJECT_CODE)))
    return [p for p in snap.glob(*patterns)
            if p not in skip and (tests or not common.is_test_path(p))]


@dataclass(frozen=True)
class Finding:
    """One piece of serving evidence: what kind (realtime, batch; auth for authentication that
    covers the whole API; guarded / open for one entry point that does / does not authenticate
    callers), and for managed cloud endpoints the service whose invocations need signed
    credentials."""

    kind: str
    evidence: Evidence
    managed: str | None = None


# -- python ----------------------------------------------------------------------------------

def _python_findings(snap: Snapshot) -> list[Finding]:
    """Model servers and endpoints created from Python: BentoML services, Ray Serve deployments,
    KServe/MLServer models, TorchServe handlers, Triton models, Seldon, gRPC servers, SDK calls
    that create online or batch endpoints (SageMaker, Azure ML, Vertex AI, Databricks)."""
    found: list[Finding] = []
    for unit in mlcode.sources(snap).units:
        found.extend(_rest_findings(unit))
        found.extend(_webservice_auth(unit))
        for tree in unit.trees:
            for node in tree.of(ast.Call, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef,
                                ast.Import, ast.ImportFrom):
                if isinstance(node, ast.Call):
                    found.extend(_call_findings(unit, tree, node))
                elif isinstance(node, ast.ClassDef):
                    why = mlcode.serving_class(unit, node)
                    if why:
                        found.append(Finding("realtime", unit.at(tree, node, why)))
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                        and not mlcode.is_stub(node.body):
                    why = mlcode.serving_decorator(unit, node)
                    if why:
                        found.append(Finding("realtime", unit.at(tree, node, why)))
                elif isinstance(node, ast.Import | ast.ImportFrom):
                    modules = [a.name for a in node.names] if isinstance(node, ast.Import) \
                        else [node.module or ""]
                    for module in modules:
                        if module.split(".")[0] in mlcode.names("mlcode", "serving", "libraries"):
                            found.append(Finding("realtime", unit.at(
                                tree, node, f"imports {module} (model server)")))
    return found


@functools.cache
def _call_table() -> tuple[tuple[str, common.NameMatcher, str, str | None], ...]:
    """(kind, name wildcard, what, managed service) of the catalogue's endpoint calls."""
    table = []
    for kind, key in (("realtime", "realtime_calls"), ("batch", "batch_calls")):
        for entry in _list("python", key):
            if isinstance(entry, dict):
                managed = entry.get("managed")
                table.append((kind, common.name_matcher([str(entry.get("name"))]),
                              str(entry.get("what")), str(managed) if managed else None))
    return tuple(table)


@functools.cache
def _any_call() -> common.NameMatcher:
    """Whether a name is any endpoint call's of the table: most calls are none."""
    return common.name_matcher(str(entry.get("name")) for key in ("realtime_calls", "batch_calls")
                           for entry in _list("python", key) if isinstance(entry, dict))


def _call_findings(unit: mlcode.Unit, tree: mlcode.Tree, call: ast.Call) -> Iterator[Finding]:
    """What one call creates: an online or batch endpoint, a model server."""
    name = unit.resolve(call.func) or ""
    method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    keywords = {k.arg for k in call.keywords if k.arg}
    for kind, pattern, what, managed in _call_table() if _any_call()(name) else ():
        if pattern.match(name):
            yield Finding(kind, unit.at(tree, call, f"{mlcode.code(call)}: {what}"), managed)
            return
    for kind, key in (("realtime", "realtime_methods"), ("batch", "batch_methods")):
        for entry in _list("python", key):
            if isinstance(entry, dict) and method == entry.get("method"):
                managed = "SageMaker" if kind == "realtime" and unit.imports(
                    ["boto3", "sagemaker"]) else None
                yield Finding(kind, unit.at(tree, call, f"{mlcode.code(call)}: {entry['what']}"),
                              managed)
                return
    if method == "deploy":
        for entry in _list("python", "deploy"):
            if isinstance(entry, dict) and unit.imports([str(entry.get("module"))]) \
                    and keywords & set(entry.get("keywords") or []):
                yield Finding("realtime", unit.at(
                    tree, call, f"{mlcode.code(call)}: {entry['what']}"), entry.get("managed"))
                return
    if mlcode.matches(name, "serving", "calls") and "spark_udf" not in name:
        yield Finding("realtime", unit.at(tree, call, f"{mlcode.code(call)}: model server"))


def _literal(node: ast.AST) -> str | None:
    """The text of a string literal; an f-string with its placeholders read as ``{}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) and isinstance(v.value, str)
                       else "{}" for v in node.values)
    return None


@functools.cache
def _rest_table() -> tuple[tuple[re.Pattern[str], str, str | None], ...]:
    """(path pattern, what, managed service) of the catalogue's endpoint-creating REST paths."""
    return tuple((re.compile(str(e.get("path"))), str(e.get("what")),
                  str(e["managed"]) if e.get("managed") else None)
                 for e in _list("python", "rest_endpoints") if isinstance(e, dict))


def _rest_path(node: ast.AST | None) -> tuple[str, str | None] | None:
    """(what, managed) when NODE is a string literal holding an endpoint-creating REST path."""
    text = _literal(node) if node is not None else None
    if text is None:
        return None
    for pattern, what, managed in _rest_table():
        if pattern.search(text):
            return what, managed
    return None


def _sends(call: ast.Call) -> bool:
    """A call that sends a request with a body: ``requests.post``/``put``, a helper named like
    ``databricks_post_api``, or ``.request("POST", ...)``."""
    name = mlcode.last_name(call.func)
    if re.search(str(_cat("python", "rest_senders")), name):
        return True
    method = _literal(call.args[0]) if name == "request" and call.args else None
    return (method or "").upper() in ("POST", "PUT", "PATCH")


def _rest_findings(unit: mlcode.Unit) -> list[Finding]:
    """Online endpoints created through a REST API (Databricks ``serving-endpoints``): a
    sending call (POST/PUT) given the endpoint-creating path, as a literal or through a variable
    assigned that literal in the same source. A GET of the path, or a call to an endpoint's
    invocations, only uses an endpoint and does not count."""
    if not _rest_table():
        return []
    bound: dict[str, tuple[str, str | None]] = {}
    for tree in unit.trees:
        for node in tree.of(ast.Assign):
            if hit := _rest_path(node.value):
                bound.update({t.id: hit for t in node.targets if isinstance(t, ast.Name)})
    found: list[Finding] = []
    for tree, call in unit.calls():
        if not _sends(call):
            continue
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            hit = _rest_path(arg) or (bound.get(arg.id) if isinstance(arg, ast.Name) else None)
            if hit:
                found.append(Finding("realtime", unit.at(
                    tree, call, f"{mlcode.code(call)}: {hit[0]}"), hit[1]))
                break
    return found


def _webservice_auth(unit: mlcode.Unit) -> list[Finding]:
    """Azure ML (v1) web services configured in Python: ``AciWebservice.deploy_configuration``
    (authentication off unless ``auth_enabled=True``) and ``AksWebservice`` (on unless turned
    off): a guarded or an open entry point."""
    settings = set(_list("open_access", "azureml_auth_settings"))
    defaults = _cat("open_access", "azureml_default_auth") or {}
    found: list[Finding] = []
    for tree, call in unit.calls():
        name = unit.resolve(call.func) or ""
        kind = next((k for k in ("aci", "aks")
                     if name.lower().endswith(f"{k}webservice.deploy_configuration")), None)
        if kind is None:
            continue
        values = [k.value for k in call.keywords if k.arg in settings]
        consts = [v.value for v in values if isinstance(v, ast.Constant)]
        if values and len(consts) < len(values):
            continue  # set from a variable: cannot tell
        enabled = any(c is True for c in consts) if consts else bool(defaults.get(kind))
        detail = (f"{mlcode.code(call)}: {kind.upper()} web service with authentication "
                  f"{'on' if enabled else 'off'}{'' if consts else ' (the default)'}")
        found.append(Finding("guarded" if enabled else "open", unit.at(tree, call, detail)))
    return found


# -- text: infrastructure, manifests, scripts -------------------------------------------------

@dataclass(frozen=True)
class _Signal:
    what: str
    kind: str
    managed: str | None
    regex: re.Pattern[str]
    files: tuple[str, ...]
    requires: re.Pattern[str] | None = None


@functools.cache
def _signals() -> tuple[_Signal, ...]:
    """The catalogue's line patterns (``text_signals``), compiled once."""
    return tuple(_Signal(str(s.get("what")), str(s.get("kind")),
                         str(s["managed"]) if s.get("managed") else None,
                         re.compile(str(s.get("regex"))),
                         tuple(str(f) for f in s.get("files") or []),
                         re.compile(str(s["requires"])) if s.get("requires") else None)
                 for s in _list("text_signals") if isinstance(s, dict))


def _text_findings(snap: Snapshot) -> list[Finding]:
    """Line patterns of the catalogue (``text_signals``) in infrastructure code, manifests,
    Azure ML YAML, Databricks bundles and scripts; commented-out lines never count. A pattern
    with ``requires`` counts only in a file that also matches that (CDK code importing the
    SageMaker library). Each file is read once, whatever the number of patterns that apply."""
    signals = _signals()
    found: list[Finding] = []
    counts: dict[str, int] = {}
    files = {signal.what: set(_project(snap, *signal.files)) for signal in signals}
    for path in sorted(set().union(*files.values())):
        applicable = [s for s in signals if path in files[s.what]]
        if any(s.requires is not None for s in applicable):
            text = snap.text(path)
            content = text.value if text.ok else ""
            applicable = [s for s in applicable
                          if s.requires is None or s.requires.search(content)]
        style = "//" if path.endswith((".tf", ".tf.json", ".bicep")) else "#"
        for number, line in enumerate(snap.lines(path), start=1):
            if common.is_comment(line) or common.is_comment(line, style):
                continue
            for signal in applicable:
                if signal.regex.search(line) and counts.get(signal.what, 0) < 10:
                    counts[signal.what] = counts.get(signal.what, 0) + 1
                    found.append(Finding(signal.kind, common.at(
                        path, number, f"{signal.what}: {line.strip()}"), signal.managed))
    return found


def _bundle_jobs(snap: Snapshot) -> list[Finding]:
    """Databricks bundle jobs whose task runs a file that scores a dataset in batch: a
    ``notebook_path`` / ``python_file`` beside the YAML, or a wheel ``entry_point`` declared in
    pyproject.toml. The file's content decides, never the job's name."""
    scoring = mlcode.batch_files(snap)
    if not scoring:
        return []
    keys = [str(k) for k in _list("bundle_task_files")]
    entry_points = _entry_points(snap)
    found: list[Finding] = []
    for path in _project(snap, "*.yml", "*.yaml"):
        text = snap.text(path)
        if not text.ok or "jobs:" not in text.value or "tasks" not in text.value:
            continue
        parsed = snap.yaml(path)
        for name, job in _bundle_job_items(parsed.value if parsed.ok else None):
            scheduled = any(k in job for k in ("schedule", "trigger", "continuous"))
            for kind, target in _task_targets(job, keys):
                if kind == "entry_point":
                    candidates = entry_points.get(target, [])
                    runs = f"entry point {target} ({', '.join(candidates) or '?'})"
                else:
                    base = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
                    candidates = [base, base + ".py", base + ".ipynb"]
                    runs = base
                if any(c in scoring for c in candidates):
                    line = common.first_line(text.value, re.compile(
                        rf"^\s*{re.escape(name)}\s*:"))
                    found.append(Finding("batch", common.at(
                        path, line, f"{'scheduled ' if scheduled else ''}job {name} runs "
                        f"{runs}, which scores a dataset in batch")))
                    break
    return found


def _entry_points(snap: Snapshot) -> dict[str, list[str]]:
    """Console-script names of pyproject.toml (``[project.scripts]``, Poetry's scripts) mapped
    to the project files of their modules."""
    modules: dict[str, str] = {}
    for path in _project(snap, "pyproject.toml"):
        parsed = snap.toml(path)
        doc = parsed.value if parsed.ok and isinstance(parsed.value, dict) else {}
        project = doc.get("project")
        tool = doc.get("tool")
        poetry = tool.get("poetry") if isinstance(tool, dict) else None
        for holder in (project, poetry):
            scripts = holder.get("scripts") if isinstance(holder, dict) else None
            if isinstance(scripts, dict):
                modules.update({str(k): str(v).split(":")[0] for k, v in scripts.items()
                                if isinstance(v, str)})
    files = mlcode.python_paths(snap)
    result: dict[str, list[str]] = {}
    for name, module in modules.items():
        rel = module.strip().replace(".", "/")
        result[name] = [f for f in files if ("/" + f).endswith(("/" + rel + ".py",
                                                                 "/" + rel + "/__init__.py"))]
    return result


def _bundle_job_items(doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The jobs of a bundle document, top-level and per target."""
    if not isinstance(doc, dict):
        return
    places = [doc.get("resources")]
    targets = doc.get("targets")
    if isinstance(targets, dict):
        places.extend(t.get("resources") for t in targets.values() if isinstance(t, dict))
    for resources in places:
        jobs = resources.get("jobs") if isinstance(resources, dict) else None
        if isinstance(jobs, dict):
            for name, job in jobs.items():
                if isinstance(job, dict):
                    yield str(name), job


def _task_targets(job: dict[str, Any], keys: list[str]) -> Iterator[tuple[str, str]]:
    """What each task of a job runs: ("file", path) or ("entry_point", name)."""
    tasks = job.get("tasks")
    for task in tasks if isinstance(tasks, list) else []:
        for part in task.values() if isinstance(task, dict) else []:
            if not isinstance(part, dict):
                continue
            for key in keys:
                if isinstance(part.get(key), str):
                    yield "file", part[key]
            if isinstance(part.get("entry_point"), str):
                yield "entry_point", part["entry_point"]


# -- who may call the entry points: API gateways, web service configurations ------------------

def _open_access(snap: Snapshot) -> list[Finding]:
    """Entry points in front of a model, each guarded or open: API Gateway methods and SAM API
    events in CloudFormation templates, Terraform function URLs and gateway methods, CDK
    ``addMethod`` calls, Azure ML (v1) web service deployment configurations. When the
    project's web app runs on Lambda (wrapped by an adapter such as Mangum), a guarded gateway
    is the only way in, so it authenticates every route of the app."""
    wrapped = _lambda_wrapped_app(snap)
    edge = _template_access(snap, wrapped is not None) \
        + _terraform_access(snap, wrapped is not None) + _cdk_open_methods(snap)
    if wrapped is not None:
        edge = [Finding("auth", common.at(f.evidence.path or "", f.evidence.line,
                                          f"{f.evidence.detail}, in front of the web app "
                                          f"wrapped for Lambda ({wrapped})"))
                if f.kind == "guarded" else f for f in edge]
    return edge + _azureml_configs(snap)


def _lambda_wrapped_app(snap: Snapshot) -> str | None:
    """Where the project wraps its web app for Lambda (``handler = Mangum(app)``), if it does."""
    adapters = common.name_matcher([str(a) for a in _list("open_access", "lambda_adapters")])
    for unit in mlcode.sources(snap).units:
        for tree, call in unit.calls():
            if adapters.match(unit.resolve(call.func) or ""):
                line = getattr(call, "lineno", None)
                return f"{unit.path}:{line}" if tree.cell is None and line else unit.path
    return None


def _line_of(lines: list[str], key: str, start: int = 0) -> int | None:
    """The 1-based line of the first ``key:`` (YAML) or ``"key":`` (JSON) at or after START."""
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*:""")
    for number, line in enumerate(lines[start:], start=start + 1):
        if pattern.match(line):
            return number
    return None


def _template(snap: Snapshot, path: str) -> dict[str, Any] | None:
    """A CloudFormation/SAM template's top-level mapping (intrinsic tags such as ``!Ref`` are
    read as plain values), or None when the file is not one or does not parse."""
    parsed = snap.json(path) if path.endswith(".json") else snap.yaml(path)
    doc = parsed.value if parsed.ok else None
    return doc if isinstance(doc, dict) and isinstance(doc.get("Resources"), dict) else None


def _sam_default_auth(doc: dict[str, Any]) -> bool:
    """Whether a SAM template gives its APIs a default authorizer or API key (in Globals or
    on an ``AWS::Serverless::Api``/``HttpApi``)."""
    places: list[Any] = []
    globals_ = doc.get("Globals")
    if isinstance(globals_, dict):
        places += [globals_.get("Api"), globals_.get("HttpApi")]
    places += [r.get("Properties") for r in doc["Resources"].values() if isinstance(r, dict)
               and str(r.get("Type")) in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")]
    for props in places:
        auth = props.get("Auth") if isinstance(props, dict) else None
        if isinstance(auth, dict) and (auth.get("DefaultAuthorizer") or auth.get("ApiKeyRequired")):
            return True
    return False


def _resource_access(name: str, resource: dict[str, Any],
                     sam_default: bool) -> list[tuple[bool, str, str | None]]:
    """(open, what, event name) for each way a template resource lets callers in: an API
    Gateway method or HTTP API route without an authorizer or API key, a SAM function's API
    event without ``Auth``. CORS preflight (OPTIONS) methods are left out."""
    kind = str(resource.get("Type"))
    props = resource.get("Properties")
    props = props if isinstance(props, dict) else {}
    out: list[tuple[bool, str, str | None]] = []
    if kind in ("AWS::ApiGateway::Method", "AWS::ApiGatewayV2::Route"):
        verb = str(props.get("HttpMethod") or props.get("RouteKey") or "?")
        if verb.upper().startswith("OPTIONS"):
            return []
        auth = str(props.get("AuthorizationType") or "NONE")
        keyed = props.get("ApiKeyRequired") is True or str(props.get("ApiKeyRequired")) == "true"
        opened = auth.upper() == "NONE" and not keyed
        out.append((opened, f"{kind} {name} ({verb}): AuthorizationType {auth}"
                    f"{', API key required' if keyed else ''}", None))
    elif kind == "AWS::Serverless::Function":
        events = props.get("Events")
        for event, spec in (events.items() if isinstance(events, dict) else []):
            if not isinstance(spec, dict) or str(spec.get("Type")) not in ("Api", "HttpApi"):
                continue
            eprops = spec.get("Properties")
            eprops = eprops if isinstance(eprops, dict) else {}
            route = f"{str(eprops.get('Method', '?')).upper()} {eprops.get('Path', '?')}"
            given = eprops.get("Auth")
            settings: dict[str, Any] = given if isinstance(given, dict) else {}
            authorizer = settings.get("Authorizer")
            keyed = bool(settings.get("ApiKeyRequired"))
            if authorizer is not None:
                opened = str(authorizer).upper() == "NONE" and not keyed
                what = f"Authorizer {authorizer}"
            else:
                opened = not sam_default and not keyed
                what = "no authorizer" + (" (the API's default applies)" if sam_default else "")
            out.append((opened, f"SAM function {name}: API event {event} ({route}) with "
                                f"{what}", str(event)))
    return out


def _template_access(snap: Snapshot, fronts_app: bool) -> list[Finding]:
    """API Gateway methods, HTTP API routes and SAM API events of CloudFormation/SAM templates
    that also refer to a model endpoint (or front the project's web app on Lambda: FRONTS_APP):
    open (no authorizer, no API key: anyone may call) or guarded."""
    hint = re.compile(str(_cat("open_access", "template_hint")))
    context = re.compile(str(_cat("open_access", "endpoint_context")))
    found: list[Finding] = []
    for path in _project(snap, *[str(p) for p in _list("open_access", "template_files")]):
        text = snap.text(path)
        if not text.ok or not hint.search(text.value) \
                or not (fronts_app or context.search(text.value)):
            continue
        doc = _template(snap, path)
        if doc is None:
            continue
        lines = snap.lines(path)
        sam_default = _sam_default_auth(doc)
        for name, resource in doc["Resources"].items():
            if not isinstance(resource, dict):
                continue
            for opened, what, event in _resource_access(str(name), resource, sam_default):
                line = _line_of(lines, str(name))
                if event is not None and line is not None:
                    line = _line_of(lines, event, line) or line
                detail = f"{what}: {'anyone may call it' if opened else 'callers authenticate'}"
                found.append(Finding("open" if opened else "guarded",
                                     common.at(path, line, detail)))
    return found


_TERRAFORM_ACCESS = {
    # resource type: (setting that names the authorization, its default, method setting)
    "aws_lambda_function_url": ("authorization_type", "NONE", None),
    "aws_api_gateway_method": ("authorization", "NONE", "http_method"),
    "aws_apigatewayv2_route": ("authorization_type", "NONE", "route_key"),
}


def _terraform_access(snap: Snapshot, fronts_app: bool) -> list[Finding]:
    """Lambda function URLs, API Gateway methods and HTTP API routes in Terraform files that
    refer to a model endpoint (or front the project's web app on Lambda: FRONTS_APP):
    ``authorization = "NONE"`` without an API key is open, anything else (AWS_IAM, an
    authorizer) guarded. CORS preflight (OPTIONS) methods are left out."""
    hint = re.compile(str(_cat("open_access", "terraform_hint")))
    context = re.compile(str(_cat("open_access", "endpoint_context")))
    found: list[Finding] = []
    for path in _project(snap, *[str(p) for p in _list("open_access", "terraform_files")]):
        text = snap.text(path)
        if not text.ok or not hint.search(text.value) \
                or not (fronts_app or context.search(text.value)):
            continue
        parsed = snap.hcl(path)
        blocks = parsed.value.get("resource") if parsed.ok and isinstance(parsed.value, dict) \
            else None
        for block in blocks if isinstance(blocks, list) else []:
            for kind, named in (block.items() if isinstance(block, dict) else []):
                if kind not in _TERRAFORM_ACCESS or not isinstance(named, dict):
                    continue
                key, default, verb_key = _TERRAFORM_ACCESS[kind]
                for name, body in named.items():
                    if not isinstance(body, dict):
                        continue
                    verb = str(body.get(verb_key, "")) if verb_key else ""
                    if verb.upper().startswith("OPTIONS"):
                        continue
                    auth = str(body.get(key, default))
                    keyed = str(body.get("api_key_required", "")).lower() == "true"
                    opened = auth.upper() == "NONE" and not keyed
                    detail = (f"{kind}.{name}{f' ({verb})' if verb else ''}: {key} {auth}"
                              f"{', API key required' if keyed else ''}: "
                              f"{'anyone may call it' if opened else 'callers authenticate'}")
                    line = body.get("__start_line__")
                    found.append(Finding("open" if opened else "guarded", common.at(
                        path, line if isinstance(line, int) else None, detail)))
    return found


def _cdk_open_methods(snap: Snapshot) -> list[Finding]:
    """CDK code that adds an API Gateway method with no method options
    (``resource.addMethod("POST", integration)``: no authorizer, no API key) in a file that
    refers to a model endpoint. A file that mentions an authorizer or API key anywhere (say in
    ``defaultMethodOptions``) is left undecided."""
    method = re.compile(str(_cat("open_access", "cdk_open_method")))
    words = re.compile(str(_cat("open_access", "cdk_auth_words")))
    context = re.compile(str(_cat("open_access", "endpoint_context")))
    found: list[Finding] = []
    for path in _project(snap, *[str(p) for p in _list("open_access", "cdk_files")]):
        text = snap.text(path)
        if not text.ok or "ethod(" not in text.value or words.search(text.value) \
                or not context.search(text.value):
            continue
        style = "#" if path.endswith(".py") else "//"
        for hit in common.grep(snap, [path], method, comment=style, limit=10):
            found.append(Finding("open", common.at(
                path, hit.line, f"API Gateway method without authorizer or API key "
                                f"({hit.detail.rstrip(';').strip()}): anyone may call it")))
    return found


def _azureml_configs(snap: Snapshot) -> list[Finding]:
    """Azure ML (v1) web service deployment configurations (``computeType: ACI`` or ``AKS``,
    used with ``az ml model deploy --dc``): authentication on or off, from ``authEnabled`` /
    ``tokenAuthEnabled`` or the compute type's default (ACI off, AKS on)."""
    settings = [str(k) for k in _list("open_access", "azureml_auth_settings")]
    defaults = _cat("open_access", "azureml_default_auth") or {}
    found: list[Finding] = []
    for path in _project(snap, *[str(p) for p in _list("open_access", "azureml_files")]):
        text = snap.text(path)
        if not text.ok or "computeType" not in text.value:
            continue
        parsed = snap.json(path) if path.endswith(".json") else snap.yaml(path)
        doc = parsed.value if parsed.ok else None
        kind = str(doc.get("computeType", "")).lower() if isinstance(doc, dict) else ""
        if not isinstance(doc, dict) or kind not in defaults:
            continue
        given = [(k, doc[k]) for k in settings if k in doc]
        if any(not isinstance(v, bool) for _, v in given):
            continue  # templated: cannot tell
        enabled = any(v for _, v in given) if given else bool(defaults[kind])
        key = given[0][0] if given else "computeType"
        line = _line_of(snap.lines(path), key)
        detail = (f"Azure ML {kind.upper()} web service configuration: authentication "
                  f"{'on' if enabled else 'off'}"
                  f"{f' ({key}: {given[0][1]})' if given else ' (no authEnabled: the default)'}")
        found.append(Finding("guarded" if enabled else "open", common.at(path, line, detail)))
    return found


# -- facts: real-time and batch ----------------------------------------------------------------

def findings(snap: Snapshot) -> list[Finding]:
    """Every serving finding from code, configuration and scripts, computed once."""

    def compute() -> list[Finding]:
        return (_python_findings(snap) + _text_findings(snap) + _bundle_jobs(snap)
                + _open_access(snap))

    result: list[Finding] = snap.memo("serving.findings", compute)
    return result


def _live_routes(snap: Snapshot) -> list[mlcode.Route]:
    """Routes with a handler that does something (stubs are declared, not served)."""
    return [r for r in mlcode.web(snap).routes if not r.stub]


def _realtime_items(snap: Snapshot) -> list[Evidence]:
    """The real-time serving found: live web routes, model servers, online endpoints. The one
    decision behind serving.realtime_api and serving.auth's "no real-time API"."""
    items = [r.at(f"{r.framework} route {r.label}") for r in _live_routes(snap)]
    return items + [f.evidence for f in findings(snap) if f.kind == "realtime"]


def _realtime_fact(snap: Snapshot) -> Fact:
    """True with web routes, model servers and online endpoints; False lists what was searched,
    web apps without any route and route stubs (declared, but with an empty body)."""
    web = mlcode.web(snap)
    items = _realtime_items(snap)
    if items:
        return common.value("serving.realtime_api", True, items)
    counter = [r.at(f"not counted: route {r.label} is a stub (empty body)")
               for r in web.routes if r.stub]
    counter += [a.unit.at(a.tree, a.node, f"not counted: {a.framework} app without any route")
                for a in web.apps]
    bad = _unparseable(snap)
    return Fact("serving.realtime_api", False, tuple(
        [common.searched(REALTIME_WHAT, "the project's code, manifests, IaC and scripts"),
         *counter, *bad][:20]))


def _unparseable(snap: Snapshot) -> list[Evidence]:
    """Project sources that could not be parsed: a False is then only as good as the rest."""
    return [Evidence(detail=f"unparseable: {why}", path=path)
            for path, why in list(mlcode.sources(snap).unparseable.items())[:5]]


def _batch_fact(snap: Snapshot) -> Fact:
    """True with batch-scoring files (load, read, predict, write), spark_udf, batch transform,
    batch endpoints and bundle jobs that run a scoring file."""
    items = list(mlcode.batch_files(snap).values())
    items += [f.evidence for f in findings(snap) if f.kind == "batch"]
    if items:
        return common.value("serving.batch", True, items)
    return Fact("serving.batch", False, (common.searched(
        BATCH_WHAT, mlcode.sources(snap).where() + ", manifests, IaC and scripts"),
        *_unparseable(snap)))


# -- facts: API documentation -----------------------------------------------------------------

def _spec_files(snap: Snapshot) -> list[Evidence]:
    """OpenAPI 3 / Swagger 2.0 documents, recognised by their top-level key (not their name),
    and .proto files that define a gRPC service."""
    key = re.compile(str(_cat("spec", "openapi_key")))
    limit = int(_cat("spec", "max_bytes") or 2_000_000)
    found: list[Evidence] = []
    for path in _project(snap, *[str(p) for p in _list("spec", "openapi_files")]):
        if snap.size(path) > limit:
            continue
        text = snap.text(path)
        if not text.ok or not key.search(text.value[:4000]):
            continue
        parsed = snap.json(path) if path.endswith(".json") else snap.yaml(path)
        doc = parsed.value if parsed.ok else None
        if isinstance(doc, dict) and ("openapi" in doc or "swagger" in doc):
            version = doc.get("openapi") or doc.get("swagger")
            paths = doc.get("paths")
            count = len(paths) if isinstance(paths, dict) else 0
            found.append(common.at(path, common.first_line(text.value, key),
                                   f"OpenAPI/Swagger {version} document with {count} path(s)"))
    service = re.compile(str(_cat("spec", "proto_service")))
    for hit in common.grep(snap, _project(snap, "*.proto"), service, comment="//", limit=5):
        found.append(common.at(hit.path or "", hit.line, f"gRPC service: {hit.detail}"))
    return found


def _schema_models(snap: Snapshot) -> set[str]:
    """Names of request/response schema classes (pydantic models and their subclasses)."""
    bases = common.name_matcher([str(b) for b in _list("python", "schema_bases")])
    classes: list[tuple[str, list[str]]] = []
    for unit in mlcode.sources(snap).units:
        for tree in unit.trees:
            for node in tree.of(ast.ClassDef):
                classes.append((node.name, [unit.resolve(b) or "" for b in node.bases]))
    models = {name for name, resolved in classes if any(bases.match(b) for b in resolved)}
    grew = True
    while grew:
        grew = False
        for name, resolved in classes:
            if name not in models and any(b.split(".")[-1] in models for b in resolved):
                models.add(name)
                grew = True
    return models


def _mentions_model(node: ast.AST | None, models: set[str]) -> bool:
    """Whether an annotation (``Item``, ``list[Item]``, ``Annotated[Item, ...]``) or
    ``response_model=`` value names a schema class."""
    if node is None:
        return False
    return any((isinstance(n, ast.Name) and n.id in models)
               or (isinstance(n, ast.Attribute) and n.attr in models)
               or (isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in models)
               for n in common.walk(node))


def _typing_gaps(route: mlcode.Route, models: set[str]) -> list[str]:
    """What a FastAPI route lacks: a schema-typed request parameter, a response model."""
    gaps: list[str] = []
    handler = route.handler
    if handler is None:
        return ["handler not found"]
    params = handler.args.args + handler.args.kwonlyargs + handler.args.posonlyargs
    if not any(_mentions_model(p.annotation, models) for p in params):
        gaps.append("no schema-typed request")
    response = None
    if route.decorator is not None:
        response = next((k.value for k in route.decorator.keywords
                         if k.arg == "response_model"), None)
    if not (_mentions_model(response, models) or _mentions_model(handler.returns, models)):
        gaps.append("no response model")
    return gaps


def _api_routes(snap: Snapshot) -> list[mlcode.Route]:
    """The routes that make up the API: prediction routes, or when none is recognised, every
    route but health checks, docs and metrics."""
    routes = _live_routes(snap)
    predicting = [r for r in routes if mlcode.prediction_route(r)]
    if predicting:
        return predicting
    chores = [str(w) for w in _list("python", "housekeeping_routes")]
    return [r for r in routes if r.url.strip("/")
            and not mlcode.mentions(mlcode.tokens(r.url, r.handler_name), chores)]


def _bentoml_io(snap: Snapshot) -> tuple[list[Evidence], list[Evidence]]:
    """BentoML APIs with typed IO (``@svc.api(input=..., output=...)``, or ``@bentoml.api`` on a
    fully annotated method) and those without."""
    typed: list[Evidence] = []
    untyped: list[Evidence] = []
    for unit in mlcode.sources(snap).units:
        if not unit.imports(["bentoml"]):
            continue
        for tree in unit.trees:
            for node in tree.of(ast.FunctionDef, ast.AsyncFunctionDef):
                for dec in node.decorator_list:
                    func = dec.func if isinstance(dec, ast.Call) else dec
                    name = unit.resolve(func) or ""
                    if not (name == "bentoml.api" or name.endswith(".api")):
                        continue
                    keywords = {k.arg for k in dec.keywords} if isinstance(dec, ast.Call) else set()
                    params = [a for a in node.args.args if a.arg not in ("self", "cls")]
                    annotated = all(a.annotation is not None for a in params) \
                        and node.returns is not None
                    if {"input", "output"} <= keywords or (name == "bentoml.api" and annotated):
                        typed.append(unit.at(tree, node, f"BentoML API {node.name} with typed IO"))
                    else:
                        untyped.append(unit.at(tree, node,
                                               f"BentoML API {node.name} without typed IO"))
    return typed, untyped


def _spec_libraries(snap: Snapshot) -> list[Evidence]:
    """Web apps that generate their OpenAPI description from code (flask-smorest, flasgger,
    spectree, drf-spectacular, ...)."""
    libraries = [str(x) for x in _list("python", "spec_libraries")]
    with_routes = {id(r.unit) for r in _live_routes(snap)}
    found: list[Evidence] = []
    for unit in mlcode.sources(snap).units:
        if id(unit) not in with_routes:
            continue
        for tree in unit.trees:
            for node in tree.of(ast.Import, ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                for module in modules:
                    if module.split(".")[0] in libraries:
                        found.append(unit.at(tree, node, f"{module} generates an OpenAPI "
                                                         "description from the routes"))
    return found


def _documented_fact(snap: Snapshot) -> Fact:
    """True with an OpenAPI/Swagger document, a .proto service, BentoML typed IO, a spec
    generator, or FastAPI prediction routes that all have schema-typed requests and responses.
    Untyped prediction routes are listed; without a spec document they make it False."""
    specs = _spec_files(snap) + _spec_libraries(snap)
    bento_typed, bento_untyped = _bentoml_io(snap)
    models = _schema_models(snap)
    fastapi = [r for r in _api_routes(snap) if r.framework == "fastapi"]
    typed: list[Evidence] = []
    untyped: list[Evidence] = []
    for route in fastapi:
        gaps = _typing_gaps(route, models)
        if gaps:
            untyped.append(route.at(f"untyped route {route.label}: {', '.join(gaps)}"))
        else:
            typed.append(route.at(f"typed route {route.label}: request and response models"))
    others = [r.at(f"{r.framework} route {r.label}: no OpenAPI document or schema")
              for r in _api_routes(snap) if r.framework != "fastapi"]
    if specs:
        return common.value("serving.api_documented", True, specs + untyped + bento_typed)
    if untyped:
        return Fact("serving.api_documented", False, tuple((untyped + typed)[:20]))
    if typed or bento_typed:
        return common.value("serving.api_documented", True, typed + bento_typed + others)
    return Fact("serving.api_documented", False, tuple([common.searched(
        "an OpenAPI/Swagger document, .proto service, BentoML typed IO or FastAPI routes with "
        "request and response models", "the project's files"), *others, *bento_untyped][:20]))


# -- facts: authentication --------------------------------------------------------------------

def _rejects(fn: ast.AST) -> bool:
    """Whether a function refuses a request as unauthenticated (401/403, Unauthorized, ...)."""
    codes = set(_list("auth", "reject_codes"))
    words = set(_list("auth", "reject_names"))
    for node in mlcode.live_nodes(fn):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) \
                and not isinstance(node.value, bool) and node.value in codes:
            return True
        if isinstance(node, ast.Name) and node.id in words:
            return True
        if isinstance(node, ast.Attribute) and node.attr in words:
            return True
    return False


def _header_check(fn: mlcode.Function) -> str | None:
    """The credential header a function reads before refusing with 401/403, if it does."""
    header = re.compile(str(_cat("auth", "headers")))
    params = fn.args.args + fn.args.kwonlyargs
    names = [a.arg for a in params]
    names += [n.value for n in mlcode.live_nodes(fn)
              if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    used = next((n for n in names if header.match(n)), None)
    return used if used and _rejects(fn) else None


def _mentions_credentials(unit: mlcode.Unit) -> bool:
    """Whether a unit names a credential header or parameter at all (skips the per-function
    check in the many files that never do)."""
    header = re.compile(str(_cat("auth", "headers")))
    return any((isinstance(n, ast.Constant) and isinstance(n.value, str) and header.match(n.value))
               or (isinstance(n, ast.arg) and header.match(n.arg))
               for tree in unit.trees for n in tree.of(ast.Constant, ast.arg))


def _depends_target(unit: mlcode.Unit, node: ast.AST) -> tuple[str, str] | None:
    """For ``Depends(x)`` / ``Security(x)``: (``Depends`` or ``Security``, the name of x)."""
    if not isinstance(node, ast.Call):
        return None
    kind = mlcode.last_name(node.func)
    if kind not in ("Depends", "Security"):
        return None
    target = node.args[0] if node.args else next(
        (k.value for k in node.keywords if k.arg == "dependency"), None)
    return kind, (mlcode.last_name(target) if target is not None else "")


@dataclass
class AuthNames:
    """Project-wide names that authenticate: security scheme objects and the functions that
    depend on them or check a credential header."""

    schemes: dict[str, Evidence]
    checkers: dict[str, Evidence]
    pattern: re.Pattern[str]

    def authenticates(self, kind: str, target: str) -> bool:
        return kind == "Security" or target in self.schemes or target in self.checkers \
            or bool(target and self.pattern.search(target))


def _auth_names(units: list[mlcode.Unit]) -> AuthNames:
    security = common.name_matcher([str(x) for x in _list("auth", "security_classes")])
    schemes: dict[str, Evidence] = {}
    checkers: dict[str, Evidence] = {}
    for unit in units:
        for tree in unit.trees:
            for node in tree.of(ast.Assign):
                if isinstance(node.value, ast.Call):
                    ctor = unit.resolve(node.value.func) or ""
                    if security.match(ctor):
                        for target in node.targets:
                            name = mlcode.last_name(target)
                            schemes[name] = unit.at(tree, node, f"{name} = {ctor}(…)")
    for unit in units:
        credentials = _mentions_credentials(unit)
        for tree in unit.trees:
            for node in tree.of(ast.FunctionDef, ast.AsyncFunctionDef):
                if mlcode.is_stub(node.body):
                    continue
                header = _header_check(node) if credentials else None
                if header:
                    checkers[node.name] = unit.at(
                        tree, node, f"{node.name} checks the {header} credential and refuses "
                        "with 401/403")
                defaults = node.args.defaults + [d for d in node.args.kw_defaults if d]
                for default in defaults:
                    dep = _depends_target(unit, default)
                    if dep and dep[1] in schemes:
                        checkers[node.name] = unit.at(
                            tree, node, f"{node.name} depends on security scheme {dep[1]}")
    return AuthNames(schemes, checkers, re.compile(str(_cat("auth", "names"))))


def _handler_functions(route: mlcode.Route,
                       by_name: dict[str, list[mlcode.Function]]) -> list[mlcode.Function]:
    """The handler of a route, or for a handler named in another module (Django
    ``views.predict``) the project functions of that name."""
    if route.handler is not None:
        return [route.handler]
    name = route.handler_name.split(".")[-1]
    return by_name.get(name, []) if name else []


def _route_auth(route: mlcode.Route, auth: AuthNames,
                by_name: dict[str, list[mlcode.Function]]) -> Evidence | None:
    """Evidence that a route authenticates: a security dependency on the route or its
    parameters, an auth decorator, or a credential check in its body."""
    unit = route.unit
    deps: list[ast.AST] = []
    if route.decorator is not None:
        for kw in route.decorator.keywords:
            if kw.arg == "dependencies":
                deps.extend(common.walk(kw.value))
    handlers = _handler_functions(route, by_name)
    for handler in handlers:
        deps.extend(handler.args.defaults + [d for d in handler.args.kw_defaults if d])
        for param in handler.args.args + handler.args.kwonlyargs:
            if param.annotation is not None:
                deps.extend(common.walk(param.annotation))
    for node in deps:
        dep = _depends_target(unit, node)
        if dep and auth.authenticates(*dep):
            return route.at(f"route {route.label} requires {dep[0]}({dep[1]})")
    decorators = re.compile(str(_cat("auth", "decorators")))
    calls = set(_list("auth", "calls"))
    for handler in handlers:
        for dec in handler.decorator_list:
            name = mlcode.last_name(dec.func if isinstance(dec, ast.Call) else dec)
            if decorators.match(name):
                return route.at(f"route {route.label} is decorated with @{name}")
        header = _header_check(handler)
        if header:
            return route.at(f"route {route.label} checks the {header} credential (401/403)")
        for node in mlcode.live_nodes(handler):
            if isinstance(node, ast.Call) and mlcode.last_name(node.func) in calls:
                return route.at(f"route {route.label} calls {mlcode.last_name(node.func)}")
    return None


def _app_auth(units: list[mlcode.Unit], auth: AuthNames) -> list[Evidence]:
    """Authentication applied to a whole app or router: ``FastAPI(dependencies=[...])``,
    ``include_router(..., dependencies=[...])``, authentication middleware, Flask
    ``before_request`` checks, Django REST framework permission settings."""
    middleware = common.name_matcher([str(x) for x in _list("auth", "middleware")])
    drf = set(_list("auth", "drf_settings"))
    found: list[Evidence] = []
    for unit in units:
        for tree in unit.trees:
            for node in tree.of(ast.Call, ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign):
                if isinstance(node, ast.Call):
                    found.extend(_app_dependencies(unit, tree, node, auth))
                    if any(middleware.match(unit.resolve(a) or "") for a in node.args):
                        found.append(unit.at(tree, node, "authentication middleware"))
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                        and not mlcode.is_stub(node.body):
                    hooks = {mlcode.last_name(d.func if isinstance(d, ast.Call) else d)
                             for d in node.decorator_list}
                    if hooks & {"before_request", "before_app_request"} and _header_check(node):
                        found.append(unit.at(tree, node, f"{node.name} checks credentials "
                                                         "before every request"))
                elif isinstance(node, ast.Assign):
                    targets = {mlcode.last_name(t) for t in node.targets} & drf
                    if not targets:
                        continue
                    classes = {mlcode.last_name(n) for n in common.walk(node.value)
                               if isinstance(n, ast.Name | ast.Attribute)}
                    classes |= {n.value.split(".")[-1] for n in common.walk(node.value)
                                if isinstance(n, ast.Constant) and isinstance(n.value, str)}
                    if targets and classes - {"AllowAny", ""}:
                        found.append(unit.at(tree, node, f"{', '.join(sorted(targets))} = "
                                                         f"{', '.join(sorted(classes))}"))
    return found


def _app_dependencies(unit: mlcode.Unit, tree: mlcode.Tree, call: ast.Call,
                      auth: AuthNames) -> list[Evidence]:
    """``FastAPI(dependencies=[Depends(verify_key)])`` and the same on routers and
    ``include_router``; a route decorator's own dependencies are the route's (not app-wide)."""
    if isinstance(call.func, ast.Attribute) \
            and call.func.attr in mlcode.names("mlcode", "web", "route_decorators"):
        return []
    for kw in call.keywords:
        if kw.arg != "dependencies":
            continue
        for sub in common.walk(kw.value):
            dep = _depends_target(unit, sub)
            if dep and auth.authenticates(*dep):
                return [unit.at(tree, call, f"{mlcode.code(call)} with dependency {dep[1]}")]
    return []


def _auth_fact(snap: Snapshot) -> Fact:
    """True when the real-time serving authenticates its callers and nothing is left open:
    app-wide authentication (app/router dependencies, middleware, before_request checks, DRF
    permissions, endpoint auth modes, mesh policies), managed endpoints defined here (SageMaker,
    Vertex AI, Databricks: invocations need signed credentials), guarded gateway methods or
    web service configurations, or every API route authenticating. False, with the evidence,
    when an entry point is open (a route without authentication, an API Gateway method without
    authorizer, an ACI web service without auth) or no authentication is found at all. Without
    real-time serving (the same decision as serving.realtime_api) it says so."""
    realtime = _realtime_items(snap)
    if not realtime:
        return Fact("serving.auth", False, (common.searched(
            "authentication on an API", "the project (no real-time API found)"),))
    routes = _api_routes(snap) or _live_routes(snap)
    units = mlcode.sources(snap).units
    auth = _auth_names(units)
    by_name: dict[str, list[mlcode.Function]] = {}
    for unit in units:
        for tree in unit.trees:
            for node in tree.of(ast.FunctionDef, ast.AsyncFunctionDef):
                by_name.setdefault(node.name, []).append(node)
    app_wide = _app_auth(units, auth)  # covers the web app's routes
    guarded: list[Evidence] = []
    open_points: list[Evidence] = []
    for finding in findings(snap):
        if finding.kind == "auth":
            app_wide.append(finding.evidence)
        elif finding.kind == "guarded":
            guarded.append(finding.evidence)
        elif finding.kind == "open":
            open_points.append(finding.evidence)
        elif finding.kind == "realtime" and finding.managed:
            ev = finding.evidence
            detail = (f"{finding.managed} endpoint defined here: invocations need signed cloud "
                      f"credentials ({ev.detail})")
            guarded.append(common.at(ev.path or "", ev.line, detail))
    open_routes: list[Evidence] = []
    for route in routes:
        found = _route_auth(route, auth, by_name)
        if found is not None:
            guarded.append(found)
        elif not app_wide:
            open_routes.append(route.at(f"route {route.label} has no authentication"))
    opened = open_points + open_routes
    if (app_wide or guarded) and not opened:
        return common.value("serving.auth", True, app_wide + guarded)
    if routes:
        where = f"{len(routes)} API route(s) and the serving configuration"
    else:
        where = "the real-time serving found (" + "; ".join(
            f"{e.path}:{e.line}" if e.line else str(e.path) for e in realtime[:3]) + ")"
    return Fact("serving.auth", False, tuple([common.searched(
        "authentication on every entry point of the real-time serving (security dependencies, "
        "API-key/JWT/OAuth checks, login decorators, endpoint auth_mode, gateway authorizers, "
        "web service auth)", where), *opened, *app_wide, *guarded,
        *auth.schemes.values()][:20]))


# -- facts: secrets ---------------------------------------------------------------------------

def _placeholder(value: str, key: bool = False) -> bool:
    """Values that stand for a secret instead of being one: empty, short, templated, a
    variable or env-var name, a path, a word like "changeme" / "<your-token>", or (for a
    KEY = value setting) a value that itself names a secret."""
    v = re.sub(r"(?i)^(bearer|basic|token)\s+", "", value.strip())
    low = v.lower()
    if len(v) < int(_cat("secrets", "min_length") or 6) or any(c.isspace() for c in v):
        return True
    if v.startswith(tuple(str(p) for p in _list("secrets", "reference_prefixes"))):
        return True
    if "${" in v or "{{" in v or "://" in v or low in _list("secrets", "placeholder_values"):
        return True
    if any(str(w) in low for w in _list("secrets", "placeholder_words")):
        return True
    if key and re.search(str(_cat("secrets", "names")), low):
        return True  # "api_token", "db-password": a label naming the secret, not its value
    if re.fullmatch(r"[A-Z][A-Z0-9_]*|[\d.:-]+|(.)\1+", v):
        return True
    return bool(re.search(r"\.(pem|key|json|txt|crt|p12|ya?ml|env|cfg|ini|pkl)$", low))


@functools.cache
def _secret_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The credential shapes of the catalogue, compiled once."""
    return tuple((str(p.get("what")), re.compile(str(p.get("regex"))))
                 for p in _list("secrets", "patterns") if isinstance(p, dict))


@functools.cache
def _secret_hint() -> re.Pattern[str]:
    """A cheap filter that every line holding a secret matches (see the catalogue's hint)."""
    return re.compile(str(_cat("secrets", "hint")), re.IGNORECASE)


def _redact(value: str) -> str:
    """Enough of a secret to find it again, never the secret itself."""
    return f"{value[:4]}… ({len(value)} characters, redacted)"


_ASSIGNMENT: dict[str, re.Pattern[str]] = {}


def _assignment(quoted_only: bool) -> re.Pattern[str]:
    """``<name ending in password/secret/token/...> = "literal"`` (Python), and ``key: value`` /
    ``KEY=value`` (YAML, JSON, .env, ini) where the value may be bare."""
    key = "py" if quoted_only else "config"
    if key not in _ASSIGNMENT:
        names = str(_cat("secrets", "names"))
        bare = "" if quoted_only else r"|(?P<bare>[^\s\"'#,}\]]+)"
        _ASSIGNMENT[key] = re.compile(
            r"(?i)(?:^|(?<=[\s\"'{,(\[]))(?P<key>[\w.\-]*" + names + r")[\"']?"
            r"(?:\s*:\s*[A-Za-z_][\w\[\]., |]*?)?\s*[:=]\s*"
            r"(?:(?P<q>[\"'])(?P<quoted>[^\"'\n]*)(?P=q)" + bare + ")")
    return _ASSIGNMENT[key]


def _lines(snap: Snapshot, path: str) -> Iterator[tuple[int | None, str, str]]:
    """(line, prefix for evidence, text) of a file; a notebook's code-cell lines."""
    if path.endswith(".ipynb"):
        parsed = snap.notebook(path)
        for number, (kind, source) in enumerate(parsed.value if parsed.ok else [], start=1):
            if kind == "code":
                for i, line in enumerate(source.split("\n"), start=1):
                    yield None, f"cell {number}, line {i}: ", line
        return
    for i, line in enumerate(snap.lines(path), start=1):
        yield i, "", line


def _secret_in_line(line: str, following: str, quoted_only: bool) -> tuple[str, str] | None:
    """(what, redacted value) for a credential in LINE; FOLLOWING is the next line (a private
    key header only counts with key material after it)."""
    if not _secret_hint().search(line):
        return None
    for what, pattern in _secret_patterns():
        match = pattern.search(line)
        if match is None:
            continue
        secret = match.group(1)
        if "EXAMPLE" in secret:
            continue
        if what == "private key":
            rest = line[match.end():].replace("\\n", "\n").strip() or following.strip()
            if not re.match(r"[A-Za-z0-9+/=]{20,}", rest):
                continue
            return what, secret
        if what == "credentials in a URL" and _placeholder(secret):
            continue
        return what, _redact(secret)
    reference = re.compile(str(_cat("secrets", "reference_keys")))
    for match in _assignment(quoted_only).finditer(line):
        value = match.group("quoted") if match.group("q") else match.group("bare")
        if reference.search(match.group("key")):
            continue
        if value is not None and not _placeholder(value, key=True):
            return f"literal {match.group('key')}", _redact(value)
    return None


def _hinted(lines: list[tuple[int | None, str, str]]) -> list[int]:
    """Indexes of the LINES that may hold a credential, in order: those where the hint can
    match. One case-sensitive search over the lines case-folded and joined (six times faster
    than a case-insensitive search line by line); it finds every line the hint matches, and
    ``_secret_in_line`` asks the hint itself again."""
    folded = [_fold(text) for _, _, text in lines]
    starts: list[int] = []
    offset = 0
    for text in folded:
        starts.append(offset)
        offset += len(text) + 1
    found: list[int] = []
    for match in _folded_hint().finditer("\n".join(folded)):
        index = bisect.bisect_right(starts, match.start()) - 1
        if not found or found[-1] != index:
            found.append(index)
    return found


def _fold(text: str) -> str:
    """TEXT case-folded, and the one letter folding keeps that re's case-insensitive ``i``
    still matches (the dotless i, U+0131) turned into ``i``: every line the hint matches
    case-insensitively matches the folded hint once folded."""
    return text.casefold().replace("\u0131", "i")


@functools.cache
def _folded_hint() -> re.Pattern[str]:
    """The hint for case-folded text: its letters folded, escapes (``\\S``, ``\\d``) kept."""
    hint = str(_cat("secrets", "hint"))
    out: list[str] = []
    i = 0
    while i < len(hint):
        if hint[i] == "\\":
            out.append(hint[i : i + 2])
            i += 2
        else:
            out.append(hint[i].casefold())
            i += 1
    return re.compile("".join(out))


def _secret_fact(snap: Snapshot) -> Fact:
    """True with each hard-coded credential (value redacted); tests, lock files and placeholders
    ("", "changeme", "<your-token>", "${VAR}", env reads) do not count."""
    skip = set(snap.glob(*[str(p) for p in _list("secrets", "skip_files")]))
    skip.update(e.path for e in _load_tests(snap) if e.path)  # load tests are tests too
    limit = int(_cat("secrets", "max_bytes") or 1_000_000)
    paths = [p for p in _project(snap, *[str(p) for p in _list("secrets", "files")])
             if p not in skip and snap.size(p) <= limit]
    items: list[Evidence] = []
    for path in paths:
        content = snap.text(path)
        if not content.ok or not _folded_hint().search(_fold(content.value)):
            continue
        quoted_only = path.endswith((".py", ".ipynb"))
        lines = list(_lines(snap, path))
        for i in _hinted(lines):
            line, prefix, text = lines[i]
            stripped = text.strip()
            if not stripped or stripped.startswith(("#", "//", ";")):
                continue
            following = lines[i + 1][2] if i + 1 < len(lines) else ""
            hit = _secret_in_line(text, following, quoted_only)
            if hit:
                items.append(common.at(path, line, f"{prefix}{hit[0]}: {hit[1]}"))
        if len(items) >= 20:
            break
    if items:
        return common.value("serving.hardcoded_secret", True, items)
    return Fact("serving.hardcoded_secret", False, (common.searched(
        "hard-coded credentials (AWS key ids, private keys, API tokens, password/secret/token "
        "literals)", f"{len(paths)} code and configuration file(s), tests excluded"),))


# -- facts: load tests ------------------------------------------------------------------------

def _locust(snap: Snapshot) -> list[Evidence]:
    """Python classes that locust runs (``class WebsiteUser(HttpUser)``) in files importing
    locust; tests folders included, load tests often live there."""
    bases = set(_list("load_tests", "locust_bases"))
    found: list[Evidence] = []
    for path in _project(snap, "*.py", tests=True):
        text = snap.text(path)
        if not text.ok or "locust" not in text.value:
            continue
        parsed = snap.python(path)
        if not parsed.ok:
            continue
        unit = mlcode.build_unit(path, [mlcode.Tree(parsed.value, None,
                                                    tuple(mlcode.live_nodes(parsed.value)))],
                                 False)
        if not unit.imports(["locust"]):
            continue
        for node in unit.trees[0].nodes:
            if isinstance(node, ast.ClassDef) and any(
                    mlcode.last_name(b) in bases for b in node.bases):
                found.append(common.at(path, node.lineno, f"locust user class {node.name}"))
                break
    return found


def _text_tests(snap: Snapshot, files: Iterable[str], pattern: str, what: str,
                also: str | None = None, comment: str | None = None) -> list[Evidence]:
    """The first line matching PATTERN in each of FILES (which must also match ALSO)."""
    found: list[Evidence] = []
    regex = re.compile(pattern)
    extra = re.compile(also) if also else None
    for path in _project(snap, *files, tests=True):
        text = snap.text(path)
        if not text.ok or (extra is not None and not extra.search(text.value)):
            continue
        for hit in common.grep(snap, [path], regex, comment=comment, limit=1):
            found.append(common.at(path, hit.line, f"{what}: {hit.detail}"))
    return found


def _vegeta_targets(snap: Snapshot) -> list[Evidence]:
    """vegeta target files: a ``*targets*`` file whose first line is ``METHOD http(s)://...``."""
    line = re.compile(str(_cat("load_tests", "vegeta_target_line")))
    found: list[Evidence] = []
    for path in _project(snap, *[str(p) for p in _list("load_tests", "vegeta_targets")],
                         tests=True):
        first = next((x.strip() for x in snap.lines(path)
                      if x.strip() and not x.strip().startswith("#")), "")
        if line.match(first):
            found.append(common.at(path, None, f"vegeta targets: {first}"))
    return found


def _artillery(snap: Snapshot) -> list[Evidence]:
    """Artillery scripts: YAML with ``config.target`` and a non-empty ``scenarios`` list."""
    found: list[Evidence] = []
    for path in _project(snap, *[str(p) for p in _list("load_tests", "artillery_files")],
                         tests=True):
        text = snap.text(path)
        if not text.ok or "scenarios" not in text.value or "target" not in text.value:
            continue
        parsed = snap.yaml(path)
        doc = parsed.value if parsed.ok else None
        config = doc.get("config") if isinstance(doc, dict) else None
        scenarios = doc.get("scenarios") if isinstance(doc, dict) else None
        if isinstance(config, dict) and config.get("target") and isinstance(scenarios, list) \
                and scenarios:
            found.append(common.at(path, common.first_line(text.value, re.compile(r"^config\s*:")),
                                   f"artillery script against {config.get('target')}"))
    return found


def _load_tests(snap: Snapshot) -> list[Evidence]:
    """Load-test definitions found by content: locust user classes, k6 scripts, JMeter plans,
    Gatling simulations, vegeta attacks/targets, artillery scripts."""
    result: list[Evidence] = snap.memo("serving.load_tests", lambda: _find_load_tests(snap))
    return result


def _find_load_tests(snap: Snapshot) -> list[Evidence]:
    lt = "load_tests"
    items = _locust(snap)
    items += _text_tests(snap, [str(p) for p in _list(lt, "k6_files")],
                         str(_cat(lt, "k6_import")), "k6 script", comment="//")
    items += _text_tests(snap, [str(p) for p in _list(lt, "jmeter_files")],
                         str(_cat(lt, "jmeter_root")), "JMeter test plan", comment=None)
    items += _text_tests(snap, [str(p) for p in _list(lt, "gatling_files")],
                         str(_cat(lt, "gatling")), "Gatling simulation",
                         also=str(_cat(lt, "gatling_import")), comment="//")
    items += _text_tests(snap, [str(p) for p in _list(lt, "vegeta_files")],
                         str(_cat(lt, "vegeta_commands")), "vegeta attack")
    return items + _vegeta_targets(snap) + _artillery(snap)


def _load_tests_fact(snap: Snapshot) -> Fact:
    """True with each load-test definition; False says what was searched (tests included)."""
    items = _load_tests(snap)
    if items:
        return common.value("serving.load_tests", True, items)
    return Fact("serving.load_tests", False, (common.searched(
        "load tests (locust user classes, k6 scripts, JMeter plans, Gatling simulations, "
        "vegeta, artillery)", "the repository (tests included)"),))


def collect(snap: Snapshot) -> list[Fact]:
    return [
        _realtime_fact(snap),
        _batch_fact(snap),
        _documented_fact(snap),
        _auth_fact(snap),
        _secret_fact(snap),
        _load_tests_fact(snap),
    ]
