"""CI/CD configuration: which jobs run tests, configuration checks, deployments and load tests, and
on which events (pull requests, merges to the default branch, tags, schedules, by hand)."""

from __future__ import annotations

import re
from dataclasses import replace

from mlops_auditor.checks import common, iac
from mlops_auditor.checks.ci.azure import azure_runs as azure_runs
from mlops_auditor.checks.ci.azure import scan_azure
from mlops_auditor.checks.ci.bitbucket import scan_bitbucket
from mlops_auditor.checks.ci.catalogue import _env_words, _not_a_run
from mlops_auditor.checks.ci.cdk_code import blank_comments as blank_comments
from mlops_auditor.checks.ci.cdk_code import read_cdk as read_cdk
from mlops_auditor.checks.ci.circleci import scan_circleci
from mlops_auditor.checks.ci.codepipeline import scan_codepipeline
from mlops_auditor.checks.ci.commands import DEPLOYS, split_shell
from mlops_auditor.checks.ci.commands import classify as classify
from mlops_auditor.checks.ci.compose import follow_compose
from mlops_auditor.checks.ci.compose import parse_compose as parse_compose
from mlops_auditor.checks.ci.conditions import evaluate as evaluate
from mlops_auditor.checks.ci.conditions import narrow as narrow
from mlops_auditor.checks.ci.conditions import parse_expression as parse_expression
from mlops_auditor.checks.ci.conditions import truth as truth
from mlops_auditor.checks.ci.github import scan_github
from mlops_auditor.checks.ci.gitlab import scan_gitlab
from mlops_auditor.checks.ci.jenkins import scan_jenkins
from mlops_auditor.checks.ci.model import Command, Scan
from mlops_auditor.checks.ci.model import Run as Run
from mlops_auditor.checks.ci.unread import scan_unread
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "ci.present": "CI configuration with at least one job (GitHub Actions, GitLab CI, Azure "
                  "Pipelines, Jenkins, CircleCI, Bitbucket Pipelines, AWS CodePipeline)",
    "ci.systems": "the CI systems whose configuration defines jobs",
    "ci.pr_tests": "a job triggered by pull/merge requests runs automated tests whose failure "
                   "fails the job (`|| true`, continue-on-error, allow_failure, unguarded pipes "
                   "do not count)",
    "ci.pr_config_validation": "a job triggered by pull/merge requests validates configuration "
                               "or IaC (terraform validate/fmt -check/plan, tflint, checkov, "
                               "cfn-lint, bicep build, kubeconform, bundle validate, yamllint, "
                               "check-jsonschema, actionlint, trivy config, pre-commit run)",
    "ci.pr_skips_iac": "pull-request validation is path-filtered so that no IaC file ever "
                       "triggers it (False when there is no IaC or a filter covers it)",
    "ci.deploy_on_merge": "a job triggered by a push/merge to the default branch or by a release "
                          "tag deploys something (model, app or infrastructure) without a "
                          "manual start",
    "ci.iac_apply_on_merge": "a job triggered by a push/merge to the default branch applies IaC "
                             "(terraform apply, bundle deploy, cdk/sam deploy, pulumi up, helm "
                             "upgrade/install, kubectl apply, az deployment, cloudformation "
                             "deploy); a pipeline that applies only other stacks while its own "
                             "stack is deployed by hand does not count",
    "ci.deploy_manual_only": "deploy steps exist but only run when started by hand "
                             "(workflow_dispatch, when: manual, no automatic trigger)",
    "ci.iac_apply_on_pr": "infrastructure is applied from pull-request or feature-branch jobs, "
                          "before review",
    "ci.multi_env_deploy": "the same deploy commands deploy two or more environments (a matrix, "
                           "a parametrised target, one template or reusable workflow per stage)",
    "ci.scheduled": "jobs run on a schedule (cron); the evidence names what they run",
    "ci.load_tests": "CI runs load tests (locust, k6, jmeter, gatling, vegeta, artillery)",
    "ci.unparseable": "CI files that could not be parsed",
}

SYSTEMS = {"github-actions": "GitHub Actions", "gitlab-ci": "GitLab CI",
           "azure-pipelines": "Azure Pipelines", "jenkins": "Jenkins", "circleci": "CircleCI",
           "bitbucket-pipelines": "Bitbucket Pipelines", "aws-codepipeline": "AWS CodePipeline"}


def read_ci(snap: Snapshot) -> Scan:
    """Read every CI system's configuration once per snapshot."""
    def compute() -> Scan:
        scan = Scan()
        for reader in (scan_github, scan_gitlab, scan_azure, scan_jenkins, scan_circleci,
                       scan_bitbucket, scan_codepipeline, scan_unread):
            reader(snap, scan)
        scan.commands = [follow_compose(snap, c) for c in scan.commands]
        # A reusable workflow is read on its own (never triggered) and again for each caller:
        # keep the untriggered copy only when no caller reaches the same line.
        reached = {(c.path, c.line, c.text) for c in scan.commands if c.runs}
        scan.commands = [c for c in scan.commands
                         if c.runs or (c.path, c.line, c.text) not in reached]
        return scan
    result: Scan = snap.memo("ci.scan", compute)
    return result


def _where(scan: Scan) -> str:
    if not scan.files:
        return ("CI configuration (.github/workflows, .gitlab-ci.yml, azure-pipelines.yml, "
                "Jenkinsfile, .circleci/config.yml, bitbucket-pipelines.yml, CodePipeline in "
                "CloudFormation or CDK): none found")
    files = ", ".join(scan.files[:8])
    return files + (f" and {len(scan.files) - 8} more" if len(scan.files) > 8 else "")


def _cite(command: Command, detail: str) -> Evidence:
    return common.at(command.path, command.line, f"{command.job}: `{command.text}` {detail}")


def _on(command: Command, kinds: set[str]) -> str:
    runs = [r.detail for r in command.runs if r.kind in kinds]
    return "on " + "; ".join(dict.fromkeys(runs)) if runs else "never triggered"


def _triggers(command: Command) -> str:
    return "; ".join(dict.fromkeys(r.detail for r in command.runs)) or "never triggered"


def _bool(fact_id: str, support: list[Evidence], counter: list[Evidence], what: str,
          scan: Scan) -> Fact:
    """True with SUPPORT; else False with the search and the counter-evidence; None when a CI
    file could not be parsed (it may hold what was not found)."""
    if support:
        return common.value(fact_id, True, support)
    items = [*counter, *scan.notes[:5]]
    if scan.unparseable:
        broken = ", ".join(scan.unparseable)
        return common.unknown(fact_id, f"CI file(s) could not be parsed: {broken}",
                              [*scan.unparseable.values(), *items])
    if scan.unread:
        unread = ", ".join(scan.unread)
        return common.unknown(fact_id, f"CI/CD is also defined where the auditor does not read "
                              f"yet ({unread})", [*scan.unread.values(),
                                                  common.searched(what, _where(scan)), *items])
    return Fact(fact_id, False, (common.searched(what, _where(scan)), *items[:19]))


def collect(snap: Snapshot) -> list[Fact]:
    scan = read_ci(snap)
    return [present_fact(scan), systems_fact(scan), pr_tests_fact(scan),
            pr_validation_fact(scan), pr_skips_iac_fact(snap, scan), deploy_on_merge_fact(scan),
            iac_apply_on_merge_fact(scan), deploy_manual_only_fact(scan),
            iac_apply_on_pr_fact(scan), multi_env_fact(scan), scheduled_fact(scan),
            load_tests_fact(scan), unparseable_fact(scan)]


def present_fact(scan: Scan) -> Fact:
    """CI configuration defining at least one job (a file without jobs is not CI)."""
    support = [items[0] for items in scan.jobs.values()]
    return _bool("ci.present", support, [], "a CI configuration defining jobs", scan)


def systems_fact(scan: Scan) -> Fact:
    """The CI systems with at least one job, each cited at its first job."""
    systems = tuple(s for s in SYSTEMS if s in scan.jobs)
    if not systems and scan.unparseable:
        return common.unknown("ci.systems", "CI file(s) could not be parsed",
                              scan.unparseable.values())
    items = [replace(scan.jobs[s][0], detail=f"{SYSTEMS[s]}: {len(scan.jobs[s])} job(s)")
             for s in systems] or [common.searched("CI configuration", _where(scan))]
    return common.value("ci.systems", systems, items)


def _pr_fact(fact_id: str, scan: Scan, cls: str, what: str) -> Fact:
    """A pull-request job running a command of class CLS whose failure fails the job.

    Counter-evidence, cited when nothing counts: such commands that cannot fail (``|| true``,
    continue-on-error, allow_failure, pipes without pipefail, not the last line of a script
    without ``set -e``) and such commands that do not run for pull requests.
    """
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for command in scan.commands:
        if cls not in command.classes:
            continue
        on_pr = "pr" in command.kinds
        if on_pr and not command.soft:
            support.append(_cite(command, _on(command, {"pr"})))
        elif on_pr:
            counter.append(_cite(command, f"does not count: {command.soft}"))
        else:
            counter.append(_cite(command, f"does not run for pull requests ({_triggers(command)})"))
    return _bool(fact_id, support, counter, what, scan)


def pr_tests_fact(scan: Scan) -> Fact:
    """Tests (pytest, tox, nox, unittest, make test, npm test, go test, ...) in a job that pull
    or merge requests trigger. Branch pipelines of every branch count (GitLab jobs without
    rules, ``on: push`` without branch filters, Azure's default CI trigger); GitLab jobs without
    rules count only when ``workflow: rules`` let merge request or feature-branch pipelines
    through. Pipes count as masking unless ``set -o pipefail`` is set (GitHub's explicit
    ``shell: bash`` and CircleCI set it; GitLab's runner sets it only in bash images, which
    the repository does not show, so GitLab pipes need an explicit ``set -o pipefail``)."""
    return _pr_fact("ci.pr_tests", scan, "test",
                    "a test command (pytest, tox, nox, unittest, make test, ...) that can fail a "
                    "pull-request job")


def pr_validation_fact(scan: Scan) -> Fact:
    """Configuration/IaC validation in a pull-request job (same triggers and counter-evidence
    as ci.pr_tests)."""
    return _pr_fact("ci.pr_config_validation", scan, "validate",
                    "a configuration/IaC check (terraform validate/fmt -check/plan, tflint, "
                    "checkov, cfn-lint, bicep build, kubeconform, bundle validate, yamllint, "
                    "actionlint, trivy config) that can fail a pull-request job")


def pr_skips_iac_fact(snap: Snapshot, scan: Scan) -> Fact:
    """True when IaC files exist and every pull-request validation (tests or configuration
    checks) is limited by path filters that none of them matches, so a change to
    infrastructure alone is never validated before review."""
    iac_paths = iac.iac_files(snap)
    checks = [c for c in scan.commands
              if c.classes & {"test", "validate"} and not c.soft and "pr" in c.kinds]
    if not iac_paths:
        return _bool("ci.pr_skips_iac", [], [], "IaC files for path filters to skip", scan)
    if not checks:
        return _bool("ci.pr_skips_iac", [], [], "pull-request validation jobs", scan)
    skipping: dict[tuple[str, str], Evidence] = {}
    covering: dict[tuple[str, str], Evidence] = {}
    for command in checks:
        for run in (r for r in command.runs if r.kind == "pr"):
            key = (command.job, run.detail)
            if run.paths is None:
                detail = f"{command.job} runs `{command.text}` on {run.detail} for any path"
                covering.setdefault(key, common.at(command.path, command.line, detail))
                continue
            hits = [p for p in iac_paths if run.paths.triggered_by(p)]
            if hits:
                detail = (f"{command.job} on {run.detail}: {run.paths.describe()} matches IaC "
                          f"file {hits[0]}")
                covering.setdefault(key, common.at(command.path, command.line, detail))
            else:
                detail = (f"{command.job} on {run.detail}: no IaC file matches "
                          f"{run.paths.describe()} (e.g. {iac_paths[0]}, {len(iac_paths)} in all)")
                skipping.setdefault(key, common.at(command.path, command.line, detail))
    if covering:
        return Fact("ci.pr_skips_iac", False, tuple(covering.values())[:20])
    return common.value("ci.pr_skips_iac", True, skipping.values())


def _deploys(scan: Scan, classes: frozenset[str] = DEPLOYS) -> list[Command]:
    return [c for c in scan.commands if c.classes & classes]


def deploy_on_merge_fact(scan: Scan) -> Fact:
    """A deployment (model, app or IaC) run by a push/merge to the default branch or by a
    release tag, without a manual start. Manual-only deployments and image or package
    publishing (docker push is not a deployment) are cited when nothing counts."""
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for command in _deploys(scan, DEPLOYS | {"publish"}):
        automatic = command.kinds & {"merge", "tag"}
        if automatic and command.classes & DEPLOYS:
            support.append(_cite(command, _on(command, {"merge", "tag"})))
        elif automatic:
            counter.append(_cite(command, "publishes an image or package; not a deployment"))
        else:
            counter.append(_cite(command, f"deploys, but not on a merge ({_triggers(command)})"))
    return _bool("ci.deploy_on_merge", support, counter,
                 "a deploy step (terraform apply, bundle deploy, az ml online-deployment, "
                 "deploy actions, ...) triggered by a merge to the default branch or a tag", scan)


def iac_apply_on_merge_fact(scan: Scan) -> Fact:
    """IaC applied by a push/merge to the default branch; plans and manual applies are cited
    when nothing counts. An apply by a pipeline that applies only other stacks while its own
    stack (the pipeline and the infrastructure defined with it) is deployed by hand does not
    count: infrastructure changes there are not applied on merge."""
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for command in _deploys(scan, frozenset({"deploy_iac"})):
        if "merge" in command.kinds and not command.scope:
            support.append(_cite(command, _on(command, {"merge"})))
        elif "merge" in command.kinds:
            counter.append(common.at(command.path, command.line, f"{command.job}: applies IaC "
                                     f"on a merge, but {command.scope}"))
        else:
            counter.append(_cite(command, f"applies IaC, but not on a merge "
                                          f"({_triggers(command)})"))
    for command in scan.commands:
        if "validate" in command.classes and "merge" in command.kinds and re.search(
                r"\b(plan|preview|diff|synth)\b", command.text):
            counter.append(_cite(command, "only previews the change on a merge"))
    return _bool("ci.iac_apply_on_merge", support, counter,
                 "an IaC apply (terraform apply, databricks bundle deploy, cdk/sam deploy, "
                 "pulumi up, helm upgrade, kubectl apply, az deployment, CloudFormation deploy "
                 "actions) triggered by a merge to the default branch", scan)


def deploy_manual_only_fact(scan: Scan) -> Fact:
    """Deploy steps exist and every one of them starts only by hand."""
    deploys = [c for c in _deploys(scan) if c.runs]
    if not deploys:
        return _bool("ci.deploy_manual_only", [], [], "deploy steps", scan)
    automatic = [c for c in deploys if c.kinds - {"manual"}]
    if automatic:
        return Fact("ci.deploy_manual_only", False, tuple(
            _cite(c, f"deploys automatically ({_triggers(c)})") for c in automatic[:20]))
    return common.value("ci.deploy_manual_only", True,
                        [_cite(c, f"deploys only by hand ({_triggers(c)})") for c in deploys])


def iac_apply_on_pr_fact(scan: Scan) -> Fact:
    """IaC applied from a pull-request or feature-branch job, before review."""
    support = [_cite(c, _on(c, {"pr"})) for c in _deploys(scan, frozenset({"deploy_iac"}))
               if "pr" in c.kinds]
    return _bool("ci.iac_apply_on_pr", support, [],
                 "an IaC apply in a job triggered by pull requests or feature-branch pushes",
                 scan)


def _command_shape(text: str) -> str:
    """A deploy command with variables and environment names blanked, so ``-t dev`` and
    ``-t prod`` are the same command."""
    text = re.sub(r"\$\{\{[^}]*\}\}|\$\([^)]*\)|\$\{[^}]*\}|\$\w+|%\w+%", "<var>", text.lower())
    words = _env_words()
    text = re.sub(r"[a-z0-9]+", lambda m: "<env>" if m.group(0) in words else m.group(0), text)
    return " ".join(text.split())


def multi_env_fact(scan: Scan) -> Fact:
    """The same deploy command run for two or more environments: one command over a matrix
    of environments, or the same command (environment names and variables blanked) in jobs,
    templates or reusable-workflow calls for different environments."""
    groups: dict[str, list[Command]] = {}
    for command in _deploys(scan):
        if command.runs:
            groups.setdefault(_command_shape(command.text), []).append(command)
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for commands in groups.values():
        envs = {e for c in commands for e in c.envs}
        spread = {c.envs for c in commands if c.envs}
        if len(envs) > 1 and (any(c.env_param for c in commands) or len(spread) > 1):
            support += [_cite(c, f"deploys {', '.join(sorted(c.envs))}") for c in commands]
        else:
            counter.append(_cite(commands[0], "deploys "
                                 + (", ".join(sorted(envs)) if envs else "one unnamed target")))
    return _bool("ci.multi_env_deploy", support, counter,
                 "one deploy command run for two or more environments", scan)


def _runs_something(command: Command) -> bool:
    """A command worth naming: classified, or a command line that is not an action, task or
    pipe reference, an install or a print."""
    if command.classes:
        return True
    if command.text.startswith(("uses: ", "task: ", "pipe: ", "orb job ")):
        return False
    return any(segment and not any(p.search(segment) for p in _not_a_run())
               for segment, _ in split_shell(command.text))


def scheduled_fact(scan: Scan) -> Fact:
    """Jobs started by a schedule, each cited at its cron line with what it runs."""
    by_job: dict[tuple[str, str], list[Command]] = {}
    for command in scan.commands:
        if "schedule" in command.kinds:
            by_job.setdefault((command.job, command.path), []).append(command)
    support = []
    for (job, _), commands in by_job.items():
        run = next(r for r in commands[0].runs if r.kind == "schedule")
        doing = [c.text for c in commands if _runs_something(c)]
        what = "; ".join(dict.fromkeys(doing or [c.text for c in commands]))
        path, line = (run.path, run.line) if run.line else (commands[0].path, commands[0].line)
        support.append(common.at(path, line, f"{run.detail} runs {job}: {what}"))
    return _bool("ci.scheduled", support, [], "a scheduled (cron) trigger", scan)


def load_tests_fact(scan: Scan) -> Fact:
    """Load tests (locust, k6 run, jmeter, gatling, vegeta, artillery) run by some trigger."""
    support = [_cite(c, f"on {_triggers(c)}") for c in scan.commands
               if "load" in c.classes and c.runs]
    return _bool("ci.load_tests", support, [], "a load-test command", scan)


def unparseable_fact(scan: Scan) -> Fact:
    """CI files whose YAML (or text) could not be read, each with the parser's reason."""
    items = list(scan.unparseable.values()) or [
        common.searched("CI files that could not be parsed", _where(scan))]
    return common.value("ci.unparseable", tuple(scan.unparseable), items)
