"""Running the checks on both cores of a machine when a repository has enough code to pay for it.

The code-reading checks parse and walk every Python file, which is CPU-bound. On Linux a forked
child runs one family of checks (those sharing cached analyses run together) while the parent
runs the rest; the child inherits the snapshot and everything already read, starts its own git
reader, and sends its facts back; the parent hands it the history, which it reads anyway.
Anything unexpected in the child falls back to running that family in the parent (or to the
child reading the history itself), so the result never depends on whether the split happened.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from types import ModuleType
from typing import TypeVar

from mlops_auditor.history import History
from mlops_auditor.snapshot import Snapshot

# Checks that share cached analyses must run in the same process (docs asks mlcode which files
# hold each ML step); this family is about half of the work on a large Python repository.
CHILD_FAMILY = frozenset({"mlcode", "testing", "serving", "docs"})
MIN_PYTHON_FILES = 150  # below this, forking costs more than it saves

Result = TypeVar("Result")


def worth_splitting(snap: Snapshot) -> bool:
    if sys.platform != "linux" or (os.cpu_count() or 1) < 2:
        return False
    if os.environ.get("MLOPS_AUDIT_WORKERS") == "1":
        return False
    return len(snap.glob("**/*.py")) >= MIN_PYTHON_FILES


def run_split(snap: Snapshot, checks: Sequence[ModuleType],
              run: Callable[[Snapshot, Sequence[ModuleType]], Result],
              merge: Callable[[Result, Result], Result]) -> Result:
    """RUN the checks, CHILD_FAMILY in a forked child when that pays; MERGE the two results.
    The parent's checks read the history anyway; it reads it first and hands the child a copy
    (the docs check dates documents by it), which costs a fraction of reading it twice."""
    family = [m for m in checks if m.__name__.rsplit(".", 1)[-1] in CHILD_FAMILY]
    rest = [m for m in checks if m not in family]
    if not family or not rest or not worth_splitting(snap):
        return run(snap, checks)
    snap.close()  # each process starts its own git reader; the pipes are not shared
    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    history: multiprocessing.Queue[History | None] = ctx.Queue(1)
    child = ctx.Process(target=_child, args=(snap, family, run, sender, history), daemon=True)
    child.start()
    sender.close()
    history.cancel_join_thread()  # never wait at exit for a child that stopped reading
    try:
        history.put(snap.history.portable())  # sent by the queue's own thread: never blocks
    except Exception:
        history.put(None)  # the child reads the history itself
    mine = run(snap, rest)
    try:
        theirs: Result = receiver.recv()
    except (EOFError, OSError):
        theirs = run(snap, family)
    finally:
        receiver.close()
        history.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
    return merge(mine, theirs)


def _child(snap: Snapshot, family: Sequence[ModuleType],
           run: Callable[[Snapshot, Sequence[ModuleType]], object], sender: Connection,
           history: multiprocessing.Queue[History | None]) -> None:
    snap.receive_history(functools.partial(_received, history))
    try:
        sender.send(run(snap, family))
    finally:
        snap.close()
        sender.close()


def _received(history: multiprocessing.Queue[History | None]) -> History | None:
    try:
        return history.get(timeout=60)
    except Exception:  # nothing came: the child reads the history itself
        return None
