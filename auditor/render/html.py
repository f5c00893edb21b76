"""The HTML evidence report (``--format html``): one self-contained page for a reviewer, a manager
or a regulator. The verdict, a per-section summary drawn as inline SVG, every statement as a card
with its answer, source and evidence (permalinks at the audited commit when the repository's
hosting service is known), and a checklist of what still needs a person.

The page loads nothing: styles are inline, there is no external resource, and its content security
policy allows only its own small filtering script (by hash), so text from the audited repository,
escaped by Jinja2's autoescaping, cannot run even if an escape were missed. The template is read
from the installed package, never from the audited repository.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup

from mlops_auditor import __version__
from mlops_auditor.answers import is_open
from mlops_auditor.model import Answer, AuditResult, Evidence, SectionScore

STATUSES = ("yes", "no", "n/a", "manual")
ICON = {"yes": "✔", "no": "✘", "n/a": "○", "manual": "?"}
HOSTS = ("github", "gitlab", "bitbucket", "azure")
BAR_WIDTH = 300  # the SVG bar's width in user units; it scales with the page
# Terminal escapes and bidi overrides: they would reorder what a reader sees around them.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
# The only script on the page: it shows the filter controls (hidden without JavaScript) and hides
# the cards that do not match the chosen section and answer.
FILTER_SCRIPT = """
(function () {
  var form = document.getElementById("filters");
  form.hidden = false;
  function apply() {
    var section = form.elements.section.value, answer = form.elements.answer.value;
    document.querySelectorAll("article.card").forEach(function (card) {
      var show = (!section || card.dataset.section === section) &&
                 (!answer || card.dataset.status === answer);
      card.hidden = !show;
    });
    document.querySelectorAll("section.statements").forEach(function (sec) {
      sec.hidden = !!section && sec.dataset.section !== section;
    });
  }
  form.addEventListener("change", apply);
})();
"""


@dataclass(frozen=True)
class Remote:
    """Where the repository is hosted: the kind of service and the web address of the
    repository, to build permalinks to files, lines and commits."""

    host: str
    url: str

    def file(self, commit: str, path: str, line: int | None) -> str:
        """A permalink to PATH (at LINE) at COMMIT, in the service's own address scheme."""
        p = quote(path)
        if self.host == "gitlab":
            return f"{self.url}/-/blob/{commit}/{p}" + (f"#L{line}" if line else "")
        if self.host == "bitbucket":
            return f"{self.url}/src/{commit}/{p}" + (f"#lines-{line}" if line else "")
        if self.host == "azure":
            at = (f"&line={line}&lineEnd={line}&lineStartColumn=1&lineEndColumn=1"
                  if line else "")
            return f"{self.url}?path=/{p}&version=GC{commit}{at}"
        return f"{self.url}/blob/{commit}/{p}" + (f"#L{line}" if line else "")

    def commit(self, commit: str) -> str:
        """A link to COMMIT's page."""
        if self.host == "gitlab":
            return f"{self.url}/-/commit/{quote(commit)}"
        if self.host == "bitbucket":
            return f"{self.url}/commits/{quote(commit)}"
        return f"{self.url}/commit/{quote(commit)}"


def remote_of(url: str | None, host: str | None = None) -> Remote | None:
    """The hosting service of URL, an https web address of the repository (``.git`` and a
    trailing slash dropped). HOST names the service when the caller knows it (e.g. GitHub
    Enterprise from GitHub Actions); otherwise it is read from the host name. None for anything
    else: links are only built to a known service over http(s)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    base = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/").removesuffix(".git")
    name = parts.hostname or ""
    kind = host
    if kind is None:
        if "azure.com" in name or name.endswith("visualstudio.com"):
            kind = "azure"
        else:
            kind = next((h for h in ("github", "gitlab", "bitbucket") if h in name), None)
    if kind not in HOSTS:
        return None
    return Remote(kind, base)


def clean(text: object) -> str:
    """Repository-derived text on one line without control or bidi characters (Jinja2 escapes
    the markup when it is written into the page)."""
    return _CONTROL.sub("?", " ".join(str(text).split()))


def render(result: AuditResult, source: dict[str, str], remote_url: str | None = None,
           host: str | None = None, now: datetime | None = None) -> str:
    """The report. REMOTE_URL (and HOST, the service, when known) turns evidence into links at
    the audited commit; without it, evidence is shown as relative paths."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["clean"] = clean
    template_text = (importlib.resources.files("mlops_auditor.templates")
                     .joinpath("report.html.j2").read_text(encoding="utf-8"))
    template = env.from_string(template_text)
    remote = remote_of(remote_url, host)
    head = result.repo.head if result.repo.is_git else None
    digest = base64.b64encode(hashlib.sha256(FILTER_SCRIPT.encode()).digest()).decode()
    return template.render(
        result=result,
        repo=result.repo,
        source=source,
        version=__version__,
        date=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        remote=remote,
        summary=[_bar(s) for s in result.sections],
        totals={k: sum(s.counts.get(k, 0) for s in result.sections) for k in STATUSES},
        cards={s.id: [_card(a, remote, head) for a in result.answers
                      if a.statement.section == s.id] for s in result.sections},
        checklist=[a for a in result.answers if is_open(a)],
        statuses=STATUSES,
        icon=ICON,
        script=Markup(FILTER_SCRIPT),  # our own constant, never repository text
        script_hash=f"sha256-{digest}",
    )


def _bar(s: SectionScore) -> dict[str, Any]:
    """One section's stacked bar: a segment per answer with its count, as SVG geometry; the
    counts are also written out as text beside it, so nothing is told by colour alone."""
    total = sum(s.counts.get(k, 0) for k in STATUSES)
    segments, x = [], 0.0
    for k in STATUSES:
        n = s.counts.get(k, 0)
        width = BAR_WIDTH * n / total if total else 0.0
        if n:
            segments.append({"status": k, "count": n, "x": round(x, 2), "width": round(width, 2)})
        x += width
    label = ", ".join(f"{k} {s.counts.get(k, 0)}" for k in STATUSES)
    return {"section": s, "total": total, "segments": segments, "label": label,
            "score": "—" if s.score is None else f"{s.score:.0%}", "width": BAR_WIDTH}


def _card(a: Answer, remote: Remote | None, head: str | None) -> dict[str, Any]:
    """A statement's card: where it came from in words, and its evidence with links."""
    if a.source == "auto":
        origin = "automated"
    elif a.source == "configured":
        origin = "configured"
    else:
        origin = "confirmed, stale" if a.stale else "confirmed"
    return {"answer": a, "origin": origin,
            "evidence": [_evidence(e, remote, head) for e in a.evidence]}


def _evidence(e: Evidence, remote: Remote | None, head: str | None) -> dict[str, Any]:
    """An evidence entry: PATH:LINE linked to the file at the audited commit, and its commit
    linked to the commit's page, when the hosting service is known."""
    place = f"{e.path}:{e.line}" if e.path and e.line else e.path
    return {
        "detail": e.detail,
        "place": place,
        "place_url": remote.file(head, e.path, e.line) if remote and head and e.path else None,
        "commit": e.commit[:12] if e.commit else None,
        "commit_url": remote.commit(e.commit) if remote and e.commit else None,
    }
