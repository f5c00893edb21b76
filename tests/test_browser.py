"""The HTML report in a real browser: headless Chromium driven by Playwright.

Needs the `browser` extra (``pip install '.[browser]'``) and a Chromium on the machine (Debian's
``chromium``; ``.ci/run`` installs it). Without them these tests are skipped, saying why.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_auditor.cli import main
from tests.gitrepo import RepoBuilder
from tests.test_cli import STATEMENT_IDS, TRAIN, WORKFLOW

playwright = pytest.importorskip("playwright.sync_api", reason="install the 'browser' extra")
CHROMIUM = os.environ.get("MLOPS_AUDIT_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")

# The flags the workplace's own probe uses: no sandbox as root, no background traffic.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    b = RepoBuilder(root / "proj")
    b.commit("Initial import", {"README.md": "# Churn <script>alert(1)</script>\n",
                                "src/train.py": TRAIN})
    b.merge_pr(1, "ci", {".github/workflows/ci.yml": WORKFLOW}, title="Add <b>CI</b>")
    b.close()
    target = root / "report.html"
    hosted = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/churn"}
    result = CliRunner().invoke(main, ["audit", str(b.path), "--format", "html", "--output",
                                       str(target)], env=hosted)
    assert result.exit_code == 0, result.stderr
    return target


def test_report_loads_without_network_shows_every_statement_and_filters(
        report: Path, tmp_path: Path) -> None:
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")

            assert requests == [report.as_uri()]  # the page itself, nothing else
            assert not dialogs  # the repository's <script> did not run
            for sid in STATEMENT_IDS:
                assert page.locator(f"article[data-id='{sid}']").is_visible(), sid
            # Evidence links to the hosting service at the audited commit (not followed).
            links = page.locator("article a[href^='https://github.com/acme/churn/blob/']")
            assert links.count() > 0
            assert "/.github/workflows/ci.yml#L" in "".join(
                links.evaluate_all("els => els.map(e => e.getAttribute('href'))"))

            # Filters: only section 3, then only its "no" answers.
            page.select_option("#filters select[name=section]", "3")
            visible = page.locator("article.card:visible")
            assert visible.count() > 0
            assert set(visible.evaluate_all("els => els.map(e => e.dataset.section)")) == {"3"}
            page.select_option("#filters select[name=answer]", "no")
            statuses = page.locator("article.card:visible").evaluate_all(
                "els => els.map(e => e.dataset.status)")
            assert statuses and set(statuses) == {"no"}

            shot = tmp_path / "report.png"
            page.select_option("#filters select[name=section]", "")
            page.select_option("#filters select[name=answer]", "")
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            print(f"screenshot: {shot}")  # shown with -s; kept in pytest's temporary folder
        finally:
            browser.close()
