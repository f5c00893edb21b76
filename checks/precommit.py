"""Git hooks that enforce code-quality guidelines before code is shared: pre-commit and prek
configurations (``.pre-commit-config.yaml``, ``prek.toml``) and lefthook (``lefthook.yml``)."""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "precommit.config": "a pre-commit, prek or lefthook configuration with at least one hook",
    "precommit.hooks": "the ids of the configured hooks (lefthook: command names)",
    "precommit.categories": "the guidelines the hooks that run at commit or push time enforce: "
                            "lint, format, types, security, notebooks, iac, data, hygiene",
    "precommit.quality": "at least one lint or format hook runs at commit or push time (a "
                         "code-quality guideline is enforced, not only whitespace hygiene)",
}


@dataclass(frozen=True)
class Hook:
    """One configured hook, where it is written, and what it enforces."""

    id: str
    path: str
    line: int | None
    source: str  # normalised repository URL, "local", "meta", "builtin" or "lefthook"
    command: str | None  # a local hook's entry, a lefthook command's run
    categories: tuple[str, ...]
    inactive: str | None = None  # why the hook never runs at commit or push time
    note: str | None = None  # counter-evidence about the hook (an entry that does nothing)
    via: tuple[str, ...] = ()  # where a followed script / make target runs each guideline's tool


@dataclass
class Configs:
    """Everything read from the hook configurations of the snapshot."""

    files: list[str]
    hooks: list[Hook]
    empty: list[Evidence]  # configurations that parsed but define no hook
    unparseable: list[Evidence]


@cache
def _catalogue() -> dict[str, Any]:
    return common.catalogue("precommit")


@cache
def _entry_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    entries: dict[str, list[str]] = _catalogue()["entries"]
    return tuple((category, re.compile(p)) for category, patterns in entries.items()
                 for p in patterns)


@cache
def _no_op() -> re.Pattern[str]:
    return re.compile(_catalogue()["no_op_entries"])


def normalise_repo(url: str) -> str:
    """A hook repository URL without scheme, user, ``.git`` or trailing slash, in lower case, so
    ``https://github.com/psf/black.git/`` and ``http://github.com/PSF/black`` are one repo."""
    text = url.strip().lower()
    text = re.sub(r"^[a-z+]+://", "", text)
    text = re.sub(r"^[^@/]+@", "", text)  # git@github.com:owner/repo
    text = re.sub(r"^([^/:]+):(?!\d)", r"\1/", text)
    text = text.rstrip("/")
    return text[:-4] if text.endswith(".git") else text


# -- classification -------------------------------------------------------------------------

def categories_of_id(hook_id: str) -> tuple[str, ...]:
    """Guidelines a hook id enforces, from the catalogue (nbqa-black: notebooks and format)."""
    ids: dict[str, list[str]] = _catalogue()["hook_ids"]
    found = list(ids.get(hook_id.lower(), []))
    prefixes: dict[str, list[str]] = _catalogue()["id_prefixes"]
    for prefix, extra in prefixes.items():
        if hook_id.lower().startswith(prefix):
            tool = hook_id.lower()[len(prefix):]
            found += extra + list(ids.get(tool, ["lint"]))
    return _ordered(found)


def categories_of_command(command: str) -> tuple[str, ...]:
    """Guidelines a hook's command enforces (``poetry run mypy src`` -> types)."""
    return _ordered([c for c, pattern in _entry_patterns() if pattern.search(command)])


def _ordered(categories: list[str]) -> tuple[str, ...]:
    order: list[str] = _catalogue()["categories"]
    return tuple(c for c in order if c in categories)


def classify(hook_id: str, source: str, command: str | None,
             language: str | None = None, steps: list[Step] | None = None
             ) -> tuple[tuple[str, ...], str | None]:
    """Categories of one hook and an optional note.

    Local hooks and lefthook commands are judged by the command they run: an id says what the
    author meant, the entry what happens (``id: black`` with ``entry: echo`` enforces nothing).
    When the command runs a shell script or a make target of the repository, the STEPS read
    from it decide (see ``categories_of_steps``). An entry the catalogue does not know falls
    back to the id. Remote hooks are judged by id, then by the repository they come from.
    ``pygrep`` entries are regexes, not commands.
    """
    if command is not None and language != "pygrep":
        if _no_op().search(command):
            return (), f"hook {hook_id!r} runs `{command.strip()}`, which checks nothing"
        if steps is not None:
            by_steps = categories_of_steps(steps, rewrites_fail=source != "lefthook")
            if by_steps:
                return tuple(by_steps), None
        else:
            by_command = categories_of_command(command)
            if by_command:
                return by_command, None
    by_id = categories_of_id(hook_id)
    if by_id or source in ("local", "lefthook", "meta", "builtin"):
        return by_id, None
    repos: dict[str, list[str]] = _catalogue()["repos"]
    return _ordered(list(repos.get(source, []))), None


# -- following a hook's command into a script or a make target ------------------------------

@dataclass(frozen=True)
class Step:
    """One command line that a hook's command runs: a line of its shell script or of a make
    recipe (its own target's or a prerequisite's)."""

    path: str
    line: int
    text: str
    fails: bool  # its failure fails the hook (`set -e`, last line, make recipe; not `|| true`)


MAX_MAKE_DEPTH = 4  # prerequisites and sub-makes followed from the hook's target
MAX_STEPS = 200


def categories_of_steps(steps: list[Step], rewrites_fail: bool) -> dict[str, Step]:
    """Guidelines the STEPS enforce, each with the first step that runs its tool. Installing or
    printing a tool is not running it. A step whose failure is lost (a script without
    ``set -e``, ``|| true``) still enforces a formatter's guideline under pre-commit
    (REWRITES_FAIL), which fails a hook that changes files, unless the formatter only reports
    (``--check``); a linter's verdict is lost."""
    rewrites = set(_catalogue()["rewrite_categories"]) if rewrites_fail else set()
    report_only = re.compile(_catalogue()["report_only"])
    skip = [re.compile(p) for p in _catalogue()["not_a_run"]]
    found: dict[str, Step] = {}
    for step in steps:
        if any(p.search(step.text) for p in skip):
            continue
        rewriting = not report_only.search(step.text)
        for category in categories_of_command(step.text):
            if step.fails or (category in rewrites and rewriting):
                found.setdefault(category, step)
    return {c: found[c] for c in _ordered(list(found))}


def _masked(text: str) -> bool:
    return bool(re.search(_catalogue()["masking"], text))


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line, text) of each logical line: ``\\`` continuations joined, blank and
    comment lines dropped, a trailing ``# comment`` cut."""
    result: list[tuple[int, str]] = []
    raw = text.split("\n")
    index = 0
    while index < len(raw):
        start, line = index, raw[index].rstrip()
        while line.endswith("\\") and index + 1 < len(raw):
            index += 1
            line = line[:-1].rstrip() + " " + raw[index].strip()
        index += 1
        if line.strip() and not line.lstrip().startswith("#"):
            result.append((start + 1, re.sub(r"\s+#.*$", "", line)))
    return result


def script_steps(snap: Snapshot, path: str, errexit: bool = False) -> list[Step] | None:
    """The command lines of a shell script; a line's failure fails the script when ``set -e``
    (or ``set -o errexit``, ``#!/bin/bash -e``) is on or it is the last line. None when the
    script cannot be read."""
    source = snap.text(path)
    if not source.ok:
        return None
    first = source.value.split("\n", 1)[0]
    errexit = errexit or bool(re.match(r"#!.*\s-\w*e", first))
    lines = _logical_lines(source.value)
    steps: list[Step] = []
    for number, (line, text) in enumerate(lines[:MAX_STEPS]):
        words = text.split()
        if words[0] == "set":
            flags = " ".join(words[1:])
            if re.search(r"(^|\s)-\w*e|-o\s+errexit", flags):
                errexit = True
            elif re.search(r"(^|\s)\+\w*e|\+o\s+errexit", flags):
                errexit = False
            continue
        fails = (errexit or number == len(lines) - 1) and not _masked(text)
        steps.append(Step(path, line, text.strip(), fails))
    return steps


_MAKE_RULE = re.compile(r"^([^\s:=#][^:=#]*?)\s*::?(?!=)\s*([^;=]*?)\s*(?:;\s*(.*))?$")


def make_rules(text: str) -> tuple[dict[str, tuple[list[str], list[tuple[int, str]]]],
                                   str | None]:
    """A Makefile's rules, target -> (prerequisites, recipe lines), and its default target (the
    first that does not start with a dot). Variables are not expanded."""
    rules: dict[str, tuple[list[str], list[tuple[int, str]]]] = {}
    default: str | None = None
    current: list[str] = []
    for line, content in _logical_lines(text):
        if content.startswith("\t"):
            for target in current:
                rules[target][1].append((line, content.strip()))
            continue
        match = _MAKE_RULE.match(content)
        if not match:
            current = []
            continue
        current = match.group(1).split()
        prerequisites = [p for p in match.group(2).split() if p != "|"]
        for target in current:
            rules.setdefault(target, ([], []))[0].extend(prerequisites)
            if match.group(3):
                rules[target][1].append((line, match.group(3).strip()))
            if default is None and not target.startswith("."):
                default = target
    return rules, default


def make_steps(snap: Snapshot, makefile: str, targets: list[str]) -> list[Step] | None:
    """Recipe lines that ``make TARGETS`` runs: each target's prerequisites first, then its
    recipe, following ``make X`` / ``$(MAKE) X`` in a recipe to target X of the same Makefile
    (at most MAX_MAKE_DEPTH deep). make stops at a failing line unless it starts with ``-``.
    None when the Makefile cannot be read or names none of the targets."""
    source = snap.text(makefile)
    if not source.ok:
        return None
    rules, default = make_rules(source.value)
    wanted = targets or ([default] if default else [])
    if not any(t in rules for t in wanted):
        return None
    steps: list[Step] = []
    seen: set[str] = set()

    def visit(target: str, depth: int) -> None:
        if target in seen or target not in rules or depth > MAX_MAKE_DEPTH:
            return
        seen.add(target)
        prerequisites, recipe = rules[target]
        for prerequisite in prerequisites:
            visit(prerequisite, depth + 1)
        for line, text in recipe:
            command = text.lstrip("@+-")
            steps.append(Step(makefile, line, command.strip(),
                              not text.lstrip("@+").startswith("-") and not _masked(command)))
            sub = re.match(r"(\$[({]MAKE[)}]|make)\s+(.*)", command)
            if sub and not re.search(r"(^|\s)(-[Cf]|--directory|--file|--makefile)", sub.group(2)):
                for word in sub.group(2).split():
                    if not word.startswith("-") and "=" not in word:
                        visit(word, depth + 1)
            if len(steps) >= MAX_STEPS:
                return

    for target in wanted:
        visit(target, 0)
    return steps


def _make_call(words: list[str]) -> tuple[str, str | None, list[str]]:
    """(directory, makefile, targets) of a ``make`` command line's words after ``make``."""
    directory, makefile, targets = "", None, []
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else ""
        if word in ("-C", "--directory", "-f", "--file", "--makefile"):
            directory, makefile = ((value, makefile) if word in ("-C", "--directory")
                                   else (directory, value))
            index += 2
            continue
        if word.startswith(("--directory=", "--file=", "--makefile=")):
            name, _, given = word.partition("=")
            directory, makefile = ((given, makefile) if name == "--directory"
                                   else (directory, given))
        elif word.startswith("-C") and len(word) > 2:
            directory = word[2:]
        elif not word.startswith("-") and "=" not in word and not word.isdigit():
            targets.append(word)
        index += 1
    return directory, makefile, targets


def follow(snap: Snapshot, command: str) -> list[Step] | None:
    """What a hook's command runs when it is a shell script of the repository
    (``scripts/lint.sh``, ``bash ./lint.sh``) or a make target (``make lint``, ``make -C src
    check``): its lines, or the target's recipe and its prerequisites' recipes. One level: a
    script the script calls is not opened. None when the command is neither, or its script or
    Makefile is not in the repository."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words:
        return None
    if posixpath.basename(words[0]) in ("make", "gmake"):
        directory, makefile, targets = _make_call(words[1:])
        names = [makefile] if makefile else _catalogue()["makefiles"]
        paths = [posixpath.normpath(posixpath.join(directory, n)) for n in names]
        path = next((p for p in paths if snap.exists(p)), None)
        return make_steps(snap, path, targets) if path else None
    errexit = False
    if posixpath.basename(words[0]) in ("bash", "sh", "zsh") and len(words) > 1:
        flags = [w for w in words[1:] if w.startswith("-")]
        if any(f == "-c" for f in flags):
            return None
        errexit = any("e" in f for f in flags if not f.startswith("--"))
        words = [w for w in words[1:] if not w.startswith("-")]
    if not words:
        return None
    path = posixpath.normpath(words[0])
    if not snap.exists(path):
        return None
    source = snap.text(path)
    shell = path.endswith((".sh", ".bash")) or bool(
        source.ok and re.match(r"#!\S*(/|env\s+)(ba|z)?sh\b", source.value))
    return script_steps(snap, path, errexit) if shell else None


def _via(steps: list[Step] | None, categories: tuple[str, ...], source: str) -> tuple[str, ...]:
    """Where the tool of each category runs, for the evidence (``scripts/lint.sh:5 `black .```)."""
    if not steps:
        return ()
    found = categories_of_steps(steps, rewrites_fail=source != "lefthook")
    return tuple(f"{c} at {found[c].path}:{found[c].line} `{found[c].text}`"
                 for c in categories if c in found)


# -- reading configurations -----------------------------------------------------------------

def _hook_line(lines: list[str], name: str, start: int, key: str = "id") -> int | None:
    """1-based line where a hook is written (``id: ruff`` / ``id = "ruff"`` / ``ruff:``),
    searching from START so repeated ids get their own lines."""
    quoted = re.escape(name)
    if key == "id":
        pattern = re.compile(rf"""\b(id|name)\b\s*[:=]\s*['"]?{quoted}['"]?\s*(,|\}}|#|$)""")
    else:
        pattern = re.compile(rf"""^\s*(-\s*)?(name\s*:\s*)?['"]?{quoted}['"]?\s*:?\s*(#.*)?$""")
    for index in range(start, len(lines)):
        if pattern.search(lines[index]):
            return index + 1
    for index in range(min(start, len(lines))):
        if pattern.search(lines[index]):
            return index + 1
    return None


def _stages(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(s) for s in value] if isinstance(value, list) else []


def read_precommit(snap: Snapshot, path: str) -> list[Hook] | None:
    """Hooks of a pre-commit or prek configuration (YAML, or prek's TOML); None if unreadable.

    ``repos: [{repo, rev, hooks: [{id, entry?, stages?}]}]``. Hooks whose stages are only
    ``manual`` (directly or through ``default_stages``) never run at commit time and are kept
    as inactive, so they are listed but do not count for the guidelines.
    """
    parsed = snap.toml(path) if path.endswith(".toml") else snap.yaml(path)
    if not parsed.ok:
        return None
    doc = parsed.value if isinstance(parsed.value, dict) else {}
    default_stages = _stages(doc.get("default_stages"))
    repos = doc.get("repos")
    lines = snap.lines(path)
    hooks: list[Hook] = []
    cursor = 0
    for repo in repos if isinstance(repos, list) else []:
        if not isinstance(repo, dict):
            continue
        raw = str(repo.get("repo", ""))
        source = raw if raw in ("local", "meta", "builtin") else normalise_repo(raw)
        for item in repo.get("hooks") or []:
            if not isinstance(item, dict) or item.get("id") is None:
                continue
            hook_id = str(item["id"])
            command = _local_command(item) if source == "local" else None
            language = str(item.get("language")) if item.get("language") else None
            steps = follow(snap, command) if command and language != "pygrep" else None
            cats, note = classify(hook_id, source, command, language, steps)
            stages = _stages(item.get("stages")) or default_stages
            inactive = ("runs only with `--hook-stage manual` (stages: [manual]), never at "
                        "commit time") if stages and set(stages) <= {"manual"} else None
            line = _hook_line(lines, hook_id, cursor)
            cursor = line if line is not None else cursor
            hooks.append(Hook(hook_id, path, line, source, command, cats, inactive, note,
                              _via(steps, cats, source)))
    return hooks


def _local_command(item: dict[str, Any]) -> str | None:
    """A local hook's command: its ``entry`` followed by its ``args`` (``entry: make``,
    ``args: [clean]`` runs ``make clean``)."""
    entry = item.get("entry")
    if entry is None:
        return None
    args = item.get("args")
    words = [str(a) for a in args if isinstance(a, (str, int, float))] if isinstance(
        args, list) else []
    return " ".join([str(entry), *(shlex.quote(w) for w in words)])


def _lefthook_commands(section: Any) -> list[tuple[str, Any]]:
    """(name, definition) pairs of a lefthook hook: ``commands:``, ``scripts:`` and the newer
    ``jobs:`` list (with ``group: {jobs: ...}`` nesting)."""
    if not isinstance(section, dict):
        return []
    found: list[tuple[str, Any]] = []
    for key in ("commands", "scripts"):
        block = section.get(key)
        if isinstance(block, dict):
            found += [(str(name), spec) for name, spec in block.items()]

    def jobs(items: Any, depth: int) -> None:
        for number, job in enumerate(items if isinstance(items, list) else [], start=1):
            if not isinstance(job, dict) or depth > 5:
                continue
            group = job.get("group")
            if isinstance(group, dict):
                jobs(group.get("jobs"), depth + 1)
                continue
            name = job.get("name") or job.get("run") or job.get("script") or f"job {number}"
            found.append((str(name), job))

    jobs(section.get("jobs"), 0)
    return found


def read_lefthook(snap: Snapshot, path: str) -> list[Hook] | None:
    """Commands of a lefthook configuration under the hooks that run before code is shared
    (pre-commit, pre-push), classified by what they run; ``skip: true`` means never."""
    parsed = snap.yaml(path)
    if not parsed.ok:
        return None
    doc = parsed.value if isinstance(parsed.value, dict) else {}
    lines = snap.lines(path)
    hooks: list[Hook] = []
    for hook_type in _catalogue()["lefthook_hooks"]:
        for name, spec in _lefthook_commands(doc.get(hook_type)):
            spec = spec if isinstance(spec, dict) else {}
            run = spec.get("run")
            command = str(run) if run is not None else None
            script = spec.get("script")
            if command is None and name.endswith((".sh", ".py")):
                command = name
            elif command is None and script is not None:
                command = str(script)
            steps = follow(snap, command) if command else None
            cats, note = classify(name, "lefthook", command, None, steps)
            inactive = "skip: true" if spec.get("skip") is True else None
            line = _hook_line(lines, name, 0, key="name")
            hooks.append(Hook(name, path, line, "lefthook", command, cats, inactive, note,
                              _via(steps, cats, "lefthook")))
    return hooks


def read_configs(snap: Snapshot) -> Configs:
    """Read every hook configuration in the snapshot (outside vendored folders)."""
    files = _catalogue()["files"]
    vendored = set(snap.glob(*common.NOT_PROJECT_CODE))
    precommit = [p for p in snap.glob(*files["precommit"]) if p not in vendored]
    lefthook = [p for p in snap.glob(*files["lefthook"]) if p not in vendored]
    result = Configs(precommit + lefthook, [], [], [])
    for path in precommit + lefthook:
        hooks = read_precommit(snap, path) if path in precommit else read_lefthook(snap, path)
        if hooks is None:
            result.unparseable += common.unreadable(snap, [path])
        elif not hooks:
            result.empty.append(common.at(path, 1, "configuration defines no hook "
                                          "(e.g. an empty `repos:` list)"))
        result.hooks += hooks or []
    return result


# -- facts ----------------------------------------------------------------------------------

def _where(configs: Configs) -> str:
    return ", ".join(configs.files) if configs.files else (
        ".pre-commit-config.yaml, prek.toml or lefthook.yml (none in the repository)")


def _hook_evidence(hook: Hook, detail: str) -> Evidence:
    return common.at(hook.path, hook.line, detail)


def collect(snap: Snapshot) -> list[Fact]:
    """Every precommit fact; all unknown when the only configurations could not be parsed."""
    configs = read_configs(snap)
    hooks = configs.hooks
    if not hooks and configs.unparseable:
        reason = "the git hook configuration could not be parsed"
        return [common.unknown(fid, reason, configs.unparseable) for fid in FACTS]
    return [config_fact(configs), hooks_fact(configs), categories_fact(configs),
            quality_fact(configs)]


def config_fact(configs: Configs) -> Fact:
    """A configuration with at least one hook; an empty one is cited as counter-evidence."""
    by_file: dict[str, list[Hook]] = {}
    for hook in configs.hooks:
        by_file.setdefault(hook.path, []).append(hook)
    items = [_hook_evidence(hs[0], f"{len(hs)} hook(s): " + ", ".join(h.id for h in hs))
             for hs in by_file.values()]
    if items:
        return common.value("precommit.config", True, items + configs.unparseable)
    searched = common.searched("a git hook configuration with at least one hook",
                               _where(configs))
    return Fact("precommit.config", False, (searched, *configs.empty))


def hooks_fact(configs: Configs) -> Fact:
    """The hook ids, each cited where it is configured."""
    ids = tuple(dict.fromkeys(h.id for h in configs.hooks))
    if not ids:
        return Fact("precommit.hooks", (), (common.searched("hooks", _where(configs)),))
    items = [_hook_evidence(h, f"hook {h.id} ({h.source})") for h in configs.hooks]
    return common.value("precommit.hooks", ids, items)


def categories_fact(configs: Configs) -> Fact:
    """Guidelines enforced by active hooks (manual-only or skipped hooks enforce nothing)."""
    first: dict[str, Hook] = {}
    for hook in configs.hooks:
        if hook.inactive is None:
            for category in hook.categories:
                first.setdefault(category, hook)
    cats = _ordered(list(first))
    items = [_hook_evidence(first[c], f"{c}: hook {first[c].id}") for c in cats]
    if not cats:
        items = [common.searched("hooks the catalogue classifies", _where(configs))]
    return common.value("precommit.categories", cats, items)


def quality_fact(configs: Configs) -> Fact:
    """At least one active lint or format hook. Whitespace-only configurations, an empty
    ``repos:`` list, manual-only hooks and local hooks whose entry does nothing are named in
    the evidence of a False."""
    quality = set(_catalogue()["quality"])
    support = [_hook_evidence(h, f"hook {h.id} enforces {'/'.join(h.categories)}"
                              + (f" ({'; '.join(h.via)})" if h.via else ""))
               for h in configs.hooks
               if h.inactive is None and quality & set(h.categories)]
    if support:
        return common.value("precommit.quality", True, support)
    counter: list[Evidence] = []
    for hook in configs.hooks:
        if hook.inactive is not None and quality & set(hook.categories):
            counter.append(_hook_evidence(hook, f"hook {hook.id} does not count: "
                                                f"{hook.inactive}"))
        elif hook.note:
            counter.append(_hook_evidence(hook, hook.note))
    others = [h.id for h in configs.hooks if h.inactive is None]
    if others:
        kinds = sorted({c for h in configs.hooks if h.inactive is None for c in h.categories})
        counter.append(Evidence(
            detail=common.excerpt(f"only {'/'.join(kinds) or 'unclassified'} hooks configured: "
                                  + ", ".join(others)),
            path=configs.hooks[0].path))
    counter += configs.empty
    searched = common.searched("a lint or format hook (ruff, black, isort, flake8, pylint, ...)",
                               _where(configs))
    return Fact("precommit.quality", False, (searched, *counter)[:20])
