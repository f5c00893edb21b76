"""What every reader needs: values of any shape, the line a key or text is on, branch
filters, each system's files and their YAML."""

from __future__ import annotations

import re
from typing import Any

from mlops_auditor.checks.ci.catalogue import _cat
from mlops_auditor.checks.ci.model import Scan
from mlops_auditor.checks.common import as_list as _as_list
from mlops_auditor.model import Evidence
from mlops_auditor.snapshot import Snapshot


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _search_order(start: int | None, count: int) -> list[int]:
    """Line indexes from line START (1-based) to the end, then from the top."""
    begin = min(max((start or 1) - 1, 0), count)
    return list(range(begin, count)) + list(range(begin))


def _find(lines: list[str], needle: str, start: int | None = None) -> int | None:
    """1-based number of the first line holding NEEDLE (its first 60 characters), searching
    from line START (1-based) on, then from the top."""
    needle = needle.strip()
    order = _search_order(start, len(lines))
    # A shorter prefix finds lines whose text was substituted (template parameters).
    for size in (60, 24):
        if len(needle[:size]) >= min(len(needle), 8):
            for index in order:
                if needle[:size] in lines[index]:
                    return index + 1
    return None


def _find_key(lines: list[str], key: str, start: int | None = None) -> int | None:
    """Line of a YAML mapping key (``key:``) or list entry (``- job: key``)."""
    pattern = re.compile(rf"""^\s*(-\s*)?(\w+:\s*)?['"]?{re.escape(key)}['"]?\s*:?\s*(#.*)?$""")
    for index in _search_order(start, len(lines)):
        if pattern.match(lines[index]):
            return index + 1
    return _find(lines, key, start)


def _default_branch(text: str) -> str:
    """The default branch's name as the file uses it: the first of main/master/trunk it
    mentions."""
    for name in _cat()["default_branches"]:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return str(name)
    return str(_cat()["default_branches"][0])


def _glob_matches(pattern: str, name: str) -> bool:
    """Branch/tag glob (``*`` stays within a path segment, ``**`` crosses them)."""
    pattern = re.sub(r"^refs/(heads|tags)/", "", pattern.strip())
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            regex += ".*"
            i += 2
            continue
        regex += {"*": "[^/]*", "?": "."}.get(pattern[i], re.escape(pattern[i]))
        i += 1
    return re.fullmatch(regex, name) is not None


def _branch_allowed(name: str, include: Any, exclude: Any) -> bool:
    """GitHub/Azure branch filters: ordered ``!`` negations in include, or an exclude list."""
    if include is not None:
        allowed = False
        for pattern in (str(p) for p in _as_list(include)):
            negated = pattern.startswith("!")
            if _glob_matches(pattern[1:] if negated else pattern, name):
                allowed = not negated
        if not allowed:
            return False
    return not any(_glob_matches(str(p), name) for p in _as_list(exclude))


def _files(snap: Snapshot, system: str) -> list[str]:
    skip = set(snap.glob(*_cat()["skip"]))
    return [p for p in snap.glob(*_cat()["files"][system]) if p not in skip]


def _load_yaml(snap: Snapshot, scan: Scan, path: str) -> Any:
    """A CI file's YAML, or None (recorded as unparseable) when it cannot be read."""
    if path not in scan.files:
        scan.files.append(path)
    parsed = snap.yaml(path)
    if not parsed.ok:
        where = re.search(r"at line (\d+)", parsed.error or "")
        scan.unparseable[path] = Evidence(detail=f"unparseable: {parsed.error}", path=path,
                                          line=int(where.group(1)) if where else None)
        return None
    return parsed.value
