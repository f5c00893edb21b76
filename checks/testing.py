"""Automated tests: test functions that assert or exercise something, and which ML steps' code
(data, training, serving) the tests import."""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass, field

from mlops_auditor.checks import common, mlcode
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS = {
    "testing.present": "Test files hold at least one real test function (one that asserts or "
                       "calls something, not only pass / assert True).",
    "testing.count": "Number of real test functions.",
    "testing.steps_tested": "ML steps (data, training, serving) whose code the tests import "
                            "or, failing that, name.",
    "testing.steps_untested": "ML steps that have code but no test importing it.",
}

WHAT = "test functions (test_*) that assert or call something"


@dataclass
class TestModule:
    """One test file: its real test functions and the stubs that do not count."""

    path: str
    tree: ast.Module
    real: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    stubs: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, str]] = field(default_factory=list)


def test_paths(snap: Snapshot) -> list[str]:
    """Python test files (``tests/``, ``test_*.py``, ``*_test.py``); conftest.py holds fixtures,
    not tests."""
    return [p for p in mlcode.python_paths(snap)
            if common.is_test_path(p) and posixpath.basename(p) != "conftest.py"]


def _skips(aliases: dict[str, str], node: ast.AST) -> bool:
    name = mlcode.dotted(node.func if isinstance(node, ast.Call) else node, aliases) or ""
    return any(name == s or name.endswith("." + s) for s in _list("skip_calls"))


def _list(key: str) -> list[str]:
    items = common.catalogue("testing").get(key)
    return [str(i) for i in items] if isinstance(items, list) else []


def _trivial_assert(node: ast.Assert) -> bool:
    """``assert True``, ``assert 1 == 1``: an assertion about constants checks nothing."""
    return not any(isinstance(n, ast.Name | ast.Attribute | ast.Call)
                   for n in common.walk(node.test))


def stub_reason(fn: ast.FunctionDef | ast.AsyncFunctionDef, aliases: dict[str, str],
                module_skipped: bool) -> str | None:
    """Why a test function is not a real test (None when it is): switched off by a skip
    decorator or module mark, or a body with no assertion and no call (only pass, ...,
    assert True, a skip call)."""
    if module_skipped:
        return "module marked skip"
    skip = _list("skip_decorators")
    for dec in fn.decorator_list:
        name = mlcode.dotted(dec.func if isinstance(dec, ast.Call) else dec, aliases) or ""
        if name in skip:
            return f"skipped by @{name}"
    nodes = [n for stmt in fn.body for n in mlcode.live_nodes(stmt)]
    for node in nodes:
        if isinstance(node, ast.Assert) and not _trivial_assert(node):
            return None
        if isinstance(node, ast.Call) and not _skips(aliases, node):
            return None
    if any(isinstance(n, ast.Assert) for n in nodes):
        return "only asserts a constant"
    if any(isinstance(n, ast.Call) for n in nodes):
        return "only skips or raises NotImplementedError"
    if mlcode.is_stub(fn.body):
        return "body only pass / ... / a docstring"
    return "no assertion and no call"


def _module_skipped(tree: ast.Module, aliases: dict[str, str]) -> bool:
    """``pytestmark = pytest.mark.skip`` switches off every test of the module."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets):
            value = stmt.value.func if isinstance(stmt.value, ast.Call) else stmt.value
            if (mlcode.dotted(value, aliases) or "") in _list("skip_decorators"):
                return True
    return False


def _test_functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Module-level ``test*`` functions and ``test*`` methods of ``Test*`` / ``*TestCase``
    classes, as pytest and unittest collect them."""
    found: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    bases = _list("test_case_bases")
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef) \
                and stmt.name.startswith("test"):
            found.append(stmt)
        elif isinstance(stmt, ast.ClassDef) and (
                stmt.name.startswith("Test")
                or any(mlcode.last_name(b) in bases for b in stmt.bases)):
            found.extend(s for s in stmt.body
                         if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
                         and s.name.startswith("test"))
    return found


@dataclass
class Survey:
    modules: list[TestModule]
    unparseable: dict[str, str]
    files: int


def survey(snap: Snapshot) -> Survey:
    """Every test file parsed once, its test functions sorted into real ones and stubs."""

    def compute() -> Survey:
        modules: list[TestModule] = []
        bad: dict[str, str] = {}
        paths = test_paths(snap)
        for path in paths:
            parsed = snap.python(path)
            if not parsed.ok:
                bad[path] = parsed.error or "unparseable"
                continue
            module = TestModule(path, parsed.value)
            aliases = mlcode.import_aliases(parsed.value)
            skipped = _module_skipped(parsed.value, aliases)
            for fn in _test_functions(parsed.value):
                reason = stub_reason(fn, aliases, skipped)
                if reason is None:
                    module.real.append(fn)
                else:
                    module.stubs.append((fn, reason))
            modules.append(module)
        return Survey(modules, bad, len(paths))

    result: Survey = snap.memo("testing.survey", compute)
    return result


# -- which project files a test module imports ------------------------------------------------

class ModuleIndex:
    """Project Python files by every path suffix, to map ``src.train`` or ``train`` (tests that
    put ``src/`` on the path) to ``src/train.py`` and packages to their ``__init__.py``."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = set(paths)
        self.roots = {r if not r or r.endswith("/") else r + "/" for r in _list("source_roots")}
        self.by_suffix: dict[str, list[str]] = {}
        for path in paths:
            parts = path.split("/")
            for i in range(len(parts)):
                self.by_suffix.setdefault("/".join(parts[i:]), []).append(path)

    def importable(self, root: str, rel: str, importer: str) -> bool:
        """Whether a file under folder ROOT can be imported as REL: ROOT is the repository
        root, a conventional source folder (src/), a folder holding the test (pytest puts it on
        the path), or for a dotted name a folder that is not itself a package. So ``import
        numpy`` never resolves to some ``pkg/io/numpy.py`` deep in the project."""
        if root in self.roots or (posixpath.dirname(importer) + "/").startswith(root):
            return True
        return "/" in rel and root + "__init__.py" not in self.paths

    def files(self, rel: str, exact: bool, importer: str) -> list[str]:
        """Files for module path REL (``src/train``): exact paths for relative imports, else the
        least deep importable files ending with it (``src/pkg/train.py`` for ``pkg.train``)."""
        found: list[str] = []
        for candidate in (rel + ".py", rel + "/__init__.py"):
            if exact:
                found.extend(p for p in [candidate] if p in self.paths)
                continue
            for path in self.by_suffix.get(candidate, []):
                if self.importable(path[: len(path) - len(candidate)], rel, importer):
                    found.append(path)
        if not found:
            return []
        depth = min(p.count("/") for p in found)
        return [p for p in found if p.count("/") == depth]


@dataclass
class ImportUse:
    """One import of a test module: its line, the module named, the project files it reaches
    (each with the dotted name that reaches it) and the names it takes."""

    line: int
    module: str
    files: dict[str, str]
    names: list[str]
    package: str  # module path prefix of the imported package (``src/models/``)


def _imports(module: TestModule, index: ModuleIndex) -> list[ImportUse]:
    """Every live import of a test module resolved to project files: ``import a.b``,
    ``from a import b`` (module ``a`` or submodule ``a.b``), relative imports."""
    uses: list[ImportUse] = []
    here = posixpath.dirname(module.path)
    for node in mlcode.live_nodes(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                rel = alias.name.replace(".", "/")
                files = dict.fromkeys(index.files(rel, False, module.path), alias.name)
                uses.append(ImportUse(node.lineno, alias.name, files, [], rel + "/"))
        elif isinstance(node, ast.ImportFrom):
            exact = node.level > 0
            base = here
            for _ in range(max(node.level - 1, 0)):
                base = posixpath.dirname(base)
            rel = (node.module or "").replace(".", "/")
            if exact:
                rel = posixpath.normpath(posixpath.join(base, rel)) if rel else base
            shown = "." * node.level + (node.module or "")
            taken = [a.name for a in node.names if a.name != "*"]
            files = dict.fromkeys(index.files(rel, exact, module.path) if rel else [], shown)
            for name in taken:
                sub = index.files(f"{rel}/{name}" if rel else name, exact, module.path)
                dot = "" if shown.endswith(".") else "."
                files.update(dict.fromkeys(sub, f"{shown}{dot}{name}" if shown else name))
            uses.append(ImportUse(node.lineno, shown, files, taken, rel + "/" if rel else ""))
    return uses


class Definitions:
    """Top-level names (functions, classes, assignments) defined by project modules."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.cache: dict[str, set[str]] = {}

    def of(self, path: str) -> set[str]:
        if path not in self.cache:
            found: set[str] = set()
            parsed = self.snap.python(path) if path.endswith(".py") else None
            if parsed is not None and parsed.ok:
                for stmt in parsed.value.body:
                    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                        found.add(stmt.name)
                    elif isinstance(stmt, ast.Assign):
                        found.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            self.cache[path] = found
        return self.cache[path]


def _in_package(path: str, package: str, exact: bool) -> bool:
    if not package:
        return False
    return path.startswith(package) if exact else ("/" + path).find("/" + package) >= 0


def _reached(use: ImportUse, step_files: list[str], defs: Definitions) -> tuple[str, str] | None:
    """The step file an import reaches (directly, or a name it imports that a step file in the
    imported package defines), with how."""
    for path, name in use.files.items():
        if path in step_files:
            return path, f"imports {name} ({path})"
    exact = use.module.startswith(".")
    for name in use.names:
        for path in step_files:
            if _in_package(path, use.package, exact) and name in defs.of(path):
                return path, f"imports {name} from {use.module}, defined in {path}"
    return None


def _by_name(module: TestModule, steps: dict[str, list[str]]) -> dict[str, Evidence]:
    """Fallback for a test module whose imports reach no project module: steps whose keywords
    start a word of the file's name or of a real test function's name."""
    keywords = common.catalogue("testing").get("step_keywords") or {}
    found: dict[str, Evidence] = {}
    stem = posixpath.splitext(posixpath.basename(module.path))[0]
    named = [(1, stem, "file name")] + [(fn.lineno, fn.name, "test") for fn in module.real]
    for step in mlcode.STEPS:
        words = keywords.get(step) if isinstance(keywords, dict) else None
        if not steps.get(step) or not isinstance(words, list):
            continue
        for line, name, kind in named:
            key = mlcode.mentions(mlcode.tokens(name), [str(w) for w in words])
            if key:
                found[step] = common.at(
                    module.path, line, f"by name: {kind} {name} mentions '{key}' ({step}); "
                    "its imports reach no project module")
                break
    return found


def tested_steps(snap: Snapshot) -> dict[str, list[Evidence]]:
    """For each ML step with code, the evidence that a real test module imports (or, as a
    fallback, names) it."""

    def compute() -> dict[str, list[Evidence]]:
        steps = {s: files for s, files in mlcode.step_files(snap).items() if files}
        index = ModuleIndex(mlcode.python_paths(snap))
        defs = Definitions(snap)
        tested: dict[str, list[Evidence]] = {}
        for module in survey(snap).modules:
            if not module.real:
                continue
            uses = _imports(module, index)
            reaches_project = any(not common.is_test_path(p) for u in uses for p in u.files)
            for step, files in steps.items():
                for use in uses:
                    reached = _reached(use, files, defs)
                    if reached is not None:
                        tested.setdefault(step, []).append(common.at(
                            module.path, use.line, f"{reached[1]}: {step} code"))
                        break
            if not reaches_project:
                for step, evidence in _by_name(module, steps).items():
                    tested.setdefault(step, []).append(evidence)
        return tested

    result: dict[str, list[Evidence]] = snap.memo("testing.tested_steps", compute)
    return result


# -- facts ----------------------------------------------------------------------------------

def _where(found: Survey) -> str:
    return f"{found.files} test file(s) (tests/, test_*.py, *_test.py)"


def _stub_evidence(found: Survey) -> list[Evidence]:
    return [common.at(m.path, fn.lineno, f"not counted: {fn.name} ({why})")
            for m in found.modules for fn, why in m.stubs]


def _present_facts(found: Survey) -> list[Fact]:
    """testing.present and testing.count: real tests with the first of each file, stubs listed
    after them; unknown when the only test files could not be parsed."""
    real = [m for m in found.modules if m.real]
    count = sum(len(m.real) for m in real)
    stubs = _stub_evidence(found)
    bad = [Evidence(detail=f"unparseable: {why}", path=p) for p, why in found.unparseable.items()]
    if not real and bad and not found.modules:
        reason = "no test file could be parsed"
        return [common.unknown("testing.present", reason, bad),
                common.unknown("testing.count", reason, bad)]
    if not real:
        items = [common.searched(WHAT, _where(found)), *stubs, *bad]
        return [Fact("testing.present", False, tuple(items[:20])),
                Fact("testing.count", 0, tuple(items[:20]))]
    firsts = [common.at(m.path, m.real[0].lineno,
                        f"{len(m.real)} real test function(s), first {m.real[0].name}")
              for m in real]
    items = firsts[:15] + stubs[:5] + bad[:5]
    return [common.value("testing.present", True, items),
            common.value("testing.count", count, items)]


def _step_facts(snap: Snapshot, found: Survey) -> list[Fact]:
    """testing.steps_tested / steps_untested over the steps mlcode found code for."""
    files = mlcode.step_files(snap)
    steps = [s for s in mlcode.STEPS if files[s]]
    tested = tested_steps(snap) if any(m.real for m in found.modules) else {}
    yes = tuple(s for s in steps if s in tested)
    no = tuple(s for s in steps if s not in tested)
    yes_items = [e for s in yes for e in tested[s][:3]]
    no_items = [common.searched(f"a real test importing {step} code ({', '.join(files[step][:3])})",
                                _where(found)) for step in no]
    if not steps:
        none = common.searched("data, training or serving code to test",
                               "the project's modules and notebooks")
        return [Fact("testing.steps_tested", (), (none,)),
                Fact("testing.steps_untested", (), (none,))]
    if found.unparseable and not found.modules:
        bad = [Evidence(detail=f"unparseable: {why}", path=p)
               for p, why in found.unparseable.items()]
        reason = "no test file could be parsed, so what the tests import is unknown"
        return [common.unknown("testing.steps_tested", reason, bad),
                common.unknown("testing.steps_untested", reason, bad)]
    return [Fact("testing.steps_tested", yes, tuple((yes_items or no_items)[:20])),
            Fact("testing.steps_untested", no, tuple((no_items or yes_items)[:20]))]


def collect(snap: Snapshot) -> list[Fact]:
    found = survey(snap)
    return [*_present_facts(found), *_step_facts(snap, found)]
