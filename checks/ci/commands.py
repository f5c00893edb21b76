"""Command lines: what a command does (test, validate, deploy, ...), the logical lines of a
script, and why a command's failure cannot fail its job (``|| true``, pipes, no ``set -e``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_auditor.checks.ci.catalogue import _class_patterns, _not_a_run, _regex

DEPLOYS = frozenset({"deploy", "deploy_iac"})


def split_shell(text: str) -> list[tuple[str, str]]:
    """A shell line's simple commands, each with the operator after it (``&&``, ``||``, ``;``,
    ``|`` or ``""``); quoted text is not split."""
    parts: list[tuple[str, str]] = []
    buf: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            buf.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            buf.append(char)
        elif char == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 1
        elif text.startswith(("&&", "||"), i):
            parts.append(("".join(buf).strip(), text[i : i + 2]))
            buf = []
            i += 1
        elif char in ";|":
            parts.append(("".join(buf).strip(), char))
            buf = []
        else:
            buf.append(char)
        i += 1
    parts.append(("".join(buf).strip(), ""))
    return parts


def _segment_classes(segment: str) -> set[str]:
    if not segment or any(p.search(segment) for p in _not_a_run()):
        return set()
    return {name for name, pattern in _class_patterns() if pattern.search(segment)}


def classify(text: str) -> frozenset[str]:
    """Classes of one command line: test, validate, deploy_iac, deploy, load, publish.

    Installing, printing or asking a tool for its version is not running it; a deployment
    command that only previews (``--dry-run``, ``what-if``) validates.
    """
    found: set[str] = set()
    for segment, _ in split_shell(text):
        found |= _segment_classes(segment)
    if found & DEPLOYS and _regex("dry_run").search(text):
        found = (found - DEPLOYS) | {"validate"}
    return frozenset(found)


@dataclass(frozen=True)
class ShellLine:
    offset: int  # index of its first line in the script
    text: str  # the logical line (continuations joined)
    first: str  # its first physical line, to find it in the file
    errexit: bool
    pipefail: bool
    last: bool


_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


def shell_lines(script: str, errexit: bool, pipefail: bool) -> list[ShellLine]:
    """The logical command lines of a script: comments, blank lines and here-document bodies
    skipped, ``\\`` continuations joined, ``set -e``/``set +e``/``set -o pipefail`` followed."""
    raw = script.split("\n")
    logical: list[tuple[int, str, str]] = []
    heredoc: str | None = None
    i = 0
    while i < len(raw):
        stripped = raw[i].strip()
        if heredoc is not None:
            heredoc = None if stripped == heredoc else heredoc
            i += 1
            continue
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start, text = i, stripped
        while text.endswith("\\") and i + 1 < len(raw):
            i += 1
            text = text[:-1].rstrip() + " " + raw[i].strip()
        match = _HEREDOC.search(text)
        heredoc = match.group(1) if match else None
        logical.append((start, text, stripped))
        i += 1
    result = []
    for number, (start, text, first) in enumerate(logical):
        errexit, pipefail = _set_flags(text, errexit, pipefail)
        result.append(ShellLine(start, text, first, errexit, pipefail,
                                number == len(logical) - 1))
    return result


def _set_flags(text: str, errexit: bool, pipefail: bool) -> tuple[bool, bool]:
    """Shell options after a ``set`` line (``set -euo pipefail``, ``set +e``)."""
    if not re.match(r"set\s", text):
        return errexit, pipefail
    words = text.split()[1:]
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in ("-o", "+o"):
            if following == "errexit":
                errexit = word == "-o"
            elif following == "pipefail":
                pipefail = word == "-o"
        elif re.fullmatch(r"[-+][a-zA-Z]+", word):
            if "e" in word:
                errexit = word[0] == "-"
            if word.endswith("o") and following == "pipefail":
                pipefail = word[0] == "-"
    return errexit, pipefail


def soft_reason(line: ShellLine) -> str | None:
    """Why a failure of this command line cannot fail its job, or None.

    ``|| true`` (or ``|| echo``, ``|| exit 0``), a final ``; true``, flags such as
    ``--exit-zero``, a pipe without ``set -o pipefail`` after the command, and a command that is
    not the last line of a script running without ``set -e``.
    """
    parts = split_shell(line.text)
    for i, (segment, operator) in enumerate(parts):
        if not _segment_classes(segment):
            continue
        flag = _regex("soft_flags").search(segment)
        if flag:
            return f"`{flag.group(0).strip()}` keeps a failure from failing the job"
        following = parts[i + 1][0] if i + 1 < len(parts) else ""
        if operator == "||" and _regex("masking").search(following):
            return f"`|| {following}` swallows its failure"
        if operator == ";" and i + 2 == len(parts) and _regex("masking").search(following):
            return f"`; {following}` ends the line with success"
        if operator == "|" and not line.pipefail:
            return ("its output is piped (`| ...`) without `set -o pipefail`, so the last "
                    "command of the pipe decides")
    if not line.errexit and not line.last:
        return ("not the last command of a script that runs without `set -e`, so its failure "
                "does not fail the step")
    return None
