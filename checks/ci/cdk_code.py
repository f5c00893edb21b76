"""CDK code (TypeScript or Python) read as text: comments blanked, its calls, the variables
they are bound to, and their arguments."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class _Call:
    """A call in CDK code: ``new a.b.Name(...)`` / ``a.b.name(...)`` and where its arguments
    are (offsets of the parentheses)."""

    dotted: str
    start: int
    open: int
    close: int

    @property
    def name(self) -> str:
        return self.dotted.rsplit(".", 1)[-1]

    @property
    def receiver(self) -> str:
        return self.dotted.rsplit(".", 1)[0] if "." in self.dotted else ""


@dataclass
class _Code:
    """CDK source read as text: comments blanked (offsets kept), its calls, and the calls bound
    to variables (``const x = new A(...)``, ``this.x = ...``, ``x = A(...)``)."""

    path: str
    text: str
    python: bool
    newlines: list[int] = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)
    binds: dict[str, list[_Call]] = field(default_factory=dict)
    bound: dict[int, str] = field(default_factory=dict)  # open paren of a call -> variable
    closes: dict[int, int] = field(default_factory=dict)  # opening bracket -> its closing one
    depths: list[int] = field(default_factory=list)  # bracket depth at the start of each line

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.newlines, offset - 1) + 1

    def close(self, index: int) -> int:
        """Index of the bracket closing the one at INDEX; the end of the text when none."""
        return self.closes.get(index, len(self.text))


_CALL_HEAD = re.compile(r"(?<![\w$.])(?:new\s+)?([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*)"
                        r"\s*\(")
_BIND = re.compile(r"^[ \t]*(?:(?:export\s+)?(?:const|let|var)\s+)?((?:this\.|self\.)?"
                   r"[A-Za-z_$][\w$]*)[ \t]*(?::[^=\n;]*)?=(?!=)[ \t]*", re.M)
_KEYED = re.compile(r"""^['"]?([A-Za-z_$][\w$]*)['"]?\s*(?::|=(?!=))\s*""")
MAX_CALLS = 2000  # calls read from one CDK file


def _norm(name: str) -> str:
    """A name compared across TypeScript and Python (``buildSpec`` / ``build_spec``)."""
    return name.replace("_", "").lower()


def _skip_string(code: str, index: int) -> int:
    """Index after the string literal whose quote is at INDEX (Python triple quotes too)."""
    quote = code[index : index + 3] if code[index : index + 3] in ("'''", '"""') else code[index]
    pos = index + len(quote)
    while pos < len(code):
        if code[pos] == "\\":
            pos += 2
            continue
        if code.startswith(quote, pos):
            return pos + len(quote)
        if code[pos] == "\n" and quote in ("'", '"'):
            return pos
        pos += 1
    return len(code)


_INTERESTING = re.compile(r"['\"`#/]")


def blank_comments(text: str, python: bool) -> str:
    """TEXT with comments replaced by spaces (``#`` in Python; ``//`` and ``/* */``
    otherwise), strings kept, so offsets and lines stay where they were."""
    out: list[str] = []
    index = 0
    while index < len(text):
        match = _INTERESTING.search(text, index)
        if match is None:
            out.append(text[index:])
            break
        out.append(text[index : match.start()])
        index = match.start()
        char = text[index]
        if char in "'\"" or (char == "`" and not python):
            end = _skip_string(text, index)
            out.append(text[index:end])
            index = end
            continue
        if (python and char == "#") or (not python and text.startswith("//", index)):
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
        elif not python and text.startswith("/*", index):
            end = text.find("*/", index + 2)
            end = len(text) if end < 0 else end + 2
        else:
            out.append(char)
            index += 1
            continue
        out.append(re.sub(r"[^\n]", " ", text[index:end]))
        index = end
    return "".join(out)


def _mask_strings(code: str, python: bool) -> str:
    """CODE with the insides of string literals blanked, so a call written in a string or a
    docstring is not taken for code."""
    out: list[str] = []
    index = 0
    quotes = re.compile(r"['\"]" if python else r"['\"`]")
    while index < len(code):
        match = quotes.search(code, index)
        if match is None:
            out.append(code[index:])
            break
        end = _skip_string(code, match.start())
        out.append(code[index : match.start() + 1])
        out.append(re.sub(r"[^\n]", " ", code[match.start() + 1 : end - 1]))
        out.append(code[end - 1 : end] if end > match.start() + 1 else "")
        index = max(end, match.start() + 1)
    return "".join(out)


def _brackets(code: str, python: bool) -> tuple[dict[int, int], list[int]]:
    """One pass over CODE (strings skipped): each opening bracket's closing one, and the depth
    of parentheses and brackets (and, in Python, braces) at the start of each line."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    counted = "([{" if python else "(["
    closes: dict[int, int] = {}
    stack: list[int] = []
    depths = [0]
    depth = 0
    pos = 0
    while pos < len(code):
        char = code[pos]
        if char in "'\"`":
            end = _skip_string(code, pos)
            depths += [depth] * code.count("\n", pos, end)
            pos = end
            continue
        if char in pairs:
            stack.append(pos)
            depth += char in counted
        elif char in ")]}" and stack and pairs[code[stack[-1]]] == char:
            opened = stack.pop()
            closes[opened] = pos
            depth -= code[opened] in counted
        elif char == "\n":
            depths.append(depth)
        pos += 1
    return closes, depths


def _split(src: _Code, start: int, end: int) -> list[tuple[int, str]]:
    """The comma-separated parts of the text from START to END at bracket depth 0, each with
    its offset."""
    code = src.text
    parts: list[tuple[int, str]] = []
    pos = begin = start
    while pos < end:
        char = code[pos]
        if char in "'\"`":
            pos = _skip_string(code, pos)
            continue
        if char in "([{":
            pos = src.close(pos) + 1
            continue
        if char == ",":
            parts.append((begin, code[begin:pos]))
            begin = pos + 1
        pos += 1
    parts.append((begin, code[begin:end]))
    result = []
    for offset, text in parts:
        stripped = text.strip()
        if stripped:
            result.append((offset + len(text) - len(text.lstrip()), stripped))
    return result


def _call_at(src: _Code, offset: int) -> _Call | None:
    match = _CALL_HEAD.match(src.text, offset)
    if not match:
        return None
    open_at = match.end() - 1
    return _Call(re.sub(r"\s+", "", match.group(1)), offset, open_at, src.close(open_at))


def read_cdk(path: str, text: str) -> _Code:
    """CDK code with its calls and variable bindings (a binding counts at bracket depth 0 of a
    statement, so a keyword argument ``project=X(...)`` is not a variable)."""
    python = path.endswith(".py")
    code = blank_comments(text, python)
    masked = _mask_strings(code, python)
    closes, depths = _brackets(code, python)
    src = _Code(path, code, python, [i for i, c in enumerate(code) if c == "\n"],
                closes=closes, depths=depths)
    for match in _CALL_HEAD.finditer(masked):
        if len(src.calls) >= MAX_CALLS:
            break
        call = _call_at(src, match.start())
        if call is not None:
            src.calls.append(call)
    by_open = {c.open: c for c in src.calls}
    for match in _BIND.finditer(masked):
        head = _CALL_HEAD.match(code, match.end())
        if head is None or src.depths[src.line(match.start()) - 1] > 0:
            continue
        call = by_open.get(head.end() - 1)
        if call is not None:
            name = re.sub(r"^(this|self)\.", "", match.group(1))
            src.binds.setdefault(name, []).append(call)
            src.bound[call.open] = name
    return src


def _args(src: _Code, call: _Call) -> list[tuple[int, str]]:
    return _split(src, call.open + 1, call.close)


def _props(src: _Code, call: _Call) -> dict[str, tuple[int, str]]:
    """Keyword arguments (Python) and the keys of object-literal arguments (TypeScript) of a
    call, by normalised name, each with its offset and text (``{ project }`` included)."""
    props: dict[str, tuple[int, str]] = {}
    for offset, text in _args(src, call):
        if text.startswith("{"):
            props.update(_object(src, offset, text))
            continue
        keyed = _KEYED.match(text)
        if keyed:
            props[_norm(keyed.group(1))] = (offset + keyed.end(), text[keyed.end():])
    return props


def _object(src: _Code, offset: int, text: str) -> dict[str, tuple[int, str]]:
    """Keys of an object literal (or a Python dict), or the arguments of a call
    (``StageProps(stage_name=...)``)."""
    if not text.startswith("{"):
        call = _call_at(src, offset)
        return _props(src, call) if call and call.close == offset + len(text) - 1 else {}
    props: dict[str, tuple[int, str]] = {}
    for part_offset, part in _split(src, offset + 1, offset + len(text) - 1):
        keyed = _KEYED.match(part)
        if keyed:
            props[_norm(keyed.group(1))] = (part_offset + keyed.end(), part[keyed.end():])
        elif re.fullmatch(r"[A-Za-z_$][\w$]*", part):
            props[_norm(part)] = (part_offset, part)
    return props


def _positional(src: _Code, call: _Call) -> list[tuple[int, str]]:
    return [(o, t) for o, t in _args(src, call) if not (_KEYED.match(t) and src.python)]


def _literal(text: str | None) -> str | None:
    """A string literal's value, or the fallback literal of ``x || 'main'`` / ``x ?? 'main'`` /
    ``x or "main"``; None for anything else."""
    if text is None:
        return None
    whole = re.fullmatch(r"\s*[rRuUfF]?(['\"`])(.*?)\1\s*", text, re.S)
    if whole:
        return whole.group(2)
    fallback = re.search(r"(?:\|\||\?\?|\bor\b)\s*(['\"])([^'\"\n]*)\1\s*$", text)
    return fallback.group(2) if fallback else None


def _items(src: _Code, value: tuple[int, str] | None) -> list[tuple[int, str]]:
    """The elements of an array / list literal."""
    if value is None or not value[1].startswith("["):
        return []
    offset, text = value
    return _split(src, offset + 1, offset + len(text) - 1)


def _resolve(src: _Code, value: tuple[int, str] | None) -> list[_Call]:
    """The call(s) an expression stands for: written in place, or bound to the variable it
    names (every assignment of it: a variable set in both branches of an ``if``)."""
    if value is None:
        return []
    offset, text = value
    call = _call_at(src, offset)
    if call is not None and call.close == offset + len(text) - 1:
        return [call]
    name = re.sub(r"^(this|self)\.", "", text.strip())
    return src.binds.get(name, []) if re.fullmatch(r"[A-Za-z_$][\w$]*", name) else []


def _strings(src: _Code, value: tuple[int, str] | None) -> tuple[tuple[str, int | None], ...]:
    """The string literals of an array (commands), each with its line."""
    found = []
    for offset, text in _items(src, value):
        literal = _literal(text)
        if literal is not None:
            found.append((literal, src.line(offset)))
    return tuple(found)


def _text(value: tuple[int, str] | None) -> str | None:
    return value[1] if value else None
