"""Tracking facts: commit, environment, model and data lineage, retraining and roll-back."""

from __future__ import annotations

import json

from mlops_auditor.checks import tracking
from mlops_auditor.model import Fact

from .conftest import MakeSnapshot


def facts(snapshot: MakeSnapshot, files: dict[str, str]) -> dict[str, Fact]:
    return {f.id: f for f in tracking.collect(snapshot(files))}


def details(fact: Fact) -> str:
    return " | ".join(e.detail for e in fact.evidence)


TRAIN = """
    import mlflow as mf
    from mlflow import MlflowClient

    with mf.start_run():
        mf.sklearn.log_model(model, "model", registered_model_name="churn")
    MlflowClient().set_registered_model_alias("churn", "champion", 3)
    """


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"README.md": "x"})
    assert set(result) == set(tracking.FACTS)
    assert result["tracking.tools"].value == ()
    assert all(f.value is False for k, f in result.items() if k != "tracking.tools")


def test_mlflow_script_gives_commit_environment_model_rollback(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"src/train.py": TRAIN})
    assert result["tracking.tools"].value == ("mlflow",)
    commit = result["tracking.code_commit"]
    assert commit.value is True
    assert commit.evidence[0].path == "src/train.py" and commit.evidence[0].line == 5
    assert "records the git commit" in commit.evidence[0].detail
    assert result["tracking.environment"].value is True
    model = result["tracking.model_artifacts"]
    assert model.value is True and model.evidence[0].line == 6
    rollback = result["tracking.rollback"]
    assert rollback.value is True
    assert rollback.evidence[0].line == 7 and "alias" in rollback.evidence[0].detail


def test_mlflow_only_in_notebook_does_not_record_commit(snapshot: MakeSnapshot) -> None:
    nb = json.dumps({"cells": [{"cell_type": "code", "source":
                                "import mlflow\nwith mlflow.start_run():\n"
                                "    mlflow.log_metric('a', 1)"}]})
    result = facts(snapshot, {"explore.ipynb": nb})
    assert result["tracking.tools"].value == ("mlflow",)
    assert result["tracking.code_commit"].value is False


def test_mlflow_imported_but_unused(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"train.py": "import mlflow\nmodel.fit(X, y)\n"})
    assert result["tracking.tools"].value == ()
    fact = result["tracking.model_artifacts"]
    assert fact.value is False
    assert "imported but never called: import mlflow" in details(fact)


def test_commit_sha_in_image_tag_but_not_in_cache_key(snapshot: MakeSnapshot) -> None:
    tagged = facts(snapshot, {".github/workflows/build.yml": """
        on: push
        jobs:
          build:
            steps:
              - run: docker build -t registry/model:${{ github.sha }} .
        """})["tracking.code_commit"]
    assert tagged.value is True
    assert (tagged.evidence[0].path, tagged.evidence[0].line) == (
        ".github/workflows/build.yml", 6)


def test_commit_sha_only_in_cache_key_is_no(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {".github/workflows/ci.yml": """
        on: push
        jobs:
          test:
            steps:
              - uses: actions/cache@v4
                with:
                  key: deps-${{ github.sha }}
        """})["tracking.code_commit"]
    assert fact.value is False


def test_dvc_lock_and_data_and_model_outs(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {
        "dvc.yaml": """
            stages:
              train:
                cmd: python train.py
                deps:
                  - data/train.csv
                outs:
                  - models/model.pkl
            """,
        "dvc.lock": "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n",
        "data/train.csv.dvc": "outs:\n- md5: 0a1b\n  path: train.csv\n"})
    assert result["tracking.tools"].value == ("dvc",)
    assert any(e.path == "dvc.lock" for e in result["tracking.code_commit"].evidence)
    data = result["tracking.training_data"]
    assert data.value is True
    assert {e.detail for e in data.evidence} >= {"DVC-tracked data: data/train.csv"}
    model = result["tracking.model_artifacts"]
    assert model.value is True
    assert any(e.path == "dvc.yaml" and e.line == 8 and "models/model.pkl" in e.detail
               for e in model.evidence)


def test_wandb_dataset_artifact_is_data_not_model(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"train.py": """
        import wandb
        run = wandb.init(project="churn")
        art = wandb.Artifact("train-data", type="dataset")
        run.log_artifact(art)
        """})
    assert result["tracking.training_data"].value is True
    assert result["tracking.model_artifacts"].value is False
    assert result["tracking.code_commit"].value is True
    assert "W&B records the git commit" in result["tracking.code_commit"].evidence[0].detail


def test_mutable_url_through_a_constant(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"prep.py": """
        import pandas as pd
        URL = "https://raw.githubusercontent.com/acme/data/main/train.csv"
        df = pd.read_csv(URL)
        """})["tracking.mutable_data_source"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("prep.py", 4)


def test_pinned_or_commented_url_is_not_mutable(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"prep.py": """
        import pandas as pd
        # df = pd.read_csv("https://example.com/exports/latest/train.csv")
        df = pd.read_csv(
            "https://raw.githubusercontent.com/acme/data/3f2c1a9e/train.csv")
        """})["tracking.mutable_data_source"]
    assert fact.value is False
    assert "did not find" in fact.evidence[0].detail


def test_mutable_latest_url_in_script(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"get_data.sh": "wget https://example.com/dumps/latest/data.zip\n"})[
        "tracking.mutable_data_source"]
    assert fact.value is True
    assert fact.evidence[0].path == "get_data.sh"


def test_retraining_scheduled_workflow_that_trains(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {".github/workflows/retrain.yml": """
        on:
          schedule:
            - cron: "0 3 * * 1"
        jobs:
          retrain:
            runs-on: ubuntu-latest
            steps:
              - run: python -m src.train
        """})["tracking.retraining"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == (
        ".github/workflows/retrain.yml", 4)


def test_retraining_scheduled_lint_is_no(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {".github/workflows/nightly.yml": """
        on:
          schedule:
            - cron: "0 3 * * *"
        jobs:
          lint:
            steps:
              - run: ruff check .
        """})["tracking.retraining"]
    assert fact.value is False


def test_retraining_bundle_schedule_and_paused(snapshot: MakeSnapshot) -> None:
    job = """
        resources:
          jobs:
            retrain_model:
              schedule:
                quartz_cron_expression: "0 0 4 ? * MON"
                timezone_id: UTC
                pause_status: {status}
              tasks:
                - task_key: train
                  python_wheel_task: {{entry_point: train}}
        """
    live = facts(snapshot, {"resources/jobs.yml": job.format(status="UNPAUSED")})[
        "tracking.retraining"]
    assert live.value is True
    assert live.evidence[0].line == 4
    paused = facts(snapshot, {"resources/jobs.yml": job.format(status="PAUSED")})[
        "tracking.retraining"]
    assert paused.value is False
    assert any(e.detail.startswith("paused:") for e in paused.evidence)


def test_retraining_airflow_dag_schedule(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"dags/train_dag.py": """
        from airflow import DAG
        from airflow.operators.python import PythonOperator
        def train_model():
            print("training")
        with DAG("retrain", schedule="@weekly"):
            PythonOperator(task_id="train", python_callable=train_model)
        """})["tracking.retraining"]
    assert fact.value is True
    assert fact.evidence[0].line == 6


def test_rollback_argo_rollout_and_commented_helm(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {
        "deploy/rollout.yaml": "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nspec: {}\n",
        ".gitlab-ci.yml": "deploy:\n  script:\n    # - helm rollback model 1\n    - helm list\n"})
    fact = result["tracking.rollback"]
    assert fact.value is True
    assert [e.path for e in fact.evidence] == ["deploy/rollout.yaml"]


def test_rollback_sagemaker_auto_rollback(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"endpoint.tf": """
        resource "aws_sagemaker_endpoint" "model" {
          name = "model"
          deployment_config {
            auto_rollback_configuration {
              alarms { alarm_name = "errors" }
            }
          }
        }
        """})["tracking.rollback"]
    assert fact.value is True
    assert fact.evidence[0].line == 2


def test_drift_triggered_retraining(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"jobs/monitor.py": """
        from databricks.sdk import WorkspaceClient
        w = WorkspaceClient()
        def check_drift_and_retrain(share_drifted):
            if share_drifted > 0.3:
                w.jobs.run_now(job_id=42)
        check_drift_and_retrain(0.5)
        """})["tracking.retraining"]
    assert fact.value is True
    assert "drift" in fact.evidence[0].detail and fact.evidence[0].line == 6


def test_commit_sha_in_trailing_comment_is_no(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {".github/workflows/cd.yml": """
        on: push
        jobs:
          deploy:
            env:
              IMAGE_TAG: "latest" # ${{ github.sha }}
            steps:
              - run: docker build -t model:$IMAGE_TAG .
        """})["tracking.code_commit"]
    assert fact.value is False


def test_registry_stage_only_in_notebook_is_not_rollback(snapshot: MakeSnapshot) -> None:
    nb = json.dumps({"cells": [{"cell_type": "code", "source":
                                "from mlflow import MlflowClient\nclient = MlflowClient()\n"
                                "client.transition_model_version_stage('m', 2, 'Production')"}]})
    fact = facts(snapshot, {"registry.ipynb": nb})["tracking.rollback"]
    assert fact.value is False
    assert any(e.path == "registry.ipynb" and "not counted (notebook)" in e.detail
               for e in fact.evidence)


def test_tracker_integration_logs_runs_and_models(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"train.py": """
        from ray.air.integrations.mlflow import MLflowLoggerCallback
        callback = MLflowLoggerCallback(tracking_uri=URI, experiment_name="x",
                                        save_artifact=True)
        trainer.fit(callbacks=[callback])
        """})
    assert result["tracking.code_commit"].value is True
    model = result["tracking.model_artifacts"]
    assert model.value is True and model.evidence[0].line == 4


def test_docstring_mentioning_commit_is_not_a_use(snapshot: MakeSnapshot) -> None:
    doc = '"""Deploy the model; CI sets GITHUB_SHA before this runs."""\nimport os\nimport mlflow\n'
    assert facts(snapshot, {"deploy.py": doc})["tracking.code_commit"].value is False
    used = doc + "TAG = os.environ['GITHUB_SHA']\n"
    fact = facts(snapshot, {"deploy.py": used})["tracking.code_commit"]
    assert fact.value is True and fact.evidence[0].line == 4


def test_a_tool_reading_git_for_itself_is_not_model_traceability(snapshot: MakeSnapshot) -> None:
    tool = "import subprocess\nHEAD = subprocess.run(['git', 'rev-parse', 'HEAD'])\n"
    assert facts(snapshot, {"release.py": tool})["tracking.code_commit"].value is False


def test_scheduled_job_with_constraints_file_is_not_training(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {".github/workflows/nightly.yml": """
        on:
          schedule:
            - cron: "0 3 * * *"
        jobs:
          audit:
            steps:
              - run: pip install -r requirements.txt -c constraints.txt && pip-audit
        """})["tracking.retraining"]
    assert fact.value is False
