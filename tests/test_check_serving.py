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


# -- endpoints in CDK code and REST calls; who may call the entry points -------------------------

CDK_ENDPOINT = """\
    import * as sagemaker from 'aws-cdk-lib/aws-sagemaker';

    export function endpoint(scope: any, config: any) {
        return new sagemaker.CfnEndpoint(scope, 'Endpoint', {
            endpointConfigName: config.attrEndpointConfigName,
        });
    }
    """


def test_sagemaker_endpoint_in_cdk_typescript_is_realtime(snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"deploy/lib/stack.ts": CDK_ENDPOINT}))
    assert where(got["serving.realtime_api"]) == [("deploy/lib/stack.ts", 4)]
    assert got["serving.auth"].value is True
    assert "SageMaker endpoint defined here" in got["serving.auth"].evidence[0].detail


def test_other_cfn_endpoints_and_docs_are_not_sagemaker_endpoints(
        snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({
        "infra/dms.ts": """\
            import * as dms from 'aws-cdk-lib/aws-dms';

            const source = new dms.CfnEndpoint(this, 'Source', {endpointType: 'source'});
            """,
        "infra/dms_stack.py": """\
            from aws_cdk import aws_dms

            aws_dms.CfnEndpoint(scope, "Source", endpoint_type="source")
            """,
        "README.md": "Deploy with `new sagemaker.CfnEndpoint(this, 'E', {...})`.\n",
    }))
    assert got["serving.realtime_api"].value is False


DATABRICKS_API = """\
    import requests

    def post(path, body):
        return requests.post(f"https://host/api/{path}", json=body)

    def databricks_put_api(endpoint, json):
        return requests.put(f"https://host/api/{endpoint}", json=json)

    def serve(name, config):
        path = "2.0/serving-endpoints"
        post(path, {"name": name, "config": config})
        databricks_put_api(endpoint=f"2.0/serving-endpoints/{name}/config", json=config)
    """


def test_databricks_serving_endpoint_created_through_rest_is_realtime(
        snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"deploy/api.py": DATABRICKS_API}))
    assert where(got["serving.realtime_api"]) == [("deploy/api.py", 11), ("deploy/api.py", 12)]
    assert "Databricks model serving endpoint" in got["serving.realtime_api"].evidence[0].detail
    assert got["serving.auth"].value is True


def test_reading_or_invoking_a_databricks_endpoint_is_not_defining_one(
        snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"client.py": """\
        import requests

        def status(name):
            return requests.get(f"https://host/api/2.0/serving-endpoints/{name}")

        def query(name, rows):
            url = f"https://host/serving-endpoints/{name}/invocations"
            return requests.post(url, json={"dataframe_records": rows})
        """}))
    assert got["serving.realtime_api"].value is False


SAM_TEMPLATE = """\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Endpoint:
        Type: "AWS::SageMaker::Endpoint"
        Properties:
          EndpointConfigName: !GetAtt Config.EndpointConfigName
      ApiFunction:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.lambda_handler
          Environment:
            Variables:
              ENDPOINT_NAME: !GetAtt Endpoint.EndpointName
          Events:
            Invoke:
              Type: Api
              Properties:
                Path: /api
                Method: post
    """


def test_sam_api_event_without_authorizer_leaves_the_endpoint_open(
        snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({"assets/deploy.yml": SAM_TEMPLATE}))
    assert got["serving.realtime_api"].value is True
    auth = got["serving.auth"]
    assert auth.value is False
    assert "no real-time API" not in auth.evidence[0].detail
    assert ("assets/deploy.yml", 15) in where(auth)
    assert any("POST /api" in e.detail and "anyone may call" in e.detail
               for e in auth.evidence)


def test_sam_api_event_with_an_authorizer_is_guarded(snapshot: MakeSnapshot) -> None:
    auth_lines = "                Auth:\n                  Authorizer: CognitoAuth\n"
    guarded = SAM_TEMPLATE.rstrip(" ") + auth_lines
    auth = facts(snapshot({"assets/deploy.yml": guarded}))["serving.auth"]
    assert auth.value is True
    assert any("Authorizer CognitoAuth" in e.detail for e in auth.evidence)


def test_api_gateway_method_authorization_type(snapshot: MakeSnapshot) -> None:
    template = """\
        Resources:
          Endpoint:
            Type: AWS::SageMaker::Endpoint
            Properties:
              EndpointConfigName: cfg
          PredictMethod:
            Type: AWS::ApiGateway::Method
            Properties:
              HttpMethod: POST
              AuthorizationType: {auth}
          Preflight:
            Type: AWS::ApiGateway::Method
            Properties:
              HttpMethod: OPTIONS
              AuthorizationType: NONE
        """
    open_ = facts(snapshot({"api.yaml": template.replace("{auth}", "NONE")}))["serving.auth"]
    assert open_.value is False and ("api.yaml", 6) in where(open_)
    iam = facts(snapshot({"api.yaml": template.replace("{auth}", "AWS_IAM")}))["serving.auth"]
    assert iam.value is True
    assert any("AuthorizationType AWS_IAM" in e.detail for e in iam.evidence)


def test_api_gateway_in_front_of_something_else_is_not_the_serving_api(
        snapshot: MakeSnapshot) -> None:
    got = facts(snapshot({
        "deploy/lib/stack.ts": CDK_ENDPOINT,
        "web/api.yaml": """\
            Resources:
              Upload:
                Type: AWS::ApiGateway::Method
                Properties:
                  HttpMethod: POST
                  AuthorizationType: NONE
            """,
    }))
    assert got["serving.auth"].value is True


def test_cdk_method_without_options_is_open(snapshot: MakeSnapshot) -> None:
    api = """\
        import * as apigateway from 'aws-cdk-lib/aws-apigateway';

        export function api(scope: any, fn: any) {
            const rest = new apigateway.RestApi(scope, 'Api', {});
            const data = rest.root.addResource('data');
            data.addMethod('POST', new apigateway.LambdaIntegration(fn));
            fn.addToRolePolicy({actions: ['sagemaker:InvokeEndpoint']});
        }
        """
    got = facts(snapshot({"deploy/lib/stack.ts": CDK_ENDPOINT, "web/api.ts": api}))
    auth = got["serving.auth"]
    assert auth.value is False
    assert ("web/api.ts", 6) in where(auth)
    guarded = api.replace("{})", "{defaultMethodOptions: {authorizer: auth}})")
    got = facts(snapshot({"deploy/lib/stack.ts": CDK_ENDPOINT, "web/api.ts": guarded}))
    assert got["serving.auth"].value is True


def test_azureml_web_service_configurations(snapshot: MakeSnapshot) -> None:
    deploy = {"ci.yml": "steps:\n  - script: az ml model deploy --name svc --dc config.yml\n"}
    aci = facts(snapshot({**deploy, "config.yml": "computeType: ACI\ncontainerResourceRequirements:"
                                                  "\n  cpu: 1\n"}))["serving.auth"]
    assert aci.value is False
    assert ("config.yml", 1) in where(aci)
    assert any("ACI" in e.detail and "off" in e.detail for e in aci.evidence)
    aks = facts(snapshot({**deploy, "config.yml": "computeType: AKS\nauthEnabled: true\n"}))
    assert aks["serving.auth"].value is True
    assert where(aks["serving.auth"]) == [("config.yml", 2)]


def test_azureml_deploy_configuration_in_python(snapshot: MakeSnapshot) -> None:
    code = """\
        from azureml.core.webservice import AciWebservice

        config = AciWebservice.deploy_configuration(cpu_cores=1{extra})
        """
    open_ = facts(snapshot({"deploy.py": code.replace("{extra}", "")}))["serving.auth"]
    assert open_.value is False and ("deploy.py", 3) in where(open_)
    on = facts(snapshot({"deploy.py": code.replace("{extra}", ", auth_enabled=True")}))
    assert on["serving.auth"].value is True
    assert where(on["serving.auth"]) == [("deploy.py", 3)]


def test_auth_says_no_api_exactly_when_realtime_api_is_false(snapshot: MakeSnapshot) -> None:
    for files in ({"lib.py": "x = 1\n"},
                  {"deploy/isvc.yaml": "apiVersion: serving.kserve.io/v1beta1\n"
                                       "kind: InferenceService\n"},
                  {"score.py": "def init():\n    pass\n"}):
        got = facts(snapshot(files))
        says_none = "no real-time API" in got["serving.auth"].evidence[0].detail
        assert says_none is (got["serving.realtime_api"].value is False)
    kserve = facts(snapshot({"deploy/isvc.yaml": "kind: InferenceService\n"}))["serving.auth"]
    assert kserve.value is False
    assert "deploy/isvc.yaml:1" in kserve.evidence[0].detail


LAMBDA_APP = """\
    from fastapi import FastAPI
    from mangum import Mangum

    app = FastAPI()

    @app.post("/predict")
    def predict(payload: dict):
        return {"y": 1}

    handler = Mangum(app)
    """
FUNCTION_URL = """\
    resource "aws_lambda_function" "api" {
      function_name = "api"
      handler       = "app.handler"
    }

    resource "aws_lambda_function_url" "api" {
      function_name      = aws_lambda_function.api.function_name
      authorization_type = "{auth}"
    }
    """


def test_function_url_in_front_of_a_lambda_wrapped_app(snapshot: MakeSnapshot) -> None:
    iam = facts(snapshot({"app.py": LAMBDA_APP,
                          "infra/api.tf": FUNCTION_URL.replace("{auth}", "AWS_IAM")}))
    assert iam["serving.auth"].value is True
    assert where(iam["serving.auth"])[0] == ("infra/api.tf", 6)
    assert "wrapped for Lambda (app.py:10)" in iam["serving.auth"].evidence[0].detail
    public = facts(snapshot({"app.py": LAMBDA_APP,
                             "infra/api.tf": FUNCTION_URL.replace("{auth}", "NONE")}))
    assert public["serving.auth"].value is False
    assert ("infra/api.tf", 6) in where(public["serving.auth"])


def test_guarded_gateway_does_not_cover_an_app_served_elsewhere(snapshot: MakeSnapshot) -> None:
    app = LAMBDA_APP.replace("from mangum import Mangum\n", "").replace(
        "handler = Mangum(app)\n", "")
    url = FUNCTION_URL.replace("{auth}", "AWS_IAM") + (
        'data "aws_iam_policy_document" "invoke" {\n'
        '  statement {\n    actions = ["sagemaker:InvokeEndpoint"]\n  }\n}\n')
    got = facts(snapshot({"app.py": app, "infra/api.tf": url}))["serving.auth"]
    assert got.value is False
    assert ("app.py", 5) in where(got) and ("infra/api.tf", 6) in where(got)


def test_secret_setting_names_match_whatever_their_letter_case(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({
        "src/a.py": 'API_KEY = "k3yV4lue9xQ2"\n',
        "src/b.py": 'Db_PassWord = "k3yV4lue9xQ2"\n',
    }))["serving.hardcoded_secret"]
    assert where(fact) == [("src/a.py", 1), ("src/b.py", 1)]


def test_lines_that_may_hold_a_credential_are_found_as_case_insensitive_matching_would() -> None:
    """The quick search folds case, and also takes the dotless i for an i as re's
    case-insensitive matching does: it must find every line the hint itself matches."""
    from mlops_auditor.checks.serving import _hinted

    lines = [(1, "", "x = 1"), (2, "", "API_URL = 1"), (3, "", "ap\u0131 = 2"), (4, "", "")]
    assert _hinted(lines) == [1, 2]
