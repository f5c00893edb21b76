"""Bounded, non-executing parsers for the formats checks read: YAML, JSON, TOML and HCL.

Each takes text and returns a value or raises :class:`ParseError` with a short reason. Nothing
is evaluated: YAML tags (GitLab's ``!reference``, CloudFormation's ``!Ref``) become plain data,
aliases are capped so an alias bomb cannot explode, and HCL parses are bounded in time.
"""

from __future__ import annotations

import ast
import contextlib
import json
import signal
import threading
import tomllib
import warnings
from collections.abc import Iterator
from typing import Any

import yaml

MAX_YAML_ALIASES = 200
MAX_EXPANDED_NODES = 1_000_000  # what walking a YAML document may visit, aliases expanded
MAX_DEPTH = 200
HCL_SECONDS = 5.0


class ParseError(Exception):
    pass


class _Loader(yaml.SafeLoader):
    """Safe loader that keeps unknown tags as plain data and counts aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ParseError(f"more than {MAX_YAML_ALIASES} YAML aliases")
        return super().compose_node(parent, index)


def _any_tag(loader: _Loader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_multi_constructor("!", _any_tag)
_Loader.add_multi_constructor("tag:", _any_tag)

# libyaml parses about ten times faster, with the same safe constructors (alias bombs are caught
# after loading, by expanded size). Its composer recurses in C and crashes the process on flow
# collections nested tens of thousands deep, so text with many brackets takes the pure-Python
# loader, whose recursion limit turns that into a clean error.
_FastLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):
        pass

    _CLoader.add_multi_constructor("!", _any_tag)
    _CLoader.add_multi_constructor("tag:", _any_tag)
    _FastLoader = _CLoader
MAX_BRACKETS_FOR_LIBYAML = 5000


def _check_depth(value: Any) -> None:
    """Refuse structures nested deeper than MAX_DEPTH. Each container is visited once, so a
    YAML document whose aliases share one object many times costs its size, not its expansion."""
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list) or id(item) in seen:
            continue
        if depth > MAX_DEPTH:
            raise ParseError(f"nested deeper than {MAX_DEPTH} levels")
        seen.add(id(item))
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)


def load_yaml_all(text: str) -> list[Any]:
    """All documents of a YAML stream (Kubernetes manifests hold several)."""
    try:
        brackets = text.count("[") + text.count("{")
        loader = _FastLoader if _FastLoader and brackets <= MAX_BRACKETS_FOR_LIBYAML else _Loader
        docs = list(yaml.load_all(text, Loader=loader))
        _check_depth(docs)
        if _expanded_size(docs, {}) > MAX_EXPANDED_NODES:
            raise ParseError("YAML aliases expand to more than "
                             f"{MAX_EXPANDED_NODES:,} nodes (an alias bomb)")
        return docs
    except ParseError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ParseError(f"invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ParseError("YAML nested too deeply") from None
    except (ValueError, LookupError, AttributeError, TypeError, ArithmeticError) as exc:
        # PyYAML's constructors raise these on values that match a type but do not convert
        # (`2020-13-45`, `!!int abc`, `!!bool maybe`, `[!!int ]`, 5,000-digit integers).
        raise ParseError(f"invalid YAML value ({type(exc).__name__})") from None


def _expanded_size(value: Any, sizes: dict[int, int]) -> int:
    """Nodes a naive walk would visit; shared objects are sized once (depth is already bounded)."""
    if not isinstance(value, dict | list):
        return 1
    key = id(value)
    if key not in sizes:
        children = value.values() if isinstance(value, dict) else value
        sizes[key] = 1 + sum(_expanded_size(child, sizes) for child in children)
    return sizes[key]


def load_yaml(text: str) -> Any:
    docs = load_yaml_all(text)
    return docs[0] if docs else None


def load_json(text: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise ParseError(f"invalid JSON: {str(exc)[:200]}") from None
    _check_depth(value)
    return value


def load_toml(text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"invalid TOML: {exc}") from None
    except RecursionError:
        raise ParseError("TOML nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise ParseError(f"invalid TOML: {str(exc)[:200]}") from None


def load_python(text: str) -> ast.Module:
    """The syntax tree of TEXT. What the compiler would warn about the audited code (invalid
    escape sequences, ``is`` with a literal) is not the auditor's to print."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text)
    except SyntaxError as exc:
        raise ParseError(f"invalid Python at line {exc.lineno}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ParseError("Python source too deeply nested or malformed") from None


def load_notebook(text: str) -> list[tuple[str, str]]:
    data = load_json(text)
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise ParseError("not a Jupyter notebook: no cells list")
    result = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        result.append((str(cell.get("cell_type", "")), str(source)))
    return result


def load_hcl(text: str) -> Any:
    """Terraform/HCL2 with start/end lines (python-hcl2 7.x ``with_meta``); nothing evaluated."""
    import hcl2  # imported lazily: the parser grammar takes a while to build

    try:
        with time_limit(HCL_SECONDS):
            return hcl2.loads(text, with_meta=True)  # type: ignore[attr-defined]
    except TimeoutError:
        raise ParseError(f"HCL parse took longer than {HCL_SECONDS:g} s") from None
    except RecursionError:
        raise ParseError("HCL nested too deeply") from None
    except Exception as exc:  # the parser raises many lark exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParseError(f"invalid HCL: {first[:200]}") from None


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in the block after SECONDS (POSIX main thread; elsewhere unbounded)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _expire(signum: int, frame: Any) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
