"""docker compose: what the services a command starts run, read from the compose file."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, replace
from typing import Any

from mlops_auditor.checks.ci.catalogue import _cat
from mlops_auditor.checks.ci.commands import ShellLine, classify, soft_reason, split_shell
from mlops_auditor.checks.ci.model import Command
from mlops_auditor.checks.ci.reading import _find_key, _mapping, _scalar
from mlops_auditor.snapshot import Snapshot


@dataclass(frozen=True)
class ComposeCall:
    """A ``docker compose`` / ``docker-compose`` ``up`` or ``run`` on a command line.

    ``files``: the ``-f`` files (none: the default file of ``directory``); ``services``: the
    services it starts (none: every service of ``up``); ``words``: the command given to
    ``run`` after the service; ``carries``: None when the call exits with the service's exit
    status, else why it does not."""

    subcommand: str
    files: tuple[str, ...]
    directory: str
    services: tuple[str, ...]
    words: tuple[str, ...] = ()
    entrypoint: str | None = None
    carries: str | None = None


def _options(words: list[str], takes_value: set[str], stop_at_positional: bool
             ) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Options (name, value) from the front of WORDS, the positional words met, and the words
    left after the first positional one when STOP_AT_POSITIONAL (``run SVC cmd ...``)."""
    options: list[tuple[str, str]] = []
    positional: list[str] = []
    while words:
        word = words[0]
        if word == "--":
            return options, positional, words[1:]
        if not word.startswith("-") or word == "-":
            positional.append(word)
            words = words[1:]
            if stop_at_positional:
                return options, positional, words
            continue
        name, eq, given = word.partition("=")
        if name in takes_value and not eq:
            options.append((name, words[1] if len(words) > 1 else ""))
            words = words[2:]
        else:
            options.append((name, given))
            words = words[1:]
    return options, positional, []


def parse_compose(segment: str, cwd: str = "") -> ComposeCall | None:
    """The compose call of one simple command, or None. Global options (``-f``, ``--file``,
    ``--project-directory``) come before the subcommand. ``up --exit-code-from SVC`` and
    ``run SVC`` (not detached) exit with the service's status. ``up`` without
    ``--exit-code-from`` does not: Compose v1 exits 0, and v2 with ``--abort-on-container-exit``
    exits with whichever container stops first, so a test's failure is not reliably the job's.
    """
    try:
        words = shlex.split(segment)
    except ValueError:
        return None
    start = next((i for i, w in enumerate(words) if w == "docker-compose"
                  or (w == "docker" and words[i + 1 : i + 2] == ["compose"])), None)
    if start is None:
        return None
    words = words[start + (2 if words[start] == "docker" else 1):]
    spec = _cat()["compose"]
    options, positional, rest = _options(words, set(spec["global_options"]), True)
    if positional[:1] not in (["up"], ["run"]):
        return None
    directory = cwd
    files: list[str] = []
    for name, given in options:
        if name == "--project-directory":
            directory = posixpath.join(cwd, given)
        elif name in ("-f", "--file"):
            files.append(given)
    subcommand = positional[0]
    options, services, words = _options(rest, set(spec[f"{subcommand}_options"]),
                                        subcommand == "run")
    named = dict(options)
    paths = tuple(posixpath.normpath(posixpath.join(directory, f)) for f in files)
    detached = "-d" in named or "--detach" in named
    if subcommand == "run":
        return ComposeCall("run", paths, directory, tuple(services), tuple(words),
                           named.get("--entrypoint"),
                           "`run -d` starts the service detached, so the job does not wait "
                           "for its result" if detached else None)
    target = named.get("--exit-code-from")
    if target and not detached:
        return ComposeCall("up", paths, directory, (target,))
    if detached:
        return ComposeCall("up", paths, directory, tuple(services),
                           carries="`up -d` starts the services detached, so the job does not "
                                   "wait for their result")
    why = ("`compose up` without `--exit-code-from` does not exit with the tests' status "
           "(Compose v1 exits 0; with `--abort-on-container-exit`, v2 exits with whichever "
           "container stops first)")
    return ComposeCall("up", paths, directory, tuple(services), carries=why)


def _compose_words(value: Any) -> str | None:
    """A compose ``command``/``entrypoint`` (a string or a list of words) as one line; a
    ``sh -c SCRIPT`` wrapper is dropped, so the script's own ``|| true`` is seen."""
    if isinstance(value, list):
        words = [str(w) for w in value if _scalar(w)]
    elif _scalar(value) and str(value).strip():
        try:
            words = shlex.split(str(value))
        except ValueError:
            return str(value)
    else:
        return None
    if len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
        return words[2]
    return " ".join(words) if words else None


def compose_files(snap: Snapshot, call: ComposeCall) -> list[str]:
    """The compose files a call reads: its ``-f`` files, else the first default file
    (compose.yaml, docker-compose.yml, ...) of its directory."""
    if call.files:
        return [p for p in call.files if snap.exists(p)]
    defaults = (posixpath.normpath(posixpath.join(call.directory, f))
                for f in _cat()["compose"]["default_files"])
    return [p for p in defaults if snap.exists(p)][:1]


def compose_services(snap: Snapshot, files: list[str]
                     ) -> dict[str, dict[str, tuple[str, str, int | None]]]:
    """Each service's ``entrypoint`` and ``command`` as (text, file, line); a later file
    overrides an earlier one, as ``-f a -f b`` does. An unparseable file gives nothing."""
    services: dict[str, dict[str, tuple[str, str, int | None]]] = {}
    for path in files:
        parsed = snap.yaml(path)
        doc = _mapping(parsed.value if parsed.ok else None)
        lines = snap.lines(path)
        for name, service in _mapping(doc.get("services", doc)).items():
            keys = services.setdefault(str(name), {})
            service_line = _find_key(lines, str(name))
            for key in ("entrypoint", "command"):
                text = _compose_words(_mapping(service).get(key))
                if text is not None:
                    keys[key] = (text, path, _find_key(lines, key, service_line))
    return services


def follow_compose(snap: Snapshot, command: Command) -> Command:
    """A command that starts compose services, classified also by what a service runs: its
    entrypoint followed by its command (or by ``run``'s words), read from the compose file
    (one level: a script the service runs is not opened). It counts like any command when the
    call exits with the service's status; otherwise it carries the reason it cannot fail the
    job. A ``cd DIR &&`` before the call moves where the compose file is looked for."""
    if "compose" not in command.text:
        return command
    cwd = ""
    for segment, _ in split_shell(command.text):
        if re.fullmatch(r"cd\s+[\w./-]+", segment):
            cwd = posixpath.normpath(posixpath.join(cwd, segment.split()[1]))
            continue
        call = parse_compose(segment, cwd)
        if call is None:
            continue
        services = compose_services(snap, compose_files(snap, call))
        for name in call.services or tuple(services):
            keys = services.get(name, {})
            entry = (call.entrypoint, command.path, command.line) if call.entrypoint \
                else keys.get("entrypoint")
            body = (" ".join(call.words), command.path, command.line) if call.words \
                else keys.get("command")
            parts = [p for p in (entry, body) if p]
            runs = " ".join(text for text, _, _ in parts)
            classes = classify(runs)
            if not classes - command.classes:
                continue
            cited: dict[str, list[str]] = {}
            for _, path, line in parts:
                if path != command.path:
                    cited.setdefault(path, []).append(str(line or "?"))
            where = "".join(f", {p}:{','.join(n)}" for p, n in cited.items())
            soft = (command.soft or call.carries
                    or soft_reason(ShellLine(0, runs, runs, True, False, True)))
            return replace(command, classes=command.classes | classes, soft=soft,
                           text=f"{runs} [compose service {name}{where}]")
    return command
