"""Experimentation facts: capture, traffic split, sticky versus random assignment."""

from __future__ import annotations

import json

from mlops_auditor.checks import configfiles, experimentation
from mlops_auditor.model import Fact

from .conftest import MakeSnapshot


def facts(snapshot: MakeSnapshot, files: dict[str, str]) -> dict[str, Fact]:
    return {f.id: f for f in experimentation.collect(snapshot(files))}


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"README.md": "x"})
    assert set(result) == set(experimentation.FACTS)
    assert all(f.value is False for f in result.values())
    assert all("did not find" in f.evidence[0].detail for f in result.values())


ENDPOINT_CONFIG = """
    resource "aws_sagemaker_endpoint_configuration" "churn" {{
      production_variant {{
        variant_name           = "champion"
        model_name             = "churn-v3"
        initial_variant_weight = 0.9
      }}
      production_variant {{
        variant_name           = "challenger"
        model_name             = "churn-v4"
        initial_variant_weight = 0.1
      }}
      data_capture_config {{
        enable_capture              = {capture}
        initial_sampling_percentage = 100
      }}
    }}
    """


def test_sagemaker_variants_and_capture(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"infra/endpoint.tf": ENDPOINT_CONFIG.format(capture="true")})
    capture = result["experimentation.capture"]
    assert capture.value is True
    assert (capture.evidence[0].path, capture.evidence[0].line) == ("infra/endpoint.tf", 2)
    split = result["experimentation.traffic_split"]
    assert split.value is True and "2 weighted variants" in split.evidence[0].detail
    assert result["experimentation.random_split"].value is True
    assert "no session affinity" in result["experimentation.random_split"].evidence[0].detail
    assert result["experimentation.sticky"].value is False


def test_capture_switched_off_is_no(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"infra/endpoint.tf": ENDPOINT_CONFIG.format(capture="false")})
    assert result["experimentation.capture"].value is False


ROUTE = """
    import {module}
    from fastapi import FastAPI
    app = FastAPI()

    def choose_variant(user_id: str) -> str:
        {choice}
        return "challenger" if bucket < 10 else "champion"

    @app.post("/predict")
    def predict(user_id: str, features: dict):
        variant = choose_variant(user_id)
        return models[variant].predict(features)
    """


def test_random_per_request_split(snapshot: MakeSnapshot) -> None:
    app = ROUTE.format(module="random", choice="bucket = random.random() * 100")
    result = facts(snapshot, {"app.py": app})
    assert result["experimentation.traffic_split"].value is True
    random_split = result["experimentation.random_split"]
    assert random_split.value is True
    assert (random_split.evidence[0].path, random_split.evidence[0].line) == ("app.py", 7)
    assert result["experimentation.sticky"].value is False


def test_hashed_user_split_is_sticky(snapshot: MakeSnapshot) -> None:
    app = ROUTE.format(module="hashlib",
                       choice="bucket = int(hashlib.md5(user_id.encode()).hexdigest(), 16) % 100")
    result = facts(snapshot, {"app.py": app})
    assert result["experimentation.traffic_split"].value is True
    sticky = result["experimentation.sticky"]
    assert sticky.value is True
    assert (sticky.evidence[0].path, sticky.evidence[0].line) == ("app.py", 7)
    assert result["experimentation.random_split"].value is False


def test_builtin_hash_is_not_sticky(snapshot: MakeSnapshot) -> None:
    app = ROUTE.format(module="os", choice="bucket = hash(user_id) % 100")
    result = facts(snapshot, {"app.py": app})
    assert result["experimentation.traffic_split"].value is True
    sticky = result["experimentation.sticky"]
    assert sticky.value is False
    assert any("salted per process" in e.detail and e.line == 7 for e in sticky.evidence)


def test_split_code_only_in_a_notebook_is_no(snapshot: MakeSnapshot) -> None:
    nb = json.dumps({"cells": [{"cell_type": "code", "source":
                                "import random\nvariant = 'b' if random.random() < 0.5 else 'a'"}]})
    result = facts(snapshot, {"ab.ipynb": nb})
    assert result["experimentation.traffic_split"].value is False
    assert result["experimentation.random_split"].value is False


def test_azure_traffic_between_two_deployments(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"deploy.py": """
        from azure.ai.ml import MLClient
        ml_client = MLClient(credential, sub, rg, ws)
        endpoint = ml_client.online_endpoints.get("churn")
        endpoint.traffic = {"blue": 90, "green": 10}
        ml_client.online_endpoints.begin_create_or_update(endpoint)
        """})
    split = result["experimentation.traffic_split"]
    assert split.value is True
    assert (split.evidence[0].path, split.evidence[0].line) == ("deploy.py", 5)
    assert result["experimentation.random_split"].value is True


def test_growthbook_with_user_attributes_is_sticky(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"service/flags.py": """
        from growthbook import GrowthBook

        def variant_for(user_id):
            gb = GrowthBook(attributes={"id": user_id}, client_key="sdk-abc")
            gb.load_features()
            return gb.get_feature_value("model-version", "v1")
        variant_for("u1")
        """})
    assert result["experimentation.traffic_split"].value is True
    sticky = result["experimentation.sticky"]
    assert sticky.value is True
    assert "attributes" in sticky.evidence[0].detail and sticky.evidence[0].line == 5


def test_own_capture_in_route(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {
        "service/store.py": """
            from pymongo import MongoClient
            collection = MongoClient()["ml"]["predictions"]

            def save_prediction(request_payload, prediction):
                collection.insert_one({"input": request_payload, "output": prediction})
            """,
        "service/app.py": """
            from fastapi import FastAPI
            from service.store import save_prediction
            app = FastAPI()

            @app.post("/predict")
            def predict(payload: dict):
                y = model.predict(payload)
                save_prediction(payload, y)
                return {"y": y}
            """})
    capture = result["experimentation.capture"]
    assert capture.value is True
    assert (capture.evidence[0].path, capture.evidence[0].line) == ("service/store.py", 6)


def test_stub_capture_helper_is_counter_evidence(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"app.py": """
        from fastapi import FastAPI
        app = FastAPI()

        def log_prediction(payload, prediction):
            # not written yet: send to the prediction store
            pass

        @app.post("/predict")
        def predict(payload: dict):
            y = model.predict(payload)
            log_prediction(payload, y)
            return {"y": y}
        """})
    capture = result["experimentation.capture"]
    assert capture.value is False
    assert any("`log_prediction` is a stub" in e.detail and e.line == 12
               for e in capture.evidence)


def test_kserve_canary_and_logger(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"isvc.yaml": """
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata: {name: churn}
        spec:
          predictor:
            canaryTrafficPercent: 10
            logger:
              mode: all
              url: http://message-dumper.default/
            sklearn: {storageUri: "gs://models/churn/v2"}
        """})
    assert result["experimentation.capture"].value is True
    assert result["experimentation.capture"].evidence[0].line == 8
    assert result["experimentation.traffic_split"].value is True
    assert result["experimentation.random_split"].value is True
    assert result["experimentation.sticky"].value is False


def test_capture_configured_only_in_a_notebook(snapshot: MakeSnapshot) -> None:
    nb = json.dumps({"cells": [{"cell_type": "code", "source":
                                "from sagemaker.model_monitor import DataCaptureConfig\n"
                                "capture = DataCaptureConfig(enable_capture=True, "
                                "destination_s3_uri=S3)"}]})
    capture = facts(snapshot, {"deploy.ipynb": nb})["experimentation.capture"]
    assert capture.value is False
    assert any(e.path == "deploy.ipynb" and "not counted (notebook)" in e.detail
               for e in capture.evidence)
    script = facts(snapshot, {"deploy.py": """
        from sagemaker.model_monitor import DataCaptureConfig
        capture = DataCaptureConfig(enable_capture=True, destination_s3_uri=S3)
        predictor = model.deploy(data_capture_config=capture)
        """})["experimentation.capture"]
    assert script.value is True
    assert (script.evidence[0].path, script.evidence[0].line) == ("deploy.py", 3)


def test_random_call_unrelated_to_variants_is_not_a_split(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"app.py": """
        import random
        from fastapi import FastAPI
        app = FastAPI()

        @app.post("/predict")
        def predict(text: str):
            tokens = text.split()
            sample = random.sample(tokens, k=min(5, len(tokens)))
            return {"y": model.predict([" ".join(sample)])[0]}
        """})
    assert result["experimentation.traffic_split"].value is False
    assert result["experimentation.random_split"].value is False


ROUND_ROBIN_APP = """
import hashlib
import itertools
import logging

from fastapi import FastAPI

app = FastAPI()
log = logging.getLogger("api")
turn = itertools.count()


def pick_variant(user_id: str) -> str:
    pseudonym = hashlib.sha256(user_id.encode()).hexdigest()
    log.info("assigning %s", pseudonym)
    return "challenger" if next(turn) % 10 == 0 else "champion"


@app.post("/predict")
def predict(user_id: str) -> dict[str, str]:
    return {"variant": pick_variant(user_id)}
"""


def test_a_hash_that_only_pseudonymises_a_log_line_is_not_sticky(
        snapshot: MakeSnapshot) -> None:
    found = facts(snapshot, {"app.py": ROUND_ROBIN_APP})
    assert found["experimentation.sticky"].value is False
    assert any("does not decide the variant" in e.detail
               for e in found["experimentation.sticky"].evidence)


def test_a_hash_bucket_that_picks_the_variant_is_sticky(snapshot: MakeSnapshot) -> None:
    app = ROUND_ROBIN_APP.replace(
        '    return "challenger" if next(turn) % 10 == 0 else "champion"',
        '    bucket = int(pseudonym, 16) % 100\n    return "challenger" if bucket < 10 else '
        '"champion"')
    found = facts(snapshot, {"app.py": app})
    assert found["experimentation.sticky"].value is True
    assert found["experimentation.sticky"].evidence[0].path == "app.py"


# -- capture happens on a prediction path ----------------------------------------------------

def test_a_join_in_data_preparation_is_not_capture(snapshot: MakeSnapshot) -> None:
    capture = facts(snapshot, {"train_and_log.py": """
        import mlflow
        import pandas as pd

        class Wrapper(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input):
                return self.model[model_input["basket"][0]]

        def load_reviews(path):
            data = pd.read_csv(path)
            scores = pd.read_csv(path + ".scores")
            return data.merge(scores, on="productId")

        load_reviews("reviews.csv")
        mlflow.pyfunc.log_model("model", python_model=Wrapper())
        """})["experimentation.capture"]
    assert capture.value is False
    assert "did not find" in capture.evidence[0].detail


def test_client_of_a_deployed_model_that_stores_request_and_prediction(
        snapshot: MakeSnapshot) -> None:
    capture = facts(snapshot, {"api/handler.py": """
        import boto3
        runtime = boto3.client("sagemaker-runtime")
        table = boto3.resource("dynamodb").Table("predictions")

        def handler(event, context):
            payload = event["body"]
            result = runtime.invoke_endpoint(EndpointName="m", Body=payload)
            prediction = result["Body"].read()
            table.put_item(Item={"input": payload, "prediction": prediction})
            return prediction
        """, "template.yaml": """
        Resources:
          Api:
            Type: AWS::Serverless::Function
            Properties: {Handler: handler.handler, CodeUri: api/}
        """})["experimentation.capture"]
    assert capture.value is True
    assert (capture.evidence[0].path, capture.evidence[0].line) == ("api/handler.py", 10)


def test_batch_prediction_jobs_that_keep_inputs_with_predictions(snapshot: MakeSnapshot) -> None:
    vertex = facts(snapshot, {"pipeline/components.py": """
        from google.cloud import aiplatform as vertex_ai

        def batch_predict(model, source, destination):
            return vertex_ai.BatchPredictionJob.create(
                job_display_name="scores", model_name=model, gcs_source=source,
                gcs_destination_prefix=destination)

        batch_predict("m", "gs://in/*.jsonl", "gs://out")
        """})["experimentation.capture"]
    assert vertex.value is True
    assert (vertex.evidence[0].path, vertex.evidence[0].line) == ("pipeline/components.py", 5)
    assert "gcs_destination_prefix" in vertex.evidence[0].detail
    unjoined = facts(snapshot, {"pipeline/components.py": """
        from sagemaker.transformer import Transformer
        Transformer("m", 1, "ml.m5.large").transform("s3://in", content_type="text/csv")
        """})["experimentation.capture"]
    assert unjoined.value is False
    joined = facts(snapshot, {"pipeline/components.py": """
        from sagemaker.transformer import Transformer
        Transformer("m", 1, "ml.m5.large").transform("s3://in", join_source="Input")
        """})["experimentation.capture"]
    assert joined.value is True and joined.evidence[0].line == 3


DATA_API = """
    import { SageMakerRuntimeClient, InvokeEndpointCommand } from '@aws-sdk/client-runtime';
    import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';

    export const getInference = async (id: string, data: DataType) => {
        const result = await sagemaker.send(new InvokeEndpointCommand({ Body: encode(data) }));
        const predict = decode(result.Body);
        // the record keeps the input next to the prediction
        const item = marshall({ ...data, predict });
        await dynamo.send(new PutItemCommand({ TableName: table, Item: item }));
        return predict;
    };
    """


def test_typescript_handler_storing_inputs_and_predictions(snapshot: MakeSnapshot) -> None:
    capture = facts(snapshot, {"consumers/api/src/data.ts": DATA_API})[
        "experimentation.capture"]
    assert capture.value is True
    assert (capture.evidence[0].path, capture.evidence[0].line) == (
        "consumers/api/src/data.ts", 10)
    store_only = DATA_API.replace("new InvokeEndpointCommand", "new GetItemCommand")
    capture = facts(snapshot, {"consumers/api/src/data.ts": store_only})[
        "experimentation.capture"]
    assert capture.value is False


# -- templated manifests and Istio header routes ---------------------------------------------

HELM_VIRTUAL_SERVICE = """
    apiVersion: networking.istio.io/v1alpha3
    kind: Gateway
    metadata: {name: gw}
    spec:
      servers:
      - port:
          number: {{ .Values.ingress.port }}
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: model
    spec:
      http:
      - match:
        - headers:
            x-api-version:
              exact: 'blue'
        route:
        - destination:
            host: {{ .Values.svc.name }}-blue
      - route:
        - destination:
            host: {{ .Values.svc.name }}-green
          weight: {{ .Values.weight.green }}
        - destination:
            host: {{ .Values.svc.name }}-blue
          weight: {{ .Values.weight.blue }}
    """


def test_helm_templated_istio_weights_split_at_random(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"charts/ab/templates/istio.yaml": HELM_VIRTUAL_SERVICE})
    split = result["experimentation.traffic_split"]
    assert split.value is True
    assert (split.evidence[0].path, split.evidence[0].line) == (
        "charts/ab/templates/istio.yaml", 26)
    assert result["experimentation.random_split"].value is True
    sticky = result["experimentation.sticky"]
    assert sticky.value is False
    assert any("not sticky: routes matched on x-api-version" in e.detail and e.line == 16
               for e in sticky.evidence)


def test_istio_route_on_a_user_header_is_sticky(snapshot: MakeSnapshot) -> None:
    keyed = HELM_VIRTUAL_SERVICE.replace("x-api-version:", "end-user:")
    sticky = facts(snapshot, {"charts/ab/templates/istio.yaml": keyed})["experimentation.sticky"]
    assert sticky.value is True
    assert "end-user" in sticky.evidence[0].detail


def test_detemplated_keeps_line_numbers_and_blanks_tag_lines() -> None:
    text = "a: {{ .Values.a }}\n{{- if .Values.b }}\nb: x-{{ .Values.b }}\n{{- end }}\nc: 1"
    assert configfiles.detemplated(text) == "a: TEMPLATED\n\nb: x-TEMPLATED\n\nc: 1"
    assert configfiles.detemplated("a: 1\n") is None
