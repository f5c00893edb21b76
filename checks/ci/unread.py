"""CI/CD defined in systems this check does not read."""

from __future__ import annotations

import re

from mlops_auditor.checks import common
from mlops_auditor.checks.ci.model import Scan
from mlops_auditor.snapshot import Snapshot


def scan_unread(snap: Snapshot, scan: Scan) -> None:
    """CI/CD defined in systems this check does not read (AWS CodeBuild buildspecs no pipeline
    of the repository runs, CodePipeline in Terraform or code the reader did not resolve, Google
    Cloud Build, Travis, Drone, Buildkite, Tekton, Argo CD, Flux ...): what they run is unknown,
    so a fact that found nothing elsewhere cannot be False. Files a reader read are skipped."""
    for system in common.catalogue("ci")["unread_systems"]:
        pattern = re.compile(str(system["content"]))
        for path in snap.glob(*system["files"]):
            source = snap.text(path) if path not in scan.files else None
            if source is None or not source.ok:
                continue
            line = common.first_line(source.value, pattern)
            text = source.value.split("\n")[line - 1] if line is not None else ""
            if line is not None and not common.is_comment(text) and \
                    not common.is_comment(text, "//"):
                scan.unread.setdefault(path, common.at(
                    path, line, f"{system['name']}: not read by the auditor yet"))
                break
