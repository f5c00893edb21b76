"""The HTML evidence report (``--format html``), parsed with the standard library's HTML parser:
every statement is a card, nothing is loaded from elsewhere, every piece of repository text is
escaped, and evidence links are permalinks at the audited commit when the hosting service is
known."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlops_auditor.cli import main
from mlops_auditor.engine import audit as run_audit
from mlops_auditor.model import AuditResult, Evidence
from mlops_auditor.render import html
from mlops_auditor.rules import load_rules
from tests.gitrepo import RepoBuilder
from tests.test_cli import STATEMENT_IDS, TRAIN, WORKFLOW

PARTS = [sid for sid in STATEMENT_IDS if sid.count(".") == 3]
MARKUP = "<script>alert(1)</script>"
NAME_MARKUP = "<svg onload=alert(3)>"  # no "/": a file name cannot hold one
HOSTILE = f".github/workflows/ci{NAME_MARKUP}.yml"  # a workflow file whose name is markup
README = (f"# Churn model {MARKUP}\n\n## Business goals {MARKUP}\n\n"
          "Reduce churn by 5% <img src=x onerror=alert(2)>, measured as the KPI.\n")


@dataclass
class Page(HTMLParser):
    """What the tests look at in a page: its tags with attributes, the text of the elements
    by id, and the text of each card."""

    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    cards: dict[str, str] = field(default_factory=dict)
    scripts: list[str] = field(default_factory=list)
    _card: str | None = None
    _in_script: bool = False

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "article" and a.get("data-id"):
            self._card = a["data-id"]
            self.cards[self._card] = ""
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._card = None
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._card:
            self.cards[self._card] += data
        if self._in_script:
            self.scripts.append(data)

    def urls(self) -> list[str]:
        return [v for _, a in self.tags for k, v in a.items()
                if k in ("href", "src", "action") and v]


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ML project whose README, workflow file name and commit messages carry markup."""
    b = RepoBuilder(tmp_path_factory.mktemp("html") / "proj")
    b.commit(f"Initial import {MARKUP}", {"README.md": README, "src/train.py": TRAIN,
                                         "requirements.txt": "pandas==2.2.2\n"})
    b.merge_pr(1, "ci", {HOSTILE: WORKFLOW}, title=f"Add CI {MARKUP}")
    b.merge_pr(2, "tests", {"tests/test_train.py": "def test_train():\n    assert True\n"},
               title="Add tests <b>bold</b>")
    b.close()
    return b.path


def audit(repo: Path, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, ["audit", str(repo), "--format", "html"], env=env)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def head_of(repo: Path) -> str:
    head = run_audit(repo).repo.head
    assert head
    return head


def test_every_statement_is_a_card_with_answer_and_the_verdict(repo: Path) -> None:
    text = audit(repo)
    page = parse(text)
    assert list(page.cards) == STATEMENT_IDS and len(STATEMENT_IDS) == 56 + len(PARTS)
    assert len(PARTS) == 5
    for sid in PARTS:
        assert "Part of 2.2.7" in page.cards[sid]
    statuses = {a["data-id"]: a["data-status"] for t, a in page.tags if t == "article"}
    for sid, card in page.cards.items():
        assert statuses[sid] in ("yes", "no", "n/a", "manual")
        assert f" {statuses[sid]} " in card and sid in card
        assert any(o in card for o in ("(automated)", "(confirmed", "(configured)"))
    # not baseline mature, and why, at the top
    assert "✘ Not baseline mature</strong>: " in text
    reason = run_audit(repo).verdict_reason
    assert reason and html.clean(reason) in text.replace("&#39;", "'")
    # a non-yes answer says how to confirm and how to reach yes
    no = next(sid for sid in STATEMENT_IDS if statuses[sid] == "no")
    assert "How to confirm:" in page.cards[no] and "How to reach yes:" in page.cards[no]
    # semantic page: language, landmarks, headings in order, a summary bar per section
    names = [t for t, _ in page.tags]
    assert ("html", {"lang": "en"}) in page.tags
    assert {"header", "main", "section", "article", "footer"} <= set(names)
    levels = [int(t[1]) for t in names if re.fullmatch(r"h[1-6]", t)]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in pairwise(levels))
    bars = [a for t, a in page.tags if t == "svg"]
    assert len(bars) == 7 and all(a.get("role") == "img" and a.get("aria-label") for a in bars)
    assert "@media print" in text and "@media (max-width" in text


def test_self_contained_nothing_external_and_only_our_script(repo: Path) -> None:
    text = audit(repo)
    page = parse(text)
    scripts = [a for t, a in page.tags if t == "script"]
    assert scripts == [{}]  # one inline script, no src
    assert "".join(page.scripts) == html.FILTER_SCRIPT
    assert not [a for t, a in page.tags if t == "link"]
    assert not [a for t, a in page.tags if t in ("img", "iframe", "object", "embed")]
    # without a remote the only external address is the questionnaire's
    external = {u for u in page.urls() if not u.startswith("#")}
    assert external == {load_rules().source["url"]}
    assert "@import" not in text and "url(" not in text
    policy = next(a["content"] for t, a in page.tags
                  if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert policy and "default-src 'none'" in policy and "script-src 'sha256-" in policy
    # without a remote, evidence is a relative path
    assert "<code>requirements.txt" in text or "<code>README.md" in text


def test_repository_text_is_escaped(repo: Path) -> None:
    text = audit(repo)
    page = parse(text)
    assert len([t for t, _ in page.tags if t == "script"]) == 1
    assert not [t for t, _ in page.tags if t in ("img", "b")]
    assert MARKUP not in text and "<img" not in text
    # the workflow's hostile name is cited as evidence, escaped
    assert NAME_MARKUP not in text and "<svg onload" not in text
    assert "ci&lt;svg onload=alert(3)&gt;.yml" in text
    # and so is a heading of its README, quoted as evidence
    assert "Business goals &lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_escapes_file_names_commit_messages_and_excerpts_in_every_field(repo: Path) -> None:
    """Markup fed through every field of the report that carries repository text."""
    result = run_audit(repo, rules=load_rules())
    hostile = Evidence(detail=f"excerpt {MARKUP} \u202eevil", path=f"docs/{MARKUP}.md", line=3,
                       commit="abc123<b>")
    first = replace(result.answers[0], evidence=(hostile,), reason=f"message {MARKUP}")
    repo_info = replace(result.repo, branch=f"feature/{MARKUP}", notes=(f"note {MARKUP}",))
    changed = replace(result, answers=(first, *result.answers[1:]), repo=repo_info,
                      verdict_reason=f"why {MARKUP}")
    for remote in (None, "https://github.com/o/r"):
        text = html.render(changed, load_rules().source, remote_url=remote)
        page = parse(text)
        assert len([t for t, _ in page.tags if t == "script"]) == 1, remote
        assert MARKUP not in text and "<b>" not in text and "\u202e" not in text
        assert text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "docs/%3Cscript%3Ealert%281%29%3C/script%3E.md#L3" in text


def test_github_and_gitlab_permalinks_at_the_audited_commit(repo: Path) -> None:
    head = head_of(repo)
    page = parse(audit(repo, env={"GITHUB_SERVER_URL": "https://github.com",
                                  "GITHUB_REPOSITORY": "o/r"}))
    links = page.urls()
    assert f"https://github.com/o/r/blob/{head}/requirements.txt#L1" in links
    assert f"https://github.com/o/r/commit/{head}" in links
    evidence = [u for u in links if "/blob/" in u]
    assert evidence and all(u.startswith(f"https://github.com/o/r/blob/{head}/")
                            for u in evidence)
    external = {u for u in links if not u.startswith("#")}
    assert {u for u in external if not u.startswith("https://github.com/o/r/")} == {
        "https://github.com/o/r", load_rules().source["url"]}

    page = parse(audit(repo, env={"CI_PROJECT_URL": "https://gitlab.example.com/g/r"}))
    links = page.urls()
    assert f"https://gitlab.example.com/g/r/-/blob/{head}/requirements.txt#L1" in links
    assert not [u for u in links if "/blob/" in u and "/-/blob/" not in u]


def test_other_hosts_and_unusable_remotes() -> None:
    bb = html.remote_of("https://bitbucket.org/o/r.git")
    assert bb is not None and bb.file("c0ffee", "a b.py", 7) == (
        "https://bitbucket.org/o/r/src/c0ffee/a%20b.py#lines-7")
    az = html.remote_of("https://dev.azure.com/org/proj/_git/r")
    assert az is not None and az.file("c0ffee", "src/x.py", 2) == (
        "https://dev.azure.com/org/proj/_git/r?path=/src/x.py&version=GCc0ffee"
        "&line=2&lineEnd=2&lineStartColumn=1&lineEndColumn=1")
    gh = html.remote_of("https://github.com/o/r/")
    assert gh is not None and gh.file("c0ffee", "README.md", None) == (
        "https://github.com/o/r/blob/c0ffee/README.md")
    for bad in ("javascript:alert(1)", "git@github.com:o/r.git", "https://example.com/o/r",
                "https://github.com/o/r?x=1", None, ""):
        assert html.remote_of(bad) is None, bad


def test_checklist_lists_the_statements_that_need_a_person(repo: Path) -> None:
    result: AuditResult = run_audit(repo)
    manual = [a.statement.id for a in result.answers
              if a.status == "manual" and not a.statement.parts]
    assert manual
    text = audit(repo)
    checklist = text.split('id="checklist"', 1)[1].split("</section>", 1)[0]
    listed = re.findall(r'<li><a href="#s-([0-9.]+)">', checklist)
    assert listed == manual
    assert f"{len(manual)} statement(s) wait for a person" in checklist
