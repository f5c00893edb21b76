"""The terminal report (``--format text``): statements grouped by section, evidence beneath each,
and a summary line. Repository text is stripped of control and bidi characters so a hostile file
name or commit message cannot drive the terminal."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

from mlops_auditor import __version__
from mlops_auditor.model import Answer, AuditResult, Evidence

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
LABEL = {"yes": "yes", "no": "NO", "n/a": "n/a", "manual": "manual"}
COLOR = {"yes": "green", "no": "red", "n/a": "blue", "manual": "yellow"}
WIDTH = 100


def safe(text: str) -> str:
    """Repository-derived text made harmless for a terminal: one line, no control characters."""
    return _UNSAFE.sub("?", text.replace("\n", " ").replace("\t", " "))


def where(e: Evidence) -> str:
    if e.path and e.line:
        return f"{safe(e.path)}:{e.line}"
    if e.path:
        return safe(e.path)
    if e.commit:
        return f"commit {e.commit[:10]}"
    return ""


def evidence_line(e: Evidence) -> str:
    place = where(e)
    detail = safe(e.detail)
    return f"{place}  {detail}" if place else detail


def render(result: AuditResult, source: dict[str, str], verbose: bool = False,
           color: bool = False) -> str:
    def paint(text: str, status: str) -> str:
        if not color:
            return text
        import click

        return click.style(text, fg=COLOR[status], bold=status == "no")

    r = result.repo
    out = [f"mlops-audit {__version__} · {source.get('title', 'MLOps Maturity Assessment')}"
           f" ({source.get('authors', 'Marvelous MLOps')}, {source.get('licence', 'MIT')} licence)"]
    if r.is_git and r.head:
        out.append(f"repository {safe(r.path)} · branch {safe(r.branch or '(detached)')}"
                   f" · commit {r.head[:12]}{' · shallow clone' if r.shallow else ''}")
    else:
        out.append(f"folder {safe(r.path)}")
    out += [f"note: {safe(n)}" for n in r.notes]
    limit = None if verbose else 3
    for section in result.sections:
        counts = "  ".join(f"{k} {v}" for k, v in section.counts.items())
        out.append("")
        out.append(f"{section.id}. {section.title}{' (baseline)' if section.baseline else ''}"
                   f"  —  {counts}")
        for a in result.answers:
            if a.statement.section == section.id:
                out += _statement(a, limit, paint)
    if result.errors:
        out.append("")
        out.append("Checks that failed (their facts count as 'cannot observe'):")
        out += [f"  {safe(e.check)}: {safe(e.message)}" for e in result.errors]
    total = {k: sum(s.counts.get(k, 0) for s in result.sections)
             for k in ("yes", "no", "n/a", "manual")}
    out.append("")
    out.append(f"Summary: {sum(total.values())} statements · " +
               " · ".join(f"{k} {v}" for k, v in total.items()) +
               f" · {result.elapsed_seconds:.1f} s")
    status = "baseline mature" if result.baseline_mature else "not baseline mature"
    out.append(f"Verdict: {status} — {result.verdict_reason}")
    return "\n".join(out) + "\n"


def _statement(a: Answer, limit: int | None, paint: Callable[[str, str], str]) -> list[str]:
    s = a.statement
    indent = "    " if s.parent else "  "
    label = f"{LABEL[a.status]:<6}"
    head = f"{indent}{s.id:<8} {paint(label, a.status)} "
    text = textwrap.shorten(s.text, WIDTH - len(indent) - 16, placeholder="…")
    lines = [head + text]
    pad = " " * (len(indent) + 16)
    if a.switched_off is not None:  # the reason says it was the configuration, and why
        return [*lines, f"{pad}{safe(a.reason)}"]
    if a.confirmation is not None:
        lines += _confirmation(a, pad)
    elif a.status == "manual" or not a.evidence or s.parts:
        lines.append(f"{pad}{safe(a.reason)}")
    if s.parts:
        return lines
    shown = a.evidence if limit is None else a.evidence[:limit]
    lines += [f"{pad}- {evidence_line(e)}"[:400] for e in shown]
    if limit is not None and len(a.evidence) > limit:
        lines.append(f"{pad}  (+{len(a.evidence) - limit} more; --verbose shows all)")
    return lines


def _confirmation(a: Answer, pad: str) -> list[str]:
    """A person's answer, the automated one beside it when they differ, and why it is stale:
    both are shown, neither silently replaces the other."""
    c = a.confirmation
    assert c is not None
    head = f"{pad}confirmed {c.answer} (by {safe(c.by)}, {c.date})"
    if a.automated is not None and a.automated != a.status:
        head += f"; automated: {a.automated}"
    lines = [head, f"{pad}why: {safe(c.why)}"]
    lines += [f"{pad}link: {safe(link)}" for link in c.links]
    if a.stale:
        lines.append(f"{pad}stale: {safe(a.stale)}")
    return lines
