"""The ``mlops-audit`` command line."""

from __future__ import annotations

import contextlib
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlops_auditor import __version__
from mlops_auditor.errors import InputError

if TYPE_CHECKING:
    from mlops_auditor.model import Answer, AuditResult

    Recorder = Callable[[Answer, str, str, str, tuple[str, ...], str | None], None]

FORMATS = ("text", "json", "markdown", "html", "sarif", "junit")


class _Group(click.Group):
    """Turns user-facing errors into one line on stderr and exit 2, and anything unexpected into
    one line and exit 3: never a traceback (``MLOPS_AUDIT_DEBUG=1`` shows it)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"mlops-audit: {exc}", err=True)
            ctx.exit(2)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("mlops-audit: interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            if os.environ.get("MLOPS_AUDIT_DEBUG"):
                raise
            click.echo(f"mlops-audit: internal error: {type(exc).__name__}: {exc} "
                       "(set MLOPS_AUDIT_DEBUG=1 for the traceback, and please report it)",
                       err=True)
            ctx.exit(3)
        return None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlops-audit")
def main() -> None:
    """Audit a machine-learning project's git repository against the MLOps Maturity Assessment
    (56 statements, Marvelous MLOps, MIT licence). Every answer comes with the files, lines and
    commits behind it; what the repository cannot show is left for a person to confirm."""


@main.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--rev", metavar="REV", help="Audit this commit, branch or tag instead of HEAD "
              "(read from the object store; no checkout).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE instead of standard output.")
@click.option("--verbose", "-v", is_flag=True,
              help="Text and markdown formats: show every piece of evidence.")
@click.option("--catalogue", "catalogues", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Add to the checks' catalogues of tools, commands, headings and libraries: a "
                   "YAML file mapping a catalogue name (e.g. precommit) to entries shaped like "
                   "the shipped ones. Repeatable.")
@click.option("--gate", is_flag=True, help="Exit 1 when a statement breaks the policy (default: "
              "every statement of sections 1-4 is yes or n/a), one line each on stderr.")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="With --gate (implied): fail only on regressions against FILE, a previous "
                   "--format json report (a statement that was yes or n/a and no longer is).")
@click.option("--allow-manual/--no-allow-manual", default=None,
              help="Gate: let unconfirmed manual statements pass (default: no, or the "
                   "configuration's gate.allow_manual).")
@click.option("--allow-stale/--no-allow-stale", default=None,
              help="Gate: let stale confirmations (evidence changed, expired) pass (default: "
                   "no, or the configuration's gate.allow_stale).")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Read the configuration from FILE (YAML, or TOML with a "
              "[tool.mlops-audit] table) instead of the repository's own pyproject.toml "
              "[tool.mlops-audit] or .mlops-audit.yaml.")
def audit(path: Path, rev: str | None, fmt: str, output: Path | None, verbose: bool,
          catalogues: tuple[Path, ...], gate: bool, baseline: Path | None,
          allow_manual: bool | None, allow_stale: bool | None, config: Path | None) -> None:
    """Audit the repository at PATH (default: the current folder).

    Reads the committed tree of HEAD (or REV) and the first-parent history; never runs, imports
    or installs anything from the repository and never writes to it (only `init` and `confirm`
    write, and only the answers file). People's confirmations come from .mlops-audit/answers.yaml:
    the committed one, or the working tree's when PATH is a work tree audited without --rev.
    The configuration is the committed pyproject.toml [tool.mlops-audit] or .mlops-audit.yaml
    (or --config FILE); a `gate` policy there turns the gate on, and flags override it.
    Exit codes: 0 done (gate passed), 1 the gate failed, 2 bad input (one line on stderr),
    3 internal error.
    """
    from mlops_auditor import gate as gate_policy
    from mlops_auditor import progress
    from mlops_auditor.engine import audit as run_audit
    from mlops_auditor.rules import load_rules

    previous = gate_policy.load_baseline(baseline) if baseline is not None else None
    rules = load_rules()
    with progress.on_terminal(sys.stderr) as show:  # stderr only, and only on a terminal
        result = run_audit(path, rev=rev, rules=rules, catalogues=catalogues, config=config,
                           progress=show)
    if fmt == "json":
        from mlops_auditor.render import jsondoc

        report = jsondoc.render(result, rules.source)
    elif fmt == "markdown":
        from mlops_auditor.render import markdown

        report = markdown.render(result, rules.source, verbose=verbose)
    elif fmt == "html":
        from mlops_auditor.render import html

        host, repository_uri = _repository_address()
        report = html.render(result, rules.source, remote_url=repository_uri, host=host)
    elif fmt == "sarif":
        from mlops_auditor.render import sarif

        report = sarif.render(result, rules.source, repository_uri=_repository_address()[1])
    elif fmt == "junit":
        from mlops_auditor.render import junit

        report = junit.render(result, rules.source)
    else:
        from mlops_auditor.render import text

        color = output is None and sys.stdout.isatty()
        report = text.render(result, rules.source, verbose=verbose, color=color)
    _emit(report, output)
    configured = result.gate  # the configuration's gate policy; the flags override it
    if configured is not None and previous is None:
        previous = configured.baseline
    if gate or previous is not None or configured is not None:
        policy = gate_policy.Policy(
            allow_manual=_first(allow_manual, configured.allow_manual if configured else None),
            allow_stale=_first(allow_stale, configured.allow_stale if configured else None))
        broken = gate_policy.failures(result.answers, policy, previous)
        for line in broken:
            click.echo(line, err=True)
        if broken:
            raise click.exceptions.Exit(1)


def _repository_address() -> tuple[str | None, str | None]:
    """The repository's hosting service and web address as CI knows it (GitHub Actions, GitLab
    CI): provenance for SARIF, evidence links for HTML. (None, None) outside such CI."""
    server, name = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    if server and name:
        return "github", f"{server}/{name}"
    gitlab = os.environ.get("CI_PROJECT_URL")
    return ("gitlab" if gitlab else None), gitlab


def _first(*choices: bool | None) -> bool:
    """The first choice made (a flag, then the configuration); no when none is."""
    return next((c for c in choices if c is not None), False)


@main.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
def init(path: Path) -> None:
    """Write the answers file (.mlops-audit/answers.yaml) into PATH's working tree, listing every
    statement the evidence cannot decide with its question and how to confirm it.

    Refuses when the file exists or PATH is a bare repository. Writing the answers file, here
    and in `confirm`, is the only write the tool ever does.
    """
    from mlops_auditor import answers as answers_file

    result = _audit_to_confirm(path)
    target = answers_file.working_tree_file(path)
    if target.exists() or target.is_symlink():
        raise InputError(f"{target}: already exists; record answers with `mlops-audit confirm`")
    confirmed = {a.statement.id: a.confirmation for a in result.answers if a.confirmation}
    written = answers_file.write_file(path, answers_file.render_file(result.answers, confirmed))
    opened = sum(answers_file.is_open(a) for a in result.answers)
    click.echo(f"wrote {written} ({opened} statement(s) wait for a person)")


@main.command()
@click.argument("statement_id", metavar="[ID]", required=False)
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--answer", type=click.Choice(["yes", "no", "n/a"]), help="The answer.")
@click.option("--by", "by", metavar="NAME", help="Who answers.")
@click.option("--note", metavar="TEXT", help="Why: what the answer rests on.")
@click.option("--link", "links", multiple=True, metavar="URL",
              help="A link to what shows it (repeatable).")
@click.option("--expires", metavar="DATE", help="ISO date after which the answer is stale.")
def confirm(statement_id: str | None, path: Path, answer: str | None, by: str | None,
            note: str | None, links: tuple[str, ...], expires: str | None) -> None:
    """Record a person's answer to statement ID in PATH's .mlops-audit/answers.yaml, with the
    digest of the evidence found now (when that evidence changes, the answer becomes stale).

    Without ID, walk through the open manual statements (and stale answers) interactively,
    showing the evidence found. `mlops-audit confirm FOLDER` walks FOLDER. Writing the answers
    file is the only write the tool ever does.
    """
    from datetime import date

    from mlops_auditor import answers as answers_file
    from mlops_auditor.engine import answer_all
    from mlops_auditor.model import Confirmation
    from mlops_auditor.rules import NEW_ID, Rules, load_rules

    rules = load_rules()
    known = {s.id for s in rules.statements}
    if statement_id is not None and statement_id not in known:
        if Path(statement_id).is_dir() and path == Path("."):
            path = Path(statement_id)
            statement_id = None
        elif not NEW_ID.match(statement_id):  # an organisation's own is known after the audit
            raise InputError(f"no statement {statement_id!r}; `mlops-audit list` shows them all")
    if expires is not None:
        try:
            expires = date.fromisoformat(expires).isoformat()
        except ValueError:
            raise InputError(f"--expires {expires!r}: expected an ISO date, e.g. 2026-01-31"
                             ) from None
    result = _audit_to_confirm(path)
    # The statements as the repository's configuration left them (its rules files included).
    rules = Rules(rules.source, rules.sections, tuple(a.statement for a in result.answers))
    if statement_id is not None and rules.get(statement_id) is None:
        raise InputError(f"no statement {statement_id!r}; `mlops-audit list` shows them all")
    automated = {a.statement.id: a for a in answer_all(rules, result.facts)}
    confirmed = {a.statement.id: a.confirmation for a in result.answers if a.confirmation}
    today = date.today().isoformat()

    def record(a: Answer, given: str, who: str, why: str, urls: tuple[str, ...],
               until: str | None) -> None:
        seen = automated[a.statement.id]  # the evidence alone, without anyone's confirmation
        digest = answers_file.evidence_digest(seen.status, seen.evidence)
        confirmed[a.statement.id] = Confirmation(
            answer=given, by=who, date=today, why=why, links=urls,  # type: ignore[arg-type]
            expires=until, evidence_digest=digest)
        answers_file.write_file(path, answers_file.render_file(result.answers, confirmed))

    if statement_id is not None:
        if not (answer and by and note):
            raise InputError("confirm ID needs --answer, --by and --note (or no ID to walk the "
                             "open statements interactively)")
        found = next(a for a in result.answers if a.statement.id == statement_id)
        record(found, answer, by.strip(), note.strip(), links, expires)
        click.echo(f"recorded {statement_id}: {answer} by {by.strip()} in "
                   f"{answers_file.working_tree_file(path)}")
        return
    _walk_open(result.answers, record)


def _audit_to_confirm(path: Path) -> AuditResult:
    """A fresh audit of PATH's work tree (for the evidence digest); a bare repository has no
    working tree to write the answers file into."""
    from mlops_auditor.engine import audit as run_audit

    result = run_audit(path)
    if result.repo.is_git and not (path / ".git").exists():
        raise InputError(f"{path}: a bare repository has no working tree for "
                         ".mlops-audit/answers.yaml; run this in a clone")
    return result


def _walk_open(answers: Sequence[Answer], record: Recorder) -> None:
    """Ask about each open statement in turn, showing its evidence; each answer is written at
    once, so quitting keeps what was answered."""
    from mlops_auditor import answers as answers_file
    from mlops_auditor.render.text import evidence_line, safe

    todo = [a for a in answers if answers_file.is_open(a)]
    if not todo:
        click.echo("nothing to confirm: no open manual statement or stale answer")
        return
    who = ""
    for n, a in enumerate(todo, 1):
        s = a.statement
        click.echo(f"\n[{n}/{len(todo)}] {s.id}  {textwrap.fill(s.text, 90)}")
        click.echo(f"  found: {safe(a.reason)}")
        for e in a.evidence[:8]:
            click.echo(f"  - {evidence_line(e)}"[:300])
        click.echo(textwrap.indent(textwrap.fill("How to confirm: " + s.how_to_confirm, 88),
                                   "  "))
        given = click.prompt("answer", type=click.Choice(["yes", "no", "n/a", "skip", "quit"]),
                             default="skip")
        if given == "quit":
            break
        if given == "skip":
            continue
        who = click.prompt("by", default=who or None).strip()
        why = click.prompt("why").strip()
        link = click.prompt("link (empty for none)", default="", show_default=False).strip()
        record(a, given, who, why, (link,) if link else (), None)
        click.echo(f"recorded {s.id}: {given}")


@main.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--every", default="month", show_default=True, metavar="month|quarter|N",
              help="One revision per month or quarter (its last commit), or every N "
                   "first-parent commits.")
@click.option("--since", metavar="DATE", help="Only revisions committed on or after this ISO "
                                              "date (e.g. 2024-01-31).")
@click.option("--format", "fmt", type=click.Choice(("text", "json", "html")), default="text",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of standard output.")
def timeline(path: Path, every: str, since: str | None, fmt: str, output: Path | None) -> None:
    """How the maturity changed over time: past revisions of the first-parent history of HEAD
    (at most the newest 24), each audited straight from the object store without a checkout.

    Shows per section the statements answered yes and the baseline verdict at each revision.
    """
    from mlops_auditor import progress
    from mlops_auditor import timeline as maturity
    from mlops_auditor.rules import load_rules

    spacing = maturity.parse_every(every)
    start = maturity.parse_since(since) if since is not None else None
    with progress.on_terminal(sys.stderr) as show:
        points = maturity.build(path, spacing, start, load_rules(), progress=show)
    if fmt == "json":
        report = maturity.render_json(points, str(path), spacing, since)
    elif fmt == "html":
        from mlops_auditor.render import timeline_html

        report = timeline_html.render(points, str(path), str(spacing), since)
    else:
        report = maturity.render_text(points)
    _emit(report, output)


@main.command("list")
@click.option("--section", help="Only this section (1-7).")
def list_statements(section: str | None) -> None:
    """List the statements: id, how far evidence can decide it, and its text."""
    from mlops_auditor.rules import load_rules

    rules = load_rules()
    if section is not None and section not in {s.id for s in rules.sections}:
        raise InputError(f"--section {section!r}: choose one of 1-7")
    for sec in rules.sections:
        if section and sec.id != section:
            continue
        click.echo(f"{sec.id}. {sec.title}{' (baseline)' if sec.baseline else ''}")
        for s in rules.statements:
            if s.section == sec.id:
                indent = "    " if s.parent else "  "
                click.echo(f"{indent}{s.id:<8} {s.decidable:<9} "
                           f"{textwrap.shorten(s.text, 80, placeholder='…')}")


@main.command()
@click.argument("statement_id", metavar="ID")
def explain(statement_id: str) -> None:
    """Explain statement ID: what the auditor checks, why it matters, how a person confirms it
    and how to reach yes."""
    from mlops_auditor.engine import all_checks
    from mlops_auditor.rules import load_rules

    rules = load_rules()
    s = rules.get(statement_id)
    if s is None:
        raise InputError(f"no statement {statement_id!r}; `mlops-audit list` shows them all")
    checks, _ = all_checks()
    meanings = {fid: text for m in checks for fid, text in m.FACTS.items()}
    out = [f"{s.id} (sheet {s.sheet}) · {s.subsection}", "", textwrap.fill(s.text, 90), ""]
    out.append(f"Decided by evidence: {s.decidable}"
               f"{' · baseline (sections 1-4)' if s.baseline else ' · advanced'}")
    for title, body in (("What the auditor checks", s.what_it_checks),
                        ("Why it matters", s.why_it_matters),
                        ("How to confirm", s.how_to_confirm),
                        ("How to reach yes", s.remediation)):
        out += ["", f"{title}:", textwrap.indent(textwrap.fill(body, 88), "  ")]
    for title, cond in (("Applies when", s.applies_when), ("Yes when", s.yes_when),
                        ("No when", s.no_when)):
        if cond is not None:
            out += ["", f"{title}:", *_describe(cond, meanings, "  ")]
    if s.related_facts:
        out += ["", "Evidence shown to the reviewer:"]
        out += [f"  {fid}: {meanings.get(fid, '?')}" for fid in s.related_facts]
    if s.parts:
        out += ["", "Answered from its parts: " + ", ".join(s.parts)]
    click.echo("\n".join(out))


@main.command()
@click.argument("results", nargs=-1, metavar="RESULT.json... | FOLDER",
                type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(("html", "csv", "json")), default="html",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the portfolio to FILE instead of standard output.")
def portfolio(results: tuple[Path, ...], fmt: str, output: Path | None) -> None:
    """Gather the `audit --format json` results of many repositories (files, or folders of
    *.json files) into one page: a matrix of repositories x statements, the share of
    repositories at each answer per statement, and the weakest practices across them.

    Reads only the result files, never the repositories. A file that is not an audit result
    is one line on stderr and exit 2.
    """
    from mlops_auditor.portfolio import render

    _emit(render(results, fmt), output)


def entry() -> None:
    """The console script. A finished audit leaves millions of small syntax-tree objects whose
    deallocation at interpreter exit takes a noticeable part of the run (0.6 s of 3.3 s on a
    repository of 550 Python files); the process ends as soon as its output is flushed."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError, OSError):  # e.g. `mlops-audit audit | head`
            stream.flush()
    os._exit(code)


def _describe(cond: object, meanings: dict[str, str], indent: str) -> list[str]:
    assert isinstance(cond, dict)
    if "fact" in cond:
        ops = [k for k in cond if k != "fact"]
        test = f" {ops[0]} {cond[ops[0]]!r}" if ops else ""
        return [f"{indent}{cond['fact']}{test} — {meanings.get(cond['fact'], 'unknown fact')}"]
    if "not" in cond:
        return [f"{indent}not:", *_describe(cond["not"], meanings, indent + "  ")]
    key = "all" if "all" in cond else "any"
    lines = [f"{indent}{'all of' if key == 'all' else 'any of'}:"]
    for member in cond[key]:
        lines += _describe(member, meanings, indent + "  ")
    return lines


def _emit(report: str, output: Path | None) -> None:
    if output is None:
        click.echo(report, nl=False)
        return
    try:
        output.write_text(report, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--output {output}: cannot write ({exc.strerror or exc})") from None
