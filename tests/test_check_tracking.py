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


def test_commit_passed_to_terraform_in_an_included_gitlab_file(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {
        ".gitlab-ci.yml": "include:\n  - local: ci/templates.yml\n",
        "ci/templates.yml": """
            .apply:
              script:
                - terraform apply -auto-approve -var="git_commit=$CI_COMMIT_SHA"
                - echo "$CI_COMMIT_SHA"
            """})["tracking.code_commit"]
    assert fact.value is True
    assert [(e.path, e.line) for e in fact.evidence] == [("ci/templates.yml", 4)]


def test_build_id_on_runs_is_a_lookup_through_ci(snapshot: MakeSnapshot) -> None:
    pipeline = """
        trigger: [main]
        steps:
          - script: python -m ml.run --tags {tags}
        """
    fact = facts(snapshot, {"azure-pipelines.yml": pipeline.format(
        tags="BuildId=$(Build.BuildId)")})["tracking.code_commit"]
    assert fact.value is None and fact.unknown and "CI system" in fact.unknown
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("azure-pipelines.yml", 4)
    commit = facts(snapshot, {"azure-pipelines.yml": pipeline.format(
        tags="BuildId=$(Build.BuildId),commit=$(Build.SourceVersion)")})["tracking.code_commit"]
    assert commit.value is True


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


def test_tracker_integration_logs_models_but_not_the_commit(snapshot: MakeSnapshot) -> None:
    # Ray's callback creates its runs with MlflowClient.create_run: no git tags.
    result = facts(snapshot, {"train.py": """
        from ray.air.integrations.mlflow import MLflowLoggerCallback
        callback = MLflowLoggerCallback(tracking_uri=URI, experiment_name="x",
                                        save_artifact=True)
        trainer.fit(callbacks=[callback])
        """})
    commit = result["tracking.code_commit"]
    assert commit.value is False
    assert any(e.line == 3 and "MlflowClient.create_run" in e.detail for e in commit.evidence)
    model = result["tracking.model_artifacts"]
    assert model.value is True and model.evidence[0].line == 4


def test_lightning_mlflow_logger_records_the_commit(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": """
        from lightning.pytorch.loggers import MLFlowLogger
        logger = MLFlowLogger(experiment_name="x")
        """})["tracking.code_commit"]
    assert fact.value is True and fact.evidence[0].line == 3


def test_databricks_notebook_source_does_not_record_commit(snapshot: MakeSnapshot) -> None:
    body = "import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('a', 1)\n"
    exported = facts(snapshot, {"Train.py": "# Databricks notebook source\n" + body})[
        "tracking.code_commit"]
    assert exported.value is False
    assert any(e.path == "Train.py" and "notebook source" in e.detail
               for e in exported.evidence)
    script = facts(snapshot, {"Train.py": "# Train the model\n" + body})["tracking.code_commit"]
    assert script.value is True and script.evidence[0].line == 3


def test_script_run_from_remote_storage_does_not_record_commit(snapshot: MakeSnapshot) -> None:
    train = "import mlflow\nmlflow.sklearn.autolog()\nmodel.fit(X, y)\n"
    copied = facts(snapshot, {"jobs/train.py": train, ".github/workflows/cd.yml": """
        on: push
        jobs:
          deploy:
            steps:
              - run: dbfs cp jobs/train.py dbfs:/upload/project/train.py
        """})["tracking.code_commit"]
    assert copied.value is False
    assert any(e.path == "jobs/train.py" and "remote storage" in e.detail
               for e in copied.evidence)
    local = facts(snapshot, {"jobs/train.py": train, ".github/workflows/cd.yml": """
        on: push
        jobs:
          train:
            steps:
              - run: python jobs/train.py
        """})["tracking.code_commit"]
    assert local.value is True and local.evidence[0].path == "jobs/train.py"


def test_image_looked_up_as_latest_does_not_record_environment(snapshot: MakeSnapshot) -> None:
    job = """
        import sagemaker
        from sagemaker.image_uris import retrieve
        from sagemaker.processing import Processor
        uri = retrieve(region="eu-west-1", framework="xgboost", version="{version}")
        job = Processor(image_uri=uri, role=ROLE, instance_count=1)
        """
    floating = facts(snapshot, {"pipeline.py": job.format(version="latest")})[
        "tracking.environment"]
    assert floating.value is False
    assert any(e.line == 6 and "latest" in e.detail and e.detail.startswith("not counted")
               for e in floating.evidence)
    pinned = facts(snapshot, {"pipeline.py": job.format(version="1.7-1")})[
        "tracking.environment"]
    assert pinned.value is True and pinned.evidence[0].line == 6


def test_image_tagged_latest_does_not_record_environment(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": """
        from sagemaker.estimator import Estimator
        est = Estimator(image_uri="123.dkr.ecr.eu-west-1.amazonaws.com/train:latest", role=R)
        """})["tracking.environment"]
    assert fact.value is False
    assert any("tagged latest" in e.detail for e in fact.evidence)


def test_azureml_v1_registered_environment_used_by_runs(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"pipelines/build.py": """
        from azureml.core import Environment, Workspace
        from azureml.core.runconfig import RunConfiguration
        ws = Workspace.from_config()
        env = Environment.from_conda_specification("train", "conda.yml")
        env.register(ws)
        run_config = RunConfiguration()
        run_config.environment = env
        """})
    fact = result["tracking.environment"]
    assert fact.value is True
    assert {e.line for e in fact.evidence} == {6, 8}
    variables = facts(snapshot, {"pipelines/build.py": """
        from azureml.core.runconfig import RunConfiguration
        run_config = RunConfiguration()
        run_config.environment_variables = {"A": "1"}
        """})["tracking.environment"]
    assert variables.value is False


def test_azureml_v1_model_and_dataset_registration(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"register.py": """
        from azureml.core import Dataset, Model, Run
        run = Run.get_context()
        ds = Dataset.Tabular.from_delimited_files(path=(store, "train.csv"))
        ds = ds.register(workspace=ws, name="train", create_new_version=True)
        Model.register(workspace=ws, model_name="m", model_path="outputs/m.pkl",
                       datasets=[("training data", ds)])
        """})
    model = result["tracking.model_artifacts"]
    assert model.value is True and model.evidence[0].line == 6
    data = result["tracking.training_data"]
    assert data.value is True
    assert {e.line for e in data.evidence} == {5, 7}


def test_model_from_training_job_output_in_step_functions(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"run_pipeline.py": """
        from stepfunctions import steps
        training = steps.TrainingStep("Train", estimator=est, data=data, job_name=name)
        model = steps.sagemaker.ModelStep("Save", model=training.get_expected_model(),
                                          model_name=name)
        """})["tracking.model_artifacts"]
    assert fact.value is True and fact.evidence[0].line == 4


CFN_MODEL = """
    Resources:
      Model:
        Type: "AWS::SageMaker::Model"
        Properties:
          PrimaryContainer:
            Image: !Ref ImageUri
            ModelDataUrl: {url}
          ExecutionRoleArn: !Ref Role
    """


def test_cloudformation_model_artifact_per_training_job(snapshot: MakeSnapshot) -> None:
    per_job = facts(snapshot, {"deploy.yml": CFN_MODEL.format(
        url="!Sub s3://bucket-${AWS::AccountId}/${ModelName}-${TrainJobId}/output/model.tar.gz")})[
        "tracking.model_artifacts"]
    assert per_job.value is True
    assert (per_job.evidence[0].path, per_job.evidence[0].line) == ("deploy.yml", 3)
    fixed = facts(snapshot, {"deploy.yml": CFN_MODEL.format(
        url="!Sub s3://bucket-${AWS::AccountId}/models/model.tar.gz")})[
        "tracking.model_artifacts"]
    assert fixed.value is False


def test_model_file_committed_and_served(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {
        "api/ml/model.joblib": "binary",
        "api/ml/model.py": """
            import joblib
            from pathlib import Path
            from sklearn.datasets import load_diabetes
            from sklearn.linear_model import Ridge
            PATH = Path(__file__).parent / "model.joblib"
            if __name__ == "__main__":
                X, y = load_diabetes(return_X_y=True)
                joblib.dump(Ridge().fit(X, y), PATH)
            """,
        "Dockerfile": "FROM python:3.12-slim\nCOPY ./api /app/api\n"})
    model = result["tracking.model_artifacts"]
    assert model.value is True
    assert {(e.path, e.line) for e in model.evidence} == {("api/ml/model.py", 6),
                                                         ("Dockerfile", 2)}
    data = result["tracking.training_data"]
    assert data.value is True and data.evidence[0].line == 8
    assert "shipped with the library" in data.evidence[0].detail


def test_unreferenced_or_test_model_file_is_not_versioning(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"tests/fixtures/model.pkl": "x", "notes/old_model.pkl": "x",
                            "data/features.pkl": "x", "app.py": "print('hello')\n",
                            "Dockerfile": "FROM python:3.12-slim\nCOPY data /app/data\n"})[
        "tracking.model_artifacts"]
    assert fact.value is False


def test_bundled_dataset_beside_training_on_other_data_decides_nothing(
        snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {
        "smoke.py": "from sklearn.datasets import load_iris\nX, y = load_iris(return_X_y=True)\n"
                    "clf.fit(X, y)\n",
        "train.py": "import pandas as pd\ndf = pd.read_csv(PATH)\nclf.fit(df[F], df[T])\n"})[
        "tracking.training_data"]
    assert fact.value is False


def test_data_version_tag_alone_cannot_be_judged(snapshot: MakeSnapshot) -> None:
    job = """
        from stepfunctions import steps
        step = steps.TrainingStep("Train", estimator=est, data=data,
                                  tags={"DataVersionId": inputs["DataVersionId"]})
        """
    fact = facts(snapshot, {"run_pipeline.py": job})["tracking.training_data"]
    assert fact.value is None and fact.unknown and "pointer" in fact.unknown
    assert fact.evidence[0].line == 4
    dvc = facts(snapshot, {"run_pipeline.py": job,
                           "data/train.csv.dvc": "outs:\n- md5: 0a1b\n  path: train.csv\n"})[
        "tracking.training_data"]
    assert dvc.value is True


PIPELINE_TEMPLATE = """
    Resources:
      Pipeline:
        Type: AWS::CodePipeline::Pipeline
        Properties:
          Stages:
            - Name: Source
              Actions:
                - Name: Code
                  ActionTypeId: {{Category: Source, Provider: CodeCommit}}
            - Name: Train
              Actions:
                - Name: StartTraining
                  ActionTypeId: {{Category: Invoke, Provider: StepFunctions}}
      Rule:
        Type: AWS::Events::Rule
        Properties:
    {rule}
          Targets:
            - Arn: !Sub "arn:aws:codepipeline:${{AWS::Region}}:${{AWS::AccountId}}:${{Pipeline}}"
              Id: pipeline
    """


def test_retraining_started_by_an_alarm_rule(snapshot: MakeSnapshot) -> None:
    alarm = """
          EventPattern:
            source: [aws.cloudwatch]
            detail-type: ["CloudWatch Alarm State Change"]
    """
    fact = facts(snapshot, {"pipeline.yml": PIPELINE_TEMPLATE.format(rule=alarm)})[
        "tracking.retraining"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("pipeline.yml", 15)
    assert "an alarm" in fact.evidence[0].detail


def test_disabled_schedule_and_code_change_rules_are_not_retraining(
        snapshot: MakeSnapshot) -> None:
    disabled = """
          ScheduleExpression: "cron(0 12 1 * ? *)"
          State: DISABLED
    """
    fact = facts(snapshot, {"pipeline.yml": PIPELINE_TEMPLATE.format(rule=disabled)})[
        "tracking.retraining"]
    assert fact.value is False
    assert any(e.detail.startswith("disabled:") and e.line == 15 for e in fact.evidence)
    commits = """
          EventPattern:
            source: [aws.codecommit]
    """
    assert facts(snapshot, {"pipeline.yml": PIPELINE_TEMPLATE.format(rule=commits)})[
        "tracking.retraining"].value is False


CDK_SOURCE = """
    const sourceData = new codepipeline_actions.S3SourceAction({
        actionName: 'SourceData',
        output: sourceDataOutput,
        bucket: props.dataManifestBucket,
        bucketKey: 'manifest.json.zip',
    });
    """


def test_retraining_on_new_data_through_a_pipeline_source(snapshot: MakeSnapshot) -> None:
    # The snapshot folder keeps earlier files: the case without training code comes first.
    no_training = facts(snapshot, {"infra/pipeline.ts": CDK_SOURCE})["tracking.retraining"]
    assert no_training.value is False
    training = "from sagemaker.estimator import Estimator\nest = Estimator(image_uri=URI)\n"
    commented = facts(snapshot, {"infra/pipeline.ts": "// " + CDK_SOURCE.strip(),
                                 "ml/pipeline.py": training})["tracking.retraining"]
    assert commented.value is False
    fact = facts(snapshot, {"infra/pipeline.ts": CDK_SOURCE, "ml/pipeline.py": training})[
        "tracking.retraining"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("infra/pipeline.ts", 2)


def test_promoting_the_new_version_is_not_a_rollback(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"deploy.py": """
        from mlflow.tracking.client import MlflowClient
        client = MlflowClient()
        version = client.search_model_versions(f"name='m' and tag.run = '{RUN}'")[0].version
        client.transition_model_version_stage(name="m", version=version, stage="Production")
        """})["tracking.rollback"]
    assert fact.value is False
    assert any(e.line == 5 and "promotes" in e.detail for e in fact.evidence)


def test_alias_set_to_a_version_given_on_the_command_line(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"promote.py": """
        import argparse
        from mlflow import MlflowClient
        args = argparse.ArgumentParser().parse_args()
        MlflowClient().set_registered_model_alias("m", "champion", args.version)
        """})["tracking.rollback"]
    assert fact.value is True
    assert fact.evidence[0].line == 5 and "given as input" in fact.evidence[0].detail


SAM_FUNCTION = """
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Api:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          AutoPublishAlias: live
          DeploymentPreference:
            Type: {kind}
            Alarms:
              - !Ref ErrorAlarm
    """


def test_rollback_by_codedeploy_traffic_shifting(snapshot: MakeSnapshot) -> None:
    canary = facts(snapshot, {"deploy.yml": SAM_FUNCTION.format(kind="Canary10Percent5Minutes")})[
        "tracking.rollback"]
    assert canary.value is True
    assert (canary.evidence[0].path, canary.evidence[0].line) == ("deploy.yml", 4)
    at_once = facts(snapshot, {"deploy.yml": SAM_FUNCTION.format(kind="AllAtOnce")})[
        "tracking.rollback"]
    assert at_once.value is False


def test_rollback_stage_in_azure_pipeline(snapshot: MakeSnapshot) -> None:
    pipeline = """
        trigger: [main]
        stages:
          - stage: Deploy
            jobs:
              - job: deploy
                steps:
                  - script: helm upgrade model ./chart
          - stage: Rollback
            condition: failed()
            jobs:
    {jobs}
        """
    steps = ("          - job: back\n            steps:\n"
             "              - script: helm upgrade model ./chart --set weight=0\n")
    fact = facts(snapshot, {".pipelines/abtest.yml": pipeline.format(jobs=steps)})[
        "tracking.rollback"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == (".pipelines/abtest.yml", 9)
    empty = facts(snapshot, {".pipelines/abtest.yml": pipeline.format(jobs="")})[
        "tracking.rollback"]
    assert empty.value is False


def test_deploy_pipeline_parameter_selects_the_build_to_redeploy(snapshot: MakeSnapshot) -> None:
    pipeline = """
        parameters:
          - name: artifactBuildId
            default: latest
        trigger: none
        steps:
          - script: {command} --build ${{{{ parameters.artifactBuildId }}}}
        """
    fact = facts(snapshot, {"azure-pipelines.yml": pipeline.format(
        command="az ml model deploy --name svc")})["tracking.rollback"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("azure-pipelines.yml", 3)
    report = facts(snapshot, {"azure-pipelines.yml": pipeline.format(
        command="python report.py")})["tracking.rollback"]
    assert report.value is False


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


TAGGED_TRAINING = """
import os
import mlflow

client = mlflow.MlflowClient()


def register(run_id: str) -> None:
    version = mlflow.register_model(f"runs:/{run_id}/model", "churn")
    client.set_model_version_tag("churn", version.version, "git_sha", os.environ["GIT_SHA"])


register("abc")
"""


def test_registration_from_a_file_that_records_no_commit(snapshot: MakeSnapshot) -> None:
    notebook_path = """# Databricks notebook source
import mlflow
mlflow.register_model("runs:/abc/model", "churn")
"""
    found = facts(snapshot, {"train.py": TAGGED_TRAINING, "Train_and_deploy.py": notebook_path})
    fact = found["tracking.unrecorded_registrations"]
    assert fact.value is True
    assert fact.evidence[0].path == "Train_and_deploy.py"


def test_every_registering_file_records_the_commit(snapshot: MakeSnapshot) -> None:
    alone = facts(snapshot, {"train.py": TAGGED_TRAINING})["tracking.unrecorded_registrations"]
    assert alone.value is False


def test_nothing_records_a_commit_so_nothing_to_compare(snapshot: MakeSnapshot) -> None:
    plain = 'import mlflow\nmlflow.register_model("runs:/abc/model", "churn")\n'
    fact = facts(snapshot, {"reg.py": plain})["tracking.unrecorded_registrations"]
    assert fact.value is False and "did not find" in fact.evidence[0].detail


def test_bundle_commit_counts_only_in_a_bundle(snapshot: MakeSnapshot) -> None:
    notes = {"docs/notes.yaml": "hint: tag runs with ${bundle.git.commit}\n"}
    assert facts(snapshot, notes)["tracking.code_commit"].value is False


def test_bundle_commit_in_a_bundle_resource(snapshot: MakeSnapshot) -> None:
    bundle = {"databricks.yml": "bundle:\n  name: x\ninclude: [resources/*.yml]\n",
              "resources/job.yml": "resources:\n  jobs:\n    train:\n      tags:\n"
                                   "        git_commit: ${bundle.git.commit}\n"}
    fact = facts(snapshot, bundle)["tracking.code_commit"]
    assert fact.value is True
    assert any(e.path == "resources/job.yml" and e.line == 5 for e in fact.evidence)
