"""The first-parent history read from real repositories built at test time."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_auditor.checks import process
from mlops_auditor.history import History
from mlops_auditor.snapshot import open_snapshot
from tests.gitrepo import RepoBuilder

GITHUB_WEB = "GitHub <noreply@github.com>"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[RepoBuilder]:
    builder = RepoBuilder(tmp_path / "repo")
    yield builder
    builder.close()


def history_of(path: Path) -> History:
    with open_snapshot(path) as snap:
        return snap.history


def test_each_pull_request_style_is_recognised_and_direct_pushes_are_not(
        repo: RepoBuilder) -> None:
    repo.commit("Initial import", {"README.md": "# demo\n"})
    repo.merge_pr(1, "feat-a", {"a.py": "A = 1\n"}, title="Add a")
    repo.commit("Add loader (#12)", {"loader.py": "x = 1\n"}, committer=GITHUB_WEB)
    repo.merge_pr(7, "feat-b", {"b.py": "B = 1\n"}, message=(
        "Merge branch 'feat-b' into 'main'\n\nAdd b\n\nSee merge request group/proj!7"))
    repo.merge_pr(42, "feat-c", {"c.py": "C = 1\n"}, message="Merged PR 42: Add c")
    repo.merge_pr(3, "feat-d", {"d.py": "D = 1\n"},
                  message="Merged in feat-d (pull request #3)\n\nAdd d")
    repo.commit("Fix parser\n\nChange-Id: I0123456789abcdef\n"
                "Reviewed-on: https://review.example.org/c/proj/+/123\n", {"e.py": "E = 1\n"})
    repo.commit("Fix scaler\n\nSummary: clamp values\n\n"
                "Differential Revision: https://phab.example.org/D42\n", {"f.py": "F = 1\n"})
    repo.commit("Fix typo", {"README.md": "# demo!\n"})
    repo.commit("Mention PR #12 in the notes, as in Merged PR 5: x", {"g.py": "G = 1\n"})
    repo.commit('Revert "Merge pull request #1 from team/feat-a"\n\nThis reverts commit 1.',
                {"a.py": None})
    repo.commit("Add (#12) support to the parser docs", {"h.py": "H = 1\n"})

    kinds = {c.subject: c.pr for c in history_of(repo.path).commits}

    assert kinds == {
        "Initial import": None,
        "Merge pull request #1 from team/feat-a": "github merge",
        "Add loader (#12)": "squash merge",
        "Merge branch 'feat-b' into 'main'": "gitlab",
        "Merged PR 42: Add c": "azure devops",
        "Merged in feat-d (pull request #3)": "bitbucket",
        "Fix parser": "gerrit",
        "Fix scaler": "phabricator",
        "Fix typo": None,
        "Mention PR #12 in the notes, as in Merged PR 5: x": None,
        'Revert "Merge pull request #1 from team/feat-a"': None,
        "Add (#12) support to the parser docs": None,
    }


def test_history_is_first_parent_newest_first_with_authors(repo: RepoBuilder) -> None:
    root = repo.commit("Initial import", {"README.md": "x\n"})
    merge = repo.merge_pr(1, "feat", {"a.py": "A = 1\n"}, author="Ada Dev <ada@example.com>",
                          merger="Bo Lead <bo@example.com>", committer=GITHUB_WEB)
    bump = repo.commit("Bump numpy from 1.26 to 2.0", {"req.txt": "numpy==2.0\n"},
                       author="dependabot[bot] <49699333+dependabot[bot]@users.noreply."
                              "github.com>")

    commits = history_of(repo.path).commits

    assert [c.sha for c in commits] == [bump, merge, root]  # the branch commit is not listed
    assert commits[0].is_bot and not commits[1].is_bot
    assert (commits[1].author, commits[1].author_email) == ("Bo Lead", "bo@example.com")
    assert (commits[1].committer, commits[1].committer_email) == ("GitHub", "noreply@github.com")
    assert commits[1].is_merge and not commits[2].is_merge
    assert commits[2].parents == ()


def test_merge_changes_are_relative_to_the_first_parent(repo: RepoBuilder) -> None:
    repo.commit("Initial import", {"README.md": "x\n"})
    repo.branch("feat")
    repo.checkout("feat")
    tip = repo.commit("Add feature", {"feature.py": "F = 1\n"}, author="Cy Dev <cy@example.com>")
    repo.checkout("main")
    main = repo.commit("Main only", {"main_only.py": "M = 1\n"})
    merge = repo.commit("Merge pull request #2 from team/feat", {"feature.py": "F = 1\n"},
                        author="Bo Lead <bo@example.com>", parents=[main, tip])

    history = history_of(repo.path)
    latest = history.commits[0]

    assert latest.sha == merge and latest.parents == (main, tip)
    assert latest.changes == (("A", "feature.py"),)
    assert history.commits[1].changes == (("A", "main_only.py"),)
    assert history.branch_authors([latest]) == {merge: ("Cy Dev", "cy@example.com")}


def test_tags_map_to_commits_annotated_and_lightweight(repo: RepoBuilder) -> None:
    first = repo.commit("Initial import", {"README.md": "x\n"})
    repo.tag("v0.1")
    second = repo.commit("Add model", {"model.py": "M = 1\n"})
    repo.annotated_tag("v0.2", "Release 0.2")
    repo.branch("side")
    repo.checkout("side")
    repo.commit("Side work", {"side.py": "S = 1\n"})
    repo.tag("v-side")  # not on the audited branch
    repo.checkout("main")

    tags = {t.name: t.commit for t in history_of(repo.path).tags}

    assert tags == {"v0.1": first, "v0.2": second}


def test_paths_with_spaces_and_unicode_are_kept_exactly(repo: RepoBuilder) -> None:
    names = ["docs/my notes.md", "données/été 2024.csv", "weird/\"quoted\" name.txt",
             "-leading-dash.py", "tab\there.txt"]
    repo.commit("Initial import", {"README.md": "x\n"})
    repo.commit("Add odd names", dict.fromkeys(names, "x\n"))
    repo.commit("Remove one", {"docs/my notes.md": None})

    commits = history_of(repo.path).commits

    assert sorted(commits[1].paths) == sorted(names)
    assert commits[0].changes == (("D", "docs/my notes.md"),)


def test_messages_with_markup_and_control_characters_parse_intact(repo: RepoBuilder) -> None:
    subject = 'Fix <script>alert("x")</script> & \x1b[31mred\x1b[0m \x07bell \x1efield\x1fsep'
    repo.commit("Initial import", {"README.md": "x\n"})
    odd = repo.commit(f"{subject}\n\nBody with \x1e and \x1f inside\nM\nnot/a/path\n\n"
                      "Reviewed-by: Bo Lead <bo@example.com>\n", {"a.py": "A = 1\n"})
    starts_odd = repo.commit("\x1e starts with a record separator", {"b.py": "B = 1\n"})
    last = repo.commit("Plain change", {"c.py": "C = 1\n"})

    commits = history_of(repo.path).commits

    assert [c.sha for c in commits[:3]] == [last, starts_odd, odd]
    assert commits[2].subject == subject
    assert commits[2].reviewed_trailer
    assert commits[2].changes == (("A", "a.py"),)
    assert commits[1].changes == (("A", "b.py"),)
    assert commits[0].changes == (("A", "c.py"),) and commits[0].subject == "Plain change"


def test_shallow_clone_is_not_usable(repo: RepoBuilder, tmp_path: Path) -> None:
    for n in range(3):
        repo.commit(f"Change {n}", {"a.txt": f"{n}\n"})
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{repo.path}",
                    str(clone)], check=True, capture_output=True)

    history = history_of(clone)

    assert history.shallow and not history.usable
    assert "shallow" in history.unusable_reason
    assert "insufficient history" in history.unusable_reason
    assert len(history.commits) == 1


def test_plain_folder_has_no_history(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x = 1\n", encoding="utf-8")

    with open_snapshot(tmp_path) as snap:
        history = snap.history
        assert snap.files == ("train.py",)

    assert not history.usable and history.commits == [] and history.tags == []
    assert history.unusable_reason.startswith("no history")


def test_empty_repository_audits_without_error(repo: RepoBuilder) -> None:
    with open_snapshot(repo.path) as snap:
        facts = {f.id: f for f in process.collect(snap)}
        assert snap.files == ()
        assert not snap.history.usable and snap.history.commits == []

    assert facts["process.versioned"].value is False
    assert facts["process.pr_share"].value is None
    assert facts["process.pr_share"].unknown


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_reading_history_changes_nothing_under_dot_git(repo: RepoBuilder) -> None:
    repo.commit("Initial import", {"README.md": "x\n", "src/a.py": "A = 1\n"})
    repo.merge_pr(1, "feat", {"src/b.py": "B = 1\n"}, author="Cy Dev <cy@example.com>")
    repo.annotated_tag("v1", "Release 1")
    repo.commit("Direct change", {"src/a.py": "A = 2\n"})
    (repo.path / "untracked.txt").write_text("local\n", encoding="utf-8")
    before = _digest_tree(repo.path / ".git")

    with open_snapshot(repo.path) as snap:
        history = snap.history
        merges = [c for c in history.commits if c.is_merge]
        assert history.branch_authors(merges)
        assert [t.name for t in history.tags] == ["v1"]
        assert snap.text("src/a.py").value == "A = 2\n"
        process.collect(snap)

    assert _digest_tree(repo.path / ".git") == before
