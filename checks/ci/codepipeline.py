"""AWS CodePipeline and CodeBuild.

A pipeline is read from CloudFormation (AWS::CodePipeline::Pipeline) or from CDK code read as
text, into actions; the actions become jobs of the same model as the other systems. Source
actions give the runs, CodeBuild actions run their buildspec's commands (a script a command
runs is followed one level), deploy actions deploy by provider."""

from __future__ import annotations

import re

from mlops_auditor.checks.ci.cdk import _cdk_file
from mlops_auditor.checks.ci.cloudformation import _cfn_file
from mlops_auditor.checks.ci.model import Scan
from mlops_auditor.checks.ci.pipeline_jobs import _cp
from mlops_auditor.snapshot import Snapshot


def scan_codepipeline(snap: Snapshot, scan: Scan) -> None:
    """AWS CodePipeline pipelines defined in CloudFormation templates or CDK code, with the
    CodeBuild buildspecs their actions run."""
    skip = set(snap.glob(*_cp()["skip"]))
    for path in snap.glob(*_cp()["templates"]):
        if path not in skip and snap.size(path) <= _cp()["max_bytes"]:
            text = snap.text(path)
            if text.ok and _cp()["template_marker"] in text.value:
                _cfn_file(snap, scan, path)
    marker = re.compile(_cp()["cdk_marker"])
    for path in snap.glob(*_cp()["cdk_code"]):
        if path not in skip and snap.size(path) <= _cp()["max_bytes"]:
            text = snap.text(path)
            if text.ok and "Pipeline" in text.value and marker.search(text.value):
                _cdk_file(snap, scan, path, text.value)
