"""The versioned JSON document (``--format json``), validated by schema/audit-result.schema.json."""

from __future__ import annotations

import json
from typing import Any

from mlops_auditor import __version__
from mlops_auditor.model import Answer, AuditResult, Evidence, Fact

SCHEMA_VERSION = "1.2"


def evidence_dict(e: Evidence) -> dict[str, Any]:
    return {"path": e.path, "line": e.line, "commit": e.commit, "detail": e.detail}


def answer_dict(a: Answer) -> dict[str, Any]:
    s = a.statement
    return {
        "id": s.id,
        "sheet": s.sheet,
        "section": s.section,
        "subsection": s.subsection,
        "text": s.text,
        "baseline": s.baseline,
        "decidable": s.decidable,
        "parent": s.parent,
        "parts": list(s.parts),
        "status": a.status,
        "source": a.source,
        "reason": a.reason,
        "evidence": [evidence_dict(e) for e in a.evidence],
        "facts": list(a.facts),
        "how_to_confirm": s.how_to_confirm,
        "remediation": s.remediation,
        "confirmation": confirmation_dict(a),
        "switched_off": a.switched_off,
    }


def confirmation_dict(a: Answer) -> dict[str, Any] | None:
    """A person's answer from the answers file, with the automated status and why it is stale."""
    c = a.confirmation
    if c is None:
        return None
    return {"answer": c.answer, "by": c.by, "date": c.date, "why": c.why, "links": list(c.links),
            "expires": c.expires, "evidence_digest": c.evidence_digest, "stale": a.stale,
            "automated": a.automated}


def fact_dict(f: Fact) -> dict[str, Any]:
    value = list(f.value) if isinstance(f.value, tuple) else f.value
    return {"value": value, "unknown": f.unknown,
            "evidence": [evidence_dict(e) for e in f.evidence]}


def to_document(result: AuditResult, source: dict[str, str]) -> dict[str, Any]:
    r = result.repo
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mlops-auditor", "version": __version__, "questionnaire": source},
        "repo": {
            "path": r.path, "is_git": r.is_git, "head": r.head, "branch": r.branch,
            "shallow": r.shallow, "rev": r.rev, "uncommitted": list(r.uncommitted),
            "untracked": r.untracked, "notes": list(r.notes),
        },
        "verdict": {"baseline_mature": result.baseline_mature, "reason": result.verdict_reason},
        "sections": [
            {"id": s.id, "title": s.title, "baseline": s.baseline, "counts": dict(s.counts),
             "score": s.score}
            for s in result.sections
        ],
        "statements": [answer_dict(a) for a in result.answers],
        "facts": {fid: fact_dict(f) for fid, f in sorted(result.facts.items())},
        "errors": [{"check": e.check, "message": e.message} for e in result.errors],
        "elapsed_seconds": round(result.elapsed_seconds, 3),
    }


def render(result: AuditResult, source: dict[str, str]) -> str:
    return json.dumps(to_document(result, source), indent=2, ensure_ascii=False) + "\n"
