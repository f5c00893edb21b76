"""Build real git repositories at test time with GitPython (our own trusted repositories only:
the auditor itself never uses GitPython on the repository it audits)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import git

BASE_TIME = 1_700_000_000  # fixed dates make every built repository byte-for-byte repeatable


@dataclass
class RepoBuilder:
    path: Path
    repo: git.Repo = field(init=False)
    clock: int = BASE_TIME

    def __post_init__(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.repo = git.Repo.init(self.path, initial_branch="main")
        with self.repo.config_writer() as cfg:
            cfg.set_value("commit", "gpgsign", "false")

    def commit(self, message: str, files: dict[str, str | None] | None = None,
               author: str = "Ada Dev <ada@example.com>", committer: str | None = None,
               parents: list[str] | None = None) -> str:
        """Write FILES (None deletes), stage them and commit; returns the new commit's sha."""
        for rel, content in (files or {}).items():
            target = self.path / rel
            if content is None:
                self.repo.index.remove([rel], working_tree=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(content), encoding="utf-8")
            self.repo.index.add([rel])
        self.clock += 3600
        when = f"{self.clock} +0000"
        a = _actor(author)
        c = _actor(committer or author)
        parent_commits = [self.repo.commit(p) for p in parents] if parents else None
        made = self.repo.index.commit(message, author=a, committer=c, author_date=when,
                                      commit_date=when, parent_commits=parent_commits,
                                      skip_hooks=True)
        return made.hexsha

    def wait(self, days: float) -> None:
        """Move the clock DAYS forward, so that the next commit comes that much later (the
        clock otherwise advances one hour per commit)."""
        self.clock += round(days * 86400)

    def branch(self, name: str, start: str | None = None) -> None:
        self.repo.create_head(name, start or self.repo.head.commit)

    def checkout(self, name: str) -> None:
        self.repo.heads[name].checkout()

    def merge_pr(self, number: int, branch: str, files: dict[str, str | None],
                 author: str = "Ada Dev <ada@example.com>",
                 merger: str = "Bo Lead <bo@example.com>", title: str = "change",
                 message: str | None = None, committer: str | None = None) -> str:
        """A GitHub-style pull request: a commit on BRANCH merged into main with --no-ff.
        MESSAGE replaces the merge commit's message (other hosting services' styles) and
        COMMITTER its committer (e.g. ``GitHub <noreply@github.com>`` for a web merge)."""
        main = self.repo.head.commit.hexsha
        self.branch(branch, main)
        self.checkout(branch)
        tip = self.commit(title, files, author=author)
        self.checkout("main")
        self.repo.head.reset(main, index=True, working_tree=True)
        for rel in files:
            if files[rel] is not None:
                target = self.path / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(textwrap.dedent(files[rel] or ""), encoding="utf-8")
                self.repo.index.add([rel])
            else:
                self.repo.index.remove([rel], working_tree=True)
        text = message or f"Merge pull request #{number} from team/{branch}\n\n{title}"
        return self.commit(text, author=merger, committer=committer, parents=[main, tip])

    def tag(self, name: str, message: str | None = None) -> None:
        self.repo.create_tag(name, message=message)

    def annotated_tag(self, name: str, message: str,
                      tagger: str = "Ada Dev <ada@example.com>") -> None:
        """An annotated tag on HEAD with a fixed tagger and date (no user config needed)."""
        who, _, email = tagger.partition(" <")
        env = {"GIT_COMMITTER_NAME": who, "GIT_COMMITTER_EMAIL": email.rstrip(">"),
               "GIT_COMMITTER_DATE": f"{self.clock} +0000"}
        with self.repo.git.custom_environment(**env):
            self.repo.git.tag("-a", name, "-m", message)

    def close(self) -> None:
        self.repo.close()


PR_STYLES = ("github", "gitlab", "azure", "bitbucket")


def pr_merge_message(style: str, number: int, branch: str, title: str,
                     project: str = "team/project") -> str | None:
    """The merge commit message a hosting service writes when it merges a pull/merge request:
    None for GitHub (``merge_pr``'s own default), GitLab's "See merge request group/project!N"
    body, Azure DevOps' "Merged PR N: title", Bitbucket's "Merged in branch (pull request #N)"."""
    if style == "github":
        return None
    if style == "gitlab":
        return (f"Merge branch '{branch}' into 'main'\n\n{title}\n\n"
                f"See merge request {project}!{number}")
    if style == "azure":
        return f"Merged PR {number}: {title}"
    if style == "bitbucket":
        return f"Merged in {branch} (pull request #{number})\n\n{title}"
    raise ValueError(f"unknown pull-request style {style!r}: use one of {', '.join(PR_STYLES)}")


def _actor(text: str) -> git.Actor:
    name, _, email = text.partition(" <")
    return git.Actor(name, email.rstrip(">"))
