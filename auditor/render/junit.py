"""The JUnit XML report (``--format junit``) so that CI dashboards list the statements as tests:
one test suite per section, one test case per top-level statement (56). "no" is a failure with
its evidence, "manual" and "n/a" are skipped with their reason, "yes" passes. Statement 2.2.7
carries its five parts as properties of its test case."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from mlops_auditor import __version__
from mlops_auditor.model import Answer, AuditResult, Evidence

# Characters XML 1.0 cannot hold at all, not even escaped (ElementTree would write them as-is).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def clean(text: str) -> str:
    """Repository-derived text that XML can hold; ElementTree escapes the rest."""
    return _NOT_XML.sub("?", text)


def render(result: AuditResult, source: dict[str, str]) -> str:
    parts = {a.statement.id: a for a in result.answers if a.statement.parent}
    root = ET.Element("testsuites", name="mlops-audit")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for section in result.sections:
        answers = [a for a in result.answers
                   if a.statement.section == section.id and a.statement.parent is None]
        suite = ET.SubElement(root, "testsuite", name=f"mlops_audit.section_{section.id}")
        counts = {"tests": len(answers), "failures": sum(a.status == "no" for a in answers),
                  "skipped": sum(a.status in ("manual", "n/a") for a in answers)}
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("errors", "0")
        suite.set("time", "0")
        props = ET.SubElement(suite, "properties")
        for name, text in (("section", f"{section.id}. {section.title}"),
                           ("baseline", str(section.baseline).lower()),
                           ("questionnaire", source.get("title", "")),
                           ("tool", f"mlops-auditor {__version__}")):
            ET.SubElement(props, "property", name=name, value=clean(text))
        for a in answers:
            _testcase(suite, a, [parts[p] for p in a.statement.parts if p in parts])
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    root.set("time", f"{result.elapsed_seconds:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _testcase(suite: ET.Element, a: Answer, parts: list[Answer]) -> None:
    s = a.statement
    case = ET.SubElement(suite, "testcase", name=clean(f"{s.id} {s.text}"),
                         classname=f"mlops_audit.section_{s.section}", time="0")
    if parts:
        props = ET.SubElement(case, "properties")
        for p in parts:
            ET.SubElement(props, "property", name=p.statement.id,
                          value=clean(f"{p.status}: {p.reason}"))
    body = "\n".join(_confirmation(a) + [_evidence(e) for e in a.evidence]
                     + [f"{p.statement.id} {p.status}: {p.reason}" for p in parts])
    if a.status == "no":
        failure = ET.SubElement(case, "failure", message=clean(a.reason), type="no")
        failure.text = clean(f"{body}\n\nHow to reach yes: {s.remediation}")
    elif a.status == "manual":
        skipped = ET.SubElement(case, "skipped", message=clean(f"manual: {a.reason}"))
        skipped.text = clean(f"{body}\n\nHow to confirm: {s.how_to_confirm}")
    elif a.status == "n/a":
        skipped = ET.SubElement(case, "skipped", message=clean(f"n/a: {a.reason}"))
        skipped.text = clean(body)
    elif body:
        ET.SubElement(case, "system-out").text = clean(body)


def _confirmation(a: Answer) -> list[str]:
    """Who confirmed the answer and why, the automated answer when it differs, and staleness."""
    c = a.confirmation
    if c is None:
        return []
    out = [f"confirmed {c.answer} by {c.by} on {c.date}: {c.why}"]
    if a.automated is not None and a.automated != a.status:
        out.append(f"the evidence alone answers: {a.automated}")
    out += [f"link: {link}" for link in c.links]
    if a.stale:
        out.append(f"stale: {a.stale}")
    return out


def _evidence(e: Evidence) -> str:
    place = f"{e.path}:{e.line}" if e.path and e.line else (e.path or "")
    commit = f" (commit {e.commit[:12]})" if e.commit else ""
    return f"{place}  {e.detail}{commit}" if place else f"{e.detail}{commit}"
