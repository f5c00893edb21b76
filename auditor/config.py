"""The configuration: ``[tool.mlops-audit]`` of the audited repository's pyproject.toml, or its
``.mlops-audit.yaml``, read from the committed tree at the audited revision (hostile input, so
validated strictly: an unknown key is an error), or a trusted file given with ``--config``.

Keys: ``exclude`` (globs left out on top of the default ones), ``root`` (the project's folder in
a monorepo), ``rules`` and ``catalogues`` (an organisation's statements and catalogue entries,
files inside the audited tree), ``switch_off`` (statement id -> reason) and ``gate`` (the
policy: ``allow_manual``, ``allow_stale``, ``baseline``; the command line's flags override it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlops_auditor import parsers
from mlops_auditor.errors import InputError
from mlops_auditor.model import Answer, GateSettings
from mlops_auditor.rules import Rules, merge_rules
from mlops_auditor.snapshot import Snapshot

PYPROJECT = "pyproject.toml"
YAML_FILE = ".mlops-audit.yaml"
KEYS = ("exclude", "root", "rules", "catalogues", "switch_off", "gate")
GATE_KEYS = ("allow_manual", "allow_stale", "baseline")
SWITCHED_OFF = "switched off by configuration: "
MAX_PATTERNS = 200
MAX_PATTERN_CHARS = 300

Reader = Callable[[str], str]  # a file the configuration names -> its text


@dataclass(frozen=True)
class Config:
    """A validated configuration; every file it names has been read already. ``where`` names
    where it came from (None: there was none)."""

    where: str | None = None
    exclude: tuple[str, ...] = ()
    root: str | None = None
    rules: tuple[tuple[str, Any], ...] = ()  # (where, parsed rules file)
    catalogues: tuple[dict[str, object], ...] = ()
    switch_off: dict[str, str] = field(default_factory=dict)
    gate: GateSettings | None = None

    def apply_rules(self, rules: Rules) -> Rules:
        """RULES with the configured rules files merged on top, in order; a switched-off id
        must name a statement of the result."""
        for where, data in self.rules:
            rules = merge_rules(rules, data, where)
        known = {s.id for s in rules.statements}
        for sid in self.switch_off:
            if sid not in known:
                raise InputError(f"{self.where}: switch_off: no statement {sid!r}")
        return rules


def from_snapshot(snap: Snapshot) -> Config:
    """The audited repository's own configuration, if it has one; files it names are read
    from the same tree. An unreadable pyproject.toml is left to the checks that report it."""
    found: list[tuple[str, Any]] = []
    if snap.exists(PYPROJECT):
        parsed = snap.toml(PYPROJECT)
        tool = parsed.value.get("tool") if isinstance(parsed.value, dict) else None
        if isinstance(tool, dict) and "mlops-audit" in tool:
            found.append((f"{PYPROJECT} [tool.mlops-audit]", tool["mlops-audit"]))
    if snap.exists(YAML_FILE):
        parsed = snap.yaml(YAML_FILE)
        if not parsed.ok:
            raise InputError(f"{YAML_FILE}: cannot read it ({parsed.error})")
        found.append((YAML_FILE, parsed.value))
    if len(found) > 1:
        raise InputError(f"configuration in both {found[0][0]} and {found[1][0]}; keep one")
    if not found:
        return Config()
    where, data = found[0]
    return parse(data, where, _tree_reader(snap, where))


def from_file(path: Path) -> Config:
    """A configuration the user trusts (``--config FILE``): YAML, or TOML with a
    ``[tool.mlops-audit]`` table; files it names are relative to its folder."""
    where = f"--config {path}"
    try:
        text = path.read_text(encoding="utf-8")
        data = parsers.load_toml(text) if path.suffix == ".toml" else parsers.load_yaml(text)
    except (OSError, UnicodeDecodeError, parsers.ParseError) as exc:
        raise InputError(f"{where}: cannot read it ({exc})") from None
    if path.suffix == ".toml":
        tool = data.get("tool") if isinstance(data, dict) else None
        if not (isinstance(tool, dict) and "mlops-audit" in tool):
            raise InputError(f"{where}: no [tool.mlops-audit] table")
        data = tool["mlops-audit"]

    def read(name: str) -> str:
        target = path.parent / name
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: {name}: cannot read it ({exc})") from None

    return parse(data, where, read)


def tree_path(name: object, where: str) -> str:
    """NAME as a path inside the audited tree: relative, without ``..``; anything that could
    reach outside the tree is refused."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: expected a path inside the repository, got {name!r}")
    if (name.startswith(("/", "\\")) or "\\" in name or re.match(r"^[A-Za-z]:", name)
            or ".." in PurePosixPath(name).parts):
        raise InputError(f"{where}: {name!r} is not a relative path inside the repository")
    parts = [p for p in PurePosixPath(name).parts if p != "."]
    return "/".join(parts)


def _tree_reader(snap: Snapshot, where: str) -> Reader:
    """Files named by the repository's configuration come from its own committed tree."""

    def read(name: str) -> str:
        rel = tree_path(name, where)
        parsed = snap.text(rel)
        if not parsed.ok:
            raise InputError(f"{where}: {rel}: cannot read it ({parsed.error})")
        return str(parsed.value)

    return read


def parse(data: Any, where: str, read: Reader) -> Config:
    """Validate the settings DATA (from WHERE) and read the files they name with READ."""
    from mlops_auditor.engine import catalogue_extension
    from mlops_auditor.gate import parse_baseline

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of settings ({', '.join(KEYS)})")
    for key in data:
        if key not in KEYS:
            raise InputError(f"{where}: unknown key {key!r} (known: {', '.join(KEYS)})")
    exclude = _strings(data.get("exclude"), f"{where}: exclude")
    if len(exclude) > MAX_PATTERNS or any(len(p) > MAX_PATTERN_CHARS for p in exclude):
        raise InputError(f"{where}: exclude: at most {MAX_PATTERNS} patterns of "
                         f"{MAX_PATTERN_CHARS} characters")
    root = None
    if data.get("root") is not None:
        root = tree_path(data["root"], f"{where}: root").strip("/") or None
    rules = tuple((f"{where}: rules file {name}", _yaml(read(name), f"{where}: {name}"))
                  for name in _strings(data.get("rules"), f"{where}: rules"))
    catalogues = tuple(
        catalogue_extension(_yaml(read(name), f"{where}: {name}"), f"{where}: {name}")
        for name in _strings(data.get("catalogues"), f"{where}: catalogues"))
    switch_off = _reasons(data.get("switch_off"), f"{where}: switch_off")
    gate = None
    if "gate" in data:
        raw = data["gate"]
        if not isinstance(raw, dict):
            raise InputError(f"{where}: gate: expected a mapping ({', '.join(GATE_KEYS)})")
        for key in raw:
            if key not in GATE_KEYS:
                raise InputError(f"{where}: gate: unknown key {key!r} "
                                 f"(known: {', '.join(GATE_KEYS)})")
        flags = {k: raw.get(k) for k in ("allow_manual", "allow_stale")}
        for key, value in flags.items():
            if value is not None and not isinstance(value, bool):
                raise InputError(f"{where}: gate.{key}: expected true or false")
        baseline = None
        if raw.get("baseline") is not None:
            if not isinstance(raw["baseline"], str):
                raise InputError(f"{where}: gate.baseline: expected a path")
            baseline = parse_baseline(read(raw["baseline"]),
                                      f"{where}: gate.baseline {raw['baseline']}")
        gate = GateSettings(flags["allow_manual"], flags["allow_stale"], baseline)
    return Config(where, exclude, root, rules, catalogues, switch_off, gate)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{where}: expected a list of non-empty strings")
    return tuple(value)


def _reasons(value: Any, where: str) -> dict[str, str]:
    """Statement id -> why it is switched off; a reason is required, since the report shows it."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping of statement id -> reason")
    out: dict[str, str] = {}
    for sid, reason in value.items():
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(f"{where}: {sid}: needs a reason (the report shows it)")
        out[str(sid)] = " ".join(reason.split())
    return out


def _yaml(text: str, where: str) -> Any:
    try:
        return parsers.load_yaml(text)
    except parsers.ParseError as exc:
        raise InputError(f"{where}: cannot read it as YAML ({exc})") from None


def switch_off(answers: Sequence[Answer], reasons: Mapping[str, str]) -> tuple[Answer, ...]:
    """Answer each switched-off statement n/a, saying it was switched off by configuration,
    why, and what the evidence alone says; a whole made of parts is recombined from them."""
    if not reasons:
        return tuple(answers)
    from mlops_auditor.engine import combine_parts

    def off(a: Answer) -> Answer:
        reason = reasons[a.statement.id]
        return Answer(a.statement, "n/a", "configured",
                      f"{SWITCHED_OFF}{reason} (the evidence alone says: {a.status})",
                      automated=a.status, switched_off=reason)

    done = {a.statement.id: off(a) if a.statement.id in reasons else a for a in answers}
    for a in answers:
        s = a.statement
        if (s.parts and s.id not in reasons and a.source == "auto"
                and any(p in reasons for p in s.parts)):
            done[s.id] = combine_parts(s, [done[p] for p in s.parts])
    return tuple(done[a.statement.id] for a in answers)


def with_notes(config: Config, notes: tuple[str, ...]) -> tuple[str, ...]:
    """The result's notes, saying which configuration was used and what it switched off."""
    if config.where is None:
        return notes
    said = f"configuration: {config.where}"
    if config.switch_off:
        said += f" (switches off {', '.join(sorted(config.switch_off))})"
    return (*notes, said)
