"""mlcode: data, training and serving code decided by imports and calls, never by file names."""

from __future__ import annotations

import ast
import json

import pytest

from mlops_auditor.checks import mlcode
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Snapshot
from tests.conftest import MakeSnapshot


def facts(snap: Snapshot) -> dict[str, Fact]:
    return {f.id: f for f in mlcode.collect(snap)}


def notebook(*cells: str, kind: str = "code") -> str:
    return json.dumps({"cells": [{"cell_type": kind, "source": c} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    got = mlcode.collect(snapshot({"README.md": "# nothing\n"}))
    assert [f.id for f in got] == list(mlcode.FACTS)


def test_pandas_read_and_cleaning_is_data_prep(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"etl/load.py": """\
        import pandas as pd

        def load(path):
            frame = pd.read_csv(path)
            return frame.dropna()
        """})
    fact = facts(snap)["mlcode.data_prep"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("etl/load.py", 4)
    assert "pandas.read_csv" in fact.evidence[0].detail
    assert facts(snap)["mlcode.training"].value is False


def test_estimator_fit_is_training_but_scaler_fit_is_not(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "src/model.py": """\
            from sklearn.ensemble import RandomForestClassifier as RF

            def build(X, y):
                clf = RF(n_estimators=10)
                clf.fit(X, y)
                return clf
            """,
        "src/scale.py": """\
            from sklearn.preprocessing import StandardScaler

            def scale(X, y):
                scaler = StandardScaler()
                scaler.fit(X, y)
                return scaler
            """,
    })
    got = facts(snap)
    assert got["mlcode.training"].value is True
    assert [(e.path, e.line) for e in got["mlcode.training"].evidence] == [("src/model.py", 5)]
    assert "RandomForestClassifier" in got["mlcode.training"].evidence[0].detail
    assert mlcode.step_files(snap)["training"] == ["src/model.py"]
    assert "src/scale.py" in mlcode.step_files(snap)["data"]


def test_torch_loop_trainer_and_xgboost_train(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "loop.py": """\
            import torch

            def epoch(model, batches, optimizer):
                for x, y in batches:
                    loss = torch.nn.functional.mse_loss(model(x), y)
                    loss.backward()
                    optimizer.step()
            """,
        "hf.py": """\
            from transformers import Trainer

            trainer = Trainer(model=None, args=None)
            trainer.train()
            """,
        "boost.py": """\
            import xgboost as xgb

            booster = xgb.train({}, None)
            """,
    })
    files = mlcode.step_files(snap)["training"]
    assert files == ["boost.py", "hf.py", "loop.py"]
    lines = {e.path: e.line for e in facts(snap)["mlcode.training"].evidence}
    assert lines == {"boost.py": 3, "hf.py": 4, "loop.py": 6}


def test_torch_train_mode_switch_is_not_training(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"eval.py": """\
        import torch

        def evaluate(model):
            model.train()
            model.eval()
        """})
    fact = facts(snap)["mlcode.training"]
    assert fact.value is False
    assert fact.evidence[0].path is None and "did not find" in fact.evidence[0].detail


def test_dead_commented_and_stub_code_does_not_count(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"src/train.py": """\
        from sklearn.linear_model import LogisticRegression
        # model.fit(X, y)

        if False:
            LogisticRegression().fit(X, y)

        def train(X, y):
            raise NotImplementedError

        def fit_later(X, y):
            \"\"\"Fit the model (to do).\"\"\"
            ...
        """})
    got = facts(snap)
    assert got["mlcode.training"].value is False
    assert "1 Python file(s)" in got["mlcode.training"].evidence[0].detail
    assert got["mlcode.steps"].value == ()


def test_file_name_alone_decides_nothing(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"train.py": "print('training happens elsewhere')\n",
                     "preprocess_data.py": "VALUE = 1\n"})
    got = facts(snap)
    assert got["mlcode.training"].value is False
    assert got["mlcode.data_prep"].value is False


def test_one_argument_fit_needs_a_model_like_receiver(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "a.py": "def go(model, X):\n    model.fit(X)\n",
        "b.py": "def go(encoder, X):\n    encoder.fit(X)\n",
    })
    assert mlcode.step_files(snap)["training"] == ["a.py"]


def test_tests_are_not_ml_code(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"tests/test_model.py": """\
        from sklearn.linear_model import LinearRegression

        def test_fit():
            LinearRegression().fit([[1]], [1])
        """})
    assert facts(snap)["mlcode.training"].value is False


def test_notebook_cells_with_magics_are_parsed(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"notebooks/explore.ipynb": notebook(
        "%matplotlib inline\n!pip install pandas\nimport pandas as pd",
        "files = !ls data\ndf = pd.read_parquet('data/x.parquet')\ndf.describe()",
        "%%bash\necho not python",
        "%%sql\nSELECT * FROM events",
    )})
    fact = facts(snap)["mlcode.data_prep"]
    assert fact.value is True
    assert fact.evidence[0].path == "notebooks/explore.ipynb"
    assert fact.evidence[0].line is None
    assert fact.evidence[0].detail.startswith("cell 2, line 2:")
    got = facts(snap)
    assert got["mlcode.notebooks_only"].value is True


def test_sql_cell_counts_as_data_gathering(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"q.ipynb": notebook("%sql\nselect id, amount from sales")})
    fact = facts(snap)["mlcode.data_prep"]
    assert fact.value is True
    assert fact.evidence[0].detail == "cell 1: SQL query"


def test_notebooks_only_false_cites_a_module(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "nb/train.ipynb": notebook("from sklearn.svm import SVC\nSVC().fit(X, y)"),
        "pipeline/prep.py": "import polars as pl\nframe = pl.read_csv('x.csv')\n",
    })
    fact = facts(snap)["mlcode.notebooks_only"]
    assert fact.value is False
    assert [(e.path, e.line) for e in fact.evidence] == [("pipeline/prep.py", 2)]
    assert facts(snap)["mlcode.steps"].value == ("data", "training")


def test_no_ml_code_at_all(snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"tool.py": "def add(a, b):\n    return a + b\n"}))
    assert got["mlcode.notebooks_only"].value is False
    assert "did not find" in got["mlcode.notebooks_only"].evidence[0].detail
    assert got["mlcode.steps"].value == ()


def test_prediction_route_is_serving_but_stub_and_routeless_apps_are_not(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "api/main.py": """\
            from fastapi import FastAPI

            app = FastAPI()

            @app.post("/predict")
            def predict(payload: dict):
                return {"label": 1}
            """,
        "api/stub.py": """\
            from fastapi import FastAPI

            app = FastAPI()

            @app.post("/v2/predict")
            def predict_v2(payload: dict):
                pass
            """,
        "web/site.py": """\
            import joblib
            from flask import Flask

            app = Flask(__name__)
            model = joblib.load("model.pkl")
            """,
    })
    assert mlcode.step_files(snap)["serving"] == ["api/main.py"]
    fact = facts(snap)["mlcode.steps"]
    serving = [e for e in fact.evidence if e.path == "api/main.py"]
    assert serving[0].line == 5 and "/predict" in serving[0].detail


def test_sagemaker_inference_script_is_serving(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"code/inference.py": """\
        import joblib

        def model_fn(model_dir):
            return joblib.load(model_dir + "/model.joblib")

        def predict_fn(data, model):
            return model.predict(data)
        """})
    assert mlcode.step_files(snap)["serving"] == ["code/inference.py"]
    evidence = facts(snap)["mlcode.steps"].evidence
    assert (evidence[0].line, "SageMaker" in evidence[0].detail) == (3, True)


def test_batch_scoring_file_is_serving_but_evaluation_is_not(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "jobs/score.py": """\
            import joblib
            import pandas as pd

            model = joblib.load("model.pkl")
            frame = pd.read_parquet("input.parquet")
            frame["score"] = model.predict(frame)
            frame.to_parquet("scores.parquet")
            """,
        "jobs/evaluate.py": """\
            import joblib
            import pandas as pd
            from sklearn.linear_model import Ridge

            frame = pd.read_csv("train.csv")
            model = Ridge().fit(frame[["x"]], frame["y"])
            joblib.dump(model, "m.pkl")
            frame["pred"] = model.predict(frame[["x"]])
            frame.to_csv("eval.csv")
            """,
    })
    assert list(mlcode.batch_files(snap)) == ["jobs/score.py"]
    assert mlcode.batch_files(snap)["jobs/score.py"].line == 6
    assert mlcode.step_files(snap)["serving"] == ["jobs/score.py"]


def test_step_files_is_memoised(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"a.py": "import pandas as pd\npd.read_csv('x')\n"})
    assert mlcode.analyse(snap) is mlcode.analyse(snap)
    assert mlcode.step_files(snap) == {"data": ["a.py"], "training": [], "serving": []}


def test_unparseable_only_file_is_unknown(snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"train.py": "def broken(:\n    model.fit(X, y)\n"}))
    fact = got["mlcode.training"]
    assert fact.value is None and fact.unknown
    assert fact.evidence[0].path == "train.py"
    assert fact.evidence[0].detail.startswith("unparseable:")


def test_unparseable_file_is_reported_beside_a_false(snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"ok.py": "x = 1\n", "nb.ipynb": "{not json"}))
    fact = got["mlcode.training"]
    assert fact.value is False
    assert any(e.path == "nb.ipynb" and "unparseable" in e.detail for e in fact.evidence)


# -- training defined without `.fit(`: managed jobs and pipeline steps -------------------------

def test_sagemaker_pipeline_training_step_is_training(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "pipeline/pipeline.py": """\
            from sagemaker.estimator import Estimator
            from sagemaker.workflow.steps import TrainingStep

            def get_pipeline(image, role):
                xgb = Estimator(image_uri=image, role=role, instance_count=1)
                xgb.set_hyperparameters(num_round=50)
                return TrainingStep(name="Train", estimator=xgb, inputs={})
            """,
        "pipeline/unused.py": """\
            from sagemaker.estimator import Estimator

            def make(image, role):
                return Estimator(image_uri=image, role=role, instance_count=1)
            """,
    })
    fact = facts(snap)["mlcode.training"]
    assert fact.value is True
    assert [(e.path, e.line) for e in fact.evidence] == [("pipeline/pipeline.py", 7)]
    assert "SageMaker Pipelines training step" in fact.evidence[0].detail
    assert mlcode.step_files(snap)["training"] == ["pipeline/pipeline.py"]


def test_estimator_alone_is_not_training(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"make.py": """\
        import sagemaker

        est = sagemaker.estimator.Estimator("image", "role", instance_count=1)
        """})
    assert facts(snap)["mlcode.training"].value is False


def test_sagemaker_estimator_fit_and_step_functions_step(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "fit.py": """\
            import sagemaker

            job = sagemaker.estimator.Estimator("image", "role", instance_count=1)
            job.fit(inputs={"train": "s3://bucket/train"})
            """,
        "workflow.py": """\
            from stepfunctions import steps

            def training(estimator, data):
                return steps.TrainingStep("Train", estimator=estimator, data=data)
            """,
    })
    got = {e.path: e for e in facts(snap)["mlcode.training"].evidence}
    assert (got["fit.py"].line, "fits sagemaker.estimator.Estimator" in got["fit.py"].detail) \
        == (4, True)
    assert got["workflow.py"].line == 4
    assert "Step Functions SageMaker training step" in got["workflow.py"].detail


def test_tfx_trainer_needs_its_training_module(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "pipelines/train_pipeline.py": """\
            from tfx.v1.components import Trainer

            def create(examples):
                return Trainer(module_file="src/model/runner.py", examples=examples)
            """,
        "pipelines/hf.py": """\
            from transformers import Trainer

            trainer = Trainer(model=None, args=None)
            """,
        "pipelines/bare.py": """\
            from tfx.v1.components import Trainer

            component = Trainer(examples=None)
            """,
    })
    got = facts(snap)["mlcode.training"]
    assert [(e.path, e.line) for e in got.evidence] == [("pipelines/train_pipeline.py", 4)]
    assert "TFX Trainer component" in got.evidence[0].detail


def test_vertex_custom_training_job_is_training(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"launch.py": """\
        from google.cloud import aiplatform

        job = aiplatform.CustomTrainingJob(display_name="t", script_path="task.py",
                                           container_uri="image")
        """})
    fact = facts(snap)["mlcode.training"]
    assert (fact.value, fact.evidence[0].line) == (True, 3)
    assert "Vertex AI custom training job" in fact.evidence[0].detail


def test_create_training_job_counts_only_with_the_aws_sdk(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "launch.py": """\
            import boto3

            boto3.client("sagemaker").create_training_job(TrainingJobName="t")
            """,
        "other.py": """\
            def go(client):
                return client.create_training_job(name="t")
            """,
    })
    fact = facts(snap)["mlcode.training"]
    assert [(e.path, e.line) for e in fact.evidence] == [("launch.py", 3)]


def test_azure_script_step_running_a_tracked_training_script(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "pipelines/build.py": """\
            from azureml.pipeline.steps import PythonScriptStep
            from azureml.core import ScriptRunConfig

            train = PythonScriptStep(name="train", script_name="train_model.py")
            missing = PythonScriptStep(name="t", script_name="train_elsewhere.py")
            prep = ScriptRunConfig(source_directory="src", script="prep.py")
            """,
        "src/steps/train_model.py": "import sys\nprint(sys.argv)\n",
        "src/prep.py": "import sys\nprint(sys.argv)\n",
    })
    fact = facts(snap)["mlcode.training"]
    assert [(e.path, e.line) for e in fact.evidence] == [("pipelines/build.py", 4)]
    assert "src/steps/train_model.py" in fact.evidence[0].detail


def test_azure_command_job_with_an_empty_training_script_is_not_training(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "jobs.py": """\
            from azure.ai.ml import command

            job = command(code="./src", command="python train.py --epochs 3")
            """,
        "src/train.py": '"""Training goes here."""\n',
    })
    assert facts(snap)["mlcode.training"].value is False


def test_lambda_handler_invoking_an_endpoint_is_serving(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "api/app.py": """\
            import boto3

            runtime = boto3.client("sagemaker-runtime")

            def lambda_handler(event, context):
                response = runtime.invoke_endpoint(EndpointName="m", Body=event["body"])
                return {"statusCode": 200, "body": response["Body"].read()}
            """,
        "api/other.py": """\
            def lambda_handler(event, context):
                return {"statusCode": 200}
            """,
    })
    assert mlcode.step_files(snap)["serving"] == ["api/app.py"]
    assert facts(snap)["mlcode.steps"].value == ("serving",)


@pytest.mark.parametrize(("source", "expected"), [
    ("model", "model"), ("self.model", "model"), ("f().model", "model"), ("a[0].b", "b"),
    ("(a + b).model", ""), ("'text'.join", ""), ("f()", "f"), ("a.b()", "b"), ("x[1]", "x"),
])
def test_last_name_is_the_last_plain_name_of_a_named_chain(source: str, expected: str) -> None:
    assert mlcode.last_name(ast.parse(source, mode="eval").body) == expected


def test_a_tree_lists_nodes_of_the_kinds_asked_in_source_order() -> None:
    module = ast.parse("import a\nx = f()\nclass C:\n    def m(self):\n        g()\nimport b\n")
    tree = mlcode.Tree(module, None, mlcode.live_nodes(module))
    kinds = [type(n).__name__ for n in tree.of(ast.Import, ast.Call, ast.ClassDef)]
    assert kinds == ["Import", "Call", "ClassDef", "Call", "Import"]
    assert [n.func.id for n in tree.of(ast.Call)] == ["f", "g"]
    assert tree.of(ast.While) == []
