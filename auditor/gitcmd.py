"""The one way the auditor runs git: plumbing only, with everything a repository's config could run
switched off.

The audited repository is hostile input. Its ``.git/config`` and ``.gitattributes`` can name
programs (fsmonitor, pager, external diff, textconv and clean filters, gpg, ssh) that git would
run on our behalf. Every call goes through :func:`run`, which neutralises them on the command
line (command-line config wins over the repository's), ignores system and global config, never
takes optional locks (so nothing under ``.git`` is written), and keeps repository-derived
strings behind ``--``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlops_auditor.errors import InputError

# Config keys that make git run a program, set to something inert. Per-driver keys (textconv,
# filters, diff drivers) are neutralised by name in `_driver_overrides` once the repository's
# config has been read.
_SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", os.devnull),
    ("core.pager", "cat"),
    ("core.sshCommand", "false"),
    ("core.askPass", ""),
    ("core.editor", "false"),
    ("core.gitProxy", ""),
    ("core.untrackedCache", "false"),
    ("core.alternateRefsCommand", ""),
    ("credential.helper", ""),
    ("diff.external", ""),
    ("log.showSignature", "false"),
    ("gpg.program", "false"),
    ("gpg.ssh.program", "false"),
    ("gpg.x509.program", "false"),
    ("protocol.allow", "never"),
    ("uploadpack.packObjectsHook", ""),
    ("sequence.editor", "false"),
    ("log.follow", "false"),
    ("log.decorate", "false"),
    ("i18n.logOutputEncoding", "UTF-8"),
)

_DRIVER_KEYS = {
    "diff": ("textconv", "command"),
    "filter": ("clean", "smudge", "process"),
    "merge": ("driver",),
}

_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "SYSTEMROOT", "TMPDIR", "TZ")


def _base_env(ceiling: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEEP_ENV}
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_NO_REPLACE_OBJECTS="1",
        GIT_PAGER="cat",
        PAGER="cat",
        GIT_ATTR_NOSYSTEM="1",
        HOME=os.devnull,
        XDG_CONFIG_HOME=os.devnull,
        GIT_NO_LAZY_FETCH="1",
        LC_ALL="C",
    )
    if ceiling is not None:
        env["GIT_CEILING_DIRECTORIES"] = str(ceiling)
    return env


class Git:
    """Runs scrubbed git commands against one repository (work tree or bare)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._env = _base_env(path.parent)
        self._overrides: tuple[str, ...] = tuple(
            arg for key, value in _SAFE_CONFIG for arg in ("-c", f"{key}={value}")
        )

    def neutralise_drivers(self) -> None:
        """Read the repository's config (reading runs nothing) and add an override for every
        diff/filter/merge driver it defines, so no plumbing call can start one."""
        out = self.run("config", "--list", "--name-only", check=False)
        extra: list[str] = []
        for raw in out.decode("utf-8", "replace").splitlines():
            parts = raw.split(".")
            if len(parts) < 3:
                continue
            section, key = parts[0].lower(), parts[-1].lower()
            if key in _DRIVER_KEYS.get(section, ()):
                extra += ["-c", f"{raw}="]
        self._overrides += tuple(extra)

    def command(self, *args: str) -> list[str]:
        return ["git", "--no-pager", "--no-replace-objects", *self._overrides, *args]

    def run(self, *args: str, check: bool = True, input: bytes | None = None) -> bytes:
        proc = subprocess.run(
            self.command(*args),
            cwd=self.path,
            env=self._env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if check and proc.returncode != 0:
            raise GitError(args[0], proc.stderr.decode("utf-8", "replace").strip())
        return proc.stdout

    def stream(self, *args: str) -> Iterator[bytes]:
        """Yield stdout of a long git command in chunks, without holding it all in memory."""
        proc = subprocess.Popen(
            self.command(*args),
            cwd=self.path,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(1 << 16):
                yield chunk
        finally:
            proc.stdout.close()
            err = proc.stderr.read() if proc.stderr else b""
            if proc.stderr:
                proc.stderr.close()
            code = proc.wait()
        if code != 0:
            raise GitError(args[0], err.decode("utf-8", "replace").strip())

    def popen_batch(self) -> subprocess.Popen[bytes]:
        """A `git cat-file --batch` child: blob contents by object id, no filters, no textconv."""
        return subprocess.Popen(
            self.command("cat-file", "--batch"),
            cwd=self.path,
            env=self._env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )


class GitError(Exception):
    def __init__(self, command: str, stderr: str) -> None:
        last = stderr.splitlines()[-1] if stderr else "no output"
        super().__init__(f"git {command} failed: {last}")
        self.stderr = stderr


def open_repository(path: Path) -> Git | None:
    """Return a Git for PATH when PATH is the top of a work tree or a bare repository; None for
    a plain folder. Git is never allowed to search parent folders for a repository."""
    if not (path / ".git").exists() and not _looks_bare(path):
        return None
    git = Git(path)
    try:
        inside = git.run("rev-parse", "--is-bare-repository", "--is-inside-work-tree", check=True)
    except GitError as exc:
        if "dubious ownership" in exc.stderr:
            raise InputError(
                f"{path}: git refuses to read a repository owned by another user "
                "(dubious ownership); audit a copy you own"
            ) from None
        raise InputError(f"{path}: not a readable git repository ({exc})") from None
    if not inside.strip():
        return None
    git.neutralise_drivers()
    return git


def _looks_bare(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def split_nul(data: bytes) -> Sequence[bytes]:
    parts = data.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return parts
