"""One streaming pass over the first-parent history of the audited revision, shared by all checks.

Each commit carries its changed paths (a merge: what it brought in over its first parent), its
author and committer, and how it arrived: through a pull/merge request or pushed directly.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from mlops_auditor.gitcmd import Git, GitError, split_nul

# How hosting services and review tools mark a change that went through review, by subject or
# body. The first match names the kind.
PR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("github merge", re.compile(r"^Merge pull request #(\d+) from ", re.M)),
    ("azure devops", re.compile(r"^Merged PR (\d+):", re.M)),
    ("bitbucket", re.compile(r"^Merged in \S+ \(pull request #(\d+)\)", re.M)),
    ("gitlab", re.compile(r"^See merge request \S*!(\d+)\s*$", re.M)),
    ("gerrit", re.compile(r"^Reviewed-on: \S+", re.M)),
    ("phabricator", re.compile(r"^Differential Revision: \S+", re.M)),
    ("squash merge", re.compile(r"\(#(\d+)\)\s*$")),  # subject only, see _pr_kind
)
REVIEW_TRAILER = re.compile(r"^(Reviewed-by|Approved-by|Acked-by): .+$", re.M | re.I)
BOT = re.compile(r"\[bot\]|dependabot|renovate|github-actions|pre-commit-ci|greenkeeper|snyk-bot",
                 re.I)


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author: str
    author_email: str
    committer: str
    committer_email: str
    authored: int
    committed: int
    subject: str
    pr: str | None
    reviewed_trailer: bool
    changes: tuple[tuple[str, str], ...] = ()  # (status letter, path)

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    @property
    def is_bot(self) -> bool:
        return bool(BOT.search(self.author) or BOT.search(self.author_email))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p for _, p in self.changes)


@dataclass(frozen=True)
class Tag:
    name: str
    commit: str
    date: int


@dataclass
class History:
    """First-parent history, newest first. ``reason`` says why it is missing or incomplete."""

    commits: list[Commit] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    shallow: bool = False
    reason: str | None = None
    _git: Git | None = None

    @property
    def usable(self) -> bool:
        """True when the history can support judgements (a git repo, full history, commits)."""
        return self.reason is None and not self.shallow and bool(self.commits)

    @property
    def unusable_reason(self) -> str:
        if self.reason:
            return self.reason
        if self.shallow:
            return ("insufficient history: shallow clone (fetch full history with "
                    "`git fetch --unshallow`, or `fetch-depth: 0` in CI)")
        return "insufficient history: no commits"

    def portable(self) -> History:
        """This history without its git runner, to send to another process."""
        return History(self.commits, self.tags, self.shallow, self.reason)

    def branch_authors(self, merges: list[Commit]) -> dict[str, tuple[str, str]]:
        """Author (name, email) of the second parent of each merge, in one batched git call."""
        if self._git is None or not merges:
            return {}
        tips = "".join(c.parents[1] + "\n" for c in merges if len(c.parents) > 1)
        try:
            out = self._git.run("log", "--no-walk=unsorted", "--stdin", "-z",
                                "--format=%H%x1f%an%x1f%ae", input=tips.encode())
        except GitError:
            return {}
        authors: dict[str, tuple[str, str]] = {}
        for rec in split_nul(out):
            parts = rec.decode("utf-8", "replace").strip().split("\x1f")
            if len(parts) == 3:
                authors[parts[0]] = (parts[1], parts[2])
        return {c.sha: authors[c.parents[1]] for c in merges
                if len(c.parents) > 1 and c.parents[1] in authors}


def _pr_kind(subject: str, body: str) -> str | None:
    for kind, pattern in PR_PATTERNS:
        text = subject if kind == "squash merge" else body
        if pattern.search(text):
            return kind
    return None


_FIELDS = 9  # sha, parents, an, ae, cn, ce, at, ct, body
_FORMAT = "%x1e%H%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%at%x00%ct%x00%B%x00"
_STATUS = re.compile(r"\n?([ACDMRTUX])\Z")


def read_history(git: Git | None, commit: str | None, shallow: bool) -> History:
    if git is None or commit is None:
        return History(reason="no history: not a git repository or no commits")
    history = History(shallow=shallow, _git=git)
    try:
        history.commits = list(_parse_log(git.stream(
            "log", "--first-parent", "--diff-merges=first-parent", "--name-status",
            "--no-renames", "-z", f"--format={_FORMAT}", commit, "--")))
        history.tags = _read_tags(git, {c.sha for c in history.commits})
    except GitError as exc:
        history.reason = f"history unreadable: {exc}"
    return history


def _tokens(chunks: Iterator[bytes]) -> Iterator[str]:
    tail = b""
    for chunk in chunks:
        parts = (tail + chunk).split(b"\0")
        tail = parts.pop()
        for part in parts:
            yield part.decode("utf-8", "surrogateescape")
    if tail:
        yield tail.decode("utf-8", "surrogateescape")


def _parse_log(chunks: Iterator[bytes]) -> Iterator[Commit]:
    header: list[str] = []
    changes: list[tuple[str, str]] = []
    status: str | None = None
    in_header = False
    for token in _tokens(chunks):
        if status is not None:  # the token after a status letter is always a path
            changes.append((status, sys.intern(token)))
            status = None
            continue
        if token.startswith("\x1e") and (not in_header or len(header) >= _FIELDS):
            if header:
                yield _commit(header, changes)
            header, changes, in_header = [token[1:]], [], True
            continue
        if in_header and len(header) < _FIELDS:
            header.append(token)
            if len(header) == _FIELDS:
                in_header = False
            continue
        match = _STATUS.match(token)
        if match:
            status = match.group(1)
    if header:
        yield _commit(header, changes)


def _commit(header: list[str], changes: list[tuple[str, str]]) -> Commit:
    header = header + [""] * (_FIELDS - len(header))
    sha, parents, an, ae, cn, ce, at, ct, body = header
    subject = body.split("\n", 1)[0].strip()
    return Commit(
        sha=sha, parents=tuple(parents.split()), author=an, author_email=ae, committer=cn,
        committer_email=ce, authored=_int(at), committed=_int(ct), subject=subject,
        pr=_pr_kind(subject, body), reviewed_trailer=bool(REVIEW_TRAILER.search(body)),
        changes=tuple(changes),
    )


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _read_tags(git: Git, on_history: set[str]) -> list[Tag]:
    out = git.run("for-each-ref", "--sort=-creatordate",
                  "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00"
                  "%(creatordate:unix)%00", "refs/tags")
    tokens = [t.decode("utf-8", "replace") for t in out.split(b"\0")]
    tags: list[Tag] = []
    for i in range(0, len(tokens) - 4, 4):
        name, obj, peeled, date = (t.strip("\n") for t in tokens[i : i + 4])
        target = peeled or obj
        if target in on_history:
            tags.append(Tag(name, target, _int(date)))
    return tags
