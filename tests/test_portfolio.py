"""``mlops-audit portfolio``: the results of three audited repositories (one a git repository, one
a folder whose name is markup) gathered into CSV, JSON and an HTML page; bad result files are one
line and exit 2."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlops_auditor.cli import main
from tests.gitrepo import RepoBuilder
from tests.test_cli import STATEMENT_IDS, TRAIN, WORKFLOW

MARKUP = "<script>alert(1)"  # a folder name cannot hold "/", so no closing tag


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three results: a git repository with CI and tests, a plain folder with a
    training script, and a plain folder named with markup whose README states business goals."""
    root = tmp_path_factory.mktemp("portfolio")
    b = RepoBuilder(root / "churn")
    b.commit("Initial import", {"README.md": "# Churn model\n", "src/train.py": TRAIN,
                                "requirements.txt": "pandas==2.2.2\n"})
    b.merge_pr(1, "ci", {".github/workflows/ci.yml": WORKFLOW}, title="Add CI")
    b.close()
    (root / "forecast").mkdir()
    (root / "forecast" / "train.py").write_text(TRAIN)
    hostile = root / MARKUP
    hostile.mkdir()
    (hostile / "README.md").write_text("# Model\n\n## Business goals\n\nReduce churn by 5%, "
                                       "measured as the KPI.\n")
    out = root / "results"
    out.mkdir()
    for name in ("churn", "forecast", MARKUP):
        code, _, err = run("audit", str(root / name), "--format", "json",
                           "--output", str(out / f"{len(list(out.iterdir()))}.json"))
        assert code == 0, err
    return out


def documents(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))]


def test_csv_has_a_row_per_repository_and_a_column_per_statement(results: Path) -> None:
    code, out, err = run("portfolio", str(results), "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["repository", "path", "commit", "verdict", *STATEMENT_IDS]
    assert [r[0] for r in rows[1:]] == ["churn", "forecast", MARKUP]
    docs = documents(results)
    for row, doc in zip(rows[1:], docs, strict=True):
        assert row[2] == (doc["repo"]["head"] or "")
        assert row[3] == ("baseline mature" if doc["verdict"]["baseline_mature"]
                          else "not baseline mature")
        assert row[4:] == [s["status"] for s in doc["statements"]]
    assert len(rows[1][2]) == 40 and rows[2][2] == ""  # the git repository has a commit


def test_json_shares_count_every_repository(results: Path) -> None:
    code, out, err = run("portfolio", str(results), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    docs = documents(results)
    assert [s["id"] for s in doc["statements"]] == STATEMENT_IDS
    for s in doc["statements"]:
        answers = [next(x["status"] for x in d["statements"] if x["id"] == s["id"]) for d in docs]
        assert s["repositories"] == 3
        assert s["counts"] == {k: answers.count(k) for k in ("yes", "no", "n/a", "manual")}
        assert s["shares"] == {k: round(answers.count(k) / 3, 4)
                               for k in ("yes", "no", "n/a", "manual")}
    by_id = {s["id"]: s for s in doc["statements"]}
    assert any(max(s["counts"].values()) < 3 for s in doc["statements"])  # they differ
    weakest = [by_id[i] for i in doc["weakest"]]
    assert weakest, "three small repositories cannot be mature everywhere"
    keys = [(not s["baseline"], s["yes_where_applicable"]) for s in weakest]
    assert keys == sorted(keys)
    assert all(s["yes_where_applicable"] is not None and s["yes_where_applicable"] < 1
               for s in weakest)
    assert [r["name"] for r in doc["repositories"]] == ["churn", "forecast", MARKUP]


class Page(HTMLParser):
    """The page's tags, and the text of each matrix row and column header."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: dict[str, list[str]] = {}
        self.columns: list[str] = []
        self._row: str | None = None
        self._column = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "tr" and a.get("data-repo"):
            self._row = a["data-repo"]
            self.rows[self._row or ""] = []
        if tag == "td" and self._row is not None:
            self.rows[self._row].append(a.get("title") or "")
        self._column = tag == "th" and a.get("class") == "sid"

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        self._column = False

    def handle_data(self, data: str) -> None:
        if self._column:
            self.columns.append(data)


def test_html_matrix_holds_every_repository_and_statement_escaped(results: Path,
                                                                   tmp_path: Path) -> None:
    target = tmp_path / "portfolio.html"
    code, out, err = run("portfolio", *sorted(map(str, results.glob("*.json"))),
                         "--output", str(target))
    assert code == 0, err
    assert out == ""
    text = target.read_text(encoding="utf-8")
    assert MARKUP not in text and "&lt;script&gt;alert(1)" in text
    page = Page()
    page.feed(text)
    assert page.columns == STATEMENT_IDS
    assert list(page.rows) == ["churn", "forecast", MARKUP]
    docs = documents(results)
    for (name, cells), doc in zip(page.rows.items(), docs, strict=True):
        assert cells == [f"{name} · {s['id']}: {s['status']}" for s in doc["statements"]]
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for _, a in page.tags if a.get("src") or a.get("href")]
    assert "weakest" in {a.get("id") for _, a in page.tags}


def test_duplicate_names_and_formula_cells(results: Path, tmp_path: Path) -> None:
    doc = documents(results)[1]
    doc["repo"]["path"] = "=HYPERLINK(x)"
    (tmp_path / "a.json").write_text(json.dumps(doc))
    doc["repo"]["path"] = "."
    (tmp_path / "forecast.json").write_text(json.dumps(doc))
    (tmp_path / "nested").mkdir()  # a folder's subfolders are not read
    (tmp_path / "nested" / "x.json").write_text("not json")
    code, out, err = run("portfolio", str(tmp_path), str(results / "1.json"), "--format", "csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[:2] for r in rows[1:]] == [["'=HYPERLINK(x)", "'=HYPERLINK(x)"],
                                         ["forecast (forecast.json)", "."],
                                         ["forecast (1.json)", str(results.parent / "forecast")]]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "not an audit result"),
    ('{"schema_version": "2.0", "statements": []}', "is not 1.x"),
    ('{"schema_version": "1.2"}', "no statements list"),
    ('{"schema_version": "1.2", "statements": [{"id": "1.1.1", "status": "maybe"}]}',
     "statement 1 has no id or no valid status"),
    ('{"schema_version": "1.2", "statements": [{"id": "1.1.1", "status": "yes"}]}',
     "no repo object"),
])
def test_a_bad_result_is_one_line_naming_the_file(results: Path, tmp_path: Path, content: str,
                                                  message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, out, err = run("portfolio", str(results), str(bad))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"mlops-audit: {bad}: ") and message in err


@pytest.mark.parametrize("args", [[], ["/nonexistent/results"], ["EMPTY"]])
def test_missing_results_are_one_line(tmp_path: Path, args: list[str]) -> None:
    code, _, err = run("portfolio", *[str(tmp_path) if a == "EMPTY" else a for a in args])
    assert code == 2 and err.count("\n") == 1 and err.startswith("mlops-audit: ")
