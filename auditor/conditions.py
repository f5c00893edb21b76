"""The condition language of rules.yaml: a small all/any/not tree over fact ids, never ``eval``.

    {fact: ci.pr_tests}                       the fact is true (non-empty, non-zero)
    {fact: process.pr_share, ge: 0.9}         a comparison: eq ne gt ge lt le contains in
    {all: [...]}  {any: [...]}  {not: {...}}

Evaluation is three-valued: a fact that could not be observed (or was not produced) is
*unknown*, and unknown propagates the way it should (``any`` with one true member is true,
``all`` with one false member is false), so "cannot observe" never turns into "no".
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from mlops_auditor.model import Fact

Tri = bool | None

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "contains": lambda value, arg: arg in value,
    "in": lambda value, arg: value in arg,
}
_BRANCHES = ("all", "any", "not")


def validate(cond: Any, where: str = "condition") -> list[str]:
    """Problems with a condition tree, each naming where it is; empty when it is well formed."""
    if not isinstance(cond, Mapping):
        return [f"{where}: expected a mapping, got {type(cond).__name__}"]
    keys = set(cond)
    found = sorted(map(str, keys))  # YAML keys may mix types (1, true, "a"): compare as text
    branch = keys & set(_BRANCHES)
    if branch:
        if len(keys) != 1:
            return [f"{where}: '{next(iter(branch))}' must stand alone, found {found}"]
        key = next(iter(branch))
        if key == "not":
            return validate(cond["not"], f"{where}.not")
        members = cond[key]
        if not isinstance(members, list) or not members:
            return [f"{where}.{key}: expected a non-empty list"]
        return [e for i, m in enumerate(members) for e in validate(m, f"{where}.{key}[{i}]")]
    if "fact" not in keys:
        return [f"{where}: expected 'fact', 'all', 'any' or 'not', found {found}"]
    if not isinstance(cond["fact"], str):
        return [f"{where}.fact: expected a fact id string"]
    ops = keys - {"fact"}
    if len(ops) > 1 or (ops and next(iter(ops)) not in _COMPARE):
        return [f"{where}: unknown comparison {sorted(map(str, ops))}; "
                f"use one of {sorted(_COMPARE)}"]
    return []


def fact_ids(cond: Any) -> set[str]:
    """Every fact id a (valid) condition names."""
    if "fact" in cond:
        return {cond["fact"]}
    if "not" in cond:
        return fact_ids(cond["not"])
    key = "all" if "all" in cond else "any"
    return set().union(*(fact_ids(m) for m in cond[key]))


def evaluate(cond: Any, facts: Mapping[str, Fact]) -> Tri:
    """True, False, or None (unknown) for a valid condition over FACTS."""
    if "fact" in cond:
        fact = facts.get(cond["fact"])
        if fact is None or fact.value is None:
            return None
        ops = [k for k in cond if k != "fact"]
        if not ops:
            return bool(fact.value)
        value = list(fact.value) if isinstance(fact.value, tuple) else fact.value
        try:
            return bool(_COMPARE[ops[0]](value, cond[ops[0]]))
        except TypeError:
            return None
    if "not" in cond:
        inner = evaluate(cond["not"], facts)
        return None if inner is None else not inner
    results = [evaluate(m, facts) for m in cond["all" if "all" in cond else "any"]]
    if "all" in cond:
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False


def deciding_facts(cond: Any, facts: Mapping[str, Fact]) -> list[str]:
    """The fact ids that decided a condition's value: for ``all`` that is false, only its false
    members; for ``any`` that is true, only its true members; otherwise all of them. The answer
    cites their evidence, so it shows why, not everything that was looked at."""
    if "fact" in cond:
        return [cond["fact"]]
    if "not" in cond:
        return deciding_facts(cond["not"], facts)
    key = "all" if "all" in cond else "any"
    value = evaluate(cond, facts)
    members = cond[key]
    decisive = key != "all"
    if value is decisive:
        members = [m for m in members if evaluate(m, facts) is decisive]
    elif value is None:
        members = [m for m in members if evaluate(m, facts) is None]
    return [f for m in members for f in deciding_facts(m, facts)]
