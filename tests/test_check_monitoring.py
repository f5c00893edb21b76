"""Monitoring facts, and the shared code index's rules for what code counts."""

from __future__ import annotations

import json

from mlops_auditor.checks import monitoring
from mlops_auditor.model import Fact

from .conftest import MakeSnapshot


def facts(snapshot: MakeSnapshot, files: dict[str, str]) -> dict[str, Fact]:
    return {f.id: f for f in monitoring.collect(snapshot(files))}


def notebook(*cells: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": c} for c in cells]})


def details(fact: Fact) -> str:
    return " | ".join(e.detail for e in fact.evidence)


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    assert set(facts(snapshot, {"README.md": "x"})) == set(monitoring.FACTS)


# -- the shared code index -------------------------------------------------------------------

def test_alias_resolved_and_call_located(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": """
        import mlflow as mf
        mf.log_metric("acc", 0.9)
        """})["monitoring.offline_metrics"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("train.py", 3)


def test_import_without_call_is_counter_evidence(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": "import mlflow\nprint('no metrics')\n"})[
        "monitoring.offline_metrics"]
    assert fact.value is False
    assert "imported but never called: import mlflow" in details(fact)
    assert any(e.path == "train.py" and e.line == 1 for e in fact.evidence)


def test_dead_code_does_not_count(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": """
        import mlflow
        # mlflow.log_metric("commented", 1)
        if False:
            mlflow.log_metric("never", 1)
        def unused():
            mlflow.log_metric("uncalled", 1)
        """})["monitoring.offline_metrics"]
    assert fact.value is False
    assert "under a constant-false condition" in details(fact)
    assert "in `unused`, which nothing calls" in details(fact)


def test_call_through_called_function_and_else_branch_count(snapshot: MakeSnapshot) -> None:
    code = monitoring.code_index(snapshot({"train.py": """
        import wandb
        def report(run):
            run.log({"loss": 1})
        if False:
            pass
        else:
            run = wandb.init()
            report(run)
        """}))
    # `run` is bound to wandb.init(), so run.log inside the called helper resolves too.
    assert {u.name for u in code.calls(("wandb.*",))} == {"wandb.init", "wandb.init().log"}
    assert code.calls(("wandb.*",), live=False) == []


def test_bindings_are_scoped(snapshot: MakeSnapshot) -> None:
    code = monitoring.code_index(snapshot({"score.py": """
        from databricks.feature_engineering import FeatureEngineeringClient
        import shap

        def score(df):
            predictions = FeatureEngineeringClient().score_batch(model_uri="m", df=df)
            return predictions

        def tidy(predictions):
            return predictions.select("a")

        class Explainer:
            def __init__(self, model):
                self.explainer = shap.TreeExplainer(model)

            def explain(self, x):
                return self.explainer.shap_values(x)
        """}))
    store = {(u.name, u.line) for u in code.calls(("databricks.*",), live=None)}
    assert store == {("databricks.feature_engineering.FeatureEngineeringClient", 6),
                     ("databricks.feature_engineering.FeatureEngineeringClient().score_batch", 6)}
    explained = {(u.name, u.line) for u in code.calls(("shap.*",), live=None)}
    assert ("shap.TreeExplainer().shap_values", 17) in explained


MONITOR_JOB = """
    from evidently.report import Report
    def run_drift_report(ref, cur):
        Report(metrics=[]).run(reference_data=ref, current_data=cur)
    """


def test_function_named_only_in_job_config_is_live(snapshot: MakeSnapshot) -> None:
    alone = monitoring.code_index(snapshot({"jobs/monitor.py": MONITOR_JOB}))
    assert alone.calls(("evidently.*",)) == []
    code = monitoring.code_index(snapshot({
        "jobs/monitor.py": MONITOR_JOB,
        "databricks.yml": """
            resources:
              jobs:
                drift:
                  tasks:
                    - python_wheel_task: {entry_point: run_drift_report}
            """}))
    assert code.calls(("evidently.*",))


def test_stub_helper_is_not_live(snapshot: MakeSnapshot) -> None:
    code = monitoring.code_index(snapshot({"app.py": """
        def log_prediction(x, y):
            \"\"\"Write to the store (not done yet).\"\"\"
            pass
        log_prediction(1, 2)
        """}))
    (d,) = code.defs.values()
    assert d.stub and not d.live


def test_notebook_magics_dropped_and_cell_in_evidence(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"nb/explore.ipynb": notebook(
        "%pip install wandb\n!ls\nimport wandb\nwandb.log({'acc': 1})")})[
        "monitoring.offline_metrics"]
    assert fact.value is True
    assert fact.evidence[0].path == "nb/explore.ipynb"
    assert fact.evidence[0].detail.startswith("cell 1:")


def test_broken_python_does_not_raise(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"bad.py": "def (:\n", "odd.yaml": "- [unclosed",
                              "main.tf": "resource \"x\" {"})
    assert result["monitoring.offline_metrics"].value is False
    assert any(e.path == "bad.py" and e.detail.startswith("unparseable: invalid Python")
               for e in result["monitoring.offline_metrics"].evidence)


# -- cost -----------------------------------------------------------------------------------

def test_cost_budget_in_terraform(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"infra/budget.tf": """
        resource "aws_budgets_budget" "ml" {
          budget_type = "COST"
          limit_amount = "100"
        }
        """})["monitoring.cost"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("infra/budget.tf", 2)


def test_cost_infracost_in_ci_but_not_when_commented(snapshot: MakeSnapshot) -> None:
    on = facts(snapshot, {".github/workflows/cost.yml": "jobs:\n  c:\n    steps:\n"
                                                       "      - run: infracost breakdown\n"})
    assert on["monitoring.cost"].value is True
    assert on["monitoring.cost"].evidence[0].line == 4


def test_cost_commented_infracost_is_no(snapshot: MakeSnapshot) -> None:
    off = facts(snapshot, {".github/workflows/cost.yml": "jobs:\n  c:\n    steps:\n"
                                                        "      # - run: infracost breakdown\n"})
    fact = off["monitoring.cost"]
    assert fact.value is False
    assert fact.evidence[0].path is None and "did not find" in fact.evidence[0].detail


def test_cost_tags_on_provider(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"main.tf": """
        provider "aws" {
          default_tags {
            tags = { team = "ml" }
          }
        }
        """})["monitoring.cost"]
    assert fact.value is True
    assert "default_tags" in fact.evidence[0].detail


# -- alerts ---------------------------------------------------------------------------------

def test_alerts_prometheus_rule_file(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"monitoring/rules.yml": """
        groups:
          - name: api
            rules:
              - alert: HighLatency
                expr: histogram_quantile(0.99, rate(x[5m])) > 1
        """})["monitoring.alerts"]
    assert fact.value is True
    assert fact.evidence[0].path == "monitoring/rules.yml"
    assert "HighLatency" in fact.evidence[0].detail


def test_alerts_prometheus_rule_kind_and_cloudformation(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {
        "k8s/rules.yaml": """
            apiVersion: monitoring.coreos.com/v1
            kind: PrometheusRule
            spec:
              groups:
                - name: g
                  rules:
                    - alert: ModelDown
                      expr: up == 0
            """,
        "template.yaml": """
            AWSTemplateFormatVersion: "2010-09-09"
            Resources:
              ErrorAlarm:
                Type: AWS::CloudWatch::Alarm
                Properties: {MetricName: Errors, AlarmActions: [!Ref Topic]}
            """})["monitoring.alerts"]
    assert fact.value is True
    paths = {e.path for e in fact.evidence}
    assert paths == {"k8s/rules.yaml", "template.yaml"}
    assert any(e.line == 4 and e.path == "template.yaml" for e in fact.evidence)


def test_alerts_commented_resource_is_no(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"main.tf": """
        # resource "aws_cloudwatch_metric_alarm" "latency" {
        #   threshold = 1
        # }
        resource "aws_s3_bucket" "data" {}
        """})["monitoring.alerts"]
    assert fact.value is False


def test_alerts_unparseable_terraform_is_reported(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"main.tf": "resource \"aws_cloudwatch_metric_alarm\" {{{"})[
        "monitoring.alerts"]
    assert fact.value is False
    assert any(e.path == "main.tf" and e.detail.startswith("unparseable") for e in fact.evidence)


# -- api logging ----------------------------------------------------------------------------

APP = """
    import logging
    from fastapi import FastAPI
    app = FastAPI()
    logger = logging.getLogger("api")

    @app.post("/predict")
    def predict(payload: dict):
        logger.info("request %s", payload)
        return {"y": 1}
    """


def test_api_logging_needs_logging_and_health_or_metrics(snapshot: MakeSnapshot) -> None:
    app = APP + """
    @app.get("/healthz")
    def health():
        return {"ok": True}
    """
    fact = facts(snapshot, {"service/app.py": app})["monitoring.api_logging"]
    assert fact.value is True
    found = {(e.line, e.detail.split(":")[0]) for e in fact.evidence}
    assert (9, "logged while handling a request") in found
    assert any(e.detail == "health route /healthz" and e.line == 12 for e in fact.evidence)


def test_api_logging_partial_says_what_is_missing(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"service/app.py": APP})["monitoring.api_logging"]
    assert fact.value is False
    assert fact.evidence[0].detail.startswith("missing latency/status metrics or a health")
    assert any(e.line == 9 for e in fact.evidence)


def test_api_logging_metrics_without_logging(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"app.py": """
        from fastapi import FastAPI
        from prometheus_fastapi_instrumentator import Instrumentator
        app = FastAPI()
        Instrumentator().instrument(app).expose(app)

        @app.post("/predict")
        def predict(x: dict):
            return x
        """})["monitoring.api_logging"]
    assert fact.value is False
    assert "missing request/response logging" in fact.evidence[0].detail
    assert any("metrics/instrumentation" in e.detail and e.line == 5 for e in fact.evidence)


def test_api_logging_without_serving_code(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": "import logging\nlogging.info('x')\n"})[
        "monitoring.api_logging"]
    assert fact.value is False
    assert "serving code" in fact.evidence[0].detail


# -- batch alerts ---------------------------------------------------------------------------

def test_batch_alerts_bundle_failure_email(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"resources/job.yml": """
        resources:
          jobs:
            score:
              email_notifications:
                on_failure: [ml-team@example.com]
        """})["monitoring.batch_alerts"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("resources/job.yml", 5)


def test_batch_alerts_airflow_callback_but_not_disabled_email(snapshot: MakeSnapshot) -> None:
    on = facts(snapshot, {"dags/score.py": """
        from airflow import DAG
        def notify(context):
            print(context)
        default_args = {"on_failure_callback": notify}
        with DAG("score", default_args=default_args):
            pass
        """})["monitoring.batch_alerts"]
    assert on.value is True
    assert on.evidence[0].line == 5
    off = facts(snapshot, {"dags/score.py": """
        from airflow import DAG
        with DAG("score", default_args={"email_on_failure": False}):
            pass
        """})["monitoring.batch_alerts"]
    assert off.value is False


# -- offline metrics ------------------------------------------------------------------------

def test_offline_metrics_dvc(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"dvc.yaml": """
        stages:
          evaluate:
            cmd: python evaluate.py
            metrics:
              - metrics.json:
                  cache: false
        """})["monitoring.offline_metrics"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("dvc.yaml", 5)


# -- KPI feedback ---------------------------------------------------------------------------

def test_kpi_feedback_join_with_ground_truth(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"jobs/feedback.py": """
        import pandas as pd
        predictions = pd.read_parquet("preds.parquet")
        ground_truth = pd.read_parquet("labels.parquet")
        joined = predictions.merge(ground_truth, on="id")
        """})["monitoring.kpi_feedback"]
    assert fact.value is True
    assert fact.evidence[0].line == 5
    assert "outcomes" in fact.evidence[0].detail


def test_kpi_feedback_is_strict(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"prep.py": """
        import pandas as pd
        a = pd.read_csv("a.csv")
        b = pd.read_csv("b.csv")
        data = a.merge(b, on="id")
        """})["monitoring.kpi_feedback"]
    assert fact.value is False


def test_kpi_feedback_quality_monitor_with_labels(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"resources/monitor.yml": """
        resources:
          quality_monitors:
            churn:
              table_name: main.ml.inference
              inference_log:
                prediction_col: prediction
                label_col: churned
        """})["monitoring.kpi_feedback"]
    assert fact.value is True
    assert "ground truth" in fact.evidence[0].detail and fact.evidence[0].line == 8


# -- drift ----------------------------------------------------------------------------------

def test_drift_in_job_script(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"monitoring/drift.py": """
        from evidently.report import Report
        from evidently.metric_preset import DataDriftPreset
        report = Report(metrics=[DataDriftPreset()])
        """})["monitoring.drift"]
    assert fact.value is True
    assert fact.evidence[0].path == "monitoring/drift.py"


def test_drift_only_in_unscheduled_notebook_is_no(snapshot: MakeSnapshot) -> None:
    nb = notebook("from evidently.report import Report\nReport(metrics=[]).run()")
    fact = facts(snapshot, {"notebooks/explore.ipynb": nb})["monitoring.drift"]
    assert fact.value is False
    assert any("notebook no job runs" in e.detail for e in fact.evidence)
    scheduled = facts(snapshot, {"notebooks/explore.ipynb": nb, "databricks.yml": """
        resources:
          jobs:
            drift:
              tasks:
                - notebook_task: {notebook_path: ../notebooks/explore.ipynb}
        """})["monitoring.drift"]
    assert scheduled.value is True


def test_drift_stub_function_is_no(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"monitor.py": """
        def check_drift(reference, current):
            # later: use evidently here
            pass
        check_drift(None, None)
        """})["monitoring.drift"]
    assert fact.value is False


def test_drift_quality_monitor_and_model_monitor(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {
        "resources/monitor.yml": """
            resources:
              quality_monitors:
                features:
                  table_name: main.ml.features
                  snapshot: {}
            """,
        "monitor.tf": """
            resource "aws_sagemaker_monitoring_schedule" "drift" {
              name = "drift"
            }
            """})["monitoring.drift"]
    assert fact.value is True
    assert {e.path for e in fact.evidence} == {"resources/monitor.yml", "monitor.tf"}


# -- outliers -------------------------------------------------------------------------------

def test_outliers_isolation_forest_counts_only_on_serving_path(snapshot: MakeSnapshot) -> None:
    training = facts(snapshot, {"train.py": """
        from sklearn.ensemble import IsolationForest
        model = IsolationForest().fit(X)
        """})["monitoring.outliers"]
    assert training.value is False
    serving = facts(snapshot, {"app.py": """
        from fastapi import FastAPI
        from sklearn.ensemble import IsolationForest
        app = FastAPI()
        detector = IsolationForest().fit(reference)

        @app.post("/predict")
        def predict(x: list):
            if detector.predict([x])[0] == -1:
                return {"status": "outlier"}
            return {"y": 1}
        """})["monitoring.outliers"]
    assert serving.value is True
    assert serving.evidence[0].path == "app.py"


def test_outliers_alibi_detect(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"detect.py": """
        from alibi_detect.od import IForest
        od = IForest(threshold=0.1)
        """})["monitoring.outliers"]
    assert fact.value is True
    assert fact.evidence[0].line == 3


def test_walk_visits_shared_objects_once() -> None:
    leaf: dict[str, object] = {"email_notifications": {"on_failure": ["a"]}}
    level: object = leaf
    for _ in range(30):  # 2**30 paths, 31 distinct objects
        level = [level, level]
    keys = [k for k, _, _ in monitoring.walk(level)]
    assert keys == ["email_notifications", "on_failure"]



def test_alerts_grafana_dashboard_needs_panels_and_title(snapshot: MakeSnapshot) -> None:
    panels = {"panels": [{"title": "p99 latency", "type": "timeseries"}]}
    untitled = facts(snapshot, {"grafana/api.json": json.dumps(panels)})["monitoring.alerts"]
    assert untitled.value is False
    titled = facts(snapshot, {"grafana/api.json": json.dumps({**panels, "title": "Churn API"})})[
        "monitoring.alerts"]
    assert titled.value is True
    assert titled.evidence[0].detail == "Grafana dashboard: Churn API"


def test_bicep_budget_and_alerts(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"infra/main.bicep": """
        resource ws 'Microsoft.MachineLearningServices/workspaces@2024-04-01' existing = {
          name: 'ws'
        }
        // resource oldAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
        /*
        resource draftBudget 'Microsoft.Consumption/budgets@2023-11-01' = {
        }
        */
        resource latency 'Microsoft.Insights/metricAlerts@2018-03-01' = {
          name: 'latency'
          properties: {
            actions: [
              { actionGroupId: group.id }
            ]
          }
        }
        resource silent 'Microsoft.Insights/metricAlerts@2018-03-01' = {
          name: 'silent'
          properties: {
            actions: []
          }
        }
        """})
    alerts = result["monitoring.alerts"]
    assert alerts.value is True
    assert [(e.path, e.line) for e in alerts.evidence] == [("infra/main.bicep", 10)]
    assert "with notification actions" in alerts.evidence[0].detail
    assert result["monitoring.cost"].value is False


def test_arm_template_budget(snapshot: MakeSnapshot) -> None:
    template = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                           "deploymentTemplate.json#",
                "resources": [{"type": "Microsoft.Consumption/budgets",
                               "apiVersion": "2023-11-01", "name": "monthly"}]}
    fact = facts(snapshot, {"infra/azuredeploy.json": json.dumps(template, indent=1)})[
        "monitoring.cost"]
    assert fact.value is True
    assert fact.evidence[0].path == "infra/azuredeploy.json"
    assert "Microsoft.Consumption/budgets monthly" in fact.evidence[0].detail


def test_functions_named_after_drift_or_kpis_in_non_ml_code_do_not_count(
        snapshot: MakeSnapshot) -> None:
    code = ("def drift(report):\n    return report['drift']\n\n\n"
            "def kpi_feedback(rows):\n    return len(rows)\n\n\n"
            "print(drift({'drift': 1}), kpi_feedback([]))\n")
    found = {f.id: f for f in monitoring.collect(snapshot({"tool/summary.py": code}))}
    assert found["monitoring.drift"].value is False
    assert found["monitoring.kpi_feedback"].value is False
    ml = "import pandas as pd\n" + code
    found = {f.id: f for f in monitoring.collect(snapshot({"tool/summary.py": ml}))}
    assert found["monitoring.drift"].value is True


# -- alarms notify someone only through their actions ----------------------------------------

GATED_ALARM = """
    AWSTemplateFormatVersion: "2010-09-09"
    Resources:
      Api:
        Type: AWS::Serverless::Function
        Properties:
          DeploymentPreference:
            Type: Canary10Percent5Minutes
            Alarms: [!Ref ErrorAlarm]
      ErrorAlarm:
        Type: AWS::CloudWatch::Alarm
        Properties:
          MetricName: Errors
          Threshold: 0
      RetrainRule:
        Type: AWS::Events::Rule
        Properties:
          EventPattern:
            detail-type: ["CloudWatch Alarm State Change"]
          Targets:
            - Arn: !Sub "arn:aws:codepipeline:${AWS::Region}:${AWS::AccountId}:train"
              Id: retrain
    """


def test_alarm_without_actions_alerts_no_one(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"template.yaml": GATED_ALARM})["monitoring.alerts"]
    assert fact.value is False
    silent = [e for e in fact.evidence if "has no actions" in e.detail]
    assert [(e.path, e.line) for e in silent] == [("template.yaml", 10)]
    assert "only gate the deployment of Api" in details(fact)
    assert "event rule RetrainRule on alarm state changes targets arn:aws:codepipeline" in \
        details(fact)


def test_alarm_forwarded_to_a_topic_by_an_event_rule_alerts(snapshot: MakeSnapshot) -> None:
    forwarded = GATED_ALARM.replace(
        '- Arn: !Sub "arn:aws:codepipeline:${AWS::Region}:${AWS::AccountId}:train"',
        "- Arn: !Ref OnCallTopic").rstrip(" ")
    forwarded += "      OnCallTopic:\n        Type: AWS::SNS::Topic\n"
    fact = facts(snapshot, {"template.yaml": forwarded})["monitoring.alerts"]
    assert fact.value is True
    assert fact.evidence[0].line == 10
    assert "forwarded to a notification (event rule RetrainRule notifies OnCallTopic)" in \
        fact.evidence[0].detail


def test_terraform_alarm_needs_alarm_actions(snapshot: MakeSnapshot) -> None:
    silent = facts(snapshot, {"main.tf": """
        resource "aws_cloudwatch_metric_alarm" "errors" {
          metric_name = "Errors"
          alarm_actions = []
        }
        """})["monitoring.alerts"]
    assert silent.value is False
    assert "not counted: resource aws_cloudwatch_metric_alarm.errors has no actions" in \
        details(silent)
    loud = facts(snapshot, {"main.tf": """
        resource "aws_cloudwatch_metric_alarm" "errors" {
          metric_name   = "Errors"
          alarm_actions = [aws_sns_topic.oncall.arn]
        }
        """})["monitoring.alerts"]
    assert loud.value is True
    assert (loud.evidence[0].path, loud.evidence[0].line) == ("main.tf", 2)


def test_alarm_created_in_code_needs_actions(snapshot: MakeSnapshot) -> None:
    silent = facts(snapshot, {"ops/alarms.py": """
        import boto3
        boto3.client("cloudwatch").put_metric_alarm(AlarmName="errors", Threshold=0)
        """})["monitoring.alerts"]
    assert silent.value is False
    assert "alarm created without actions" in details(silent)
    loud = facts(snapshot, {"ops/alarms.py": """
        import boto3
        def create(topic):
            boto3.client("cloudwatch").put_metric_alarm(AlarmName="errors",
                                                        AlarmActions=[topic])
        create("arn:aws:sns:eu-west-1:1:oncall")
        """})["monitoring.alerts"]
    assert loud.value is True
    assert (loud.evidence[0].path, loud.evidence[0].line) == ("ops/alarms.py", 4)


# -- offline metrics are evaluations on held-out data ----------------------------------------

def test_autolog_alone_records_training_metrics_only(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": """
        import mlflow
        from sklearn.linear_model import LogisticRegression
        mlflow.sklearn.autolog()
        with mlflow.start_run():
            LogisticRegression().fit(X, y)
        """})["monitoring.offline_metrics"]
    assert fact.value is False
    counter = [e for e in fact.evidence if "automatic logging alone" in e.detail]
    assert [(e.path, e.line) for e in counter] == [("train.py", 4)]


def test_autolog_with_a_held_out_evaluation_counts(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": """
        import mlflow
        from sklearn.metrics import f1_score
        mlflow.sklearn.autolog()
        with mlflow.start_run():
            model.fit(X_train, y_train)
            f1_score(y_test, model.predict(X_test))
        """})["monitoring.offline_metrics"]
    assert fact.value is True
    assert fact.evidence[0].line == 4
    assert "held-out data (f1_score(y_test" in fact.evidence[0].detail


def test_logged_training_metrics_only_are_not_an_evaluation(snapshot: MakeSnapshot) -> None:
    train_only = facts(snapshot, {"train.py": """
        import mlflow
        mlflow.log_metric("train_loss", 0.3)
        mlflow.log_metrics({"training_accuracy": 0.9})
        """})["monitoring.offline_metrics"]
    assert train_only.value is False
    assert "training-set metrics only" in details(train_only)
    evaluated = facts(snapshot, {"train.py": """
        import mlflow
        mlflow.log_metrics({"train_loss": 0.3, "val_f1": 0.8})
        """})["monitoring.offline_metrics"]
    assert evaluated.value is True and evaluated.evidence[0].line == 3


# -- api logging: health handlers and what a log line is about -------------------------------

RAY_APP = """
    from fastapi import FastAPI
    from ray import serve
    import logging
    app = FastAPI()
    logger = logging.getLogger(__name__)

    @serve.deployment
    @serve.ingress(app)
    class Model:
        @app.get("/")
        def _index(self):
            \"\"\"Health check.\"\"\"
            return {"status": 200}

        @app.post("/predict/")
        async def _predict(self, request):
            logger.info("loading %s", "weights")
            return {"y": 1}
    """


def test_health_handler_by_docstring_and_log_lines_about_something_else(
        snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"serve.py": RAY_APP})["monitoring.api_logging"]
    assert fact.value is False
    assert fact.evidence[0].detail.startswith("missing request/response logging")
    assert any(e.path == "serve.py" and e.line == 11 and "health route /" in e.detail
               for e in fact.evidence)
    logged = RAY_APP.replace('logger.info("loading %s", "weights")',
                             'logger.info("request %s", await request.json())')
    fact = facts(snapshot, {"serve.py": logged})["monitoring.api_logging"]
    assert fact.value is True
    assert {e.line for e in fact.evidence} == {11, 18}


# -- drift monitors created only from a notebook ---------------------------------------------

def test_platform_monitor_created_from_an_unscheduled_notebook_is_unknown(
        snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"08-monitoring.ipynb": notebook(
        "from google.cloud import aiplatform_v1beta1 as beta\n"
        "client = beta.JobServiceClient()\n"
        "client.create_model_deployment_monitoring_job(parent=p, job=j)")})["monitoring.drift"]
    assert fact.value is None and "only from a notebook" in (fact.unknown or "")
    assert fact.evidence[0].path == "08-monitoring.ipynb"
    explored = facts(snapshot, {"08-monitoring.ipynb": notebook(
        "from evidently.report import Report\nReport(metrics=[]).run(None, None)")})[
        "monitoring.drift"]
    assert explored.value is False


# -- the code index: what a model-server class brings onto the serving path ------------------

def test_training_script_around_a_model_server_class_is_not_serving(
        snapshot: MakeSnapshot) -> None:
    code = monitoring.code_index(snapshot({"train_and_log.py": """
        import mlflow
        import pandas as pd

        class Wrapper(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input):
                return clean(model_input)

        def clean(frame):
            return frame.dropna()

        def load():
            return pd.read_csv("a.csv").merge(pd.read_csv("b.csv"))

        load()
        mlflow.pyfunc.log_model("model", python_model=Wrapper())
        """}))
    uses = {u.name: u for u in code.calls(("*",))}
    assert code.on_serving_path(uses["clean"])
    assert not code.on_serving_path(uses["pandas.read_csv().merge"])
    assert not code.on_serving_path(uses["mlflow.pyfunc.log_model"])
    assert {d.name for d in code.defs.values() if code.serves(d)} == {
        "Wrapper", "predict", "clean"}
