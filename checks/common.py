"""Small helpers the checks share: building facts with evidence, and searching text for it."""

from __future__ import annotations

import ast
import bisect
import fnmatch
import functools
import re
import sys
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

from mlops_auditor import parsers
from mlops_auditor.model import Evidence, Fact, FactValue
from mlops_auditor.snapshot import Snapshot

EXCERPT = 160

# Where a project's own ML code is not: vendored, generated or environment folders.
NOT_PROJECT_CODE = ("**/site-packages/**", "**/node_modules/**", "**/.venv/**", "**/venv/**",
                    "**/vendor/**", "**/third_party/**")


def excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def at(path: str, line: int | None, detail: str, commit: str | None = None) -> Evidence:
    return Evidence(detail=excerpt(detail), path=path, line=line, commit=commit)


def searched(what: str, where: str) -> Evidence:
    """Evidence for a search that found nothing: what was looked for, and where."""
    return Evidence(detail=f"did not find {what} in {where}")


def found(fact_id: str, items: Sequence[Evidence], what: str, where: str) -> Fact:
    """A boolean fact: true with its evidence, or false with the search that came up empty."""
    if items:
        return Fact(fact_id, True, tuple(items[:20]))
    return Fact(fact_id, False, (searched(what, where),))


def value(fact_id: str, val: FactValue, items: Iterable[Evidence] = ()) -> Fact:
    return Fact(fact_id, val, tuple(items)[:20])


def unknown(fact_id: str, reason: str, items: Iterable[Evidence] = ()) -> Fact:
    return Fact(fact_id, None, tuple(items)[:20], unknown=reason)


def unreadable(snap: Snapshot, paths: Iterable[str]) -> list[Evidence]:
    """Evidence for files a check wanted but could not read or parse."""
    return [Evidence(detail=f"unparseable: {snap.problems[p]}", path=p)
            for p in paths if p in snap.problems]


_COMMENT = {
    "#": re.compile(r"^\s*#"),
    "//": re.compile(r"^\s*(//|/\*|\*)"),
}


def is_comment(line: str, style: str = "#") -> bool:
    return bool(_COMMENT[style].match(line))


def grep(snap: Snapshot, paths: Iterable[str], pattern: re.Pattern[str],
         comment: str | None = "#", limit: int = 20) -> list[Evidence]:
    """Lines matching PATTERN in PATHS, with path and line; commented-out lines do not count."""
    hits: list[Evidence] = []
    for path in paths:
        for number, line in enumerate(snap.lines(path), start=1):
            if pattern.search(line) and not (comment and is_comment(line, comment)):
                hits.append(at(path, number, line.strip()))
                if len(hits) >= limit:
                    return hits
    return hits


def first_line(text: str, pattern: re.Pattern[str]) -> int | None:
    """1-based number of the first line of TEXT matching PATTERN."""
    for number, line in enumerate(text.split("\n"), start=1):
        if pattern.search(line):
            return number
    return None


class NameMatcher:
    """Whether a dotted name (``sklearn.ensemble.RandomForestClassifier``) matches any of some
    shell-style patterns, where ``*`` also spans dots. The checks ask this of every call of every
    file, so the common shapes skip regular expressions: exact names are a set lookup,
    ``prefix.*`` and ``*.suffix`` string tests; only other shapes become one combined regex.
    Answers are remembered per name: the same names recur across a code base."""

    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        infixes: list[str] = []
        other: list[str] = []
        for pattern in patterns:
            stars = pattern.count("*")
            if "[" in pattern or "?" in pattern:
                other.append(pattern)
            elif stars == 0:
                exact.add(pattern)
            elif stars == 1 and pattern.endswith("*"):
                prefixes.append(pattern[:-1])
            elif stars == 1 and pattern.startswith("*"):
                suffixes.append(pattern[1:])
            elif stars == 2 and pattern.startswith("*") and pattern.endswith("*"):
                infixes.append(pattern[1:-1])
            else:
                other.append(pattern)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._suffixes = tuple(suffixes)
        self._infixes = tuple(infixes)
        self._regex = (re.compile("|".join(fnmatch.translate(p) for p in other))
                       if other else None)
        self._seen: dict[str, bool] = {}
        # For select(): the shapes without a fast path, matched line by line over all names.
        self._rest = [f"*{i}*" for i in infixes] + other
        self._lines: re.Pattern[str] | None = None

    def __call__(self, name: str | None) -> bool:
        if name is None:
            return False
        known = self._seen.get(name)
        if known is None:
            known = self._seen[name] = (
                name in self._exact
                or (bool(self._prefixes) and name.startswith(self._prefixes))
                or (bool(self._suffixes) and name.endswith(self._suffixes))
                or any(i in name for i in self._infixes)
                or (self._regex is not None and self._regex.match(name) is not None))
        return known

    match = __call__

    def select(self, names: NameIndex) -> set[str]:
        """The names of NAMES this matcher accepts, found by lookups and binary searches in the
        index instead of asking name by name (only wildcards in the middle of a pattern, or
        ``?`` and ``[...]``, still try every name)."""
        found = set(self._exact.intersection(names.all))
        for prefix in self._prefixes:
            found.update(names.starting(prefix))
        for suffix in self._suffixes:
            found.update(names.ending(suffix))
        if self._rest:
            if self._lines is None:
                self._lines = re.compile("|".join(f"^{_line_pattern(p)}$" for p in self._rest),
                                         re.MULTILINE)
            found.update(self._lines.findall(names.joined))
        return found


def _line_pattern(pattern: str) -> str:
    """PATTERN as a regular expression for one line of text: ``*`` and ``?`` stop at line ends
    (names hold no line ends, so this is fnmatch's meaning for a name on its own line)."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        end = pattern.find("]", i + 1) if c == "[" else -1
        if c == "*":
            parts.append("[^\n]*")
        elif c == "?":
            parts.append("[^\n]")
        elif end != -1:
            parts.append("(?![\n])" + fnmatch.translate(pattern[i : end + 1])[4:-3])
            i = end
        else:
            parts.append(re.escape(c))
        i += 1
    return "(?:" + "".join(parts) + ")"


class NameIndex:
    """Distinct dotted names, sorted forwards and backwards for prefix and suffix searches, and
    joined one per line for the other shapes (a name holding a line end, which no dotted name
    of code does, is left out)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.all = frozenset(n for n in names if "\n" not in n)
        self._forward = sorted(self.all)
        self._backward = sorted(n[::-1] for n in self.all)
        self.joined = "\n".join(self._forward)

    def starting(self, prefix: str) -> list[str]:
        start = bisect.bisect_left(self._forward, prefix)
        end = start
        while end < len(self._forward) and self._forward[end].startswith(prefix):
            end += 1
        return self._forward[start:end]

    def ending(self, suffix: str) -> list[str]:
        key = suffix[::-1]
        start = bisect.bisect_left(self._backward, key)
        out = []
        for reverse in self._backward[start:]:
            if not reverse.startswith(key):
                break
            out.append(reverse[::-1])
        return out


_MATCHERS: dict[tuple[str, ...], NameMatcher] = {}


def name_matcher(patterns: Iterable[str]) -> NameMatcher:
    """The shared matcher for PATTERNS (one per distinct list of patterns)."""
    key = tuple(patterns)
    matcher = _MATCHERS.get(key)
    if matcher is None:
        matcher = _MATCHERS[key] = NameMatcher(key)
    return matcher


@functools.cache
def ignorecase(text: str) -> re.Pattern[str]:
    """TEXT (a catalogue's regular expression) compiled case-insensitively, once."""
    return re.compile(text, re.I)


def as_list(value: Any) -> list[Any]:
    """VALUE as a list: itself when it is one, nothing for None, else a list of one."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def ml_context(snap: Snapshot, path: str) -> bool:
    """True when PATH (a module or a notebook) imports a data, ML, tracking or serving library
    (catalogue ``common``): code that can be an ML project's code. Decided once per file: the
    checks ask for every use and definition they consider."""

    def decide() -> bool:
        source = snap.text(path)
        return source.ok and bool(_ml_imports().search(source.value))

    result: bool = snap.memo(f"common.ml_context:{path}", decide)
    return result


def _ml_imports() -> re.Pattern[str]:
    if "ml_imports" not in _DERIVED:
        names = "|".join(re.escape(n) for n in catalogue("common")["ml_libraries"])
        _DERIVED["ml_imports"] = re.compile(
            rf'^\s*"?\s*(?:import|from)\s+(?:{names})\b', re.MULTILINE)
    return _DERIVED["ml_imports"]


def python_files(snap: Snapshot, include_tests: bool = True) -> list[str]:
    """The project's own Python files (vendored and environment folders left out)."""
    vendored = set(snap.glob(*NOT_PROJECT_CODE))
    files = [f for f in snap.glob("**/*.py") if f not in vendored]
    if not include_tests:
        files = [f for f in files if not is_test_path(f)]
    return files


_TEST_PATH = re.compile(
    r"(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_test\.py$|(^|/)conftest\.py$")


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def catalogue(name: str) -> dict[str, Any]:
    """A check's catalogue of names and patterns (``checks/catalogues/NAME.yaml``): data, so a
    reader sees what counts without reading code. A user's extension files (``--catalogue``)
    are merged on top: mappings merge, lists gain the new items, other values are replaced."""
    if name not in _CATALOGUES:
        data = builtin_catalogue(name)
        for extra in _EXTENSIONS:
            if name in extra:
                data = merge_catalogue(data, extra[name])
        _CATALOGUES[name] = data
    return _CATALOGUES[name]


def builtin_catalogue(name: str) -> dict[str, Any]:
    text = resources.files("mlops_auditor.checks").joinpath(
        "catalogues", f"{name}.yaml").read_text(encoding="utf-8")
    data = parsers.load_yaml(text)
    if not isinstance(data, dict):
        raise ValueError(f"catalogue {name}: expected a mapping")
    return data


def catalogue_names() -> list[str]:
    folder = resources.files("mlops_auditor.checks").joinpath("catalogues")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir()
                  if p.name.endswith(".yaml"))


def merge_catalogue(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = merge_catalogue(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        return base + [item for item in extra if item not in base]
    return extra


def use_extensions(extensions: Sequence[dict[str, Any]]) -> None:
    """Make EXTENSIONS (mappings of catalogue name -> additions) part of every catalogue, and
    forget everything the checks derived from the catalogues before (their cached patterns)."""
    global _EXTENSIONS
    if list(extensions) == _EXTENSIONS and _CATALOGUES:
        return
    _EXTENSIONS = list(extensions)
    _CATALOGUES.clear()
    _DERIVED.clear()
    _MATCHERS.clear()
    for module in list(sys.modules.values()):
        if module is not None and module.__name__.startswith("mlops_auditor.checks"):
            for value in vars(module).values():
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


_CATALOGUES: dict[str, dict[str, Any]] = {}
_DERIVED: dict[str, re.Pattern[str]] = {}
_EXTENSIONS: list[dict[str, Any]] = []


# Walking syntax trees is most of what the code-reading checks cost, and several checks walk the
# same trees: each walk is computed once per node and shared. Expression contexts (Load, Store)
# are left out: no check looks for them, and they are a third of all nodes. These caches hold
# the trees they describe; the engine empties them when an audit starts, so a long-lived process
# keeps at most one audit's trees.
_WALKS: dict[ast.AST, tuple[ast.AST, ...]] = {}
TREE_CACHES: list[dict[Any, Any]] = [_WALKS]


def clear_tree_caches() -> None:
    for cache in TREE_CACHES:
        cache.clear()


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def children(node: ast.AST) -> list[ast.AST]:
    """The direct child nodes of NODE (like ``ast.iter_child_nodes``, without contexts)."""
    kind = type(node)
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f != "ctx")
    kids: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST):
                    kids.append(item)
        elif isinstance(value, ast.AST):
            kids.append(value)
    return kids


def walk(root: ast.AST) -> tuple[ast.AST, ...]:
    """Every node under ROOT, ROOT first, in source order; computed once per node."""
    cached = _WALKS.get(root)
    if cached is None:
        out: list[ast.AST] = []
        stack = [root]
        while stack:
            node = stack.pop()
            out.append(node)
            kids = children(node)
            if kids:
                kids.reverse()
                stack.extend(kids)
        cached = _WALKS[root] = tuple(out)
    return cached
