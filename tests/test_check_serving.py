"""serving: real-time APIs, batch scoring, API documentation, auth, secrets and load tests."""

from __future__ import annotations

import json

from mlops_auditor.checks import serving
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Snapshot
from tests.conftest import MakeSnapshot

# A made-up key id of the right shape (not the documented AWS example key).
FAKE_AWS_KEY = "AKIA" + "Q7TZ3RVW5XKJ2MNB"


def facts(snap: Snapshot) -> dict[str, Fact]:
    return {f.id: f for f in serving.collect(snap)}


def where(fact: Fact) -> list[tuple[str | None, int | None]]:
    return [(e.path, e.line) for e in fact.evidence]


TYPED_API = """\
    from fastapi import Depends, FastAPI
    from fastapi.security import APIKeyHeader
    from pydantic import BaseModel

    app = FastAPI()
    api_key = APIKeyHeader(name="X-API-Key")

    class Features(BaseModel):
        x: float

    class Prediction(BaseModel):
        y: float

    @app.post("/predict", response_model=Prediction)
    def predict(features: Features, key: str = Depends(api_key)):
        return Prediction(y=features.x)

    @app.get("/health")
    def health():
        return {"ok": True}
    """


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    got = serving.collect(snapshot({"README.md": "x\n"}))
    assert [f.id for f in got] == list(serving.FACTS)


# -- realtime ---------------------------------------------------------------------------------

def test_fastapi_routes_are_a_realtime_api(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"app/main.py": TYPED_API}))["serving.realtime_api"]
    assert fact.value is True
    assert where(fact) == [("app/main.py", 14), ("app/main.py", 18)]


def test_flask_app_without_routes_is_not_an_api(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"web.py": """\
        from flask import Flask

        app = Flask(__name__)
        """}))["serving.realtime_api"]
    assert fact.value is False
    assert fact.evidence[0].detail.startswith("did not find")
    assert ("web.py", 3) in where(fact)
    assert "without any route" in fact.evidence[1].detail


def test_route_stub_is_not_an_api(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"web.py": """\
        from flask import Flask

        app = Flask(__name__)

        @app.route("/predict", methods=["POST"])
        def predict():
            pass
        """}))["serving.realtime_api"]
    assert fact.value is False
    stub = [e for e in fact.evidence if "stub" in e.detail]
    assert [(e.path, e.line) for e in stub] == [("web.py", 5)]


def test_flask_and_django_routes(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "svc/app.py": """\
            from flask import Blueprint

            bp = Blueprint("api", __name__)

            @bp.route("/score", methods=["POST"])
            def score():
                return {"score": 1}
            """,
        "site/urls.py": """\
            from django.contrib import admin
            from django.urls import include, path

            from . import views

            urlpatterns = [
                path("admin/", admin.site.urls),
                path("api/", include("api.urls")),
                path("predict/", views.predict),
            ]
            """,
    })
    fact = facts(snap)["serving.realtime_api"]
    assert where(fact) == [("site/urls.py", 9), ("svc/app.py", 5)]


def test_other_frameworks_and_model_servers(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "a/lite.py": """\
            from litestar import post

            @post("/predict")
            async def predict(data: dict) -> dict:
                return data
            """,
        "a/aio.py": """\
            from aiohttp import web

            async def handle(request):
                return web.json_response({})

            app = web.Application()
            app.router.add_post("/score", handle)
            """,
        "a/star.py": """\
            from starlette.routing import Route

            async def infer(request):
                return None

            routes = [Route("/infer", infer, methods=["POST"])]
            """,
        "a/handler.py": """\
            from ts.torch_handler.base_handler import BaseHandler

            class Handler(BaseHandler):
                def preprocess(self, data):
                    return data
            """,
        "a/ray.py": """\
            from ray import serve

            @serve.deployment
            class Model:
                def __call__(self, request):
                    return 1
            """,
    })
    fact = facts(snap)["serving.realtime_api"]
    assert sorted(where(fact)) == [("a/aio.py", 7), ("a/handler.py", 3), ("a/lite.py", 3),
                                   ("a/ray.py", 4), ("a/star.py", 6)]


def test_kserve_manifest_counts_but_not_commented_out(snapshot: MakeSnapshot) -> None:
    yes = facts(snapshot({"deploy/isvc.yaml": """\
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata:
          name: model
        """}))["serving.realtime_api"]
    assert yes.value is True and where(yes) == [("deploy/isvc.yaml", 2)]


def test_commented_out_manifest_kind_does_not_count(snapshot: MakeSnapshot) -> None:
    no = facts(snapshot({"deploy/old.yaml": "# kind: InferenceService\n"}))
    assert no["serving.realtime_api"].value is False


def test_sagemaker_endpoint_in_terraform_is_realtime_and_iam_authenticated(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({"infra/main.tf": """\
        resource "aws_sagemaker_endpoint_configuration" "cfg" {
          name = "cfg"
        }

        resource "aws_sagemaker_endpoint" "ep" {
          name                 = "model"
          endpoint_config_name = aws_sagemaker_endpoint_configuration.cfg.name
        }
        """})
    got = facts(snap)
    assert where(got["serving.realtime_api"]) == [("infra/main.tf", 5)]
    assert got["serving.auth"].value is True
    assert "SageMaker endpoint defined here" in got["serving.auth"].evidence[0].detail
    assert where(got["serving.auth"]) == [("infra/main.tf", 5)]


def test_mlflow_models_serve_in_a_dockerfile(snapshot: MakeSnapshot) -> None:
    yes = facts(snapshot({"Dockerfile": """\
        FROM python:3.11-slim
        CMD ["mlflow", "models", "serve", "-m", "/model", "-p", "8080"]
        """}))["serving.realtime_api"]
    assert where(yes) == [("Dockerfile", 2)]


def test_mlflow_models_serve_in_docs_does_not_count(snapshot: MakeSnapshot) -> None:
    no = facts(snapshot({"README.md": "Run `mlflow models serve -m model`.\n"}))
    assert no["serving.realtime_api"].value is False


def test_bentoml_service_and_sagemaker_deploy(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "service.py": """\
            import bentoml

            @bentoml.service
            class Classifier:
                @bentoml.api
                def classify(self, text: str) -> str:
                    return text
            """,
        "deploy.py": """\
            from sagemaker.model import Model

            Model(image_uri="x").deploy(initial_instance_count=1, instance_type="ml.m5.large")
            """,
    })
    got = facts(snap)
    assert {("deploy.py", 3), ("service.py", 4)} <= set(where(got["serving.realtime_api"]))
    assert got["serving.auth"].value is True
    assert got["serving.api_documented"].value is True
    assert ("service.py", 6) in where(got["serving.api_documented"])


# -- batch ------------------------------------------------------------------------------------

SCORE = """\
    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model("models:/churn/1")
    frame = pd.read_parquet("customers.parquet")
    frame["churn"] = model.predict(frame)
    frame.to_parquet("scores.parquet")
    """


def test_batch_scoring_script(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"jobs/score.py": SCORE}))["serving.batch"]
    assert fact.value is True
    assert where(fact) == [("jobs/score.py", 6)]
    assert "loads a model" in fact.evidence[0].detail


def test_evaluation_after_training_is_not_batch_scoring(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"train.py": """\
        import joblib
        import pandas as pd
        from sklearn.linear_model import Ridge

        frame = pd.read_csv("train.csv")
        model = Ridge().fit(frame[["x"]], frame["y"])
        check = joblib.load("previous.pkl")
        frame["pred"] = model.predict(frame[["x"]])
        frame.to_csv("eval.csv")
        """}))["serving.batch"]
    assert fact.value is False
    assert fact.evidence[0].detail.startswith("did not find batch scoring")


def test_spark_udf_azure_batch_endpoint_and_scheduled_bundle_job(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "nb_score.py": """\
            import mlflow

            predict = mlflow.pyfunc.spark_udf(spark, "models:/m/1")
            """,
        "aml/batch.yml": """\
            $schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json
            name: churn-batch
            """,
        "jobs/score.py": SCORE,
        "bundle/databricks.yml": """\
            resources:
              jobs:
                nightly_scoring:
                  schedule:
                    quartz_cron_expression: "0 0 2 * * ?"
                  tasks:
                    - task_key: score
                      spark_python_task:
                        python_file: ../jobs/score.py
            """,
    })
    fact = facts(snap)["serving.batch"]
    got = set(where(fact))
    assert {("nb_score.py", 3), ("aml/batch.yml", 1), ("jobs/score.py", 6),
            ("bundle/databricks.yml", 3)} <= got
    job = next(e for e in fact.evidence if e.path == "bundle/databricks.yml")
    assert "scheduled job nightly_scoring" in job.detail


def test_wheel_entry_point_job_that_scores_with_the_feature_store(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "pyproject.toml": """\
            [project]
            name = "eta"
            [project.scripts]
            score-preorders = "eta.batch:score"
            """,
        "src/eta/batch.py": """\
            from databricks.feature_engineering import FeatureEngineeringClient

            def score(spark):
                frame = spark.table("main.eta.preorders")
                scored = FeatureEngineeringClient().score_batch(model_uri="models:/m@c", df=frame)
                scored.write.mode("append").saveAsTable("main.eta.predictions")
            """,
        "resources/job.yml": """\
            resources:
              jobs:
                nightly:
                  trigger:
                    periodic: {interval: 1, unit: DAYS}
                  tasks:
                    - task_key: score
                      python_wheel_task:
                        package_name: eta
                        entry_point: score-preorders
            """,
    })
    fact = facts(snap)["serving.batch"]
    assert ("src/eta/batch.py", 5) in where(fact)
    job = next(e for e in fact.evidence if e.path == "resources/job.yml")
    assert job.line == 3
    assert "entry point score-preorders (src/eta/batch.py)" in job.detail


# -- api documentation ------------------------------------------------------------------------

def test_openapi_document_found_by_content_not_name(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "contract/service.yaml": """\
            openapi: 3.0.3
            info: {title: churn, version: "1"}
            paths:
              /predict: {}
            """,
        "openapi-notes.yaml": "notes: about our openapi plans\n",
    })
    fact = facts(snap)["serving.api_documented"]
    assert fact.value is True
    assert where(fact) == [("contract/service.yaml", 1)]
    assert "1 path(s)" in fact.evidence[0].detail


def test_openapi_file_name_alone_is_not_a_spec(snapshot: MakeSnapshot) -> None:
    only_name = facts(snapshot({"openapi.yaml": "notes: later\n"}))["serving.api_documented"]
    assert only_name.value is False


def test_typed_fastapi_routes_document_the_api(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"app/main.py": TYPED_API}))["serving.api_documented"]
    assert fact.value is True
    assert where(fact) == [("app/main.py", 14)]


def test_untyped_predict_route_beside_a_typed_one(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"app/main.py": TYPED_API + """\

        @app.post("/predict_raw")
        def predict_raw(payload: dict):
            return {"y": 0}
        """}))["serving.api_documented"]
    assert fact.value is False
    assert fact.evidence[0].line == 22
    assert "untyped route /predict_raw" in fact.evidence[0].detail
    assert "no schema-typed request" in fact.evidence[0].detail


def test_proto_service_documents_a_grpc_api(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"protos/model.proto": """\
        syntax = "proto3";
        // service Old {
        service Predictor {
          rpc Predict (Request) returns (Reply);
        }
        """}))["serving.api_documented"]
    assert where(fact) == [("protos/model.proto", 3)]


# -- auth -------------------------------------------------------------------------------------

def test_fastapi_security_dependency_is_auth(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"app/main.py": TYPED_API}))["serving.auth"]
    assert fact.value is True
    assert fact.evidence[0].line == 14
    assert "Depends(api_key)" in fact.evidence[0].detail


def test_one_open_prediction_route_makes_auth_false(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"app/main.py": TYPED_API + """\

        @app.post("/predict_raw")
        def predict_raw(payload: dict):
            return {"y": 0}
        """}))["serving.auth"]
    assert fact.value is False
    assert ("app/main.py", 22) in where(fact)
    assert any("has no authentication" in e.detail for e in fact.evidence)


def test_flask_login_decorator_is_auth(snapshot: MakeSnapshot) -> None:
    decorated = facts(snapshot({"web.py": """\
        from flask import Flask
        from flask_login import login_required

        app = Flask(__name__)

        @app.route("/predict", methods=["POST"])
        @login_required
        def predict():
            return {"y": 1}
        """}))["serving.auth"]
    assert decorated.value is True and where(decorated)[0] == ("web.py", 6)


def test_api_key_header_check_is_auth(snapshot: MakeSnapshot) -> None:
    checked = facts(snapshot({"web.py": """\
        import os
        from flask import Flask, abort, request

        app = Flask(__name__)

        @app.post("/predict")
        def predict():
            if request.headers.get("X-API-Key") != os.environ["API_KEY"]:
                abort(401)
            return {"y": 1}
        """}))["serving.auth"]
    assert checked.value is True and "X-API-Key" in checked.evidence[0].detail


def test_open_flask_route_is_not_authenticated(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"web.py": """\
        from flask import Flask

        app = Flask(__name__)

        @app.post("/predict")
        def predict():
            return {"y": 1}
        """}))["serving.auth"]
    assert fact.value is False
    assert where(fact)[1] == ("web.py", 5)


def test_app_wide_dependency_is_auth(snapshot: MakeSnapshot) -> None:
    app = facts(snapshot({"main.py": """\
        from fastapi import Depends, FastAPI

        def verify_token():
            return True

        app = FastAPI(dependencies=[Depends(verify_token)])

        @app.post("/predict")
        def predict(payload: dict):
            return payload
        """}))["serving.auth"]
    assert app.value is True and where(app)[0] == ("main.py", 6)


def test_azure_endpoint_auth_mode_is_auth(snapshot: MakeSnapshot) -> None:
    azure = facts(snapshot({"endpoint.yml": """\
        $schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
        name: churn
        auth_mode: key
        """}))
    assert azure["serving.realtime_api"].value is True
    assert where(azure["serving.auth"]) == [("endpoint.yml", 3)]


def test_no_api_means_no_auth(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"lib.py": "x = 1\n"}))["serving.auth"]
    assert fact.value is False
    assert "no real-time API" in fact.evidence[0].detail


# -- secrets ----------------------------------------------------------------------------------

def test_real_looking_key_is_a_secret_and_is_redacted(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({
        "src/config.py": f'AWS_ACCESS_KEY_ID = "{FAKE_AWS_KEY}"\n',
    }))["serving.hardcoded_secret"]
    assert fact.value is True
    assert where(fact) == [("src/config.py", 1)]
    assert FAKE_AWS_KEY not in fact.evidence[0].detail
    assert "redacted" in fact.evidence[0].detail


def test_placeholders_env_reads_and_tests_are_not_secrets(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "src/settings.py": """\
            import os

            API_KEY = os.environ["API_KEY"]
            password = "<your-password>"
            token = "changeme"
            secret = ""
            db_password: str = os.getenv("DB_PASSWORD", "")
            pad_token = "<pad>"
            tokenizer = "bert-base-uncased"
            EXAMPLE_KEY = "AKIAIOSFODNN7EXAMPLE"
            # api_key = "k2h3g4k2j3h4g2k3j4h"
            """,
        "conf/app.yaml": """\
            password: ${DB_PASSWORD}
            token: "{{ secrets.token }}"
            api_key: xxxxxxxx
            """,
        ".env.example": "API_KEY=your-api-key-here\n",
        "tests/test_client.py": 'TOKEN = "k2h3g4k2j3h4g2k3j4h5"\n',
    })
    fact = facts(snap)["serving.hardcoded_secret"]
    assert fact.value is False
    assert fact.evidence[0].detail.startswith("did not find hard-coded credentials")


def test_dummy_key_in_a_load_test_is_not_a_secret(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"loadtest/locustfile.py": """\
        from locust import HttpUser, task

        class ScoringUser(HttpUser):
            @task
            def predict(self):
                self.client.post("/predict", headers={"X-Api-Token": "k9Qz7LmW2x"})
        """}))["serving.hardcoded_secret"]
    assert fact.value is False


def test_names_of_secrets_are_not_secrets(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"src/kinds.py": """\
        API_TOKEN = "api_token"
        DB_PASSWORD = "database-password"
        LAZY = {"ApiToken": "._internal.cloud.ApiToken"}
        """}))["serving.hardcoded_secret"]
    assert fact.value is False


def test_yaml_bare_password_env_file_and_private_key(snapshot: MakeSnapshot) -> None:
    key_body = "MIIEowIBAAKCAQEAx4UbaDzY8MSHBPCcV2wYyF9k0dGv"
    snap = snapshot({
        "deploy/values.yaml": "db:\n  password: Tr0ub4dor&3x\n",
        ".env": "HF_TOKEN=hf_" + "q" * 34 + "\n",
        "keys/service.json": '{"private_key": "-----BEGIN PRIVATE KEY-----\\n'
                             + key_body + '\\n-----END PRIVATE KEY-----\\n"}\n',
        "src/check.py": 'HEADER = "-----BEGIN PRIVATE KEY-----"\n',
    })
    fact = facts(snap)["serving.hardcoded_secret"]
    assert sorted(where(fact)) == [(".env", 1), ("deploy/values.yaml", 2),
                                   ("keys/service.json", 1)]
    assert all("Tr0ub4dor" not in e.detail for e in fact.evidence)


def test_kubernetes_secret_reference_is_not_a_secret(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"chart/values.yaml": """\
        auth:
          existingSecret: model-api-credentials
        """}))["serving.hardcoded_secret"]
    assert fact.value is False


def test_token_in_a_notebook_cell_is_a_secret(snapshot: MakeSnapshot) -> None:
    cell = 'import requests\nAPI_TOKEN = "' + "9f8e7d6c5b4a" * 3 + '"\n'
    fact = facts(snapshot({"nb/call.ipynb": json.dumps(
        {"cells": [{"cell_type": "markdown", "source": "token = 'abcdefabcdef'"},
                   {"cell_type": "code", "source": cell}]})}))["serving.hardcoded_secret"]
    assert where(fact) == [("nb/call.ipynb", None)]
    assert fact.evidence[0].detail.startswith("cell 2, line 2: literal API_TOKEN")


# -- load tests -------------------------------------------------------------------------------

def test_locust_user_class_counts(snapshot: MakeSnapshot) -> None:
    yes = facts(snapshot({"tests/load/locustfile.py": """\
        from locust import HttpUser, task

        class ApiUser(HttpUser):
            @task
            def predict(self):
                self.client.post("/predict", json={"x": 1})
        """}))["serving.load_tests"]
    assert where(yes) == [("tests/load/locustfile.py", 3)]


def test_locustfile_without_a_user_class_does_not_count(snapshot: MakeSnapshot) -> None:
    no = facts(snapshot({"locustfile.py": "# load tests go here\nimport locust\n"}))
    assert no["serving.load_tests"].value is False


def test_k6_jmeter_gatling_and_artillery(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "load/script.js": """\
            // smoke
            import http from 'k6/http';
            export default function () { http.get('http://localhost/health'); }
            """,
        "load/plan.jmx": '<?xml version="1.0"?>\n<jmeterTestPlan version="1.2">\n'
                         '</jmeterTestPlan>\n',
        "load/Sim.scala": """\
            import io.gatling.core.Predef._
            class PredictSimulation extends Simulation {}
            """,
        "load/artillery.yml": """\
            config:
              target: http://localhost:8000
              phases: [{duration: 60, arrivalRate: 5}]
            scenarios:
              - flow: [{post: {url: /predict}}]
            """,
        "load/other.yml": "config:\n  target: x\n",
    })
    fact = facts(snap)["serving.load_tests"]
    assert sorted(where(fact)) == [("load/Sim.scala", 2), ("load/artillery.yml", 1),
                                   ("load/plan.jmx", 2), ("load/script.js", 2)]


def test_malformed_inputs_do_not_raise(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "databricks.yml": "resources: [jobs:\n  notebook_path: x\n",
        "api.yaml": "openapi: 3.0.0\n  paths: [\n",
        "load/a.yml": "- scenarios\n- target\n",
        "broken.py": "def f(:\n",
        "nb.ipynb": '{"cells": "nope"}',
    })
    got = facts(snap)
    assert got["serving.api_documented"].value is False
    assert got["serving.load_tests"].value is False
    assert any(e.path == "broken.py" for e in got["serving.realtime_api"].evidence)
