"""The maturity timeline (``mlops-audit timeline``): a repository built over four months whose
maturity improves (CI running pytest on pull requests in the second month, pre-commit in the
third) is audited at past revisions, and each format shows the improvement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_auditor.cli import main
from mlops_auditor.history import Commit
from mlops_auditor.timeline import Every, pick
from tests.gitrepo import RepoBuilder
from tests.test_cli import TRAIN, WORKFLOW

MARKUP = "<script>alert(1)</script>"
PRECOMMIT = """\
repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.6.0
    hooks:
      - id: ruff
      - id: ruff-format
"""
# BASE_TIME is 2023-11-14 22:13 UTC, and each commit moves the clock one hour on: a commit in each
# of four months, then one more in the last month.
DATES = ["2023-11-14", "2023-12-15", "2024-01-15", "2024-02-15", "2024-02-16"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Four months of a small ML project: the commits' shas, oldest first."""
    b = RepoBuilder(tmp_path_factory.mktemp("timeline") / "repo")
    shas = [b.commit("Initial model", {"train.py": TRAIN, "requirements.txt": "pandas\n"})]
    b.wait(30)
    shas.append(b.commit("Run the tests on pull requests",
                         {".github/workflows/ci.yml": WORKFLOW,
                          "tests/test_train.py": "def test_one():\n    assert 1 == 1\n"}))
    b.wait(31)
    shas.append(b.commit("Add pre-commit", {".pre-commit-config.yaml": PRECOMMIT}))
    b.wait(31)
    shas.append(b.commit("Describe it", {"README.md": f"# Churn {MARKUP}\n"}))
    b.wait(1)
    shas.append(b.commit(f"Tidy {MARKUP}", {"notes.txt": "tidy\n"}))
    b.close()
    return b.path, shas


def statuses(doc: dict[str, object], sid: str) -> list[str]:
    points = doc["points"]
    assert isinstance(points, list)
    return [p["statements"][sid] for p in points]


def test_monthly_json_points_show_the_improvement(repo: tuple[Path, list[str]]) -> None:
    path, shas = repo
    code, out, err = run("timeline", str(path), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema_version"] == "1.0" and doc["every"] == "month"
    points = doc["points"]
    # The last commit of each month, oldest first: February's is the later of its two.
    assert [p["commit"] for p in points] == [shas[0], shas[1], shas[2], shas[4]]
    assert [p["date"] for p in points] == [DATES[0], DATES[1], DATES[2], DATES[4]]
    assert statuses(doc, "3.2.3") == ["no", "yes", "yes", "yes"]
    assert statuses(doc, "3.2.1") == ["no", "no", "yes", "yes"]
    code_quality = [next(s for s in p["sections"] if s["id"] == "3") for p in points]
    yes = [s["counts"].get("yes", 0) for s in code_quality]
    assert yes[0] < yes[1] < yes[2] == yes[3]
    assert all(isinstance(p["baseline_mature"], bool) for p in points)
    assert len(points[0]["statements"]) == len(points[3]["statements"]) > 50


def test_text_table_has_a_row_per_revision(repo: tuple[Path, list[str]]) -> None:
    path, shas = repo
    code, out, err = run("timeline", str(path))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["date", "commit", "s1"]
    assert lines[0].split()[-1] == "baseline"
    rows = lines[1:5]
    assert [r.split()[:2] for r in rows] == [[DATES[0], shas[0][:12]], [DATES[1], shas[1][:12]],
                                             [DATES[2], shas[2][:12]], [DATES[4], shas[4][:12]]]
    assert all(r.endswith("mature") for r in rows)
    assert lines[5] == ""


def test_quarter_commits_and_since_pick_other_revisions(repo: tuple[Path, list[str]]) -> None:
    path, shas = repo

    def commits(*more: str) -> list[str]:
        code, out, err = run("timeline", str(path), "--format", "json", *more)
        assert code == 0, err
        return [p["commit"] for p in json.loads(out)["points"]]

    assert commits("--every", "quarter") == [shas[1], shas[4]]  # 2023 Q4, 2024 Q1
    assert commits("--every", "2") == [shas[0], shas[2], shas[4]]  # back from HEAD
    assert commits("--since", "2024-01-01") == [shas[2], shas[4]]
    assert commits("--since", "2030-01-01") == []


def test_html_page_has_the_chart_and_escapes_repository_text(
        repo: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, _ = repo
    target = tmp_path / "timeline.html"
    code, _, err = run("timeline", str(path), "--format", "html", "--output", str(target))
    assert code == 0, err
    page = target.read_text(encoding="utf-8")
    assert "<svg" in page and "<polyline" in page
    assert page.count('class="section-line"') == 7
    assert "3. Code quality" in page  # each line is named in text
    assert "<script" not in page and MARKUP not in page
    assert "Tidy &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "script-src" not in page and "default-src 'none'" in page
    for date in (DATES[0], DATES[4]):
        assert date in page


def test_bad_every_and_since_are_one_line_and_exit_2(repo: tuple[Path, list[str]],
                                                     tmp_path: Path) -> None:
    path, _ = repo
    for args in (["--every", "week"], ["--every", "0"], ["--since", "2024-13-01"],
                 ["--since", "yesterday"]):
        code, out, err = run("timeline", str(path), *args)
        assert code == 2, args
        assert out == "" and len(err.strip().splitlines()) == 1, err
        assert args[0] in err
    plain = tmp_path / "plain"
    plain.mkdir()
    code, _, err = run("timeline", str(plain))
    assert code == 2 and "git repository" in err


def commit(sha: str, when: int) -> Commit:
    return Commit(sha, (), "a", "a@x", "a", "a@x", when, when, "s", None, False)


def test_pick_keeps_the_newest_points_oldest_first() -> None:
    month = 31 * 86400
    history = [commit(f"c{i}", 1_700_000_000 + i * month) for i in range(30, -1, -1)]
    chosen = pick(history, Every(period="month"), limit=24)
    assert len(chosen) == 24
    assert chosen[-1].sha == "c30" and chosen[0].sha == "c7"
    assert [c.sha for c in pick(history, Every(commits=10))] == ["c0", "c10", "c20", "c30"]
