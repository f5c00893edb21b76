"""Environment: dependencies declared and locked to exact versions, container definitions and
their base images, and code that branches on hard-coded environment names."""

from __future__ import annotations

import ast
import configparser
import functools
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from mlops_auditor.checks import common
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot, matching

FACTS = {
    "environment.declared": "dependencies are declared (requirements*.txt, pyproject, "
                            "environment.yml, Pipfile, setup.cfg/setup.py, conda.yaml)",
    "environment.locked": "exact versions are locked (uv.lock, poetry.lock, Pipfile.lock, "
                          "pdm.lock, conda-lock, pip-compile output, requirements all pinned "
                          "with ==)",
    "environment.lock_outdated": "a lock does not lock every dependency its manifest declares "
                                 "(pyproject/Pipfile/requirements.in against uv.lock, "
                                 "poetry.lock, pdm.lock, Pipfile.lock, compiled requirements)",
    "environment.container": "a container or devcontainer definition (Dockerfile, "
                             ".devcontainer)",
    "environment.unpinned_base": "a container base image is unpinned (no tag or `latest`, "
                                 "and no digest)",
    "environment.env_specific_code": "project code branches on hard-coded environment names "
                                     "(if env == \"prod\")",
}


def _catalogue() -> dict[str, Any]:
    return common.catalogue("environment")


def _outside_vendored(paths: list[str]) -> list[str]:
    vendored = set(matching(paths, *common.NOT_PROJECT_CODE))
    return [p for p in paths if p not in vendored]


# -- requirement files ------------------------------------------------------------------------

@dataclass
class Requirements:
    """What one pip requirements file holds: requirement lines (line number, text), the ones not
    pinned to an exact version, and the line of a lock tool's header."""

    path: str
    lines: list[tuple[int, str]] = field(default_factory=list)
    unpinned: list[tuple[int, str]] = field(default_factory=list)
    header: int | None = None

    @property
    def locked(self) -> bool:
        return bool(self.lines) and (self.header is not None or not self.unpinned)


def requirement_lines(text: str) -> list[tuple[int, str]]:
    """Requirement lines of a pip requirements file: continuations joined, comments removed,
    options and includes (-r, -c, -e, --index-url) and local paths left out."""
    result: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if not line or line.startswith("-") or line.startswith((".", "/", "file:")):
            continue
        result.append((start, line))
    return result


_EXACT = re.compile(r"===?\s*[\w.+!-]+\s*($|[;,\s])")
_ARCHIVE = re.compile(r"\.(whl|tar\.gz|tgz|zip|tar\.bz2)(#|$)", re.I)
_VCS_COMMIT = re.compile(r"@[0-9a-f]{40}\b", re.I)


def is_pinned(requirement: str) -> bool:
    """One requirement names one exact version: `==`/`===` without a wildcard, a hash, a direct
    archive URL or a VCS URL at a full commit id."""
    if "--hash" in requirement:
        return True
    spec = requirement.split(" --", 1)[0].split(";", 1)[0]
    if "@" in spec and "://" in spec:
        url = spec.split("@", 1)[1].strip()
        return bool(_ARCHIVE.search(url) or _VCS_COMMIT.search(url))
    return bool(_EXACT.search(spec)) and "*" not in spec and "," not in spec


def read_requirements(snap: Snapshot, path: str) -> Requirements | None:
    text = snap.text(path)
    if not text.ok:
        return None
    found = Requirements(path, requirement_lines(text.value))
    found.unpinned = [(n, line) for n, line in found.lines if not is_pinned(line)]
    found.header = common.first_line(text.value, common.ignorecase(_catalogue()["lock_headers"]))
    return found


# -- declared ---------------------------------------------------------------------------------

def declarations(snap: Snapshot) -> tuple[list[Evidence], list[str]]:
    """Files that list the project's dependencies with at least one entry (an empty
    requirements file or a pyproject without dependencies declares nothing)."""
    catalogue = _catalogue()
    hits: list[Evidence] = []
    failed: list[str] = []
    for path in _outside_vendored(snap.glob(*catalogue["requirements"],
                                            *catalogue["requirements_in"])):
        text = snap.text(path)
        if not text.ok:
            failed.append(path)
            continue
        lines = requirement_lines(text.value)
        if lines:
            hits.append(common.at(path, lines[0][0], f"{len(lines)} requirement(s): "
                                                     f"{lines[0][1]}"))
    for path in _outside_vendored(snap.glob("pyproject.toml", "Pipfile")):
        found = _toml_dependencies(snap, path)
        if found is None:
            failed.append(path)
        elif found:
            hits.append(found[0])
    for path in _outside_vendored(snap.glob("setup.cfg")):
        hits += _setup_cfg(snap, path)
    for path in _outside_vendored(snap.glob("setup.py")):
        hits += _setup_py(snap, path)
    for path in conda_environments(snap):
        data = snap.yaml(path)
        if not data.ok:
            failed.append(path)
            continue
        dependencies = data.value.get("dependencies") if isinstance(data.value, dict) else None
        if isinstance(dependencies, list) and dependencies:
            line = common.first_line(snap.text(path).value or "", re.compile(r"^dependencies:"))
            hits.append(common.at(path, line, f"conda environment with {len(dependencies)} "
                                              "dependencies"))
    return hits, failed


def conda_environments(snap: Snapshot) -> list[str]:
    paths = snap.glob(*_catalogue()["conda_environments"])
    locks = set(snap.glob(*_catalogue()["lock_files"]))
    return [p for p in _outside_vendored(paths) if p not in locks]


def _toml_dependencies(snap: Snapshot, path: str) -> list[Evidence] | None:
    """Dependencies in pyproject.toml (PEP 621, dependency groups, Poetry, pixi) or a Pipfile."""
    data = snap.toml(path)
    if not data.ok:
        return None
    doc = _table(data.value)
    text = snap.text(path).value or ""
    found: list[tuple[str, str]] = []  # (line pattern, what)
    project = _table(doc.get("project"))
    if _non_empty(project.get("dependencies")):
        found.append((r"^dependencies\s*=", "[project] dependencies"))
    dynamic = project.get("dynamic")
    if isinstance(dynamic, list) and "dependencies" in dynamic:
        found.append((r"^dynamic\s*=", "[project] dependencies read from a file (dynamic)"))
    if _non_empty(project.get("optional-dependencies")):
        found.append((r"^\[project\.optional-dependencies\]", "[project.optional-dependencies]"))
    if _non_empty(doc.get("dependency-groups")):
        found.append((r"^\[dependency-groups\]", "[dependency-groups]"))
    tool = _table(doc.get("tool"))
    deps = _table(tool.get("poetry")).get("dependencies")
    if isinstance(deps, dict) and set(deps) - {"python"}:
        found.append((r"^\[tool\.poetry\.dependencies\]", "[tool.poetry.dependencies]"))
    if _non_empty(_table(tool.get("pixi")).get("dependencies")):
        found.append((r"^\[tool\.pixi\.dependencies\]", "[tool.pixi.dependencies]"))
    for table in ("packages", "dev-packages"):
        if _non_empty(doc.get(table)):
            found.append((rf"^\[{table}\]", f"Pipfile [{table}]"))
    return [common.at(path, common.first_line(text, re.compile(pattern, re.M)), what)
            for pattern, what in found]


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _non_empty(value: Any) -> bool:
    return isinstance(value, (list, dict)) and bool(value)


def _setup_cfg(snap: Snapshot, path: str) -> list[Evidence]:
    text = snap.text(path)
    if not text.ok:
        return []
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text.value)
        requires = parser.get("options", "install_requires", fallback="")
    except configparser.Error:
        return []
    if not requires.strip():
        return []
    line = common.first_line(text.value, re.compile(r"^install_requires\s*="))
    return [common.at(path, line, "setup.cfg [options] install_requires")]


def _setup_py(snap: Snapshot, path: str) -> list[Evidence]:
    tree = snap.python(path)
    if not tree.ok:
        return []
    for node in common.walk(tree.value):
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            if isinstance(node.value, (ast.List, ast.Tuple)) and not node.value.elts:
                continue
            return [common.at(path, node.value.lineno, "setup() install_requires")]
    return []


# -- locked -----------------------------------------------------------------------------------

@dataclass
class Locks:
    support: list[Evidence] = field(default_factory=list)
    counter: list[Evidence] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def lock_files(snap: Snapshot) -> Locks:
    """Lock files with locked packages in them (uv, Poetry, PDM, Pipenv, pixi, conda-lock),
    and conda explicit specifications (`@EXPLICIT`)."""
    locks = Locks()
    kinds: dict[str, dict[str, str]] = _catalogue()["lock_files"]
    for pattern, kind in kinds.items():
        for path in _outside_vendored(snap.glob(pattern)):
            text = snap.text(path)
            if not text.ok and text.error and text.error.startswith("file too large"):
                locks.support.append(common.at(path, None, f"lock file ({text.error})"))
                continue
            reader = {"toml": snap.toml, "json": snap.json, "yaml": snap.yaml}[kind["format"]]
            data = reader(path)
            if not data.ok:
                locks.failed.append(path)
            elif isinstance(data.value, dict) and _non_empty(data.value.get(kind["key"])):
                entries = data.value[kind["key"]]
                locks.support.append(common.at(path, 1, f"lock file with {len(entries)} "
                                                        "locked entries"))
            else:
                locks.counter.append(common.at(path, 1, "lock file without locked packages"))
    explicit = re.compile(r"^@EXPLICIT\s*$")
    for path in _outside_vendored(snap.glob(*_catalogue()["explicit_specs"])):
        if path in {e.path for e in locks.support}:
            continue
        text = snap.text(path)
        line = common.first_line(text.value, explicit) if text.ok else None
        if line:
            locks.support.append(common.at(path, line, "conda explicit specification"))
    return locks


def pinned_requirements(snap: Snapshot, locks: Locks) -> None:
    """Requirement files that lock: a pip-compile/uv/rye header, or every requirement pinned to
    one version. Main files decide (auxiliary dev/test/docs files only when there is nothing
    else); a partly pinned file is counter-evidence with its first unpinned line."""
    auxiliary = common.ignorecase(_catalogue()["auxiliary_requirements"])
    files: list[Requirements] = []
    for path in _outside_vendored(snap.glob(*_catalogue()["requirements"])):
        found = read_requirements(snap, path)
        if found is None:
            locks.failed.append(path)
        elif found.lines:
            files.append(found)
    main = [f for f in files if not auxiliary.search(f.path)]
    deciding = main or files
    for found in files:
        if found.locked:
            continue
        n, line = found.unpinned[0]
        role = "" if found in deciding else " (auxiliary file, does not decide)"
        locks.counter.append(common.at(
            found.path, n, f"{len(found.unpinned)} of {len(found.lines)} requirements not "
                           f"pinned to one version{role}, first: {line}"))
    if deciding and all(f.locked for f in deciding):
        for found in deciding:
            how = ("written by a lock tool" if found.header is not None else
                   f"all {len(found.lines)} requirements pinned with ==")
            locks.support.append(common.at(found.path, found.header or found.lines[0][0], how))


# -- containers -------------------------------------------------------------------------------

@dataclass(frozen=True)
class BaseImage:
    path: str
    line: int
    image: str  # as written
    resolved: str | None  # ARG defaults substituted; None when a variable has no default
    pinned: bool | None  # None: cannot tell


def dockerfile_instructions(text: str) -> list[tuple[int, str, str]]:
    """(line, instruction, arguments) of a Dockerfile: continuation lines joined (the escape
    character may be changed by a parser directive), comment lines dropped."""
    lines = text.split("\n")
    escape = "\\"
    for line in lines[:5]:
        directive = re.match(r"^#\s*escape\s*=\s*(\S)", line, re.I)
        if directive:
            escape = directive.group(1)
    result: list[tuple[int, str, str]] = []
    pending = ""
    start = 0
    for number, line in enumerate(lines, start=1):
        if line.strip().startswith("#"):
            continue
        if not pending:
            start = number
        stripped = line.rstrip()
        if stripped.endswith(escape):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            keyword, _, args = full.partition(" ")
            result.append((start, keyword.upper(), args.strip()))
    return result


_VARIABLE = re.compile(r"\$\{(\w+)(?::?[-+]([^}]*))?\}|\$(\w+)")


def base_images(path: str, text: str) -> list[BaseImage]:
    """External images a Dockerfile builds FROM. `scratch` and earlier stage names are not
    images; `${VAR}` takes its ARG default (or the inline `:-default`)."""
    args: dict[str, str | None] = {}
    stages: set[str] = set()
    images: list[BaseImage] = []
    for line, keyword, rest in dockerfile_instructions(text):
        if keyword == "ARG":
            for item in rest.split():
                name, has_default, default = item.partition("=")
                args[name] = default.strip("\"'") if has_default else args.get(name)
            continue
        if keyword != "FROM":
            continue
        tokens = [t for t in rest.split() if not t.startswith("--")]
        if not tokens:
            continue
        image = tokens[0]
        resolved = _substitute(image, args)
        internal = resolved is not None and resolved.lower() in stages | {"scratch"}
        if not internal:
            images.append(BaseImage(path, line, image, resolved,
                                    None if resolved is None else image_pinned(resolved)))
        if len(tokens) >= 3 and tokens[1].lower() == "as":
            stages.add(tokens[2].lower())
    return images


def _substitute(image: str, args: dict[str, str | None]) -> str | None:
    """IMAGE with build arguments replaced by their defaults. None when a variable without a
    default sits in the image's name or tag (a registry prefix alone does not matter)."""
    def value(match: re.Match[str]) -> str:
        found = args.get(match.group(1) or match.group(3))
        return found or match.group(2) or "\0"

    resolved = _VARIABLE.sub(value, image)
    if "\0" in resolved.rsplit("/", 1)[-1]:
        return None
    return resolved.replace("\0", "")


def image_pinned(image: str) -> bool:
    """An image reference is pinned by a digest or by a tag other than `latest`."""
    if "@" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    return bool(tag) and tag.lower() != "latest"


def containers(snap: Snapshot) -> tuple[list[Evidence], list[BaseImage], list[str]]:
    """Dockerfiles with a FROM instruction and devcontainer definitions (an image, a build or a
    compose file), with the base images they name."""
    catalogue = _catalogue()
    hits: list[Evidence] = []
    images: list[BaseImage] = []
    failed: list[str] = []
    for path in _outside_vendored(snap.glob(*catalogue["dockerfiles"])):
        text = snap.text(path)
        if not text.ok:
            failed.append(path)
            continue
        found = base_images(path, text.value)
        froms = [i for i in dockerfile_instructions(text.value) if i[1] == "FROM"]
        if froms:
            hits.append(common.at(path, froms[0][0], f"FROM {froms[0][2]}"))
            images += found
    devcontainer_key = re.compile(r'^\s*"(image|build|dockerFile|dockerfile|dockerComposeFile)"'
                                  r"\s*:\s*(.*)$")
    for path in _outside_vendored(snap.glob(*catalogue["devcontainers"])):
        lines = snap.lines(path)
        if not lines and path in snap.problems:
            failed.append(path)
        for number, line in enumerate(lines, start=1):
            match = devcontainer_key.match(line)
            if not match:
                continue
            hits.append(common.at(path, number, line.strip()))
            image = re.match(r'"([^"]+)"', match.group(2).strip())
            if match.group(1) == "image" and image:
                images.append(BaseImage(path, number, image.group(1), image.group(1),
                                        image_pinned(image.group(1))))
            break
    return hits, images, failed


# -- code branching on environment names -----------------------------------------------------

def environment_comparisons(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, environment name) of conditions (if, elif, while, conditional expressions, match
    cases) that compare a value with an environment name such as "prod" or "staging"."""
    hits: list[tuple[int, str]] = []
    for node in common.walk(tree):
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            for part in common.walk(node.test):
                if isinstance(part, ast.Compare):
                    hits += _compare_hits(part)
        elif isinstance(node, ast.Match):
            subject = ast.unparse(node.subject)
            for case in node.cases:
                for pattern in common.walk(case.pattern):
                    if (isinstance(pattern, ast.MatchValue)
                            and isinstance(pattern.value, ast.Constant)
                            and isinstance(pattern.value.value, str)
                            and _environment_name(pattern.value.value, subject)):
                        hits.append((pattern.lineno, pattern.value.value))
    return hits


def _compare_hits(node: ast.Compare) -> list[tuple[int, str]]:
    operands = [node.left, *node.comparators]
    literals: list[str] = []
    subjects: list[str] = []
    for operand in operands:
        values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
        strings = [v.value for v in values
                   if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        if strings and len(strings) == len(values):
            literals += strings
        elif not isinstance(operand, ast.Constant):
            subjects.append(ast.unparse(operand))
    subject = " ".join(subjects)
    return [(node.lineno, name) for name in literals if subjects and
            _environment_name(name, subject)]


def _environment_name(literal: str, subject: str) -> bool:
    catalogue = _catalogue()
    names = catalogue["environment_names"]
    name = literal.strip().lower()
    if common.ignorecase(catalogue["ignored_subjects"]).search(subject):
        return False
    if name in names["strong"]:
        return True
    return name in names["weak"] and bool(
        common.ignorecase(catalogue["environment_subject"]).search(subject))


@functools.cache
def _quoted_environment_names() -> re.Pattern[str]:
    names = _catalogue()["environment_names"]
    words = sorted({*names["strong"], *names["weak"]}, key=len, reverse=True)
    alternatives = "|".join(map(re.escape, words))
    return re.compile(r"""['"]\s*(""" + alternatives + r""")\s*['"]""", re.IGNORECASE)


def env_branches(snap: Snapshot) -> tuple[list[Evidence], list[Evidence], list[str], int]:
    """Branches on environment names in project code, and (not counted) in tests and settings
    modules, where choosing per environment is their job."""
    counted: list[Evidence] = []
    excluded: list[Evidence] = []
    failed: list[str] = []
    files = common.python_files(snap)
    config = set(matching(files, *_catalogue()["config_modules"]))
    scanned = 0
    quoted = _quoted_environment_names()
    for path in files:
        source = snap.text(path)
        if source.ok and not quoted.search(source.value):
            # No environment name in quotes anywhere in the file: nothing to compare with.
            scanned += 0 if common.is_test_path(path) or path in config else 1
            continue
        tree = snap.python(path)
        if not tree.ok:
            failed.append(path)
            continue
        lines = snap.lines(path)
        hits = environment_comparisons(tree.value)
        aside = common.is_test_path(path) or path in config
        scanned += 0 if aside else 1
        for line, name in hits:
            text = lines[line - 1].strip() if 0 < line <= len(lines) else name
            item = common.at(path, line, text)
            (excluded if aside else counted).append(item)
    return counted, excluded, failed, scanned


# -- facts ------------------------------------------------------------------------------------

def collect(snap: Snapshot) -> list[Fact]:
    locks = lock_files(snap)
    pinned_requirements(snap, locks)
    return [_declared(snap, locks), _locked(snap, locks), _lock_outdated(snap),
            *_container_facts(snap), _env_specific(snap)]


# -- lock freshness ---------------------------------------------------------------------------

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """A distribution name as package indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str | None:
    match = _NAME.match(spec)
    return normalise(match.group(1)) if match else None


def manifest_names(snap: Snapshot, path: str) -> dict[str, str] | None:
    """Declared dependency names (normalised -> as written) of pyproject.toml, a Pipfile or a
    pip-tools ``*.in`` file; None when the file cannot be read."""
    if path.endswith(".in"):
        parsed = snap.text(path)
        if not parsed.ok:
            return None
        return {n: raw for _, raw in requirement_lines(parsed.value)
                if (n := _requirement_name(raw)) and not raw.startswith("-")}
    data = snap.toml(path)
    if not data.ok:
        return None
    doc = _table(data.value)
    specs: list[str] = []
    project = _table(doc.get("project"))
    specs += [s for s in project.get("dependencies") or [] if isinstance(s, str)]
    for group in _table(project.get("optional-dependencies")).values():
        specs += [s for s in group if isinstance(s, str)] if isinstance(group, list) else []
    for group in _table(doc.get("dependency-groups")).values():
        specs += [s for s in group if isinstance(s, str)] if isinstance(group, list) else []
    tool = _table(doc.get("tool"))
    specs += [k for k in _table(_table(tool.get("poetry")).get("dependencies")) if k != "python"]
    for table in ("packages", "dev-packages"):
        specs += list(_table(doc.get(table)))
    return {n: spec for spec in specs if (n := _requirement_name(spec))}


def locked_names(snap: Snapshot, path: str) -> set[str] | None:
    """Names a lock file locks (uv, Poetry, PDM: [[package]] name; Pipfile.lock: default and
    develop; a compiled requirements file: its requirement lines)."""
    if path.endswith(".txt"):
        parsed = snap.text(path)
        if not parsed.ok:
            return None
        return {n for _, raw in requirement_lines(parsed.value) if (n := _requirement_name(raw))}
    if path.endswith("Pipfile.lock"):
        data = snap.json(path)
        if not data.ok or not isinstance(data.value, dict):
            return None
        return {normalise(k) for part in ("default", "develop")
                for k in _table(data.value.get(part))}
    data = snap.toml(path)
    if not data.ok:
        return None
    packages = _table(data.value).get("package")
    if not isinstance(packages, list):
        return None
    return {normalise(p["name"]) for p in packages
            if isinstance(p, dict) and isinstance(p.get("name"), str)}


def lock_pairs(snap: Snapshot) -> list[tuple[str, str]]:
    """(manifest, lock) pairs in the same folder: pyproject.toml with uv.lock, poetry.lock or
    pdm.lock; Pipfile with Pipfile.lock; requirements*.in with the .txt compiled from it."""
    pairs: list[tuple[str, str]] = []
    for lock in _outside_vendored(snap.glob("uv.lock", "poetry.lock", "pdm.lock")):
        manifest = posixpath.join(posixpath.dirname(lock), "pyproject.toml")
        if snap.exists(manifest):
            pairs.append((manifest, lock))
    for lock in _outside_vendored(snap.glob("Pipfile.lock")):
        manifest = lock.removesuffix(".lock")
        if snap.exists(manifest):
            pairs.append((manifest, lock))
    for source in _outside_vendored(snap.glob("requirements*.in")):
        compiled = source.removesuffix(".in") + ".txt"
        if snap.exists(compiled):
            pairs.append((source, compiled))
    return pairs


def _lock_outdated(snap: Snapshot) -> Fact:
    """A lock that does not lock everything its manifest declares was not regenerated after the
    manifest changed: installing from it does not give the declared environment."""
    stale: list[Evidence] = []
    fresh: list[Evidence] = []
    unread: list[str] = []
    pairs = lock_pairs(snap)
    for manifest, lock in pairs:
        declared, locked = manifest_names(snap, manifest), locked_names(snap, lock)
        if declared is None or locked is None:
            unread += [p for p, v in ((manifest, declared), (lock, locked)) if v is None]
            continue
        missing = sorted(set(declared) - locked)
        text = snap.text(manifest).value or ""
        for name in missing[:10]:
            raw = declared[name]
            line = common.first_line(text, re.compile(re.escape(raw.split()[0][:60])))
            stale.append(common.at(manifest, line, f"declares `{raw}`, which {lock} does not "
                                                    "lock: the lock is older than the manifest"))
        if not missing:
            fresh.append(common.at(lock, None, f"locks all {len(declared)} dependencies "
                                               f"declared in {manifest}"))
    if stale:
        return Fact("environment.lock_outdated", True, tuple(stale[:20]))
    if unread and not fresh:
        return common.unknown("environment.lock_outdated", "manifest or lock could not be read",
                              common.unreadable(snap, unread))
    if not pairs:
        return Fact("environment.lock_outdated", False, (common.searched(
            "a manifest and its lock to compare", "pyproject.toml with uv.lock/poetry.lock/"
            "pdm.lock, Pipfile with Pipfile.lock, requirements*.in with their .txt"),))
    return Fact("environment.lock_outdated", False, tuple(fresh[:20]))


def _declared(snap: Snapshot, locks: Locks) -> Fact:
    hits, failed = declarations(snap)
    hits += [e for e in locks.support if e.path not in {h.path for h in hits}]
    if hits:
        return Fact("environment.declared", True, tuple(hits[:20]))
    unread = common.unreadable(snap, failed)
    if failed:
        return common.unknown("environment.declared", "dependency files could not be read",
                              unread)
    return Fact("environment.declared", False, (common.searched(
        "declared dependencies", "requirements*.txt, pyproject.toml, Pipfile, setup.cfg, "
        "setup.py, environment*.yml, conda*.yaml"),))


def _locked(snap: Snapshot, locks: Locks) -> Fact:
    unread = common.unreadable(snap, locks.failed)
    if locks.support:
        return Fact("environment.locked", True,
                    tuple([*locks.support, *locks.counter, *unread][:20]))
    if locks.failed:
        return common.unknown("environment.locked", "lock or requirements files could not be "
                                                    "read", [*unread, *locks.counter])
    search = common.searched("a lock file or fully pinned requirements", "uv.lock, poetry.lock, "
                             "Pipfile.lock, pdm.lock, pixi.lock, conda-lock, requirements*.txt")
    return Fact("environment.locked", False, tuple([search, *locks.counter][:20]))


def _container_facts(snap: Snapshot) -> list[Fact]:
    hits, images, failed = containers(snap)
    unread = common.unreadable(snap, failed)
    if hits:
        container = Fact("environment.container", True, tuple([*hits, *unread][:20]))
    elif failed:
        container = common.unknown("environment.container", "container files could not be read",
                                   unread)
    else:
        container = Fact("environment.container", False, (common.searched(
            "a Dockerfile, Containerfile or devcontainer", "the repository"),))
    unpinned = [i for i in images if i.pinned is False]
    unknown = [i for i in images if i.pinned is None]
    if unpinned:
        base = Fact("environment.unpinned_base", True, tuple(
            common.at(i.path, i.line, f"FROM {i.image}: no tag or `latest`, no digest"
                      if i.resolved == i.image else
                      f"FROM {i.image} (= {i.resolved}): no tag or `latest`, no digest")
            for i in unpinned[:20]))
    elif unknown:
        base = common.unknown("environment.unpinned_base",
                              "a base image is set by a build argument without a default",
                              [common.at(i.path, i.line, f"FROM {i.image}: the build argument "
                                         "has no default, the image is chosen at build time")
                               for i in unknown])
    elif images:
        base = Fact("environment.unpinned_base", False, tuple(
            common.at(i.path, i.line, f"pinned base image {i.resolved}") for i in images[:20]))
    elif failed:
        base = common.unknown("environment.unpinned_base", "container files could not be read",
                              unread)
    else:
        base = Fact("environment.unpinned_base", False, (common.searched(
            "a container base image", "Dockerfiles and devcontainers"),))
    return [container, base]


def _env_specific(snap: Snapshot) -> Fact:
    counted, excluded, failed, scanned = env_branches(snap)
    if counted:
        return Fact("environment.env_specific_code", True, tuple(counted[:20]))
    items = [common.searched("conditions comparing a value with an environment name (prod, "
                             "staging, ...)", f"{scanned} project Python file(s), tests and "
                             "settings modules excluded")]
    items += [Evidence(f"not counted (test or settings module): {e.detail}", e.path, e.line)
              for e in excluded[:5]]
    return Fact("environment.env_specific_code", False,
                tuple([*items, *common.unreadable(snap, failed)][:20]))
