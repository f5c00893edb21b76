"""Splitting the checks over two processes never changes the result."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mlops_auditor import workers
from mlops_auditor.engine import audit
from mlops_auditor.render import jsondoc
from mlops_auditor.rules import load_rules
from tests.gitrepo import RepoBuilder

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the split runs on Linux only")

SERVE = """\
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    x: float


@app.post("/predict", response_model=Item)
def predict(item: Item) -> Item:
    return item
"""


def document(repo: Path) -> str:
    rules = load_rules()
    text = jsondoc.render(audit(repo, rules=rules), rules.source)
    return "\n".join(line for line in text.splitlines() if "elapsed_seconds" not in line)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    b = RepoBuilder(tmp_path / "r")
    b.commit("Initial", {"serve.py": SERVE, "train.py": "from sklearn.svm import SVC\n"
                         "SVC().fit([[0]], [0])\n",
                         "tests/test_serve.py": "from serve import predict\n\n\n"
                         "def test_predict():\n    assert predict\n"})
    b.close()
    return b.path


def test_split_and_single_process_give_the_same_document(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "MIN_PYTHON_FILES", 0)
    split = document(repo)
    monkeypatch.setenv("MLOPS_AUDIT_WORKERS", "1")
    single = document(repo)
    assert split == single
    assert '"serving.realtime_api"' in split


def test_a_child_that_dies_is_replaced_by_the_parent(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "MIN_PYTHON_FILES", 0)
    expected = document(repo)
    parent = os.getpid()
    real_send = workers.Connection.send

    def die_in_child(self: object, obj: object) -> None:
        if os.getpid() != parent:
            os._exit(1)
        real_send(self, obj)  # type: ignore[arg-type]

    monkeypatch.setattr(workers.Connection, "send", die_in_child)
    assert document(repo) == expected


def test_the_child_takes_the_history_from_the_parent(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The docs check in the child dates documents by the history; the parent, which reads it
    anyway, hands it over, so git's log runs once."""
    from mlops_auditor import snapshot

    monkeypatch.setattr(workers, "MIN_PYTHON_FILES", 0)
    parent = os.getpid()
    marker = tmp_path / "child-read-the-history"
    real_read = snapshot.read_history

    def read_history(*args: object, **kwargs: object) -> object:
        if os.getpid() != parent:
            marker.touch()
        return real_read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshot, "read_history", read_history)
    split = document(repo)
    assert not marker.exists()
    assert '"docs.stale"' in split
    monkeypatch.setenv("MLOPS_AUDIT_WORKERS", "1")
    assert document(repo) == split
