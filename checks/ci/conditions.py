"""CI conditions (GitHub ``if:``, GitLab ``rules: if:``, Azure ``condition:``): parsed into a
small tree and evaluated three-valued for each run, so a job keeps only the runs it may run in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlops_auditor.checks.ci.model import UNKNOWN, Run, Val, _Unknown

Node = tuple[Any, ...]
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<op>&&|\|\||==|!=|=~|!~|<=|>=|[()!,<>\[\]])
  | (?P<number>\d+(?:\.\d+)?\b)
  | (?P<name>\$?\{?[A-Za-z_][\w.\-*]*\}?)
""", re.X)
_REGEX_LITERAL = re.compile(r"/((?:[^/\\]|\\.)*)/([a-z]*)")


def _tokens(text: str) -> list[tuple[str, str]]:
    """Tokens of a condition; a GitLab ``/regex/`` is read only after ``=~`` or ``!~``."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if tokens and tokens[-1] in (("op", "=~"), ("op", "!~")):
            start = i
            while start < len(text) and text[start].isspace():
                start += 1
            regex = _REGEX_LITERAL.match(text, start)
            if regex:
                tokens.append(("regex", regex.group(0)))
                i = regex.end()
                continue
        match = _TOKEN.match(text, i)
        if not match:
            raise ValueError(f"unexpected {text[i]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group(0)))
        i = match.end()
    return tokens


def parse_expression(text: str) -> Node | None:
    """Parse a CI condition into a small tree; None when it is not understood (then it is
    treated as "may be true"). Wrappers ``${{ }}`` and ``$[ ]`` are removed."""
    text = text.strip()
    for start, end in (("${{", "}}"), ("$[", "]")):
        if text.startswith(start) and text.endswith(end):
            text = text[len(start) : -len(end)].strip()
    if not text or len(text) > 2000:
        return None
    try:
        tokens = _tokens(text)
        node, pos = _parse_or(tokens, 0)
    except (ValueError, IndexError, RecursionError):
        return None
    return node if pos == len(tokens) else None


def _parse_or(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    left, pos = _parse_and(tokens, pos)
    while pos < len(tokens) and tokens[pos] == ("op", "||"):
        right, pos = _parse_and(tokens, pos + 1)
        left = ("or", left, right)
    return left, pos


def _parse_and(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    left, pos = _parse_unary(tokens, pos)
    while pos < len(tokens) and tokens[pos] == ("op", "&&"):
        right, pos = _parse_unary(tokens, pos + 1)
        left = ("and", left, right)
    return left, pos


def _parse_unary(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    if tokens[pos] == ("op", "!"):
        node, pos = _parse_unary(tokens, pos + 1)
        return ("not", node), pos
    left, pos = _parse_primary(tokens, pos)
    if pos < len(tokens) and tokens[pos][0] == "op" and tokens[pos][1] in (
            "==", "!=", "=~", "!~", "<", ">", "<=", ">="):
        right, after = _parse_primary(tokens, pos + 1)
        return ("cmp", tokens[pos][1], left, right), after
    return left, pos


def _parse_primary(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    """A parenthesised expression, a literal, a function call or a variable
    (``variables['Build.Reason']`` is read as ``variables.Build.Reason``)."""
    kind, text = tokens[pos]
    if (kind, text) == ("op", "("):
        node, pos = _parse_or(tokens, pos + 1)
        if tokens[pos] != ("op", ")"):
            raise ValueError("missing )")
        return node, pos + 1
    if kind == "string":
        inner = text[1:-1]
        return ("lit", inner.replace("''", "'") if text[0] == "'" else inner), pos + 1
    if kind in ("number", "regex"):
        return ("lit", text), pos + 1
    if kind != "name":
        raise ValueError(f"unexpected {text}")
    if pos + 1 < len(tokens) and tokens[pos + 1] == ("op", "("):
        args: list[Node] = []
        pos += 2
        while tokens[pos] != ("op", ")"):
            arg, pos = _parse_or(tokens, pos)
            args.append(arg)
            if tokens[pos] == ("op", ","):
                pos += 1
        return ("call", text.lower(), args), pos + 1
    name = text
    while pos + 3 < len(tokens) and tokens[pos + 1] == ("op", "[") and tokens[pos + 3] == (
            "op", "]"):
        name += "." + tokens[pos + 2][1].strip("'\"")
        pos += 3
    lowered = name.lower()
    if lowered in ("true", "false"):
        return ("lit", lowered == "true"), pos + 1
    if lowered == "null":
        return ("lit", None), pos + 1
    return ("var", name), pos + 1


def truth(value: Val) -> bool | None:
    """Truthiness of a value; None when unknown."""
    if isinstance(value, _Unknown):
        return None
    if value is None or isinstance(value, bool):
        return bool(value)
    return value != ""


def _logic(kind: str, values: Sequence[Val]) -> Val:
    """Three-valued and/or: a decisive operand wins, else an unknown one makes it unknown."""
    truths = [truth(v) for v in values]
    decisive = kind == "or"
    if decisive in truths:
        return decisive
    return UNKNOWN if None in truths else not decisive


def _equal(a: Val, b: Val) -> Val:
    if isinstance(a, _Unknown) or isinstance(b, _Unknown):
        return UNKNOWN
    if a is None or b is None:
        return a in (None, "") and b in (None, "")
    return str(a).casefold() == str(b).casefold()


def _regex_search(pattern: Val, value: Val) -> Val:
    if isinstance(pattern, _Unknown) or isinstance(value, _Unknown):
        return UNKNOWN
    literal = _REGEX_LITERAL.fullmatch(str(pattern or ""))
    if literal is None or value is None:
        return False if value is None else UNKNOWN
    try:
        flags = re.IGNORECASE if "i" in literal.group(2) else 0
        return re.search(literal.group(1), str(value), flags) is not None
    except re.error:
        return UNKNOWN


def _call(name: str, args: list[Val]) -> Val:
    """The functions of GitHub expressions and Azure conditions the check understands;
    status functions: success/always are true, failure/cancelled are not a normal run."""
    if name in ("and", "or"):
        return _logic(name, args)
    if name == "not" and args:
        value = truth(args[0])
        return UNKNOWN if value is None else not value
    if name in ("eq", "ne") and len(args) >= 2:
        equal = _equal(args[0], args[1])
        return equal if name == "eq" or isinstance(equal, _Unknown) else not equal
    if name in ("in", "notin") and args:
        found = _logic("or", [_equal(args[0], other) for other in args[1:]])
        return found if name == "in" or isinstance(found, _Unknown) else not found
    if name in ("startswith", "endswith", "contains") and len(args) >= 2:
        if any(isinstance(a, _Unknown) for a in args[:2]):
            return UNKNOWN
        text, part = str(args[0] or "").lower(), str(args[1] or "").lower()
        return {"startswith": text.startswith, "endswith": text.endswith,
                "contains": text.__contains__}[name](part)
    if name in ("success", "succeeded", "always", "succeededorfailed"):
        return True
    if name in ("failure", "failed", "cancelled", "canceled"):
        return False
    return UNKNOWN


def evaluate(node: Node, look: Callable[[str], Val]) -> Val:
    """Value of a parsed condition for one run; ``look`` gives the run's variables."""
    kind = node[0]
    if kind == "lit":
        value: Val = node[1]
        return value
    if kind == "var":
        return look(node[1])
    if kind == "not":
        inner = truth(evaluate(node[1], look))
        return UNKNOWN if inner is None else not inner
    if kind in ("and", "or"):
        return _logic(kind, [evaluate(node[1], look), evaluate(node[2], look)])
    if kind == "cmp":
        left, right = evaluate(node[2], look), evaluate(node[3], look)
        if node[1] in ("==", "!="):
            equal = _equal(left, right)
            return equal if node[1] == "==" or isinstance(equal, _Unknown) else not equal
        if node[1] in ("=~", "!~"):
            found = _regex_search(right, left)
            return found if node[1] == "=~" or isinstance(found, _Unknown) else not found
        return UNKNOWN
    if kind == "call":
        return _call(node[1], [evaluate(arg, look) for arg in node[2]])
    return UNKNOWN


Lookup = Callable[[Run], Callable[[str], Val]]


def narrow(runs: Iterable[Run], condition: Any, lookup: Lookup) -> tuple[Run, ...]:
    """The runs for which CONDITION may be true (a condition not understood keeps them all)."""
    runs = tuple(runs)
    if condition is None:
        return runs
    if isinstance(condition, bool):
        return runs if condition else ()
    node = parse_expression(str(condition))
    if node is None:
        return runs
    return tuple(r for r in runs if truth(evaluate(node, lookup(r))) is not False)


def _skips_with_needs(condition: Any) -> bool:
    """A job runs only when the jobs it needs ran, unless its condition says otherwise."""
    return not re.search(r"\b(always|failure|cancelled|canceled|failed|succeededOrFailed)\s*\(",
                         str(condition or ""))
