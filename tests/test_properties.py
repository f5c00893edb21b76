"""Property-based tests (hypothesis): arbitrary or near-valid input to the parsers, the condition
language, the answers-file loader, the snapshot readers and the checks gives a value or a clear
error, never another exception and never a hang."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlops_auditor import answers, conditions, parsers
from mlops_auditor.engine import all_checks, collect_facts
from mlops_auditor.errors import InputError
from mlops_auditor.model import Fact
from mlops_auditor.snapshot import Parsed, open_snapshot
from tests.conftest import write_tree

FAST = settings(max_examples=100, deadline=2000, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# HCL parses are bounded by parsers.HCL_SECONDS; the deadline allows for that bound.
SLOW = settings(max_examples=40, deadline=parsers.HCL_SECONDS * 1000 + 2000, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", autouse=True)
def _hcl_grammar_built() -> None:
    """Build python-hcl2's grammar once, outside any example's deadline."""
    parsers.load_hcl("a = 1\n")


# -- generators of near-valid text --------------------------------------------------------------

WORDS = ["jobs", "steps", "run", "script", "stages", "on", "pull_request", "push", "uses", "with",
         "repos", "hooks", "id", "entry", "dependencies", "project", "tool", "cells", "source",
         "resource", "name", "image", "services", "env", "answers", "version", "answer", "by",
         "date", "why", "links", "expires", "evidence_digest", "include", "extends", "needs",
         "if", "rules", "only", "trigger", "pool", "pipeline", "outs", "deps", "cmd", "params"]
ODD_SCALARS = ["", "~", "null", "yes", "no", "on", "off", "0x", "0o8", "1e999", "-.inf", ".nan",
               "2020-13-45", "2024-01-31", "12:30:99", "{{ x }}", "${{ secrets.T }}", "${var.a}",
               "%{ if x }y%{ endif }", "*", "&", "!", "|", ">-", "- ", ": ", "#", "'", '"', "\\",
               "[", "]", "{", "}", ",", "\t", "\u2028", "\ufeff", "\x85", "1" * 50, "pytest -q",
               "python train.py", "true", "false", "n/a"]
TAGS = ["", "!reference ", "!Ref ", "!GetAtt ", "!!str ", "!!int ", "!!float ", "!!bool ",
        "!!timestamp ", "!!binary ", "!!null ", "!!map ", "!!seq ", "!!set ", "!!omap ",
        "!!python/object/apply:os.system ", "!<tag:yaml.org,2002:int> ", "!custom "]

scalars = st.one_of(st.sampled_from(WORDS), st.sampled_from(ODD_SCALARS),
                    st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12))
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(WORDS), st.text(max_size=6)), inner,
                        max_size=4)),
    max_leaves=25)


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


@st.composite
def yaml_texts(draw: st.DrawFn) -> str:
    """YAML-like text: block and flow collections nested at random, with anchors, aliases, tags
    and template braces, then perhaps damaged by a few random edits."""
    anchors: list[str] = []

    def prefix() -> str:
        out = draw(st.sampled_from(TAGS))
        if draw(st.booleans()) and draw(st.booleans()):
            name = f"a{len(anchors)}"
            anchors.append(name)
            out += f"&{name} "
        return out

    def flow(value: Any) -> str:
        if anchors and draw(st.integers(0, 5)) == 0:
            return "*" + draw(st.sampled_from(anchors))
        if isinstance(value, dict):
            body = ", ".join(f"{_scalar_text(k)}: {flow(v)}" for k, v in value.items())
            return prefix() + "{" + body + "}"
        if isinstance(value, list):
            return prefix() + "[" + ", ".join(flow(v) for v in value) + "]"
        return prefix() + _scalar_text(value)

    def block(value: Any, indent: int) -> list[str]:
        pad = " " * indent
        if isinstance(value, dict) and value and draw(st.booleans()):
            lines = []
            for k, v in value.items():
                if isinstance(v, dict | list) and v:
                    lines.append(f"{pad}{_scalar_text(k)}: {prefix()}".rstrip())
                    lines += block(v, indent + draw(st.sampled_from([0, 1, 2, 4])))
                else:
                    lines.append(f"{pad}{_scalar_text(k)}: {flow(v)}")
            return lines
        if isinstance(value, list) and value and draw(st.booleans()):
            lines = []
            for v in value:
                if isinstance(v, dict | list) and v:
                    lines.append(f"{pad}-")
                    lines += block(v, indent + 2)
                else:
                    lines.append(f"{pad}- {flow(v)}")
            return lines
        return [pad + flow(value)]

    docs = draw(st.lists(trees, min_size=1, max_size=3))
    separator = draw(st.sampled_from(["\n---\n", "\n...\n---\n", "\n--- |\n"]))
    text = separator.join("\n".join(block(d, 0)) for d in docs)
    return draw(_damaged(text))


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    tree = draw(trees)
    text = json.dumps(tree, indent=draw(st.sampled_from([None, 1, 2])))
    if draw(st.booleans()):
        text = json.dumps({"cells": [{"cell_type": draw(st.sampled_from(["code", "markdown"])),
                                      "source": draw(st.one_of(st.text(), trees))}
                                     for _ in range(draw(st.integers(0, 3)))],
                           "metadata": tree})
    return draw(_damaged(text))


@st.composite
def hcl_texts(draw: st.DrawFn) -> str:
    """HCL-like text: blocks with labels, attributes, lists, objects, interpolation."""

    def value(depth: int) -> str:
        kind = draw(st.integers(0, 6 if depth < 3 else 3))
        if kind == 0:
            return json.dumps(draw(st.sampled_from(ODD_SCALARS + WORDS)))
        if kind == 1:
            return str(draw(st.integers(-1000, 1000)))
        if kind == 2:
            return draw(st.sampled_from(["true", "null", "var.x", "local.a[0]", '"${var.a}-b"',
                                         "<<EOT\nx\nEOT", 'file("x")', "x ? 1 : 2",
                                         "[for s in var.l : upper(s)]"]))
        if kind == 3:
            return draw(st.sampled_from(["{}", "[]", '"%{ if a }b%{ endif }"', "1.5e3"]))
        if kind == 4:
            return "[" + ", ".join(value(depth + 1) for _ in range(draw(st.integers(0, 3)))) + "]"
        return "{\n" + "".join(f"{draw(st.sampled_from(WORDS))} = {value(depth + 1)}\n"
                               for _ in range(draw(st.integers(0, 3)))) + "}"

    def block(depth: int) -> str:
        labels = " ".join(json.dumps(draw(st.sampled_from(WORDS)))
                          for _ in range(draw(st.integers(0, 2))))
        body = ""
        for _ in range(draw(st.integers(0, 3))):
            if depth < 2 and draw(st.booleans()):
                body += block(depth + 1)
            else:
                body += f"  {draw(st.sampled_from(WORDS))} = {value(depth)}\n"
        kind = draw(st.sampled_from(["resource", "module", "variable", "locals", "terraform",
                                     "provider", "data", "output"]))
        return f"{kind} {labels} {{\n{body}}}\n"

    text = "".join(block(0) for _ in range(draw(st.integers(1, 3))))
    return draw(_damaged(text))


@st.composite
def _damaged(draw: st.DrawFn, text: str) -> str:
    """TEXT, or TEXT with a few characters deleted or inserted at random places."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()) and text:
            text = text[:at] + text[at + 1:]
        else:
            piece = draw(st.sampled_from(["{", "}", "[", "]", ":", "-", "\n", "  ", "*a0", "&a0 ",
                                          "!!int ", '"', "'", "#", ",", "=", "${", "\x00"]))
            text = text[:at] + piece + text[at:]
    return text


def _value_or_parse_error(load: Callable[[str], Any], text: str) -> None:
    try:
        load(text)
    except parsers.ParseError as exc:
        assert str(exc)


# -- parser adapters ----------------------------------------------------------------------------

LOADERS = [parsers.load_yaml, parsers.load_yaml_all, parsers.load_json, parsers.load_toml,
           parsers.load_python, parsers.load_notebook]


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
@FAST
@given(text=st.text(max_size=300))
def test_parsers_on_arbitrary_text(load: Callable[[str], Any], text: str) -> None:
    _value_or_parse_error(load, text)


@SLOW
@given(text=st.one_of(st.text(max_size=200), hcl_texts()))
def test_hcl_on_arbitrary_and_near_valid_text(text: str) -> None:
    _value_or_parse_error(parsers.load_hcl, text)


@FAST
@given(text=yaml_texts())
def test_yaml_on_near_valid_text(text: str) -> None:
    _value_or_parse_error(parsers.load_yaml_all, text)
    _value_or_parse_error(parsers.load_yaml, text)


@FAST
@given(text=json_texts())
def test_json_and_notebook_on_near_valid_text(text: str) -> None:
    _value_or_parse_error(parsers.load_json, text)
    _value_or_parse_error(parsers.load_notebook, text)
    _value_or_parse_error(parsers.load_yaml, text)  # JSON is YAML too


@pytest.mark.parametrize("text", ["a: 2020-13-45", "!!int abc", "!!float x", "!!bool maybe",
                                  "!!timestamp x", "[!!int ]", "a: " + "1" * 5000])
def test_yaml_values_that_do_not_convert_are_parse_errors(text: str) -> None:
    with pytest.raises(parsers.ParseError, match="invalid YAML"):
        parsers.load_yaml(text)


def test_json_and_toml_integers_too_long_to_convert_are_parse_errors() -> None:
    with pytest.raises(parsers.ParseError, match="invalid JSON"):
        parsers.load_json("1" * 5000)
    with pytest.raises(parsers.ParseError, match="invalid TOML"):
        parsers.load_toml("a = " + "1" * 5000)


# -- the condition language ---------------------------------------------------------------------

FACT_IDS = ["a.x", "a.y", "b.z"]
OPS = ["eq", "ne", "gt", "ge", "lt", "le", "contains", "in"]
fact_values = st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                        st.tuples(st.text(max_size=3)), st.lists(st.text(max_size=3)).map(tuple),
                        st.none())
fact_maps = st.dictionaries(st.sampled_from(FACT_IDS), fact_values).map(
    lambda d: {k: Fact(k, v) for k, v in d.items()})
arguments = st.one_of(fact_values, st.lists(fact_values, max_size=3),
                      st.dictionaries(st.text(max_size=3), fact_values, max_size=2))
leaves = st.one_of(
    st.builds(lambda f: {"fact": f}, st.sampled_from([*FACT_IDS, "missing"])),
    st.builds(lambda f, op, arg: {"fact": f, op: arg},
              st.sampled_from(FACT_IDS), st.sampled_from(OPS), arguments))
valid_conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(st.builds(lambda c: {"not": c}, inner),
                            st.builds(lambda m: {"all": m}, st.lists(inner, min_size=1,
                                                                      max_size=3)),
                            st.builds(lambda m: {"any": m}, st.lists(inner, min_size=1,
                                                                      max_size=3))),
    max_leaves=10)
keys = st.one_of(st.sampled_from(["fact", "all", "any", "not", *OPS]), st.integers(),
                 st.booleans(), st.none(), st.text(max_size=4))
arbitrary_structures = st.recursive(
    st.one_of(fact_values, st.sampled_from(FACT_IDS)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(keys, inner, max_size=3)),
    max_leaves=15)


@FAST
@given(cond=st.one_of(arbitrary_structures, valid_conditions), facts=fact_maps)
def test_validate_never_raises_and_evaluate_accepted_trees(cond: Any,
                                                            facts: dict[str, Fact]) -> None:
    problems = conditions.validate(cond)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    if not problems:
        assert conditions.evaluate(cond, facts) in (True, False, None)
        assert isinstance(conditions.fact_ids(cond), set)
        assert isinstance(conditions.deciding_facts(cond, facts), list)


@FAST
@given(cond=valid_conditions, facts=fact_maps)
def test_three_valued_laws(cond: Any, facts: dict[str, Fact]) -> None:
    assert conditions.validate(cond) == []
    x = conditions.evaluate(cond, facts)
    assert x in (True, False, None)
    assert conditions.evaluate({"not": {"not": cond}}, facts) == x
    assert conditions.evaluate({"all": [cond]}, facts) == x
    assert conditions.evaluate({"any": [cond]}, facts) == x
    negated = conditions.evaluate({"not": cond}, facts)
    assert negated == (None if x is None else not x)  # unknown stays unknown


# -- the answers file ---------------------------------------------------------------------------

SIDS = {"1.1", "2.3", "6.6"}


@st.composite
def answers_texts(draw: st.DrawFn) -> str:
    entry = draw(st.dictionaries(st.sampled_from(
        ["answer", "by", "date", "why", "links", "expires", "evidence_digest", "other"]),
        st.one_of(scalars, trees), max_size=7))
    doc = {"version": draw(st.sampled_from([1, 2, "1", None])),
           "answers": {draw(st.sampled_from([*sorted(SIDS), "9.9", 1.1])): entry}}
    text = json.dumps(doc, default=str)
    return draw(st.one_of(st.just(text), _damaged(text), yaml_texts()))


@FAST
@given(text=st.one_of(st.text(max_size=200), answers_texts()))
def test_answers_parse_gives_confirmations_or_an_input_error(text: str) -> None:
    try:
        found = answers.parse(text, ".mlops-audit/answers.yaml", SIDS)
    except InputError as exc:
        assert str(exc).startswith(".mlops-audit/answers.yaml")
    else:
        assert set(found) <= SIDS


# -- snapshot readers and the checks ------------------------------------------------------------

READERS = {"main.tf": "hcl", "a.yaml": "yaml", "b.yaml": "yaml_all", "c.json": "json",
           "pyproject.toml": "toml", "train.py": "python", "n.ipynb": "notebook"}
contents = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                     yaml_texts().map(str.encode), json_texts().map(str.encode),
                     st.sampled_from([b"\xef\xbb\xbfa: 1\r\n", b"\xff\xfe", b"a\x00b"]))


@SLOW
@given(files=st.fixed_dictionaries({name: contents for name in READERS}))
def test_snapshot_readers_return_parsed_values_or_errors(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        write_tree(Path(folder), files)  # type: ignore[arg-type]
        snap = open_snapshot(Path(folder))
        for name, reader in READERS.items():
            result = getattr(snap, reader)(name)
            assert isinstance(result, Parsed)
            assert result.ok or (result.value is None and result.error)


RELEVANT = [".github/workflows/ci.yml", ".gitlab-ci.yml", "azure-pipelines.yml",
            ".pre-commit-config.yaml", "dvc.yaml", "dvc.lock", "params.yaml", "MLproject",
            "MLmodel", "pyproject.toml", "setup.cfg", "requirements.txt", "environment.yml",
            "Dockerfile", "docker-compose.yml", "Makefile", "main.tf", "k8s/deploy.yaml",
            "train.py", "tests/test_model.py", "notebooks/explore.ipynb", "README.md",
            "docs/index.md", "mkdocs.yml", "feature_store.yaml", "Jenkinsfile",
            ".circleci/config.yml", "bitbucket-pipelines.yml", "template.yaml", "cdk.json",
            "package.json", "CHANGELOG.md", ".github/CODEOWNERS", "data.dvc"]
structured = st.one_of(st.text(max_size=150), yaml_texts(), json_texts(), hcl_texts())
CHECKS, _ = all_checks()


@settings(SLOW, max_examples=150)
@given(files=st.dictionaries(st.sampled_from(RELEVANT), structured, min_size=1, max_size=4))
def test_no_check_fails_on_odd_content(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8", errors="surrogatepass")
        facts, errors = collect_facts(open_snapshot(root), CHECKS)
    assert errors == []
    assert facts


# -- the checks' name matcher ------------------------------------------------------------------

NAME_PARTS = st.sampled_from(["pandas", "read_csv", "read", "sklearn", "fit", "a", "b", "_x"])
DOTTED = st.lists(NAME_PARTS, min_size=0, max_size=4).map(".".join)
PIECES = st.lists(st.sampled_from(["pandas", "read_", "read_csv", ".", "*", "fit", "a", "?",
                                   "[ab]", "sklearn"]), min_size=0, max_size=5).map("".join)


@st.composite
def patterns_and_name(draw: st.DrawFn) -> tuple[list[str], str]:
    """A dotted name and patterns, some cut from the name itself (``pandas.*``, ``*.read_csv``,
    ``*as.re*``), so that the fast paths meet names they match as well as names they do not."""
    name = draw(DOTTED)
    patterns = draw(st.lists(PIECES, max_size=3))
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(name)))
        j = draw(st.integers(i, len(name)))
        shape = draw(st.sampled_from(["prefix", "suffix", "infix", "exact"]))
        cut = {"prefix": name[:i] + "*", "suffix": "*" + name[j:],
               "infix": "*" + name[i:j] + "*", "exact": name}[shape]
        patterns.append(draw(st.sampled_from([cut, cut + "x", "x" + cut])))
    return patterns, draw(st.sampled_from([name, name + ".fit", "x" + name]))


@FAST
@given(patterns_and_name())
@example((["pandas.*"], "pandas.read_csv"))
@example((["*.read_csv"], "pandas.read_csv"))
@example((["*as.re*"], "pandas.read_csv"))
@example((["pandas.read_csv"], "pandas.read_csv"))
@example((["pandas.*", "*.fit", "*klea*", "spark.sql"], "polars.read_csv"))
def test_name_matcher_agrees_with_fnmatch(case: tuple[list[str], str]) -> None:
    """The fast paths (exact, prefix, suffix, infix) answer as fnmatch's regular expressions do,
    asked once or twice (answers are remembered)."""
    import fnmatch
    import re

    from mlops_auditor.checks.common import NameMatcher

    patterns, name = case
    expected = any(re.match(fnmatch.translate(p), name) for p in patterns)
    matcher = NameMatcher(patterns)
    assert matcher(name) is expected
    assert matcher(name) is expected
    assert matcher(None) is False


@FAST
@given(patterns_and_name(), st.lists(DOTTED, max_size=8))
@example((["*as.re*", "pandas.*", "*.fit", "p?ndas.read_csv", "[!x]andas.read_csv"],
          "pandas.read_csv"), ["x.fit", "pandas", "xandas.read_csv", "", "andas.read_csv"])
def test_name_matcher_select_agrees_with_asking_each_name(case: tuple[list[str], str],
                                                          others: list[str]) -> None:
    """Selecting from an index of names (binary searches, one regular expression over all
    names) finds exactly the names the matcher accepts one by one."""
    from mlops_auditor.checks.common import NameIndex, NameMatcher

    patterns, name = case
    names = [name, *others]
    assert NameMatcher(patterns).select(NameIndex(names)) == {
        n for n in names if NameMatcher(patterns)(n)}


# -- the file index's extension shortcut -----------------------------------------------------------

PATH_PARTS = st.sampled_from(["docs", "src", "a.py", "Dockerfile", "x.tar.gz", ".env", "README.MD",
                              "my.file", "file", "ümlaut.Py", "b.PY", "c.d"])
FILE_PATHS = st.lists(PATH_PARTS, min_size=1, max_size=4).map("/".join)
GLOB_PARTS = st.sampled_from(["**/", "*", "?", ".py", "Dockerfile", "docs/", "file", ".gz", "*.md",
                              "[ab]", ".env", "x", "/"])
GLOBS = st.lists(GLOB_PARTS, min_size=1, max_size=4).map("".join)


@FAST
@given(GLOBS, FILE_PATHS)
@example("*file", "my.file")
@example("Dockerfile", "src/Dockerfile")
@example("*.py", "ümlaut.Py")
def test_a_glob_only_matches_files_with_the_extension_it_requires(pattern: str, path: str
                                                                 ) -> None:
    """The file index looks only at files with the extension a pattern requires: no file of
    another extension may match it."""
    from mlops_auditor.snapshot import _ODD, _compile_glob, _extension, _required_extension

    required = _required_extension(pattern)
    if required is not None and _compile_glob(pattern).match(path):
        assert _extension(path) in (required, _ODD)
