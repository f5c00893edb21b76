"""Shared test helpers: a snapshot of inline files (git repositories: tests/gitrepo.py)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from mlops_auditor.snapshot import Snapshot, open_snapshot

MakeSnapshot = Callable[[dict[str, str]], Snapshot]


def write_tree(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content), encoding="utf-8")


@pytest.fixture
def snapshot(tmp_path: Path) -> MakeSnapshot:
    """``snapshot({"path": "content", ...})``: a plain-folder snapshot of inline files
    (content is dedented, so tests can indent it)."""

    def make(files: dict[str, str]) -> Snapshot:
        root = tmp_path / "tree"
        root.mkdir(exist_ok=True)
        write_tree(root, files)  # type: ignore[arg-type]
        return open_snapshot(root)

    return make
