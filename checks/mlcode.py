"""ML code in the project: which Python modules and notebooks gather or clean data, train models
or serve predictions, read from their syntax trees (imports and calls), never run."""

from __future__ import annotations

import ast
import functools
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeAlias

from mlops_auditor import parsers
from mlops_auditor.checks import common
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "mlcode.data_prep": "Code that gathers, analyses, cleans or transforms data is tracked "
                        "(Python modules or notebooks).",
    "mlcode.training": "Model training code is tracked (fit/train calls, training loops, "
                       "hyperparameter search, managed training jobs and pipeline training "
                       "steps), in Python modules or notebooks.",
    "mlcode.steps": "ML steps that have code in the repository: data, training, serving.",
    "mlcode.notebooks_only": "The ML code lives only in notebooks.",
}

STEPS = ("data", "training", "serving")
STEP_WHAT = {
    "data": "code that reads, cleans or transforms data (pandas/polars/Spark reads, dropna, "
            "fillna, merge, sklearn preprocessing, data validation, SQL)",
    "training": "model training (estimator .fit, xgboost/lightgbm train, Trainer.train, "
                "loss.backward in a training loop, hyperparameter search, training jobs and "
                "pipeline training steps: SageMaker, TFX, Vertex AI, Azure ML)",
    "serving": "serving code (prediction routes, BentoML/Ray Serve/KServe/TorchServe, "
               "inference handlers, batch scoring)",
}

Function: TypeAlias = ast.FunctionDef | ast.AsyncFunctionDef
# Cell magics whose body is still Python; any other cell magic makes the cell another language.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "memit", "python", "python3"}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_BRANCHES = (ast.If, ast.While)
_SHELL_ASSIGN = re.compile(r"^\s*[\w.,\s]+=\s*[!%]")
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")


# -- catalogue access ----------------------------------------------------------------------

@functools.cache
def names(name: str, section: str, key: str) -> tuple[str, ...]:
    """A list from a catalogue (``catalogues/NAME.yaml``, SECTION, KEY); empty when absent."""
    part = common.catalogue(name).get(section)
    items = part.get(key) if isinstance(part, dict) else None
    return tuple(str(i) for i in items) if isinstance(items, list) else ()


@functools.cache
def groups(name: str, section: str, key: str) -> dict[str, list[str]]:
    """A mapping of lists from a catalogue (e.g. web framework -> constructor names)."""
    part = common.catalogue(name).get(section)
    items = part.get(key) if isinstance(part, dict) else None
    if not isinstance(items, dict):
        return {}
    return {str(k): [str(i) for i in v] for k, v in items.items() if isinstance(v, list)}


def matches(name: str | None, section: str, key: str, catalogue: str = "mlcode") -> bool:
    """Whether dotted NAME matches one of the catalogue's wildcards at SECTION/KEY."""
    return bool(name) and _catalogue_matcher(catalogue, section, key)(name)


@functools.cache
def _catalogue_matcher(catalogue: str, section: str, key: str) -> common.NameMatcher:
    """The matcher of one catalogue list, found without rehashing the list on every call."""
    return common.name_matcher(names(catalogue, section, key))


# -- syntax trees ----------------------------------------------------------------------------

def is_stub(body: list[ast.stmt]) -> bool:
    """A body that does nothing: only a docstring, ``pass``, ``...`` or
    ``raise NotImplementedError``. A stub function is a promise of code, not code."""
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                continue
        return False
    return True


def _never_runs(test: ast.expr) -> bool:
    """``if False:``, ``if 0:`` and ``if TYPE_CHECKING:`` bodies never run."""
    if isinstance(test, ast.Constant):
        return not test.value
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    if isinstance(test, ast.Attribute):
        return test.attr == "TYPE_CHECKING"
    return False


_LIVE: dict[ast.AST, tuple[ast.AST, ...]] = {}
# Where each statement's live nodes sit in the walk of the tree that contains it, so a later
# call for that statement (a function body, a route handler) is a slice, not another walk.
_SPANS: dict[ast.AST, tuple[tuple[ast.AST, ...], int, int]] = {}
common.TREE_CACHES += [_LIVE, _SPANS]


def live_nodes(root: ast.AST) -> tuple[ast.AST, ...]:
    """The nodes under ROOT that can run, in source order. Bodies of ``if False:`` and
    ``if TYPE_CHECKING:`` are left out, and so is everything inside a stub function (the stub's
    own node is kept, so a caller can report it). Comments are not in the tree at all.
    Computed once per node: several checks ask for the same trees."""
    cached = _LIVE.get(root)
    if cached is not None:
        return cached
    span = _SPANS.get(root)
    if span is not None:  # a statement inside a tree already walked: its nodes are a slice
        nodes, start, end = span
        result = _LIVE[root] = nodes[start:end]
        return result
    out: list[ast.AST] = []
    starts: list[tuple[ast.stmt, int]] = []
    spans: list[tuple[ast.stmt, int, int]] = []
    stack: list[ast.AST | None] = [root]
    while stack:
        node = stack.pop()
        if node is None:  # the end of a statement's nodes
            statement, start = starts.pop()
            spans.append((statement, start, len(out)))
            continue
        if isinstance(node, ast.stmt):  # only statements can be stubs or dead branches
            starts.append((node, len(out)))
            stack.append(None)
            out.append(node)
            if isinstance(node, _FUNCTIONS) and is_stub(node.body):
                continue
            if isinstance(node, _BRANCHES) and _never_runs(node.test):
                stack.extend(reversed(node.orelse))
                continue
        else:
            out.append(node)
        kids = common.children(node)
        if kids:
            kids.reverse()
            stack.extend(kids)
    result = _LIVE[root] = tuple(out)
    for statement, start, end in spans:
        _SPANS.setdefault(statement, (result, start, end))
    return result


def dotted(node: ast.AST, aliases: dict[str, str] | None = None) -> str | None:
    """``a.b().c`` for an attribute chain, the head resolved through import ALIASES
    (``pd.read_csv`` -> ``pandas.read_csv``); None for anything else."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append("." + node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Subscript):
            parts.append("[]")
            node = node.value
        elif isinstance(node, ast.Name):
            head = aliases.get(node.id, node.id) if aliases else node.id
            return head + "".join(reversed(parts))
        else:
            return None


def last_name(node: ast.AST) -> str:
    """The last plain name of an expression: ``self.model`` -> ``model``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # its own name, when the chain has a name at its head
        return node.attr if dotted(node.value) is not None else ""
    name = dotted(node) or ""
    return re.split(r"[.()\[\]]+", name.rstrip("()[]."))[-1] if name else ""


def tokens(*texts: str) -> list[str]:
    """Lower-case words of identifiers and URLs (``predictRoute`` and ``/v1/predict_one``)."""
    out: list[str] = []
    for text in texts:
        spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
        out.extend(t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t)
    return out


def mentions(words: Iterable[str], keywords: Iterable[str]) -> str | None:
    """The first keyword that starts one of WORDS (``training`` mentions ``train``)."""
    keys = list(keywords)
    for word in words:
        for key in keys:
            if word.startswith(key):
                return key
    return None


def code(node: ast.AST) -> str:
    """Short source text of a call for evidence (arguments elided)."""
    try:
        if isinstance(node, ast.Call):
            return ast.unparse(node.func)[:80] + "(…)"
        return ast.unparse(node)[:80]
    except (ValueError, RecursionError):
        return type(node).__name__


# -- sources ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Tree:
    """One parsed piece of a unit: a whole .py file, or one notebook code cell (``cell``)."""

    module: ast.Module
    cell: int | None
    nodes: tuple[ast.AST, ...]

    @cached_property
    def _positions(self) -> dict[type, list[int]]:
        index: dict[type, list[int]] = {}
        for i, node in enumerate(self.nodes):
            index.setdefault(type(node), []).append(i)
        return index

    def of(self, *kinds: type) -> list[Any]:
        """The live nodes of exactly these KINDS (``ast.Call``, ``ast.ClassDef`` ...), in source
        order: the checks ask many questions of a few node kinds, and most nodes are none of
        them (the node kinds are indexed once per tree)."""
        positions = self._positions
        if len(kinds) == 1:
            return [self.nodes[i] for i in positions.get(kinds[0], ())]
        return [self.nodes[i] for i in sorted(i for k in kinds for i in positions.get(k, ()))]


@dataclass(eq=False)
class Unit:
    """One project source, a Python module or a notebook, with what its imports bind."""

    path: str
    notebook: bool
    trees: list[Tree]
    sql_cells: list[tuple[int, str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    imported: set[str] = field(default_factory=set)
    constructed: dict[str, str] = field(default_factory=dict)
    compiled: set[str] = field(default_factory=set)
    functions: dict[str, Function] = field(default_factory=dict)
    resolved: dict[ast.AST, str | None] = field(default_factory=dict)
    _calls: list[tuple[Tree, ast.Call]] | None = None

    def at(self, tree: Tree, node: ast.AST, detail: str) -> Evidence:
        """Evidence for NODE: file and line, or for a notebook the cell and its line."""
        line = getattr(node, "lineno", None)
        if tree.cell is None:
            return common.at(self.path, line, detail)
        return common.at(self.path, None, f"cell {tree.cell}, line {line}: {detail}")

    def resolve(self, node: ast.AST) -> str | None:
        """The import-resolved dotted name of an expression (``pd.read_csv`` ->
        ``pandas.read_csv``), worked out once per node: several checks ask of every call."""
        if node in self.resolved:
            return self.resolved[node]
        name = self.resolved[node] = dotted(node, self.aliases)
        return name

    def imports(self, prefixes: Iterable[str]) -> bool:
        """Whether a live import brings in one of PREFIXES (a module or anything under it)."""
        wanted = tuple(prefixes)
        return any(n == p or n.startswith(p + ".") for n in self.imported for p in wanted)

    def calls(self) -> list[tuple[Tree, ast.Call]]:
        """Every live call of the unit, with the tree (cell) it is in (listed once)."""
        if self._calls is None:
            self._calls = [(t, n) for t in self.trees for n in t.of(ast.Call)]
        return self._calls


def _bind_imports(unit: Unit, node: ast.Import | ast.ImportFrom) -> None:
    """Record what an import brings in and the local name it binds."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            unit.imported.add(alias.name)
            if alias.asname:
                unit.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                unit.aliases[top] = top
        return
    base = "." * node.level + (node.module or "")
    unit.imported.add(base)
    for alias in node.names:
        if alias.name == "*":
            continue
        target = f"{base}.{alias.name}" if base and not base.endswith(".") else base + alias.name
        unit.imported.add(target)
        unit.aliases[alias.asname or alias.name] = target


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """What the live imports of TREE bind: local name -> imported dotted name."""
    unit = Unit("", False, [])
    for node in live_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            _bind_imports(unit, node)
    return unit.aliases


def build_unit(path: str, trees: list[Tree], notebook: bool) -> Unit:
    """Bind imports, remember what each variable was built from (``model = XGBClassifier()``)
    and the top-level functions, over every live node of every tree of a source."""
    unit = Unit(path, notebook, trees)
    for tree in trees:
        for node in tree.of(ast.Import, ast.ImportFrom):
            _bind_imports(unit, node)
        for stmt in tree.module.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                unit.functions[stmt.name] = stmt
    for tree in trees:
        for node in tree.of(ast.Assign, ast.AnnAssign, ast.withitem, ast.Call):
            targets: list[ast.AST] = []
            value: ast.AST | None = None
            if isinstance(node, ast.Assign):
                targets, value = list(node.targets), node.value
            elif isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            elif isinstance(node, ast.withitem) and node.optional_vars is not None:
                targets, value = [node.optional_vars], node.context_expr
            if isinstance(value, ast.Call):
                ctor = unit.resolve(value.func)
                for target in targets:
                    key = dotted(target)
                    if key and ctor:
                        unit.constructed[key] = ctor
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "compile"
                    and any(k.arg in ("optimizer", "loss") for k in node.keywords)):
                key = dotted(node.func.value)
                if key:
                    unit.compiled.add(key)
    return unit


def split_cell(source: str) -> tuple[str, str | None]:
    """Python text of a notebook cell with IPython magics, shell escapes and help lines turned
    into ``pass`` (line numbers kept), and the cell's language magic when it is not Python."""
    lines = source.split("\n")
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%"):
        magic = first.lstrip("%").split(maxsplit=1)[0].lower() if first.strip("%") else ""
        cell_wide = first.startswith("%%") or magic in {"sql", "md", "sh", "scala", "r", "fs"}
        if cell_wide and magic not in _PYTHON_CELL_MAGICS:
            return "", magic
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(("%", "!")) or _SHELL_ASSIGN.match(line) or _HELP.match(line):
            out.append(line[: len(line) - len(line.lstrip())] + "pass")
        else:
            out.append(line)
    return "\n".join(out), None


def _notebook_unit(snap: Snapshot, path: str) -> tuple[Unit | None, str | None]:
    """A notebook's parseable code cells as one unit (imports bind across cells), SQL cells
    kept aside; an error when it has code but none of it parses."""
    parsed = snap.notebook(path)
    if not parsed.ok:
        return None, parsed.error
    trees: list[Tree] = []
    sql: list[tuple[int, str]] = []
    code_cells = 0
    for number, (kind, source) in enumerate(parsed.value, start=1):
        if kind != "code" or not source.strip():
            continue
        code_cells += 1
        text, magic = split_cell(source)
        if magic is not None:
            if magic in names("mlcode", "data", "sql_magics"):
                sql.append((number, source))
            continue
        try:
            module = parsers.load_python(text)
        except parsers.ParseError:
            continue
        trees.append(Tree(module, number, tuple(live_nodes(module))))
    if code_cells and not trees and not sql:
        return None, "no code cell could be parsed as Python"
    unit = build_unit(path, trees, notebook=True)
    unit.sql_cells = sql
    return unit, None


@dataclass
class Sources:
    """The project's own code (tests, vendored and environment folders left out)."""

    units: list[Unit]
    unparseable: dict[str, str]
    python_files: int
    notebooks: int

    def where(self) -> str:
        return (f"{self.python_files} Python file(s) (tests excluded) and "
                f"{self.notebooks} notebook(s)")


def python_paths(snap: Snapshot) -> list[str]:
    """Every project Python file, tests included (``common.python_files``, computed once)."""
    result: list[str] = snap.memo("mlcode.python_files", lambda: common.python_files(snap))
    return result


def notebook_paths(snap: Snapshot) -> list[str]:
    """Project notebooks (tests, checkpoints, vendored and environment folders left out)."""
    skip = set(snap.glob(*common.NOT_PROJECT_CODE, "**/.ipynb_checkpoints/**"))
    return [p for p in snap.glob("**/*.ipynb") if p not in skip and not common.is_test_path(p)]


def sources(snap: Snapshot) -> Sources:
    """Every project module and notebook parsed once (shared with the testing and serving
    checks through ``snap.memo``)."""

    def compute() -> Sources:
        units: list[Unit] = []
        bad: dict[str, str] = {}
        py = [p for p in python_paths(snap) if not common.is_test_path(p)]
        for path in py:
            parsed = snap.python(path)
            if not parsed.ok:
                bad[path] = parsed.error or "unparseable"
                continue
            units.append(build_unit(path, [Tree(parsed.value, None,
                                                tuple(live_nodes(parsed.value)))], False))
        notebooks = notebook_paths(snap)
        for path in notebooks:
            unit, error = _notebook_unit(snap, path)
            if unit is None:
                bad[path] = error or "unparseable"
            else:
                units.append(unit)
        return Sources(units, bad, len(py), len(notebooks))

    result: Sources = snap.memo("mlcode.sources", compute)
    return result


# -- web routes (shared with the serving check) ----------------------------------------------

@dataclass(frozen=True, eq=False)
class Route:
    """A web route: where it is declared, its path and the function that handles it."""

    unit: Unit
    tree: Tree
    node: ast.AST
    framework: str
    url: str
    handler: Function | None
    handler_name: str
    decorator: ast.Call | None
    stub: bool

    def at(self, detail: str) -> Evidence:
        return self.unit.at(self.tree, self.node, detail)

    @property
    def label(self) -> str:
        return f"{self.url or '?'} ({self.handler_name or 'handler'})"


@dataclass(frozen=True, eq=False)
class App:
    """A web application or router object (``app = Flask(__name__)``)."""

    unit: Unit
    tree: Tree
    node: ast.AST
    framework: str


@dataclass
class Web:
    routes: list[Route]
    apps: list[App]


def _framework_of(ctor: str | None) -> str | None:
    """The web framework whose app/router constructor CTOR is (``flask.Flask`` -> flask)."""
    for framework, patterns in groups("mlcode", "web", "apps").items():
        if ctor and common.name_matcher(patterns).match(ctor):
            return framework
    return None


def _imported_framework(unit: Unit) -> str | None:
    """The web framework a unit imports, for routes whose app object is defined elsewhere."""
    for framework, patterns in groups("mlcode", "web", "apps").items():
        if unit.imports({p.split(".")[0] for p in patterns}):
            return framework
    return None


def string_arg(call: ast.Call, index: int, keywords: tuple[str, ...]) -> str | None:
    """A string literal passed at position INDEX or as one of KEYWORDS."""
    value: ast.AST | None = call.args[index] if len(call.args) > index else None
    for kw in call.keywords:
        if kw.arg is not None and kw.arg in keywords:
            value = kw.value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    return None


def _handler(unit: Unit, node: ast.AST | None) -> tuple[Function | None, str]:
    """The function a registered route calls, when defined in the same unit, and its name."""
    if node is None:
        return None, ""
    if isinstance(node, ast.Name):
        return unit.functions.get(node.id), node.id
    return None, dotted(node) or ""


@functools.cache
def _frameworks(key: str) -> tuple[common.NameMatcher, tuple[tuple[str, common.NameMatcher], ...]]:
    """The catalogue's web ``KEY`` (framework -> name patterns) as matchers: one for any
    framework, then one per framework in catalogue order."""
    table = groups("mlcode", "web", key)
    return (common.name_matcher(p for pats in table.values() for p in pats),
            tuple((fw, common.name_matcher(pats)) for fw, pats in table.items()))


def _framework_by_name(key: str, name: str | None) -> str | None:
    """The first framework of the catalogue's web ``KEY`` whose patterns match NAME."""
    any_framework, each = _frameworks(key)
    if not name or not any_framework(name):
        return None
    return next((fw for fw, match in each if match(name)), None)


def _decorator_routes(unit: Unit, tree: Tree, node: ast.AST, app_vars: dict[str, str],
                      imported: str | None) -> list[Route]:
    """Routes declared by decorators: ``@app.post("/predict")``, ``@router.get``,
    ``@bp.route``, litestar's ``@post``, DRF's ``@api_view`` (also on flask-restx classes)."""
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return []
    routes: list[Route] = []
    for dec in node.decorator_list:
        if not isinstance(dec, ast.Call):
            continue
        url = string_arg(dec, 0, ("path", "rule", "url"))
        name = unit.resolve(dec.func)
        framework = _framework_by_name("route_functions", name)
        if framework is None and isinstance(dec.func, ast.Attribute) \
                and dec.func.attr in names("mlcode", "web", "route_decorators"):
            framework = app_vars.get(dotted(dec.func.value) or "")
            if framework is None and url is not None and url.startswith("/"):
                framework = imported or "web"
        if framework is None:
            continue
        if isinstance(node, ast.ClassDef):
            views = [s for s in node.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
                     and s.name in names("mlcode", "web", "view_methods")]
            for view in views:
                routes.append(Route(unit, tree, dec, framework, url or "", view,
                                    f"{node.name}.{view.name}", dec, is_stub(view.body)))
            if not views:
                routes.append(Route(unit, tree, dec, framework, url or "", None, node.name,
                                    dec, True))
        else:
            routes.append(Route(unit, tree, dec, framework, url or "", node, node.name, dec,
                                is_stub(node.body)))
    return routes


def _call_route(unit: Unit, tree: Tree, call: ast.Call, app_vars: dict[str, str],
                imported: str | None) -> Route | None:
    """Routes registered by a call: ``app.add_api_route("/p", fn)``, ``add_url_rule``,
    aiohttp ``app.router.add_post``, starlette ``Route("/p", fn)``, Django ``path("p/", view)``."""
    name = unit.resolve(call.func)
    framework = _framework_by_name("route_objects", name)
    handler_node: ast.AST | None
    if framework is not None:
        url = string_arg(call, 0, ("path", "route", "url"))
        handler_node = call.args[1] if len(call.args) > 1 else None
        for kw in call.keywords:
            if kw.arg in ("endpoint", "view", "handler"):
                handler_node = kw.value
    elif isinstance(call.func, ast.Attribute) \
            and call.func.attr in names("mlcode", "web", "route_calls"):
        receiver = dotted(call.func.value) or ""
        url = string_arg(call, 0, ("path", "rule", "uri"))
        framework = app_vars.get(receiver) or app_vars.get(receiver.split(".")[0])
        if framework is None:
            if url is None or not url.startswith("/"):
                return None
            framework = imported or "web"
        position = 2 if call.func.attr == "add_url_rule" else 1
        handler_node = call.args[position] if len(call.args) > position else None
        for kw in call.keywords:
            if kw.arg in ("view_func", "endpoint", "handler"):
                handler_node = kw.value
    else:
        return None
    if isinstance(handler_node, ast.Call) and last_name(handler_node.func) == "include":
        return None
    if handler_node is not None and (dotted(handler_node) or "").endswith(".urls"):
        return None
    handler, handler_name = _handler(unit, handler_node)
    stub = handler is not None and is_stub(handler.body)
    return Route(unit, tree, call, framework, url or "", handler, handler_name, None, stub)


def _unit_web(unit: Unit) -> tuple[list[Route], list[App]]:
    """The routes and app objects of one unit."""
    app_vars = {var: fw for var, ctor in unit.constructed.items()
                if (fw := _framework_of(ctor)) is not None}
    imported = _imported_framework(unit)
    routes: list[Route] = []
    apps: list[App] = []
    for tree in unit.trees:
        for node in tree.of(*_DEFINITIONS, ast.Call, ast.Assign):
            if isinstance(node, _DEFINITIONS) and node.decorator_list:
                routes.extend(_decorator_routes(unit, tree, node, app_vars, imported))
            if isinstance(node, ast.Call):
                route = _call_route(unit, tree, node, app_vars, imported)
                if route is not None:
                    routes.append(route)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                framework = _framework_of(unit.resolve(node.value.func))
                if framework is not None:
                    apps.append(App(unit, tree, node, framework))
    return routes, apps


def web(snap: Snapshot) -> Web:
    """Every web route and web application object in the project's own code. A route whose
    app object comes from another module gets the project's only framework, when there is one."""

    def compute() -> Web:
        routes: list[Route] = []
        apps: list[App] = []
        for unit in sources(snap).units:
            unit_routes, unit_apps = _unit_web(unit)
            routes.extend(unit_routes)
            apps.extend(unit_apps)
        frameworks = {a.framework for a in apps}
        if len(frameworks) == 1:
            only = frameworks.pop()
            routes = [Route(r.unit, r.tree, r.node, only, r.url, r.handler, r.handler_name,
                            r.decorator, r.stub) if r.framework == "web" else r for r in routes]
        return Web(routes, apps)

    result: Web = snap.memo("mlcode.web", compute)
    return result


def predicts(unit: Unit, call: ast.Call) -> bool:
    """A call that runs a model: ``model.predict(X)``, ``clf.predict_proba``, ``self.model(x)``."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in names("mlcode", "serving",
                                                              "predict_methods"):
        return True
    if "spark_udf" in (dotted(func) or ""):
        return True
    return last_name(func) in names("mlcode", "serving", "model_call_names")


def prediction_route(route: Route) -> bool:
    """A route that serves predictions: its path or handler name says so (``/predict``,
    ``score``), or its handler calls a model."""
    keywords = names("mlcode", "serving", "route_keywords")
    if mentions(tokens(route.url, route.handler_name), keywords):
        return True
    if route.handler is None or route.stub:
        return False
    return any(isinstance(n, ast.Call) and predicts(route.unit, n)
               for n in live_nodes(route.handler))


# -- classification --------------------------------------------------------------------------

def _receiver_kind(unit: Unit, receiver: ast.AST) -> tuple[str | None, str]:
    """What the object a method is called on was built from: a preprocessor, a trainer, an
    estimator or nothing known."""
    if isinstance(receiver, ast.Call):
        ctor = unit.resolve(receiver.func)
    else:
        key = dotted(receiver) or ""
        if key in unit.compiled:
            return "estimator", "a compiled Keras model"
        ctor = unit.constructed.get(key)
    if not ctor:
        return None, ""
    for kind, section, key in (("preprocessor", "data", "preprocessors"),
                               ("trainer", "training", "trainers"),
                               ("estimator", "training", "estimators")):
        if matches(ctor, section, key):
            return kind, ctor
    return None, ctor


def _fit_reason(unit: Unit, call: ast.Call, autolog: bool) -> str | None:
    """Why a ``.fit(`` call trains a model, or None when it fits a preprocessor or cannot be
    told apart from one (``scaler.fit(X)``)."""
    assert isinstance(call.func, ast.Attribute)
    kind, ctor = _receiver_kind(unit, call.func.value)
    if kind == "preprocessor":
        return None
    if kind in ("estimator", "trainer"):
        return f"fits {ctor}"
    keywords = set(names("mlcode", "training", "fit_keywords"))
    if len(call.args) >= 2 or any(k.arg in keywords for k in call.keywords):
        return "fit with training data and labels or training options"
    receiver = last_name(call.func.value)
    if receiver and re.search(str(common.catalogue("mlcode")["training"]["model_names"]),
                              receiver):
        return f"fit on '{receiver}'"
    if autolog:
        return "fit in a file with autologging on"
    return None


@functools.cache
def _jobs() -> tuple[tuple[common.NameMatcher, str, frozenset[str]], ...]:
    """(name wildcard, what, keywords of which the call must pass one) of the catalogue's
    training jobs and pipeline steps (``training.jobs``)."""
    return tuple((common.name_matcher([str(e["name"])]), str(e.get("what") or "training job"),
                  frozenset(str(k) for k in e.get("keywords") or []))
                 for e in _named_entries("jobs"))


@functools.cache
def _any_job() -> common.NameMatcher:
    """Whether a name is any training job's: most calls are none, and are told so at once."""
    return common.name_matcher(str(e["name"]) for e in _named_entries("jobs"))


def _named_entries(key: str) -> list[dict[str, Any]]:
    """The entries with a name of the catalogue's ``training.KEY`` list."""
    part = common.catalogue("mlcode").get("training")
    entries = part.get(key) if isinstance(part, dict) else None
    return [e for e in entries or [] if isinstance(e, dict) and e.get("name")]


def _job_reason(unit: Unit, call: ast.Call, name: str | None) -> str | None:
    """Why a call defines a managed training job: a pipeline training step (SageMaker
    Pipelines, Step Functions), a TFX Trainer with its training module, a Vertex AI or Azure ML
    training job, or an SDK client's ``create_training_job``. These train a model without any
    ``.fit(`` in this code; the step's definition is the training code."""
    if name and _any_job()(name):
        passed = {k.arg for k in call.keywords if k.arg}
        for pattern, what, keywords in _jobs():
            if pattern.match(name) and (not keywords or passed & keywords):
                return f"training job: {what}"
    if isinstance(call.func, ast.Attribute) \
            and call.func.attr in groups("mlcode", "training", "job_methods").get("methods", []) \
            and unit.imports(groups("mlcode", "training", "job_methods").get("imports", [])):
        return f"starts a training job ({call.func.attr})"
    return None


def _training_reason(unit: Unit, call: ast.Call, autolog: bool) -> str | None:
    """Why a call trains a model: a training function (xgboost.train, optuna), a managed
    training job or pipeline training step, ``.fit(`` on a model, ``.train()`` on a trainer, or
    a gradient update in a deep-learning file."""
    name = unit.resolve(call.func)
    if matches(name, "training", "calls"):
        return f"calls {name}"
    job = _job_reason(unit, call, name)
    if job:
        return job
    if not isinstance(call.func, ast.Attribute):
        return None
    method = call.func.attr
    if method in names("mlcode", "training", "fit_methods"):
        return _fit_reason(unit, call, autolog)
    if method == "train":
        kind, ctor = _receiver_kind(unit, call.func.value)
        if kind == "trainer":
            return f"trains with {ctor}"
        if "trainer" in last_name(call.func.value).lower():
            return "trainer.train()"
        if any(k.arg == "training_frame" for k in call.keywords):
            return "train(training_frame=...)"
    if method in names("mlcode", "training", "gradient_methods") and (
            method != "backward"
            or unit.imports(names("mlcode", "training", "backward_frameworks"))):
        return f"gradient update ({method})"
    return None


def _data_reason(unit: Unit, call: ast.Call, dataframes: bool) -> str | None:
    """Why a call gathers or prepares data: a read, a cleaning or transforming function, a
    preprocessing step, or a data-frame method (the common names only where data frames are
    imported)."""
    name = unit.resolve(call.func)
    if matches(name, "data", "reads") or matches(name, "data", "calls"):
        return f"calls {name}"
    if matches(name, "data", "preprocessors"):
        return f"builds {name}"
    if isinstance(call.func, ast.Attribute):
        method = call.func.attr
        if method in names("mlcode", "data", "methods"):
            return f".{method}()"
        if dataframes and method in names("mlcode", "data", "dataframe_methods"):
            return f".{method}() in a file using data frames"
    return None


def serving_class(unit: Unit, node: ast.ClassDef) -> str | None:
    """A class that a model server runs: a KServe/MLServer model, a TorchServe handler, Triton's
    Python-backend model, a BentoML service or Ray Serve deployment."""
    for base in node.bases:
        name = unit.resolve(base)
        if matches(name, "serving", "base_classes"):
            return f"class {node.name}({name})"
    if node.name in names("mlcode", "serving", "class_names"):
        return f"class {node.name} (model server contract)"
    return serving_decorator(unit, node)


def serving_decorator(unit: Unit, node: ast.ClassDef | Function) -> str | None:
    for dec in node.decorator_list:
        name = unit.resolve(dec.func if isinstance(dec, ast.Call) else dec)
        if matches(name, "serving", "decorators"):
            return f"@{name} on {node.name}"
    return None


def _platform_functions(unit: Unit) -> list[tuple[Tree, ast.AST, str]]:
    """Functions a serving platform calls by name (SageMaker ``model_fn``/``predict_fn``, Azure
    ML ``init``/``run``, serverless ``handler(event, context)``), counted only when the module
    also loads a model or predicts."""
    loads = any(matches(unit.resolve(c.func), "serving", "model_loaders") or predicts(unit, c)
                for _, c in unit.calls())
    found: list[tuple[Tree, ast.AST, str]] = []
    defined = {name: fn for name, fn in unit.functions.items() if not is_stub(fn.body)}
    tree_of = {id(s): t for t in unit.trees for s in t.module.body}
    if loads:
        for entry in common.catalogue("mlcode").get("serving", {}).get("function_sets", []):
            wanted = entry.get("functions", []) if isinstance(entry, dict) else []
            if wanted and all(w in defined for w in wanted):
                fn = defined[wanted[0]]
                found.append((tree_of[id(fn)], fn, f"defines {', '.join(wanted)} "
                              f"({entry.get('what', 'inference handler')})"))
                break
    params = names("mlcode", "serving", "handler_parameters")
    for fn in defined.values():
        if tuple(a.arg for a in fn.args.args) == params and any(
                isinstance(n, ast.Call) and predicts(unit, n) for n in live_nodes(fn)):
            found.append((tree_of[id(fn)], fn, f"{fn.name}({', '.join(params)}) predicts"))
    return found


def batch_scoring(unit: Unit) -> Evidence | None:
    """A file that loads a trained model, reads a dataset, predicts and writes the results:
    batch scoring. (A file that also trains is evaluating, not scoring; see ``classify``.)"""
    first: dict[str, tuple[Tree, ast.Call]] = {}
    writers = names("mlcode", "serving", "writer_methods")
    for tree, call in unit.calls():
        name = unit.resolve(call.func)
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        spark_udf = "spark_udf" in (name or "")
        kinds = {
            "load": matches(name, "serving", "model_loaders") or spark_udf,
            "read": matches(name, "data", "reads"),
            "predict": predicts(unit, call),
            "write": method in writers or matches(name, "serving", "writers"),
        }
        for kind, hit in kinds.items():
            if hit and kind not in first:
                first[kind] = (tree, call)
    if len(first) < 4:
        return None
    tree, call = first["predict"]
    detail = (f"batch scoring: loads a model ({code(first['load'][1])}), reads data "
              f"({code(first['read'][1])}), predicts ({code(call)}), writes results "
              f"({code(first['write'][1])})")
    return unit.at(tree, call, detail)


def classify(unit: Unit, routes: list[Route]) -> dict[str, list[Evidence]]:
    """The steps one source does, each with the calls, imports or definitions that decided it
    (in source order). ROUTES are the unit's web routes."""
    hits: dict[str, list[Evidence]] = {step: [] for step in STEPS}
    autolog = any(matches(unit.resolve(c.func), "training", "autolog") for _, c in unit.calls())
    dataframes = unit.imports(names("mlcode", "data", "dataframe_libraries"))
    data_libraries = names("mlcode", "data", "libraries")
    serving_libraries = names("mlcode", "serving", "libraries")
    for tree in unit.trees:
        for node in tree.of(ast.Import, ast.ImportFrom, ast.Call, *_DEFINITIONS):
            if isinstance(node, ast.Import | ast.ImportFrom):
                bound = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                for module in bound:
                    top = module.split(".")[0]
                    if top in data_libraries:
                        hits["data"].append(unit.at(tree, node, f"imports {module}"))
                    if top in serving_libraries:
                        hits["serving"].append(unit.at(tree, node, f"imports {module}"))
            elif isinstance(node, ast.Call):
                reason = _training_reason(unit, node, autolog)
                if reason:
                    hits["training"].append(unit.at(tree, node, f"{code(node)}: {reason}"))
                    continue
                reason = _data_reason(unit, node, dataframes)
                if reason:
                    hits["data"].append(unit.at(tree, node, f"{code(node)}: {reason}"))
                if matches(unit.resolve(node.func), "serving", "calls"):
                    hits["serving"].append(unit.at(tree, node, f"{code(node)}: model serving"))
            elif isinstance(node, ast.ClassDef):
                why = serving_class(unit, node)
                if why:
                    hits["serving"].append(unit.at(tree, node, why))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and not is_stub(node.body):
                why = serving_decorator(unit, node)
                if why:
                    hits["serving"].append(unit.at(tree, node, why))
    keywords = names("mlcode", "data", "sql_keywords")
    for number, source in unit.sql_cells:
        if mentions(tokens(source), keywords):
            hits["data"].append(common.at(unit.path, None, f"cell {number}: SQL query"))
    for route in routes:
        if not route.stub and prediction_route(route):
            hits["serving"].append(route.at(
                f"{route.framework} route {route.label} serves predictions"))
    for tree, node, why in _platform_functions(unit):
        hits["serving"].append(unit.at(tree, node, why))
    return hits


@functools.cache
def _script_runners() -> tuple[tuple[common.NameMatcher, tuple[str, ...], int | None, str], ...]:
    """(name wildcard, script keywords, script position, what) of the catalogue's calls that
    run a script as a pipeline step or job (``training.script_runners``)."""
    out = []
    for e in _named_entries("script_runners"):
        position = e.get("position")
        out.append((common.name_matcher([str(e["name"])]),
                    tuple(str(k) for k in e.get("arguments") or []),
                    position if isinstance(position, int) else None,
                    str(e.get("what") or "job")))
    return tuple(out)


_SCRIPT_NAME = re.compile(r"[\w./-]+\.(?:py|ipynb|[rR])\b")


def _runner_scripts(call: ast.Call, keywords: tuple[str, ...], position: int | None) -> list[str]:
    """Script file names in the string literal a runner is given as its script (a keyword or
    the POSITION-th argument); a command line (``python train.py --epochs 3``) may name one."""
    values: list[ast.AST] = [k.value for k in call.keywords if k.arg in keywords]
    if position is not None and len(call.args) > position:
        values.append(call.args[position])
    return [m.group(0) for v in values
            if isinstance(v, ast.Constant) and isinstance(v.value, str)
            for m in _SCRIPT_NAME.finditer(v.value)]


def _tracked_script(snap: Snapshot, script: str, units: dict[str, Unit]) -> str | None:
    """The tracked file SCRIPT names (relative to a source folder, so any path ending with it),
    when that file holds code: a project module with at least one live call, or another
    non-empty file (an R script)."""
    rel = posixpath.normpath(script).lstrip("./")
    for path in snap.files:
        if path != rel and not path.endswith("/" + rel):
            continue
        unit = units.get(path)
        if unit is not None and any(t.of(ast.Call) for t in unit.trees):
            return path
        if unit is None and not path.endswith((".py", ".ipynb")) and snap.size(path) > 0:
            return path
    return None


def _script_training(snap: Snapshot, units: list[Unit]) -> dict[str, list[Evidence]]:
    """Files that run a training script as a pipeline step or job (an Azure ML
    ``PythonScriptStep(script_name="train.py")``, ``ScriptRunConfig``, a ``command()`` job):
    the step is training code when the script is tracked here, holds code, and its name says
    it trains. A script that is missing from the repository proves nothing."""
    runners = _script_runners()
    any_runner = common.name_matcher(str(e["name"]) for e in _named_entries("script_runners"))
    words = names("mlcode", "training", "script_words")
    by_path = {u.path: u for u in units}
    found: dict[str, list[Evidence]] = {}
    for unit in units:
        for tree, call in unit.calls():
            name = unit.resolve(call.func)
            if not any_runner(name):
                continue
            for pattern, keywords, position, what in runners:
                if not name or not pattern.match(name):
                    continue
                for script in _runner_scripts(call, keywords, position):
                    stem = posixpath.splitext(posixpath.basename(script))[0]
                    path = _tracked_script(snap, script, by_path) \
                        if mentions(tokens(stem), words) else None
                    if path is not None:
                        found.setdefault(unit.path, []).append(unit.at(
                            tree, call, f"{code(call)}: {what} runs training script {script} "
                                        f"({path})"))
                        break
    return found


@dataclass
class Analysis:
    """Per step, the files that do it and the evidence that decided each."""

    hits: dict[str, dict[str, list[Evidence]]]
    batch: dict[str, Evidence]
    sources: Sources


def analyse(snap: Snapshot) -> Analysis:
    """Every project source classified once (memoised for the testing and serving checks)."""

    def compute() -> Analysis:
        src = sources(snap)
        by_unit: dict[int, list[Route]] = {}
        for route in web(snap).routes:
            by_unit.setdefault(id(route.unit), []).append(route)
        hits: dict[str, dict[str, list[Evidence]]] = {step: {} for step in STEPS}
        batch: dict[str, Evidence] = {}
        for unit in src.units:
            try:
                found = classify(unit, by_unit.get(id(unit), []))
                # A file that trains and predicts is evaluating its model, not scoring a dataset.
                scoring = batch_scoring(unit) if not found["training"] else None
            except RecursionError:
                src.unparseable[unit.path] = "syntax tree nested too deeply to analyse"
                continue
            if scoring is not None:
                found["serving"].append(scoring)
                batch[unit.path] = scoring
            for step, items in found.items():
                if items:
                    hits[step][unit.path] = items
        for path, items in _script_training(snap, src.units).items():
            hits["training"].setdefault(path, []).extend(items)
        return Analysis(hits, batch, src)

    result: Analysis = snap.memo("mlcode.analysis", compute)
    return result


def step_files(snap: Snapshot) -> dict[str, list[str]]:
    """``{"data": [...], "training": [...], "serving": [...]}``: the project files (modules and
    notebooks, tests excluded) that do each ML step, decided by their content."""
    hits = analyse(snap).hits
    return {step: sorted(hits[step]) for step in STEPS}


def batch_files(snap: Snapshot) -> dict[str, Evidence]:
    """Files that score a dataset in batch (load a model, read, predict, write), with evidence."""
    return analyse(snap).batch


# -- facts -----------------------------------------------------------------------------------

def _step_fact(fact_id: str, step: str, analysis: Analysis) -> Fact:
    """True with the deciding call of each file; False with what was searched where; unknown
    when every candidate file was unreadable."""
    files = analysis.hits[step]
    if files:
        return common.value(fact_id, True, [items[0] for items in files.values()])
    src = analysis.sources
    bad = [Evidence(detail=f"unparseable: {reason}", path=path)
           for path, reason in src.unparseable.items()]
    if bad and not src.units:
        return common.unknown(fact_id, "no Python file or notebook could be parsed", bad)
    return Fact(fact_id, False, (common.searched(STEP_WHAT[step], src.where()), *bad[:19]))


def _steps_fact(analysis: Analysis) -> Fact:
    """The steps with code, each with its first file as evidence."""
    steps = tuple(step for step in STEPS if analysis.hits[step])
    if not steps:
        return Fact("mlcode.steps", (), (common.searched(
            "data, training or serving code", analysis.sources.where()),))
    items: list[Evidence] = []
    for step in steps:
        items.extend(analysis.hits[step][path][0] for path in list(analysis.hits[step])[:3])
    return common.value("mlcode.steps", steps, items)


def _notebooks_only_fact(analysis: Analysis) -> Fact:
    """True when every file with ML code is a notebook; False cites a Python module with ML
    code (or says there is no ML code at all)."""
    files = {path for step in STEPS for path in analysis.hits[step]}
    if not files:
        return Fact("mlcode.notebooks_only", False, (common.searched(
            "ML code in notebooks or modules", analysis.sources.where()),))
    modules = sorted(p for p in files if not p.endswith(".ipynb"))
    if modules:
        items = [next(analysis.hits[s][p][0] for s in STEPS if p in analysis.hits[s])
                 for p in modules]
        return common.value("mlcode.notebooks_only", False, items)
    items = [next(analysis.hits[s][p][0] for s in STEPS if p in analysis.hits[s])
             for p in sorted(files)]
    return common.value("mlcode.notebooks_only", True, items)


def collect(snap: Snapshot) -> list[Fact]:
    analysis = analyse(snap)
    return [
        _step_fact("mlcode.data_prep", "data", analysis),
        _step_fact("mlcode.training", "training", analysis),
        _steps_fact(analysis),
        _notebooks_only_fact(analysis),
    ]
