"""Explainability facts: libraries in use, explanations served, out-of-distribution handling."""

from __future__ import annotations

import json

from mlops_auditor.checks import explainability, monitoring
from mlops_auditor.model import Fact

from .conftest import MakeSnapshot


def facts(snapshot: MakeSnapshot, files: dict[str, str]) -> dict[str, Fact]:
    return {f.id: f for f in explainability.collect(snapshot(files))}


NOTEBOOK = json.dumps({"cells": [
    {"cell_type": "markdown", "source": "# Why the model decides"},
    {"cell_type": "code", "source": "import shap\nexplainer = shap.TreeExplainer(model)\n"
                                    "shap.summary_plot(explainer.shap_values(X), X)"}]})

APP = """
    from fastapi import FastAPI
    from service.explain import explain_row
    app = FastAPI()

    @app.post("/predict")
    def predict(row: dict):
        return {"y": model.predict([row])[0], "why": explain_row(row)}
    """

EXPLAIN = """
    import shap
    _explainer = None

    def explain_row(row):
        global _explainer
        _explainer = _explainer or shap.TreeExplainer(model)
        return _explainer.shap_values([list(row.values())])[0].tolist()
    """


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"README.md": "x"})
    assert set(result) == set(explainability.FACTS)
    assert result["explainability.libraries"].value == ()
    assert result["explainability.in_serving"].value is False


def test_explanation_only_in_notebook(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"notebooks/explain.ipynb": NOTEBOOK})
    assert result["explainability.libraries"].value == ("shap",)
    assert result["explainability.libraries"].evidence[0].path == "notebooks/explain.ipynb"
    served = result["explainability.in_serving"]
    assert served.value is False
    assert any("not on the serving path (notebook)" in e.detail for e in served.evidence)


def test_explanation_called_from_a_route(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"service/app.py": APP, "service/explain.py": EXPLAIN,
                              "notebooks/explain.ipynb": NOTEBOOK})
    served = result["explainability.in_serving"]
    assert served.value is True
    assert served.evidence[0].path == "service/explain.py"
    assert served.evidence[0].line == 7


def test_explanation_in_uncalled_helper_of_serving_file(snapshot: MakeSnapshot) -> None:
    app = """
        import shap
        from fastapi import FastAPI
        app = FastAPI()

        def explain(row):
            return shap.TreeExplainer(model).shap_values(row)

        @app.post("/predict")
        def predict(row: dict):
            return {"y": model.predict([row])[0]}
        """
    result = facts(snapshot, {"app.py": app})
    assert result["explainability.libraries"].value == ()
    served = result["explainability.in_serving"]
    assert served.value is False
    assert any("which nothing calls" in e.detail for e in
               result["explainability.libraries"].evidence)


def test_import_without_call(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"model.py": "import shap\nimport lime\n"})[
        "explainability.libraries"]
    assert fact.value == ()
    assert {e.line for e in fact.evidence if "imported but never called" in e.detail} == {1, 2}


def test_response_schema_with_explanation_fields(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {
        "api/schemas.py": """
            from pydantic import BaseModel

            class PredictRequest(BaseModel):
                explanation: bool = False

            class PredictResponse(BaseModel):
                label: str
                shap_values: list[float]
            """,
        "api/main.py": """
            from fastapi import FastAPI
            from api.schemas import PredictRequest, PredictResponse
            app = FastAPI()

            @app.post("/predict", response_model=PredictResponse)
            def predict(req: PredictRequest):
                return compute(req)
            """})
    served = result["explainability.in_serving"]
    assert served.value is True
    assert (served.evidence[0].path, served.evidence[0].line) == ("api/schemas.py", 9)
    assert "PredictResponse" in served.evidence[0].detail


def test_kserve_explainer(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"k8s/isvc.yaml": """
        apiVersion: serving.kserve.io/v1beta1
        kind: InferenceService
        metadata: {name: income}
        spec:
          predictor:
            sklearn: {storageUri: "gs://models/income"}
          explainer:
            alibi:
              type: AnchorTabular
        """})
    assert result["explainability.libraries"].value == ("alibi",)
    served = result["explainability.in_serving"]
    assert served.value is True
    assert (served.evidence[0].path, served.evidence[0].line) == ("k8s/isvc.yaml", 8)


def test_ood_confidence_gate_routes_to_review(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"app.py": """
        from flask import Flask, request
        app = Flask(__name__)
        THRESHOLD = 0.7

        @app.route("/predict", methods=["POST"])
        def predict():
            proba = model.predict_proba([request.json["x"]])[0]
            if proba.max() < THRESHOLD:
                return {"label": "unknown", "route": "human_review"}
            return {"label": int(proba.argmax())}
        """})["explainability.ood"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("app.py", 9)


def test_ood_plain_class_threshold_is_no(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"app.py": """
        from flask import Flask, request
        app = Flask(__name__)

        @app.route("/predict", methods=["POST"])
        def predict():
            proba = model.predict_proba([request.json["x"]])[0]
            return {"churn": bool(proba[1] > 0.5)}
        """})["explainability.ood"]
    assert fact.value is False


def test_ood_gate_only_in_training_code_is_no(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"evaluate.py": """
        def report(proba):
            confident = proba.max(axis=1) > 0.9
            return {"unknown": (~confident).mean()}
        report(model.predict_proba(X))
        """})["explainability.ood"]
    assert fact.value is False


def test_ood_conformal_prediction(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": """
        from mapie.classification import MapieClassifier
        mapie = MapieClassifier(estimator=model, cv="prefit").fit(X_cal, y_cal)
        """})["explainability.ood"]
    assert fact.value is True
    assert fact.evidence[0].line == 3


def test_explanations_attached_to_the_uploaded_model_are_served(snapshot: MakeSnapshot) -> None:
    upload = """
        from google.cloud import aiplatform as vertex_ai

        def upload(uri, config):
            metadata = vertex_ai.explain.ExplanationMetadata(inputs=config["inputs"],
                                                             outputs=config["outputs"])
            parameters = vertex_ai.explain.ExplanationParameters(config["params"])
            vertex_ai.Model.upload(display_name="m", artifact_uri=uri,
                                   explanation_metadata=metadata,
                                   explanation_parameters=parameters)

        upload("gs://m", {})
        """
    fact = facts(snapshot, {"pipeline/components.py": upload})["explainability.in_serving"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("pipeline/components.py", 9)
    assert "attached to the deployed model" in fact.evidence[0].detail
    built_only = upload.replace("explanation_metadata=metadata,", "labels=metadata,").replace(
        "explanation_parameters=parameters)", "description=str(parameters))")
    fact = facts(snapshot, {"pipeline/components.py": built_only})["explainability.in_serving"]
    assert fact.value is False
    assert any("not on the serving path (offline code)" in e.detail for e in fact.evidence)


RAY_SERVE = """
    from fastapi import FastAPI
    from ray import serve
    app = FastAPI()

    @serve.deployment
    @serve.ingress(app)
    class Model:
        def __init__(self, threshold=0.9):
            self.threshold = threshold

        @app.post("/predict/")
        async def _predict(self, request):
            results = predict_proba(await request.json())
            for i, result in enumerate(results):
                pred, prob = result["prediction"], result["probabilities"]
                if prob[pred] < self.threshold:
                    results[i]["prediction"] = "other"
            return {"results": results}
    """


def test_ood_unsure_prediction_replaced_by_a_fallback_answer(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"serve.py": RAY_SERVE})["explainability.ood"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("serve.py", 17)
    assert "prob[pred] < self.threshold" in fact.evidence[0].detail
    # Outlier review (4.4.2) needs more than a silent relabel.
    outliers = {f.id: f for f in monitoring.collect(snapshot({"serve.py": RAY_SERVE}))}[
        "monitoring.outliers"]
    assert outliers.value is False


def test_ood_binary_decision_on_a_fixed_class_is_not_a_fallback(snapshot: MakeSnapshot) -> None:
    fixed = RAY_SERVE.replace("if prob[pred] < self.threshold:", "if prob[1] > self.threshold:")
    fact = facts(snapshot, {"serve.py": fixed})["explainability.ood"]
    assert fact.value is False


def test_a_key_naming_explanations_with_a_plain_value_is_not_a_configuration(
        snapshot: MakeSnapshot) -> None:
    listing = {"catalogue.yaml": "config_keys:\n  explanationSpec: vertex-explanations\n"}
    assert facts(snapshot, listing)["explainability.in_serving"].value is False
    spec = {"model.yaml": "explanationSpec:\n  parameters:\n    sampledShapleyAttribution:\n"
                          "      pathCount: 10\n"}
    assert facts(snapshot, spec)["explainability.in_serving"].value is True
