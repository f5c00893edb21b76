"""The audited tree, opened once per audit: the file index, capped cached readers and the history.

In a git repository the tree is the committed tree of HEAD (or ``--rev``), read from the object
store: the working tree, its symlinks and its uncommitted changes are never read (the result says
when they exist). A plain folder is walked without following symlinks.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_auditor import parsers
from mlops_auditor.errors import InputError
from mlops_auditor.gitcmd import Git, GitError, open_repository, split_nul
from mlops_auditor.history import History, read_history
from mlops_auditor.model import RepoInfo

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_HCL_BYTES = 512 * 1024
MAX_FILES = 500_000
MISSING = -1  # Entry.size of a listed file whose object is not in the repository
# Tracked folders that are not the project's own: vendored code and test data (a fixture's
# Terraform file is not the project's infrastructure). Their files are left out of every check;
# the result says how many.
DEFAULT_EXCLUDE = ("**/node_modules/**", "**/site-packages/**", "**/.venv/**", "**/venv/**",
                   "**/vendor/**", "**/third_party/**", "**/fixtures/**", "**/testdata/**",
                   "**/test_data/**", "**/test-data/**")
# Folders a plain (non-git) walk skips: environments and caches, never the project's own files.
_PLAIN_SKIP = {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache",
               ".ruff_cache", ".pytest_cache", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class Entry:
    path: str
    kind: str  # "file", "symlink" or "submodule"
    size: int
    oid: str | None = None


@dataclass(frozen=True)
class Parsed:
    """What a reader returns: the value, or why there is none (``error``)."""

    path: str
    value: Any
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Snapshot:
    """Read-only view of one revision of a repository (or of a plain folder)."""

    def __init__(self, root: Path, entries: dict[str, Entry], info: RepoInfo,
                 git: Git | None = None, commit: str | None = None,
                 exclude: tuple[str, ...] = DEFAULT_EXCLUDE) -> None:
        self.root = root
        left_out = set(matching(entries, *exclude))
        self.excluded: tuple[str, ...] = tuple(sorted(left_out))
        entries = {p: e for p, e in entries.items() if p not in left_out}
        if left_out:
            folders = ", ".join(sorted({_top(p, exclude) for p in left_out})[:5])
            info = replace(info, notes=(*info.notes, f"{len(left_out)} tracked file(s) in vendored "
                                        f"or test-data folders were left out ({folders})"))
        self.info = info
        self._entries = entries
        self._git = git
        self._commit = commit
        self._batch: subprocess.Popen[bytes] | None = None
        self._text: dict[str, Parsed] = {}
        self._parsed: dict[tuple[str, str], Parsed] = {}
        self.problems: dict[str, str] = {}
        def kind(name: str) -> tuple[str, ...]:
            return tuple(sorted(p for p, e in entries.items() if e.kind == name))

        self.files = kind("file")
        self.symlinks = kind("symlink")
        self.submodules = kind("submodule")
        self._cache: dict[str, Any] = {}
        # Checks ask for the same patterns many times over the same files: each answer is kept.
        self._globbed: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._by_extension: dict[str, list[int]] | None = None
        self._history_source: Callable[[], History | None] | None = None

    def restrict(self, exclude: tuple[str, ...] = (), root: str | None = None) -> None:
        """Leave out, for every check, the files matching EXCLUDE and, with ROOT (a folder of
        a monorepo), every file outside ROOT; the result says so. Paths keep their place in the
        repository. Call it before any check reads the snapshot."""
        prefix = root.strip("/") + "/" if root else ""
        left_out = set(matching(self._entries, *exclude)) if exclude else set()
        outside = {p for p in self._entries if prefix and not p.startswith(prefix)}
        if not left_out and not outside and not prefix:
            return
        self._entries = {p: e for p, e in self._entries.items()
                         if p not in left_out and p not in outside}
        self.excluded = tuple(sorted({*self.excluded, *left_out}))
        notes = list(self.info.notes)
        if left_out:
            notes.append(f"{len(left_out)} tracked file(s) matching the configured exclude "
                         "patterns were left out")
        if prefix:
            notes.append(f"only files under {prefix} are audited ({len(outside)} left out); "
                         "history facts (commits, tags, reviews) are still the whole repository's")
        self.info = replace(self.info, notes=tuple(notes))
        kinds = {name: tuple(sorted(p for p, e in self._entries.items() if e.kind == name))
                 for name in ("file", "symlink", "submodule")}
        self.files, self.symlinks, self.submodules = (kinds["file"], kinds["symlink"],
                                                      kinds["submodule"])
        self._cache.clear()
        self._globbed.clear()
        self._by_extension = None
        self._text = {p: v for p, v in self._text.items() if p in self._entries}
        self._parsed = {k: v for k, v in self._parsed.items() if k[1] in self._entries}

    # -- index ---------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        entry = self._entries.get(path)
        return entry is not None and entry.kind == "file"

    def size(self, path: str) -> int:
        return self._entries[path].size

    def glob(self, *patterns: str) -> list[str]:
        """Tracked regular files matching any pattern. ``**/`` matches any depth including none;
        a pattern without a slash matches the file name anywhere."""
        if patterns not in self._globbed:
            combined = _combined_glob(patterns)
            self._globbed[patterns] = tuple(f for f in self._candidates(patterns)
                                            if combined.match(f))
        return list(self._globbed[patterns])

    def _candidates(self, patterns: tuple[str, ...]) -> Sequence[str]:
        """The files that can match PATTERNS, in order: when every pattern names the extension
        of what it matches (``*.py``, ``Dockerfile``, ``**/docs/*.md``), only the files with
        those extensions; else all of them. Most of the checks' patterns are of that kind."""
        wanted: set[str] = set()
        for pattern in patterns:
            extension = _required_extension(pattern)
            if extension is None:
                return self.files
            wanted.add(extension)
        if self._by_extension is None:
            index: dict[str, list[int]] = {}
            for i, path in enumerate(self.files):
                index.setdefault(_extension(path), []).append(i)
            self._by_extension = index
        buckets = [self._by_extension.get(e, []) for e in (*wanted, _ODD)]
        return [self.files[i] for i in sorted(itertools.chain.from_iterable(buckets))]

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Share one computed value between checks (e.g. the list of IaC paths)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- readers ---------------------------------------------------------------------------

    def text(self, path: str, limit: int = MAX_FILE_BYTES) -> Parsed:
        """UTF-8 text of a tracked file, BOM removed and line ends normalised to ``\\n``."""
        if path in self._text:
            return self._text[path]
        result = self._read_text(path, limit)
        if result.error:
            self.problems[path] = result.error
        self._text[path] = result
        return result

    def _read_text(self, path: str, limit: int) -> Parsed:
        entry = self._entries.get(path)
        if entry is None or entry.kind != "file":
            return Parsed(path, None, "not a tracked regular file")
        if entry.size == MISSING:
            return Parsed(path, None, "object missing from the repository (partial or incomplete "
                          "clone)")
        if entry.size > limit:
            return Parsed(path, None,
                          f"file too large to read ({entry.size:,} bytes, cap {limit:,})")
        try:
            data = self._read_bytes(entry)
        except OSError as exc:
            return Parsed(path, None, f"unreadable: {exc.strerror or exc}")
        if b"\0" in data[:8192]:
            return Parsed(path, None, "binary content")
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return Parsed(path, None, "not valid UTF-8")
        return Parsed(path, text.replace("\r\n", "\n").replace("\r", "\n"))

    def lines(self, path: str) -> list[str]:
        parsed = self.text(path)
        return parsed.value.split("\n") if parsed.ok else []

    def yaml(self, path: str) -> Parsed:
        return self._parse(path, "yaml", parsers.load_yaml)

    def yaml_all(self, path: str) -> Parsed:
        return self._parse(path, "yaml_all", parsers.load_yaml_all)

    def json(self, path: str) -> Parsed:
        return self._parse(path, "json", parsers.load_json)

    def toml(self, path: str) -> Parsed:
        return self._parse(path, "toml", parsers.load_toml)

    def hcl(self, path: str) -> Parsed:
        return self._parse(path, "hcl", parsers.load_hcl, limit=MAX_HCL_BYTES)

    def python(self, path: str) -> Parsed:
        """The syntax tree of a Python file (``ast.parse`` only: nothing is imported or run)."""
        return self._parse(path, "python", parsers.load_python)

    def notebook(self, path: str) -> Parsed:
        """A Jupyter notebook's cells as ``(cell_type, source)`` pairs, outputs left out."""
        return self._parse(path, "notebook", parsers.load_notebook)

    def _parse(self, path: str, kind: str, load: Callable[[str], Any],
               limit: int = MAX_FILE_BYTES) -> Parsed:
        key = (kind, path)
        if key not in self._parsed:
            text = self.text(path, limit)
            if not text.ok:
                result = text
            else:
                try:
                    result = Parsed(path, load(text.value))
                except parsers.ParseError as exc:
                    result = Parsed(path, None, str(exc))
                    self.problems[path] = str(exc)
            self._parsed[key] = result
        return self._parsed[key]

    def _read_bytes(self, entry: Entry) -> bytes:
        if self._git is None:
            return self._read_plain(entry.path)
        assert entry.oid is not None
        if self._batch is None or self._batch.poll() is not None:
            self._batch = self._git.popen_batch()
        assert self._batch.stdin is not None and self._batch.stdout is not None
        self._batch.stdin.write(entry.oid.encode() + b"\n")
        self._batch.stdin.flush()
        header = self._batch.stdout.readline().split()
        if len(header) != 3:
            raise OSError(0, "object missing from the repository")
        size = int(header[2])
        data = self._batch.stdout.read(size)
        self._batch.stdout.read(1)
        return data

    def _read_plain(self, path: str) -> bytes:
        full = self.root / path
        # Refuse anything that became a link after the walk (no reads outside the tree).
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(full, flags)
        try:
            with os.fdopen(fd, "rb") as fh:
                fd = -1
                return fh.read(MAX_FILE_BYTES + 1)
        finally:
            if fd >= 0:
                os.close(fd)

    # -- history -----------------------------------------------------------------------

    @cached_property
    def history(self) -> History:
        """The first-parent history of the audited revision, read in one pass on first use (or
        taken from another process that read it, see ``receive_history``)."""
        if self._history_source is not None:
            given, self._history_source = self._history_source(), None
            if given is not None:
                return given
        return read_history(self._git, self._commit, shallow=self.info.shallow)

    def receive_history(self, source: Callable[[], History | None]) -> None:
        """Take the history from SOURCE when a check first asks for it, instead of reading it
        (a forked process gets it from the one that reads it anyway); None from SOURCE means
        read it after all."""
        self._history_source = source

    def close(self) -> None:
        if self._batch is not None:
            if self._batch.stdin:
                self._batch.stdin.close()
            if self._batch.stdout:
                self._batch.stdout.close()
            self._batch.wait()
            self._batch = None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_GLOB_CACHE: dict[str, re.Pattern[str]] = {}
_ODD = "\0"  # the index key of files whose extension is not plain ASCII (always candidates)


def _extension(path: str) -> str:
    """The lower-case extension of PATH's file name ("" for none)."""
    name = path.rsplit("/", 1)[-1]
    if not name.isascii():
        return _ODD  # case-insensitive matching of other letters is left to the pattern
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def _required_extension(pattern: str) -> str | None:
    """The extension every path matching PATTERN has, when the pattern decides it: its text
    after the last wildcard holds a dot in the file name (``*.py``, ``*.tar.gz``) or is a whole
    file name (``Dockerfile``, ``**/docs/index.md``). None when it does not (``*file``,
    ``docs/**``, ``*.[ch]``)."""
    cut = max(pattern.rfind(c) for c in "*?[]")
    tail = pattern[cut + 1:]
    name = tail.rsplit("/", 1)[-1]
    if not name or not name.isascii():
        return None
    if "." in name:
        return name.rsplit(".", 1)[1].lower()
    whole = cut == -1 or "/" in tail
    return "" if whole else None


def _combined_glob(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One regular expression matching any of PATTERNS (one pass per file, not one per pattern)."""
    if patterns not in _COMBINED:
        parts = [_compile_glob(p).pattern for p in patterns] or [r"(?!)"]
        _COMBINED[patterns] = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)
    return _COMBINED[patterns]


_COMBINED: dict[tuple[str, ...], re.Pattern[str]] = {}


def _compile_glob(original: str) -> re.Pattern[str]:
    if original in _GLOB_CACHE:
        return _GLOB_CACHE[original]
    pattern = original if "/" in original else "**/" + original
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        else:
            c = pattern[i]
            if c == "*":
                parts.append("[^/]*")
            elif c == "?":
                parts.append("[^/]")
            elif c == "[":
                j = pattern.find("]", i)
                if j == -1:
                    parts.append(re.escape(c))
                else:
                    parts.append(fnmatch.translate(pattern[i : j + 1])[4:-3])
                    i = j
            else:
                parts.append(re.escape(c))
            i += 1
    compiled = re.compile("".join(parts) + r"\Z", re.IGNORECASE)
    _GLOB_CACHE[original] = compiled
    return compiled


def open_snapshot(path: Path, rev: str | None = None) -> Snapshot:
    """Open PATH for auditing: a git repository at REV (default HEAD), or a plain folder."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if not path.is_dir():
        raise InputError(f"{path}: not a folder")
    root = path.resolve()
    git = open_repository(root)
    if git is None:
        if rev is not None:
            raise InputError(f"{path}: --rev needs a git repository, and this folder is not one")
        entries, notes = _walk_plain(root)
        info = RepoInfo(path=str(path), is_git=False, head=None, branch=None, shallow=False,
                        rev=None, notes=notes)
        return Snapshot(root, entries, info)
    return _open_git(root, path, git, rev)


def _open_git(root: Path, shown: Path, git: Git, rev: str | None) -> Snapshot:
    target = rev or "HEAD"
    if target.startswith("-"):
        raise InputError(f"--rev {rev!r}: a revision cannot start with '-'")
    try:
        commit = git.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                         f"{target}^{{commit}}").decode().strip()
    except GitError:
        if rev is None:
            info = RepoInfo(path=str(shown), is_git=True, head=None, branch=None, shallow=False,
                            rev=None, notes=("the repository has no commits yet",))
            return Snapshot(root, {}, info, git=None)
        raise InputError(f"--rev {rev!r}: no such commit in {shown}") from None
    branch = git.run("symbolic-ref", "-q", "--short", "HEAD", check=False).decode().strip() or None
    shallow = git.run("rev-parse", "--is-shallow-repository").decode().strip() == "true"
    bare = git.run("rev-parse", "--is-bare-repository").decode().strip() == "true"
    entries = _tree_entries(git, commit)
    uncommitted: tuple[str, ...] = ()
    untracked = 0
    if rev is None and not bare:
        uncommitted, untracked = _worktree_changes(git, root, entries)
    notes: list[str] = list(_symlink_note(entries))
    if shallow:
        notes.append("shallow clone: history facts cannot be judged; fetch full history "
                     "(e.g. `git fetch --unshallow`, or `fetch-depth: 0` in CI)")
    if uncommitted or untracked:
        notes.append(f"the working tree has {len(uncommitted)} changed and {untracked} untracked "
                     "file(s) that the audit did not see: it reads the committed tree only")
    info = RepoInfo(path=str(shown), is_git=True, head=commit, branch=branch, shallow=shallow,
                    rev=rev, uncommitted=uncommitted, untracked=untracked, notes=tuple(notes))
    return Snapshot(root, entries, info, git=git, commit=commit)


def _tree_entries(git: Git, commit: str) -> dict[str, Entry]:
    out = git.run("ls-tree", "-r", "-z", "--long", "--full-tree", commit)
    entries: dict[str, Entry] = {}
    for record in split_nul(out):
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, oid, size = meta.split(None, 3)
        path = raw_path.decode("utf-8", "surrogateescape")
        if mode == b"120000":
            entries[path] = Entry(path, "symlink", 0, oid.decode())
        elif kind == b"commit":
            entries[path] = Entry(path, "submodule", 0)
        else:
            # git prints "BAD" (or "-") when the object is missing: a partial clone, or a copy
            # without its large files. Such a file is listed but cannot be read.
            length = int(size) if size.strip().isdigit() else MISSING
            entries[path] = Entry(path, "file", length, oid.decode())
        if len(entries) > MAX_FILES:
            raise InputError(f"the tree holds more than {MAX_FILES:,} files; audit a smaller part")
    return entries


def _worktree_changes(git: Git, root: Path, entries: dict[str, Entry]
                      ) -> tuple[tuple[str, ...], int]:
    """Changed tracked files and the number of untracked ones, without refreshing or writing the
    index. `diff-index` compares stat information only, so a file it names is confirmed by
    hashing its working-tree content the way git would (no filters are run for that)."""
    changed = git.run("diff-index", "--no-ext-diff", "--no-textconv", "--name-only", "-z",
                      "HEAD", "--", check=False)
    others = git.run("ls-files", "--others", "--exclude-standard", "-z", check=False)
    names = [p.decode("utf-8", "surrogateescape") for p in split_nul(changed)]
    really = tuple(n for i, n in enumerate(names)
                   if i >= 2000 or not _same_content(root, n, entries.get(n)))
    return really, len(split_nul(others))


def _same_content(root: Path, path: str, entry: Entry | None) -> bool:
    """True when the working-tree file is byte-for-byte the committed blob (a regular file,
    never followed through a link)."""
    if entry is None or entry.kind != "file" or entry.oid is None or entry.size < 0:
        return False
    full = root / path
    try:
        if full.is_symlink() or not full.resolve().is_relative_to(root) or not full.is_file():
            return False
        if full.stat().st_size != entry.size:
            return False
        if entry.size > MAX_FILE_BYTES:
            return False
        data = full.read_bytes()
    except OSError:
        return False
    algo = hashlib.sha1 if len(entry.oid) == 40 else hashlib.sha256
    return algo(b"blob %d\0" % len(data) + data).hexdigest() == entry.oid


def _walk_plain(root: Path) -> tuple[dict[str, Entry], tuple[str, ...]]:
    entries: dict[str, Entry] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            items = list(os.scandir(folder))
        except OSError:
            continue
        for item in items:
            rel = PurePosixPath(Path(item.path).relative_to(root)).as_posix()
            if item.is_symlink():
                entries[rel] = Entry(rel, "symlink", 0)
            elif item.is_dir(follow_symlinks=False):
                if item.name not in _PLAIN_SKIP:
                    stack.append(Path(item.path))
            elif item.is_file(follow_symlinks=False):
                entries[rel] = Entry(rel, "file", item.stat(follow_symlinks=False).st_size)
            if len(entries) > MAX_FILES:
                raise InputError(
                    f"the folder holds more than {MAX_FILES:,} files; audit a smaller part")
    notes = ("not a git repository: history facts (pull requests, reviews, tags) cannot be judged",
             *_symlink_note(entries))
    return entries, notes


def _symlink_note(entries: dict[str, Entry]) -> tuple[str, ...]:
    """Symbolic links are never followed (they may point outside the tree): say which were
    left unread, so a missing README or workflow behind a link is not taken for absence."""
    links = sorted(e.path for e in entries.values() if e.kind == "symlink")
    if not links:
        return ()
    shown = ", ".join(links[:5]) + (f" and {len(links) - 5} more" if len(links) > 5 else "")
    return (f"{len(links)} symbolic link(s) not followed, their targets not read: {shown}",)


def _top(path: str, patterns: tuple[str, ...]) -> str:
    """The excluded folder a path lies in, for the note (e.g. ``tests/fixtures/``)."""
    parts = path.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i]) + "/"
        parent = "/".join(parts[: i - 1]) + "/x"
        if matching([prefix + "x"], *patterns) and not matching([parent], *patterns):
            return prefix
    return path


def matching(paths: Iterable[str], *patterns: str) -> list[str]:
    """Filter PATHS with the same glob rules as :meth:`Snapshot.glob`."""
    combined = _combined_glob(tuple(patterns))
    return [p for p in paths if combined.match(p)]
