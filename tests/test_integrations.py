"""The CI integrations cannot run here (GitHub Actions, pre-commit, GitLab): these tests parse
their files and check the fields a typo would break, and that the options they pass exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from mlops_auditor.cli import FORMATS, main

ROOT = Path(__file__).resolve().parent.parent


def _load(rel: str) -> Any:
    return yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))


def _audit_options() -> set[str]:
    audit = main.commands["audit"]
    return {opt for p in audit.params if isinstance(p, click.Option) for opt in p.opts}


def _used_options(script: str) -> set[str]:
    """The long options of every `mlops-audit audit` call in SCRIPT."""
    calls = re.findall(r"mlops-audit\"? audit (.*)", script)
    return {word for call in calls for word in re.findall(r"--[a-z][a-z-]*", call)}


def test_action_inputs_outputs_and_steps() -> None:
    action = _load("action.yml")
    assert set(action["inputs"]) >= {"path", "formats", "gate", "baseline", "python-version"}
    assert action["inputs"]["gate"]["default"] == "false"
    assert set(action["outputs"]) >= {"verdict", "gate", "report"}
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    ids = {s.get("id") for s in steps}
    run = "\n".join(s.get("run", "") for s in steps)
    for name, out in action["outputs"].items():
        m = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", out["value"])
        assert m is not None, name
        step, key = m.groups()
        assert step in ids, name
        assert f'print(f"{key}=' in run or f'print("{key}=' in run, key
    uses = {s["uses"].split("@")[0] for s in steps if "uses" in s}
    assert {"actions/setup-python", "github/codeql-action/upload-sarif"} <= uses
    assert "pip install" in run and "$ACTION_PATH" in run
    assert '>> "$GITHUB_STEP_SUMMARY"' in run
    # inputs reach the scripts through env, never pasted into the script text
    assert "${{ inputs." not in run
    for s in steps:
        for value in (s.get("env") or {}).values():
            m = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)
            assert m is None or m.group(1) in action["inputs"], value


def test_action_uses_only_existing_formats_and_options() -> None:
    steps = _load("action.yml")["runs"]["steps"]
    run = "\n".join(s.get("run", "") for s in steps)
    # the audit calls go through a shell function `audit` that runs `mlops-audit audit`
    assert '"$bin/mlops-audit" audit "$MLOPS_AUDIT_PATH" "$@"' in run
    calls = re.findall(r"^\s*audit (--.*)$", run, re.M)
    used = {word for call in calls for word in re.findall(r"--[a-z][a-z-]*", call)}
    used |= set(re.findall(r"policy\+=\((--[a-z-]+)", run))
    assert {"--format", "--output", "--gate", "--baseline"} <= used <= _audit_options()
    formats = set(re.findall(r"--format (\w+)", run)) | set(re.findall(r"^\s+(\w+)\)", run, re.M))
    assert {"json", "markdown", "sarif"} <= formats <= set(FORMATS)


def test_pre_commit_hook() -> None:
    (hook,) = _load(".pre-commit-hooks.yaml")
    assert hook["id"] == "mlops-audit"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False and hook["always_run"] is True
    command = shlex.split(hook["entry"])
    assert command[:2] == ["mlops-audit", "audit"]
    assert set(command[2:]) == {"--gate"} <= _audit_options()


def test_gitlab_template() -> None:
    template = _load("ci/gitlab/mlops-audit.gitlab-ci.yml")
    job = template["mlops-audit"]
    assert str(job["variables"]["GIT_DEPTH"]) == "0"
    assert job["artifacts"]["when"] == "always"
    script = "\n".join(job["script"])
    assert "--format json" in script and "--format markdown" in script
    assert _used_options(script) <= _audit_options()
    assert {"--gate"} <= set(shlex.split(template["variables"]["MLOPS_AUDIT_ARGS"]))
