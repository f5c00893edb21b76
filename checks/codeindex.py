"""The Python code index shared by the code-reading checks (monitoring, tracking, feature store,
explainability, experimentation): definitions, calls, imports, routes and which code is live,
built once per snapshot from syntax trees. Nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from mlops_auditor import parsers
from mlops_auditor.checks import common
from mlops_auditor.model import Evidence
from mlops_auditor.snapshot import Snapshot


def _cat() -> dict[str, Any]:
    return common.catalogue("monitoring")


# =============================================================================================
# Python code index, shared by monitoring, tracking, featurestore, explainability and
# experimentation. Built once per snapshot from the syntax trees of the project's Python files
# (tests excluded) and notebooks' code cells (lines starting with % or ! dropped). Nothing runs.
# =============================================================================================

@dataclass(eq=False)
class Definition:
    """A function or class of the audited code and what its body mentions."""

    key: str
    name: str
    path: str
    line: int
    cell: int | None
    kind: str  # "function", "method" or "class"
    parent: str | None  # key of the enclosing definition
    decorators: tuple[str, ...]  # resolved names of its decorators
    bases: tuple[str, ...]  # resolved names of a class's bases
    stub: bool  # body is only a docstring, pass, ..., or raise NotImplementedError
    dead: bool  # defined under a constant-false condition
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    refs: set[str] = field(default_factory=set)  # identifiers its body mentions
    targets: set[str] = field(default_factory=set)  # resolved dotted names its body mentions
    live: bool = False


@dataclass(eq=False)
class Use:
    """A call (``kind`` "call": ``name`` is the callee's resolved dotted name), a keyword
    argument, dict key or attribute assignment (``kind`` "key": ``name`` is the key, ``within``
    the call it is passed to or the object assigned to, ``node`` the value), or a string literal
    used in code (``kind`` "str": ``name`` is its value, an f-string's source for f-strings;
    docstrings and other bare string statements are not uses)."""

    kind: str
    name: str
    path: str
    line: int
    cell: int | None
    owner: Definition | None
    dead: bool
    text: str
    node: ast.AST
    notebook: bool
    within: str = ""

    @property
    def live(self) -> bool:
        """Runs when the code runs: not under a constant-false condition, and at module level
        or inside a definition something calls."""
        return not self.dead and (self.owner is None or self.owner.live)

    def why_not(self) -> str:
        if self.dead:
            return "under a constant-false condition"
        if self.owner is not None and self.owner.stub:
            return f"in `{self.owner.name}`, a stub"
        if self.owner is not None:
            return f"in `{self.owner.name}`, which nothing calls"
        return ""


@dataclass(frozen=True)
class Import:
    module: str
    line: int
    cell: int | None
    text: str


@dataclass(frozen=True)
class Route:
    path: str
    line: int
    route: str  # the URL rule ("" when not a literal)
    handler: str  # key of the handler definition ("" for add_url_rule style routes)


@dataclass(eq=False)
class CodeFile:
    path: str
    notebook: bool
    module: str
    aliases: dict[str, str] = field(default_factory=dict)
    # (scope, name) -> what the name is bound to; scope is 0 for the module, else id() of the
    # function or class (``self.x`` binds in the class) whose body binds it.
    values: dict[tuple[int, str], str] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)
    defs: list[Definition] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)
    module_refs: set[str] = field(default_factory=set)
    module_targets: set[str] = field(default_factory=set)
    routes: list[Route] = field(default_factory=list)
    serving: str = ""  # why this file serves requests, "" when it does not
    # Keys of the model-server classes when only they serve (the rest of the file, often the
    # training script that logs the model, does not run in the server); empty: the whole file.
    server_classes: tuple[str, ...] = ()


@dataclass(eq=False)
class CodeIndex:
    """The project's code, read once: files, definitions and their liveness, the module names
    that resolve imports, and the definitions serving code reaches."""

    files: dict[str, CodeFile]
    unparsed: list[str]
    defs: dict[str, Definition]
    modules: dict[str, list[str]]  # dotted module name (and its suffixes) -> paths
    top_defs: dict[tuple[str, str], list[Definition]]  # (path, name) -> module-level defs
    children: dict[str, list[Definition]]
    config_text: str
    serving_keys: set[str] = field(default_factory=set)
    _call_uses: list[Use] | None = None
    _call_names: common.NameIndex | None = None
    _matched: dict[tuple[str, ...], list[Use]] = field(default_factory=dict)

    # -- queries --------------------------------------------------------------------------

    def uses(self) -> Iterator[Use]:
        for f in self.files.values():
            yield from f.uses

    def _calls(self) -> list[Use]:
        if self._call_uses is None:
            self._call_uses = [u for u in self.uses() if u.kind == "call"]
        return self._call_uses

    def calls(self, patterns: Iterable[str], notebooks: bool = True,
              live: bool | None = True) -> list[Use]:
        """Calls whose resolved name matches a pattern; ``live=None`` returns all of them."""
        key = tuple(patterns)
        if key not in self._matched:
            calls = self._calls()
            if self._call_names is None:
                self._call_names = common.NameIndex(u.name for u in calls)
            wanted = common.name_matcher(key).select(self._call_names)
            self._matched[key] = [u for u in calls if u.name in wanted] if wanted else []
        return [u for u in self._matched[key]
                if (notebooks or not u.notebook) and (live is None or u.live == live)]

    def strings(self, pattern: re.Pattern[str], notebooks: bool = True) -> list[Use]:
        """Live string literals matching PATTERN."""
        return [u for u in self.uses() if u.kind == "str" and u.live and pattern.search(u.name)
                and (notebooks or not u.notebook)]

    def keys(self, names: Iterable[str], notebooks: bool = True) -> list[Use]:
        """Live keyword arguments and dict keys with one of NAMES whose value is not False/None."""
        wanted = set(names)
        return [u for u in self.uses() if u.kind == "key" and u.name in wanted and u.live
                and (notebooks or not u.notebook) and not is_off(u.node)]

    def serving_files(self) -> list[CodeFile]:
        """Files that serve requests (routes, services, model-server classes, handlers)."""
        return [f for f in self.files.values() if f.serving]

    def on_serving_path(self, use: Use) -> bool:
        """The use runs while serving: it is live, in a file that serves as a whole (web app,
        service, handler module) or in a definition that serving code reaches through its calls
        and references (resolved through imports)."""
        if not use.live or use.notebook:
            return False
        f = self.files[use.path]
        if f.serving and not f.server_classes:
            return True
        return use.owner is not None and use.owner.key in self.serving_keys

    def serves(self, d: Definition) -> bool:
        """The definition runs while serving: it sits in a file that serves as a whole, or
        serving code reaches it (a model-server class and what its methods call)."""
        f = self.files[d.path]
        return bool(f.serving and not f.server_classes) or d.key in self.serving_keys

    def resolve(self, path: str, dotted: str) -> list[Definition]:
        """Project definitions a dotted name used in PATH refers to (through its imports)."""
        parts = [re.sub(r"(\(\)|\[\])+$", "", p) for p in dotted.split(".")]
        if not parts or not parts[0]:
            return []
        local = self.top_defs.get((path, parts[0]), [])
        if len(parts) == 1:
            return local
        for i in range(len(parts) - 1, 0, -1):
            found = [d for p in self.modules.get(".".join(parts[:i]), [])
                     for d in self.top_defs.get((p, parts[i]), [])]
            if found:
                return found
        return local

    def reach(self, start: Iterable[Definition], targets: Iterable[tuple[str, str]] = ()
              ) -> set[str]:
        """Keys of the live definitions START reaches through what their bodies mention (a
        class brings its methods). TARGETS adds (path, dotted name) starting points."""
        reached: set[str] = set()
        queue: list[Definition] = []

        def add(d: Definition) -> None:
            if d.key in reached or not d.live or self.files[d.path].notebook:
                return
            reached.add(d.key)
            queue.append(d)
            for child in self.children.get(d.key, []):
                if child.kind == "method":
                    add(child)

        for d in start:
            add(d)
        for path, dotted in targets:
            for d in self.resolve(path, dotted):
                add(d)
        while queue:
            d = queue.pop()
            for dotted in d.targets:
                for found in self.resolve(d.path, dotted):
                    add(found)
        return reached

    def notebook_scheduled(self, path: str) -> bool:
        """A notebook named in configuration (a job's notebook_path, a pipeline step)."""
        stem = re.escape(PurePosixPath(path).stem)
        return bool(re.search(rf"(?<![\w-]){stem}(?![\w-])", self.config_text))


def code_index(snap: Snapshot) -> CodeIndex:
    """The shared code index of SNAP (built once per snapshot)."""
    index: CodeIndex = snap.memo("monitoring.code_index", lambda: _build_index(snap))
    return index


def is_off(node: ast.AST) -> bool:
    """A value that switches something off: False, None, 0 or an empty literal."""
    if isinstance(node, ast.Constant):
        return not node.value
    return isinstance(node, (ast.List, ast.Tuple, ast.Dict, ast.Set)) and not (
        node.keys if isinstance(node, ast.Dict) else node.elts)


def use_evidence(use: Use, what: str) -> Evidence:
    """Evidence for a use: its file and line (notebooks: the cell) and the source line."""
    if use.cell is not None:
        return common.at(use.path, None, f"cell {use.cell}: {what}: {use.text}")
    return common.at(use.path, use.line, f"{what}: {use.text}")


def strings_in(use: Use, f: CodeFile) -> list[str]:
    """String literals in a use (f-strings as their source), names bound to strings resolved."""
    found: list[str] = []
    for node in common.walk(use.node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            found.append(ast.unparse(node))
        elif isinstance(node, (ast.Name, ast.Attribute)):
            bound = f.strings.get(_target_text(node))
            if bound is not None:
                found.append(bound)
    return found


def def_evidence(d: Definition, what: str) -> Evidence:
    """Evidence for a definition: its file and line (notebooks: the cell)."""
    if d.cell is not None:
        return common.at(d.path, None, f"cell {d.cell}: {what}")
    return common.at(d.path, d.line, what)


def not_counted(code: CodeIndex, patterns: Iterable[str], libraries: Iterable[str] = (),
                notebooks: bool = True, limit: int = 5) -> list[Evidence]:
    """Counter-evidence: matching calls that never run, and libraries imported but not called."""
    items = [Evidence(detail=common.excerpt(f"not counted ({u.why_not()}): {u.text}"),
                      path=u.path, line=None if u.cell else u.line)
             for u in code.calls(tuple(patterns), notebooks=notebooks, live=False)[:limit]]
    roots = tuple(libraries)
    if roots:
        called = {u.name.split(".")[0] for u in code.calls(("*",))}
        for f in code.files.values():
            for imp in f.imports:
                root = imp.module.split(".")[0]
                if root in roots and root not in called and len(items) < limit * 2:
                    items.append(Evidence(
                        detail=common.excerpt(f"imported but never called: {imp.text}"),
                        path=f.path, line=None if imp.cell else imp.line))
    return items


# One parsed piece of code: (notebook cell number or None, syntax tree, source lines).
_Unit = tuple[int | None, ast.Module, list[str]]


def _build_index(snap: Snapshot) -> CodeIndex:
    cat = _cat()["code"]
    files: dict[str, CodeFile] = {}
    unparsed: list[str] = []
    for path in common.python_files(snap, include_tests=False):
        parsed = snap.python(path)
        if not parsed.ok:
            unparsed.append(path)
            continue
        f = CodeFile(path, False, _module_name(path))
        if _read_file(snap, f, [(None, parsed.value, snap.lines(path))]):
            files[path] = f
        else:
            unparsed.append(path)
    skip = set(snap.glob(*common.NOT_PROJECT_CODE, "**/.ipynb_checkpoints/**"))
    for path in snap.glob("**/*.ipynb"):
        if path in skip or common.is_test_path(path):
            continue
        notebook = snap.notebook(path)
        if not notebook.ok:
            unparsed.append(path)
            continue
        units: list[_Unit] = []
        for number, (kind, source) in enumerate(notebook.value, start=1):
            if kind != "code":
                continue
            lines: list[str] = ["" if ln.lstrip().startswith(("%", "!")) else ln
                                for ln in source.split("\n")]
            try:
                units.append((number, parsers.load_python("\n".join(lines)), lines))
            except parsers.ParseError:
                continue
        f = CodeFile(path, True, "")
        if _read_file(snap, f, units):
            files[path] = f
        else:
            unparsed.append(path)
    index = CodeIndex(files=files, unparsed=unparsed, defs={}, modules={}, top_defs={},
                      children={}, config_text=_config_text(snap, cat["config_files"]))
    for f in files.values():
        for d in f.defs:
            index.defs[d.key] = d
            if d.parent is None:
                index.top_defs.setdefault((f.path, d.name), []).append(d)
            else:
                index.children.setdefault(d.parent, []).append(d)
        if not f.notebook:
            for name in _module_suffixes(f.path):
                index.modules.setdefault(name, []).append(f.path)
    _mark_live(index)
    for f in files.values():
        if not f.notebook:
            f.serving, f.server_classes = _serving_reason(index, f, cat)
    serving = index.serving_files()
    index.serving_keys = index.reach(
        [d for f in serving for d in f.defs
         if not f.server_classes or d.key in f.server_classes],
        [(f.path, t) for f in serving if not f.server_classes for t in f.module_targets])
    return index


def _module_name(path: str) -> str:
    stem = path[:-3]
    if stem.endswith("/__init__") or stem == "__init__":
        stem = stem[: -len("__init__")].rstrip("/")
    return stem.replace("/", ".")


def _module_suffixes(path: str) -> list[str]:
    parts = _module_name(path).split(".")
    return [".".join(parts[i:]) for i in range(len(parts)) if parts[i]]


def _config_text(snap: Snapshot, patterns: list[str]) -> str:
    chunks = []
    for path in snap.glob(*patterns):
        if snap.size(path) <= 512 * 1024:
            parsed = snap.text(path)
            if parsed.ok:
                chunks.append(parsed.value)
    return "\n".join(chunks)


def _read_file(snap: Snapshot, f: CodeFile, units: list[_Unit]) -> bool:
    """Two passes: imports and names bound to calls/strings (breadth first, so module-level
    imports come before the code that uses them), then every definition, call, key and
    reference with where it sits (its enclosing definition, dead or not). False (and the
    problem recorded) when the code is nested too deeply to walk."""
    try:
        _read_units(f, units)
    except RecursionError:
        snap.problems[f.path] = "code nested too deeply to read"
        return False
    return True


def _read_units(f: CodeFile, units: list[_Unit]) -> None:
    for cell, tree, _ in units:
        _read_bindings(f, tree, cell)
    for cell, tree, lines in units:
        _Reader(f, cell, lines).visit(tree)


_Scopes = tuple[int, ...]  # enclosing scopes, innermost first, ending with the module (0)


def _read_bindings(f: CodeFile, tree: ast.Module, cell: int | None) -> None:
    """Imports and bindings, breadth first, each binding kept in the scope that makes it."""
    queue: deque[tuple[ast.AST, _Scopes, int]] = deque([(tree, (0,), 0)])
    while queue:
        node, scopes, klass = queue.popleft()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            _read_import(f, node, cell)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.With, ast.AsyncWith)):
            _read_binding(f, node, scopes, klass)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scopes = (id(node), *scopes)
        elif isinstance(node, ast.ClassDef):
            scopes, klass = (id(node), *scopes), id(node)
        queue.extend((child, scopes, klass) for child in _blocks(node))


_BLOCK_FIELDS: dict[type, tuple[str, ...]] = {}


def _blocks(node: ast.AST) -> list[ast.AST]:
    """The statements (and except handlers, match cases) directly inside NODE, in field order.
    Imports and bindings are statements, and no statement sits inside an expression, so the
    breadth-first reading of bindings can skip expressions without changing its order."""
    kind = type(node)
    fields = _BLOCK_FIELDS.get(kind)
    if fields is None:
        fields = _BLOCK_FIELDS[kind] = tuple(
            f for f in kind._fields if f in ("body", "orelse", "finalbody", "handlers", "cases"))
    out: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            out += value
    return out


def _read_import(f: CodeFile, node: ast.Import | ast.ImportFrom, cell: int | None) -> None:
    text = ast.unparse(node)
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                f.aliases[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                f.aliases[root] = root
            f.imports.append(Import(alias.name, node.lineno, cell, text))
        return
    base = node.module or ""
    if node.level:
        package = f.module.split(".")[:-1] if not f.path.endswith("__init__.py") else \
            f.module.split(".")
        keep = package[: max(len(package) - (node.level - 1), 0)]
        base = ".".join([*keep, *([node.module] if node.module else [])])
    for alias in node.names:
        if alias.name != "*":
            f.aliases[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
    f.imports.append(Import(base, node.lineno, cell, text))


def _read_binding(f: CodeFile, node: ast.AST, scopes: _Scopes, klass: int) -> None:
    pairs: list[tuple[ast.expr, ast.expr]] = []
    if isinstance(node, ast.Assign):
        pairs = [(t, node.value) for t in node.targets]
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        pairs = [(node.target, node.value)]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        pairs = [(i.optional_vars, i.context_expr) for i in node.items if i.optional_vars]
    for target, value in pairs:
        name = _target_text(target)
        if not name:
            continue
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            f.strings[name] = value.value
        elif isinstance(value, ast.JoinedStr):
            f.strings[name] = ast.unparse(value)
        else:
            resolved = dotted(value, f, scopes)
            scope = klass if klass and name.startswith(("self.", "cls.")) else scopes[0]
            if resolved and resolved != name:
                f.values[(scope, name)] = resolved


def _target_text(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _target_text(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def dotted(node: ast.AST, f: CodeFile, scopes: _Scopes = (0,), depth: int = 0) -> str | None:
    """The resolved dotted name of an expression where SCOPES are the enclosing scopes: import
    aliases and names bound to calls are followed (``mf.log_metric`` -> ``mlflow.log_metric``;
    ``run = wandb.init(); run.log`` -> ``wandb.init().log``)."""
    if depth > 20:
        return None
    if isinstance(node, ast.Name):
        return _bound(f, node.id, scopes) or f.aliases.get(node.id) or node.id
    if isinstance(node, ast.Attribute):
        text = _target_text(node)
        bound = _bound(f, text, scopes) if text else None
        if bound:
            return bound
        base = dotted(node.value, f, scopes, depth + 1)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call):
        base = dotted(node.func, f, scopes, depth + 1)
        return f"{base}()" if base else None
    if isinstance(node, ast.Subscript):
        base = dotted(node.value, f, scopes, depth + 1)
        return f"{base}[]" if base else None
    return None


def _bound(f: CodeFile, name: str, scopes: _Scopes) -> str | None:
    for scope in scopes:
        value = f.values.get((scope, name))
        if value:
            return value
    return None


def constant_truth(node: ast.AST) -> bool | None:
    """True/False for a condition that is a constant (``if False:``, ``if 0:``), else None."""
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = constant_truth(node.operand)
        return None if inner is None else not inner
    return None


def is_stub(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
    """A body of only a docstring, ``pass``, ``...``, a bare return or raise NotImplementedError
    (the usual shape of a placeholder left to fill in later)."""
    if isinstance(node, ast.ClassDef):
        return False
    for stmt in node.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Return) and (stmt.value is None or (
                isinstance(stmt.value, ast.Constant) and stmt.value.value is None)):
            continue
        if isinstance(stmt, ast.Raise) and stmt.exc is not None and "NotImplementedError" in \
                ast.unparse(stmt.exc):
            continue
        return False
    return True


_IDENT = re.compile(r"[A-Za-z_]\w*\Z")
_ENTRY = re.compile(r"[\w.]+[:.]([A-Za-z_]\w*)\Z")


_UNSET: Any = object()
_VISITS: dict[type, Any] = {}


class _Reader(ast.NodeVisitor):
    """Walks one syntax tree, recording definitions, uses and references with their context."""

    def __init__(self, f: CodeFile, cell: int | None, lines: list[str]) -> None:
        self.f = f
        self.cell = cell
        self.lines = lines
        self.owner: Definition | None = None
        self.dead = False
        self.scopes: _Scopes = (0,)
        self.route_call = common.name_matcher(_cat()["code"]["route_calls"])

    # ast.NodeVisitor's dispatch, with the method looked up once per node type and children
    # listed without their expression contexts (no visit_Load/visit_Store here): the reader
    # visits every node of every file, and this is most of its cost.
    def visit(self, node: ast.AST) -> None:
        kind = type(node)
        method = _VISITS.get(kind, _UNSET)
        if method is _UNSET:
            method = _VISITS[kind] = getattr(_Reader, "visit_" + kind.__name__, None)
        if method is None:
            for child in common.children(node):
                self.visit(child)
        else:
            method(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        for child in common.children(node):
            self.visit(child)

    def _text(self, line: int) -> str:
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    def _use(self, kind: str, name: str, node: ast.AST, line: int, within: str = "") -> None:
        self.f.uses.append(Use(kind, name, self.f.path, line, self.cell, self.owner, self.dead,
                               self._text(line), node, self.f.notebook, within))

    def _ref(self, name: str) -> None:
        if not self.dead:
            (self.owner.refs if self.owner else self.f.module_refs).add(name)

    def _target(self, name: str | None) -> None:
        if name and not self.dead:
            (self.owner.targets if self.owner else self.f.module_targets).add(name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._define(node, "function")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._define(node, "function")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._define(node, "class")

    def _define(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
                kind: str) -> None:
        decorators: list[str] = []
        for dec in node.decorator_list:
            self.visit(dec)
            name = dotted(dec.func if isinstance(dec, ast.Call) else dec, self.f, self.scopes)
            if name:
                decorators.append(name)
                if not isinstance(dec, ast.Call):  # applying a bare decorator calls it
                    self._use("call", name, dec, dec.lineno)
        bases: list[str] = []
        if isinstance(node, ast.ClassDef):
            for base in [*node.bases, *node.keywords]:
                self.visit(base)
            bases = [b for b in (dotted(x, self.f, self.scopes) for x in node.bases) if b]
        else:
            self.visit(node.args)
            if node.returns:
                self.visit(node.returns)
        if kind == "function" and self.owner is not None and self.owner.kind == "class":
            kind = "method"
        definition = Definition(
            key=f"{self.f.path}:{self.cell or 0}:{node.lineno}:{node.name}", name=node.name,
            path=self.f.path, line=node.lineno, cell=self.cell, kind=kind,
            parent=self.owner.key if self.owner else None, decorators=tuple(decorators),
            bases=tuple(bases), stub=is_stub(node), dead=self.dead, node=node)
        self.f.defs.append(definition)
        for dec in node.decorator_list:
            self._route(dec, definition)
        saved, saved_scopes = self.owner, self.scopes
        self.owner, self.scopes = definition, (id(node), *self.scopes)
        for stmt in node.body:
            self.visit(stmt)
        self.owner, self.scopes = saved, saved_scopes

    def _route(self, dec: ast.expr, handler: Definition) -> None:
        routes = _cat()["code"]["route_decorators"]
        if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and \
                dec.func.attr in routes:
            rule = ""
            args = [*dec.args, *(k.value for k in dec.keywords if k.arg in ("path", "rule"))]
            if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
                rule = args[0].value
            self.f.routes.append(Route(self.f.path, dec.lineno, rule, handler.key))

    def _block(self, statements: list[ast.stmt], dead: bool) -> None:
        saved = self.dead
        self.dead = self.dead or dead
        for stmt in statements:
            self.visit(stmt)
        self.dead = saved

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        truth = constant_truth(node.test)
        self._block(node.body, truth is False)
        self._block(node.orelse, truth is True)

    def visit_While(self, node: ast.While) -> None:
        self.visit(node.test)
        truth = constant_truth(node.test)
        self._block(node.body, truth is False)
        self._block(node.orelse, False)

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted(node.func, self.f, self.scopes)
        if name:
            self._use("call", name, node, node.lineno)
        for kw in node.keywords:
            if kw.arg:
                self._use("key", kw.arg, kw.value, getattr(kw, "lineno", node.lineno), name or "")
        if name and self.route_call(name):
            rule = node.args[0] if node.args else None
            text = rule.value if isinstance(rule, ast.Constant) and isinstance(
                rule.value, str) else ""
            self.f.routes.append(Route(self.f.path, node.lineno, text, ""))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        # ``endpoint.traffic = {...}`` sets a field the way ``traffic={...}`` would.
        for target in node.targets:
            if isinstance(target, ast.Attribute):
                self._use("key", target.attr, node.value, node.lineno,
                          dotted(target.value, self.f, self.scopes) or "")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, val in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self._use("key", key.value, val, getattr(key, "lineno", node.lineno))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._ref(node.id)
            alias = self.f.aliases.get(node.id)
            if alias:
                self._ref(alias.rsplit(".", 1)[-1])
            self._target(dotted(node, self.f, self.scopes))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.ctx, ast.Load):
            self._ref(node.attr)
            self._target(dotted(node, self.f, self.scopes))
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        # A bare string statement is a docstring or code commented out in quotes: not a use.
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._use("str", ast.unparse(node), node, node.lineno)
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                self.visit(value)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and len(node.value) < 1000:
            self._use("str", node.value, node, node.lineno)
        if isinstance(node.value, str) and len(node.value) < 200:
            if _IDENT.match(node.value):
                self._ref(node.value)
            else:
                entry = _ENTRY.match(node.value)
                if entry:
                    self._ref(entry.group(1))


def _mark_live(index: CodeIndex) -> None:
    """A definition is live when module-level code, a live definition, a string naming it (an
    entry point) or configuration mentions its name, it is a decorated module-level
    definition (routes, tasks, flows register themselves), or a model server calls it by
    convention (handler modules, model-server classes). Methods live with their class.
    Names count, not scopes: two functions of the same name live together (lenient on purpose:
    a wrong "dead" would hide real evidence)."""
    by_name: dict[str, list[Definition]] = {}
    for d in index.defs.values():
        by_name.setdefault(d.name, []).append(d)
    pending: list[str] = []
    seen: set[str] = set()

    def mark(d: Definition) -> None:
        if d.live or d.dead or d.stub:
            return
        d.live = True
        pending.extend(d.refs)
        for child in index.children.get(d.key, []):
            if child.kind == "method" or child.decorators:
                mark(child)

    for f in index.files.values():
        pending.extend(f.module_refs)
    for d in index.defs.values():
        if d.parent is None and d.decorators:
            mark(d)
    for d in _framework_entry_points(index):
        mark(d)
    tokens = set(re.findall(r"[A-Za-z_]\w*", index.config_text))
    pending.extend(tokens & by_name.keys())
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for d in by_name.get(name, []):
            if d.kind != "method":
                mark(d)


def _framework_entry_points(index: CodeIndex) -> list[Definition]:
    """Definitions a model server calls by convention, not through Python code: the handler
    functions of a handler module (SageMaker model_fn/input_fn/predict_fn/output_fn, Azure ML
    init/run) and model-server classes (kserve.Model, mlflow PythonModel subclasses)."""
    cat = _cat()["code"]
    bases = common.name_matcher(cat["serving_bases"])
    handler_names = {n for group in cat["handler_sets"] for n in group["names"]}
    found = []
    for f in index.files.values():
        top = {d.name: d for d in f.defs if d.parent is None}
        if any(set(group["names"]) <= top.keys() for group in cat["handler_sets"]):
            found += [d for name, d in top.items() if name in handler_names]
        found += [d for d in top.values() if d.kind == "class" and any(bases(b) for b in d.bases)]
    return found


def _serving_reason(index: CodeIndex, f: CodeFile, cat: dict[str, Any]
                    ) -> tuple[str, tuple[str, ...]]:
    """Why a file serves requests: web routes (with a web framework imported), a BentoML /
    Ray Serve / functions-framework service, a model-server class, or handler functions; and,
    for model-server classes, the keys of those classes: only they run in the server (the file
    around them is typically the script that trains and logs the model)."""
    roots = {imp.module.split(".")[0] for imp in f.imports}
    if f.routes and roots & set(cat["web_frameworks"]):
        rules = [r.route for r in f.routes if r.route][:3]
        return "defines web routes" + (f" ({', '.join(rules)})" if rules else ""), ()
    service = common.name_matcher(cat["service_decorators"])
    for d in f.defs:
        if any(service(dec) for dec in d.decorators):
            return f"service `{d.name}` ({', '.join(d.decorators)})", ()
    bases = common.name_matcher(cat["serving_bases"])
    classes = [d for d in f.defs if d.kind == "class" and any(bases(b) for b in d.bases)]
    if classes:
        d = classes[0]
        return (f"model server class `{d.name}` ({', '.join(d.bases)})",
                tuple(c.key for c in classes))
    names = {d.name for d in f.defs if d.parent is None and not d.stub}
    for handlers in cat["handler_sets"]:
        if set(handlers["names"]) <= names:
            return f"{handlers['what']}: {', '.join(handlers['names'])}", ()
    return "", ()


