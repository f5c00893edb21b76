"""The ci catalogue and the patterns derived from it, computed once (common.use_extensions
clears these caches when the catalogue is extended)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from mlops_auditor.checks import common


@cache
def _cat() -> dict[str, Any]:
    return common.catalogue("ci")


@cache
def _regex(key: str) -> re.Pattern[str]:
    return re.compile(_cat()[key])


@cache
def _class_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    classes: dict[str, list[str]] = _cat()["classes"]
    return tuple((name, re.compile(p)) for name, patterns in classes.items() for p in patterns)


@cache
def _not_a_run() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in _cat()["not_a_run"])


@cache
def _env_words() -> dict[str, str]:
    groups: dict[str, list[str]] = _cat()["environments"]
    return {word: canonical for canonical, words in groups.items() for word in words}
