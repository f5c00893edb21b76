"""The audit, start to end: snapshot -> checks -> facts -> rules -> answers -> sections/verdict."""

from __future__ import annotations

import contextlib
import gc
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from mlops_auditor import answers as answers_file
from mlops_auditor import conditions, workers
from mlops_auditor import config as configuration
from mlops_auditor.errors import InputError
from mlops_auditor.model import (
    Answer,
    AuditResult,
    CheckError,
    Confirmation,
    Evidence,
    Fact,
    SectionScore,
    Statement,
)
from mlops_auditor.rules import Rules, load_rules
from mlops_auditor.snapshot import Snapshot, open_snapshot

ENTRY_POINT_GROUP = "mlops_auditor.checks"


def audit(path: Path, rev: str | None = None, rules: Rules | None = None,
          checks: Sequence[ModuleType] | None = None,
          catalogues: Sequence[Path] = (), config: Path | None = None,
          progress: Callable[[str], None] | None = None) -> AuditResult:
    """Audit PATH at REV. The configuration is CONFIG (a trusted file) when given, else the
    repository's own (pyproject.toml [tool.mlops-audit] or .mlops-audit.yaml, committed).
    PROGRESS, when given, is told each stage (``running checks 7/16 (ci)``) as it starts."""
    started = time.perf_counter()
    report = progress or _quiet
    from mlops_auditor.checks import common

    common.clear_tree_caches()  # the previous audit's trees, if this process ran one
    extensions = load_catalogue_extensions(catalogues)
    common.use_extensions(extensions)
    rules = rules or load_rules()
    errors: list[CheckError] = []
    if checks is None:
        checks, load_errors = all_checks()
        errors += load_errors
    report("reading the repository")
    with open_snapshot(path, rev) as snap, _no_cyclic_gc():
        settings = configuration.from_file(config) if config else configuration.from_snapshot(snap)
        if settings.catalogues:
            common.use_extensions([*extensions, *settings.catalogues])
        rules = settings.apply_rules(rules)
        # The answers file is read before ``root`` narrows the tree: it lives at the top.
        confirmed = answers_file.read(snap, (s.id for s in rules.statements))
        snap.restrict(settings.exclude, settings.root)
        facts, check_errors = workers.run_split(snap, checks, _reporting(report, len(checks)),
                                                _merge)
        errors += check_errors
        repo = replace(snap.info, notes=configuration.with_notes(settings, snap.info.notes))
    report("answering the statements")
    answers = configuration.switch_off(answer_all(rules, facts, confirmed), settings.switch_off)
    sections = score_sections(rules, answers)
    mature, reason = verdict(answers)
    return AuditResult(repo=repo, answers=answers, facts=facts, errors=tuple(errors),
                       sections=sections, baseline_mature=mature, verdict_reason=reason,
                       elapsed_seconds=time.perf_counter() - started, gate=settings.gate)


def _quiet(stage: str) -> None:
    """No progress display."""


def _reporting(report: Callable[[str], None], total: int
               ) -> Callable[[Snapshot, Sequence[ModuleType]], tuple[dict[str, Fact],
                                                                     list[CheckError]]]:
    """collect_facts, telling REPORT which check starts (numbered out of TOTAL)."""
    started = itertools.count(1)

    def run(snap: Snapshot, checks: Sequence[ModuleType]
            ) -> tuple[dict[str, Fact], list[CheckError]]:
        def announce(module: ModuleType) -> ModuleType:
            report(f"running checks {next(started)}/{total} ({check_name(module)})")
            return module

        return collect_facts(snap, (announce(m) for m in checks))

    return run


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Syntax trees are millions of small acyclic objects; the cyclic collector rescans them over
    and over while they are built (a fifth of an audit's time on a large Python repository).
    Reference counting still frees everything; the collector is restored afterwards.

    What the audit built is then frozen (moved out of the collector's generations): otherwise
    the collector's first run after being re-enabled scans every object made while it was off,
    0.2 s on a large repository. Objects the previous audit froze are handed back first, so a
    process that audits many times (a timeline) still collects their cycles."""
    was_enabled = gc.isenabled()
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def load_catalogue_extensions(paths: Sequence[Path]) -> list[dict[str, object]]:
    """Users' additions to the checks' catalogues: YAML files mapping a catalogue name (e.g.
    ``precommit``) to entries shaped like those of ``checks/catalogues/NAME.yaml``."""
    from mlops_auditor import parsers

    extensions: list[dict[str, object]] = []
    for path in paths:
        try:
            data = parsers.load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, parsers.ParseError) as exc:
            raise InputError(f"--catalogue {path}: cannot read it ({exc})") from None
        extensions.append(catalogue_extension(data, f"--catalogue {path}"))
    return extensions


def catalogue_extension(data: object, where: str) -> dict[str, object]:
    """DATA, checked to be a catalogue extension (catalogue name -> additions shaped like the
    shipped entries); InputError, naming WHERE it came from, otherwise."""
    from mlops_auditor.checks.common import builtin_catalogue, catalogue_names

    known = catalogue_names()
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping of catalogue names ({', '.join(known)})")
    for name, entries in data.items():
        if name not in known:
            raise InputError(f"{where}: unknown catalogue {name!r}; known: {', '.join(known)}")
        problem = _shape_problem(builtin_catalogue(name), entries, str(name))
        if problem:
            raise InputError(f"{where}: {problem}")
    return data


def _shape_problem(base: object, extra: object, where: str) -> str | None:
    """An addition must have the shape of what it extends: a mapping for a mapping, a list for
    a list (a new key may hold anything)."""
    if isinstance(base, dict):
        if not isinstance(extra, dict):
            return f"{where}: expected a mapping"
        for key, value in extra.items():
            if key in base:
                problem = _shape_problem(base[key], value, f"{where}.{key}")
                if problem:
                    return problem
    elif isinstance(base, list) and not isinstance(extra, list):
        return f"{where}: expected a list"
    return None


def all_checks() -> tuple[list[ModuleType], list[CheckError]]:
    """The built-in checks and those other packages register as entry points."""
    from mlops_auditor.checks import BUILTIN

    found = list(BUILTIN)
    errors: list[CheckError] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            module = ep.load()
        except Exception as exc:
            message = f"could not load plugin: {type(exc).__name__}: {exc}"
            errors.append(CheckError(ep.name, message))
            continue
        if not isinstance(getattr(module, "FACTS", None), Mapping) or not callable(
                getattr(module, "collect", None)):
            errors.append(CheckError(ep.name, "plugin has no FACTS mapping or collect() function"))
            continue
        found.append(module)
    return found, errors


def check_name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def _merge(a: tuple[dict[str, Fact], list[CheckError]], b: tuple[dict[str, Fact], list[CheckError]]
           ) -> tuple[dict[str, Fact], list[CheckError]]:
    return {**a[0], **b[0]}, [*a[1], *b[1]]


def collect_facts(snap: Snapshot, checks: Iterable[ModuleType]
                  ) -> tuple[dict[str, Fact], list[CheckError]]:
    """Run every check; a check that raises records an error and its facts become unknown."""
    facts: dict[str, Fact] = {}
    errors: list[CheckError] = []
    for module in checks:
        name = check_name(module)
        declared: Mapping[str, str] = module.FACTS
        try:
            produced = list(module.collect(snap))
        except Exception as exc:  # a check must never end the audit
            message = f"{type(exc).__name__}: {exc}"
            errors.append(CheckError(name, message))
            for fid in declared:
                facts[fid] = Fact(fid, None, unknown=f"the {name} check failed ({message})")
            continue
        for fact in produced:
            if fact.id not in declared:
                errors.append(CheckError(name, f"reported undeclared fact {fact.id!r}"))
                continue
            facts[fact.id] = fact
        for fid in declared:
            if fid not in facts:
                facts[fid] = Fact(fid, None, unknown=f"the {name} check did not report it")
    return facts, errors


def answer_all(rules: Rules, facts: Mapping[str, Fact],
               confirmed: Mapping[str, Confirmation] | None = None,
               today: date | None = None) -> tuple[Answer, ...]:
    """Answer every statement from the facts; a person's confirmation (the answers file) then
    wins over the automated answer, which is kept beside it. Parts are settled before the
    statement they make up; a confirmed whole is checked against its parts' automated answers,
    so confirming a part never makes the whole's confirmation stale."""
    recorded = confirmed or {}
    day = today or date.today()

    def settle(a: Answer) -> Answer:
        c = recorded.get(a.statement.id)
        return answers_file.apply(a, c, day) if c is not None else a

    automated = {s.id: answer(s, facts) for s in rules.statements if not s.parts}
    answers = {sid: settle(a) for sid, a in automated.items()}
    for s in rules.statements:
        if s.parts and s.id in recorded:  # judged against what the evidence alone says
            answers[s.id] = settle(combine_parts(s, [automated[p] for p in s.parts]))
        elif s.parts:
            answers[s.id] = combine_parts(s, [answers[p] for p in s.parts])
    return tuple(answers[s.id] for s in rules.statements)


def answer(statement: Statement, facts: Mapping[str, Fact]) -> Answer:
    """Apply one statement's rule. Counter-evidence (``no_when``) outweighs support; anything
    that cannot be observed leaves the statement to a person, never to ``no``."""

    def result(status: str, reason: str, cond: object | None, *more: str) -> Answer:
        ids = _ids(cond, facts) + [f for f in more if f in facts]
        ids = list(dict.fromkeys(ids))
        return Answer(statement, status, "auto", reason, _evidence(ids, facts),  # type: ignore[arg-type]
                      tuple(ids))

    if statement.applies_when is not None:
        applies = conditions.evaluate(statement.applies_when, facts)
        if applies is False:
            return result("n/a", "the statement's precondition does not hold",
                          statement.applies_when)
        if applies is None:
            return result("manual", "cannot tell whether the statement applies: "
                          + _unknowns(statement.applies_when, facts), statement.applies_when,
                          *statement.related_facts)
    if statement.decidable == "manual":
        return result("manual", "only a person can answer this; the evidence found is listed",
                      None, *statement.related_facts)
    no = conditions.evaluate(statement.no_when, facts) if statement.no_when else False
    yes = conditions.evaluate(statement.yes_when, facts) if statement.yes_when else False
    if no:
        return result("no", "the repository shows it does not hold", statement.no_when)
    if yes and no is False:
        return result("yes", "the repository shows it holds", statement.yes_when)
    if yes:
        # Counter-evidence that could not be observed is not counter-evidence: say what was not
        # seen, and let the observed support decide.
        return result("yes", "the repository shows it holds; no counter-evidence was observed "
                      "(could not observe: " + _unknowns(statement.no_when, facts) + ")",
                      statement.yes_when)
    pairs = ((statement.no_when, no), (statement.yes_when, yes))
    unknown = [c for c, v in pairs if c and v is None]
    if unknown:
        reason = "cannot observe enough to decide: " + _unknowns({"any": unknown}, facts)
        return result("manual", reason, statement.yes_when, *_ids(statement.no_when, facts),
                      *statement.related_facts)
    return result("manual", "the evidence does not decide it; a person must confirm",
                  statement.yes_when, *_ids(statement.no_when, facts), *statement.related_facts)


def combine_parts(statement: Statement, parts: Sequence[Answer]) -> Answer:
    """A statement made of parts (2.2.7): yes when every part is, no when any part is."""
    statuses = [p.status for p in parts]
    ids = tuple(dict.fromkeys(f for p in parts for f in p.facts))
    evidence = tuple(e for p in parts for e in p.evidence)
    listing = ", ".join(f"{p.statement.id} {p.status}" for p in parts)
    if all(s == "yes" for s in statuses):
        return Answer(statement, "yes", "auto", f"every part holds ({listing})", evidence, ids)
    if "no" in statuses:
        return Answer(statement, "no", "auto", f"a part does not hold ({listing})", evidence, ids)
    if all(s == "n/a" for s in statuses):
        return Answer(statement, "n/a", "auto", f"no part applies ({listing})", evidence, ids)
    return Answer(statement, "manual", "auto", f"some parts need a person ({listing})", evidence,
                  ids)


def _ids(cond: object | None, facts: Mapping[str, Fact]) -> list[str]:
    return conditions.deciding_facts(cond, facts) if cond is not None else []


def _evidence(ids: Iterable[str], facts: Mapping[str, Fact]) -> tuple[Evidence, ...]:
    """The evidence of the deciding facts, taken in turns (the first item of each fact, then
    the second, ...), so that the first few items shown cover every fact that decided."""
    per_fact: list[list[Evidence]] = []
    for fid in ids:
        fact = facts.get(fid)
        if fact is None:
            continue
        items = list(fact.evidence)
        if fact.value is None:
            items.insert(0, Evidence(detail=f"cannot observe {fid}: {fact.unknown or 'unknown'}"))
        per_fact.append(items)
    merged = [e for row in itertools.zip_longest(*per_fact) for e in row if e is not None]
    return tuple(dict.fromkeys(merged))


def _unknowns(cond: object, facts: Mapping[str, Fact]) -> str:
    reasons = []
    for fid in sorted(conditions.fact_ids(cond)):
        fact = facts.get(fid)
        if fact is None or fact.value is None:
            reasons.append(f"{fid} ({fact.unknown if fact else 'no check reports it'})")
    return ", ".join(reasons) or "unknown"


def score_sections(rules: Rules, answers: Sequence[Answer]) -> tuple[SectionScore, ...]:
    scores = []
    for section in rules.sections:
        counts = {"yes": 0, "no": 0, "n/a": 0, "manual": 0}
        for a in answers:
            if a.statement.section == section.id and a.statement.parent is None:
                counts[a.status] += 1
        scores.append(SectionScore(section.id, section.title, section.baseline, counts))
    return tuple(scores)


def verdict(answers: Sequence[Answer]) -> tuple[bool, str]:
    """Baseline mature when every statement of the baseline sections (1-4) is yes or n/a."""
    baseline = [a for a in answers if a.statement.baseline and a.statement.parent is None]
    open_ = [a for a in baseline if a.status not in ("yes", "n/a")]
    if not open_:
        return True, f"all {len(baseline)} baseline statements (sections 1-4) are yes or n/a"
    no = sum(a.status == "no" for a in open_)
    manual = len(open_) - no
    return False, (f"{len(open_)} of {len(baseline)} baseline statements are not yet yes or n/a "
                   f"({no} no, {manual} need a person)")
