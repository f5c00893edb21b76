"""Generate docs/ from rules.yaml, the checks' fact meanings, the fixtures and the CLI's own help.

    python tools/gen_docs.py            # rewrite docs/statements/*.md and docs/cli.md
    python tools/gen_docs.py --out DIR  # write them under DIR instead (the drift test does this)

Every page is derived, never edited by hand: tests/test_docs_generated.py fails when docs/
differs from what this script writes, so a change to rules.yaml, a fact meaning, a fixture's
expected answers or a command's help shows up as a docs change in the same commit.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import yaml

from mlops_auditor.checks import BUILTIN
from mlops_auditor.cli import main as cli_main
from mlops_auditor.model import Statement
from mlops_auditor.rules import Rules, load_rules

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "repos"
WIDTH = 100
HELP_WIDTH = 90

_COMPARISONS = {"eq": "is", "ne": "is not", "gt": "is more than", "ge": "is at least",
                "lt": "is less than", "le": "is at most", "contains": "contains", "in": "is one of"}

_NEGATED = {"eq": "is not", "ne": "is", "gt": "is at most", "ge": "is less than",
            "lt": "is at least", "le": "is more than", "contains": "does not contain",
            "in": "is not one of"}


def generate() -> dict[str, str]:
    """Every generated file: path relative to docs/ -> content."""
    rules = load_rules()
    meanings = {fid: text for module in BUILTIN for fid, text in module.FACTS.items()}
    expected = fixture_answers()
    pages = {f"statements/{s.id}.md": statement_page(s, rules, meanings, expected)
             for s in rules.statements}
    pages["statements/README.md"] = index_page(rules)
    pages["cli.md"] = cli_page()
    return pages


def fixture_answers() -> dict[str, dict[str, tuple[str, str]]]:
    """Per fixture repository, its expected answers: statement id -> (answer, the comment that
    explains it in history.yaml). The fixtures are audited by tests/test_fixtures.py, so these
    examples stay true."""
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for spec in sorted(FIXTURES.glob("*/history.yaml")):
        text = spec.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        answers = data.get("expected") if isinstance(data, dict) else None
        if not isinstance(answers, dict):
            continue
        comments = dict(re.findall(r'^\s+"?([\d.]+)"?\s*:\s*"?[\w/]+"?\s*#\s*(.*?)\s*$', text,
                                   flags=re.M))
        found[spec.parent.name] = {str(sid): (str(answer), comments.get(str(sid), ""))
                                   for sid, answer in answers.items()}
    return found


def statement_page(s: Statement, rules: Rules, meanings: Mapping[str, str],
                   expected: Mapping[str, Mapping[str, tuple[str, str]]]) -> str:
    src = rules.source
    # The title is the id alone: a subsection title as a heading ("4.3 KPI & model performance
    # monitoring requirements") would read to a documentation check as the project's own KPIs.
    out = [f"# Statement {s.id}", "", _quote(s.text), "",
           _wrap(f"Statement {s.id} (sheet {s.sheet}) of the [{src.get('title', '')}]"
                 f"({src.get('url', '')}) by {src.get('authors', '')}, quoted verbatim under "
                 f"its {src.get('licence', '')} licence."), "",
           _wrap(f"Section {s.section}, {s.section_title}; subsection {s.subsection}"
                 f"{' (baseline: sections 1-4)' if s.baseline else ' (advanced)'}. "
                 f"Decided by evidence: **{s.decidable}** ({_DECIDABLE[s.decidable]})."), ""]
    if s.parent:
        out += [f"Part of [{s.parent}]({s.parent}.md), which is yes only when all its parts are.",
                ""]
    out += ["## What the auditor checks", "", _wrap(s.what_it_checks), "",
            "## Why it matters", "", _wrap(s.why_it_matters), "",
            "## How the answer is decided", "", *decision(s, meanings), "",
            "## Examples", "", *examples(s, expected), "",
            "## How to confirm by hand", "", _wrap(s.how_to_confirm), "",
            "## How to reach yes", "", _wrap(s.remediation), "",
            "---", "", "Generated from `rules.yaml` by `tools/gen_docs.py`; "
            f"`mlops-audit explain {s.id}` shows the same in the terminal.", ""]
    return "\n".join(out)


_DECIDABLE = {"auto": "the evidence can answer yes and no",
              "assisted": "the evidence can answer only one of yes and no; a person the other",
              "manual": "only a person can answer; the evidence listed is shown to them"}


def decision(s: Statement, meanings: Mapping[str, str]) -> list[str]:
    """The rule in words, in the order the engine applies it."""
    if s.parts:
        links = ", ".join(f"[{p}]({p}.md)" for p in s.parts)
        return [_wrap(f"Answered from its parts {links}: **yes** when every part is yes, **no** "
                      "when any part is no, **n/a** when no part applies, otherwise **manual**.")]
    out: list[str] = []
    steps = (("applies_when", "**n/a** unless this holds (the statement's own precondition):"),
             ("no_when", "**no** when this holds (counter-evidence outweighs support):"),
             ("yes_when", "**yes** when this holds:"))
    for key, title in steps:
        cond = getattr(s, key)
        if cond is not None:
            out += [f"- {title}", *describe(cond, meanings, "  ")]
    out.append("- **manual** otherwise, or when a fact the rule needs could not be observed "
               "(\"cannot observe\" never becomes no).")
    if s.related_facts:
        out += ["", "Evidence shown to the reviewer:", ""]
        out += [f"- `{fid}`: {meanings.get(fid, 'unknown fact')}" for fid in s.related_facts]
    return out


def describe(cond: Any, meanings: Mapping[str, str], indent: str) -> list[str]:
    """A condition tree as nested Markdown bullets, each fact with its meaning."""
    if "fact" in cond:
        fid = cond["fact"]
        ops = [k for k in cond if k != "fact"]
        test = f" {_COMPARISONS[ops[0]]} `{cond[ops[0]]}`" if ops else " is true"
        return [f"{indent}- `{fid}`{test}: {meanings.get(fid, 'unknown fact')}"]
    if "not" in cond:
        inner = cond["not"]
        if "fact" in inner and len(inner) <= 2:
            fid = inner["fact"]
            ops = [k for k in inner if k != "fact"]
            test = f" {_NEGATED[ops[0]]} `{inner[ops[0]]}`" if ops else " is false"
            return [f"{indent}- `{fid}`{test}: {meanings.get(fid, 'unknown fact')}"]
        return [f"{indent}- not:", *describe(inner, meanings, indent + "  ")]
    key = "all" if "all" in cond else "any"
    lines = [f"{indent}- {'all of' if key == 'all' else 'any of'}:"]
    for member in cond[key]:
        lines += describe(member, meanings, indent + "  ")
    return lines


def examples(s: Statement, expected: Mapping[str, Mapping[str, tuple[str, str]]]) -> list[str]:
    """A fixture repository that answers yes and one that answers no, when there is one."""
    sid = s.id
    out = ["From the fixture repositories in `fixtures/repos/` (each audited by the tests):", ""]
    for answer, label in (("yes", "Passing"), ("no", "Failing")):
        names = [name for name, answers in expected.items()
                 if answers.get(sid, ("", ""))[0] == answer]
        if not names:
            never = not s.parts and getattr(s, f"{answer}_when") is None
            out.append(f"- {label}: the evidence never answers {answer} here; a person does."
                       if never else f"- {label}: no fixture answers {answer}.")
            continue
        name = names[0]
        why = expected[name][sid][1]
        out.append(f"- {label}: `{name}` answers {answer}" + (f": {why}." if why else "."))
    return out


def index_page(rules: Rules) -> str:
    out = ["# The statements", "",
           _wrap(f"The {len([s for s in rules.statements if not s.parent])} statements of the "
                 f"[{rules.source.get('title', '')}]({rules.source.get('url', '')}) by "
                 f"{rules.source.get('authors', '')} ({rules.source.get('licence', '')} "
                 "licence), one page each; 2.2.7 is answered from its five parts."), ""]
    for sec in rules.sections:
        out += [f"## {sec.id}. {sec.title}{' (baseline)' if sec.baseline else ''}", ""]
        for s in rules.statements:
            if s.section == sec.id:
                indent = "  " if s.parent else ""
                short = textwrap.shorten(s.text, 90, placeholder="…")
                out.append(f"{indent}- [{s.id}]({s.id}.md) ({s.decidable}): {short}")
        out.append("")
    out += ["---", "", "Generated from `rules.yaml` by `tools/gen_docs.py`.", ""]
    return "\n".join(out)


def cli_page() -> str:
    """The reference of every command, from click's own help at a fixed width."""
    settings = {**cli_main.context_settings, "terminal_width": HELP_WIDTH,
                "max_content_width": HELP_WIDTH}
    root = click.Context(cli_main, info_name="mlops-audit", **settings)
    out = ["# Command-line reference", "",
           "Generated from the commands' own help (`mlops-audit COMMAND --help`) by "
           "`tools/gen_docs.py`.", "", "## mlops-audit", "", "```text",
           cli_main.get_help(root), "```", ""]
    for name in cli_main.list_commands(root):
        cmd = cli_main.get_command(root, name)
        if cmd is None or cmd.hidden:
            continue
        ctx = click.Context(cmd, info_name=name, parent=root, terminal_width=HELP_WIDTH,
                            max_content_width=HELP_WIDTH)
        out += [f"## mlops-audit {name}", "", "```text", cmd.get_help(ctx), "```", ""]
    return "\n".join(out)


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in textwrap.wrap(text, WIDTH - 2))


def _wrap(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), WIDTH, break_on_hyphens=False,
                         break_long_words=False)


def write(pages: Mapping[str, str], out: Path) -> None:
    """Write PAGES under OUT, removing statement pages that no longer have a statement."""
    statements = out / "statements"
    statements.mkdir(parents=True, exist_ok=True)
    for old in statements.glob("*.md"):
        if f"statements/{old.name}" not in pages:
            old.unlink()
    for rel, text in pages.items():
        (out / rel).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where to write")
    args = parser.parse_args(argv)
    write(generate(), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
