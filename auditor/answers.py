"""The answers file: what people confirmed about statements the repository cannot show.

It lives in the audited repository, by default ``.mlops-audit/answers.yaml``, and is committed
with it. Per statement id it records the answer (yes, no or n/a), who gave it, when, why, links,
an optional expiry date and the digest of the automated evidence seen at the time, so that a later
audit can tell when the evidence behind a confirmation changed.

Where it is read from: the committed tree of the audited revision; and, when a work tree is
audited without ``--rev``, the working-tree file instead when one is present (so that what
``mlops-audit confirm`` just wrote counts before it is committed). Reading never writes. The only
write the tool ever does is writing this file, and only on ``mlops-audit init`` and
``mlops-audit confirm``; it is rewritten whole in a canonical form (hand-written comments are not
kept).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml

from mlops_auditor import parsers
from mlops_auditor.errors import InputError
from mlops_auditor.model import Answer, Confirmation, Evidence, Status
from mlops_auditor.snapshot import Snapshot

ANSWERS_PATH = ".mlops-audit/answers.yaml"
MAX_BYTES = 1_000_000
REQUIRED = ("answer", "by", "date", "why")
OPTIONAL = ("links", "expires", "evidence_digest")
_DIGEST = re.compile("^[0-9a-f]{64}$")
# YAML 1.1 reads an unquoted yes/no as a boolean: both spellings mean the same answer.
_ANSWER_OF: dict[bool | str, Literal["yes", "no", "n/a"]] = {
    True: "yes", False: "no", "yes": "yes", "no": "no", "n/a": "n/a"}


def evidence_digest(status: Status, evidence: Iterable[Evidence]) -> str:
    """sha256 of the automated answer's status and of what it found in files, as canonical JSON:
    a change of either makes a confirmation stale. Only evidence located in a file counts, by
    path and detail (not line, not order): search summaries ("... in 12 tracked files"), line
    numbers and commit lists change with every unrelated commit and would make every
    confirmation stale at once; history that changes the answer shows in the status."""
    found = sorted({(e.path, e.detail) for e in evidence if e.path is not None})
    doc = {"status": status, "evidence": [{"path": p, "detail": d} for p, d in found]}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- reading ----------------------------------------------------------------------------------


def read(snap: Snapshot, known: Iterable[str]) -> dict[str, Confirmation]:
    """The confirmations recorded for this audit (see the module docstring for where from);
    an empty mapping when there is no answers file. A malformed file is an InputError."""
    found = _source(snap)
    if found is None:
        return {}
    text, where = found
    return parse(text, where, set(known))


def _source(snap: Snapshot) -> tuple[str, str] | None:
    info = snap.info
    if info.is_git and info.rev is None and (snap.root / ".git").exists():
        local = working_tree_file(snap.root)
        if local.is_file() and not _has_symlink(snap.root, local):
            if local.stat().st_size > MAX_BYTES:
                raise InputError(f"{ANSWERS_PATH}: larger than {MAX_BYTES:,} bytes")
            try:
                return local.read_text(encoding="utf-8"), ANSWERS_PATH
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError(f"{ANSWERS_PATH}: cannot read it ({exc})") from None
    if not snap.exists(ANSWERS_PATH):
        return None
    parsed = snap.text(ANSWERS_PATH, limit=MAX_BYTES)
    if parsed.error:
        raise InputError(f"{ANSWERS_PATH}: cannot read it ({parsed.error})")
    return str(parsed.value), ANSWERS_PATH


def working_tree_file(root: Path) -> Path:
    return root / ANSWERS_PATH


def _has_symlink(root: Path, target: Path) -> bool:
    """A symbolic link on the way to the answers file could point anywhere: never follow it."""
    return (root / ".mlops-audit").is_symlink() or target.is_symlink()


def parse(text: str, where: str, known: set[str]) -> dict[str, Confirmation]:
    """Validate and read an answers file. Errors name the key path and its line."""
    try:
        data = parsers.load_yaml(text)
    except parsers.ParseError as exc:
        raise InputError(f"{where}: {exc}") from None
    lines = _key_lines(text)

    def fail(path: tuple[str, ...], problem: str) -> InputError:
        line = lines.get(path)
        at = f" (line {line})" if line else ""
        return InputError(f"{where}: {'.'.join(path)}{at}: {problem}")

    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping with 'version' and 'answers'")
    for key in data:
        if key not in ("version", "answers"):
            raise fail((str(key),), "unknown key; expected 'version' and 'answers'")
    if data.get("version", 1) != 1:
        raise fail(("version",), "only version 1 is known")
    entries = data.get("answers")
    if entries is None:
        return {}
    if not isinstance(entries, dict):
        raise fail(("answers",), "expected a mapping of statement ids")
    out: dict[str, Confirmation] = {}
    for sid, entry in entries.items():
        if not isinstance(sid, str):
            raise fail(("answers", str(sid)), f"write the statement id as a quoted string, "
                                              f"e.g. \"{sid}\"")
        path = ("answers", sid)
        if sid not in known:
            raise fail(path, "no such statement; `mlops-audit list` shows them all")
        if not isinstance(entry, dict):
            raise fail(path, f"expected a mapping with {', '.join(REQUIRED)}")
        out[sid] = _entry(entry, path, fail)
    return out


def _entry(entry: dict[Any, Any], path: tuple[str, ...], fail: Any) -> Confirmation:
    for key in entry:
        if key not in REQUIRED + OPTIONAL:
            raise fail((*path, str(key)), "unknown key; expected one of "
                       + ", ".join(REQUIRED + OPTIONAL))
    for key in REQUIRED:
        if key not in entry:
            raise fail(path, f"missing '{key}'")
    raw = entry["answer"]
    answer = _ANSWER_OF.get(raw) if isinstance(raw, bool | str) else None
    if answer is None:
        raise fail((*path, "answer"), f"{raw!r} is not one of yes, no, n/a")
    texts = {}
    for key in ("by", "why"):
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            raise fail((*path, key), "expected a non-empty text")
        texts[key] = value.strip()
    when = _date(entry["date"])
    if when is None:
        raise fail((*path, "date"), "expected an ISO date, e.g. 2026-01-31")
    expires = None
    if entry.get("expires") is not None:
        expires = _date(entry["expires"])
        if expires is None:
            raise fail((*path, "expires"), "expected an ISO date, e.g. 2026-01-31")
    links = entry.get("links") or []
    if not isinstance(links, list) or not all(isinstance(x, str) and x for x in links):
        raise fail((*path, "links"), "expected a list of links (texts)")
    digest = entry.get("evidence_digest")
    if digest is not None and not (isinstance(digest, str) and _DIGEST.match(digest)):
        raise fail((*path, "evidence_digest"), "expected 64 hexadecimal digits (sha256)")
    return Confirmation(answer=answer, by=texts["by"], date=when, why=texts["why"],
                        links=tuple(links), expires=expires, evidence_digest=digest)


def _date(value: object) -> str | None:
    """An ISO date as text; YAML reads unquoted dates as dates already."""
    if isinstance(value, date):
        return value.isoformat()[:10]
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            return None
    return None


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line of each key of the first three levels (``answers`` / id / field), for messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node | None, path: tuple[str, ...]) -> None:
        if not isinstance(node, yaml.MappingNode) or len(path) > 2:
            return
        for key, value in node.value:
            name = (*path, str(key.value))
            lines[name] = key.start_mark.line + 1
            walk(value, name)

    walk(root, ())
    return lines


# -- applying -----------------------------------------------------------------------------------


def apply(answer: Answer, confirmation: Confirmation, today: date) -> Answer:
    """The confirmed answer wins; the automated status is kept beside it, and the confirmation
    is stale when the automated evidence changed since it was given or its expiry passed."""
    reasons = []
    digest = evidence_digest(answer.status, answer.evidence)
    if confirmation.evidence_digest is None:
        reasons.append("no evidence digest recorded; re-confirm with `mlops-audit confirm`")
    elif confirmation.evidence_digest != digest:
        reasons.append("evidence changed since confirmed")
    if confirmation.expires is not None and confirmation.expires < today.isoformat():
        reasons.append(f"expired on {confirmation.expires}")
    reason = (f"confirmed {confirmation.answer} by {confirmation.by} on {confirmation.date}: "
              f"{confirmation.why}")
    return dataclasses.replace(answer, status=confirmation.answer, source="confirmed",
                               reason=reason, confirmation=confirmation,
                               automated=answer.status, stale="; ".join(reasons) or None)


def is_open(answer: Answer) -> bool:
    """Waiting for a person: an unconfirmed manual statement, or a stale confirmation."""
    if answer.statement.parts:
        return False
    if answer.source == "confirmed":
        return answer.stale is not None
    return answer.status == "manual"


# -- writing ------------------------------------------------------------------------------------


def render_file(answers: Sequence[Answer], confirmed: Mapping[str, Confirmation]) -> str:
    """The answers file: the recorded confirmations, then every open manual statement as a
    commented template with its question and how to confirm it."""
    out = ["# mlops-audit answers: what people confirmed that the repository cannot show.",
           "# Written by `mlops-audit init` and `mlops-audit confirm`; commit it with the code.",
           "# answer: yes, no or n/a; date and expires: ISO dates; evidence_digest: written by",
           "# `mlops-audit confirm` (a change of the evidence makes the confirmation stale).",
           "version: 1", "answers:"]
    body = []
    for a in answers:
        c = confirmed.get(a.statement.id)
        if c is not None:
            body += _entry_lines(a.statement.id, c)
        elif a.status == "manual" and a.source == "auto" and not a.statement.parts:
            body += _template(a)
    if not any(line.startswith("  \"") for line in body):
        out[-1] = "answers: {}"
    return "\n".join(out + body) + "\n"


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)


def _entry_lines(sid: str, c: Confirmation) -> list[str]:
    lines = [f"  {_q(sid)}:", f"    answer: {_q(c.answer)}", f"    by: {_q(c.by)}",
             f"    date: {_q(c.date)}", f"    why: {_q(c.why)}"]
    if c.links:
        lines.append("    links:")
        lines += [f"      - {_q(link)}" for link in c.links]
    if c.expires:
        lines.append(f"    expires: {_q(c.expires)}")
    if c.evidence_digest:
        lines.append(f"    evidence_digest: {_q(c.evidence_digest)}")
    return lines


def _comment(label: str, text: str) -> list[str]:
    wrapped = textwrap.wrap(label + " ".join(text.split()), 90) or [label]
    return [f"  # {wrapped[0]}", *(f"  #   {w}" for w in wrapped[1:])]


def _template(a: Answer) -> list[str]:
    s = a.statement
    lines = ["", *_comment(f"{s.id}: ", s.text), *_comment("How to confirm: ", s.how_to_confirm)]
    lines += [f"  # {_q(s.id)}:", "  #   answer: \"yes\"", "  #   by: \"\"", "  #   date: \"\"",
              "  #   why: \"\"", "  #   links: []"]
    return lines


def write_file(root: Path, text: str) -> Path:
    """Write the answers file into ROOT's working tree (the tool's only write)."""
    target = working_tree_file(root)
    if _has_symlink(root, target):
        raise InputError(f"{ANSWERS_PATH}: is or goes through a symbolic link; not writing")
    try:
        target.parent.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{target}: cannot write ({exc.strerror or exc})") from None
    return target
