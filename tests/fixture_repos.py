"""Build the repositories under fixtures/repos/ into real git repositories at test time.

Each fixture is a folder with ``tree/`` (the files) and ``history.yaml``: the commits that add
those files (direct pushes, pull-request merges, squash merges), tags, and the expected answer of
every statement. Nested ``.git`` folders cannot be committed, so the history is data.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import yaml

from tests.gitrepo import RepoBuilder, pr_merge_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "repos"
# Tool caches a local run may leave in a fixture tree (ignored by git, never part of a fixture).
CACHES = {"__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache"}


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.iterdir() if (p / "history.yaml").is_file())


def load_spec(name: str) -> dict[str, Any]:
    spec = yaml.safe_load((FIXTURES / name / "history.yaml").read_text(encoding="utf-8"))
    assert isinstance(spec, dict), f"{name}/history.yaml: expected a mapping"
    return spec


def build(name: str, dest: Path) -> Path:
    """Build fixture NAME as a git repository at DEST and return DEST."""
    spec = load_spec(name)
    tree = FIXTURES / name / "tree"
    all_files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*")
                       if p.is_file() and not CACHES & set(p.relative_to(tree).parts))
    committed: set[str] = set()
    repo = RepoBuilder(dest)
    try:
        for step in spec.get("commits", []):
            chosen = [f for f in all_files
                      if any(fnmatch.fnmatchcase(f, g) for g in step.get("files", []))]
            files: dict[str, str | None] = {
                f: (tree / f).read_text(encoding="utf-8") for f in chosen}
            files.update(step.get("write", {}))
            for path in step.get("delete", []):
                files[path] = None
            committed.update(chosen)
            author = step.get("author", "Ada Dev <ada@example.com>")
            if "pr" in step:
                branch = step.get("branch", f"change-{step['pr']}")
                # style: github (default), gitlab, azure or bitbucket merge commits; a GitLab
                # body names the project (top-level `project:`, "group/name").
                message = pr_merge_message(step.get("style", "github"), step["pr"], branch,
                                           step["message"], spec.get("project", "team/project"))
                repo.merge_pr(step["pr"], branch, files,
                              author=author, merger=step.get("merger", "Bo Lead <bo@example.com>"),
                              title=step["message"], message=message)
            elif "squash" in step:
                repo.commit(f"{step['message']} (#{step['squash']})", files, author=author,
                            committer=step.get("committer", "GitHub <noreply@github.com>"))
            else:
                repo.commit(step["message"], files, author=author)
            for tag in step.get("tags", []):
                repo.tag(tag)
        missing = sorted(set(all_files) - committed)
        assert not missing, f"{name}: files in tree/ that no commit adds: {missing}"
    finally:
        repo.close()
    return dest
