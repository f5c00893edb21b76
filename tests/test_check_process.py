"""process: pull/merge request and review shares from real histories, committed review rules."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_auditor.checks import common, process
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Snapshot, open_snapshot
from tests.conftest import MakeSnapshot
from tests.gitrepo import RepoBuilder

GITHUB_WEB = "GitHub <noreply@github.com>"
ADA = "Ada Dev <ada@example.com>"
BO = "Bo Lead <bo@example.com>"
DEPENDABOT = "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>"


@pytest.fixture(autouse=True)
def judge_any_share(request: pytest.FixtureRequest) -> Iterator[None]:
    """These tests build tiny histories: judge a share from one commit on, except in the test
    of that minimum itself."""
    if "minimum" not in request.node.name:
        common.use_extensions([{"process": {"min_commits": 1}}])
    yield
    common.use_extensions([])


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[RepoBuilder]:
    builder = RepoBuilder(tmp_path / "repo")
    builder.commit("Initial import", {"README.md": "# demo\n"})
    yield builder
    builder.close()


def facts_of(path: Path) -> dict[str, Fact]:
    with open_snapshot(path) as snap:
        return {f.id: f for f in process.collect(snap)}


def details(fact: Fact) -> list[str]:
    return [e.detail for e in fact.evidence]


def squash(repo: RepoBuilder, n: int, author: str = ADA) -> str:
    return repo.commit(f"Change {n} (#{n})", {f"src/m{n}.py": f"N = {n}\n"}, author=author,
                       committer=GITHUB_WEB)


# -- version control and pull-request shares -------------------------------------------------


def test_every_fact_is_reported(repo: RepoBuilder) -> None:
    assert set(facts_of(repo.path)) == set(process.FACTS)


def test_shares_count_pull_requests_by_kind_and_cite_direct_pushes(repo: RepoBuilder) -> None:
    for n in range(1, 7):
        repo.merge_pr(n, f"feat-{n}", {f"src/f{n}.py": "x = 1\n"}, committer=GITHUB_WEB)
    for n in range(7, 10):
        squash(repo, n)
    push = repo.commit("Hotfix on main", {"src/f1.py": "x = 2\n"})

    facts = facts_of(repo.path)

    assert facts["process.versioned"].value is True
    assert facts["process.versioned"].evidence[0].commit == push
    assert facts["process.pr_share"].value == 0.9  # the initial import is not counted
    assert facts["process.pr_share_recent"].value == 0.9
    evidence = details(facts["process.pr_share"])
    assert evidence[0] == ("9 of 10 non-bot first-parent commits arrived through pull/merge "
                           "requests (github merge 6, squash merge 3)")
    assert any(d.startswith("not counted: the initial commit") for d in evidence)
    direct = [e for e in facts["process.pr_share"].evidence if e.detail.startswith("pushed")]
    assert [(e.commit, e.detail) for e in direct] == [
        (push, "pushed directly, no pull/merge request: Hotfix on main")]


def test_direct_pushes_and_local_merges_bring_the_share_down(repo: RepoBuilder) -> None:
    squash(repo, 1)
    repo.commit("Tweak", {"src/a.py": "a = 1\n"})
    repo.merge_pr(0, "local", {"src/b.py": "b = 1\n"},
                  message="Merge branch 'main' of github.com:team/demo")

    facts = facts_of(repo.path)

    assert facts["process.pr_share"].value == pytest.approx(1 / 3)
    assert len([d for d in details(facts["process.pr_share"]) if d.startswith("pushed")]) == 2


def test_recent_share_judges_only_the_latest_commits(
        repo: RepoBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    assert process.RECENT == 100
    monkeypatch.setattr(process, "RECENT", 3)
    for n in range(3):
        repo.commit(f"Early push {n}", {"src/early.py": f"n = {n}\n"})
    for n in range(3):
        squash(repo, n)

    facts = facts_of(repo.path)

    assert facts["process.pr_share"].value == 0.5
    assert facts["process.pr_share_recent"].value == 1.0
    assert details(facts["process.pr_share_recent"])[0].startswith(
        "3 of the latest 3 non-bot first-parent commits arrived")


def test_bot_commits_are_not_counted(repo: RepoBuilder) -> None:
    squash(repo, 1)
    repo.commit("Bump numpy from 1.26 to 2.0", {"req.txt": "numpy==2.0\n"}, author=DEPENDABOT)
    repo.commit("[pre-commit.ci] auto fixes", {"src/m1.py": "N = 1\n"},
                author="pre-commit-ci[bot] <66853113+pre-commit-ci[bot]@users.noreply.github.com>")
    repo.commit("Update dependency x to v2", {"req.txt": "x==2\n"},
                author="renovate[bot] <29139614+renovate[bot]@users.noreply.github.com>")

    facts = facts_of(repo.path)

    assert facts["process.pr_share"].value == 1.0
    assert "3 bot commit(s)" in details(facts["process.pr_share"])[1]


def test_merge_bot_merges_count_as_pull_requests(repo: RepoBuilder) -> None:
    repo.merge_pr(1, "a", {"a.py": "a = 1\n"}, author=ADA,
                  merger="mergify[bot] <37929162+mergify[bot]@users.noreply.github.com>")
    repo.commit("Direct", {"b.py": "b = 1\n"})

    facts = facts_of(repo.path)

    assert facts["process.pr_share"].value == 0.5
    assert facts["process.reviewed_share"].value is None  # a bot pressing merge is no review
    assert "merge made by a service account or bot 1" in (
        facts["process.reviewed_share"].unknown or "")


def test_only_the_initial_commit_is_insufficient_history(repo: RepoBuilder) -> None:
    facts = facts_of(repo.path)

    assert facts["process.versioned"].value is True
    assert facts["process.pr_share"].value is None
    assert "insufficient history" in (facts["process.pr_share"].unknown or "")


def test_shallow_clone_gives_no_share_and_says_how_to_fetch(
        repo: RepoBuilder, tmp_path: Path) -> None:
    for n in range(3):
        squash(repo, n)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{repo.path}",
                    str(clone)], check=True, capture_output=True)

    facts = facts_of(clone)

    assert facts["process.versioned"].value is True
    for fact_id in ("process.pr_share", "process.pr_share_recent", "process.iac_pr_share",
                    "process.reviewed_share"):
        reason = facts[fact_id].unknown or ""
        assert facts[fact_id].value is None, fact_id
        assert "insufficient history" in reason and "--unshallow" in reason


def test_plain_folder_versioning_and_shares_are_unknown(snapshot: MakeSnapshot) -> None:
    facts = {f.id: f for f in process.collect(snapshot({"train.py": "x = 1\n"}))}

    assert facts["process.versioned"].value is None  # it may be an export of a repository
    assert "git repository" in details(facts["process.versioned"])[0]
    assert facts["process.pr_share"].value is None
    assert (facts["process.pr_share"].unknown or "").startswith("no history")
    assert facts["process.reviewed_share"].value is None


# -- IaC share ---------------------------------------------------------------------------------


def with_iac(monkeypatch: pytest.MonkeyPatch, paths: list[str]) -> None:
    def fake(snap: Snapshot) -> list[str]:
        return paths

    monkeypatch.setattr(process, "iac_files", fake)


def test_iac_share_counts_only_commits_touching_iac(
        repo: RepoBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    with_iac(monkeypatch, ["infra/main.tf", "infra/vars.tf"])
    repo.merge_pr(1, "infra", {"infra/main.tf": "resource \"x\" \"y\" {}\n"})
    push = repo.commit("Quick infra fix", {"infra/vars.tf": "variable \"v\" {}\n"})
    repo.commit("Code push", {"src/a.py": "a = 1\n"})
    repo.commit("Bump", {"infra/vars.tf": "variable \"w\" {}\n"}, author=DEPENDABOT)

    fact = facts_of(repo.path)["process.iac_pr_share"]

    assert fact.value == 0.5
    assert details(fact)[0].startswith("1 of 2 non-bot first-parent commits changing IaC files "
                                       "(infra/main.tf, infra/vars.tf)")
    assert push in [e.commit for e in fact.evidence]


def test_iac_share_uses_the_iac_check_files(repo: RepoBuilder) -> None:
    repo.merge_pr(1, "infra", {"infra/main.tf": 'resource "aws_s3_bucket" "data" {}\n'})
    repo.commit("Code push", {"src/a.py": "a = 1\n"})

    fact = facts_of(repo.path)["process.iac_pr_share"]

    assert fact.value == 1.0
    assert "(infra/main.tf)" in details(fact)[0]


def test_iac_share_is_unknown_without_iac_changes(
        repo: RepoBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("Code push", {"src/a.py": "a = 1\n"})
    with_iac(monkeypatch, [])
    assert facts_of(repo.path)["process.iac_pr_share"].value is None

    with_iac(monkeypatch, ["README.md"])  # only the initial import touched it
    fact = facts_of(repo.path)["process.iac_pr_share"]
    assert fact.value is None
    assert "no first-parent commit" in (fact.unknown or "")


# -- reviews -----------------------------------------------------------------------------------


def test_merges_by_another_person_are_reviewed(repo: RepoBuilder) -> None:
    repo.merge_pr(1, "a", {"a.py": "a = 1\n"}, author=ADA, merger=BO, committer=GITHUB_WEB)
    repo.merge_pr(2, "b", {"b.py": "b = 1\n"}, author=BO, merger=ADA)

    fact = facts_of(repo.path)["process.reviewed_share"]

    assert fact.value == 1.0
    assert details(fact)[0] == ("2 of 2 pull/merge requests in the latest 2 non-bot "
                                "first-parent commits show another person's review "
                                "(merged by another person 2)")


def test_merges_by_the_branch_author_are_not_reviewed(repo: RepoBuilder) -> None:
    own = repo.merge_pr(1, "a", {"a.py": "a = 1\n"}, author=ADA,
                        merger="Ada Dev <ADA@Example.com>", committer=GITHUB_WEB)
    renamed = repo.merge_pr(2, "b", {"b.py": "b = 1\n"}, author=ADA,
                            merger="ada dev <ada@laptop.local>")
    repo.merge_pr(3, "c", {"c.py": "c = 1\n"}, author=ADA, merger=BO)
    repo.merge_pr(4, "d", {"d.py": "d = 1\n"},
                  author="Cy <1234+cy@users.noreply.github.com>",
                  merger="Cy Dev <cy@users.noreply.github.com>")

    fact = facts_of(repo.path)["process.reviewed_share"]

    assert fact.value == 0.25
    self_merged = [e.commit for e in fact.evidence if e.detail.startswith("self-merged")]
    assert own in self_merged and renamed in self_merged and len(self_merged) == 3


def test_squash_merges_alone_leave_reviews_unknown(repo: RepoBuilder) -> None:
    for n in range(3):
        squash(repo, n)

    fact = facts_of(repo.path)["process.reviewed_share"]

    assert fact.value is None
    assert "squash merge 3" in (fact.unknown or "")
    assert "says nothing about approvals" in (fact.unknown or "")


def test_trailers_gerrit_and_bot_branches(repo: RepoBuilder) -> None:
    squash(repo, 1)  # not observable: left out
    repo.commit("Fix a\n\nReviewed-on: https://review.example.org/c/p/+/1\n", {"a.py": "a\n"})
    repo.commit("Fix b (#5)\n\nApproved-by: Bo Lead <bo@example.com>\n", {"b.py": "b\n"},
                committer=GITHUB_WEB)
    repo.merge_pr(6, "dependabot/pip/numpy", {"req.txt": "numpy==2\n"}, author=DEPENDABOT,
                  merger=ADA)
    repo.merge_pr(7, "c", {"c.py": "c\n"}, author=ADA, merger=ADA)

    fact = facts_of(repo.path)["process.reviewed_share"]

    assert fact.value == pytest.approx(2 / 3)
    assert "gerrit 1" in details(fact)[0] and "review trailer 1" in details(fact)[0]
    assert details(fact)[1] == ("not counted, nothing to compare: bot-authored branch 1, "
                                "squash merge 1")


def test_no_pull_requests_means_no_review_share(repo: RepoBuilder) -> None:
    repo.commit("Direct", {"a.py": "a\n"})

    fact = facts_of(repo.path)["process.reviewed_share"]

    assert fact.value is None
    assert "no pull/merge request" in (fact.unknown or "")


def test_same_person_compares_emails_and_names() -> None:
    assert process.same_person(("A", "Ada@Example.com"), ("B", "ada@example.com"))
    assert process.same_person(("Ada  Dev", "x@a"), ("ada dev", "y@b"))
    assert process.same_person(("a", "42+ada@users.noreply.github.com"),
                               ("b", "ada@users.noreply.github.com"))
    assert not process.same_person(("Ada", "ada@example.com"), ("Bo", "bo@example.com"))
    assert not process.same_person(("", ""), ("", ""))


# -- CODEOWNERS --------------------------------------------------------------------------------


def fact(snap: Snapshot, fact_id: str) -> Fact:
    return next(f for f in process.collect(snap) if f.id == fact_id)


def test_codeowners_rule_is_found(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".github/CODEOWNERS": """\
        # owners
        *.py  @team/ml  ada@example.com
        """})

    result = fact(snap, "process.codeowners")

    assert result.value is True
    assert (result.evidence[0].path, result.evidence[0].line) == (".github/CODEOWNERS", 2)


def test_codeowners_with_only_comments_is_not_a_rule(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"CODEOWNERS": """\
        # *.py @team/ml
        [Data scientists] @team/ds

        /docs/
        *.md  # @nobody
        """})

    result = fact(snap, "process.codeowners")

    assert result.value is False
    assert "did not find a CODEOWNERS rule" in result.evidence[0].detail
    assert result.evidence[1].path == "CODEOWNERS"
    assert "holds no rule" in result.evidence[1].detail


def test_codeowners_elsewhere_does_not_count(snapshot: MakeSnapshot) -> None:
    result = fact(snapshot({"src/CODEOWNERS": "* @team/ml\n"}), "process.codeowners")
    assert result.value is False


# -- committed review rules ------------------------------------------------------------------


def ruleset(approvals: int, include: str = "~DEFAULT_BRANCH", enforcement: str = "active",
            target: str = "branch", exclude: str = "") -> str:
    return f"""\
        {{
          "name": "protect",
          "target": "{target}",
          "enforcement": "{enforcement}",
          "conditions": {{"ref_name": {{"include": ["{include}"],
                                      "exclude": [{f'"{exclude}"' if exclude else ""}]}}}},
          "rules": [
            {{"type": "deletion"}},
            {{"type": "pull_request",
             "parameters": {{"required_approving_review_count": {approvals},
                            "dismiss_stale_reviews_on_push": true}}}}
          ]
        }}
        """


@pytest.mark.parametrize("approvals", [0, 2])
def test_ruleset_approvals_are_read(snapshot: MakeSnapshot, approvals: int) -> None:
    snap = snapshot({".github/rulesets/main.json": ruleset(approvals)})

    result = fact(snap, "process.ruleset_approvals")

    assert result.value == approvals
    assert result.evidence[0].path == ".github/rulesets/main.json"
    assert result.evidence[0].line == 10
    assert f"need {approvals} approving review(s)" in result.evidence[0].detail


def test_most_restrictive_ruleset_applies(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".github/rulesets/a.json": ruleset(0, include="refs/heads/main"),
                     ".github/rulesets/b.json": ruleset(2, include="~ALL")})
    assert fact(snap, "process.ruleset_approvals").value == 2


@pytest.mark.parametrize("kwargs, note", [
    ({"enforcement": "disabled"}, "not enforced"),
    ({"enforcement": "evaluate"}, "not enforced"),
    ({"target": "tag"}, "targets tags"),
    ({"include": "refs/heads/release/*"}, "does not target the default branch"),
    ({"include": "~ALL", "exclude": "~DEFAULT_BRANCH"}, "does not target the default branch"),
])
def test_rulesets_that_do_not_bind_the_default_branch(
        snapshot: MakeSnapshot, kwargs: dict[str, str], note: str) -> None:
    snap = snapshot({".github/rulesets/r.json": ruleset(2, **kwargs)})

    result = fact(snap, "process.ruleset_approvals")

    assert result.value is None
    assert any(note in e.detail for e in result.evidence)


def test_settings_yml_branch_protection(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".github/settings.yml": """\
        repository:
          name: demo
        branches:
          - name: gh-pages
            protection: null
          - name: main
            protection:
              required_pull_request_reviews:
                required_approving_review_count: 1
        """})

    result = fact(snap, "process.ruleset_approvals")

    assert result.value == 1
    assert (result.evidence[0].path, result.evidence[0].line) == (".github/settings.yml", 9)
    assert "'gh-pages', not the default branch" in result.evidence[1].detail


def test_settings_yml_unprotected_default_branch_requires_no_approval(
        snapshot: MakeSnapshot) -> None:
    snap = snapshot({".github/settings.yml": """\
        branches:
          - name: main
            protection:
              required_pull_request_reviews: null
              enforce_admins: true
        """})

    result = fact(snap, "process.ruleset_approvals")

    assert result.value == 0
    assert result.evidence[0].path == ".github/settings.yml"
    assert "requires no pull-request review" in result.evidence[0].detail


def test_no_committed_rule_is_unknown_not_zero(snapshot: MakeSnapshot) -> None:
    result = fact(snapshot({"README.md": "# demo\n"}), "process.ruleset_approvals")

    assert result.value is None
    assert "cannot be seen" in (result.unknown or "")
    assert "did not find" in result.evidence[0].detail


def test_unparseable_ruleset_is_unknown_with_evidence(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".github/rulesets/r.json": "{ not json",
                     ".github/settings.yml": "branches: [\n"})

    result = fact(snap, "process.ruleset_approvals")

    assert result.value is None
    assert {e.path for e in result.evidence} == {".github/rulesets/r.json",
                                                ".github/settings.yml"}
    assert all(e.detail.startswith("unparseable") for e in result.evidence)


def test_odd_rule_shapes_do_not_raise(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".github/rulesets/a.json": "[1, \"x\", {\"rules\": 3}]",
                     ".github/rulesets/b.json": "null",
                     ".github/settings.yml": "branches: [main, {protection: 3}]\nrulesets: x\n",
                     "CODEOWNERS": "\n"})

    facts = {f.id: f for f in process.collect(snap)}

    assert facts["process.ruleset_approvals"].value is None
    assert facts["process.codeowners"].value is False


def test_minimum_commits_a_share_needs(repo: RepoBuilder) -> None:
    """Fewer commits than the catalogue's min_commits say nothing about a practice."""
    repo.merge_pr(1, "a", {"a.py": "x = 1\n"})
    repo.merge_pr(2, "b", {"b.py": "x = 2\n"})
    fact = facts_of(repo.path)["process.pr_share"]
    assert fact.value is None
    assert "too few to judge" in (fact.unknown or "")
    assert fact.evidence[0].detail.startswith("2 of 2 non-bot first-parent commits")


def test_iac_share_over_the_recent_window(repo: RepoBuilder,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("push infra", {"infra/main.tf": 'resource "aws_s3_bucket" "a" {}\n'})
    repo.merge_pr(1, "b", {"infra/main.tf": 'resource "aws_s3_bucket" "b" {}\n'})
    repo.merge_pr(2, "c", {"infra/main.tf": 'resource "aws_s3_bucket" "c" {}\n'})
    monkeypatch.setattr(process, "RECENT", 2)
    found = facts_of(repo.path)
    assert abs(found["process.iac_pr_share"].value - 2 / 3) < 1e-9
    assert found["process.iac_pr_share_recent"].value == 1.0
    assert "recent non-bot" in found["process.iac_pr_share_recent"].evidence[0].detail
