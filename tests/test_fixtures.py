"""Every fixture repository, built into a real git repository, gets the answer a careful reviewer
would give to every statement."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlops_auditor.engine import audit
from tests.fixture_repos import build, fixture_names, load_spec


def git_digest(repo: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((repo / ".git").rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(repo)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("name", fixture_names())
def test_fixture_answers(name: str, tmp_path: Path) -> None:
    spec = load_spec(name)
    repo = build(name, tmp_path / name)
    before = git_digest(repo)
    result = audit(repo)
    assert git_digest(repo) == before, "the audit changed something under .git"
    assert not result.errors, result.errors
    got = {a.statement.id: a.status for a in result.answers}
    expected = {str(k): str(v) for k, v in spec["expected"].items()}
    if spec.get("partial"):  # a trap fixture asserts the statements its trap is about
        assert set(expected) <= set(got), set(expected) - set(got)
    else:
        assert set(expected) == set(got), "expected answers must cover every statement"
    wrong = {sid: f"expected {expected[sid]}, got {got[sid]}: "
             f"{next(a.reason for a in result.answers if a.statement.id == sid)}"
             for sid in expected if got[sid] != expected[sid]}
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in sorted(wrong.items()))
    for a in result.answers:
        if a.status in ("yes", "no") and not a.statement.parts:
            assert a.evidence, f"{a.statement.id} answered {a.status} without evidence"
