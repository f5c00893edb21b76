"""Feature store facts: which store, shared transformations, config, usage and dependencies."""

from __future__ import annotations

from mlops_auditor.checks import featurestore
from mlops_auditor.model import Fact

from .conftest import MakeSnapshot


def facts(snapshot: MakeSnapshot, files: dict[str, str]) -> dict[str, Fact]:
    return {f.id: f for f in featurestore.collect(snapshot(files))}


FEAST_YAML = """
    project: churn
    registry: data/registry.db
    provider: local
    online_store:
      type: sqlite
    """

FEAST_DEFS = """
    from datetime import timedelta
    from feast import Entity, FeatureService, FeatureView, Field, FileSource
    from feast.types import Float32

    customer = Entity(name="customer", join_keys=["customer_id"])
    source = FileSource(path="data/customers.parquet", timestamp_field="ts")
    stats = FeatureView(name="customer_stats", entities=[customer], ttl=timedelta(days=1),
                        schema=[Field(name="spend", dtype=Float32)], source=source)
    churn_v1 = FeatureService(name="churn_v1", features=[stats])
    """


def test_reports_every_fact(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"README.md": "x"})
    assert set(result) == set(featurestore.FACTS)
    assert result["featurestore.tools"].value == ()
    assert result["featurestore.present"].value is False
    assert "did not find" in result["featurestore.present"].evidence[0].detail


def test_feast_repository(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"feature_repo/feature_store.yaml": FEAST_YAML,
                              "feature_repo/features.py": FEAST_DEFS})
    assert result["featurestore.present"].value is True
    assert result["featurestore.tools"].value == ("feast",)
    config = result["featurestore.config_separate"]
    assert config.value is True
    assert config.evidence[0].path == "feature_repo/feature_store.yaml"
    assert "feature_repo/features.py" in config.evidence[0].detail
    usage = result["featurestore.usage_tracked"]
    assert usage.value is True and usage.evidence[0].line == 10
    managed = result["featurestore.dependencies_managed"]
    assert managed.value is True and "Feast resolves" in managed.evidence[0].detail


def test_feast_config_without_provider_and_no_code_is_no(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"feature_store.yaml": "project: churn\n"})
    assert result["featurestore.present"].value is False
    assert result["featurestore.dependencies_managed"].value is False


def test_feast_imported_but_never_called(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"features.py": "from feast import FeatureStore\n"})[
        "featurestore.present"]
    assert fact.value is False
    assert any("imported but never called" in e.detail and e.line == 1 for e in fact.evidence)


def test_databricks_feature_engineering(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"train.py": """
        from databricks.feature_engineering import (FeatureEngineeringClient, FeatureFunction,
                                                    FeatureLookup)
        fe = FeatureEngineeringClient()
        training_set = fe.create_training_set(
            df=labels,
            feature_lookups=[FeatureLookup(table_name="main.ml.customers",
                                           lookup_key="customer_id"),
                             FeatureFunction(udf_name="main.ml.ratio", output_name="ratio")],
            label="churned")
        fe.log_model(model=model, artifact_path="model", flavor=mlflow.sklearn,
                     training_set=training_set, registered_model_name="main.ml.churn")
        """})
    assert result["featurestore.tools"].value == ("databricks-feature-engineering",)
    assert result["featurestore.shared_transforms"].value is True
    assert "computed by the feature store" in result["featurestore.shared_transforms"].evidence[
        0].detail
    usage = result["featurestore.usage_tracked"]
    assert usage.value is True
    assert usage.evidence[0].line == 12 and "training set" in usage.evidence[0].detail
    assert "FeatureLookup" in result["featurestore.dependencies_managed"].evidence[0].detail


SHARED = {
    "src/features/transform.py": """
        def add_ratios(df):
            df["ratio"] = df["a"] / df["b"]
            return df
        """,
    "src/train.py": """
        from src.features.transform import add_ratios
        X = add_ratios(raw)
        model.fit(X, y)
        """,
    "src/app.py": """
        from fastapi import FastAPI
        from src.features import transform
        app = FastAPI()

        @app.post("/predict")
        def predict(payload: dict):
            return model.predict(transform.add_ratios(payload))
        """,
}


def test_shared_transformation_module(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, SHARED)["featurestore.shared_transforms"]
    assert fact.value is True
    assert fact.evidence[0].path == "src/features/transform.py"
    assert "add_ratios" in fact.evidence[0].detail
    assert "src/train.py" in fact.evidence[0].detail and "src/app.py" in fact.evidence[0].detail


def test_transformations_duplicated_in_serving_is_no(snapshot: MakeSnapshot) -> None:
    files = dict(SHARED)
    files["src/app.py"] = """
        from fastapi import FastAPI
        app = FastAPI()

        def add_ratios(d):
            return {**d, "ratio": d["a"] / d["b"]}

        @app.post("/predict")
        def predict(payload: dict):
            return model.predict(add_ratios(payload))
        """
    fact = facts(snapshot, files)["featurestore.shared_transforms"]
    assert fact.value is False


def test_sagemaker_feature_group_does_not_manage_dependencies(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot, {"fs.tf": """
        resource "aws_sagemaker_feature_group" "customers" {
          feature_group_name = "customers"
        }
        """})
    assert result["featurestore.present"].value is True
    assert result["featurestore.tools"].value == ("sagemaker-feature-store",)
    assert result["featurestore.present"].evidence[0].line == 2
    managed = result["featurestore.dependencies_managed"]
    assert managed.value is False
    assert "sagemaker-feature-store" in managed.evidence[1].detail


def test_yaml_feature_config(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"conf/params.yaml": """
        featurize:
          categorical_features: [plan, region]
          numerical_features: [spend, tenure]
        """})["featurestore.config_separate"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("conf/params.yaml", 3)


def test_empty_feature_key_is_not_config(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"params.yaml": "features: []\nseed: 1\n"})[
        "featurestore.config_separate"]
    assert fact.value is False


PIPELINE_TRAINING = """
import mlflow
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline


def train(texts, labels):
    model = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())])
    model.fit(texts, labels)
    mlflow.sklearn.log_model(model, "model")


train(["a"], [0])
"""


def test_a_model_saved_with_its_transformation_steps_shares_them(
        snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot, {"train.py": PIPELINE_TRAINING})["featurestore.shared_transforms"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("train.py", 9)


def test_a_pipeline_that_is_never_saved_does_not_count(snapshot: MakeSnapshot) -> None:
    unsaved = PIPELINE_TRAINING.replace('    mlflow.sklearn.log_model(model, "model")\n', "")
    fact = facts(snapshot, {"train.py": unsaved})["featurestore.shared_transforms"]
    assert fact.value is False
