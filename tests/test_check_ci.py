"""The ci check: triggers, what jobs run, and the traps that make a step not count."""

from __future__ import annotations

import textwrap

import pytest

from mlops_auditor.checks import ci, iac
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Snapshot
from tests.conftest import MakeSnapshot

WF = ".github/workflows/ci.yml"


def facts(snap: Snapshot) -> dict[str, Fact]:
    return {f.id: f for f in ci.collect(snap)}


def details(fact: Fact) -> str:
    return " | ".join(e.detail for e in fact.evidence)


def github(snapshot: MakeSnapshot, workflow: str, **more: str) -> dict[str, Fact]:
    return facts(snapshot({WF: workflow, **more}))


@pytest.fixture
def no_iac(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iac, "iac_files", lambda snap: [])


# -- presence -------------------------------------------------------------------------------

def test_reports_every_fact_and_searches_when_there_is_no_ci(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({"README.md": "# project\n"}))
    assert set(result) == set(ci.FACTS)
    assert result["ci.present"].value is False
    assert result["ci.systems"].value == ()
    assert result["ci.pr_tests"].value is False
    assert "none found" in result["ci.pr_tests"].evidence[0].detail
    assert result["ci.unparseable"].value == ()


def test_pull_request_tests_count_with_path_and_line(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        name: CI
        on:
          pull_request:
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: pip install -e .[test]
              - run: |
                  # unit tests first
                  python -m pytest -q tests/unit
        """)
    assert result["ci.present"].value is True
    assert result["ci.present"].evidence[0].line == 5
    assert result["ci.systems"].value == ("github-actions",)
    fact = result["ci.pr_tests"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == (WF, 12)
    assert "python -m pytest -q tests/unit" in fact.evidence[0].detail
    assert "pull_request" in fact.evidence[0].detail


@pytest.mark.parametrize("on", ["on: [pull_request, push]", "'on': pull_request",
                                "on:\n  pull_request:\n    branches: [main]"])
def test_on_key_forms(snapshot: MakeSnapshot, on: str) -> None:
    # PyYAML reads a bare `on:` key as the boolean True.
    workflow = on + "\njobs:\n  t:\n    steps:\n      - run: tox -e py311\n"
    assert github(snapshot, workflow)["ci.pr_tests"].value is True


# -- traps: steps whose failure cannot fail the job ---------------------------------------------

@pytest.mark.parametrize(("step", "reason", "line"), [
    ("- run: pytest || true", "|| true", 5),
    ("- run: pytest tests; true", "; true", 5),
    ("- run: pytest || echo 'tests failed'", "|| echo", 5),
    ("- run: pytest\n        continue-on-error: true", "continue-on-error", 5),
    ("- run: pytest | tee report.txt", "pipefail", 5),
    ("- run: flake8 --exit-zero && pytest --exitfirst | tee out.log", "pipefail", 5),
    ("- run: |\n          set +e\n          pytest\n          echo done", "set -e", 7),
])
def test_masked_test_steps_are_counter_evidence(snapshot: MakeSnapshot, step: str,
                                                reason: str, line: int) -> None:
    workflow = f"on: pull_request\njobs:\n  t:\n    steps:\n      {step}\n"
    fact = github(snapshot, workflow)["ci.pr_tests"]
    assert fact.value is False
    assert "did not find" in fact.evidence[0].detail
    counter = [e for e in fact.evidence if e.path == WF]
    assert counter and reason in counter[0].detail
    assert counter[0].line == line


def test_job_level_continue_on_error_masks_its_steps(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, """\
        on: pull_request
        jobs:
          t:
            continue-on-error: true
            steps:
              - run: pytest
        """)["ci.pr_tests"]
    assert fact.value is False
    assert "continue-on-error: true (job)" in details(fact)


def test_a_masked_step_beside_a_real_one_does_not_hide_it(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, """\
        on: pull_request
        jobs:
          t:
            steps:
              - run: pytest tests/slow || true
              - run: pytest tests/unit
        """)["ci.pr_tests"]
    assert fact.value is True
    assert [e.line for e in fact.evidence] == [6]


@pytest.mark.parametrize("step", [
    "- run: pytest | tee out.txt\n        shell: bash",
    "- run: |\n          set -euo pipefail\n          pytest | tee out.txt",
])
def test_pipes_count_with_pipefail(snapshot: MakeSnapshot, step: str) -> None:
    workflow = f"on: pull_request\njobs:\n  t:\n    steps:\n      {step}\n"
    assert github(snapshot, workflow)["ci.pr_tests"].value is True


@pytest.mark.parametrize("step", [
    "- run: pip install pytest pytest-cov", "- run: echo 'run pytest here'",
    "- run: pytest --version", "- run: |\n          # pytest -q\n          ls",
])
def test_installing_or_mentioning_a_tool_is_not_running_it(snapshot: MakeSnapshot,
                                                           step: str) -> None:
    workflow = f"on: pull_request\njobs:\n  t:\n    steps:\n      {step}\n"
    fact = github(snapshot, workflow)["ci.pr_tests"]
    assert fact.value is False
    assert not [e for e in fact.evidence if e.path]


def test_tests_only_after_merge_are_not_pr_tests(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, """\
        on:
          push:
            branches: [main]
        jobs:
          t:
            steps:
              - run: make test
        """)["ci.pr_tests"]
    assert fact.value is False
    assert "does not run for pull requests (push to main)" in details(fact)


def test_push_to_every_branch_validates_pull_request_branches(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, "on: push\njobs:\n  t:\n    steps:\n      - run: nox -s tests\n")[
        "ci.pr_tests"]
    assert fact.value is True
    assert "push to any branch" in fact.evidence[0].detail


def test_job_condition_excludes_pull_requests(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, """\
        on: [pull_request, push]
        jobs:
          t:
            if: github.event_name != 'pull_request' && github.ref == 'refs/heads/main'
            steps:
              - run: pytest
        """)["ci.pr_tests"]
    assert fact.value is False


# -- configuration validation and path filters -----------------------------------------------

VALIDATE = """\
on:
  pull_request:
    paths: ['src/**', '!src/docs/**']
jobs:
  validate:
    steps:
      - run: terraform fmt -check -recursive
      - run: terraform -chdir=infra validate
      - uses: bridgecrewio/checkov-action@v12
        with: {directory: infra}
"""


def test_pr_config_validation(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, VALIDATE)["ci.pr_config_validation"]
    assert fact.value is True
    assert [e.line for e in fact.evidence] == [7, 8, 9]


def test_soft_failing_validation_does_not_count(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, """\
        on: pull_request
        jobs:
          v:
            steps:
              - run: checkov -d infra --soft-fail
              - uses: bridgecrewio/checkov-action@v12
                with: {soft_fail: true}
        """)["ci.pr_config_validation"]
    assert fact.value is False
    assert "--soft-fail" in details(fact) and "soft_fail: true" in details(fact)


def test_pr_skips_iac_when_filters_match_no_iac_file(snapshot: MakeSnapshot,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iac, "iac_files", lambda snap: ["infra/main.tf", "infra/vars.tf"])
    fact = github(snapshot, VALIDATE)["ci.pr_skips_iac"]
    assert fact.value is True
    assert [e.line for e in fact.evidence] == [7]  # one citation per job
    assert "job validate on pull_request" in fact.evidence[0].detail
    assert "src/**" in fact.evidence[0].detail and "infra/main.tf" in fact.evidence[0].detail


@pytest.mark.parametrize("paths", ["['infra/**']", "['**.tf']", "['src/**', 'infra/']"])
def test_filters_that_cover_iac_do_not_skip_it(snapshot: MakeSnapshot, paths: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iac, "iac_files", lambda snap: ["infra/main.tf"])
    fact = github(snapshot, VALIDATE.replace("['src/**', '!src/docs/**']", paths))[
        "ci.pr_skips_iac"]
    assert fact.value is False
    assert "matches IaC file infra/main.tf" in fact.evidence[0].detail


def test_negated_path_that_removes_iac_skips_it(snapshot: MakeSnapshot,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iac, "iac_files", lambda snap: ["infra/main.tf"])
    workflow = VALIDATE.replace("['src/**', '!src/docs/**']", "['**', '!infra/**']")
    assert github(snapshot, workflow)["ci.pr_skips_iac"].value is True


def test_paths_ignore_of_iac_skips_it(snapshot: MakeSnapshot,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iac, "iac_files", lambda snap: ["infra/main.tf"])
    workflow = VALIDATE.replace("paths: ['src/**', '!src/docs/**']", "paths-ignore: [infra/**]")
    assert github(snapshot, workflow)["ci.pr_skips_iac"].value is True


def test_no_iac_means_nothing_is_skipped(snapshot: MakeSnapshot, no_iac: None) -> None:
    fact = github(snapshot, VALIDATE)["ci.pr_skips_iac"]
    assert fact.value is False
    assert "IaC files" in fact.evidence[0].detail


def test_unfiltered_pr_validation_covers_iac(snapshot: MakeSnapshot,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iac, "iac_files", lambda snap: ["infra/main.tf"])
    fact = github(snapshot, "on: pull_request\njobs:\n  v:\n    steps:\n"
                            "      - run: tflint --recursive\n")["ci.pr_skips_iac"]
    assert fact.value is False
    assert "runs `tflint --recursive` on pull_request for any path" in fact.evidence[0].detail


# -- deployments ------------------------------------------------------------------------------

DEPLOY = """\
on:
  pull_request:
  push:
    branches: [main]
jobs:
  plan:
    steps:
      - run: terraform plan
  deploy:
    if: github.event_name == 'push'
    environment: production
    steps:
      - run: terraform apply -auto-approve
      - run: databricks bundle deploy -t prod
"""


def test_deploy_on_merge_and_apply_on_merge(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, DEPLOY)
    merge = result["ci.deploy_on_merge"]
    assert merge.value is True
    assert [e.line for e in merge.evidence] == [13, 14]
    assert "push to main" in merge.evidence[0].detail
    assert result["ci.iac_apply_on_merge"].value is True
    assert result["ci.iac_apply_on_pr"].value is False
    assert result["ci.deploy_manual_only"].value is False
    assert result["ci.pr_config_validation"].value is True  # terraform plan on the PR


def test_step_condition_keeps_apply_off_pull_requests(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on: [pull_request, push]
        jobs:
          terraform:
            steps:
              - run: terraform plan -no-color
              - if: github.ref == 'refs/heads/main' && github.event_name == 'push'
                run: terraform apply -auto-approve -input=false
        """)
    assert result["ci.iac_apply_on_merge"].value is True
    assert result["ci.iac_apply_on_pr"].value is False


def test_apply_on_pull_request_is_reported(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, DEPLOY.replace("    if: github.event_name == 'push'\n", ""))
    fact = result["ci.iac_apply_on_pr"]
    assert fact.value is True
    assert fact.evidence[0].line == 12
    assert "pull_request" in fact.evidence[0].detail


def test_needs_carries_the_condition_of_the_job_it_waits_for(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on:
          pull_request:
          push:
            branches: [main]
        jobs:
          gate:
            if: github.event_name == 'push'
            steps:
              - run: echo ok
          apply:
            needs: gate
            steps:
              - run: kubectl apply -f k8s/
        """)
    assert result["ci.iac_apply_on_pr"].value is False
    assert result["ci.iac_apply_on_merge"].value is True


def test_manual_only_deploys(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on:
          workflow_dispatch:
            inputs:
              environment: {type: choice, options: [dev, prod]}
        jobs:
          deploy:
            steps:
              - run: az ml online-deployment create -f deployment.yml
        """)
    assert result["ci.deploy_manual_only"].value is True
    assert result["ci.deploy_manual_only"].evidence[0].line == 8
    merge = result["ci.deploy_on_merge"]
    assert merge.value is False
    assert "deploys, but not on a merge (workflow_dispatch" in details(merge)


def test_docker_push_is_not_a_deployment(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on:
          push:
            branches: [main]
        jobs:
          image:
            steps:
              - run: docker build -t registry/app:${{ github.sha }} .
              - run: docker push registry/app:${{ github.sha }}
              - uses: docker/build-push-action@v6
                with: {push: true, tags: registry/app:latest}
        """)
    fact = result["ci.deploy_on_merge"]
    assert fact.value is False
    assert "publishes an image or package; not a deployment" in details(fact)
    assert [e.line for e in fact.evidence if e.path] == [8, 9]
    assert result["ci.deploy_manual_only"].value is False


@pytest.mark.parametrize("uses", ["azure/webapps-deploy@v3",
                                  "aws-actions/amazon-ecs-deploy-task-definition@v2"])
def test_deploy_actions_count(snapshot: MakeSnapshot, uses: str) -> None:
    workflow = ("on:\n  push:\n    branches: [master]\njobs:\n  d:\n    steps:\n"
                f"      - uses: {uses}\n")
    fact = github(snapshot, workflow)["ci.deploy_on_merge"]
    assert fact.value is True
    assert fact.evidence[0].line == 7
    assert "push to master" in fact.evidence[0].detail


def test_release_tags_and_merged_pull_requests_deploy_on_merge(snapshot: MakeSnapshot) -> None:
    release = github(snapshot, "on:\n  release:\n    types: [published]\njobs:\n  d:\n"
                               "    steps:\n      - run: gcloud run deploy api --source .\n")
    assert release["ci.deploy_on_merge"].value is True
    assert "release" in release["ci.deploy_on_merge"].evidence[0].detail


def test_pull_request_closed_runs_after_the_merge(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on:
          pull_request:
            types: [closed]
        jobs:
          d:
            if: github.event.pull_request.merged == true
            steps:
              - run: sam deploy --no-confirm-changeset
        """)
    assert result["ci.deploy_on_merge"].value is True
    assert result["ci.iac_apply_on_pr"].value is False


def test_workflow_run_after_ci_on_main_follows_the_merge(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on:
          workflow_run:
            workflows: [CI]
            types: [completed]
            branches: [main]
        jobs:
          d:
            steps:
              - run: pulumi up --yes --stack prod
        """)
    assert result["ci.iac_apply_on_merge"].value is True
    assert "workflow_run" in result["ci.iac_apply_on_merge"].evidence[0].detail


def test_dry_run_is_validation_not_deployment(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, "on: pull_request\njobs:\n  d:\n    steps:\n"
                              "      - run: kubectl apply --dry-run=client -f k8s/\n")
    assert result["ci.iac_apply_on_pr"].value is False
    assert result["ci.pr_config_validation"].value is True


# -- reusable workflows, matrices, environments ----------------------------------------------

CALLEE = """\
on:
  workflow_call:
    inputs:
      environment: {type: string, required: true}
jobs:
  deploy:
    environment: ${{ inputs.environment }}
    steps:
      - run: databricks bundle deploy -t ${{ inputs.environment }}
"""


def test_reusable_workflow_runs_with_the_callers_triggers(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({WF: """\
        on:
          push:
            branches: [main]
        jobs:
          staging:
            uses: ./.github/workflows/deploy.yml
            with: {environment: staging}
          production:
            needs: staging
            uses: ./.github/workflows/deploy.yml
            with: {environment: production}
        """, ".github/workflows/deploy.yml": CALLEE}))
    merge = result["ci.deploy_on_merge"]
    assert merge.value is True
    assert (merge.evidence[0].path, merge.evidence[0].line) == (".github/workflows/deploy.yml", 9)
    assert "called by .github/workflows/ci.yml: job staging" in merge.evidence[0].detail
    multi = result["ci.multi_env_deploy"]
    assert multi.value is True
    assert {e.detail.rsplit("deploys ", 1)[1] for e in multi.evidence} == {"staging", "prod"}


def test_reusable_workflow_alone_never_runs(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({".github/workflows/deploy.yml": CALLEE}))
    assert result["ci.deploy_on_merge"].value is False
    assert result["ci.deploy_manual_only"].value is False
    assert "deploy steps" in result["ci.deploy_manual_only"].evidence[0].detail


def test_remote_reusable_workflow_is_noted(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, "on: pull_request\njobs:\n  t:\n"
                            "    uses: org/shared/.github/workflows/test.yml@v1\n")["ci.pr_tests"]
    assert fact.value is False
    assert "another repository (org/shared/.github/workflows/test.yml@v1)" in details(fact)


def test_matrix_over_environments_is_multi_env(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on: {push: {branches: [main]}}
        jobs:
          deploy:
            strategy:
              matrix:
                env: [dev, staging, prod]
            environment: ${{ matrix.env }}
            steps:
              - run: databricks bundle deploy -t ${{ matrix.env }}
        """)
    fact = result["ci.multi_env_deploy"]
    assert fact.value is True
    assert fact.evidence[0].line == 9
    assert "dev, prod, staging" in fact.evidence[0].detail


def test_same_command_in_two_environment_jobs_is_multi_env(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on: {push: {branches: [main]}}
        jobs:
          dev:
            steps:
              - run: terraform apply -var-file=envs/dev.tfvars -auto-approve
          prod:
            needs: dev
            steps:
              - run: terraform apply -var-file=envs/prod.tfvars -auto-approve
        """)
    assert result["ci.multi_env_deploy"].value is True


def test_one_environment_is_not_multi_env(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, DEPLOY)["ci.multi_env_deploy"]
    assert fact.value is False
    assert "deploys prod" in details(fact)


def test_two_environment_words_in_one_command_are_not_multi_env(snapshot: MakeSnapshot) -> None:
    workflow = ("on: {push: {branches: [main]}}\njobs:\n  d:\n    steps:\n"
                "      - run: helm upgrade --install api chart -f values-dev.yaml "
                "--set promote.to=prod\n")
    assert github(snapshot, workflow)["ci.multi_env_deploy"].value is False


# -- schedules and load tests -----------------------------------------------------------------

def test_schedule_names_what_it_runs(snapshot: MakeSnapshot) -> None:
    fact = github(snapshot, """\
        on:
          schedule:
            - cron: '0 4 * * 1'
        jobs:
          retrain:
            steps:
              - uses: actions/checkout@v4
              - run: pip install -r requirements.txt
              - run: python train.py --config prod.yaml
        """)["ci.scheduled"]
    assert fact.value is True
    assert fact.evidence[0].line == 3
    assert "cron '0 4 * * 1'" in fact.evidence[0].detail
    assert fact.evidence[0].detail.endswith("runs job retrain: python train.py --config prod.yaml")


def test_load_tests(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, "on: workflow_dispatch\njobs:\n  load:\n    steps:\n"
                              "      - run: k6 run --vus 50 load/test.js\n")
    assert result["ci.load_tests"].value is True
    assert result["ci.load_tests"].evidence[0].line == 5
    assert github(snapshot, "on: push\njobs:\n  t:\n    steps:\n      - run: pytest\n")[
        "ci.load_tests"].value is False


# -- unparseable and odd files -----------------------------------------------------------------

def test_unparseable_only_file_makes_facts_unknown(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({WF: "on: [push\njobs: {\n"}))
    assert result["ci.unparseable"].value == (WF,)
    assert result["ci.unparseable"].evidence[0].line == 2
    for fid in ("ci.present", "ci.pr_tests", "ci.deploy_on_merge", "ci.scheduled"):
        assert result[fid].value is None
        assert result[fid].unknown and WF in result[fid].unknown


def test_unparseable_file_does_not_hide_evidence_elsewhere(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({
        ".github/workflows/bad.yml": "jobs: [\n",
        WF: "on: pull_request\njobs:\n  t:\n    steps:\n      - run: pytest\n"}))
    assert result["ci.pr_tests"].value is True
    assert result["ci.deploy_on_merge"].value is None
    assert result["ci.unparseable"].value == (".github/workflows/bad.yml",)


def test_template_syntax_does_not_break_parsing(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, """\
        on: pull_request
        env:
          IMAGE: ${{ vars.REGISTRY }}/app:${{ github.sha }}
        jobs:
          t:
            runs-on: ${{ matrix.os }}
            strategy: {matrix: {os: [ubuntu-latest]}}
            steps:
              - run: pytest --image ${{ env.IMAGE }}
        """)
    assert result["ci.unparseable"].value == ()
    assert result["ci.pr_tests"].value is True


@pytest.mark.parametrize(("path", "content"), [
    (WF, "- a\n- b\n"), (WF, "on: push\njobs: [1, 2]\n"), (WF, "jobs:\n  t: 3\n  u: {steps: 4}\n"),
    (".gitlab-ci.yml", "just text"), (".gitlab-ci.yml", "include: 5\njob: {script: 7}\n"),
    ("azure-pipelines.yml", "trigger: [main]\nsteps: oops\n"),
    ("azure-pipelines.yml", "stages: [1, {stage: s, jobs: 2}]\n"),
    (".circleci/config.yml", "workflows: [1, 2]\njobs: 3\n"),
    ("bitbucket-pipelines.yml", "pipelines: {default: [1, {step: 3}, {parallel: 4}]}\n"),
    ("Jenkinsfile", "pipeline { stage('x') { sh 'unterminated"),
])
def test_odd_shapes_do_not_raise(snapshot: MakeSnapshot, path: str, content: str) -> None:
    result = facts(snapshot({path: content}))
    assert set(result) == set(ci.FACTS)
    assert result["ci.pr_tests"].value is False


# -- GitLab CI ---------------------------------------------------------------------------------

def gitlab(snapshot: MakeSnapshot, config: str, **more: str) -> dict[str, Fact]:
    return facts(snapshot({".gitlab-ci.yml": config, **more}))


def test_gitlab_merge_request_rules(snapshot: MakeSnapshot) -> None:
    result = gitlab(snapshot, """\
        test:
          script:
            - pip install -r requirements.txt
            - pytest
          rules:
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
        deploy:
          script: [terraform apply -auto-approve]
          rules:
            - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
        """)
    assert result["ci.systems"].value == ("gitlab-ci",)
    tests = result["ci.pr_tests"]
    assert tests.value is True
    assert (tests.evidence[0].path, tests.evidence[0].line) == (".gitlab-ci.yml", 4)
    assert "merge request pipeline" in tests.evidence[0].detail
    assert result["ci.iac_apply_on_merge"].value is True
    assert result["ci.iac_apply_on_pr"].value is False


def test_gitlab_job_without_rules_runs_for_branch_pipelines(snapshot: MakeSnapshot) -> None:
    result = gitlab(snapshot, "unit:\n  script:\n    - pytest\n")
    assert result["ci.pr_tests"].value is True
    assert "branch pipeline of a feature branch" in result["ci.pr_tests"].evidence[0].detail


def test_gitlab_workflow_rules_excluding_merge_requests(snapshot: MakeSnapshot) -> None:
    fact = gitlab(snapshot, """\
        workflow:
          rules:
            - if: $CI_COMMIT_BRANCH == "main"
        unit:
          script: [pytest]
        """)["ci.pr_tests"]
    assert fact.value is False
    assert "does not run for pull requests (push to the default branch (main)" in details(fact)


@pytest.mark.parametrize("masking", ["allow_failure: true", "when: manual"])
def test_gitlab_allow_failure_and_manual_tests_do_not_count(snapshot: MakeSnapshot,
                                                            masking: str) -> None:
    fact = gitlab(snapshot, f"unit:\n  {masking}\n  script:\n    - pytest\n")["ci.pr_tests"]
    assert fact.value is False
    assert details(fact).count("unit") >= 1


def test_gitlab_pipe_needs_explicit_pipefail(snapshot: MakeSnapshot) -> None:
    masked = gitlab(snapshot, "unit:\n  script:\n    - pytest | tee out.txt\n")["ci.pr_tests"]
    assert masked.value is False
    guarded = gitlab(snapshot, "default:\n  before_script: [set -o pipefail]\n"
                               "unit:\n  script:\n    - pytest | tee out.txt\n")["ci.pr_tests"]
    assert guarded.value is True


def test_gitlab_includes_are_resolved_and_remote_ones_noted(snapshot: MakeSnapshot) -> None:
    result = gitlab(snapshot, """\
        include:
          - local: /ci/test.yml
          - 'ci/deploy.yml'
          - remote: https://example.com/ci.yml
          - template: Security/SAST.gitlab-ci.yml
        """, **{"ci/test.yml": "unit:\n  script: [python -m pytest]\n",
                "ci/deploy.yml": "include: {local: ci/common.yml}\n",
                "ci/common.yml": ".base:\n  script: [helm upgrade --install api chart]\n"
                                 "release:\n  extends: .base\n"
                                 "  rules:\n    - if: $CI_COMMIT_TAG\n"})
    tests = result["ci.pr_tests"]
    assert tests.value is True
    assert tests.evidence[0].path == "ci/test.yml"
    merge = result["ci.deploy_on_merge"]
    assert merge.value is True
    assert (merge.evidence[0].path, merge.evidence[0].line) == ("ci/common.yml", 2)
    assert "tag pipeline" in merge.evidence[0].detail
    pr_apply = details(result["ci.iac_apply_on_pr"])
    assert "unresolved remote include: https://example.com/ci.yml" in pr_apply
    assert "unresolved template include: Security/SAST.gitlab-ci.yml" in pr_apply


def test_gitlab_bare_include_and_rule_without_condition(snapshot: MakeSnapshot) -> None:
    result = gitlab(snapshot, "include: ci/deploy.yml\n", **{"ci/deploy.yml": """\
        deploy:
          script: [cdk deploy --all --require-approval never]
          rules:
            - when: manual
        """})
    assert result["ci.deploy_manual_only"].value is True
    assert result["ci.deploy_manual_only"].evidence[0].path == "ci/deploy.yml"
    assert result["ci.iac_apply_on_pr"].value is False


def test_gitlab_manual_deploy_and_extends_per_environment(snapshot: MakeSnapshot) -> None:
    result = gitlab(snapshot, """\
        .deploy:
          script:
            - databricks bundle deploy -t $TARGET
        deploy_staging:
          extends: .deploy
          variables: {TARGET: staging}
          rules:
            - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
              when: manual
        deploy_prod:
          extends: .deploy
          variables: {TARGET: prod}
          environment: {name: production}
          rules:
            - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
              when: manual
        """)
    assert result["ci.deploy_manual_only"].value is True
    assert result["ci.deploy_on_merge"].value is False
    assert "when: manual" in details(result["ci.deploy_on_merge"])
    multi = result["ci.multi_env_deploy"]
    assert multi.value is True
    assert all(e.line == 3 for e in multi.evidence)


def test_gitlab_only_except_and_reference_tags(snapshot: MakeSnapshot) -> None:
    result = gitlab(snapshot, """\
        .setup:
          script:
            - pip install -e .
            - tox -e py
        unit:
          script:
            - !reference [.setup, script]
          only: [merge_requests]
        apply:
          script: [pulumi up --yes]
          only: [main]
          except: [schedules]
        """)
    assert result["ci.pr_tests"].value is True
    assert result["ci.pr_tests"].evidence[0].line == 4
    assert result["ci.iac_apply_on_merge"].value is True
    assert result["ci.iac_apply_on_pr"].value is False


def test_gitlab_changes_filter_skips_iac(snapshot: MakeSnapshot,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iac, "iac_files", lambda snap: ["terraform/main.tf"])
    fact = gitlab(snapshot, """\
        validate:
          script: [terraform validate]
          rules:
            - if: $CI_PIPELINE_SOURCE == "merge_request_event"
              changes: [src/**/*, requirements.txt]
        """)["ci.pr_skips_iac"]
    assert fact.value is True
    assert "src/**/*" in fact.evidence[0].detail


def test_gitlab_schedule_needs_a_rule_that_names_it(snapshot: MakeSnapshot) -> None:
    unnamed = gitlab(snapshot, "train:\n  script: [python train.py]\n")["ci.scheduled"]
    assert unnamed.value is False
    named = gitlab(snapshot, "train:\n  script: [python train.py]\n  rules:\n"
                             "    - if: $CI_PIPELINE_SOURCE == \"schedule\"\n")["ci.scheduled"]
    assert named.value is True
    assert "runs job train: python train.py" in named.evidence[0].detail


# -- Azure Pipelines ---------------------------------------------------------------------------

AZURE = """\
trigger:
  branches:
    include: [main]
stages:
  - stage: Test
    jobs:
      - job: unit
        steps:
          - script: |
              pip install -r requirements.txt
              pytest tests
          - task: TerraformTaskV4@4
            inputs:
              command: validate
  - stage: Deploy
    condition: and(succeeded(), ne(variables['Build.Reason'], 'PullRequest'))
    jobs:
      - template: templates/deploy.yml
        parameters: {environment: dev}
      - template: templates/deploy.yml
        parameters: {environment: prod}
"""
AZURE_TEMPLATE = """\
parameters:
  - name: environment
    type: string
jobs:
  - deployment: deploy_${{ parameters.environment }}
    environment: ${{ parameters.environment }}
    strategy:
      runOnce:
        deploy:
          steps:
            - task: AzureCLI@2
              inputs:
                scriptType: bash
                inlineScript: |
                  az deployment group create -g rg-${{ parameters.environment }} -f main.bicep
"""


def test_azure_pull_requests_by_default_and_conditions(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({"azure-pipelines.yml": AZURE,
                             "templates/deploy.yml": AZURE_TEMPLATE}))
    assert result["ci.systems"].value == ("azure-pipelines",)
    tests = result["ci.pr_tests"]
    assert tests.value is True
    assert tests.evidence[0].line == 11
    assert "no pr: section" in tests.evidence[0].detail
    assert result["ci.pr_config_validation"].evidence[0].line == 12
    assert result["ci.iac_apply_on_pr"].value is False
    merge = result["ci.iac_apply_on_merge"]
    assert merge.value is True
    assert (merge.evidence[0].path, merge.evidence[0].line) == ("templates/deploy.yml", 15)
    assert result["ci.multi_env_deploy"].value is True


def test_azure_pr_none_disables_pull_requests(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({"azure-pipelines.yml": "pr: none\n" + AZURE,
                             "templates/deploy.yml": AZURE_TEMPLATE}))
    assert result["ci.pr_tests"].value is False


def test_azure_not_last_line_without_set_e_is_masked(snapshot: MakeSnapshot) -> None:
    fact = facts(snapshot({"azure-pipelines.yml": """\
        pr: [main]
        steps:
          - script: |
              pytest tests
              echo "done"
        """}))["ci.pr_tests"]
    assert fact.value is False
    assert "without `set -e`" in details(fact)


def test_azure_continue_on_error_and_manual_only(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({"azure-pipelines.yml": """\
        trigger: none
        pr: none
        jobs:
          - job: t
            continueOnError: true
            steps:
              - script: pytest
              - task: AzureWebApp@1
                inputs: {appName: api}
        """}))
    assert result["ci.pr_tests"].value is False
    assert result["ci.deploy_manual_only"].value is True
    assert "no automatic trigger" in result["ci.deploy_manual_only"].evidence[0].detail


@pytest.mark.parametrize("path", ["ci.azure-pipelines.yml", ".azure-pipelines/ci.yml",
                                  "azure-pipelines-ci.yaml", "pipelines/build.yml"])
def test_azure_pipeline_file_names(snapshot: MakeSnapshot, path: str) -> None:
    result = facts(snapshot({path: "trigger: [main]\npr: [main]\nsteps:\n  - bash: pytest\n"}))
    assert result["ci.systems"].value == ("azure-pipelines",)
    assert result["ci.pr_tests"].evidence[0].path == path


def test_azure_template_files_are_not_pipelines_of_their_own(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({
        "azure-pipelines.yml": "trigger: none\npr: none\nsteps:\n  - template: "
                               ".azure-pipelines/steps.yml\n",
        ".azure-pipelines/steps.yml": "steps:\n  - script: kubectl apply -f k8s/\n"}))
    assert result["ci.iac_apply_on_pr"].value is False
    assert result["ci.deploy_manual_only"].value is True


# -- Jenkins, CircleCI, Bitbucket ------------------------------------------------------------

def test_jenkinsfile_stages_and_when_branch(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({"Jenkinsfile": """\
        pipeline {
          triggers { cron('H 2 * * *') }
          stages {
            stage('Test') {
              steps {
                sh 'pytest -q || true'
                // sh 'tox'
              }
            }
            stage('Deploy') {
              when { branch 'main' }
              steps {
                sh '''
                  terraform init
                  terraform apply -auto-approve
                '''
              }
            }
          }
        }
        """}))
    assert result["ci.systems"].value == ("jenkins",)
    assert result["ci.pr_tests"].value is False
    assert "|| true" in details(result["ci.pr_tests"])
    assert result["ci.iac_apply_on_merge"].evidence[0].line == 15
    assert result["ci.iac_apply_on_pr"].value is False
    assert result["ci.scheduled"].value is True


def test_circleci_filters_and_approvals(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({".circleci/config.yml": """\
        version: 2.1
        jobs:
          test:
            steps:
              - checkout
              - run: pytest | tee out.txt
          deploy:
            steps:
              - run:
                  command: helm upgrade --install app ./chart
        workflows:
          main:
            jobs:
              - test
              - hold: {type: approval, requires: [test]}
              - deploy:
                  requires: [hold]
                  filters: {branches: {only: main}}
        """}))
    assert result["ci.pr_tests"].value is True  # CircleCI runs bash -eo pipefail
    assert result["ci.deploy_manual_only"].value is True
    assert "after an approval job" in result["ci.deploy_manual_only"].evidence[0].detail


def test_bitbucket_sections_and_pipes(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({"bitbucket-pipelines.yml": """\
        pipelines:
          pull-requests:
            '**':
              - step:
                  name: Unit tests
                  script:
                    - pytest
          branches:
            main:
              - step:
                  name: Deploy
                  deployment: production
                  script:
                    - pipe: atlassian/aws-ecs-deploy:1.6.0
                      variables: {CLUSTER_NAME: ml}
        """}))
    assert result["ci.systems"].value == ("bitbucket-pipelines",)
    assert result["ci.pr_tests"].evidence[0].line == 7
    merge = result["ci.deploy_on_merge"]
    assert merge.value is True
    assert merge.evidence[0].line == 14


# -- the pieces ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("command", "classes"), [
    ("terraform -chdir=infra plan -out tf.plan", {"validate"}),
    ("terraform apply tf.plan", {"deploy_iac"}),
    ("cd infra && terraform fmt -check && tflint", {"validate"}),
    ("terraform fmt", set()),
    ("kubectl apply --dry-run=server -f k8s/", {"validate"}),
    ("make test", {"test"}),
    ("uv run pytest -x", {"test"}),
    ("pip install -r requirements.txt && pytest", {"test"}),
    ("echo 'terraform apply'", set()),
    ("az ml online-deployment create --file blue.yml", {"deploy"}),
    ("docker push repo/img:1", {"publish"}),
    ("python scripts/deploy_model.py --stage prod", {"deploy"}),
    ("locust -f locustfile.py --headless -u 100", {"load"}),
])
def test_classify(command: str, classes: set[str]) -> None:
    assert set(ci.classify(command)) == classes


@pytest.mark.parametrize(("expression", "event", "ref", "expected"), [
    ("github.event_name == 'push'", "push", "refs/heads/main", True),
    ("github.event_name == 'push'", "pull_request", "refs/pull/1/merge", False),
    ("${{ github.ref == 'refs/heads/main' && github.event_name != 'pull_request' }}", "push",
     "refs/heads/main", True),
    ("startsWith(github.ref, 'refs/tags/v')", "push", "refs/heads/main", False),
    ("!contains(github.event.head_commit.message, '[skip]')", "push", "refs/heads/main", None),
    ("(github.event_name == 'schedule' || github.event_name == 'push') && always()", "push",
     "refs/heads/main", True),
])
def test_github_expressions(expression: str, event: str, ref: str,
                            expected: bool | None) -> None:
    run = ci.Run("x", "", "p", None, ci.github._github_values(event, ref, "main"))
    node = ci.parse_expression(expression)
    assert node is not None
    assert ci.truth(ci.evaluate(node, ci.github._github_lookup(run))) is expected


@pytest.mark.parametrize(("expression", "kind", "expected"), [
    ('$CI_PIPELINE_SOURCE == "merge_request_event"', "pr", True),
    ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "merge", True),
    ("$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", "tag", False),
    ("$CI_COMMIT_TAG =~ /^v\\d+/", "tag", True),
    ("$CI_MERGE_REQUEST_IID && $DEPLOY == 'yes'", "merge", False),
    ("$CI_COMMIT_REF_NAME =~ /^release\\//", "merge", False),
])
def test_gitlab_expressions(expression: str, kind: str, expected: bool) -> None:
    runs = {r.kind: r for r in reversed(ci.gitlab._gitlab_runs("p", None, "main"))}
    node = ci.parse_expression(expression)
    assert node is not None
    assert ci.truth(ci.evaluate(node, ci.gitlab._gitlab_lookup(runs[kind]))) is expected


def test_azure_expressions() -> None:
    runs = {r.kind: r for r in ci.azure_runs({"schedules": [{"cron": "0 0 * * *"}]}, "p", [],
                                             "main")}
    node = ci.parse_expression("and(succeeded(), eq(variables['Build.SourceBranch'], "
                               "'refs/heads/main'), ne(variables.Build.Reason, 'Schedule'))")
    assert node is not None
    results = {k: ci.truth(ci.evaluate(node, ci.azure._azure_lookup(r))) for k, r in runs.items()}
    assert results == {"merge": True, "pr": False, "schedule": False}


def test_unreadable_expressions_keep_every_run() -> None:
    assert ci.parse_expression("a == (b") is None
    run = ci.Run("pr", "", "p", None, {})
    assert ci.narrow([run], "github.event_name ==", ci.github._github_lookup) == (run,)
    assert ci.narrow([run], False, ci.github._github_lookup) == ()


def test_cd_in_a_system_not_read_makes_missing_facts_unknown(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"buildspec.yml": "version: 0.2\nphases:\n  build:\n"
                                            "    commands:\n      - pytest\n"}))
    assert found["ci.pr_tests"].value is None
    assert "buildspec.yml" in (found["ci.pr_tests"].unknown or "")
    assert found["ci.deploy_on_merge"].value is None
    assert any(e.path == "buildspec.yml" and e.line == 2 for e in found["ci.pr_tests"].evidence)


def test_a_file_that_only_shares_the_name_is_not_cd(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"docs/buildspec.yml": "title: notes about builds\n"}))
    assert found["ci.pr_tests"].value is False


def test_support_found_elsewhere_still_decides(snapshot: MakeSnapshot) -> None:
    workflow = ("on: pull_request\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - run: python -m pytest\n")
    found = github(snapshot, workflow, **{"cloudbuild.yaml": "steps:\n- name: gcr.io/x\n"})
    assert found["ci.pr_tests"].value is True


# -- ML platform deploy commands --------------------------------------------------------------

@pytest.mark.parametrize("command", [
    "anyscale service rollout --service-config-file deploy/services/serve.yaml",
    "anyscale service deploy -f service.yaml",
    "az ml model deploy -n scoring --model m:3 --ic inference_config.yml",
    "databricks serving-endpoints update-config churn --json @endpoint.json",
])
def test_ml_platform_deploys_on_merge(snapshot: MakeSnapshot, command: str) -> None:
    workflow = ("on:\n  push:\n    branches: [main]\njobs:\n  serve:\n    steps:\n"
                f"      - run: {command}\n")
    fact = github(snapshot, workflow)["ci.deploy_on_merge"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == (WF, 7)
    assert "push to main" in fact.evidence[0].detail


def test_anyscale_job_submit_is_a_job_not_a_deployment(snapshot: MakeSnapshot) -> None:
    workflow = ("on:\n  push:\n    branches: [main]\njobs:\n  train:\n    steps:\n"
                "      - run: anyscale job submit deploy/jobs/workloads.yaml --wait\n")
    fact = github(snapshot, workflow)["ci.deploy_on_merge"]
    assert fact.value is False
    assert "a deploy step" in fact.evidence[0].detail


# -- tests run inside docker compose services ---------------------------------------------------

COMPOSE_WF = """\
    on:
      pull_request:
        branches: [master]
    jobs:
      build:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - run: docker-compose -f docker-compose.test.yaml up {flags}
    """

COMPOSE_TEST = """\
    version: "3"
    services:
      db:
        image: postgres:16
      api:
        build: .
        entrypoint: ["pytest"]
        command: ["-q", "tests"]
    """


def test_compose_up_exit_code_from_a_test_service_is_a_test(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, COMPOSE_WF.format(flags="--exit-code-from api"),
                    **{"docker-compose.test.yaml": COMPOSE_TEST})
    fact = result["ci.pr_tests"]
    assert fact.value is True
    assert (fact.evidence[0].path, fact.evidence[0].line) == (WF, 9)
    assert "pytest -q tests" in fact.evidence[0].detail
    assert "docker-compose.test.yaml:7,8" in fact.evidence[0].detail  # entrypoint, command


def test_compose_up_without_exit_code_from_does_not_count(snapshot: MakeSnapshot) -> None:
    result = github(snapshot, COMPOSE_WF.format(flags="--abort-on-container-exit"),
                    **{"docker-compose.test.yaml": COMPOSE_TEST})
    fact = result["ci.pr_tests"]
    assert fact.value is False
    assert "does not count" in details(fact)
    assert "--exit-code-from" in details(fact)
    assert [e.line for e in fact.evidence if e.path == WF] == [9]


def test_compose_service_that_serves_is_not_a_test(snapshot: MakeSnapshot) -> None:
    compose = "services:\n  api:\n    build: .\n    command: uvicorn app:app\n"
    result = github(snapshot, COMPOSE_WF.format(flags="--exit-code-from api"),
                    **{"docker-compose.test.yaml": compose})
    assert result["ci.pr_tests"].value is False
    assert "uvicorn" not in details(result["ci.pr_tests"])


def test_compose_run_reads_the_default_file_of_the_directory(snapshot: MakeSnapshot) -> None:
    workflow = ("on: pull_request\njobs:\n  t:\n    steps:\n"
                "      - run: cd app && docker compose run --rm tests\n")
    passing = github(snapshot, workflow, **{
        "app/compose.yaml": "services:\n  tests:\n    command: python -m pytest\n"})
    assert passing["ci.pr_tests"].value is True
    assert "app/compose.yaml:3" in passing["ci.pr_tests"].evidence[0].detail
    masked = github(snapshot, workflow, **{
        "app/compose.yaml": "services:\n  tests:\n    command: sh -c 'pytest || true'\n"})
    assert masked["ci.pr_tests"].value is False
    assert "|| true" in details(masked["ci.pr_tests"])


def test_parse_compose_options() -> None:
    call = ci.parse_compose("docker compose --project-directory ci -f a.yml --file=b.yml "
                            "run -e X=1 --entrypoint pytest tests -q tests/unit")
    assert call is not None
    assert call.files == ("ci/a.yml", "ci/b.yml")
    assert (call.services, call.words, call.entrypoint) == (("tests",), ("-q", "tests/unit"),
                                                           "pytest")
    assert call.carries is None
    detached = ci.parse_compose("docker-compose up -d --exit-code-from api")
    assert detached is not None and detached.carries and "detached" in detached.carries
    assert ci.parse_compose("docker compose build api") is None
    assert ci.parse_compose("docker compose up 'unclosed") is None


@pytest.mark.parametrize("compose", ["- a\n- list\n", "services: [api]\n", "services:\n  api: x\n",
                                     "services:\n  api:\n    command: {a: 1}\n", "services: [\n",
                                     ""])
def test_odd_compose_files_do_not_raise(snapshot: MakeSnapshot, compose: str) -> None:
    result = github(snapshot, COMPOSE_WF.format(flags="--exit-code-from api"),
                    **{"docker-compose.test.yaml": compose})
    assert result["ci.pr_tests"].value is False


# -- AWS CodePipeline (CloudFormation and CDK) and CodeBuild -----------------------------------

CFN_PIPELINE = """\
Parameters:
  Branch: {Type: String, Default: main}
Resources:
  Build:
    Type: AWS::CodeBuild::Project
    Properties:
      Source: {Type: CODEPIPELINE, BuildSpec: ci/buildspec.yml}
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Stages:
        - Name: Source
          Actions:
            - Name: Code
              ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
              Configuration: {RepositoryName: repo, BranchName: !Ref Branch}
"""
CFN_BUILD = """\
        - Name: Test
          Actions:
            - Name: UnitTests
              ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
              Configuration: {ProjectName: !Ref Build}
"""
CFN_DEPLOY = """\
        - Name: DeployDev
          Actions:
            - Name: DeployModelDev
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
              Configuration:
                ActionMode: CREATE_UPDATE
                StackName: !Sub ${Prefix}-model-dev
                TemplatePath: BuildOutput::TEMPLATE
            - Name: Approve
              ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
              RunOrder: 2
        - Name: DeployPrd
          Actions:
            - Name: DeployModelPrd
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
              Configuration:
                ActionMode: REPLACE_ON_FAILURE
                StackName: !Sub ${Prefix}-model-prd
                TemplatePath: BuildOutput::TEMPLATE
"""
CFN_APPROVAL = """\
        - Name: Gate
          Actions:
            - Name: Approve
              ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
"""
BUILDSPEC = """\
version: 0.2
phases:
  install:
    commands:
      - pip install -r requirements.txt
  build:
    commands:
      - python -m pytest tests
"""
RULES = """\
  OnCommit:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [aws.codecommit]}
      Targets: [{Arn: !Sub "arn:aws:codepipeline:${AWS::Region}:${AWS::AccountId}:${Pipeline}"}]
  Monthly:
    Type: AWS::Events::Rule
    Properties:
      ScheduleExpression: cron(0 12 1 * ? *)
      State: DISABLED
      Targets: [{Arn: !Sub "arn:aws:codepipeline:${AWS::Region}:${AWS::AccountId}:${Pipeline}"}]
"""


def cfn(stages: str = "", template: str = "model.yml") -> str:
    """The pipeline template: a CodeCommit source on the Branch parameter (line 14), then
    STAGES (from line 17)."""
    return CFN_PIPELINE + stages.replace("TEMPLATE", template)


def test_codepipeline_template_push_to_branch_runs_the_buildspec(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"pipeline.yml": cfn(CFN_BUILD), "ci/buildspec.yml": BUILDSPEC}))
    assert found["ci.present"].value is True
    assert found["ci.systems"].value == ("aws-codepipeline",)
    assert found["ci.present"].evidence[0].line == 14
    tests = found["ci.pr_tests"]
    # A pipeline follows one branch: its tests run after the push, never on a pull request.
    assert tests.value is False and tests.unknown is None
    assert any(e.path == "ci/buildspec.yml" and e.line == 8
               and "does not run for pull requests (push to main (source Code))" in e.detail
               for e in tests.evidence)
    assert found["ci.deploy_on_merge"].value is False


def test_codepipeline_template_deploys_two_stages_after_an_approval(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({"pipeline.yml": cfn(CFN_DEPLOY)})
    found = facts(snap)
    deploy = found["ci.deploy_on_merge"]
    assert deploy.value is True
    assert [(e.path, e.line) for e in deploy.evidence] == [("pipeline.yml", 19),
                                                           ("pipeline.yml", 30)]
    assert "approval" not in deploy.evidence[0].detail
    # The approval is a gate inside the delivery that the push started, not a manual deploy.
    production = [c for c in ci.read_ci(snap).commands if c.line == 30]
    assert [(r.kind, r.detail) for r in production[0].runs] == [
        ("merge", "push to main (source Code), after approval DeployDev/Approve")]
    assert found["ci.deploy_manual_only"].value is False
    multi = found["ci.multi_env_deploy"]
    assert multi.value is True and [e.line for e in multi.evidence] == [19, 30]
    # The pipeline's own template (buckets, roles, the pipeline) is applied by no pipeline step.
    applied = found["ci.iac_apply_on_merge"]
    assert applied.value is False and applied.unknown is None
    assert any(e.line == 19 and "not the pipeline's own stack (pipeline.yml): deployed by hand"
               in e.detail for e in applied.evidence)


def test_codepipeline_that_updates_its_own_template_applies_iac(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"pipeline.yml": cfn(CFN_DEPLOY, template="packaged-pipeline.yml")}))
    applied = found["ci.iac_apply_on_merge"]
    assert applied.value is True
    assert applied.evidence[0].line == 19 and "push to main" in applied.evidence[0].detail


def test_codepipeline_with_only_a_manual_approval_deploys_nothing(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"pipeline.yml": cfn(CFN_APPROVAL)}))
    assert found["ci.present"].value is True
    for fact_id in ("ci.deploy_on_merge", "ci.deploy_manual_only", "ci.iac_apply_on_merge",
                    "ci.pr_tests"):
        assert found[fact_id].value is False, fact_id
        assert found[fact_id].unknown is None, fact_id


def test_codepipeline_s3_data_source_is_not_a_code_push(snapshot: MakeSnapshot) -> None:
    template = """\
        Resources:
          Pipeline:
            Type: AWS::CodePipeline::Pipeline
            Properties:
              Stages:
                - Name: Source
                  Actions:
                    - Name: Data
                      ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
                      Configuration: {S3Bucket: data, S3ObjectKey: data.zip}
                - Name: Deploy
                  Actions:
                    - Name: Endpoint
                      ActionTypeId: {Category: Deploy, Owner: AWS, Provider: ECS, Version: "1"}
                      Configuration: {ClusterName: c, ServiceName: model}
        """
    found = facts(snapshot({"pipeline.yml": template}))
    deploy = found["ci.deploy_on_merge"]
    assert deploy.value is False and deploy.unknown is None
    assert any(e.line == 13 and "`ECS deploy: ClusterName c, ServiceName model` deploys, but not "
               "on a merge (upload of data.zip to S3" in e.detail for e in deploy.evidence)
    assert found["ci.deploy_manual_only"].value is False


def test_codepipeline_sources_that_stopped_polling_need_a_rule(snapshot: MakeSnapshot) -> None:
    base = cfn(CFN_DEPLOY).replace("BranchName: !Ref Branch}",
                                   "BranchName: !Ref Branch, PollForSourceChanges: false}")
    unstarted = facts(snapshot({"pipeline.yml": base}))
    assert unstarted["ci.deploy_on_merge"].value is False
    assert "source Code of pipeline Pipeline starts nothing (PollForSourceChanges: false, no " \
           "rule)" in details(unstarted["ci.deploy_on_merge"])
    with_rules = base.replace("Resources:\n", "Resources:\n" + RULES)
    started = facts(snapshot({"pipeline.yml": with_rules}))
    assert started["ci.deploy_on_merge"].value is True
    scheduled = started["ci.scheduled"]
    assert scheduled.value is False
    assert any("rule Monthly would start pipeline Pipeline but is disabled" in e.detail
               for e in scheduled.evidence)


def test_codepipeline_pull_request_trigger_runs_the_tests(snapshot: MakeSnapshot) -> None:
    triggers = ("      Triggers:\n"
                "        - ProviderType: CodeStarSourceConnection\n"
                "          GitConfiguration:\n"
                "            SourceActionName: Code\n"
                "            PullRequest: [{Events: [OPEN, UPDATED]}]\n")
    template = cfn(CFN_BUILD).replace("      Stages:\n", triggers + "      Stages:\n")
    found = facts(snapshot({"pipeline.yml": template, "ci/buildspec.yml": BUILDSPEC}))
    tests = found["ci.pr_tests"]
    assert tests.value is True
    assert (tests.evidence[0].path, tests.evidence[0].line) == ("ci/buildspec.yml", 8)
    assert "pull request (OPEN, UPDATED; pipeline trigger)" in tests.evidence[0].detail


def test_codepipeline_inline_buildspec_and_unresolved_project(snapshot: MakeSnapshot) -> None:
    inline = cfn(CFN_BUILD).replace(
        "      Source: {Type: CODEPIPELINE, BuildSpec: ci/buildspec.yml}\n",
        "      Source:\n"
        "        Type: CODEPIPELINE\n"
        "        BuildSpec: |\n"
        "          phases:\n"
        "            build:\n"
        "              commands:\n"
        "                - cdk deploy --all --require-approval never\n")
    found = facts(snapshot({"pipeline.yml": inline}))
    assert found["ci.iac_apply_on_merge"].value is True
    assert found["ci.iac_apply_on_merge"].evidence[0].line == 13
    missing = facts(snapshot({"pipeline.yml": inline.replace("!Ref Build}", "other-project}")}))
    # What the unknown project runs is not read: facts that found nothing are unknown.
    fact = missing["ci.iac_apply_on_merge"]
    assert fact.value is None
    assert "CodeBuild project other-project is not defined in this template" in details(fact)


def test_codepipeline_commands_action_and_unknown_test_provider(snapshot: MakeSnapshot) -> None:
    commands = ("        - Name: Release\n"
                "          Actions:\n"
                "            - Name: Ship\n"
                "              ActionTypeId: {Category: Compute, Owner: AWS, Provider: Commands}\n"
                "              Commands: [echo release, terraform apply -auto-approve]\n")
    found = facts(snapshot({"pipeline.yml": cfn(commands)}))
    assert found["ci.iac_apply_on_merge"].value is True
    assert found["ci.iac_apply_on_merge"].evidence[0].line == 21
    other = commands.replace("Category: Compute, Owner: AWS, Provider: Commands",
                             "Category: Test, Owner: ThirdParty, Provider: GhostInspector")
    unknown = facts(snapshot({"pipeline.yml": cfn(other)}))["ci.pr_tests"]
    assert unknown.value is None
    assert "GhostInspector test action not read" in details(unknown)


def test_buildspec_of_a_pipeline_is_read_an_unreferenced_one_is_not(
        snapshot: MakeSnapshot) -> None:
    read = facts(snapshot({"pipeline.yml": cfn(CFN_BUILD), "ci/buildspec.yml": BUILDSPEC}))
    assert read["ci.pr_tests"].value is False
    unread = facts(snapshot({"tools/buildspec-nightly.yml": BUILDSPEC}))
    assert unread["ci.pr_tests"].value is None
    assert "tools/buildspec-nightly.yml" in (unread["ci.pr_tests"].unknown or "")


CDK_PIPELINE = """\
    import * as codebuild from 'aws-cdk-lib/aws-codebuild';
    import * as codepipeline from 'aws-cdk-lib/aws-codepipeline';
    import * as codepipeline_actions from 'aws-cdk-lib/aws-codepipeline-actions';

    export class Delivery extends Construct {
        constructor(scope: Construct, id: string, props: Props) {
            super(scope, id);
            this.pipeline = new codepipeline.Pipeline(this, 'Delivery', {});
            let source: codepipeline_actions.Action;
            if (props.useGithub) {
                source = new codepipeline_actions.CodeStarConnectionsSourceAction({
                    actionName: 'Code', output: code, owner: 'o', repo: 'r',
                    branch: props.branch || 'main', connectionArn: props.arn,
                });
            } else {
                source = new codepipeline_actions.CodeCommitSourceAction({
                    actionName: 'Code', output: code, repository: repo, branch: 'main',
                });
            }
            const data = new codepipeline_actions.S3SourceAction({
                actionName: 'Data', output: manifest, bucket: b, bucketKey: 'manifest.zip',
            });
            this.pipeline.addStage({ stageName: 'Source', actions: [source, data] });
            // new codepipeline_actions.CodeBuildAction({ actionName: 'Old', project: old });
            const deployProject = new codebuild.PipelineProject(this, 'Deploy', {
                buildSpec: codebuild.BuildSpec.fromSourceFilename('./buildspecs/deploy.yml'),
            });
            const approve = new codepipeline_actions.ManualApprovalAction({
                actionName: 'Approval', runOrder: 1,
            });
            const deploy = new codepipeline_actions.CodeBuildAction({
                actionName: 'Deploy', runOrder: 2, project: deployProject, input: code,
            });
            this.pipeline.addStage({ stageName: 'Deploy', actions: [approve, deploy] });
        }
    }
"""
DEPLOY_SCRIPT = """\
    #!/bin/bash
    set -e
    pushd ./{app}
    yarn install --frozen-lockfile
    yarn cdk deploy --require-approval never
    popd
"""


def cdk_repo(app: str) -> dict[str, str]:
    return {"infra/cdk.json": '{"app": "npx ts-node bin/app.ts"}',
            "infra/lib/delivery.ts": CDK_PIPELINE,
            "model_deploy/cdk.json": '{"app": "npx ts-node bin/app.ts"}',
            "buildspecs/deploy.yml": "version: 0.2\nphases:\n  build:\n    commands:\n"
                                     "      - bash scripts/deploy.sh\n",
            "scripts/deploy.sh": DEPLOY_SCRIPT.format(app=app)}


def test_cdk_pipeline_deploys_through_its_buildspec_and_script(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot(cdk_repo("model_deploy")))
    assert found["ci.systems"].value == ("aws-codepipeline",)
    deploy = found["ci.deploy_on_merge"]
    assert deploy.value is True
    assert (deploy.evidence[0].path, deploy.evidence[0].line) == ("scripts/deploy.sh", 5)
    assert "push to main (source Code), after approval Deploy/Approval" in \
        deploy.evidence[0].detail
    # The model stack is applied on merge; the app holding the pipeline (infra) is not.
    applied = found["ci.iac_apply_on_merge"]
    assert applied.value is False and applied.unknown is None
    assert "not the pipeline's own stack (infra): deployed by hand" in details(applied)
    assert found["ci.pr_tests"].value is False and found["ci.pr_tests"].unknown is None


def test_cdk_pipeline_deploying_its_own_app_applies_iac(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot(cdk_repo("infra")))
    assert found["ci.iac_apply_on_merge"].value is True


def test_cdk_pipeline_with_an_action_from_another_file_is_unknown(snapshot: MakeSnapshot) -> None:
    files = cdk_repo("model_deploy")
    files["infra/lib/delivery.ts"] = CDK_PIPELINE.replace("actions: [approve, deploy]",
                                                          "actions: [approve, props.deploy]")
    found = facts(snapshot(files))
    fact = found["ci.deploy_on_merge"]
    assert fact.value is None
    assert "action props.deploy is not defined in this file" in details(fact)


CDK_PIPELINES_PY = """\
    from aws_cdk import Stack, pipelines
    from constructs import Construct


    class PipelineStack(Stack):
        \"\"\"Delivery. A docstring mentioning pipelines.CodePipeline(self, "x") is not code.\"\"\"

        def __init__(self, scope: Construct, construct_id: str) -> None:
            super().__init__(scope, construct_id)
            pipeline = pipelines.CodePipeline(
                self, "Pipeline",
                synth=pipelines.ShellStep(
                    "Synth",
                    input=pipelines.CodePipelineSource.git_hub("org/repo", "main"),
                    commands=["pip install -r requirements.txt", "pytest", "npx cdk synth"],
                ),
            )
            pipeline.add_stage(AppStage(self, "Dev"))
            pipeline.add_stage(AppStage(self, "Prod"),
                               pre=[pipelines.ManualApprovalStep("PromoteToProd")])
"""


def test_cdk_pipelines_in_python_self_mutate_and_deploy_stages(snapshot: MakeSnapshot) -> None:
    found = facts(snapshot({"cdk.json": '{"app": "python app.py"}',
                            "pipeline_stack.py": CDK_PIPELINES_PY}))
    deploy = found["ci.deploy_on_merge"]
    assert deploy.value is True
    lines = [e.line for e in deploy.evidence]
    assert lines == [10, 18, 19]
    assert "on push to main (source org/repo), after approval Prod/PromoteToProd" in \
        deploy.evidence[2].detail
    # Self-mutation applies the pipeline's own stack on every push.
    assert found["ci.iac_apply_on_merge"].value is True
    assert found["ci.multi_env_deploy"].value is True
    tests = found["ci.pr_tests"]
    assert tests.value is False
    assert any(e.line == 15 and "`pytest` does not run for pull requests" in e.detail
               for e in tests.evidence)
    assert found["ci.systems"].evidence[0].detail == "AWS CodePipeline: 6 job(s)"


def test_commented_out_cdk_pipeline_is_not_read(snapshot: MakeSnapshot) -> None:
    code = "\n".join("// " + line for line in textwrap.dedent(CDK_PIPELINE).split("\n"))
    found = facts(snapshot({"infra/lib/delivery.ts": code}))
    assert found["ci.present"].value is False
    assert found["ci.deploy_on_merge"].value is False


def test_cdk_text_helpers() -> None:
    code = ci.blank_comments("a = f('x // y') // note\n/* b(\n) */ c('#')\n", python=False)
    assert code == "a = f('x // y')        \n     \n     c('#')\n"
    src = ci.read_cdk("p.ts", "const p = new X(this, 'id', { branch: b ?? 'dev', n: 2 });\n")
    assert list(src.binds) == ["p"]
    props = ci.cdk_code._props(src, src.binds["p"][0])
    assert ci.cdk_code._literal(props["branch"][1]) == "dev" and props["n"][1] == "2"
    assert ci.cdk_code._literal("props.branch") is None
