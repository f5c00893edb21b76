"""The Markdown report (``--format markdown``) for pull-request comments and
``$GITHUB_STEP_SUMMARY``: the verdict and a summary table per section, then each statement with
its answer and, folded, its evidence, how to confirm it and how to reach yes. Repository text is
escaped so a hostile file name or commit message can neither break the table nor inject HTML."""

from __future__ import annotations

import html
import re

from mlops_auditor import __version__
from mlops_auditor.model import Answer, AuditResult, Evidence, SectionScore

ICON = {"yes": "✅", "no": "❌", "n/a": "⚪", "manual": "❓"}
STATUSES = ("yes", "no", "n/a", "manual")
# After html.escape (& < >): quotes and the characters that mean something to Markdown, written
# as HTML character references. These stay plain text both in Markdown and inside the HTML blocks
# (<details>, <summary>) where backslash escapes are not honoured; a GFM table splits cells only
# on a literal "|".
_MARKDOWN = {'"': "&quot;", "'": "&#39;", "|": "&#124;", "`": "&#96;", "*": "&#42;",
             "_": "&#95;", "[": "&#91;", "]": "&#93;", "\\": "&#92;", "~": "&#126;", "#": "&#35;",
             "!": "&#33;"}
_TABLE = str.maketrans(_MARKDOWN)
# Terminal escapes and bidi overrides: a report is also read with `cat` and in CI logs.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
EVIDENCE_LIMIT = 5  # per statement unless verbose: a pull-request comment holds 65,536 characters


def escape(text: str) -> str:
    """Repository-derived text made inert for Markdown and HTML, on one line."""
    one_line = _CONTROL.sub("?", " ".join(text.split()))
    return html.escape(one_line, quote=False).translate(_TABLE)


def render(result: AuditResult, source: dict[str, str], verbose: bool = False) -> str:
    r = result.repo
    title = "baseline mature" if result.baseline_mature else "not baseline mature"
    out = [f"## MLOps maturity audit: {title}", ""]
    where = (f"commit <code>{escape(r.head[:12])}</code>"
             f"{' on ' + escape(r.branch) if r.branch else ''}" if r.is_git and r.head
             else "a folder without git history")
    out.append(f"{escape(result.verdict_reason)} · {where}"
               f"{' · shallow clone' if r.shallow else ''} · mlops-audit {__version__} · "
               f"[{escape(source.get('title', 'MLOps Maturity Assessment'))}]"
               f"({source.get('url', 'https://github.com/marvelousmlops/mlops_maturity_assessment')})")
    out += ["", *_summary_table(result.sections)]
    if r.notes or result.errors:
        out.append("")
        out += [f"> note: {escape(n)}" for n in r.notes]
        out += [f"> check failed (its facts count as cannot observe): {escape(e.check)}: "
                f"{escape(e.message)}" for e in result.errors]
    limit = None if verbose else EVIDENCE_LIMIT
    for section in result.sections:
        out += ["", f"### {section.id}. {escape(section.title)}"
                    f"{' (baseline)' if section.baseline else ''}", ""]
        for a in result.answers:
            if a.statement.section == section.id:
                out += _statement(a, limit)
    return "\n".join(out) + "\n"


def _summary_table(sections: tuple[SectionScore, ...]) -> list[str]:
    """One row per section with its answer counts (top-level statements: 56 in all)."""
    rows = ["| section | ✅ yes | ❌ no | ⚪ n/a | ❓ manual | score |",
            "|:--|--:|--:|--:|--:|--:|"]
    for s in sections:
        score = "—" if s.score is None else f"{s.score:.0%}"
        counts = " | ".join(str(s.counts.get(k, 0)) for k in STATUSES)
        rows.append(f"| {s.id}. {escape(s.title)}{' (baseline)' if s.baseline else ''} | "
                    f"{counts} | {score} |")
    totals = " | ".join(f"**{sum(s.counts.get(k, 0) for s in sections)}**" for k in STATUSES)
    rows.append(f"| **all {sum(sum(s.counts.values()) for s in sections)} statements** | "
                f"{totals} | |")
    return rows


def _statement(a: Answer, limit: int | None) -> list[str]:
    """A folded block: the summary line shows id, answer and statement; inside are the reason,
    the evidence (path:line, commit) and, unless the answer is yes, what a person can do."""
    s = a.statement
    label = a.status if a.source == "auto" else f"{a.status} ({escape(a.source)})"
    if a.stale:
        label += ", stale"
    part = "↳ " if s.parent else ""
    out = [f"<details><summary>{part}{ICON[a.status]} <b>{escape(s.id)}</b> {label} — "
           f"{escape(s.text)}</summary>", "", f"{escape(a.reason)}", ""]
    out += _confirmation(a)
    shown = a.evidence if limit is None else a.evidence[:limit]
    out += [f"- {_evidence(e)}" for e in shown]
    if len(shown) < len(a.evidence):
        out.append(f"- (+{len(a.evidence) - len(shown)} more: `--format json` lists them all)")
    if a.status != "yes" and not s.parts:
        out += ["", f"**How to confirm:** {escape(s.how_to_confirm)}", ""]
        if a.status != "n/a":
            out += [f"**How to reach yes:** {escape(s.remediation)}", ""]
    elif shown:
        out.append("")
    out += ["</details>", ""]
    return out


def _confirmation(a: Answer) -> list[str]:
    """Who confirmed the answer, why and when; the automated answer beside it when the two
    differ (never silently replaced) and why the confirmation may be stale."""
    c = a.confirmation
    if c is None:
        return []
    out = [f"**Confirmed {c.answer}** by {escape(c.by)} on {escape(c.date)}: {escape(c.why)}"]
    if a.automated is not None and a.automated != a.status:
        out.append(f"**The evidence alone answers:** {a.automated}")
    out += [f"link: <code>{escape(link)}</code>" for link in c.links]
    if a.stale:
        out.append(f"**Stale:** {escape(a.stale)}")
    return [f"- {line}" for line in out] + [""]


def _evidence(e: Evidence) -> str:
    place = ""
    if e.path:
        place = f"<code>{escape(e.path)}{f':{e.line}' if e.line else ''}</code> "
    commit = f" (commit <code>{escape(e.commit[:12])}</code>)" if e.commit else ""
    return f"{place}{escape(e.detail)}{commit}"
