"""The SARIF 2.1.0 log (``--format sarif``) for code-scanning dashboards.

One rule per statement, the five parts of 2.2.7 included (61 rules): the parts carry the
evidence, and 2.2.7 itself is answered from them. Results are reported for the statements that
are answered on their own evidence (every statement but 2.2.7, whose parts report instead):
"no" as an error in the baseline sections 1-4 and a warning in the others, "manual" as a note;
yes and n/a give no result. A result is located at its evidence files and lines, or, when the
evidence names no file (a search that found nothing), at the repository's root README, the file
that should hold what is missing or point to it.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from mlops_auditor import __version__
from mlops_auditor.model import Answer, AuditResult, Evidence, Statement

SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
          "sarif-schema-2.1.0.json")
LOCATION_LIMIT = 10  # dashboards show the first location; the JSON format lists every one
_ROOT_README = re.compile(r"readme(\.[a-z]+)?", re.IGNORECASE)


def render(result: AuditResult, source: dict[str, str], repository_uri: str | None = None) -> str:
    """REPOSITORY_URI, when known (e.g. from the CI environment), names the repository in the
    version-control provenance together with the audited commit."""
    return json.dumps(to_log(result, source, repository_uri), indent=2, ensure_ascii=False) + "\n"


def to_log(result: AuditResult, source: dict[str, str],
           repository_uri: str | None = None) -> dict[str, Any]:
    statements = [a.statement for a in result.answers]
    index = {s.id: i for i, s in enumerate(statements)}
    readme = _root_readme(result)
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "mlops-auditor",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": source.get(
                "url", "https://github.com/marvelousmlops/mlops_maturity_assessment"),
            "rules": [_rule(s) for s in statements],
        }},
        "results": [_result(a, index[a.statement.id], readme) for a in result.answers
                    if a.status in ("no", "manual") and not a.statement.parts],
        "columnKind": "unicodeCodePoints",
        "properties": {
            "baselineMature": result.baseline_mature,
            "verdict": result.verdict_reason,
            "revisionId": result.repo.head,
            "sections": [{"id": s.id, "title": s.title, "baseline": s.baseline,
                          "counts": dict(s.counts)} for s in result.sections],
        },
    }
    if repository_uri and result.repo.head:
        provenance: dict[str, Any] = {"repositoryUri": repository_uri,
                                      "revisionId": result.repo.head}
        if result.repo.branch:
            provenance["branch"] = result.repo.branch
        run["versionControlProvenance"] = [provenance]
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _rule(s: Statement) -> dict[str, Any]:
    """A statement as a reporting descriptor: its text, what is checked and how to reach yes."""
    help_text = f"How to reach yes: {s.remediation}\n\nHow to confirm: {s.how_to_confirm}"
    tags = ["mlops", f"section-{s.section}", "baseline" if s.baseline else "advanced"]
    return {
        "id": s.id,
        "name": f"MLOpsStatement{s.id.replace('.', '_')}",
        "shortDescription": {"text": s.text},
        "fullDescription": {"text": s.what_it_checks},
        "help": {"text": help_text,
                 "markdown": f"**How to reach yes:** {s.remediation}\n\n"
                             f"**How to confirm:** {s.how_to_confirm}"},
        "defaultConfiguration": {"level": "error" if s.baseline else "warning"},
        "properties": {"section": s.section, "subsection": s.subsection,
                       "baseline": s.baseline, "decidable": s.decidable,
                       "parent": s.parent, "tags": tags},
    }


def _result(a: Answer, rule_index: int, readme: str) -> dict[str, Any]:
    s = a.statement
    level = "note" if a.status == "manual" else ("error" if s.baseline else "warning")
    located = _locations(a.evidence)
    if not located:
        located = [{"physicalLocation": {"artifactLocation": {"uri": quote(readme),
                                                              "uriBaseId": "%SRCROOT%"}},
                    "message": {"text": a.evidence[0].detail if a.evidence
                                else "the evidence names no file"}}]
    for loc in located:
        loc["logicalLocations"] = [{"name": s.id, "fullyQualifiedName":
                                    f"section {s.section}/{s.id}"}]
    return {
        "ruleId": s.id,
        "ruleIndex": rule_index,
        "level": level,
        "message": {"text": f"{s.id} is {a.status}: {a.reason}"},
        "locations": located,
        "properties": _properties(a),
    }


def _properties(a: Answer) -> dict[str, Any]:
    """The answer, its evidence and, when a person confirmed it, their confirmation with the
    automated answer beside it and why it may be stale."""
    props: dict[str, Any] = {"status": a.status, "source": a.source,
                             "evidence": [_evidence(e) for e in a.evidence]}
    c = a.confirmation
    if c is not None:
        props["confirmation"] = {"answer": c.answer, "by": c.by, "date": c.date, "why": c.why,
                                 "links": list(c.links), "expires": c.expires}
        props["automated"] = a.automated
        props["stale"] = a.stale
    return props


def _locations(evidence: tuple[Evidence, ...]) -> list[dict[str, Any]]:
    """One location per distinct evidence file and line, relative to the repository root."""
    seen: set[tuple[str, int | None]] = set()
    out: list[dict[str, Any]] = []
    for e in evidence:
        if not e.path or (e.path, e.line) in seen:
            continue
        seen.add((e.path, e.line))
        physical: dict[str, Any] = {"artifactLocation": {"uri": quote(e.path),
                                                         "uriBaseId": "%SRCROOT%"}}
        if e.line is not None and e.line >= 1:
            physical["region"] = {"startLine": e.line}
        out.append({"physicalLocation": physical, "message": {"text": e.detail}})
        if len(out) == LOCATION_LIMIT:
            break
    return out


def _evidence(e: Evidence) -> dict[str, Any]:
    return {"path": e.path, "line": e.line, "commit": e.commit, "detail": e.detail}


def _root_readme(result: AuditResult) -> str:
    """The repository's root README as some evidence names it, else README.md."""
    paths = [e.path for f in result.facts.values() for e in f.evidence if e.path]
    paths += [e.path for a in result.answers for e in a.evidence if e.path]
    for path in sorted(set(paths)):
        if "/" not in path and _ROOT_README.fullmatch(path):
            return path
    return "README.md"
