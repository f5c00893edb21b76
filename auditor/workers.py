"""Running the checks on both cores of a machine when a repository has enough code to pay for it.

The code-reading checks parse and walk every Python file, which is CPU-bound. On Linux a forked
child runs one family of checks (those sharing cached analyses run together) while the parent
runs the rest; the child inherits the snapshot and everything already read, starts its own git
reader, and sends its facts back, and on the way the plain values the parent's checks also ask
for. Anything unexpected in the child falls back to computing that value or running that family
in the parent, so the result never depends on whether the split happened.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from types import ModuleType
from typing import Any, TypeVar

from mlops_auditor.snapshot import NO_VALUE, Snapshot

# Checks that share cached analyses must run in the same process; this family is about half of
# the work on a large Python repository. What it computes that a check of the other process
# also needs is sent across as plain data (a family module's ``SHARED``: memo key -> function
# of the snapshot) as soon as that module has run: the docs check dates documents against the
# ML step files of mlcode, and runs with the history-reading checks in the parent.
CHILD_FAMILY = frozenset({"mlcode", "testing", "serving"})
# Checks of the parent that may wait for a shared value: they run last, when the child has most
# likely sent it.
LATE = frozenset({"docs"})
MIN_PYTHON_FILES = 150  # below this, forking costs more than it saves

Result = TypeVar("Result")


def worth_splitting(snap: Snapshot) -> bool:
    if sys.platform != "linux" or (os.cpu_count() or 1) < 2:
        return False
    if os.environ.get("MLOPS_AUDIT_WORKERS") == "1":
        return False
    return len(snap.glob("**/*.py")) >= MIN_PYTHON_FILES


def _name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def run_split(snap: Snapshot, checks: Sequence[ModuleType],
              run: Callable[[Snapshot, Sequence[ModuleType]], Result],
              merge: Callable[[Result, Result], Result]) -> Result:
    """RUN the checks, CHILD_FAMILY in a forked child when that pays; MERGE the two results."""
    family = [m for m in checks if _name(m) in CHILD_FAMILY]
    rest = [m for m in checks if m not in family]
    if not family or not rest or not worth_splitting(snap):
        return run(snap, checks)
    rest = [m for m in rest if _name(m) not in LATE] + [m for m in rest if _name(m) in LATE]
    snap.close()  # each process starts its own git reader; the pipes are not shared
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(snap, family, run, merge, sender), daemon=True)
    process.start()
    sender.close()
    child = _Child(receiver)
    shared = [key for m in family for key in getattr(m, "SHARED", {})]
    for key in shared:
        snap.provide(key, functools.partial(child.value, key))
    try:
        mine = run(snap, rest)
        theirs = child.result()
    finally:
        for key in shared:
            snap.withdraw(key)
        receiver.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
    if theirs is None:  # the child is gone: its family runs here
        theirs = run(snap, family)
    return merge(mine, theirs)


class _Child:
    """The parent's end of the pipe: values the child shares as they come, then its result."""

    def __init__(self, receiver: Connection) -> None:
        self._receiver = receiver
        self._shared: dict[str, Any] = {}
        self._result: Any = None
        self._over = False

    def _read(self) -> None:
        try:
            message = self._receiver.recv()
        except (EOFError, OSError):
            self._over = True
            return
        if message[0] == "shared":
            self._shared[message[1]] = message[2]
        elif message[0] == "unshared":
            self._shared[message[1]] = NO_VALUE
        else:
            self._result, self._over = message[1], True

    def value(self, key: str) -> Any:
        """The value the child shares under KEY, waiting for it; NO_VALUE if it never comes."""
        while key not in self._shared and not self._over:
            self._read()
        return self._shared.get(key, NO_VALUE)

    def result(self) -> Any:
        """The child's result, or None when the child ended without one."""
        while not self._over:
            self._read()
        return self._result


def _child(snap: Snapshot, family: Sequence[ModuleType],
           run: Callable[[Snapshot, Sequence[ModuleType]], Result],
           merge: Callable[[Result, Result], Result], sender: Connection) -> None:
    try:
        result: Result | None = None
        for module in family:
            part = run(snap, [module])
            result = part if result is None else merge(result, part)
            for key, supply in getattr(module, "SHARED", {}).items():
                try:
                    sender.send(("shared", key, supply(snap)))
                except Exception:  # the parent computes it itself
                    sender.send(("unshared", key))
        sender.send(("done", result))
    finally:
        snap.close()
        sender.close()
