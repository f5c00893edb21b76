"""Monitoring (4.x): cost, alerting, API and batch-job observability, offline metrics, KPIs,
drift and outliers.

Code counts only where it runs: a library imported but never called, a call in commented-out
code, under ``if False:``, or in a function that nothing calls (and no configuration names) is
not evidence; such finds are kept as counter-evidence of a False fact.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.checks.codeindex import (
    CodeFile,
    CodeIndex,
    Definition,
    Use,
    code_index,
    def_evidence,
    dotted,
    is_off,
    not_counted,
    use_evidence,
)
from mlops_auditor.checks.common import as_list
from mlops_auditor.checks.configfiles import (
    Block,
    azure_resources,
    body_line,
    bundle_resources,
    cfn_resources,
    ci_files,
    key_line,
    terraform_blocks,
    typed_blocks,
    unique,
    verdict,
    walk,
    yaml_files,
)
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "monitoring.cost": "infrastructure cost is tracked: Infracost, budgets or cost-anomaly "
                       "monitors in IaC, or cost-allocation tags",
    "monitoring.alerts": "health alerting is defined: cloud metric alarms and alert policies "
                         "that notify someone (actions, notification channels), Prometheus "
                         "alert rules, Alertmanager, monitors, Grafana dashboards",
    "monitoring.api_logging": "the serving API logs requests/responses AND exposes latency/status "
                              "metrics or a health endpoint (evidence lists the parts found)",
    "monitoring.batch_alerts": "batch jobs notify on failure or lateness (job email/webhook "
                               "notifications, Airflow on_failure_callback/SLA, failure sensors)",
    "monitoring.offline_metrics": "offline evaluation metrics are recorded (metrics logged to "
                                  "MLflow/W&B/DVC/SageMaker/Vertex; autologging only with an "
                                  "evaluation on held-out data)",
    "monitoring.kpi_feedback": "business KPIs or outcomes are joined back to predictions (ground "
                               "truth joins, KPI computations and dashboards)",
    "monitoring.drift": "data/prediction drift is monitored (Evidently, whylogs, NannyML, "
                        "alibi-detect, SageMaker Model Monitor, Databricks quality monitors)",
    "monitoring.outliers": "outliers are detected on inputs (outlier detectors, confidence "
                           "gates on the serving path)",
}


def collect(snap: Snapshot) -> list[Fact]:
    code = code_index(snap)
    return [cost(snap, code), alerts(snap, code), api_logging(snap, code),
            batch_alerts(snap, code), offline_metrics(snap, code), kpi_feedback(snap, code),
            drift(snap, code), outliers(snap, code)]


def _cat() -> dict[str, Any]:
    return common.catalogue("monitoring")



# =============================================================================================
# The monitoring facts.
# =============================================================================================

def cost(snap: Snapshot, code: CodeIndex) -> Fact:
    """Cost tracking: an Infracost config or Infracost in CI (cost estimates on changes),
    budgets and cost-anomaly monitors in IaC (Terraform, CloudFormation, Bicep/ARM: someone is
    told when spend grows), and
    cost-allocation tags (spend can be attributed to the ML system)."""
    cat = _cat()["cost"]
    items: list[Evidence] = []
    for path in snap.glob(*cat["files"]):
        parsed = snap.yaml(path)
        if parsed.ok and isinstance(parsed.value, dict) and parsed.value:
            items.append(common.at(path, 1, "Infracost configuration"))
    items += common.grep(snap, ci_files(snap), re.compile(cat["ci_command"]))
    found, bad = typed_blocks(snap, cat["terraform"], cat["cloudformation"], cat["azure"])
    items += found
    items += _cost_tags(snap, cat)
    items += [use_evidence(u, "budget created in code")
              for u in code.calls(tuple(cat["calls"]), notebooks=False)]
    return verdict("monitoring.cost", items,
                   "Infracost, budgets, cost-anomaly monitors or cost-allocation tags",
                   "infracost.yml, CI files, Terraform, CloudFormation, bundle YAML and code",
                   unparsed=bad, snap=snap)


def _cost_tags(snap: Snapshot, cat: dict[str, Any]) -> list[Evidence]:
    items: list[Evidence] = []
    cost_key = re.compile(cat["cost_key"])
    tf, _ = terraform_blocks(snap)
    for b in tf:
        for key, val, _ in walk(b.body):
            if key in cat["tag_blocks"] and val:
                first = val[0] if isinstance(val, list) else val
                items.append(common.at(b.path, body_line(first) or b.line,
                                       f"cost-allocation tags: {b.type} {key}"))
            elif key in cat["other_tag_blocks"] and isinstance(val, dict) and any(
                    cost_key.search(str(k)) for k in val):
                keys = ", ".join(str(k) for k in val if cost_key.search(str(k)))
                items.append(common.at(b.path, b.line, f"cost tag on {b.type}.{b.name}: {keys}"))
    for y in yaml_files(snap):
        for doc in y.docs:
            for key, val, _ in walk(doc):
                if (key in cat["tag_blocks"] or key in cat["bundle_keys"]) and val:
                    items.append(common.at(y.path, key_line(y.text, key),
                                           f"cost-allocation setting: {key}"))
                    break
    return items[:10]


def alerts(snap: Snapshot, code: CodeIndex) -> Fact:
    """Health alerting: metric alarms and alert policies in IaC (Terraform, CloudFormation,
    Bicep/ARM) that notify someone, Prometheus alert rules (rule files or PrometheusRule), an
    Alertmanager configuration, Grafana dashboards, Databricks SQL alerts, alarms created from
    code with actions. A dashboard is weaker than an alert; evidence says which. An alarm with
    no actions alerts no one (it may only gate a deployment or start a pipeline): it is
    counter-evidence unless an event rule forwards alarm state changes to a notification."""
    cat = _cat()["alerts"]
    items, counter, bad = iac_alarms(snap, cat)
    for y in yaml_files(snap):
        name = PurePosixPath(y.path).name
        for doc in y.docs:
            if not isinstance(doc, dict):
                continue
            if name in cat["alertmanager_files"] and ("route" in doc or "receivers" in doc):
                items.append(common.at(y.path, 1, "Alertmanager configuration"))
            rules = _alert_rules(doc.get("spec") if doc.get("kind") in cat["kinds"] else doc)
            if rules:
                items.append(common.at(y.path, key_line(y.text, "alert") or key_line(
                    y.text, "groups"), f"alert rules: {', '.join(rules[:5])}"))
            elif doc.get("kind") in cat["kinds"]:
                items.append(common.at(y.path, key_line(y.text, "kind"), f"kind {doc['kind']}"))
    for y, _, rname, _ in bundle_resources(snap, cat["bundle_resources"]):
        items.append(common.at(y.path, key_line(y.text, rname), f"Databricks alert {rname}"))
    items += [common.at(path, 1, f"Grafana dashboard: {title}")
              for path, title, _ in dashboards(snap)]
    found, silent = _code_alarms(code, cat)
    return verdict("monitoring.alerts", items + found,
                   "metric alarms or alert policies with notification actions, Prometheus "
                   "alert rules, Alertmanager, monitors or dashboards",
                   "Terraform, CloudFormation, YAML (rules, manifests, bundles), JSON dashboards "
                   "and code", counter=counter + silent, unparsed=bad, snap=snap)


def iac_alarms(snap: Snapshot, cat: dict[str, Any]
               ) -> tuple[list[Evidence], list[Evidence], list[str]]:
    """Alarms and alert policies declared in IaC: (those that notify someone, counter-evidence,
    unparseable IaC files). A type listed under ``actions`` in the catalogue notifies only when
    one of its action keys holds a target (SNS topic, action group, notification channel);
    without one it notifies when an event rule forwards alarm state changes to a notification
    target. Types not listed (monitors that notify by their own configuration) count as they
    are."""
    tf, tf_bad = terraform_blocks(snap)
    cfn, cfn_bad = cfn_resources(snap)
    azure, azure_bad = azure_resources(snap)
    azure_types = {t.lower() for t in cat["azure"]}
    alarms = [b for b in tf if b.kind == "resource" and b.type in cat["terraform"]]
    alarms += [b for b in cfn if b.type in cat["cloudformation"]]
    alarms += [b for b in azure if b.type.lower() in azure_types]
    actions = {str(k).lower(): v for k, v in cat["actions"].items()}
    forwarded = _alarm_notification_rules(cat, tf, cfn)
    items: list[Evidence] = []
    counter: list[Evidence] = []
    for b in alarms:
        what = f"resource {b.type}.{b.name}" if b.kind == "resource" else f"{b.type} {b.name}"
        keys = actions.get(b.type.lower())
        if keys is None:
            items.append(common.at(b.path, b.line, what))
        elif _has_actions(snap, b, keys):
            items.append(common.at(b.path, b.line, f"{what} with notification actions"))
        elif forwarded:
            items.append(common.at(b.path, b.line, f"{what}: state changes forwarded to a "
                                                   f"notification ({forwarded[0].detail})"))
        else:
            counter.append(common.at(b.path, b.line, f"not counted: {what} has no actions "
                                                     f"({', '.join(keys)}), it notifies no one"))
    counter += _alarm_uses_without_notification(cat, tf, cfn) if counter else []
    return items, counter[:10], tf_bad + cfn_bad + azure_bad


def _has_actions(snap: Snapshot, block: Block, keys: list[str]) -> bool:
    """Whether one of KEYS holds a non-empty value in the block's body. Bicep bodies are not
    parsed: their text, from the declaration to the next top-level statement, is read."""
    if block.kind == "bicep":
        return bool(block.line) and _bicep_has_actions(snap, block, keys)
    wanted = set(keys)
    return any(key in wanted and val not in (None, "", [], {}, False)
               for key, val, _ in walk(block.body))


_BICEP_TOP = re.compile(r"^(resource|module|output|param|var|targetScope|type|func)\b")


def _bicep_has_actions(snap: Snapshot, block: Block, keys: list[str]) -> bool:
    lines = snap.lines(block.path)
    start = (block.line or 1) - 1
    end = next((i for i in range(start + 1, len(lines)) if _BICEP_TOP.match(lines[i])),
               len(lines))
    text = "\n".join(ln for ln in lines[start:end] if not ln.lstrip().startswith("//"))
    names = "|".join(re.escape(k) for k in keys)
    return bool(re.search(rf"\b({names})\s*:\s*(\[\s*[^\]\s]|\{{\s*[^}}\s]|[^\s\[{{])", text))


def _alarm_notification_rules(cat: dict[str, Any], tf: list[Block], cfn: list[Block]
                              ) -> list[Evidence]:
    """Event rules (EventBridge/CloudWatch Events) that match alarm state changes and forward
    them to a notification target (an SNS topic, a chat or paging integration)."""
    event = re.compile(cat["alarm_event"])
    notify = re.compile(cat["notification_target"])
    items = []
    topics = {(b.path, b.name) for b in cfn if b.type in cat["cloudformation_topics"]}
    for b in cfn:
        if b.type != "AWS::Events::Rule" or not event.search(str(b.body.get("EventPattern"))):
            continue
        for target in as_list(b.body.get("Targets")):
            arn = str(target.get("Arn")) if isinstance(target, dict) else ""
            if notify.search(arn) or any((b.path, w) in topics
                                         for w in re.findall(r"\w+", arn)):
                items.append(common.at(b.path, b.line, f"event rule {b.name} notifies {arn}"))
    rules = [b.name for b in tf if b.type == "aws_cloudwatch_event_rule"
             and event.search(str(b.body.get("event_pattern")))]
    for b in tf:
        if b.type == "aws_cloudwatch_event_target" and any(
                f"aws_cloudwatch_event_rule.{r}." in str(b.body.get("rule")) for r in rules) \
                and notify.search(str(b.body.get("arn"))):
            items.append(common.at(b.path, b.line, f"event target {b.name} notifies "
                                                   f"{b.body.get('arn')}"))
    return items


def _alarm_uses_without_notification(cat: dict[str, Any], tf: list[Block],
                                     cfn: list[Block]) -> list[Evidence]:
    """What action-less alarms are used for instead: gating a deployment (SAM/CodeDeploy
    ``DeploymentPreference.Alarms``, CodeDeploy alarm configuration) or event rules on alarm
    state changes whose targets do not notify (they start a pipeline or a function)."""
    event = re.compile(cat["alarm_event"])
    items = []
    for b in cfn:
        gate = b.body.get("DeploymentPreference") if isinstance(b.body, dict) else None
        if isinstance(gate, dict) and gate.get("Alarms"):
            items.append(common.at(b.path, b.line, f"alarms only gate the deployment of "
                                                   f"{b.name} (DeploymentPreference.Alarms)"))
        if b.type == "AWS::Events::Rule" and event.search(str(b.body.get("EventPattern"))):
            targets = [str(t.get("Arn")) for t in as_list(b.body.get("Targets"))
                       if isinstance(t, dict)]
            items.append(common.at(b.path, b.line, f"event rule {b.name} on alarm state "
                                                   f"changes targets {', '.join(targets)} "
                                                   f"(not a notification)"))
    for b in tf:
        if b.type == "aws_codedeploy_deployment_group" and b.body.get("alarm_configuration"):
            items.append(common.at(b.path, b.line, f"alarms gate deployments of {b.name} "
                                                   f"(alarm_configuration)"))
    return items


def _code_alarms(code: CodeIndex, cat: dict[str, Any]) -> tuple[list[Evidence], list[Evidence]]:
    """Alarms and alert policies created from code: (those given notification actions in the
    same function or module, those without)."""
    items: list[Evidence] = []
    silent: list[Evidence] = []
    for pattern, keys in cat["call_actions"].items():
        for u in code.calls((pattern,), notebooks=False):
            wanted = set(keys)
            owner = u.owner.key if u.owner else None
            if any(k.kind == "key" and k.name in wanted and k.live and
                   (k.owner.key if k.owner else None) == owner and not is_off(k.node)
                   for k in code.files[u.path].uses):
                items.append(use_evidence(u, "alarm with notification actions created in code"))
            else:
                silent.append(use_evidence(u, f"not counted: alarm created without actions "
                                              f"({', '.join(keys)})"))
    return items, silent[:5]


def _alert_rules(doc: Any) -> list[str]:
    """Names of Prometheus/Grafana alerting rules in a ``groups: - rules: - alert:`` shape."""
    names: list[str] = []
    groups = doc.get("groups") if isinstance(doc, dict) else None
    for group in as_list(groups):
        for rule in as_list(group.get("rules") if isinstance(group, dict) else None):
            if isinstance(rule, dict) and ("alert" in rule or ("condition" in rule and
                                                                "title" in rule)):
                names.append(str(rule.get("alert") or rule.get("title")))
    return names


def dashboards(snap: Snapshot) -> list[tuple[str, str, list[str]]]:
    """Grafana-style and Databricks Lakeview dashboards: (path, title, panel/page titles)."""
    result: list[tuple[str, str, list[str]]] = snap.memo(
        "monitoring.dashboards", lambda: _dashboards(snap))
    return result


def _dashboards(snap: Snapshot) -> list[tuple[str, str, list[str]]]:
    found = []
    for path in snap.glob("**/*.json"):
        if snap.size(path) > 2 * 1024 * 1024:
            continue
        text = snap.text(path)
        if not text.ok or ('"panels"' not in text.value and '"pages"' not in text.value):
            continue
        parsed = snap.json(path)
        doc = parsed.value if parsed.ok else None
        if isinstance(doc, dict) and isinstance(doc.get("dashboard"), dict):
            doc = doc["dashboard"]
        if not isinstance(doc, dict):
            continue
        # Grafana: panels and a title; Databricks Lakeview: pages.
        panels = doc.get("panels") if doc.get("title") else doc.get("pages")
        if isinstance(panels, list) and panels:
            titles = [str(v) for k, v, _ in walk(panels) if k in ("title", "displayName")
                      and isinstance(v, str)]
            title = doc.get("title") or doc.get("displayName") or PurePosixPath(path).stem
            found.append((path, str(title), titles))
    return found


def api_logging(snap: Snapshot, code: CodeIndex) -> Fact:
    """The serving API is observable: it logs requests/responses (log calls in route handlers
    or middleware, OpenTelemetry-style instrumentation, access logs, platform request logging)
    AND exposes latency/status metrics (Prometheus, OpenTelemetry) or a health endpoint/probe.
    Both parts are needed; a partial find is False with the missing part named."""
    cat = _cat()["api_logging"]
    serving = code.serving_files()
    platform = [(y, key) for y in yaml_files(snap) for doc in y.docs
                for key, val, _ in walk(doc) if key in cat["platform_logging"]
                and val not in (False, None, "false", {})]
    if not serving and not platform:
        return Fact("monitoring.api_logging", False, (common.searched(
            "serving code (web routes, BentoML/Ray Serve services, model-server classes) or "
            "platform request logging", "Python files and YAML"),))
    logging = _request_logging(snap, code, cat)
    logging += [common.at(y.path, key_line(y.text, key), f"platform request logging: {key}")
                for y, key in platform]
    metrics = [use_evidence(u, "metrics/instrumentation")
               for u in code.calls(tuple(cat["metrics_calls"]), notebooks=False)
               if code.on_serving_path(u)]
    metrics += [common.at(y.path, key_line(y.text, key), f"platform metrics: {key}")
                for y, key in platform if key == "app_insights_enabled"]
    health = [common.at(r.path, r.line, f"health route {r.route}")
              for f in serving for r in f.routes if re.search(cat["health_route"], r.route)]
    health += _health_handlers(code, serving, cat)
    health += [common.at(y.path, key_line(y.text, key), f"health probe: {key}")
               for y in yaml_files(snap) for doc in y.docs for key, _, _ in walk(doc)
               if key in cat["probe_keys"]][:5]
    health += common.grep(snap, snap.glob("Dockerfile*", "**/Dockerfile*"),
                          re.compile(r"^\s*HEALTHCHECK\s+(?!NONE)", re.I))
    logging, metrics, health = unique(logging), unique(metrics), unique(health)
    parts = {"request/response logging": logging, "metrics": metrics, "health endpoint": health}
    items = [e for group in parts.values() for e in group]
    if logging and (metrics or health):
        return Fact("monitoring.api_logging", True, tuple(items[:20]))
    missing = [name for name, group in parts.items() if not group]
    need = ("request/response logging" if not logging else
            "latency/status metrics or a health endpoint")
    return Fact("monitoring.api_logging", False, tuple([
        Evidence(detail=f"missing {need} (not found: {', '.join(missing)})"),
        *[Evidence(detail=f"serving: {f.serving}", path=f.path) for f in serving[:3]],
        *items[:15]]))


def _health_handlers(code: CodeIndex, serving: list[CodeFile], cat: dict[str, Any]
                     ) -> list[Evidence]:
    """Routes at another path (often ``/``) whose handler says it is a health check: its name
    or its docstring names health, liveness, readiness or a heartbeat."""
    words = re.compile(cat["health_handler"])
    items = []
    for f in serving:
        for r in f.routes:
            d = code.defs.get(r.handler)
            if d is None or re.search(cat["health_route"], r.route):
                continue
            doc = ast.get_docstring(d.node) or ""
            if words.search(d.name.replace("_", " ")) or words.search(doc):
                items.append(common.at(r.path, r.line, f"health route {r.route or d.name} "
                                                       f"(`{d.name}`: {doc or d.name})"))
    return items


def _request_logging(snap: Snapshot, code: CodeIndex, cat: dict[str, Any]) -> list[Evidence]:
    """Log calls about the request or its answer made while handling a request (route
    handlers, middleware and what they call), request instrumentation on the serving path, and
    server access logs."""
    handlers: list[Definition] = []
    middleware_bases = common.name_matcher(cat["middleware_bases"])
    added = set()
    for u in code.calls(("*.add_middleware",), notebooks=False):
        node = u.node
        if isinstance(node, ast.Call) and node.args:
            name = dotted(node.args[0], code.files[u.path])
            if name:
                added |= {d.key for d in code.resolve(u.path, name)}
    for f in code.serving_files():
        route_keys = {r.handler for r in f.routes}
        for d in f.defs:
            if d.key in route_keys or d.key in added or any(
                    dec.rsplit(".", 1)[-1] in cat["middleware_decorators"]
                    for dec in d.decorators) or any(middleware_bases(b) for b in d.bases):
                handlers.append(d)
    for key in added:
        handlers.append(code.defs[key])
    keys = code.reach(handlers)
    methods = set(cat["log_methods"])
    about = re.compile(cat["request_words"])
    params = {d.key: {a.arg for a in ast.walk(d.node.args) if isinstance(a, ast.arg)}
              for d in handlers if isinstance(d.node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    items = [use_evidence(u, "logged while handling a request") for u in code.uses()
             if u.kind == "call" and u.live and u.owner is not None and u.owner.key in keys
             and u.name.rsplit(".", 1)[-1] in methods
             and "log" in u.name.rsplit(".", 1)[0].lower()
             and _logs_request(u, about, params.get(u.owner.key, set()))]
    items += [use_evidence(u, "request instrumentation")
              for u in code.calls(tuple(cat["tracing_calls"]), notebooks=False)
              if code.on_serving_path(u)]
    items += common.grep(snap, snap.glob(*cat["server_config"]), re.compile(cat["access_log"]))
    return items[:10]


def _logs_request(u: Use, about: re.Pattern[str], params: set[str]) -> bool:
    """A log call whose message or arguments are about the request or its answer: they name a
    request/response/input/prediction/status/latency, or a parameter of the handler it sits in.
    A log line about something else (``logger.info(metrics)``) does not log the request."""
    if not isinstance(u.node, ast.Call):
        return False
    parts = [*u.node.args, *(k.value for k in u.node.keywords)]
    text = " ".join(ast.unparse(p) for p in parts)
    names = {n.id for p in parts for n in common.walk(p) if isinstance(n, ast.Name)}
    return bool(about.search(text)) or bool(names & (params - {"self", "cls"}))


def batch_alerts(snap: Snapshot, code: CodeIndex) -> Fact:
    """Batch jobs tell someone when they fail or run late: job failure notifications (Databricks
    email/webhook on_failure, also in Terraform), Airflow/Prefect failure callbacks and SLAs,
    Dagster failure sensors, Kubeflow exit handlers, failure notifications in scheduled CI
    workflows, event rules on failed pipeline runs, dbt source freshness."""
    cat = _cat()["batch_alerts"]
    items: list[Evidence] = []
    events = set(cat["failure_events"])
    for y in yaml_files(snap):
        for doc in y.docs:
            for key, val, _ in walk(doc):
                if key in cat["notification_keys"] and isinstance(val, dict) and any(
                        val.get(e) for e in events):
                    items.append(common.at(y.path, key_line(y.text, key),
                                           f"job notification: {key} on failure"))
                elif key == "freshness" and isinstance(val, dict) and (
                        "warn_after" in val or "error_after" in val):
                    items.append(common.at(y.path, key_line(y.text, key), "source freshness SLA"))
    tf, bad = terraform_blocks(snap)
    for b in tf:
        for key, val, _ in walk(b.body):
            blocks = val if isinstance(val, list) else [val]
            if key in cat["notification_keys"] and any(
                    isinstance(x, dict) and any(x.get(e) for e in events) for x in blocks):
                items.append(common.at(b.path, b.line, f"{b.type}.{b.name}: {key} on failure"))
        if b.type == "aws_cloudwatch_event_rule" and re.search(
                cat["event_rule_failure"], str(b.body.get("event_pattern", ""))):
            items.append(common.at(b.path, b.line, f"event rule on failed runs: {b.name}"))
    # Keyword arguments count; dict keys only when they cannot be anything else
    # (``default_args = {"on_failure_callback": notify}``).
    items += [use_evidence(u, f"failure handling `{u.name}`")
              for u in code.keys(cat["code_keys"])
              if u.within or "callback" in u.name or u.name == "email_on_failure"]
    items += [use_evidence(u, "failure sensor / exit handler")
              for u in code.calls(tuple(cat["calls"]))]
    items += _ci_failure_notifications(snap, cat)
    return verdict("monitoring.batch_alerts", items,
                   "failure notifications, failure callbacks, SLAs or failure sensors for jobs",
                   "bundle/job YAML, Terraform, Airflow/Prefect/Dagster code and scheduled CI "
                   "workflows", counter=not_counted(code, cat["calls"]), unparsed=bad, snap=snap)


def _ci_failure_notifications(snap: Snapshot, cat: dict[str, Any]) -> list[Evidence]:
    """A scheduled GitHub workflow with a step or job that runs on ``failure()`` and notifies."""
    items = []
    notify = re.compile(cat["notify_words"])
    for path in snap.glob(".github/workflows/*.yml", ".github/workflows/*.yaml"):
        parsed = snap.yaml(path)
        doc = parsed.value if parsed.ok and isinstance(parsed.value, dict) else {}
        trigger = doc.get("on", doc.get(True))
        if not (isinstance(trigger, dict) and "schedule" in trigger):
            continue
        for key, val, mapping in walk(doc.get("jobs")):
            if key == "if" and "failure()" in str(val) and notify.search(str(mapping)):
                items.append(common.at(path, common.first_line(
                    snap.text(path).value, re.compile(r"failure\(\)")),
                    "scheduled workflow notifies on failure"))
                break
    return items


def offline_metrics(snap: Snapshot, code: CodeIndex) -> Fact:
    """Offline evaluation metrics stored where they can be compared over time: metric values the
    code logs explicitly (MLflow/W&B/DVCLive/Comet/Neptune/ClearML/TensorBoard logging,
    ``mlflow.evaluate``, SageMaker model metrics, Vertex experiment metrics; notebooks count)
    and DVC ``metrics:`` files. Automatic logging (``mlflow.autolog``, tracker callbacks of a
    training framework) records what training reports, for sklearn the scores on the training
    data: it counts only where the same file also evaluates on held-out data (an evaluation or
    metric call on a test/validation split, or a fit given validation data). Explicit logging
    whose metric names all name the training split (``train_loss``) is not an evaluation."""
    cat = _cat()["offline_metrics"]
    train_only = re.compile(cat["training_metric"])
    items: list[Evidence] = []
    counter: list[Evidence] = []
    for u in code.calls(tuple(cat["calls"])):
        names = _metric_names(u)
        if names and all(train_only.search(n) for n in names):
            counter.append(use_evidence(u, "not counted: training-set metrics only"))
        else:
            items.append(use_evidence(u, "metric logged"))
    evaluated = _held_out_evaluations(code, cat)
    for u in code.calls(tuple(cat["auto_calls"])):
        if u.path in evaluated:
            items.append(use_evidence(u, f"metrics logged automatically, with an evaluation on "
                                         f"held-out data ({evaluated[u.path]})"))
        else:
            counter.append(use_evidence(u, "not counted: automatic logging alone records "
                                           "metrics on the training data, and nothing here "
                                           "evaluates on held-out data"))
    for path in snap.glob("dvc.yaml", "**/dvc.yaml"):
        parsed = snap.yaml(path)
        doc = parsed.value if parsed.ok else None
        for key, val, _ in walk(doc):
            if key == "metrics" and val:
                items.append(common.at(path, key_line(snap.text(path).value, "metrics"),
                                       "DVC metrics"))
                break
    return verdict("monitoring.offline_metrics", items,
                   "evaluation metrics logged (MLflow, W&B, DVC metrics, DVCLive, SageMaker/"
                   "Vertex metrics; autologging only with an evaluation on held-out data)",
                   "Python files, notebooks and dvc.yaml",
                   counter=counter[:5] + not_counted(
                       code, [*cat["calls"], *cat["auto_calls"]], ("mlflow", "wandb", "dvclive")),
                   unparsed=code.unparsed, snap=snap)


def _metric_names(u: Use) -> list[str]:
    """Literal metric names of a logging call: its first argument when a string, and the string
    keys of dicts passed to it. Empty when no name is a literal."""
    node = u.node
    if not isinstance(node, ast.Call):
        return []
    names: list[str] = []
    first = node.args[0] if node.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        names.append(first.value)
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(arg, ast.Dict):
            names += [k.value for k in arg.keys
                      if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return names


def _held_out_evaluations(code: CodeIndex, cat: dict[str, Any]) -> dict[str, str]:
    """Files (and notebooks) that evaluate a model on held-out data, with the first such call:
    a live evaluation or metric call (``f1_score(y_test, ...)``, ``model.score(X_val, ...)``,
    ``evaluate(test_ds)``) whose arguments name a test/validation/hold-out split, or a fit call
    given validation data (``validation_data=``, ``eval_set=``)."""
    held_out = re.compile(cat["held_out"])
    evaluation = common.name_matcher(cat["evaluation_calls"])
    fit_keys = set(cat["validation_keywords"])
    found: dict[str, str] = {}
    for u in code.uses():
        if u.path in found or not u.live:
            continue
        evaluates = u.kind == "call" and evaluation(u.name) and isinstance(u.node, ast.Call) \
            and any(held_out.search(ast.unparse(a))
                    for a in [*u.node.args, *(k.value for k in u.node.keywords)])
        validates = u.kind == "key" and u.name in fit_keys and not is_off(u.node)
        if evaluates or validates:
            found[u.path] = u.text
    return found


def kpi_feedback(snap: Snapshot, code: CodeIndex) -> Fact:
    """Outcomes fed back to the model's evaluation: predictions joined with ground truth or
    outcomes, business metrics (KPI, revenue, conversion) computed or logged, KPI dashboards,
    model-quality monitors that merge ground truth. Strict: every piece of evidence names the
    business/outcome side (kpi, business, revenue, conversion, outcome, ground truth)."""
    cat = _cat()["kpi_feedback"]
    words = re.compile(cat["words"])
    preds = re.compile(cat["prediction_words"])
    items: list[Evidence] = []
    counter: list[Evidence] = []
    for u in code.calls(tuple(cat["join_calls"]), live=None):
        text = ast.unparse(u.node) + " " + (u.owner.name if u.owner else "")
        if words.search(text) and preds.search(text):
            if u.live:
                items.append(use_evidence(u, "predictions joined with outcomes"))
            else:
                counter.append(Evidence(detail=common.excerpt(
                    f"not counted ({u.why_not()}): predictions joined with outcomes: {u.text}"),
                    path=u.path, line=None if u.cell else u.line))
    for u in code.calls(tuple(cat["metric_calls"])):
        keys = [str(c.value) for c in common.walk(u.node) if isinstance(c, ast.Constant)]
        if any(words.search(k) for k in keys):
            items.append(use_evidence(u, "business metric logged"))
    for d in code.defs.values():
        if d.kind == "function" and d.live and words.search(d.name) \
                and common.ml_context(snap, d.path):
            items.append(def_evidence(d, f"KPI/outcome code `{d.name}`"))
    for path in snap.glob("**/*.sql"):
        sql = snap.text(path)
        if sql.ok and re.search(r"\bjoin\b", sql.value, re.I) and words.search(
                sql.value) and preds.search(sql.value):
            items.append(common.at(path, common.first_line(sql.value, words),
                                   "SQL joining predictions with outcomes/KPIs"))
    for path, title, titles in dashboards(snap):
        hits = [t for t in [title, *titles] if words.search(t)]
        if hits:
            items.append(common.at(path, 1, f"KPI dashboard: {', '.join(hits[:3])}"))
    for y, _, name, body in bundle_resources(snap, ["quality_monitors"]):
        log = body.get("inference_log")
        if isinstance(log, dict) and log.get("label_col"):
            items.append(common.at(y.path, key_line(y.text, "label_col"),
                                   f"quality monitor {name} joins ground truth (label_col)"))
    quality, bad = typed_blocks(snap, cat["quality_terraform"], cat["quality_cloudformation"])
    items += [Evidence(detail=f"model quality monitoring with ground truth: {e.detail}",
                       path=e.path, line=e.line) for e in quality]
    items += [use_evidence(u, "model quality monitor merging ground truth")
              for u in code.calls(tuple(cat["quality_calls"]))]
    return verdict("monitoring.kpi_feedback", items,
                   "joins of predictions with outcomes/ground truth, KPI computations or "
                   "dashboards, model-quality monitors", "code, notebooks, SQL, dashboards, "
                   "bundles and IaC", counter=counter, unparsed=bad, snap=snap)


def _counts_notebook(code: CodeIndex, u: Use) -> bool:
    """Monitoring in a notebook counts only when a job runs that notebook."""
    return not u.notebook or code.notebook_scheduled(u.path)


def drift(snap: Snapshot, code: CodeIndex) -> Fact:
    """Drift monitored: drift libraries called (Evidently, whylogs, NannyML, alibi-detect cd,
    ...), SageMaker Model Monitor, Vertex model monitoring, Databricks quality monitors, Azure
    ML monitor schedules, own drift functions that run. A notebook counts only when a job runs
    it (a one-off exploration is not monitoring). A platform monitor (a schedule or monitoring
    job that keeps running once created) created only from such a notebook cannot be observed:
    the fact is then unknown rather than False."""
    cat = _cat()["drift"]
    calls = code.calls(tuple(cat["calls"]))
    items = [use_evidence(u, "drift monitoring") for u in calls if _counts_notebook(code, u)]
    counter = [use_evidence(u, "not counted (notebook no job runs)") for u in calls
               if not _counts_notebook(code, u)][:3]
    found, bad = typed_blocks(snap, cat["terraform"], cat["cloudformation"])
    items += found
    for y, _, name, _ in bundle_resources(snap, cat["bundle_resources"]):
        items.append(common.at(y.path, key_line(y.text, name), f"Databricks quality monitor "
                                                               f"{name}"))
    for y in yaml_files(snap):
        if any(k in cat["yaml_keys"] for doc in y.docs for k, _, _ in walk(doc)):
            items.append(common.at(y.path, key_line(y.text, cat["yaml_keys"][0]),
                                   "Azure ML monitoring schedule"))
    own = re.compile(cat["own_function"])
    for d in code.defs.values():
        if d.kind == "function" and d.live and own.search(d.name) and (
                not d.cell or code.notebook_scheduled(d.path)) and common.ml_context(snap, d.path):
            items.append(def_evidence(d, f"own drift computation `{d.name}`"))
    created = [u for u in code.calls(tuple(cat["platform_setup"]))
               if u.notebook and not _counts_notebook(code, u)]
    if not items and created:
        return common.unknown(
            "monitoring.drift", "a platform drift monitor is created only from a notebook that "
            "no job runs: it exists (and keeps running) if someone ran the notebook, which the "
            "repository cannot show", [use_evidence(u, "monitor created from a notebook")
                                       for u in created[:5]])
    return verdict("monitoring.drift", items,
                   "drift monitoring (Evidently, whylogs, NannyML, alibi-detect, Model Monitor, "
                   "quality monitors, own drift code)", "code, notebooks run by jobs, IaC, YAML",
                   counter=counter + not_counted(
                       code, cat["calls"], ("evidently", "whylogs", "nannyml", "alibi_detect")),
                   unparsed=bad, snap=snap)


def confidence_gates(code: CodeIndex) -> list[Evidence]:
    """Serving-path comparisons of a prediction's confidence with a threshold: one side names a
    confidence/probability/max/entropy, the other is a number or a threshold/confidence name
    (ordering comparisons only);
    and either a side names confidence explicitly or the function routes by name or string to
    unknown/abstain/review. A plain class threshold (``proba[1] > 0.5``) is not a gate."""
    cat = _cat()["confidence"]
    score, explicit = re.compile(cat["score_side"]), re.compile(cat["explicit_side"])
    threshold, routing = re.compile(cat["threshold_side"]), re.compile(cat["routing"])
    items = []
    for d in code.defs.values():
        if not d.live or d.kind == "class" or d.cell is not None:
            continue
        if not code.serves(d):
            continue
        routes = any(routing.search(n.replace("_", " ")) for n in _names_and_strings(d.node))
        for node in common.walk(d.node):
            if isinstance(node, ast.Compare) and len(node.comparators) == 1 and isinstance(
                    node.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) and _gate(
                    node.left, node.comparators[0], score, explicit, threshold, routes):
                items.append(common.at(d.path, node.lineno,
                                       f"confidence gate in `{d.name}`: {ast.unparse(node)}"))
                break
    return items


def _names_and_strings(node: ast.AST) -> Iterator[str]:
    for n in common.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            yield n.value
        elif isinstance(n, ast.Name):
            yield n.id
        elif isinstance(n, ast.keyword) and n.arg:
            yield n.arg


def _gate(left: ast.expr, right: ast.expr, score: re.Pattern[str], explicit: re.Pattern[str],
          threshold: re.Pattern[str], routes: bool) -> bool:
    for value, limit in ((left, right), (right, left)):
        text, bound = ast.unparse(value), ast.unparse(limit)
        if score.search(text) and _is_limit(limit, threshold, explicit) and (
                routes or explicit.search(text) or explicit.search(bound)):
            return True
    return False


def _is_limit(limit: ast.expr, threshold: re.Pattern[str], explicit: re.Pattern[str]) -> bool:
    """A number, or a name/attribute that names a threshold or a confidence."""
    bound = ast.unparse(limit)
    return (isinstance(limit, ast.Constant) and isinstance(limit.value, (int, float))
            and not isinstance(limit.value, bool)) or (
        isinstance(limit, (ast.Name, ast.Attribute)) and bool(
            threshold.search(bound) or explicit.search(bound)))


def fallback_gates(code: CodeIndex) -> list[Evidence]:
    """Serving-path branches that replace an unsure prediction: an ``if`` comparing the
    probability of the predicted class (``prob[pred]``, ``probs[label]``, ``max(probs)``) with
    a threshold, whose body sets another answer (a string such as "other", or a prediction/
    label variable). The model then says when it is outside what it knows (6.4). It is not
    outlier review (4.4.2): nothing records the case. A constant index (``proba[1] > 0.5``) is
    a binary decision, not a gate."""
    cat = _cat()["confidence"]
    score, explicit = re.compile(cat["score_side"]), re.compile(cat["explicit_side"])
    threshold, answer = re.compile(cat["threshold_side"]), re.compile(cat["answer_target"])
    items = []
    for d in code.defs.values():
        if not d.live or d.kind == "class" or d.cell is not None or not code.serves(d):
            continue
        for node in common.walk(d.node):
            if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
                    and len(node.test.comparators) == 1 and isinstance(
                        node.test.ops[0], (ast.Lt, ast.LtE, ast.Gt, ast.GtE))):
                continue
            left, right = node.test.left, node.test.comparators[0]
            gated = any(_top_class(value, score) and _is_limit(limit, threshold, explicit)
                        for value, limit in ((left, right), (right, left)))
            if gated and _sets_answer(node.body, answer):
                items.append(common.at(d.path, node.lineno, f"unsure prediction replaced "
                                                            f"in `{d.name}`: "
                                                            f"{ast.unparse(node.test)}"))
                break
    return items


def _top_class(value: ast.expr, score: re.Pattern[str]) -> bool:
    """The probability of the predicted class: a probability indexed by a variable, or the
    maximum of the probabilities."""
    if isinstance(value, ast.Subscript):
        return not isinstance(value.slice, ast.Constant) and bool(
            score.search(ast.unparse(value.value)))
    if isinstance(value, ast.Call):
        name = ast.unparse(value.func)
        return name.rsplit(".", 1)[-1] in ("max", "amax") and bool(
            score.search(ast.unparse(value)))
    return False


def _sets_answer(body: list[ast.stmt], answer: re.Pattern[str]) -> bool:
    """The statements assign a string constant, or assign to a prediction/label target."""
    for stmt in body:
        for node in common.walk(stmt):
            if isinstance(node, ast.Assign) and (
                    (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str))
                    or any(answer.search(ast.unparse(t)) for t in node.targets)):
                return True
    return False


def outliers(snap: Snapshot, code: CodeIndex) -> Fact:
    """Outliers detected: outlier detectors (alibi-detect od, PyOD) called where they run,
    general detectors (IsolationForest, LOF, one-class SVM) applied on the serving path, or
    confidence gates routing uncertain predictions on the serving path."""
    cat = _cat()["outliers"]
    items = [use_evidence(u, "outlier detection") for u in code.calls(tuple(cat["calls"]))
             if _counts_notebook(code, u)]
    items += [use_evidence(u, "outlier detector on the serving path")
              for u in code.calls(tuple(cat["serving_calls"]), notebooks=False)
              if code.on_serving_path(u)]
    items += confidence_gates(code)
    return verdict("monitoring.outliers", items,
                   "outlier detectors or confidence gates on the serving path",
                   "code and notebooks run by jobs",
                   counter=not_counted(code, cat["calls"], ("alibi_detect", "pyod")),
                   unparsed=code.unparsed, snap=snap)
