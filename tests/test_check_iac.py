"""The iac check: each tool from small inline files, environments, and the traps."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_auditor.checks import common, iac
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Snapshot, open_snapshot
from tests.conftest import MakeSnapshot, write_tree

MAIN_TF = """\
    terraform {
      backend "s3" {
        bucket = "state"
      }
    }

    provider "aws" {
      region = var.region
    }

    data "aws_caller_identity" "me" {}

    resource "aws_s3_bucket" "models" {
      bucket = "models-${var.env}"
    }

    module "endpoint" {
      source = "./modules/endpoint"
    }
    """


def facts(snap: Snapshot) -> dict[str, Fact]:
    result = {f.id: f for f in iac.collect(snap)}
    assert set(result) == set(iac.FACTS)
    return result


def places(fact: Fact) -> set[tuple[str | None, int | None]]:
    return {(e.path, e.line) for e in fact.evidence}


def details(fact: Fact) -> str:
    return " | ".join(e.detail for e in fact.evidence)


# -- no IaC ---------------------------------------------------------------------------------


def test_no_iac_is_false_with_what_was_searched(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"README.md": "# ml\n", "train.py": "print(1)\n"}))
    assert f["iac.present"].value is False
    assert f["iac.present"].evidence[0].path is None
    assert "did not find infrastructure as code" in f["iac.present"].evidence[0].detail
    assert f["iac.tools"].value == ()
    assert f["iac.resources"].value == 0
    assert f["iac.environments"].value == ()
    assert f["iac.preprod_and_prod"].value is False
    assert "did not find a pre-production" in f["iac.preprod_and_prod"].evidence[0].detail
    assert f["iac.unparseable"].value == ()


# -- Terraform ------------------------------------------------------------------------------


def test_terraform_resources_modules_and_summary(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"infra/main.tf": MAIN_TF,
                     "infra/variables.tf": 'variable "region" {}\nvariable "env" {}\n'})
    f = facts(snap)
    assert f["iac.present"].value is True
    assert f["iac.tools"].value == ("terraform",)
    assert f["iac.resources"].value == 2  # the bucket and the module call; data is a lookup
    assert ("infra/main.tf", 13) in places(f["iac.present"])
    assert ("infra/main.tf", 17) in places(f["iac.present"])
    summary = details(f["iac.present"])
    assert "resource aws_s3_bucket.models" in summary
    assert "1 data source(s)" in summary and "providers aws" in summary
    assert "backend s3" in summary
    assert iac.iac_files(snap) == ["infra/main.tf", "infra/variables.tf"]


def test_terraform_with_variables_only_defines_nothing(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"infra/variables.tf": 'variable "region" {}\n'}))
    assert f["iac.present"].value is False
    assert "defines nothing" in details(f["iac.present"])


def test_unparseable_tf_alone_cannot_be_observed(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"infra/main.tf": 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n'})
    f = facts(snap)
    assert f["iac.present"].value is None
    assert f["iac.present"].unknown and "infra/main.tf" in f["iac.present"].unknown
    assert f["iac.preprod_and_prod"].value is None
    assert f["iac.unparseable"].value == ("infra/main.tf",)
    assert f["iac.unparseable"].evidence[0].path == "infra/main.tf"
    assert f["iac.unparseable"].evidence[0].detail.startswith("unparseable: invalid HCL")
    assert iac.iac_files(snap) == ["infra/main.tf"]


def test_unparseable_tf_next_to_good_one_is_listed(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"infra/main.tf": MAIN_TF, "infra/broken.tf": "module {{{\n"}))
    assert f["iac.present"].value is True
    assert f["iac.unparseable"].value == ("infra/broken.tf",)


def test_terraform_with_crlf_and_bom(tmp_path: Path) -> None:
    text = 'provider "aws" {}\r\n\r\nresource "aws_sqs_queue" "jobs" {\r\n  name = "jobs"\r\n}\r\n'
    write_tree(tmp_path, {"main.tf": b"\xef\xbb\xbf" + text.encode()})
    f = facts(open_snapshot(tmp_path))
    assert f["iac.present"].value is True
    assert f["iac.unparseable"].value == ()
    assert ("main.tf", 3) in places(f["iac.present"])


def test_tfvars_per_environment_of_one_root_module(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"infra/main.tf": MAIN_TF,
                     "infra/envs/dev.tfvars": 'env = "dev"\n',
                     "infra/envs/prod.tfvars": 'env = "prod"\n',
                     "infra/envs/common.tfvars": 'region = "eu-west-1"\n'})
    f = facts(snap)
    assert f["iac.environments"].value == ("dev", "prod")
    assert f["iac.preprod_and_prod"].value is True
    assert places(f["iac.preprod_and_prod"]) == {("infra/envs/dev.tfvars", 1),
                                                 ("infra/envs/prod.tfvars", 1)}
    assert "terraform root module infra" in details(f["iac.preprod_and_prod"])
    assert "infra/envs/common.tfvars" in iac.iac_files(snap)


def test_tfvars_in_environment_folders(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"main.tf": MAIN_TF,
                        "environments/staging/terraform.tfvars": 'env = "staging"\n',
                        "environments/production/terraform.tfvars": 'env = "production"\n'}))
    assert f["iac.environments"].value == ("production", "staging")
    assert f["iac.preprod_and_prod"].value is True


def test_lone_prod_tfvars_has_no_preproduction(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"infra/main.tf": MAIN_TF, "infra/prod.tfvars": 'env = "prod"\n'}))
    assert f["iac.environments"].value == ("prod",)
    assert ("infra/prod.tfvars", 1) in places(f["iac.environments"])
    fact = f["iac.preprod_and_prod"]
    assert fact.value is False
    assert fact.evidence[0].path is None
    assert "prod" in fact.evidence[0].detail
    assert ("infra/prod.tfvars", 1) in places(fact)


def test_tfvars_without_assignments_is_not_an_environment(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"main.tf": MAIN_TF, "dev.tfvars": "# nothing yet\n",
                     "prod.tfvars": 'env = "prod"\n'})
    assert facts(snap)["iac.environments"].value == ("prod",)
    assert "dev.tfvars" not in iac.iac_files(snap)


def test_env_folders_calling_the_same_module(snapshot: MakeSnapshot) -> None:
    call = 'module "ml" {\n  source = "../../modules/ml"\n  env = "%s"\n}\n'
    f = facts(snapshot({"modules/ml/main.tf": 'resource "aws_s3_bucket" "b" {}\n',
                        "envs/dev/main.tf": call % "dev",
                        "envs/prod/main.tf": call % "prod"}))
    assert f["iac.environments"].value == ("dev", "prod")
    assert f["iac.preprod_and_prod"].value is True
    assert places(f["iac.preprod_and_prod"]) == {("envs/dev/main.tf", 1),
                                                 ("envs/prod/main.tf", 1)}
    assert "terraform module modules/ml" in details(f["iac.preprod_and_prod"])


def test_dev_and_prod_from_different_definitions(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"envs/dev/main.tf": 'resource "aws_s3_bucket" "dev" {}\n',
                        "envs/prod/main.tf": 'resource "aws_s3_bucket" "prod" {}\n'}))
    assert f["iac.environments"].value == ("dev", "prod")
    assert places(f["iac.environments"]) == {("envs/dev/main.tf", 1), ("envs/prod/main.tf", 1)}
    fact = f["iac.preprod_and_prod"]
    assert fact.value is False
    assert "terraform root module envs/dev: dev" in fact.evidence[0].detail
    assert "terraform root module envs/prod: prod" in fact.evidence[0].detail


def test_terraform_json(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"stack/main.tf.json": """\
        {
          "resource": {
            "aws_s3_bucket": {
              "data": {"bucket": "d"}
            }
          }
        }
        """}))
    assert f["iac.tools"].value == ("terraform",)
    assert ("stack/main.tf.json", 4) in places(f["iac.present"])


# -- CloudFormation / SAM -----------------------------------------------------------------


def test_cloudformation_yaml_with_intrinsic_tags(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"cfn/stack.yaml": """\
        AWSTemplateFormatVersion: "2010-09-09"
        Resources:
          Bucket:
            Type: AWS::S3::Bucket
          Role:
            Type: AWS::IAM::Role
            Properties:
              Path: !Sub "/${AWS::StackName}/"
        Outputs:
          Arn:
            Value: !GetAtt Bucket.Arn
        """})
    f = facts(snap)
    assert f["iac.tools"].value == ("cloudformation",)
    assert f["iac.resources"].value == 2
    assert {("cfn/stack.yaml", 3), ("cfn/stack.yaml", 5)} <= places(f["iac.present"])


def test_sam_template_and_samconfig_environments(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "app/template.yaml": """\
            Transform: AWS::Serverless-2016-10-31
            Resources:
              Predict:
                Type: AWS::Serverless::Function
                Properties:
                  Handler: app.handler
            """,
        "app/samconfig.toml": """\
            version = 0.1
            [dev.deploy.parameters]
            stack_name = "ml-dev"
            [prod.deploy.parameters]
            stack_name = "ml-prod"
            """})
    f = facts(snap)
    assert f["iac.tools"].value == ("sam",)
    assert ("app/template.yaml", 3) in places(f["iac.present"])
    assert f["iac.environments"].value == ("dev", "prod")
    assert f["iac.preprod_and_prod"].value is True
    assert places(f["iac.preprod_and_prod"]) == {("app/samconfig.toml", 2),
                                                 ("app/samconfig.toml", 4)}


def test_cloudformation_json(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"stack.template.json": """\
        {"Resources": {
          "Queue": {"Type": "AWS::SQS::Queue"}
        }}
        """}))
    assert f["iac.tools"].value == ("cloudformation",)
    assert ("stack.template.json", 2) in places(f["iac.present"])


# -- CDK / Pulumi ---------------------------------------------------------------------------


def test_cdk_app_with_stages(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "cdk/cdk.json": '{"app": "python3 app.py", "context": {}}\n',
        "cdk/app.py": """\
            import aws_cdk as cdk
            from stacks import ServingStack

            app = cdk.App()
            ServingStack(app, "Serving-Dev")
            ServingStack(app, "Serving-Prod")
            # ServingStack(app, "Serving-Staging")
            app.synth()
            """,
        "cdk/stacks.py": """\
            from aws_cdk import Stack

            class ServingStack(Stack):
                pass
            """,
        "cdk/helpers.py": "def unrelated():\n    return 1\n"})
    f = facts(snap)
    assert f["iac.tools"].value == ("cdk",)
    assert ("cdk/stacks.py", 3) in places(f["iac.present"])
    assert f["iac.environments"].value == ("Serving-Dev", "Serving-Prod")
    assert f["iac.preprod_and_prod"].value is True
    assert places(f["iac.preprod_and_prod"]) == {("cdk/app.py", 5), ("cdk/app.py", 6)}
    assert iac.iac_files(snap) == ["cdk/app.py", "cdk/cdk.json", "cdk/stacks.py"]


def test_cdk_json_without_app_is_not_cdk(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"cdk.json": '{"context": {"dev": {}}}\n'}))
    assert f["iac.present"].value is False


def test_pulumi_project_with_stacks(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"infra/Pulumi.yaml": "name: ml\nruntime: python\n",
                     "infra/Pulumi.dev.yaml": "config:\n  aws:region: eu-west-1\n",
                     "infra/Pulumi.production.yaml": "config:\n  aws:region: eu-west-1\n",
                     "other/Pulumi.staging.yaml": "config: {}\n"})
    f = facts(snap)
    assert f["iac.tools"].value == ("pulumi",)
    assert ("infra/Pulumi.yaml", 2) in places(f["iac.present"])
    assert f["iac.environments"].value == ("dev", "production")
    assert f["iac.preprod_and_prod"].value is True
    assert "other/Pulumi.staging.yaml" not in iac.iac_files(snap)


def test_pulumi_yaml_program_counts_resources(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"Pulumi.yaml": """\
        name: ml
        runtime: yaml
        resources:
          bucket:
            type: aws:s3:Bucket
          queue:
            type: aws:sqs:Queue
        """}))
    assert f["iac.resources"].value == 2
    assert {("Pulumi.yaml", 4), ("Pulumi.yaml", 6)} <= places(f["iac.present"])


def test_pulumi_yaml_without_runtime_is_not_pulumi(snapshot: MakeSnapshot) -> None:
    assert facts(snapshot({"Pulumi.yaml": "name: ml\n"}))["iac.present"].value is False


# -- Bicep / ARM --------------------------------------------------------------------------------


def test_bicep_resources_and_param_files(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "infra/main.bicep": """\
            param location string = resourceGroup().location
            resource ws 'Microsoft.MachineLearningServices/workspaces@2023-04-01' = {
              name: 'ws'
            }
            resource kv 'Microsoft.KeyVault/vaults@2023-02-01' existing = {
              name: 'kv'
            }
            // resource old 'Microsoft.Storage/storageAccounts@2021-01-01' = {}
            module net './network.bicep' = {
              name: 'net'
            }
            """,
        "infra/main.dev.bicepparam": "using './main.bicep'\nparam location = 'westeurope'\n",
        "infra/main.prod.bicepparam": "using './main.bicep'\nparam location = 'westeurope'\n"})
    f = facts(snap)
    assert f["iac.tools"].value == ("bicep",)
    assert f["iac.resources"].value == 2  # the workspace and the module; `existing` is a lookup
    assert {("infra/main.bicep", 2), ("infra/main.bicep", 9)} <= places(f["iac.present"])
    assert f["iac.environments"].value == ("dev", "prod")
    assert f["iac.preprod_and_prod"].value is True
    assert "Bicep template infra/main.bicep" in details(f["iac.preprod_and_prod"])


def test_arm_template(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"azuredeploy.json": """\
        {
          "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
          "contentVersion": "1.0.0.0",
          "resources": [
            {
              "type": "Microsoft.Storage/storageAccounts",
              "name": "data"
            }
          ]
        }
        """}))
    assert f["iac.tools"].value == ("arm",)
    assert ("azuredeploy.json", 6) in places(f["iac.present"])


# -- Kubernetes / Helm / Kustomize -------------------------------------------------------------


def test_kubernetes_manifests_with_lines(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"k8s/serving.yaml": """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: model
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: model
        """}))
    assert f["iac.tools"].value == ("kubernetes",)
    assert f["iac.resources"].value == 2
    assert {("k8s/serving.yaml", 2), ("k8s/serving.yaml", 7)} <= places(f["iac.present"])


def test_kind_without_api_version_is_not_kubernetes(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".drone.yaml": "kind: pipeline\nname: default\n",
                     "config/tool.yaml": "kind: Config\nmetadata:\n  name: x\n",
                     "skaffold.yaml": "apiVersion: skaffold/v4beta6\nkind: Config\n"
                                      "metadata:\n  name: app\n"})
    f = facts(snap)
    assert f["iac.present"].value is False
    assert iac.iac_files(snap) == []


def test_ci_and_compose_files_are_not_iac(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        ".github/workflows/deploy.yml": """\
            apiVersion: v1
            kind: Pod
            metadata:
              name: not-a-manifest
            """,
        ".gitlab-ci.yml": "deploy:\n  script: aws cloudformation deploy\n  Type: AWS::S3::Bucket\n",
        "docker-compose.yml": "services:\n  api:\n    image: api\n"})
    f = facts(snap)
    assert f["iac.present"].value is False
    assert f["iac.unparseable"].value == ()
    assert iac.iac_files(snap) == []


def test_broken_manifest_is_unparseable(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"k8s/job.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: [\n"}))
    assert f["iac.present"].value is None
    assert f["iac.unparseable"].value == ("k8s/job.yaml",)


def test_helm_chart_with_values_per_environment(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "charts/model/Chart.yaml": "apiVersion: v2\nname: model\nversion: 0.1.0\n",
        "charts/model/values.yaml": "replicas: 1\n",
        "charts/model/values-dev.yaml": "replicas: 1\n",
        "charts/model/values-prod.yaml": "replicas: 3\n",
        "charts/model/templates/deployment.yaml": """\
            {{- if .Values.enabled }}
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: {{ include "model.fullname" . }}
            {{- end }}
            """,
        "charts/model/templates/_helpers.tpl": '{{- define "model.fullname" -}}x{{- end }}\n'})
    f = facts(snap)
    assert f["iac.tools"].value == ("helm",)
    assert ("charts/model/templates/deployment.yaml", 3) in places(f["iac.present"])
    assert f["iac.unparseable"].value == ()  # templates are not parsed as YAML
    assert f["iac.environments"].value == ("dev", "prod")
    assert f["iac.preprod_and_prod"].value is True
    assert places(f["iac.preprod_and_prod"]) == {("charts/model/values-dev.yaml", 1),
                                                 ("charts/model/values-prod.yaml", 1)}
    assert set(iac.iac_files(snap)) == set(snap.files)


def test_values_file_without_chart_is_nothing(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"config/values-prod.yaml": "replicas: 3\n"})
    assert facts(snap)["iac.environments"].value == ()
    assert iac.iac_files(snap) == []


def test_kustomize_overlays_of_one_base(snapshot: MakeSnapshot) -> None:
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n"
    f = facts(snapshot({
        "k8s/base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "k8s/base/cm.yaml": manifest,
        "k8s/overlays/staging/kustomization.yaml": "resources:\n  - ../../base\n",
        "k8s/overlays/prod/kustomization.yaml": "namePrefix: prod-\nresources:\n  - ../../base\n"}))
    assert f["iac.tools"].value == ("kubernetes", "kustomize")
    assert f["iac.environments"].value == ("prod", "staging")
    assert f["iac.preprod_and_prod"].value is True
    assert places(f["iac.preprod_and_prod"]) == {
        ("k8s/overlays/staging/kustomization.yaml", 1),
        ("k8s/overlays/prod/kustomization.yaml", 2)}
    assert "kustomize base k8s/base" in details(f["iac.preprod_and_prod"])


def test_kustomize_overlays_of_different_bases(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({
        "a/base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "b/base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "a/dev/kustomization.yaml": "resources:\n  - ../base\n",
        "b/prod/kustomization.yaml": "resources:\n  - ../base\n"}))
    assert f["iac.environments"].value == ("dev", "prod")
    assert f["iac.preprod_and_prod"].value is False


# -- Databricks asset bundles ------------------------------------------------------------------


def test_databricks_bundle_targets_and_included_resources(snapshot: MakeSnapshot) -> None:
    snap = snapshot({
        "databricks.yml": """\
            bundle:
              name: churn
            include:
              - resources/*.yml
            targets:
              dev:
                mode: development
                default: true
              main:
                mode: production
            """,
        "resources/jobs.yml": """\
            resources:
              jobs:
                train:
                  name: train
              model_serving_endpoints:
                churn_endpoint:
                  name: churn
            """,
        "resources/notes.md": "not included\n"})
    f = facts(snap)
    assert f["iac.tools"].value == ("databricks-bundle",)
    assert f["iac.resources"].value == 2
    assert {("resources/jobs.yml", 3), ("resources/jobs.yml", 6)} <= places(f["iac.present"])
    assert f["iac.environments"].value == ("dev", "main")
    fact = f["iac.preprod_and_prod"]
    assert fact.value is True  # `mode: production` makes "main" production
    assert places(fact) == {("databricks.yml", 6), ("databricks.yml", 9)}
    assert iac.iac_files(snap) == ["databricks.yml", "resources/jobs.yml"]


def test_bundle_with_only_dev_target(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"databricks.yml": """\
        bundle:
          name: x
        targets:
          dev:
            mode: development
        """}))
    assert f["iac.present"].value is True  # the bundle itself is a definition
    assert f["iac.environments"].value == ("dev",)
    assert f["iac.preprod_and_prod"].value is False


def test_databricks_yml_without_bundle_is_not_a_bundle(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({"databricks.yml": "targets:\n  dev: {}\n  prod: {}\n"}))
    assert f["iac.present"].value is False


# -- robustness, shared list, names ------------------------------------------------------------


def test_odd_content_does_not_raise(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({
        "Chart.yaml": "- a\n- b\n",
        "kustomization.yaml": "just text\n",
        "Pulumi.yaml": "name: x\nruntime: [1]\n",
        "databricks.yml": "bundle: {}\ntargets: [dev, prod]\nresources: 3\n",
        "cdk.json": "[1, 2]\n",
        "k8s.yaml": "apiVersion: v1\nkind: [1]\nmetadata: {}\n",
        "tpl.yaml": "AWSTemplateFormatVersion: x\nResources: [1]\n",
        "main.tf": '# only a comment\n'}))
    assert f["iac.environments"].value == ()
    assert f["iac.unparseable"].value == ()


def test_iac_files_is_memoised(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"main.tf": MAIN_TF, "README.md": "x\n"})
    first = iac.iac_files(snap)
    assert first == ["main.tf"]
    assert iac.iac_files(snap) is first


def test_environment_names_are_classified() -> None:
    assert iac.stage_of("dev") == "preprod"
    assert iac.stage_of("ml-uat-2") == "preprod"
    assert iac.stage_of("pre-prod") == "preprod"
    assert iac.stage_of("non-prod-eu") == "preprod"
    assert iac.stage_of("Production") == "prod"
    assert iac.stage_of("ProdStage") == "prod"
    assert iac.stage_of("PRD") == "prod"
    assert iac.stage_of("product") is None
    assert iac.stage_of("blue") is None


def test_large_manifest_stream_is_read_by_top_level_keys(snapshot: MakeSnapshot,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(common.catalogue("iac"), "max_manifest_parse_bytes", 10)
    f = facts(snapshot({"crds.yaml": """\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: a
        ---
        kind: NotAManifest
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: ml}
        """}))
    assert f["iac.resources"].value == 2
    assert {("crds.yaml", 2), ("crds.yaml", 9)} <= places(f["iac.present"])


def test_variant_values_and_overlays_are_not_environments(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({
        "chart/Chart.yaml": "apiVersion: v2\nname: model\n",
        "chart/values-gpu.yaml": "gpu: true\n",
        "k8s/base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "k8s/components/metrics/kustomization.yaml": "resources:\n  - ../../base\n"}))
    assert f["iac.tools"].value == ("helm", "kustomize")
    assert f["iac.environments"].value == ()


def test_nested_cdk_app_keeps_its_own_stages(snapshot: MakeSnapshot) -> None:
    f = facts(snapshot({
        "cdk.json": '{"app": "python3 app.py"}\n',
        "app.py": "import aws_cdk as cdk\nfrom aws_cdk import Stack\n"
                  "class Outer(Stack):\n    pass\n",
        "seed/cdk.json": '{"app": "python3 app.py"}\n',
        "seed/app.py": "import aws_cdk as cdk\nfrom aws_cdk import Stack\n"
                       "class Endpoint(Stack):\n    pass\n"
                       "Endpoint(app, 'dev')\nEndpoint(app, 'prod')\n"}))
    assert f["iac.environments"].value == ("dev", "prod")
    assert len(f["iac.environments"].evidence) == 2
    assert "CDK app seed class Endpoint" in details(f["iac.preprod_and_prod"])


def test_ray_or_anyscale_cluster_compute_config_is_iac(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"deploy/cluster_compute.yaml": """\
        cloud: my-cloud
        head_node_type:
          name: head
          instance_type: g5.4xlarge
        worker_node_types:
        - name: gpu_worker
          instance_type: g5.4xlarge
          min_workers: 1
        """}))
    assert found["iac.present"].value is True
    assert "compute-cluster" in (found["iac.tools"].value or ())
    assert found["iac.present"].evidence[0].line == 2


def test_a_yaml_naming_a_head_node_without_workers_is_not_a_cluster(
        snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"notes.yaml": "head_node_type: big\nworker_node_types: []\n"}))
    assert found["iac.present"].value is False


def test_ml_infrastructure_needs_training_or_serving_compute(snapshot: MakeSnapshot) -> None:
    serving = facts(snapshot({"infra/main.tf": """\
        resource "aws_s3_bucket" "data" {
          bucket = "x"
        }
        resource "aws_sagemaker_endpoint" "churn" {
          name                 = "churn"
          endpoint_config_name = "churn"
        }
        """}))
    fact = serving["iac.ml_infrastructure"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == ("infra/main.tf", 4)
    storage_only = facts(snapshot({"infra/main.tf": 'resource "aws_s3_bucket" "data" {\n'
                                                    '  bucket = "x"\n}\n'}))
    assert storage_only["iac.ml_infrastructure"].value is False
