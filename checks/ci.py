"""CI/CD configuration: which jobs run tests, configuration checks, deployments and load tests, and
on which events (pull requests, merges to the default branch, tags, schedules, by hand)."""

from __future__ import annotations

import bisect
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from mlops_auditor import parsers
from mlops_auditor.checks import common, iac, precommit
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot, matching

FACTS = {
    "ci.present": "CI configuration with at least one job (GitHub Actions, GitLab CI, Azure "
                  "Pipelines, Jenkins, CircleCI, Bitbucket Pipelines, AWS CodePipeline)",
    "ci.systems": "the CI systems whose configuration defines jobs",
    "ci.pr_tests": "a job triggered by pull/merge requests runs automated tests whose failure "
                   "fails the job (`|| true`, continue-on-error, allow_failure, unguarded pipes "
                   "do not count)",
    "ci.pr_config_validation": "a job triggered by pull/merge requests validates configuration "
                               "or IaC (terraform validate/fmt -check/plan, tflint, checkov, "
                               "cfn-lint, bicep build, kubeconform, bundle validate, yamllint, "
                               "check-jsonschema, actionlint, trivy config, pre-commit run)",
    "ci.pr_skips_iac": "pull-request validation is path-filtered so that no IaC file ever "
                       "triggers it (False when there is no IaC or a filter covers it)",
    "ci.deploy_on_merge": "a job triggered by a push/merge to the default branch or by a release "
                          "tag deploys something (model, app or infrastructure) without a "
                          "manual start",
    "ci.iac_apply_on_merge": "a job triggered by a push/merge to the default branch applies IaC "
                             "(terraform apply, bundle deploy, cdk/sam deploy, pulumi up, helm "
                             "upgrade/install, kubectl apply, az deployment, cloudformation "
                             "deploy); a pipeline that applies only other stacks while its own "
                             "stack is deployed by hand does not count",
    "ci.deploy_manual_only": "deploy steps exist but only run when started by hand "
                             "(workflow_dispatch, when: manual, no automatic trigger)",
    "ci.iac_apply_on_pr": "infrastructure is applied from pull-request or feature-branch jobs, "
                          "before review",
    "ci.multi_env_deploy": "the same deploy commands deploy two or more environments (a matrix, "
                           "a parametrised target, one template or reusable workflow per stage)",
    "ci.scheduled": "jobs run on a schedule (cron); the evidence names what they run",
    "ci.load_tests": "CI runs load tests (locust, k6, jmeter, gatling, vegeta, artillery)",
    "ci.unparseable": "CI files that could not be parsed",
}

SYSTEMS = {"github-actions": "GitHub Actions", "gitlab-ci": "GitLab CI",
           "azure-pipelines": "Azure Pipelines", "jenkins": "Jenkins", "circleci": "CircleCI",
           "bitbucket-pipelines": "Bitbucket Pipelines", "aws-codepipeline": "AWS CodePipeline"}
DEPLOYS = frozenset({"deploy", "deploy_iac"})
FEATURE = "feature-x"  # a sample feature branch name: what a pull request's branch is called
TAG = "v1.2.3"  # a sample release tag
MAX_DEPTH = 8  # nesting of includes, templates, reusable workflows


# -- the model: runs (what starts a job) and commands (what a job runs) ---------------------

class _Unknown:
    """A value the repository does not tell (a variable set in the CI system, a secret)."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
Val = str | bool | None | _Unknown


@dataclass(frozen=True)
class PathFilter:
    """Paths a trigger is limited to (GitHub ``paths``/``paths-ignore``, GitLab ``changes``,
    Azure ``paths: include/exclude``). GitHub's ``!pattern`` negations are applied in order."""

    include: tuple[str, ...] | None
    exclude: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.include is not None:
            parts.append("paths " + ", ".join(self.include[:6]))
        if self.exclude:
            parts.append("ignoring " + ", ".join(self.exclude[:6]))
        return "; ".join(parts) or "any path"

    def triggered_by(self, path: str) -> bool:
        if self.include is not None:
            hit = False
            for pattern in self.include:
                negated = pattern.startswith("!")
                if _path_matches(pattern[1:] if negated else pattern, path):
                    hit = not negated
            if not hit:
                return False
        return not any(_path_matches(p, path) for p in self.exclude)


def _path_matches(pattern: str, path: str) -> bool:
    """Does a CI path filter match PATH? Lenient on purpose: a pattern with variables, a folder
    (``infra/``) or a bare prefix (Azure's ``infra``) matches what it could match."""
    pattern = pattern.strip().lstrip("/")
    if not pattern or "$" in pattern:
        return True
    if pattern.endswith("/"):
        pattern += "**"
    if not any(c in pattern for c in "*?["):
        return path == pattern or path.startswith(pattern.rstrip("/") + "/")
    return bool(matching([path], pattern))


@dataclass(frozen=True, eq=False)
class Run:
    """One way a pipeline gets started, with sample values of the CI system's variables for it.

    ``kind``: ``pr`` (a pull/merge request, or a push to any feature branch), ``merge`` (a push
    to the default branch), ``tag`` (a release tag or release), ``schedule``, ``manual`` (started
    by hand) or ``other``. Runs compare by identity, so a job's runs can be intersected with the
    runs of the jobs it needs.
    """

    kind: str
    detail: str
    path: str
    line: int | None
    values: Mapping[str, Val] = field(default_factory=dict)
    paths: PathFilter | None = None


@dataclass(frozen=True)
class Command:
    """One command line of a job (or a deploying action/task), with the runs that start it."""

    system: str
    path: str
    line: int | None
    text: str
    job: str
    runs: tuple[Run, ...]
    classes: frozenset[str]
    soft: str | None = None  # why its failure cannot fail the job
    envs: frozenset[str] = frozenset()
    env_param: bool = False  # the command itself is run for each of several environments
    scope: str | None = None  # why this IaC apply leaves the infrastructure to hand deployment

    @property
    def kinds(self) -> set[str]:
        return {run.kind for run in self.runs}


@dataclass(frozen=True)
class JobCtx:
    """What the commands of one job share."""

    system: str
    path: str  # the file the commands are written in
    lines: list[str]
    label: str
    line: int | None
    runs: tuple[Run, ...]
    soft: str | None = None
    envs: frozenset[str] = frozenset()
    env_param: bool = False
    values: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass
class Scan:
    """Everything read from the CI configuration of a snapshot."""

    jobs: dict[str, list[Evidence]] = field(default_factory=dict)  # system -> its jobs
    files: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    unparseable: dict[str, Evidence] = field(default_factory=dict)
    unread: dict[str, Evidence] = field(default_factory=dict)  # CI/CD this check cannot read
    notes: list[Evidence] = field(default_factory=list)

    def job(self, system: str, path: str, line: int | None, name: str) -> None:
        self.jobs.setdefault(system, []).append(common.at(path, line, f"job {name}"))

    def note(self, path: str, line: int | None, detail: str) -> None:
        self.notes.append(common.at(path, line, detail))


# -- catalogue and classification -----------------------------------------------------------

@cache
def _cat() -> dict[str, Any]:
    return common.catalogue("ci")


@cache
def _regex(key: str) -> re.Pattern[str]:
    return re.compile(_cat()[key])


@cache
def _class_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    classes: dict[str, list[str]] = _cat()["classes"]
    return tuple((name, re.compile(p)) for name, patterns in classes.items() for p in patterns)


@cache
def _not_a_run() -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p) for p in _cat()["not_a_run"])


@cache
def _env_words() -> dict[str, str]:
    groups: dict[str, list[str]] = _cat()["environments"]
    return {word: canonical for canonical, words in groups.items() for word in words}


def split_shell(text: str) -> list[tuple[str, str]]:
    """A shell line's simple commands, each with the operator after it (``&&``, ``||``, ``;``,
    ``|`` or ``""``); quoted text is not split."""
    parts: list[tuple[str, str]] = []
    buf: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            buf.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            buf.append(char)
        elif char == "\\" and i + 1 < len(text):
            buf.append(text[i : i + 2])
            i += 1
        elif text.startswith(("&&", "||"), i):
            parts.append(("".join(buf).strip(), text[i : i + 2]))
            buf = []
            i += 1
        elif char in ";|":
            parts.append(("".join(buf).strip(), char))
            buf = []
        else:
            buf.append(char)
        i += 1
    parts.append(("".join(buf).strip(), ""))
    return parts


def _segment_classes(segment: str) -> set[str]:
    if not segment or any(p.search(segment) for p in _not_a_run()):
        return set()
    return {name for name, pattern in _class_patterns() if pattern.search(segment)}


def classify(text: str) -> frozenset[str]:
    """Classes of one command line: test, validate, deploy_iac, deploy, load, publish.

    Installing, printing or asking a tool for its version is not running it; a deployment
    command that only previews (``--dry-run``, ``what-if``) validates.
    """
    found: set[str] = set()
    for segment, _ in split_shell(text):
        found |= _segment_classes(segment)
    if found & DEPLOYS and _regex("dry_run").search(text):
        found = (found - DEPLOYS) | {"validate"}
    return frozenset(found)


@dataclass(frozen=True)
class ShellLine:
    offset: int  # index of its first line in the script
    text: str  # the logical line (continuations joined)
    first: str  # its first physical line, to find it in the file
    errexit: bool
    pipefail: bool
    last: bool


_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")


def shell_lines(script: str, errexit: bool, pipefail: bool) -> list[ShellLine]:
    """The logical command lines of a script: comments, blank lines and here-document bodies
    skipped, ``\\`` continuations joined, ``set -e``/``set +e``/``set -o pipefail`` followed."""
    raw = script.split("\n")
    logical: list[tuple[int, str, str]] = []
    heredoc: str | None = None
    i = 0
    while i < len(raw):
        stripped = raw[i].strip()
        if heredoc is not None:
            heredoc = None if stripped == heredoc else heredoc
            i += 1
            continue
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start, text = i, stripped
        while text.endswith("\\") and i + 1 < len(raw):
            i += 1
            text = text[:-1].rstrip() + " " + raw[i].strip()
        match = _HEREDOC.search(text)
        heredoc = match.group(1) if match else None
        logical.append((start, text, stripped))
        i += 1
    result = []
    for number, (start, text, first) in enumerate(logical):
        errexit, pipefail = _set_flags(text, errexit, pipefail)
        result.append(ShellLine(start, text, first, errexit, pipefail,
                                number == len(logical) - 1))
    return result


def _set_flags(text: str, errexit: bool, pipefail: bool) -> tuple[bool, bool]:
    """Shell options after a ``set`` line (``set -euo pipefail``, ``set +e``)."""
    if not re.match(r"set\s", text):
        return errexit, pipefail
    words = text.split()[1:]
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in ("-o", "+o"):
            if following == "errexit":
                errexit = word == "-o"
            elif following == "pipefail":
                pipefail = word == "-o"
        elif re.fullmatch(r"[-+][a-zA-Z]+", word):
            if "e" in word:
                errexit = word[0] == "-"
            if word.endswith("o") and following == "pipefail":
                pipefail = word[0] == "-"
    return errexit, pipefail


def soft_reason(line: ShellLine) -> str | None:
    """Why a failure of this command line cannot fail its job, or None.

    ``|| true`` (or ``|| echo``, ``|| exit 0``), a final ``; true``, flags such as
    ``--exit-zero``, a pipe without ``set -o pipefail`` after the command, and a command that is
    not the last line of a script running without ``set -e``.
    """
    parts = split_shell(line.text)
    for i, (segment, operator) in enumerate(parts):
        if not _segment_classes(segment):
            continue
        flag = _regex("soft_flags").search(segment)
        if flag:
            return f"`{flag.group(0).strip()}` keeps a failure from failing the job"
        following = parts[i + 1][0] if i + 1 < len(parts) else ""
        if operator == "||" and _regex("masking").search(following):
            return f"`|| {following}` swallows its failure"
        if operator == ";" and i + 2 == len(parts) and _regex("masking").search(following):
            return f"`; {following}` ends the line with success"
        if operator == "|" and not line.pipefail:
            return ("its output is piped (`| ...`) without `set -o pipefail`, so the last "
                    "command of the pipe decides")
    if not line.errexit and not line.last:
        return ("not the last command of a script that runs without `set -e`, so its failure "
                "does not fail the step")
    return None


# -- expressions: GitHub `if:`, GitLab `rules: if:`, Azure `condition:` ---------------------

Node = tuple[Any, ...]
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<op>&&|\|\||==|!=|=~|!~|<=|>=|[()!,<>\[\]])
  | (?P<number>\d+(?:\.\d+)?\b)
  | (?P<name>\$?\{?[A-Za-z_][\w.\-*]*\}?)
""", re.X)
_REGEX_LITERAL = re.compile(r"/((?:[^/\\]|\\.)*)/([a-z]*)")


def _tokens(text: str) -> list[tuple[str, str]]:
    """Tokens of a condition; a GitLab ``/regex/`` is read only after ``=~`` or ``!~``."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        if tokens and tokens[-1] in (("op", "=~"), ("op", "!~")):
            start = i
            while start < len(text) and text[start].isspace():
                start += 1
            regex = _REGEX_LITERAL.match(text, start)
            if regex:
                tokens.append(("regex", regex.group(0)))
                i = regex.end()
                continue
        match = _TOKEN.match(text, i)
        if not match:
            raise ValueError(f"unexpected {text[i]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group(0)))
        i = match.end()
    return tokens


def parse_expression(text: str) -> Node | None:
    """Parse a CI condition into a small tree; None when it is not understood (then it is
    treated as "may be true"). Wrappers ``${{ }}`` and ``$[ ]`` are removed."""
    text = text.strip()
    for start, end in (("${{", "}}"), ("$[", "]")):
        if text.startswith(start) and text.endswith(end):
            text = text[len(start) : -len(end)].strip()
    if not text or len(text) > 2000:
        return None
    try:
        tokens = _tokens(text)
        node, pos = _parse_or(tokens, 0)
    except (ValueError, IndexError, RecursionError):
        return None
    return node if pos == len(tokens) else None


def _parse_or(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    left, pos = _parse_and(tokens, pos)
    while pos < len(tokens) and tokens[pos] == ("op", "||"):
        right, pos = _parse_and(tokens, pos + 1)
        left = ("or", left, right)
    return left, pos


def _parse_and(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    left, pos = _parse_unary(tokens, pos)
    while pos < len(tokens) and tokens[pos] == ("op", "&&"):
        right, pos = _parse_unary(tokens, pos + 1)
        left = ("and", left, right)
    return left, pos


def _parse_unary(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    if tokens[pos] == ("op", "!"):
        node, pos = _parse_unary(tokens, pos + 1)
        return ("not", node), pos
    left, pos = _parse_primary(tokens, pos)
    if pos < len(tokens) and tokens[pos][0] == "op" and tokens[pos][1] in (
            "==", "!=", "=~", "!~", "<", ">", "<=", ">="):
        right, after = _parse_primary(tokens, pos + 1)
        return ("cmp", tokens[pos][1], left, right), after
    return left, pos


def _parse_primary(tokens: list[tuple[str, str]], pos: int) -> tuple[Node, int]:
    """A parenthesised expression, a literal, a function call or a variable
    (``variables['Build.Reason']`` is read as ``variables.Build.Reason``)."""
    kind, text = tokens[pos]
    if (kind, text) == ("op", "("):
        node, pos = _parse_or(tokens, pos + 1)
        if tokens[pos] != ("op", ")"):
            raise ValueError("missing )")
        return node, pos + 1
    if kind == "string":
        inner = text[1:-1]
        return ("lit", inner.replace("''", "'") if text[0] == "'" else inner), pos + 1
    if kind in ("number", "regex"):
        return ("lit", text), pos + 1
    if kind != "name":
        raise ValueError(f"unexpected {text}")
    if pos + 1 < len(tokens) and tokens[pos + 1] == ("op", "("):
        args: list[Node] = []
        pos += 2
        while tokens[pos] != ("op", ")"):
            arg, pos = _parse_or(tokens, pos)
            args.append(arg)
            if tokens[pos] == ("op", ","):
                pos += 1
        return ("call", text.lower(), args), pos + 1
    name = text
    while pos + 3 < len(tokens) and tokens[pos + 1] == ("op", "[") and tokens[pos + 3] == (
            "op", "]"):
        name += "." + tokens[pos + 2][1].strip("'\"")
        pos += 3
    lowered = name.lower()
    if lowered in ("true", "false"):
        return ("lit", lowered == "true"), pos + 1
    if lowered == "null":
        return ("lit", None), pos + 1
    return ("var", name), pos + 1


def truth(value: Val) -> bool | None:
    """Truthiness of a value; None when unknown."""
    if isinstance(value, _Unknown):
        return None
    if value is None or isinstance(value, bool):
        return bool(value)
    return value != ""


def _logic(kind: str, values: Sequence[Val]) -> Val:
    """Three-valued and/or: a decisive operand wins, else an unknown one makes it unknown."""
    truths = [truth(v) for v in values]
    decisive = kind == "or"
    if decisive in truths:
        return decisive
    return UNKNOWN if None in truths else not decisive


def _equal(a: Val, b: Val) -> Val:
    if isinstance(a, _Unknown) or isinstance(b, _Unknown):
        return UNKNOWN
    if a is None or b is None:
        return a in (None, "") and b in (None, "")
    return str(a).casefold() == str(b).casefold()


def _regex_search(pattern: Val, value: Val) -> Val:
    if isinstance(pattern, _Unknown) or isinstance(value, _Unknown):
        return UNKNOWN
    literal = _REGEX_LITERAL.fullmatch(str(pattern or ""))
    if literal is None or value is None:
        return False if value is None else UNKNOWN
    try:
        flags = re.IGNORECASE if "i" in literal.group(2) else 0
        return re.search(literal.group(1), str(value), flags) is not None
    except re.error:
        return UNKNOWN


def _call(name: str, args: list[Val]) -> Val:
    """The functions of GitHub expressions and Azure conditions the check understands;
    status functions: success/always are true, failure/cancelled are not a normal run."""
    if name in ("and", "or"):
        return _logic(name, args)
    if name == "not" and args:
        value = truth(args[0])
        return UNKNOWN if value is None else not value
    if name in ("eq", "ne") and len(args) >= 2:
        equal = _equal(args[0], args[1])
        return equal if name == "eq" or isinstance(equal, _Unknown) else not equal
    if name in ("in", "notin") and args:
        found = _logic("or", [_equal(args[0], other) for other in args[1:]])
        return found if name == "in" or isinstance(found, _Unknown) else not found
    if name in ("startswith", "endswith", "contains") and len(args) >= 2:
        if any(isinstance(a, _Unknown) for a in args[:2]):
            return UNKNOWN
        text, part = str(args[0] or "").lower(), str(args[1] or "").lower()
        return {"startswith": text.startswith, "endswith": text.endswith,
                "contains": text.__contains__}[name](part)
    if name in ("success", "succeeded", "always", "succeededorfailed"):
        return True
    if name in ("failure", "failed", "cancelled", "canceled"):
        return False
    return UNKNOWN


def evaluate(node: Node, look: Callable[[str], Val]) -> Val:
    """Value of a parsed condition for one run; ``look`` gives the run's variables."""
    kind = node[0]
    if kind == "lit":
        value: Val = node[1]
        return value
    if kind == "var":
        return look(node[1])
    if kind == "not":
        inner = truth(evaluate(node[1], look))
        return UNKNOWN if inner is None else not inner
    if kind in ("and", "or"):
        return _logic(kind, [evaluate(node[1], look), evaluate(node[2], look)])
    if kind == "cmp":
        left, right = evaluate(node[2], look), evaluate(node[3], look)
        if node[1] in ("==", "!="):
            equal = _equal(left, right)
            return equal if node[1] == "==" or isinstance(equal, _Unknown) else not equal
        if node[1] in ("=~", "!~"):
            found = _regex_search(right, left)
            return found if node[1] == "=~" or isinstance(found, _Unknown) else not found
        return UNKNOWN
    if kind == "call":
        return _call(node[1], [evaluate(arg, look) for arg in node[2]])
    return UNKNOWN


Lookup = Callable[[Run], Callable[[str], Val]]


def narrow(runs: Iterable[Run], condition: Any, lookup: Lookup) -> tuple[Run, ...]:
    """The runs for which CONDITION may be true (a condition not understood keeps them all)."""
    runs = tuple(runs)
    if condition is None:
        return runs
    if isinstance(condition, bool):
        return runs if condition else ()
    node = parse_expression(str(condition))
    if node is None:
        return runs
    return tuple(r for r in runs if truth(evaluate(node, lookup(r))) is not False)


def _skips_with_needs(condition: Any) -> bool:
    """A job runs only when the jobs it needs ran, unless its condition says otherwise."""
    return not re.search(r"\b(always|failure|cancelled|canceled|failed|succeededOrFailed)\s*\(",
                         str(condition or ""))


# -- small helpers ------------------------------------------------------------------------

def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _search_order(start: int | None, count: int) -> list[int]:
    """Line indexes from line START (1-based) to the end, then from the top."""
    begin = min(max((start or 1) - 1, 0), count)
    return list(range(begin, count)) + list(range(begin))


def _find(lines: list[str], needle: str, start: int | None = None) -> int | None:
    """1-based number of the first line holding NEEDLE (its first 60 characters), searching
    from line START (1-based) on, then from the top."""
    needle = needle.strip()
    order = _search_order(start, len(lines))
    # A shorter prefix finds lines whose text was substituted (template parameters).
    for size in (60, 24):
        if len(needle[:size]) >= min(len(needle), 8):
            for index in order:
                if needle[:size] in lines[index]:
                    return index + 1
    return None


def _find_key(lines: list[str], key: str, start: int | None = None) -> int | None:
    """Line of a YAML mapping key (``key:``) or list entry (``- job: key``)."""
    pattern = re.compile(rf"""^\s*(-\s*)?(\w+:\s*)?['"]?{re.escape(key)}['"]?\s*:?\s*(#.*)?$""")
    for index in _search_order(start, len(lines)):
        if pattern.match(lines[index]):
            return index + 1
    return _find(lines, key, start)


def _default_branch(text: str) -> str:
    """The default branch's name as the file uses it: the first of main/master/trunk it
    mentions."""
    for name in _cat()["default_branches"]:
        if re.search(rf"\b{re.escape(name)}\b", text):
            return str(name)
    return str(_cat()["default_branches"][0])


def _glob_matches(pattern: str, name: str) -> bool:
    """Branch/tag glob (``*`` stays within a path segment, ``**`` crosses them)."""
    pattern = re.sub(r"^refs/(heads|tags)/", "", pattern.strip())
    regex = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            regex += ".*"
            i += 2
            continue
        regex += {"*": "[^/]*", "?": "."}.get(pattern[i], re.escape(pattern[i]))
        i += 1
    return re.fullmatch(regex, name) is not None


def _branch_allowed(name: str, include: Any, exclude: Any) -> bool:
    """GitHub/Azure branch filters: ordered ``!`` negations in include, or an exclude list."""
    if include is not None:
        allowed = False
        for pattern in (str(p) for p in _as_list(include)):
            negated = pattern.startswith("!")
            if _glob_matches(pattern[1:] if negated else pattern, name):
                allowed = not negated
        if not allowed:
            return False
    return not any(_glob_matches(str(p), name) for p in _as_list(exclude))


def _files(snap: Snapshot, system: str) -> list[str]:
    skip = set(snap.glob(*_cat()["skip"]))
    return [p for p in snap.glob(*_cat()["files"][system]) if p not in skip]


def _load_yaml(snap: Snapshot, scan: Scan, path: str) -> Any:
    """A CI file's YAML, or None (recorded as unparseable) when it cannot be read."""
    if path not in scan.files:
        scan.files.append(path)
    parsed = snap.yaml(path)
    if not parsed.ok:
        where = re.search(r"at line (\d+)", parsed.error or "")
        scan.unparseable[path] = Evidence(detail=f"unparseable: {parsed.error}", path=path,
                                          line=int(where.group(1)) if where else None)
        return None
    return parsed.value


def env_names(text: str) -> set[str]:
    """Environments named inside TEXT ("deploy-prod" -> prod, "ml_staging" -> staging)."""
    lowered = text.lower().replace("pre-prod", "preprod").replace("non-prod", "nonprod")
    words = _env_words()
    return {words[w] for w in re.split(r"[^a-z0-9]+", lowered) if w in words}


def _env_name(name: str) -> str:
    found = env_names(name)
    return found.pop() if len(found) == 1 else name.lower()


def _expand(text: str, values: Mapping[str, list[str]]) -> list[str]:
    """TEXT once per value of the matrix entries / inputs / parameters / variables it uses."""
    results = [text]
    for key, options in values.items():
        ref = re.compile(rf"\$\{{\{{\s*(matrix|inputs|parameters)\.{re.escape(key)}\s*\}}\}}"
                         rf"|\$\{{?{re.escape(key)}\b\}}?|\$\({re.escape(key)}\)")
        if any(ref.search(r) for r in results) and options:
            results = [ref.sub(option, r) for r in results for option in options][:20]
    return results


def _job_envs(environment: Any, values: Mapping[str, list[str]]) -> tuple[frozenset[str], bool]:
    """Environments a job deploys to from its ``environment:`` (name or {name}), expanded over
    the matrix / inputs it refers to; True when that gives several."""
    name = environment.get("name") if isinstance(environment, dict) else environment
    if not _scalar(name) or not str(name).strip():
        return frozenset(), False
    expanded = {_env_name(n) for n in _expand(str(name), values) if "$" not in n}
    return frozenset(expanded), len(expanded) > 1


def _command_envs(text: str, ctx: JobCtx) -> tuple[frozenset[str], bool]:
    """Environments one command deploys to: the values of an environment-like matrix entry,
    input, parameter or variable it uses; else its job's environment; else environment words
    in the command, then in the job's name."""
    env_key = _regex("env_keys")
    used: set[str] = set()
    for key, options in ctx.values.items():
        expanded = _expand(text, {key: options})
        if expanded != [text] and (env_key.search(key) or any(env_names(o) for o in options)):
            used |= {_env_name(o) for o in options}
    if used:
        return frozenset(used), len(used) > 1
    if ctx.envs:
        return ctx.envs, ctx.env_param
    named = env_names(text) or env_names(ctx.label.split(" (called by")[0])
    return frozenset(named), False


def _add(scan: Scan, ctx: JobCtx, text: str, *, line: int | None = None,
         classes: frozenset[str] | None = None, soft: str | None = None) -> None:
    envs, param = _command_envs(text, ctx)
    scan.commands.append(Command(
        ctx.system, ctx.path, line or ctx.line, text, ctx.label, ctx.runs,
        classify(text) if classes is None else classes, soft or ctx.soft, envs, param))


def _add_script(scan: Scan, ctx: JobCtx, script: str, errexit: bool, pipefail: bool,
                soft: str | None = None) -> None:
    """Each command line of a script, found in the file from the job's line on."""
    cursor = ctx.line
    for line in shell_lines(script, errexit, pipefail):
        number = _find(ctx.lines, line.first, cursor)
        cursor = number or cursor
        classes = classify(line.text)
        reason = soft or ctx.soft or (soft_reason(line) if classes else None)
        _add(scan, ctx, line.text, line=number, classes=classes, soft=reason)


class _Inputs(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _add_action(scan: Scan, ctx: JobCtx, section: str, name: str, shown: str,
                inputs: Any) -> None:
    """A GitHub action / Azure task / Bitbucket pipe: classified from the catalogue by name,
    optionally by one input (trivy's scan-type), or by the command/script its inputs hold."""
    inputs = inputs if isinstance(inputs, dict) else {}
    actions: dict[str, dict[str, Any]] = _cat()[section]
    key = name.lower().split("@")[0].rstrip("/")
    spec = actions.get(key) or actions.get("/".join(key.split("/")[:2])) or {}
    line = _find(ctx.lines, shown, ctx.line)
    soft = next((f"{k}: true" for k in ("soft_fail", "soft-fail", "continue-on-error")
                 if str(inputs.get(k)).lower() == "true"), None)
    if "class" in spec:
        wanted: dict[str, list[Any]] = spec.get("when") or {}
        ok = all(str(inputs.get(k)).lower() in [str(v).lower() for v in vs]
                 for k, vs in wanted.items())
        _add(scan, ctx, shown, line=line,
             classes=frozenset({spec["class"]}) if ok else frozenset(), soft=soft)
    elif "command" in spec:
        command = str(spec["command"]).format_map(
            _Inputs({str(k): str(v) for k, v in inputs.items()}))
        _add(scan, ctx, f"{shown} ({command.strip()})", line=line,
             classes=classify(command), soft=soft)
    else:
        _add(scan, ctx, shown, line=line, classes=frozenset(), soft=soft)
    for input_name in spec.get("script", []):
        if _scalar(inputs.get(input_name)):
            _add_script(scan, ctx, str(inputs[input_name]), errexit=True, pipefail=False)


# -- GitHub Actions -------------------------------------------------------------------------

def _github_values(event: str, ref: str, default: str, merged: bool = False) -> dict[str, Val]:
    is_pr = event.startswith("pull_request")
    ref_name = ref.split("/", 2)[2] if ref.startswith("refs/") else ref
    return {"github.event_name": event, "github.ref": ref, "github.ref_name": ref_name,
            "github.ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "github.base_ref": default if is_pr else "",
            "github.head_ref": FEATURE if is_pr else "",
            "github.event.pull_request.merged": merged if is_pr else None}


def _github_lookup(run: Run) -> Callable[[str], Val]:
    def look(name: str) -> Val:
        return run.values.get(name.lower(), UNKNOWN)
    return look


def _github_filter(spec: Any, key: str) -> PathFilter | None:
    if not isinstance(spec, dict) or (key not in spec and f"{key}-ignore" not in spec):
        return None
    include = spec.get(key)
    return PathFilter(tuple(str(p) for p in _as_list(include)) if include is not None else None,
                      tuple(str(p) for p in _as_list(spec.get(f"{key}-ignore"))))


def github_runs(on: Any, path: str, lines: list[str], default: str) -> list[Run]:
    """Runs of a workflow's ``on:`` (a string, a list or a mapping of events).

    A push to any branch counts as validating pull requests (their branches are pushed), as a
    GitLab branch pipeline does; ``pull_request`` closed-only workflows run after the merge.
    ``workflow_run`` counts as following a merge when its branches include the default branch.
    """
    if isinstance(on, str):
        events: dict[str, Any] = {on: None}
    elif isinstance(on, list):
        events = {str(e): None for e in on}
    elif isinstance(on, dict):
        events = {str(k): v for k, v in on.items()}
    else:
        events = {}
    runs: list[Run] = []
    for event, spec in events.items():
        line = _find_key(lines, event) or _find(lines, event)

        def run(kind: str, detail: str, ref: str, paths: PathFilter | None = None,
                merged: bool = False, event: str = event, line: int | None = line) -> None:
            runs.append(Run(kind, detail, path, line,
                            _github_values(event, ref, default, merged), paths))

        cfg = spec if isinstance(spec, dict) else {}
        if event in ("pull_request", "pull_request_target"):
            types = [str(t) for t in _as_list(cfg.get("types"))]
            if types and set(types) == {"closed"}:
                run("merge", f"{event} closed (after the merge)", "refs/pull/1/merge",
                    merged=True)
            else:
                ref = f"refs/heads/{default}" if event.endswith("target") else "refs/pull/1/merge"
                run("pr", event, ref, _github_filter(cfg, "paths"))
        elif event == "merge_group":
            run("pr", "merge_group (merge queue)", f"refs/heads/gh-readonly-queue/{default}/pr-1")
        elif event == "push":
            _github_push(cfg, default, run)
        elif event == "release":
            run("tag", "release", f"refs/tags/{TAG}")
        elif event == "schedule":
            for item in _as_list(spec):
                cron = str(item.get("cron")) if isinstance(item, dict) else "?"
                run("schedule", f"schedule (cron '{cron}')", f"refs/heads/{default}",
                    line=_find(lines, cron, line) or line)
        elif event == "workflow_dispatch":
            run("manual", "workflow_dispatch (started by hand)", f"refs/heads/{default}")
        elif event == "workflow_run":
            if _branch_allowed(default, cfg.get("branches"), cfg.get("branches-ignore")):
                run("merge", "workflow_run (after another workflow on the default branch)",
                    f"refs/heads/{default}")
        elif event != "workflow_call":
            run("other", event, "")
    return runs


def _github_push(cfg: dict[str, Any], default: str, run: Callable[..., None]) -> None:
    """Runs of ``on: push`` from its branch and tag filters (no filter: every branch and tag;
    branch filters only: no tags; tag filters only: no branches)."""
    has_branches = "branches" in cfg or "branches-ignore" in cfg
    has_tags = "tags" in cfg or "tags-ignore" in cfg
    paths = _github_filter(cfg, "paths")
    if has_branches or not has_tags:
        include, exclude = cfg.get("branches"), cfg.get("branches-ignore")
        if _branch_allowed(default, include, exclude):
            run("merge", f"push to {default}", f"refs/heads/{default}", paths)
        if _branch_allowed(FEATURE, include, exclude):
            run("pr", "push to any branch (pull request branches included)",
                f"refs/heads/{FEATURE}", paths)
    if (has_tags or not has_branches) and _branch_allowed(TAG, cfg.get("tags"),
                                                          cfg.get("tags-ignore")):
        run("tag", "push of a tag", f"refs/tags/{TAG}", paths)


def _matrix_values(strategy: Any) -> dict[str, list[str]]:
    """Values of each matrix key (lists and ``include`` entries; a computed matrix has none)."""
    matrix = _dig(strategy, "matrix")
    values: dict[str, list[str]] = {}
    if not isinstance(matrix, dict):
        return values
    for key, options in matrix.items():
        if key == "include":
            for entry in _as_list(options):
                for k, v in (entry.items() if isinstance(entry, dict) else []):
                    if _scalar(v):
                        values.setdefault(str(k), []).append(str(v))
        elif key != "exclude" and isinstance(options, list):
            values.setdefault(str(key), []).extend(str(o) for o in options if _scalar(o))
    return {k: list(dict.fromkeys(v)) for k, v in values.items()}


def _github_shell(shell: Any) -> tuple[bool, bool]:
    """(errexit, pipefail) of a run step's shell: the default is ``bash -e``; an explicit
    ``shell: bash`` adds pipefail; pwsh/cmd/python scripts fail on their last command only."""
    if not isinstance(shell, str):
        return True, False
    words = shell.split()
    if "{0}" in shell:
        return "-e" in shell or "errexit" in shell, "pipefail" in shell
    if words and words[0] == "bash":
        return True, True
    if words and words[0] in ("pwsh", "powershell", "cmd", "python"):
        return False, True
    return True, False


@dataclass(frozen=True)
class _Caller:
    runs: tuple[Run, ...]
    values: Mapping[str, list[str]]
    label: str
    path: str


def scan_github(snap: Snapshot, scan: Scan) -> None:
    """GitHub Actions workflows (``.github/workflows/*.yml``)."""
    for path in _files(snap, "github-actions"):
        _github_workflow(snap, scan, path, None, ())


def _github_workflow(snap: Snapshot, scan: Scan, path: str, caller: _Caller | None,
                     stack: tuple[str, ...]) -> None:
    """One workflow: standalone with its own ``on:``, or called (``uses: ./.github/workflows/
    x.yml``) with the caller job's runs and inputs."""
    doc = _load_yaml(snap, scan, path)
    if not isinstance(doc, dict):
        return
    lines = snap.lines(path)
    default = _default_branch("\n".join(lines))
    if caller is None:
        runs = tuple(github_runs(doc.get("on", doc.get(True)), path, lines, default))
        values: Mapping[str, list[str]] = {}
    else:
        runs, values = caller.runs, caller.values
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict):
        return
    shell = _dig(doc, "defaults", "run", "shell")
    job_runs: dict[str, tuple[Run, ...]] = {}
    for name in _needs_order(jobs):
        job = jobs[name]
        own = narrow(runs, job.get("if"), _github_lookup)
        if _skips_with_needs(job.get("if")):
            for need in _as_list(job.get("needs")):
                if str(need) in job_runs:
                    own = tuple(r for r in own if r in job_runs[str(need)])
        job_runs[name] = own
        line = _find_key(lines, name)
        label = f"job {name}" + (f" (called by {caller.path}: {caller.label})" if caller else "")
        if caller is None:
            scan.job("github-actions", path, line, name)
        matrix = {**values, **_matrix_values(job.get("strategy"))}
        if isinstance(job.get("uses"), str):
            _github_call(snap, scan, path, lines, name, job, own, matrix, stack)
            continue
        envs, param = _job_envs(job.get("environment"), matrix)
        soft = "continue-on-error: true (job)" if job.get("continue-on-error") is True else None
        ctx = JobCtx("github-actions", path, lines, label, line, own, soft, envs, param, matrix)
        job_shell = _dig(job, "defaults", "run", "shell") or shell
        _github_steps(snap, scan, ctx, job.get("steps"), job_shell, 0)


def _needs_order(jobs: dict[Any, Any]) -> list[str]:
    """Job names with every job after the jobs it needs (cycles broken arbitrarily)."""
    names = [str(n) for n, j in jobs.items() if isinstance(j, dict)]
    ordered: list[str] = []
    pending = list(names)
    for _ in range(len(names) + 1):
        for name in list(pending):
            needs = [str(n) for n in _as_list(jobs[name].get("needs"))]
            if all(n in ordered or n not in names for n in needs):
                ordered.append(name)
                pending.remove(name)
    return ordered + pending


def _github_call(snap: Snapshot, scan: Scan, path: str, lines: list[str], name: str,
                 job: dict[str, Any], runs: tuple[Run, ...], matrix: Mapping[str, list[str]],
                 stack: tuple[str, ...]) -> None:
    """A job calling a reusable workflow: a local one is read with this job's runs and inputs;
    another repository's is reported as unresolved."""
    target = str(job["uses"])
    line = _find(lines, target)
    if not target.startswith("./"):
        scan.note(path, line, f"job {name} calls a reusable workflow in another repository "
                              f"({target}); its steps were not read")
        ctx = JobCtx("github-actions", path, lines, f"job {name}", line, runs)
        _add_action(scan, ctx, "actions", target, f"uses: {target}", job.get("with"))
        return
    callee = posixpath.normpath(target[2:].split("@")[0])
    if callee in stack or callee == path or len(stack) >= MAX_DEPTH:
        scan.note(path, line, f"job {name}: reusable workflow {callee} calls itself or nests "
                              "too deeply; not followed")
        return
    if not snap.exists(callee):
        scan.note(path, line, f"job {name}: reusable workflow {callee} not found")
        return
    inputs: dict[str, list[str]] = {}
    for key, value in (job.get("with") or {}).items() if isinstance(job.get("with"), dict) else []:
        if _scalar(value):
            inputs[str(key)] = _expand(str(value), matrix)
    _github_workflow(snap, scan, callee, _Caller(runs, inputs, f"job {name}", path),
                     (*stack, path))


def _github_steps(snap: Snapshot, scan: Scan, ctx: JobCtx, steps: Any, shell: Any,
                  depth: int) -> None:
    """Steps of a job (or of a local composite action): ``run:`` scripts line by line, and
    ``uses:`` actions from the catalogue."""
    for step in _as_list(steps):
        if not isinstance(step, dict):
            continue
        runs = narrow(ctx.runs, step.get("if"), _github_lookup)
        soft = "continue-on-error: true" if step.get("continue-on-error") is True else None
        step_ctx = replace(ctx, runs=runs, soft=ctx.soft or soft)
        if _scalar(step.get("run")):
            errexit, pipefail = _github_shell(step.get("shell") or shell)
            _add_script(scan, step_ctx, str(step["run"]), errexit, pipefail)
        uses = step.get("uses")
        if not isinstance(uses, str):
            continue
        if uses.startswith("./") and depth < MAX_DEPTH:
            _github_local_action(snap, scan, step_ctx, uses, depth)
        else:
            _add_action(scan, step_ctx, "actions", uses, f"uses: {uses}", step.get("with"))


def _github_local_action(snap: Snapshot, scan: Scan, ctx: JobCtx, uses: str, depth: int) -> None:
    """A local composite action (``uses: ./.github/actions/x``): its steps run in the job."""
    folder = posixpath.normpath(uses[2:])
    path = next((p for p in (f"{folder}/action.yml", f"{folder}/action.yaml") if snap.exists(p)),
                None)
    if path is None:
        scan.note(ctx.path, _find(ctx.lines, uses, ctx.line), f"local action {folder} not found")
        return
    doc = _load_yaml(snap, scan, path)
    if _dig(doc, "runs", "using") != "composite":
        return
    lines = snap.lines(path)
    action_ctx = replace(ctx, path=path, lines=lines, line=_find_key(lines, "steps"))
    _github_steps(snap, scan, action_ctx, _dig(doc, "runs", "steps"), None, depth + 1)


# -- GitLab CI ------------------------------------------------------------------------------

_GITLAB_RESERVED = {"stages", "variables", "default", "include", "workflow", "image", "services",
                    "cache", "before_script", "after_script", "types", "spec"}


def _gitlab_runs(path: str, line: int | None, default: str) -> list[Run]:
    """The pipelines GitLab can create: merge request, feature branch, default branch, tag,
    schedule and run by hand (web), each with its predefined variables."""
    def run(kind: str, detail: str, source: str, branch: str | None, ref: str,
            tag: str | None, mr: bool) -> Run:
        values: dict[str, Val] = {
            "CI_PIPELINE_SOURCE": source, "CI_COMMIT_BRANCH": branch, "CI_COMMIT_REF_NAME": ref,
            "CI_COMMIT_TAG": tag, "CI_DEFAULT_BRANCH": default, "_mr": "1" if mr else None,
            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": default if mr else None,
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": FEATURE if mr else None,
            "CI_OPEN_MERGE_REQUESTS": UNKNOWN if branch == FEATURE else ("1" if mr else None),
            "CI_COMMIT_REF_PROTECTED": "true" if branch == default or tag else UNKNOWN}
        return Run(kind, detail, path, line, values)

    return [
        run("pr", "merge request pipeline", "merge_request_event", None, FEATURE, None, True),
        run("pr", "branch pipeline of a feature branch", "push", FEATURE, FEATURE, None, False),
        run("merge", f"push to the default branch ({default})", "push", default, default,
            None, False),
        run("tag", "tag pipeline", "push", None, TAG, TAG, False),
        run("schedule", "scheduled pipeline", "schedule", default, default, None, False),
        run("manual", "pipeline run by hand (web)", "web", default, default, None, False),
    ]


def _gitlab_lookup(run: Run) -> Callable[[str], Val]:
    def look(name: str) -> Val:
        key = name.strip("${}")
        if key in run.values:
            return run.values[key]
        if key.startswith("CI_MERGE_REQUEST_"):
            return run.values.get("_mr")
        return UNKNOWN
    return look


def _with_when(run: Run, when: str) -> Run | None:
    if when in ("never", "on_failure"):
        return None
    if when == "manual":
        return replace(run, kind="manual", detail=f"{run.detail}, started by hand "
                                                  "(when: manual)")
    return run


def _changes(value: Any) -> list[str] | None:
    if isinstance(value, dict):
        value = value.get("paths")
    return [str(v) for v in _as_list(value)] if value is not None else None


def gitlab_rules(rules: list[Any], run: Run, default_when: str) -> Run | None:
    """Apply ``rules:`` to one pipeline: the first rule whose ``if`` matches decides. A rule
    with ``changes:`` limits the job to those paths (the next rules still apply when they do
    not change). A condition that cannot be decided counts as matching, except for ``when:
    never`` rules."""
    filtered: list[str] = []
    whens: list[str] = []
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        condition = rule.get("if")
        node = parse_expression(str(condition)) if condition is not None else None
        result = True if condition is None else (
            truth(evaluate(node, _gitlab_lookup(run))) if node else None)
        if result is False:
            continue
        if rule.get("exists") is not None:
            result = None
        when = str(rule.get("when", default_when))
        if result is None and when == "never":
            continue
        changes = _changes(rule.get("changes"))
        if changes is not None:
            if when != "never":
                filtered += changes
                whens.append(when)
            continue
        if when == "never":
            break
        return _with_when(run, when)
    if not filtered:
        return None
    limited = replace(run, paths=PathFilter(tuple(filtered)))
    return _with_when(limited, "manual" if set(whens) == {"manual"} else "on_success")


def _gitlab_refs(refs: Any, run: Run) -> bool:
    """Does one pipeline match ``only``/``except`` refs (keywords, branch names, /regex/)?"""
    source = run.values.get("CI_PIPELINE_SOURCE")
    ref = run.values.get("CI_COMMIT_REF_NAME")
    keywords = {"branches": run.values.get("CI_COMMIT_BRANCH") is not None,
                "tags": run.values.get("CI_COMMIT_TAG") is not None,
                "merge_requests": source == "merge_request_event",
                "schedules": source == "schedule", "web": source == "web",
                "pushes": source == "push"}
    for item in (str(r) for r in _as_list(refs)):
        if item in keywords:
            hit: Val = keywords[item]
        elif _REGEX_LITERAL.fullmatch(item):
            hit = _regex_search(item, ref)
        else:
            hit = item == ref and source != "merge_request_event"
        if hit is True:
            return True
    return False


def _gitlab_only_except(job: dict[str, Any], run: Run, when: str) -> Run | None:
    """Legacy ``only:``/``except:`` (refs, variables, changes); without ``only`` a job runs for
    branches and tags."""
    only, exclude = job.get("only"), job.get("except")
    only_refs = only.get("refs") if isinstance(only, dict) else only
    if not _gitlab_refs(only_refs if only_refs is not None else ["branches", "tags"], run):
        return None
    look = _gitlab_lookup(run)
    if isinstance(only, dict) and only.get("variables") is not None:
        found = [truth(evaluate(n, look)) if (n := parse_expression(str(v))) else None
                 for v in _as_list(only.get("variables"))]
        if found and all(f is False for f in found):
            return None
    except_refs = exclude.get("refs") if isinstance(exclude, dict) else exclude
    if except_refs is not None and _gitlab_refs(except_refs, run):
        return None
    include = _changes(only.get("changes")) if isinstance(only, dict) else None
    ignore = _changes(exclude.get("changes")) if isinstance(exclude, dict) else None
    if include is not None or ignore:
        run = replace(run, paths=PathFilter(tuple(include) if include is not None else None,
                                            tuple(ignore or ())))
    return _with_when(run, when)


def gitlab_job_runs(job: dict[str, Any], runs: Iterable[Run],
                    config: dict[str, Any]) -> tuple[Run, ...]:
    """The pipelines a job runs in. A job without ``rules``/``only``/``except`` runs in every
    pipeline the workflow allows, so it validates merge requests unless ``workflow: rules``
    exclude both merge request and feature-branch pipelines."""
    when = str(job.get("when", "on_success"))
    rules = job.get("rules")
    result = []
    for run in runs:
        if isinstance(rules, list):
            decided = gitlab_rules(_gitlab_flatten(rules, config), run, when)
        elif "only" in job or "except" in job:
            decided = _gitlab_only_except(job, run, when)
        else:
            decided = _with_when(run, when)
        if decided is not None:
            result.append(decided)
    return tuple(result)


def _gitlab_reference(item: list[Any], config: dict[str, Any]) -> Any:
    """What a ``!reference [.job, key]`` tag points to (the tag itself is read as a list)."""
    if len(item) < 2 or not all(isinstance(k, str) for k in item) or item[0] not in config:
        return None
    node: Any = config
    for key in item:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _gitlab_flatten(items: Any, config: dict[str, Any], depth: int = 0) -> list[Any]:
    """Script lines or rules with nested lists and ``!reference`` tags resolved."""
    if isinstance(items, str):
        return [items]
    result: list[Any] = []
    for item in _as_list(items):
        if isinstance(item, list) and depth < MAX_DEPTH:
            target = _gitlab_reference(item, config)
            result += _gitlab_flatten(target if target is not None else item, config, depth + 1)
        elif item is not None:
            result.append(item)
    return result


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return override


def _gitlab_include_paths(snap: Snapshot, scan: Scan, path: str, include: Any) -> list[str]:
    """Local files of ``include:`` (a path, ``{local: ...}``, or a list of them; globs
    allowed). Remote, project, template and component includes are noted as unresolved."""
    found: list[str] = []
    lines = snap.lines(path)
    for item in _as_list(include):
        if isinstance(item, dict) and "local" not in item:
            kind = next((k for k in ("remote", "project", "template", "component") if k in item),
                        "include")
            target = str(item.get(kind, item))
            scan.note(path, _find(lines, target), f"unresolved {kind} include: {target} "
                                                  "(its jobs were not read)")
            continue
        target = str(item.get("local") if isinstance(item, dict) else item)
        if re.match(r"https?://", target):
            scan.note(path, _find(lines, target), f"unresolved remote include: {target}")
            continue
        local = target.lstrip("/")
        hits = snap.glob(local) if any(c in local for c in "*?") else (
            [local] if snap.exists(local) else [])
        if not hits:
            scan.note(path, _find(lines, target), f"included file {target} not found")
        found += hits
    return found


def _gitlab_load(snap: Snapshot, scan: Scan, path: str, seen: tuple[str, ...],
                 origin: dict[str, str]) -> dict[str, Any] | None:
    """A GitLab CI file merged with its local includes (the including file wins); ORIGIN maps
    each top-level key to the file that defines it."""
    doc = _load_yaml(snap, scan, path)
    if doc is None:
        return None
    if not isinstance(doc, dict):
        return {}
    merged: dict[str, Any] = {}
    if len(seen) < MAX_DEPTH:
        for included in _gitlab_include_paths(snap, scan, path, doc.get("include")):
            if included in seen or included == path:
                continue
            part = _gitlab_load(snap, scan, included, (*seen, path), origin)
            merged = _deep_merge(merged, part or {})
    for key in doc:
        origin[str(key)] = path
    result: dict[str, Any] = _deep_merge(merged, doc)
    return result


def _gitlab_extends(config: dict[str, Any], name: str, depth: int = 0) -> dict[str, Any]:
    """A job with the templates it ``extends:`` merged in (the job's own keys win)."""
    job = config.get(name)
    if not isinstance(job, dict) or depth > MAX_DEPTH:
        return {}
    merged: dict[str, Any] = {}
    for parent in _as_list(job.get("extends")):
        merged = _deep_merge(merged, _gitlab_extends(config, str(parent), depth + 1))
    result: dict[str, Any] = _deep_merge(merged, {k: v for k, v in job.items() if k != "extends"})
    return result


def _gitlab_owner(config: dict[str, Any], name: str, key: str, depth: int = 0) -> str | None:
    """The job or template whose ``key`` (script) a job ends up with through ``extends``."""
    job = config.get(name)
    if not isinstance(job, dict) or depth > MAX_DEPTH:
        return None
    if key in job:
        return name
    for parent in reversed(_as_list(job.get("extends"))):
        owner = _gitlab_owner(config, str(parent), key, depth + 1)
        if owner:
            return owner
    return None


def scan_gitlab(snap: Snapshot, scan: Scan) -> None:
    """GitLab CI: the root ``.gitlab-ci.yml`` with its local includes and child pipelines."""
    for path in _files(snap, "gitlab-ci"):
        if "/" not in path:
            _gitlab_pipeline(snap, scan, path, None, ())


def _gitlab_pipeline(snap: Snapshot, scan: Scan, path: str, parent: tuple[Run, ...] | None,
                     stack: tuple[str, ...]) -> None:
    """A GitLab pipeline file (the root one, or a child pipeline started by a job with the
    parent job's runs): ``workflow: rules`` filter the pipelines, then each job is read."""
    origin: dict[str, str] = {}
    config = _gitlab_load(snap, scan, path, stack, origin)
    if config is None:
        return
    lines = snap.lines(path)
    default = _default_branch("\n".join(lines))
    if parent is None:
        runs: tuple[Run, ...] = tuple(_gitlab_runs(path, None, default))
    else:
        runs = tuple(replace(r, values={**r.values, "CI_PIPELINE_SOURCE": "parent_pipeline"})
                     for r in parent)
    workflow_rules = _dig(config, "workflow", "rules")
    if isinstance(workflow_rules, list):
        rules = _gitlab_flatten(workflow_rules, config)
        runs = tuple(r for run in runs if (r := gitlab_rules(rules, run, "always")) is not None)
    for name in config:
        if (not isinstance(name, str) or name.startswith(".") or name in _GITLAB_RESERVED
                or not isinstance(config[name], dict)):
            continue
        job = _gitlab_extends(config, name)
        if not any(k in job for k in ("script", "trigger", "run")):
            continue
        _gitlab_job(snap, scan, config, origin, path, name, job, runs, stack)


def _gitlab_job(snap: Snapshot, scan: Scan, config: dict[str, Any], origin: dict[str, str],
                root: str, name: str, job: dict[str, Any], runs: tuple[Run, ...],
                stack: tuple[str, ...]) -> None:
    """One job with its templates merged: its pipelines, environment, ``allow_failure`` and
    its before_script + script lines (one shell session), cited where the script is written."""
    job_path = origin.get(name, root)
    job_lines = snap.lines(job_path)
    job_line = _find_key(job_lines, name)
    if not stack:
        scan.job("gitlab-ci", job_path, job_line, name)
    own = gitlab_job_runs(job, runs, config)
    if "schedule" not in str(_dig(config, "workflow", "rules")) + str(job.get("rules")) + str(
            job.get("only")):
        # Schedules are set up in GitLab, not in the file: only rules that single out
        # scheduled pipelines show that one exists.
        own = tuple(r for r in own if r.kind != "schedule")
    child = _dig(job, "trigger", "include")
    if child is not None:
        for child_path in _gitlab_include_paths(snap, scan, job_path, child):
            if child_path not in stack and len(stack) < MAX_DEPTH:
                _gitlab_pipeline(snap, scan, child_path, own, (*stack, root))
        return
    values = _gitlab_values(config, job)
    envs, param = _job_envs(job.get("environment"), values)
    if _dig(job, "environment", "action") in ("stop", "prepare", "verify", "access"):
        envs, param = frozenset(), False
    soft = "allow_failure: true" if job.get("allow_failure") is True else None
    owner = _gitlab_owner(config, name, "script") or name
    script_path = origin.get(owner, root)
    script_lines = snap.lines(script_path)
    ctx = JobCtx("gitlab-ci", script_path, script_lines, f"job {name}",
                 _find_key(script_lines, owner), own, soft, envs, param, values)
    defaults = _mapping(config.get("default"))
    before = job.get("before_script", defaults.get("before_script", config.get("before_script")))
    script = [str(s) for s in _gitlab_flatten(before, config) + _gitlab_flatten(
        job.get("script"), config) if _scalar(s)]
    _add_script(scan, ctx, "\n".join(script), errexit=True, pipefail=False)
    after = job.get("after_script", defaults.get("after_script", config.get("after_script")))
    after_lines = [str(s) for s in _gitlab_flatten(after, config) if _scalar(s)]
    _add_script(scan, ctx, "\n".join(after_lines), errexit=True, pipefail=False,
                soft="after_script: its failure does not fail the job")


def _gitlab_values(config: dict[str, Any], job: dict[str, Any]) -> dict[str, list[str]]:
    """Variables (global and job) and ``parallel: matrix`` values a job's commands can use."""
    values: dict[str, list[str]] = {}
    for source in (config.get("variables"), job.get("variables")):
        for key, value in (source.items() if isinstance(source, dict) else []):
            value = value.get("value") if isinstance(value, dict) else value
            if _scalar(value):
                values[str(key)] = [str(value)]
    for entry in _as_list(_dig(job, "parallel", "matrix")):
        for key, options in (entry.items() if isinstance(entry, dict) else []):
            values.setdefault(str(key), [])
            values[str(key)] += [str(o) for o in _as_list(options) if _scalar(o)]
    return values


# -- Azure Pipelines ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Az:
    """Where Azure Pipelines items are read: their file, parameters and the runs so far."""

    path: str
    lines: list[str]
    runs: tuple[Run, ...]
    params: Mapping[str, Any]
    stack: tuple[str, ...] = ()
    stage: str = ""


def _azure_lookup(run: Run) -> Callable[[str], Val]:
    def look(name: str) -> Val:
        key = re.sub(r"^variables\.", "", name, flags=re.I).lower()
        return run.values.get(key, UNKNOWN)
    return look


def _azure_values(reason: str, ref: str, default: str) -> dict[str, Val]:
    return {"build.reason": reason, "build.sourcebranch": ref,
            "build.sourcebranchname": ref.rsplit("/", 1)[-1],
            "system.pullrequest.targetbranch": f"refs/heads/{default}"
            if reason == "PullRequest" else None}


def _azure_branches(spec: Any) -> tuple[Any, Any]:
    """(include, exclude) of an Azure branch or path filter (a list, or include/exclude)."""
    if isinstance(spec, dict):
        return spec.get("include"), spec.get("exclude")
    return spec, None


def azure_runs(doc: dict[str, Any], path: str, lines: list[str], default: str) -> list[Run]:
    """Runs of a pipeline's ``trigger:``, ``pr:`` and ``schedules:``.

    No ``trigger:`` means a push to any branch runs it; no ``pr:`` means pull requests run it
    (true for GitHub-hosted code; on Azure Repos, branch policies decide, which the repository
    does not show); ``none`` disables either. A pipeline with no automatic trigger runs by hand.
    """
    runs: list[Run] = []
    trigger = doc.get("trigger")
    if trigger != "none":
        spec = trigger if isinstance(trigger, dict) else {"branches": trigger}
        include, exclude = _azure_branches(spec.get("branches"))
        paths = _azure_paths(spec.get("paths"))
        line = _find_key(lines, "trigger") if "trigger" in doc else None
        absent = " (no trigger: every branch)" if trigger is None else ""
        if _branch_allowed(default, include, exclude):
            runs.append(Run("merge", f"CI trigger on {default}{absent}", path, line,
                            _azure_values("IndividualCI", f"refs/heads/{default}", default),
                            paths))
        if _branch_allowed(FEATURE, include, exclude):
            runs.append(Run("pr", f"CI trigger on every branch{absent}", path, line,
                            _azure_values("IndividualCI", f"refs/heads/{FEATURE}", default),
                            paths))
        tags_in, tags_out = _azure_branches(spec.get("tags"))
        if tags_in is not None and _branch_allowed(TAG, tags_in, tags_out):
            runs.append(Run("tag", "CI trigger on tags", path, line,
                            _azure_values("IndividualCI", f"refs/tags/{TAG}", default), paths))
    pr = doc.get("pr")
    if pr != "none":
        spec = pr if isinstance(pr, dict) else {"branches": pr}
        include, exclude = _azure_branches(spec.get("branches"))
        paths = _azure_paths(spec.get("paths"))
        if include is None or _branch_allowed(default, include, exclude):
            detail = "pr trigger" if "pr" in doc else "pull requests (no pr: section)"
            runs.append(Run("pr", detail, path, _find_key(lines, "pr") if "pr" in doc else None,
                            _azure_values("PullRequest", "refs/pull/1/merge", default), paths))
    for item in _as_list(doc.get("schedules")):
        if isinstance(item, dict):
            cron = str(item.get("cron"))
            runs.append(Run("schedule", f"schedule (cron '{cron}')", path, _find(lines, cron),
                            _azure_values("Schedule", f"refs/heads/{default}", default)))
    if not runs:
        runs.append(Run("manual", "no automatic trigger (runs by hand)", path, None,
                        _azure_values("Manual", f"refs/heads/{default}", default)))
    return runs


def _azure_paths(spec: Any) -> PathFilter | None:
    if not spec:
        return None
    include, exclude = _azure_branches(spec)
    return PathFilter(tuple(str(p) for p in _as_list(include)) if include else None,
                      tuple(str(p) for p in _as_list(exclude)))


def _subst(text: str, params: Mapping[str, Any]) -> str:
    """``${{ parameters.name }}`` replaced by the value passed to a template."""
    def value(match: re.Match[str]) -> str:
        found = params.get(match.group(1))
        return str(found) if _scalar(found) else match.group(0)
    return re.sub(r"\$\{\{\s*parameters\.([\w-]+)\s*\}\}", value, text)


def _template_refs(value: Any, depth: int = 0) -> list[str]:
    if depth > 40:
        return []
    if isinstance(value, dict):
        found = [str(v) for k, v in value.items() if k == "template" and isinstance(v, str)]
        return found + [r for v in value.values() for r in _template_refs(v, depth + 1)]
    if isinstance(value, list):
        return [r for v in value for r in _template_refs(v, depth + 1)]
    return []


def _azure_path(ref: str, base: str) -> str:
    if ref.startswith("/"):
        return posixpath.normpath(ref.lstrip("/"))
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), ref))


def _looks_like_azure(doc: Any) -> bool:
    return isinstance(doc, dict) and any(k in doc for k in ("trigger", "pr", "schedules")) and (
        any(isinstance(doc.get(k), list) for k in ("stages", "jobs", "steps")) or "extends" in doc)


def scan_azure(snap: Snapshot, scan: Scan) -> None:
    """Azure Pipelines: every pipeline file that no other one uses as a ``template:``."""
    named = _files(snap, "azure-pipelines")
    ci_files = set(_files(snap, "github-actions")) | set(_files(snap, "gitlab-ci"))
    sniffed = [p for p in _files(snap, "azure-sniff")
               if p not in named and p not in ci_files and _looks_like_azure(snap.yaml(p).value)]
    candidates = named + sniffed
    templates = {_azure_path(ref, p) for p in candidates
                 for ref in _template_refs(snap.yaml(p).value) if "@" not in ref}
    for path in candidates:
        if path not in templates:
            _azure_pipeline(snap, scan, path)
        elif path not in scan.files:
            scan.files.append(path)


def _azure_pipeline(snap: Snapshot, scan: Scan, path: str) -> None:
    """A root pipeline file: its triggers, then its body."""
    doc = _load_yaml(snap, scan, path)
    if not isinstance(doc, dict):
        return
    lines = snap.lines(path)
    runs = tuple(azure_runs(doc, path, lines, _default_branch("\n".join(lines))))
    _azure_body(snap, scan, _Az(path, lines, runs, {}), doc)


def _azure_template(snap: Snapshot, scan: Scan, az: _Az, item: dict[str, Any]
                    ) -> tuple[_Az, dict[str, Any]] | None:
    """A local ``template:`` with its parameters (defaults, then the values passed)."""
    ref = _subst(str(item["template"]), az.params)
    line = _find(az.lines, ref)
    if "@" in ref:
        scan.note(az.path, line, f"template {ref} is in another repository; not read")
        return None
    path = _azure_path(ref, az.path)
    if path in az.stack or path == az.path or len(az.stack) >= MAX_DEPTH:
        scan.note(az.path, line, f"template {ref} includes itself or nests too deeply")
        return None
    if not snap.exists(path):
        scan.note(az.path, line, f"template {ref} not found")
        return None
    doc = _load_yaml(snap, scan, path)
    if not isinstance(doc, dict):
        return None
    params: dict[str, Any] = {}
    declared = doc.get("parameters")
    if isinstance(declared, list):
        params = {str(p["name"]): p.get("default") for p in declared
                  if isinstance(p, dict) and "name" in p}
    elif isinstance(declared, dict):
        params = {str(k): v for k, v in declared.items()}
    given = item.get("parameters")
    for key, value in (given.items() if isinstance(given, dict) else []):
        params[str(key)] = _subst(str(value), az.params) if _scalar(value) else value
    return replace(az, path=path, lines=snap.lines(path), params=params,
                   stack=(*az.stack, az.path)), doc


def _azure_items(items: Any, runs: tuple[Run, ...], params: Mapping[str, Any],
                 depth: int = 0) -> list[tuple[dict[str, Any], tuple[Run, ...]]]:
    """Items of a stages/jobs/steps list with template conditionals (``${{ if ... }}:``)
    opened: their items run only when the condition may hold."""
    result: list[tuple[dict[str, Any], tuple[Run, ...]]] = []
    for item in _as_list(items):
        if not isinstance(item, dict):
            continue
        keys = list(item)
        if len(keys) == 1 and isinstance(keys[0], str) and keys[0].startswith("${{"):
            condition = re.match(r"\$\{\{\s*(?:else)?if\s+(.*?)\s*\}\}$", keys[0])
            inner = runs
            if condition:
                inner = narrow(runs, _subst(condition.group(1), params), _azure_lookup)
            if depth < MAX_DEPTH:
                result += _azure_items(item[keys[0]], inner, params, depth + 1)
            continue
        result.append((item, runs))
    return result


def _narrow_azure(runs: tuple[Run, ...], condition: Any, params: Mapping[str, Any]
                  ) -> tuple[Run, ...]:
    return narrow(runs, _subst(str(condition), params) if condition is not None else None,
                  _azure_lookup)


def _azure_body(snap: Snapshot, scan: Scan, az: _Az, doc: dict[str, Any]) -> None:
    """A pipeline or template body: ``extends``, then stages, jobs or steps."""
    if isinstance(doc.get("extends"), dict) and "template" in doc["extends"]:
        loaded = _azure_template(snap, scan, az, doc["extends"])
        if loaded:
            _azure_body(snap, scan, loaded[0], loaded[1])
    if isinstance(doc.get("stages"), list):
        _azure_stages(snap, scan, az, doc["stages"])
    elif isinstance(doc.get("jobs"), list):
        _azure_jobs(snap, scan, az, doc["jobs"])
    elif isinstance(doc.get("steps"), list):
        _azure_job(snap, scan, az, {"job": "(steps)", "steps": doc["steps"]}, az.runs)


def _azure_stages(snap: Snapshot, scan: Scan, az: _Az, stages: list[Any]) -> None:
    """Stages; by default a stage depends on the one before and is skipped when it is."""
    done: dict[str, tuple[Run, ...]] = {}
    previous: str | None = None
    for item, runs in _azure_items(stages, az.runs, az.params):
        if "template" in item:
            loaded = _azure_template(snap, scan, replace(az, runs=runs), item)
            if loaded:
                _azure_body(snap, scan, loaded[0], loaded[1])
            continue
        name = str(item.get("stage", ""))
        own = _narrow_azure(runs, item.get("condition"), az.params)
        needs = _as_list(item.get("dependsOn")) if "dependsOn" in item else (
            [previous] if previous else [])
        if item.get("condition") is None or "succeeded" in str(item.get("condition")):
            for need in needs:
                if str(need) in done:
                    own = tuple(r for r in own if r in done[str(need)])
        done[name] = own
        previous = name
        _azure_jobs(snap, scan, replace(az, runs=own, stage=name), item.get("jobs"))


def _azure_jobs(snap: Snapshot, scan: Scan, az: _Az, jobs: Any) -> None:
    done: dict[str, tuple[Run, ...]] = {}
    for item, runs in _azure_items(jobs, az.runs, az.params):
        if "template" in item:
            loaded = _azure_template(snap, scan, replace(az, runs=runs), item)
            if loaded:
                _azure_body(snap, scan, loaded[0], loaded[1])
            continue
        own = runs
        if item.get("condition") is None or "succeeded" in str(item.get("condition")):
            for need in _as_list(item.get("dependsOn")):
                if str(need) in done:
                    own = tuple(r for r in own if r in done[str(need)])
        name = str(item.get("deployment") or item.get("job") or "")
        done[name] = _azure_job(snap, scan, az, item, own)


def _azure_job(snap: Snapshot, scan: Scan, az: _Az, item: dict[str, Any],
               runs: tuple[Run, ...]) -> tuple[Run, ...]:
    """A job or deployment job: condition, continueOnError, environment, matrix and steps."""
    name = _subst(str(item.get("deployment") or item.get("job") or "(job)"), az.params)
    line = _find_key(az.lines, name)
    scan.job("azure-pipelines", az.path, line, f"{az.stage}/{name}" if az.stage else name)
    own = _narrow_azure(runs, item.get("condition"), az.params)
    values: dict[str, list[str]] = {k: [str(v)] for k, v in az.params.items() if _scalar(v)}
    matrix = _dig(item, "strategy", "matrix")
    for leg in (matrix.values() if isinstance(matrix, dict) else []):
        for key, value in (leg.items() if isinstance(leg, dict) else []):
            if _scalar(value):
                values.setdefault(str(key), []).append(str(value))
    environment = item.get("environment")
    env_name = environment.get("name") if isinstance(environment, dict) else environment
    envs, param = _job_envs(_subst(str(env_name), az.params).split(".")[0]
                            if _scalar(env_name) else None, values)
    soft = "continueOnError: true" if item.get("continueOnError") is True else None
    label = f"job {az.stage + '/' if az.stage else ''}{name}"
    ctx = JobCtx("azure-pipelines", az.path, az.lines, label, line, own, soft, envs, param, values)
    steps = list(_as_list(item.get("steps")))
    strategy = _mapping(item.get("strategy"))
    for kind in ("runOnce", "rolling", "canary"):
        for hook in ("preDeploy", "deploy", "routeTraffic", "postRouteTraffic"):
            steps += _as_list(_dig(strategy, kind, hook, "steps"))
    _azure_steps(snap, scan, ctx, replace(az, runs=own), steps)
    return own


def _azure_steps(snap: Snapshot, scan: Scan, ctx: JobCtx, az: _Az, steps: list[Any]) -> None:
    """Script steps (``script``, ``bash``, ``pwsh``, ``powershell``: no ``set -e`` unless the
    script sets it), tasks from the catalogue, and step templates."""
    for item, runs in _azure_items(steps, ctx.runs, az.params):
        if item.get("enabled") is False:
            continue
        if "template" in item:
            loaded = _azure_template(snap, scan, replace(az, runs=runs), item)
            if loaded:
                inner, doc = loaded
                inner_ctx = replace(ctx, path=inner.path, lines=inner.lines, runs=runs,
                                    line=_find_key(inner.lines, "steps"))
                _azure_steps(snap, scan, inner_ctx, inner, _as_list(doc.get("steps")))
            continue
        own = _narrow_azure(runs, item.get("condition"), az.params)
        soft = "continueOnError: true" if item.get("continueOnError") is True else None
        step_ctx = replace(ctx, runs=own, soft=ctx.soft or soft)
        for key in ("script", "bash", "pwsh", "powershell"):
            if _scalar(item.get(key)):
                _add_script(scan, step_ctx, _subst(str(item[key]), az.params), errexit=False,
                            pipefail=False)
        if isinstance(item.get("task"), str):
            task = str(item["task"])
            inputs = _mapping(item.get("inputs"))
            inputs = {k: _subst(str(v), az.params) if _scalar(v) else v for k, v in inputs.items()}
            _add_action(scan, step_ctx, "azure_tasks", task.split("@")[0], f"task: {task}",
                        inputs)


# -- Jenkins, CircleCI, Bitbucket Pipelines -------------------------------------------------

_JENKINS_STEP = re.compile(
    r"""\b(?:sh|bat|powershell|pwsh)\b\s*\(?\s*(?:script\s*:\s*)?('''|\"\"\"|'|")(.*?)\1""",
    re.S)
_JENKINS_STAGE = re.compile(r"""\bstage\s*\(\s*['"]([^'"]+)['"]\s*\)\s*\{""")


def _block_end(text: str, start: int) -> int:
    """Index after the ``}`` closing the ``{`` at START (quotes and comments not parsed)."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


def _jenkins_stage_runs(block: str, base: list[Run], path: str, default: str
                        ) -> tuple[Run, ...]:
    """Runs of a stage from its ``when { }``: branch, changeRequest(), buildingTag(); an
    ``input`` step makes it manual. Conditions it does not read keep every run."""
    when = re.search(r"\bwhen\s*\{", block)
    runs = list(base)
    if when:
        condition = block[when.end() - 1 : _block_end(block, when.end() - 1)]
        kinds: set[str] = set()
        if re.search(r"\bchangeRequest\s*\(", condition):
            kinds.add("pr")
        for pattern in re.findall(r"""\bbranch\s*(?:\(\s*)?(?:pattern\s*:\s*)?['"]([^'"]+)""",
                                  condition):
            kinds |= {"merge"} if _glob_matches(pattern, default) else set()
            kinds |= {"pr"} if _glob_matches(pattern, FEATURE) else set()
        if re.search(r"""\b(buildingTag\s*\(|tag\s+['"])""", condition):
            kinds.add("tag")
            runs.append(Run("tag", "Jenkins build of a tag", path, None))
        unread = re.search(r"\b(not|anyOf|expression|environment|triggeredBy)\b", condition)
        if kinds and not unread:
            runs = [r for r in runs if r.kind in kinds]
    if re.search(r"\binput\s*[({]", block):
        runs = [replace(r, kind="manual", detail=f"{r.detail}, confirmed by hand (input)")
                for r in runs]
    return tuple(runs)


def scan_jenkins(snap: Snapshot, scan: Scan) -> None:
    """Jenkinsfiles, read as text: ``sh``/``bat``/``powershell`` steps inside ``stage`` blocks.
    A multibranch pipeline builds every branch and change request unless ``when`` says
    otherwise; ``triggers { cron(...) }`` schedules it."""
    for path in _files(snap, "jenkins"):
        scan.files.append(path)
        parsed = snap.text(path)
        if not parsed.ok:
            scan.unparseable[path] = Evidence(detail=f"unparseable: {parsed.error}", path=path)
            continue
        text = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), parsed.value,
                      flags=re.S)
        lines = text.split("\n")
        default = _default_branch(text)
        base = [Run("pr", "Jenkins build of a change request or feature branch", path, None),
                Run("merge", f"Jenkins build of {default}", path, None)]
        cron = re.search(r"\b(cron|pollSCM)\s*\(\s*['\"]([^'\"]*)", text)
        if cron:
            line = text[: cron.start()].count("\n") + 1
            base.append(Run("schedule", f"Jenkins {cron.group(1)} '{cron.group(2)}'", path, line))
        stages = [(m.group(1), m.start(), _block_end(text, m.end() - 1))
                  for m in _JENKINS_STAGE.finditer(text)]
        for name, start, _ in stages:
            scan.job("jenkins", path, text[:start].count("\n") + 1, name)
        for step in _JENKINS_STEP.finditer(text):
            line = text[: step.start()].count("\n") + 1
            if common.is_comment(lines[line - 1], "//"):
                continue
            inside = [s for s in stages if s[1] <= step.start() < s[2]]
            stage = max(inside, key=lambda s: s[1]) if inside else None
            runs = _jenkins_stage_runs(text[stage[1] : stage[2]], base, path, default) \
                if stage else tuple(base)
            tail = text[step.end() : step.end() + 120]
            soft = "returnStatus: true" if re.match(r"[^)]*returnStatus\s*:\s*true", tail) \
                else None
            ctx = JobCtx("jenkins", path, lines, f"stage {stage[0] if stage else '(pipeline)'}",
                         line, runs, soft)
            _add_script(scan, ctx, step.group(2), errexit=True, pipefail=False)


def scan_circleci(snap: Snapshot, scan: Scan) -> None:
    """CircleCI: jobs run from ``workflows`` with branch/tag filters, scheduled triggers and
    approval jobs (a job after an approval runs by hand). Scripts run with ``bash -eo
    pipefail``."""
    for path in _files(snap, "circleci"):
        doc = _load_yaml(snap, scan, path)
        if not isinstance(doc, dict):
            continue
        lines = snap.lines(path)
        default = _default_branch("\n".join(lines))
        jobs = _mapping(doc.get("jobs"))
        workflows = _mapping(doc.get("workflows"))
        if not workflows and "build" in jobs:
            workflows = {"(default)": {"jobs": ["build"]}}
        for workflow in workflows.values():
            if isinstance(workflow, dict):
                _circleci_workflow(scan, path, lines, default, jobs, workflow)


def _circleci_workflow(scan: Scan, path: str, lines: list[str], default: str,
                       jobs: dict[str, Any], workflow: dict[str, Any]) -> None:
    schedules = [_dig(t, "schedule", "cron") for t in _as_list(workflow.get("triggers"))]
    manual: set[str] = set()
    for entry in _as_list(workflow.get("jobs")):
        name, spec = (next(iter(entry.items())) if isinstance(entry, dict) and entry
                      else (entry, {}))
        spec = spec if isinstance(spec, dict) else {}
        alias = str(spec.get("name", name))
        if spec.get("type") == "approval" or any(str(r) in manual
                                                 for r in _as_list(spec.get("requires"))):
            manual.add(alias)
            if spec.get("type") == "approval":
                continue
        runs = _circleci_runs(path, lines, default, spec.get("filters"), schedules)
        if alias in manual:
            runs = [replace(r, kind="manual", detail=f"{r.detail}, after an approval job")
                    for r in runs]
        line = _find_key(lines, str(name))
        scan.job("circleci", path, line, alias)
        job = jobs.get(str(name))
        values = {str(k): [str(x) for x in _as_list(v) if _scalar(x)]
                  for k, v in (_dig(spec, "matrix", "parameters") or {}).items()}
        ctx = JobCtx("circleci", path, lines, f"job {alias}", line, tuple(runs),
                     values=values)
        if not isinstance(job, dict):
            _add(scan, ctx, f"orb job {name}", classes=frozenset())
            continue
        for step in _as_list(job.get("steps")):
            command = _dig(step, "run", "command") if isinstance(_dig(step, "run"), dict) \
                else _dig(step, "run")
            if _scalar(command):
                _add_script(scan, ctx, str(command), errexit=True, pipefail=True)


def _circleci_runs(path: str, lines: list[str], default: str, filters: Any,
                   schedules: list[Any]) -> list[Run]:
    """Runs of a workflow job: scheduled triggers, else branch/tag ``only``/``ignore`` filters
    (every branch and no tag by default)."""
    if schedules:
        return [Run("schedule", f"scheduled workflow (cron '{c}')", path, _find(lines, str(c)))
                for c in schedules]

    def allowed(spec: Any, name: str) -> bool:
        only, ignore = _dig(spec, "only"), _dig(spec, "ignore")

        def hit(patterns: Any) -> bool:
            return any(_regex_search(p, name) is True if _REGEX_LITERAL.fullmatch(str(p))
                       else str(p) == name for p in _as_list(patterns))
        return (only is None or hit(only)) and not hit(ignore)

    runs = []
    branches, tags = _dig(filters, "branches"), _dig(filters, "tags")
    if allowed(branches, default):
        runs.append(Run("merge", f"push to {default}", path, None))
    if allowed(branches, FEATURE):
        runs.append(Run("pr", "push to any branch (pull request branches included)", path, None))
    if _dig(tags, "only") is not None and allowed(tags, TAG):
        runs.append(Run("tag", "push of a tag", path, None))
    return runs


def scan_bitbucket(snap: Snapshot, scan: Scan) -> None:
    """Bitbucket Pipelines: ``default`` (every branch without its own pipeline), ``branches``,
    ``pull-requests``, ``tags`` and ``custom`` (by hand); ``trigger: manual`` steps; pipes from
    the catalogue."""
    for path in _files(snap, "bitbucket-pipelines"):
        doc = _load_yaml(snap, scan, path)
        pipelines = _dig(doc, "pipelines")
        if not isinstance(pipelines, dict):
            continue
        lines = snap.lines(path)
        default = _default_branch("\n".join(lines))
        branches = _mapping(pipelines.get("branches"))
        own_default = any(_glob_matches(str(p), default) for p in branches)
        sections: list[tuple[str, Any, list[Run]]] = []
        line = _find_key(lines, "default")
        base = [Run("pr", "push to any branch (default pipeline)", path, line)]
        if not own_default:
            base.append(Run("merge", f"push to {default} (default pipeline)", path, line))
        sections.append(("default", pipelines.get("default"), base))
        for pattern, items in branches.items():
            line = _find_key(lines, str(pattern))
            runs = [Run("merge", f"push to {default} (branches: {pattern})", path, line)] \
                if _glob_matches(str(pattern), default) else []
            if _glob_matches(str(pattern), FEATURE):
                runs.append(Run("pr", f"push to a feature branch (branches: {pattern})", path,
                                line))
            sections.append((f"branches {pattern}", items, runs))
        for key, kind in (("pull-requests", "pr"), ("tags", "tag"), ("custom", "manual")):
            block = pipelines.get(key)
            for pattern, items in (block.items() if isinstance(block, dict) else []):
                line = _find_key(lines, str(pattern))
                sections.append((f"{key} {pattern}", items,
                                 [Run(kind, f"{key}: {pattern}", path, line)]))
        for name, items, runs in sections:
            _bitbucket_steps(scan, path, lines, name, items, tuple(runs), 0)


def _bitbucket_steps(scan: Scan, path: str, lines: list[str], section: str, items: Any,
                     runs: tuple[Run, ...], depth: int) -> None:
    for item in _as_list(items):
        if not isinstance(item, dict) or depth > MAX_DEPTH:
            continue
        nested = item.get("parallel", _dig(item, "stage"))
        if nested is not None:
            inner = nested.get("steps") if isinstance(nested, dict) else nested
            stage_runs = runs
            if _dig(item, "stage", "trigger") == "manual":
                stage_runs = tuple(replace(r, kind="manual") for r in runs)
            _bitbucket_steps(scan, path, lines, section, inner, stage_runs, depth + 1)
            continue
        step = item.get("step")
        if not isinstance(step, dict):
            continue
        name = str(step.get("name", section))
        line = _find(lines, name) if "name" in step else _find_key(lines, section)
        scan.job("bitbucket-pipelines", path, line, name)
        own = runs if step.get("trigger") != "manual" else tuple(
            replace(r, kind="manual", detail=f"{r.detail}, trigger: manual") for r in runs)
        envs, _ = _job_envs(step.get("deployment"), {})
        ctx = JobCtx("bitbucket-pipelines", path, lines, f"step {name}", line, own,
                     envs=envs)
        for script_line in _as_list(step.get("script")):
            if isinstance(script_line, dict) and isinstance(script_line.get("pipe"), str):
                pipe = str(script_line["pipe"])
                _add_action(scan, ctx, "bitbucket_pipes", pipe.split(":")[0], f"pipe: {pipe}",
                            script_line.get("variables"))
            elif _scalar(script_line):
                _add_script(scan, ctx, str(script_line), errexit=True, pipefail=False)
        after = [str(s) for s in _as_list(step.get("after-script")) if _scalar(s)]
        _add_script(scan, ctx, "\n".join(after), errexit=True, pipefail=False,
                    soft="after-script: its failure does not fail the step")


# -- AWS CodePipeline and CodeBuild ---------------------------------------------------------
#
# A pipeline is read from CloudFormation (AWS::CodePipeline::Pipeline) or from CDK code read as
# text, into actions; the actions become jobs of the same model as the other systems. Source
# actions give the runs, CodeBuild actions run their buildspec's commands (a script a command
# runs is followed one level), deploy actions deploy by provider.

@dataclass
class _Action:
    """One action of a pipeline stage, read from CloudFormation or CDK."""

    stage: str
    name: str
    category: str  # source, build, test, deploy, approval, invoke
    provider: str
    line: int | None
    position: int = 0  # index of its stage
    order: int = 1  # RunOrder inside the stage
    branch: str | None = None  # source: the branch it watches
    idle: str | None = None  # source: why it never starts the pipeline
    buildspec: str | None = None  # build: a buildspec file of the repository
    inline: tuple[tuple[str, int | None], ...] = ()  # build: commands written in the pipeline
    classes: frozenset[str] = frozenset()  # deploy: what it does
    text: str = ""  # deploy: the command it stands for
    about: str = ""  # deploy: what it applies, for the evidence
    target: str | None = None  # deploy: the stack it applies (see _same_stack)
    missing: str | None = None  # what could not be resolved


@dataclass
class _Pipeline:
    """A pipeline's actions and the runs that start it besides its source actions."""

    path: str
    name: str
    line: int | None
    own: str | None  # the stack that defines it: "template:<file>" or "cdk-app:<folder>"
    actions: list[_Action] = field(default_factory=list)
    events: list[Run] = field(default_factory=list)
    triggers: dict[str, list[Run]] = field(default_factory=dict)  # source action -> its runs


@cache
def _cp() -> dict[str, Any]:
    cat: dict[str, Any] = _cat()["codepipeline"]
    return cat


def _words(name: str) -> str:
    """``DeployModelDev`` -> ``Deploy Model Dev``, so environment words in names are seen."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)


def scan_codepipeline(snap: Snapshot, scan: Scan) -> None:
    """AWS CodePipeline pipelines defined in CloudFormation templates or CDK code, with the
    CodeBuild buildspecs their actions run."""
    skip = set(snap.glob(*_cp()["skip"]))
    for path in snap.glob(*_cp()["templates"]):
        if path not in skip and snap.size(path) <= _cp()["max_bytes"]:
            text = snap.text(path)
            if text.ok and _cp()["template_marker"] in text.value:
                _cfn_file(snap, scan, path)
    marker = re.compile(_cp()["cdk_marker"])
    for path in snap.glob(*_cp()["cdk_code"]):
        if path not in skip and snap.size(path) <= _cp()["max_bytes"]:
            text = snap.text(path)
            if text.ok and marker.search(text.value) and "Pipeline" in text.value:
                _cdk_file(snap, scan, path, text.value)


def _unread(scan: Scan, path: str, line: int | None, what: str) -> None:
    """Part of a pipeline this reader could not resolve: facts it might decide stay unknown
    when nothing else decides them."""
    scan.unread.setdefault(path, common.at(path, line, f"AWS CodePipeline: {what}"))
    scan.note(path, line, what)


def _pipeline_jobs(snap: Snapshot, scan: Scan, pipe: _Pipeline) -> None:
    """The actions of one pipeline as jobs, in stage and run order.

    A pipeline whose buildspec is not in the repository builds another repository (a template
    for projects elsewhere): it is left unread. Every action runs on what starts the pipeline
    (its sources, rules and triggers). A manual
    approval does not make the actions after it manual: the pipeline was started by the push
    and continues by itself once someone approves, which is continuous delivery with a review
    gate, not a developer deploying by hand; the evidence names the approval. When every IaC
    apply of the pipeline is known to target stacks other than the pipeline's own (no
    self-update), those applies carry the reason they leave infrastructure to hand deployment.
    """
    foreign = next((a.buildspec for a in pipe.actions
                    if a.buildspec and not snap.exists(a.buildspec)), None)
    if foreign:
        _unread(scan, pipe.path, pipe.line, f"pipeline {pipe.name} builds another repository "
                                            f"(its buildspec {foreign} is not in this one)")
        return
    runs = _source_runs(scan, pipe) + pipe.events
    if not runs:
        runs = [Run("other", "no trigger found in the repository (started by hand or by a rule "
                             "defined elsewhere)", pipe.path, pipe.line)]
    lines = snap.lines(pipe.path)
    if pipe.actions and not any(a.category == "source" for a in pipe.actions):
        _unread(scan, pipe.path, pipe.line, f"pipeline {pipe.name}: its source is not defined "
                                            "in this file")
    gates = [(a.position, a.order, f"{a.stage}/{a.name}") for a in pipe.actions
             if a.category == "approval"]
    applies: list[tuple[int, str | None]] = []
    for action in sorted(pipe.actions, key=lambda a: (a.position, a.order)):
        gate = next((g for p, o, g in gates if (p, o) < (action.position, action.order)), None)
        own_runs = tuple(replace(r, detail=f"{r.detail}, after approval {gate}")
                         for r in runs) if gate else tuple(runs)
        about = f" ({action.about})" if action.about else ""
        label = f"{pipe.name}/{action.stage}/{action.name}{about}"
        scan.job("aws-codepipeline", pipe.path, action.line,
                 f"{pipe.name}: {action.stage}/{action.name}")
        envs = frozenset(env_names(_words(f"{action.stage} {action.name}")))
        ctx = JobCtx("aws-codepipeline", pipe.path, lines, label, action.line, own_runs,
                     envs=envs)
        if action.missing:
            _unread(scan, pipe.path, action.line, f"pipeline {pipe.name} action "
                                                  f"{action.name}: {action.missing}")
            continue
        applies += _action_commands(snap, scan, ctx, action)
    if pipe.own and applies and all(t is not None and not _same_stack(pipe.own, t)
                                    for _, t in applies):
        where = pipe.own.split(":", 1)[1] or "the repository root"
        scope = f"not the pipeline's own stack ({where}): deployed by hand"
        for index, _ in applies:
            scan.commands[index] = replace(scan.commands[index], scope=scope)


def _action_commands(snap: Snapshot, scan: Scan, ctx: JobCtx, action: _Action
                     ) -> list[tuple[int, str | None]]:
    """Commands of one action; returns the IaC applies among them (index in scan.commands, the
    stack each applies or None when unknown)."""
    if action.category == "approval":
        _add(scan, ctx, f"manual approval {action.name}", classes=frozenset())
        return []
    if action.category == "deploy":
        _add(scan, ctx, action.text, classes=action.classes)
        return [(len(scan.commands) - 1, action.target)] if "deploy_iac" in action.classes \
            else []
    if action.buildspec is not None:
        return _buildspec(snap, scan, ctx, action.buildspec)
    if action.inline:
        return _run_entries(snap, scan, ctx, [(t, n, None) for t, n in action.inline])
    if action.category != "source":
        _add(scan, ctx, f"{action.provider} {action.category} {action.name}",
             classes=frozenset())
    return []


def _same_stack(own: str, target: str) -> bool:
    """May TARGET be the pipeline's OWN stack? Templates compare by file name (a packaged copy
    keeps the name), CDK apps by folder; a CDK Pipelines stage is another stack of its app. A
    template deployed by a CDK pipeline may be the app's own: True when it cannot be told."""
    own_kind, own_name = own.split(":", 1)
    kind, name = target.split(":", 1)
    if own_kind == kind == "template":
        stem = posixpath.splitext(posixpath.basename(own_name))[0].lower()
        return stem in posixpath.basename(name).lower()
    if own_kind == kind:
        return own_name == name
    return kind != "cdk-stage"


# -- CodeBuild buildspecs and the scripts they run ------------------------------------------

def _buildspec(snap: Snapshot, scan: Scan, ctx: JobCtx, path: str
               ) -> list[tuple[int, str | None]]:
    """The commands of a buildspec file (``phases: {install, pre_build, build, post_build}:
    commands``), run in the action's runs."""
    doc = _load_yaml(snap, scan, path)
    lines = snap.lines(path)
    spec_ctx = replace(ctx, path=path, lines=lines, line=_find_key(lines, "phases"))
    return _run_entries(snap, scan, spec_ctx, buildspec_commands(doc))


def buildspec_commands(doc: Any) -> list[tuple[str, int | None, str | None]]:
    """Command entries of a parsed buildspec, phase by phase: (script, None, why its failure
    does not fail the build). A phase with ``on-failure: CONTINUE`` does not fail it."""
    entries: list[tuple[str, int | None, str | None]] = []
    for name, phase in _mapping(_dig(doc, "phases")).items():
        if not isinstance(phase, dict):
            continue
        soft = f"on-failure: CONTINUE ({name} phase)" if str(
            phase.get("on-failure", "")).upper().startswith("CONTINUE") else None
        for key in ("commands", "finally"):
            entries += [(str(c), None, soft) for c in _as_list(phase.get(key)) if _scalar(c)]
    return entries


def _run_entries(snap: Snapshot, scan: Scan, ctx: JobCtx,
                 entries: list[tuple[str, int | None, str | None]]
                 ) -> list[tuple[int, str | None]]:
    """Command entries of a CodeBuild job, in one shell whose directory changes (``cd``,
    ``pushd``, ``popd``) carry over; each entry fails the build on its last line's failure. A
    script an entry runs (``bash scripts/deploy.sh``) is followed one level. Returns the IaC
    applies with the stack each applies."""
    applies: list[tuple[int, str | None]] = []
    cwd: str | None = ""
    stack: list[str | None] = []
    cursor = ctx.line
    for script, given, entry_soft in entries:
        for line in shell_lines(script, errexit=False, pipefail=False):
            number = given or _find(ctx.lines, line.first, cursor)
            cursor = number or cursor
            cwd = _chdir(cwd, stack, line.text)
            classes = classify(line.text)
            soft = entry_soft or (soft_reason(line) if classes else None)
            _add(scan, ctx, line.text, line=number, classes=classes, soft=soft)
            if "deploy_iac" in classes:
                applies.append((len(scan.commands) - 1, _iac_target(snap, line.text, cwd)))
            parts = split_shell(line.text)
            if len(parts) > 1 and parts[0][1] == "||" and _regex("masking").search(parts[1][0]):
                soft = soft or f"`|| {parts[1][0]}` swallows the script's failure"
            applies += _followed(snap, scan, ctx, line.text, cwd, soft)
    return applies


def _followed(snap: Snapshot, scan: Scan, ctx: JobCtx, text: str, cwd: str | None,
              soft: str | None) -> list[tuple[int, str | None]]:
    """The lines of the repository's shell script (or make target) a command line runs, each
    a command of the job; a line whose failure the script ignores (no ``set -e``, ``|| true``)
    does not count."""
    steps = _script_steps(snap, text, cwd)
    if not steps:
        return []
    if steps[0].path not in scan.files:
        scan.files.append(steps[0].path)
    applies: list[tuple[int, str | None]] = []
    here: str | None = cwd
    stack: list[str | None] = []
    lines = snap.lines(steps[0].path)
    script_ctx = replace(ctx, path=steps[0].path, lines=lines)
    for step in steps:
        here = _chdir(here, stack, step.text)
        classes = classify(step.text)
        reason = soft or (None if step.fails else "its failure is ignored by the script (no "
                                                   "`set -e` and not the last line)")
        if classes and not reason:
            reason = soft_reason(ShellLine(0, step.text, step.text, True, False, True))
        if step.path != script_ctx.path:
            script_ctx = replace(ctx, path=step.path, lines=snap.lines(step.path))
        _add(scan, script_ctx, step.text, line=step.line, classes=classes, soft=reason)
        if "deploy_iac" in classes:
            applies.append((len(scan.commands) - 1, _iac_target(snap, step.text, here)))
    return applies


def _script_steps(snap: Snapshot, text: str, cwd: str | None) -> list[precommit.Step] | None:
    """The steps of the script or make target that the first command of TEXT runs, found from
    the directory CWD (``bash ./scripts/x.sh``, ``sh -e x.sh``, ``./x.sh``, ``make target``)."""
    first = split_shell(text)[0][0]
    try:
        words = shlex.split(first)
    except ValueError:
        return None
    if not words or cwd is None:
        return None
    if posixpath.basename(words[0]) in ("make", "gmake"):
        return precommit.follow(snap, first) if cwd == "" else None
    errexit = False
    if words[0] in ("bash", "sh", "zsh", "source", "."):
        flags = [w for w in words[1:] if w.startswith("-")]
        if "-c" in flags:
            return None
        errexit = any("e" in f for f in flags if not f.startswith("--"))
        words = [w for w in words[1:] if not w.startswith("-")]
    elif not words[0].endswith((".sh", ".bash")):
        return None
    path = _join(cwd, words[0]) if words and "$" not in words[0] else None
    if path is None or not snap.exists(path):
        return None
    return precommit.script_steps(snap, path, errexit)


def _join(cwd: str, relative: str) -> str | None:
    """A repository path from a working directory and a relative path; None outside it."""
    if relative.startswith(("/", "~")):
        return None
    path = posixpath.normpath(posixpath.join(cwd, relative))
    return None if path.startswith("..") else ("" if path == "." else path)


def _chdir(cwd: str | None, stack: list[str | None], text: str) -> str | None:
    """The working directory after the ``cd``/``pushd``/``popd`` commands of a line (None
    when it cannot be told: a variable, ``cd -``, the home folder)."""
    for segment, _ in split_shell(text):
        words = segment.split()
        if not words or words[0] not in ("cd", "pushd", "popd"):
            continue
        if words[0] == "popd":
            cwd = stack.pop() if stack else None
            continue
        if words[0] == "pushd":
            stack.append(cwd)
        target = words[1].strip("'\"") if len(words) > 1 else "~"
        if target in ("$CODEBUILD_SRC_DIR", "${CODEBUILD_SRC_DIR}"):
            cwd = ""
        elif cwd is None or "$" in target or target == "-":
            cwd = None
        else:
            cwd = _join(cwd, target)
    return cwd


def _cdk_app(snap: Snapshot, folder: str) -> str | None:
    """The CDK app a folder belongs to: the nearest folder at or above it with a cdk.json."""
    while True:
        if snap.exists(posixpath.join(folder, "cdk.json")):
            return folder
        if not folder:
            return None
        folder = posixpath.dirname(folder)


def _iac_target(snap: Snapshot, text: str, cwd: str | None) -> str | None:
    """The stack an IaC apply command applies: ``cdk deploy`` the CDK app of its directory,
    a CloudFormation or SAM deploy the template it names; None when it cannot be told."""
    for segment, _ in split_shell(text):
        if "deploy_iac" not in _segment_classes(segment):
            continue
        if re.search(r"\bcdk\s+deploy\b", segment):
            app = _cdk_app(snap, cwd) if cwd is not None else None
            return f"cdk-app:{app}" if app is not None else None
        named = re.search(r"(?:--template(?:-file|-body|-url)?[= ]|\s-t\s+)\s*(\S+)", segment)
        if named and "$" not in named.group(1):
            return "template:" + posixpath.basename(named.group(1).strip("'\""))
        return None
    return None


# -- CodePipeline in CloudFormation ---------------------------------------------------------

def _cfn_file(snap: Snapshot, scan: Scan, path: str) -> None:
    """The pipelines of one CloudFormation template (YAML or JSON; ``!Ref``/``!Sub`` tags read
    as plain data, parameters resolved to their defaults)."""
    parsed = snap.json(path) if path.lower().endswith(".json") else snap.yaml(path)
    if not parsed.ok:
        scan.unparseable[path] = Evidence(detail=f"unparseable: {parsed.error}", path=path)
        return
    resources = _mapping(_dig(parsed.value, "Resources"))
    pipelines = [n for n, r in resources.items() if isinstance(r, dict)
                 and r.get("Type") == "AWS::CodePipeline::Pipeline"]
    if not pipelines:
        return
    scan.files.append(path)
    params = {str(k): v.get("Default") for k, v in
              _mapping(_dig(parsed.value, "Parameters")).items() if isinstance(v, dict)}
    lines = snap.lines(path)
    used: set[str] = set()
    for name in pipelines:
        pipe = _cfn_pipeline(path, lines, str(name), resources, params, used)
        _cfn_rules(scan, pipe, resources, lines)
        _pipeline_jobs(snap, scan, pipe)
    for name, res in resources.items():
        if _dig(res, "Type") == "AWS::CodeBuild::Project" and name not in used and \
                _dig(res, "Properties", "Triggers", "Webhook") in (True, "true", "True"):
            _unread(scan, path, _find_key(lines, str(name)),
                    f"CodeBuild project {name} has its own webhook triggers; not read")


def _cfn_value(value: Any, params: Mapping[str, Any]) -> str | None:
    """A scalar, a ``Ref`` to a parameter with a default (``!Ref X`` reads as ``X``), or the
    text of a ``Sub``; None for other intrinsic functions."""
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if key == "Ref":
            value = inner
        elif key == "Fn::Sub":
            value = inner[0] if isinstance(inner, list) and inner else inner
        else:
            return None
    if isinstance(value, str) and value in params and _scalar(params[value]):
        return str(params[value])
    return str(value) if _scalar(value) else None


def _cfn_line(lines: list[str], name: str, start: int | None) -> int | None:
    """Line of ``Name: NAME`` (YAML or JSON) from line START on."""
    pattern = re.compile(rf"""\bName["']?\s*:\s*["']?{re.escape(name)}["']?\s*,?\s*(#.*)?$""")
    for index in _search_order(start, len(lines)):
        if pattern.search(lines[index]):
            return index + 1
    return _find(lines, name, start)


def _cfn_pipeline(path: str, lines: list[str], name: str, resources: dict[Any, Any],
                  params: Mapping[str, Any], used: set[str]) -> _Pipeline:
    """One ``AWS::CodePipeline::Pipeline``: its stages' actions (Category/Provider of
    ActionTypeId, Configuration, RunOrder) and its V2 ``Triggers``."""
    props = _mapping(_dig(resources, name, "Properties"))
    line = _find_key(lines, name)
    pipe = _Pipeline(path, name, line, f"template:{path}")
    cursor = line
    for position, stage in enumerate(_as_list(props.get("Stages"))):
        stage_name = str(_dig(stage, "Name") or f"stage {position + 1}")
        for item in _as_list(_dig(stage, "Actions")):
            if not isinstance(item, dict):
                continue
            action_name = str(item.get("Name") or "action")
            cursor = _cfn_line(lines, action_name, cursor) or cursor
            action = _Action(stage_name, action_name,
                             str(_dig(item, "ActionTypeId", "Category") or "").lower(),
                             str(_dig(item, "ActionTypeId", "Provider") or ""), cursor,
                             position, _int(item.get("RunOrder")))
            config = _mapping(item.get("Configuration"))
            if action.provider == "Commands":
                action.inline = tuple((str(c), None) for c in _as_list(item.get("Commands"))
                                      if _scalar(c))
            pipe.actions.append(_cfn_action(action, config, resources, params, used))
    for trigger in _as_list(props.get("Triggers")):
        git = _mapping(_dig(trigger, "GitConfiguration"))
        source = str(git.get("SourceActionName") or "")
        pipe.triggers[source] = _cfn_trigger_runs(path, lines, git)
    return pipe


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 1


def _cfn_action(action: _Action, config: dict[str, Any], resources: dict[Any, Any],
                params: Mapping[str, Any], used: set[str]) -> _Action:
    """What one CloudFormation action does, from its category, provider and configuration."""
    if action.category == "source":
        action.branch = _cfn_value(config.get("BranchName"), params)
        if action.provider == "S3":
            action.branch = _cfn_value(config.get("S3ObjectKey"), params)
        if str(config.get("DetectChanges", "true")).lower() == "false":
            action.idle = "DetectChanges: false"
        elif str(config.get("PollForSourceChanges", "true")).lower() == "false":
            action.idle = "PollForSourceChanges: false"  # cleared by an event rule
        return action
    if action.category in ("build", "test") and action.provider == "CodeBuild":
        return _cfn_codebuild(action, config, resources, params, used)
    if action.category == "deploy":
        return _deploy_action(action, config, params)
    if action.category not in ("approval", "invoke") and action.provider != "Commands":
        action.missing = f"{action.provider} {action.category} action not read"
    return action


def _cfn_codebuild(action: _Action, config: dict[str, Any], resources: dict[Any, Any],
                   params: Mapping[str, Any], used: set[str]) -> _Action:
    """A CodeBuild action: the project it names (``!Ref Project`` or the project's Name) and
    that project's BuildSpec: a file of the repository (``buildspec.yml`` when none is given)
    or an inline buildspec."""
    ref = config.get("ProjectName")
    ref = ref.get("Ref") if isinstance(ref, dict) else ref
    project = next((str(n) for n, r in resources.items() if _dig(r, "Type") ==
                    "AWS::CodeBuild::Project" and (n == ref or _cfn_value(
                        _dig(r, "Properties", "Name"), params) == ref)), None)
    if project is None:
        action.missing = f"CodeBuild project {ref} is not defined in this template"
        return action
    used.add(project)
    spec = _dig(resources, project, "Properties", "Source", "BuildSpec")
    if spec is None:
        action.buildspec = "buildspec.yml"
    elif isinstance(spec, str) and spec.strip().startswith("arn:"):
        action.missing = f"the buildspec of CodeBuild project {project} is in S3 ({spec})"
    elif isinstance(spec, str) and "\n" not in spec.strip() and "phases" not in spec:
        action.buildspec = posixpath.normpath(spec.strip().lstrip("/") or "buildspec.yml")
    elif isinstance(spec, str):
        try:
            doc = parsers.load_yaml(spec)
        except parsers.ParseError:
            action.missing = f"the inline buildspec of CodeBuild project {project} cannot be " \
                             "parsed"
            return action
        action.inline = tuple((text, None) for text, _, _ in buildspec_commands(doc))
    else:
        action.missing = f"the BuildSpec of CodeBuild project {project} is not a literal"
    return action


def _deploy_action(action: _Action, config: Mapping[str, Any],
                   params: Mapping[str, Any]) -> _Action:
    """A deploy action: CloudFormation applies a template to a stack (a change set only
    previews, a delete deploys nothing); the providers of the catalogue deploy an application.
    The command shown names the stack or the target, so the same deployment to several
    environments has one shape."""
    if action.provider == "CloudFormation":
        mode = str(config.get("ActionMode") or "CREATE_UPDATE").upper()
        kind = _cp()["cloudformation_modes"].get(mode, "none")
        action.classes = frozenset() if kind == "none" else frozenset({kind})
        stack = _cfn_value(config.get("StackName"), params) or _words(action.name)
        template = str(_cfn_value(config.get("TemplatePath"), params) or "").split("::")[-1]
        action.text = f"CloudFormation deploy: stack {stack}"
        action.about = (f"{mode}: " if kind != "deploy_iac" else "") + (template or "template")
        action.target = f"template:{template}" if template else None
        return action
    kind = _cp()["deploy_providers"].get(action.provider)
    action.classes = frozenset({kind}) if kind else frozenset()
    named = [f"{key} {_cfn_value(config.get(key), params)}" for key in _cp()["deploy_keys"]
             if _cfn_value(config.get(key), params)]
    action.text = f"{action.provider} deploy: " + (", ".join(named) or _words(action.name))
    return action


def _cfn_trigger_runs(path: str, lines: list[str], git: dict[str, Any]) -> list[Run]:
    """Runs of a V2 pipeline trigger: pushes filtered by branches (a feature branch push counts
    as pull-request validation, as elsewhere) or tags, and pull requests."""
    runs: list[Run] = []
    line = _find_key(lines, "GitConfiguration")
    for push in _as_list(git.get("Push")):
        include = _dig(push, "Branches", "Includes")
        exclude = _dig(push, "Branches", "Excludes")
        paths = _cfn_paths(push)
        if _dig(push, "Tags") is not None:
            runs.append(Run("tag", "push of a tag (pipeline trigger)", path, line, paths=paths))
        if _dig(push, "Branches") is None and _dig(push, "Tags") is not None:
            continue
        default = _default_branch(" ".join(map(str, _as_list(include))))
        if _branch_allowed(default, include, exclude):
            runs.append(Run("merge", f"push to {default} (pipeline trigger)", path, line,
                            paths=paths))
        if _branch_allowed(FEATURE, include, exclude):
            runs.append(Run("pr", "push to a feature branch (pipeline trigger)", path, line,
                            paths=paths))
    for request in _as_list(git.get("PullRequest")):
        events = ", ".join(map(str, _as_list(_dig(request, "Events")))) or "any event"
        runs.append(Run("pr", f"pull request ({events}; pipeline trigger)", path, line,
                        paths=_cfn_paths(request)))
    return runs


def _cfn_paths(spec: Any) -> PathFilter | None:
    files = _dig(spec, "FilePaths")
    if not isinstance(files, dict):
        return None
    include = files.get("Includes")
    return PathFilter(tuple(map(str, _as_list(include))) if include is not None else None,
                      tuple(map(str, _as_list(files.get("Excludes")))))


def _cfn_rules(scan: Scan, pipe: _Pipeline, resources: dict[Any, Any], lines: list[str]
               ) -> None:
    """EventBridge rules of the template that start the pipeline: a schedule, events of the
    repository or bucket a source polls no more (they restore that source's trigger), or
    other events (an alarm); a disabled rule starts nothing. A CodePipeline webhook restores
    the trigger of a GitHub source."""
    target = re.compile(rf"(?<![\w]){re.escape(pipe.name)}(?![\w])")
    for name, res in resources.items():
        props = _mapping(_dig(res, "Properties"))
        if _dig(res, "Type") == "AWS::CodePipeline::Webhook" and \
                target.search(str(props.get("TargetPipeline"))):
            _restore(pipe, {"GitHub"})
            continue
        if _dig(res, "Type") != "AWS::Events::Rule" or not any(
                target.search(str(_dig(t, "Arn"))) for t in _as_list(props.get("Targets"))):
            continue
        line = _find_key(lines, str(name))
        if str(props.get("State", "ENABLED")).upper() == "DISABLED":
            scan.note(pipe.path, line, f"rule {name} would start pipeline {pipe.name} but is "
                                       "disabled")
            continue
        sources = [str(s) for s in _as_list(_dig(props, "EventPattern", "source"))]
        if props.get("ScheduleExpression"):
            pipe.events.append(Run("schedule", f"schedule {props['ScheduleExpression']} (rule "
                                               f"{name})", pipe.path, line))
        events = {"aws.codecommit": "CodeCommit", "aws.s3": "S3"}
        _restore(pipe, {events[s] for s in sources if s in events})
        others = [s for s in sources if s not in ("aws.codecommit", "aws.s3")]
        if others:
            pipe.events.append(Run("other", f"rule {name} on {', '.join(others)} events",
                                   pipe.path, line))


def _restore(pipe: _Pipeline, providers: set[str]) -> None:
    """Sources of these providers that stopped polling are started by a rule or webhook."""
    for action in pipe.actions:
        if action.category == "source" and action.provider in providers and \
                action.idle == "PollForSourceChanges: false":
            action.idle = None


def _source_runs(scan: Scan, pipe: _Pipeline) -> list[Run]:
    """Runs of the pipeline's source actions: a push to the branch a repository source
    watches (a merge to that branch: a pipeline follows one branch), an upload to an S3 source
    (data, not a code push) or an image push; a source that does not detect changes starts
    nothing. A V2 trigger replaces its source's default runs."""
    runs: list[Run] = []
    for action in pipe.actions:
        if action.category != "source":
            continue
        if action.name in pipe.triggers:
            runs += pipe.triggers[action.name]
            continue
        if action.idle:
            scan.note(pipe.path, action.line, f"source {action.name} of pipeline {pipe.name} "
                                              f"starts nothing ({action.idle}, no rule)")
            continue
        if action.provider in _cp()["branch_sources"]:
            branch = action.branch or "the configured branch"
            runs.append(Run("merge", f"push to {branch} (source {action.name})", pipe.path,
                            action.line))
        elif action.provider == "S3":
            runs.append(Run("other", f"upload of {action.branch or 'an object'} to S3 (source "
                                     f"{action.name}: data, not a code push)", pipe.path,
                            action.line))
        else:
            runs.append(Run("other", f"{action.provider} source {action.name} changes",
                            pipe.path, action.line))
    return runs


# -- CodePipeline in CDK code (TypeScript or Python, read as text) --------------------------

@dataclass(frozen=True)
class _Call:
    """A call in CDK code: ``new a.b.Name(...)`` / ``a.b.name(...)`` and where its arguments
    are (offsets of the parentheses)."""

    dotted: str
    start: int
    open: int
    close: int

    @property
    def name(self) -> str:
        return self.dotted.rsplit(".", 1)[-1]

    @property
    def receiver(self) -> str:
        return self.dotted.rsplit(".", 1)[0] if "." in self.dotted else ""


@dataclass
class _Code:
    """CDK source read as text: comments blanked (offsets kept), its calls, and the calls bound
    to variables (``const x = new A(...)``, ``this.x = ...``, ``x = A(...)``)."""

    path: str
    text: str
    python: bool
    newlines: list[int] = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)
    binds: dict[str, list[_Call]] = field(default_factory=dict)
    bound: dict[int, str] = field(default_factory=dict)  # open paren of a call -> variable
    closes: dict[int, int] = field(default_factory=dict)  # opening bracket -> its closing one
    depths: list[int] = field(default_factory=list)  # bracket depth at the start of each line

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.newlines, offset - 1) + 1

    def close(self, index: int) -> int:
        """Index of the bracket closing the one at INDEX; the end of the text when none."""
        return self.closes.get(index, len(self.text))


_CALL_HEAD = re.compile(r"(?<![\w$.])(?:new\s+)?([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*)"
                        r"\s*\(")
_BIND = re.compile(r"^[ \t]*(?:(?:export\s+)?(?:const|let|var)\s+)?((?:this\.|self\.)?"
                   r"[A-Za-z_$][\w$]*)[ \t]*(?::[^=\n;]*)?=(?!=)[ \t]*", re.M)
_KEYED = re.compile(r"""^['"]?([A-Za-z_$][\w$]*)['"]?\s*(?::|=(?!=))\s*""")
MAX_CALLS = 2000  # calls read from one CDK file
MAX_PIPELINES = 20  # pipelines read from one CDK file


def _norm(name: str) -> str:
    """A name compared across TypeScript and Python (``buildSpec`` / ``build_spec``)."""
    return name.replace("_", "").lower()


def _skip_string(code: str, index: int) -> int:
    """Index after the string literal whose quote is at INDEX (Python triple quotes too)."""
    quote = code[index : index + 3] if code[index : index + 3] in ("'''", '"""') else code[index]
    pos = index + len(quote)
    while pos < len(code):
        if code[pos] == "\\":
            pos += 2
            continue
        if code.startswith(quote, pos):
            return pos + len(quote)
        if code[pos] == "\n" and quote in ("'", '"'):
            return pos
        pos += 1
    return len(code)


_INTERESTING = re.compile(r"['\"`#/]")


def blank_comments(text: str, python: bool) -> str:
    """TEXT with comments replaced by spaces (``#`` in Python; ``//`` and ``/* */``
    otherwise), strings kept, so offsets and lines stay where they were."""
    out: list[str] = []
    index = 0
    while index < len(text):
        match = _INTERESTING.search(text, index)
        if match is None:
            out.append(text[index:])
            break
        out.append(text[index : match.start()])
        index = match.start()
        char = text[index]
        if char in "'\"" or (char == "`" and not python):
            end = _skip_string(text, index)
            out.append(text[index:end])
            index = end
            continue
        if (python and char == "#") or (not python and text.startswith("//", index)):
            end = text.find("\n", index)
            end = len(text) if end < 0 else end
        elif not python and text.startswith("/*", index):
            end = text.find("*/", index + 2)
            end = len(text) if end < 0 else end + 2
        else:
            out.append(char)
            index += 1
            continue
        out.append(re.sub(r"[^\n]", " ", text[index:end]))
        index = end
    return "".join(out)


def _mask_strings(code: str, python: bool) -> str:
    """CODE with the insides of string literals blanked, so a call written in a string or a
    docstring is not taken for code."""
    out: list[str] = []
    index = 0
    quotes = re.compile(r"['\"]" if python else r"['\"`]")
    while index < len(code):
        match = quotes.search(code, index)
        if match is None:
            out.append(code[index:])
            break
        end = _skip_string(code, match.start())
        out.append(code[index : match.start() + 1])
        out.append(re.sub(r"[^\n]", " ", code[match.start() + 1 : end - 1]))
        out.append(code[end - 1 : end] if end > match.start() + 1 else "")
        index = max(end, match.start() + 1)
    return "".join(out)


def _brackets(code: str, python: bool) -> tuple[dict[int, int], list[int]]:
    """One pass over CODE (strings skipped): each opening bracket's closing one, and the depth
    of parentheses and brackets (and, in Python, braces) at the start of each line."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    counted = "([{" if python else "(["
    closes: dict[int, int] = {}
    stack: list[int] = []
    depths = [0]
    depth = 0
    pos = 0
    while pos < len(code):
        char = code[pos]
        if char in "'\"`":
            end = _skip_string(code, pos)
            depths += [depth] * code.count("\n", pos, end)
            pos = end
            continue
        if char in pairs:
            stack.append(pos)
            depth += char in counted
        elif char in ")]}" and stack and pairs[code[stack[-1]]] == char:
            opened = stack.pop()
            closes[opened] = pos
            depth -= code[opened] in counted
        elif char == "\n":
            depths.append(depth)
        pos += 1
    return closes, depths


def _split(src: _Code, start: int, end: int) -> list[tuple[int, str]]:
    """The comma-separated parts of the text from START to END at bracket depth 0, each with
    its offset."""
    code = src.text
    parts: list[tuple[int, str]] = []
    pos = begin = start
    while pos < end:
        char = code[pos]
        if char in "'\"`":
            pos = _skip_string(code, pos)
            continue
        if char in "([{":
            pos = src.close(pos) + 1
            continue
        if char == ",":
            parts.append((begin, code[begin:pos]))
            begin = pos + 1
        pos += 1
    parts.append((begin, code[begin:end]))
    result = []
    for offset, text in parts:
        stripped = text.strip()
        if stripped:
            result.append((offset + len(text) - len(text.lstrip()), stripped))
    return result


def _call_at(src: _Code, offset: int) -> _Call | None:
    match = _CALL_HEAD.match(src.text, offset)
    if not match:
        return None
    open_at = match.end() - 1
    return _Call(re.sub(r"\s+", "", match.group(1)), offset, open_at, src.close(open_at))


def read_cdk(path: str, text: str) -> _Code:
    """CDK code with its calls and variable bindings (a binding counts at bracket depth 0 of a
    statement, so a keyword argument ``project=X(...)`` is not a variable)."""
    python = path.endswith(".py")
    code = blank_comments(text, python)
    masked = _mask_strings(code, python)
    closes, depths = _brackets(code, python)
    src = _Code(path, code, python, [i for i, c in enumerate(code) if c == "\n"],
                closes=closes, depths=depths)
    for match in _CALL_HEAD.finditer(masked):
        if len(src.calls) >= MAX_CALLS:
            break
        call = _call_at(src, match.start())
        if call is not None:
            src.calls.append(call)
    by_open = {c.open: c for c in src.calls}
    for match in _BIND.finditer(masked):
        head = _CALL_HEAD.match(code, match.end())
        if head is None or src.depths[src.line(match.start()) - 1] > 0:
            continue
        call = by_open.get(head.end() - 1)
        if call is not None:
            name = re.sub(r"^(this|self)\.", "", match.group(1))
            src.binds.setdefault(name, []).append(call)
            src.bound[call.open] = name
    return src


def _args(src: _Code, call: _Call) -> list[tuple[int, str]]:
    return _split(src, call.open + 1, call.close)


def _props(src: _Code, call: _Call) -> dict[str, tuple[int, str]]:
    """Keyword arguments (Python) and the keys of object-literal arguments (TypeScript) of a
    call, by normalised name, each with its offset and text (``{ project }`` included)."""
    props: dict[str, tuple[int, str]] = {}
    for offset, text in _args(src, call):
        if text.startswith("{"):
            props.update(_object(src, offset, text))
            continue
        keyed = _KEYED.match(text)
        if keyed:
            props[_norm(keyed.group(1))] = (offset + keyed.end(), text[keyed.end():])
    return props


def _object(src: _Code, offset: int, text: str) -> dict[str, tuple[int, str]]:
    """Keys of an object literal (or a Python dict), or the arguments of a call
    (``StageProps(stage_name=...)``)."""
    if not text.startswith("{"):
        call = _call_at(src, offset)
        return _props(src, call) if call and call.close == offset + len(text) - 1 else {}
    props: dict[str, tuple[int, str]] = {}
    for part_offset, part in _split(src, offset + 1, offset + len(text) - 1):
        keyed = _KEYED.match(part)
        if keyed:
            props[_norm(keyed.group(1))] = (part_offset + keyed.end(), part[keyed.end():])
        elif re.fullmatch(r"[A-Za-z_$][\w$]*", part):
            props[_norm(part)] = (part_offset, part)
    return props


def _positional(src: _Code, call: _Call) -> list[tuple[int, str]]:
    return [(o, t) for o, t in _args(src, call) if not (_KEYED.match(t) and src.python)]


def _literal(text: str | None) -> str | None:
    """A string literal's value, or the fallback literal of ``x || 'main'`` / ``x ?? 'main'`` /
    ``x or "main"``; None for anything else."""
    if text is None:
        return None
    whole = re.fullmatch(r"\s*[rRuUfF]?(['\"`])(.*?)\1\s*", text, re.S)
    if whole:
        return whole.group(2)
    fallback = re.search(r"(?:\|\||\?\?|\bor\b)\s*(['\"])([^'\"\n]*)\1\s*$", text)
    return fallback.group(2) if fallback else None


def _items(src: _Code, value: tuple[int, str] | None) -> list[tuple[int, str]]:
    """The elements of an array / list literal."""
    if value is None or not value[1].startswith("["):
        return []
    offset, text = value
    return _split(src, offset + 1, offset + len(text) - 1)


def _resolve(src: _Code, value: tuple[int, str] | None) -> list[_Call]:
    """The call(s) an expression stands for: written in place, or bound to the variable it
    names (every assignment of it: a variable set in both branches of an ``if``)."""
    if value is None:
        return []
    offset, text = value
    call = _call_at(src, offset)
    if call is not None and call.close == offset + len(text) - 1:
        return [call]
    name = re.sub(r"^(this|self)\.", "", text.strip())
    return src.binds.get(name, []) if re.fullmatch(r"[A-Za-z_$][\w$]*", name) else []


def _strings(src: _Code, value: tuple[int, str] | None) -> tuple[tuple[str, int | None], ...]:
    """The string literals of an array (commands), each with its line."""
    found = []
    for offset, text in _items(src, value):
        literal = _literal(text)
        if literal is not None:
            found.append((literal, src.line(offset)))
    return tuple(found)


def _cdk_file(snap: Snapshot, scan: Scan, path: str, text: str) -> None:
    """The pipelines created in one CDK file: ``codepipeline.Pipeline`` with its stages and
    actions, and CDK Pipelines ``pipelines.CodePipeline`` with its source, synth step and
    stages. Actions bound to variables are followed within the file."""
    src = read_cdk(path, text)
    imported = {name for name in _cp()["cdk_pipeline"] if re.search(
        rf"\bimport\b(?:\s*\{{[^}}]*|\s*\([^)]*|[^;\n]*)\b{name}\b", src.text)}
    pipelines = [c for c in src.calls if _is_pipeline(src, c, imported)]
    if not pipelines:
        return
    scan.files.append(path)
    app = _cdk_app(snap, posixpath.dirname(path))
    own = f"cdk-app:{app}" if app is not None else None
    if len(pipelines) > MAX_PIPELINES:
        _unread(scan, path, src.line(pipelines[MAX_PIPELINES].start),
                f"more than {MAX_PIPELINES} pipelines in one file; the rest were not read")
    for call in pipelines[:MAX_PIPELINES]:
        if call.name == "CodePipeline":
            pipe = _cdk_pipelines(src, call, own)
        else:
            pipe = _cdk_classic(src, call, own, len(pipelines))
        if not pipe.actions:
            _unread(scan, path, pipe.line, f"pipeline {pipe.name}: its stages are not "
                                           "defined in this file")
        _pipeline_jobs(snap, scan, pipe)


def _is_pipeline(src: _Code, call: _Call, imported: set[str]) -> bool:
    """A pipeline construct: ``codepipeline.Pipeline(this, ...)`` or ``pipelines.CodePipeline(
    self, ...)`` (or the class imported by name: IMPORTED), whose first argument is the
    scope."""
    modules = _cp()["cdk_pipeline"].get(call.name)
    if modules is None:
        return False
    receiver = call.receiver.rsplit(".", 1)[-1]
    if receiver not in modules and not (receiver == "" and call.name in imported):
        return False
    first = _args(src, call)[:1]
    return bool(first) and re.fullmatch(r"[A-Za-z_$][\w$]*", first[0][1]) is not None


def _cdk_name(src: _Code, call: _Call, props: Mapping[str, tuple[int, str]]) -> str:
    name = props.get("pipelinename")
    positional = _positional(src, call)
    second = positional[1][1] if len(positional) > 1 else None
    return _literal(name[1] if name else None) or _literal(second) or "pipeline"


def _cdk_classic(src: _Code, call: _Call, own: str | None, count: int) -> _Pipeline:
    """``codepipeline.Pipeline``: stages from its ``stages`` property and from ``addStage``
    calls on it (with ``addAction`` on a stage bound to a variable), in the order written."""
    props = _props(src, call)
    pipe = _Pipeline(src.path, _cdk_name(src, call, props), src.line(call.start), own)
    var = src.bound.get(call.open)
    stages: list[tuple[str, list[tuple[int, str]]]] = []
    for offset, text in _items(src, props.get("stages")):
        stage = _object(src, offset, text)
        stages.append((_literal(_text(stage.get("stagename"))) or f"stage {len(stages) + 1}",
                       _items(src, stage.get("actions"))))
    for added in src.calls:
        if _norm(added.name) != "addstage":
            continue
        receiver = re.sub(r"^(this|self)\.", "", added.receiver)
        stage = _props(src, added)
        if "stagename" not in stage or (count > 1 and receiver != var):
            continue
        actions = _items(src, stage.get("actions"))
        stage_var = src.bound.get(added.open)
        actions += [a for more in src.calls if stage_var and _norm(more.name) == "addaction"
                    and re.sub(r"^(this|self)\.", "", more.receiver) == stage_var
                    for a in _positional(src, more)[:1]]
        stages.append((_literal(_text(stage.get("stagename"))) or f"stage {len(stages) + 1}",
                       actions))
    if "pullrequestfilter" in _norm(src.text[call.open : call.close]):
        pipe.events.append(Run("pr", "pull request (pipeline trigger with a pull request "
                                     "filter)", src.path, pipe.line))
    for position, (stage_name, actions) in enumerate(stages):
        for offset, text in actions:
            found = _resolve(src, (offset, text))
            if not found:
                pipe.actions.append(_Action(stage_name, text, "unknown", "", src.line(offset),
                                            position, missing=f"action {text} is not "
                                                              "defined in this file"))
            pipe.actions += [_cdk_action(src, c, stage_name, position) for c in found]
    return pipe


def _text(value: tuple[int, str] | None) -> str | None:
    return value[1] if value else None


def _cdk_action(src: _Code, call: _Call, stage: str, position: int) -> _Action:
    """An action of ``aws-codepipeline-actions`` from its class (catalogue) and properties."""
    spec = next((v for k, v in _cp()["cdk_actions"].items() if _norm(k) == _norm(call.name)),
                None)
    line = src.line(call.start)
    if spec is None:
        return _Action(stage, call.name, "unknown", "", line, position,
                       missing=f"{call.name} is not an action class the auditor knows")
    props = _props(src, call)
    action = _Action(stage, _literal(_text(props.get("actionname"))) or call.name, spec[0],
                     spec[1], line, position, _int(_text(props.get("runorder")) or 1))
    if action.category == "source":
        _cdk_source(action, props)
    elif action.provider == "CodeBuild":
        _cdk_codebuild(src, action, props)
    elif action.provider == "Commands":
        action.inline = _strings(src, props.get("commands"))
    elif action.provider == "Jenkins":
        action.missing = "a Jenkins action: its job runs on a Jenkins server"
    elif action.category == "deploy":
        template = re.search(r"""['"]([^'"]+)['"]""", _text(props.get("templatepath")) or "")
        config = {"ActionMode": spec[2] if len(spec) > 2 else None,
                  "StackName": _literal(_text(props.get("stackname"))),
                  "TemplatePath": template.group(1) if template else None}
        _deploy_action(action, {k: v for k, v in config.items() if v}, {})
    return action


def _cdk_source(action: _Action, props: Mapping[str, tuple[int, str]]) -> None:
    """A CDK source action: its branch (a literal, the fallback of ``x || 'main'``, or CDK's
    default), or the object key of an S3 source; ``trigger: ...NONE`` and ``triggerOnPush:
    false`` start nothing."""
    if action.provider == "S3":
        action.branch = _literal(_text(props.get("bucketkey")))
    elif "branch" in props:
        given = props["branch"][1]
        action.branch = _literal(given) or f"the configured branch ({given.strip()})"
    else:
        action.branch = str(_cp()["cdk_default_branch"])
    if re.search(r"\.NONE\b", _text(props.get("trigger")) or ""):
        action.idle = "trigger: NONE"
    if _norm(_text(props.get("triggeronpush")) or "") == "false":
        action.idle = "triggerOnPush: false"


def _cdk_codebuild(src: _Code, action: _Action, props: Mapping[str, tuple[int, str]]) -> None:
    """A ``CodeBuildAction``: its project (bound in this file) and the project's buildSpec:
    ``BuildSpec.fromSourceFilename(path)``, ``BuildSpec.fromObject({...})`` (its ``commands``
    lists), or ``buildspec.yml`` of the source when none is given."""
    projects = [c for c in _resolve(src, props.get("project"))
                if _norm(c.name) in ("pipelineproject", "project")]
    if not projects:
        action.missing = f"CodeBuild project {_text(props.get('project'))} is not defined in " \
                         "this file"
        return
    spec = _props(src, projects[0]).get("buildspec")
    if spec is None:
        action.buildspec = "buildspec.yml"
        return
    for call in _resolve(src, spec):
        kind = _norm(call.name)
        first = _positional(src, call)[:1]
        if kind == "fromsourcefilename" and first and _literal(first[0][1]):
            action.buildspec = posixpath.normpath(str(_literal(first[0][1])).lstrip("/"))
            return
        if kind in ("fromobject", "fromobjecttoyaml"):
            action.inline = _inline_commands(src, call)
            return
    action.missing = f"the buildSpec {spec[1][:60]} is not a literal file or object"


def _inline_commands(src: _Code, call: _Call) -> tuple[tuple[str, int | None], ...]:
    """The ``commands`` lists of a buildspec written as an object in code, in order."""
    found: list[tuple[str, int | None]] = []
    pattern = re.compile(r"""\bcommands\b['"]?\s*[:=]\s*\[""")
    for match in pattern.finditer(src.text, call.open, call.close):
        start = match.end() - 1
        found += _strings(src, (start, src.text[start : src.close(start) + 1]))
    return tuple(found)


def _cdk_pipelines(src: _Code, call: _Call, own: str | None) -> _Pipeline:
    """CDK Pipelines ``CodePipeline``: sources from ``CodePipelineSource.<kind>(repo, branch)``,
    the synth step's commands, its self-mutation (an IaC apply of its own stack, unless
    ``selfMutation: false``) and each ``addStage`` (a CloudFormation apply of the stage's
    stacks) with its ``pre``/``post`` steps; a ``ManualApprovalStep`` gates what follows."""
    props = _props(src, call)
    line = src.line(call.start)
    pipe = _Pipeline(src.path, _cdk_name(src, call, props), line, own)
    kinds = _cp()["cdk_sources"]
    for source in src.calls:
        provider = kinds.get(_norm(source.name))
        if provider and _norm(source.receiver).endswith("codepipelinesource"):
            pipe.actions.append(_pipelines_source(src, source, str(provider)))
    for step in _resolve(src, props.get("synth")):
        pipe.actions += _pipelines_steps(src, [step], "Build", 1, 1)
    mutates = _norm(_text(props.get("selfmutation")) or "") != "false"
    if mutates:
        pipe.actions.append(_Action(
            "UpdatePipeline", "SelfMutate", "deploy", "CloudFormation", line, 2,
            classes=frozenset({"deploy_iac"}), target=own or "cdk-app:",
            text="cdk deploy of the pipeline's own stack", about="CDK Pipelines self-mutation"))
    position = 3
    for added in src.calls:
        kind = _norm(added.name)
        if kind not in ("addstage", "addwave"):
            continue
        positional = _positional(src, added)
        options = _props(src, added)
        if not positional or positional[0][1].startswith("{") or "stagename" in options:
            continue
        stage_name, cls = _pipelines_stage(src, positional[0], kind)
        pre = [c for e in _items(src, options.get("pre")) for c in _resolve(src, e)]
        post = [c for e in _items(src, options.get("post")) for c in _resolve(src, e)]
        pipe.actions += _pipelines_steps(src, pre, stage_name, position, 1)
        if kind == "addstage":
            pipe.actions.append(_Action(
                stage_name, f"deploy {cls}", "deploy", "CloudFormation", src.line(added.start),
                position, 2, classes=frozenset({"deploy_iac"}),
                text=f"CDK Pipelines deploy of stage {cls} {stage_name}",
                target=own if mutates and own else
                f"cdk-stage:{stage_name}"))
        pipe.actions += _pipelines_steps(src, post, stage_name, position, 3)
        position += 1
    return pipe


def _pipelines_source(src: _Code, call: _Call, provider: str) -> _Action:
    """``CodePipelineSource.gitHub('owner/repo', 'main')`` and the like: the branch is the
    second argument; an S3 source's second argument is its object key."""
    positional = _positional(src, call)
    repo = _literal(positional[0][1]) if positional else None
    second = positional[1][1] if len(positional) > 1 else None
    action = _Action("Source", repo or provider, "source", provider, src.line(call.start))
    action.branch = _literal(second) or (f"the configured branch ({second})" if second else
                                         None)
    options = "".join(t for _, t in positional[2:]) + src.text[call.open : call.close]
    if re.search(r"\.NONE\b", options) or re.search(r"trigger_?on_?push\s*[:=]\s*false",
                                                    options, re.I):
        action.idle = "its trigger is switched off"
    return action


def _pipelines_stage(src: _Code, first: tuple[int, str], kind: str) -> tuple[str, str]:
    """The id and class of the stage an ``addStage`` deploys (``new AppStage(this, 'Prod')``,
    or a variable bound to one); a wave's name."""
    if kind == "addwave":
        return _literal(first[1]) or first[1], "wave"
    for stage in _resolve(src, first):
        positional = _positional(src, stage)
        name = _literal(positional[1][1]) if len(positional) > 1 else None
        return name or first[1], stage.name
    return first[1], "stage"


def _pipelines_steps(src: _Code, steps: list[_Call], stage: str, position: int, order: int
                     ) -> list[_Action]:
    """CDK Pipelines steps: ``ShellStep``/``CodeBuildStep`` run their install commands and
    commands; ``ManualApprovalStep`` and ``ConfirmPermissionsBroadening`` are approvals."""
    actions = []
    for step in steps:
        kind = _norm(step.name)
        positional = _positional(src, step)
        name = (_literal(positional[0][1]) if positional else None) or step.name
        line = src.line(step.start)
        if kind in ("manualapprovalstep", "confirmpermissionsbroadening"):
            actions.append(_Action(stage, name, "approval", "Manual", line, position, order))
        elif kind in ("shellstep", "codebuildstep"):
            props = _props(src, step)
            commands = _strings(src, props.get("installcommands")) + _strings(
                src, props.get("commands"))
            actions.append(_Action(stage, name, "build", "CodeBuild", line, position, order,
                                   inline=commands))
    return actions


# -- docker compose: what a service runs ----------------------------------------------------

@dataclass(frozen=True)
class ComposeCall:
    """A ``docker compose`` / ``docker-compose`` ``up`` or ``run`` on a command line.

    ``files``: the ``-f`` files (none: the default file of ``directory``); ``services``: the
    services it starts (none: every service of ``up``); ``words``: the command given to
    ``run`` after the service; ``carries``: None when the call exits with the service's exit
    status, else why it does not."""

    subcommand: str
    files: tuple[str, ...]
    directory: str
    services: tuple[str, ...]
    words: tuple[str, ...] = ()
    entrypoint: str | None = None
    carries: str | None = None


def _options(words: list[str], takes_value: set[str], stop_at_positional: bool
             ) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Options (name, value) from the front of WORDS, the positional words met, and the words
    left after the first positional one when STOP_AT_POSITIONAL (``run SVC cmd ...``)."""
    options: list[tuple[str, str]] = []
    positional: list[str] = []
    while words:
        word = words[0]
        if word == "--":
            return options, positional, words[1:]
        if not word.startswith("-") or word == "-":
            positional.append(word)
            words = words[1:]
            if stop_at_positional:
                return options, positional, words
            continue
        name, eq, given = word.partition("=")
        if name in takes_value and not eq:
            options.append((name, words[1] if len(words) > 1 else ""))
            words = words[2:]
        else:
            options.append((name, given))
            words = words[1:]
    return options, positional, []


def parse_compose(segment: str, cwd: str = "") -> ComposeCall | None:
    """The compose call of one simple command, or None. Global options (``-f``, ``--file``,
    ``--project-directory``) come before the subcommand. ``up --exit-code-from SVC`` and
    ``run SVC`` (not detached) exit with the service's status. ``up`` without
    ``--exit-code-from`` does not: Compose v1 exits 0, and v2 with ``--abort-on-container-exit``
    exits with whichever container stops first, so a test's failure is not reliably the job's.
    """
    try:
        words = shlex.split(segment)
    except ValueError:
        return None
    start = next((i for i, w in enumerate(words) if w == "docker-compose"
                  or (w == "docker" and words[i + 1 : i + 2] == ["compose"])), None)
    if start is None:
        return None
    words = words[start + (2 if words[start] == "docker" else 1):]
    spec = _cat()["compose"]
    options, positional, rest = _options(words, set(spec["global_options"]), True)
    if positional[:1] not in (["up"], ["run"]):
        return None
    directory = cwd
    files: list[str] = []
    for name, given in options:
        if name == "--project-directory":
            directory = posixpath.join(cwd, given)
        elif name in ("-f", "--file"):
            files.append(given)
    subcommand = positional[0]
    options, services, words = _options(rest, set(spec[f"{subcommand}_options"]),
                                        subcommand == "run")
    named = dict(options)
    paths = tuple(posixpath.normpath(posixpath.join(directory, f)) for f in files)
    detached = "-d" in named or "--detach" in named
    if subcommand == "run":
        return ComposeCall("run", paths, directory, tuple(services), tuple(words),
                           named.get("--entrypoint"),
                           "`run -d` starts the service detached, so the job does not wait "
                           "for its result" if detached else None)
    target = named.get("--exit-code-from")
    if target and not detached:
        return ComposeCall("up", paths, directory, (target,))
    if detached:
        return ComposeCall("up", paths, directory, tuple(services),
                           carries="`up -d` starts the services detached, so the job does not "
                                   "wait for their result")
    why = ("`compose up` without `--exit-code-from` does not exit with the tests' status "
           "(Compose v1 exits 0; with `--abort-on-container-exit`, v2 exits with whichever "
           "container stops first)")
    return ComposeCall("up", paths, directory, tuple(services), carries=why)


def _compose_words(value: Any) -> str | None:
    """A compose ``command``/``entrypoint`` (a string or a list of words) as one line; a
    ``sh -c SCRIPT`` wrapper is dropped, so the script's own ``|| true`` is seen."""
    if isinstance(value, list):
        words = [str(w) for w in value if _scalar(w)]
    elif _scalar(value) and str(value).strip():
        try:
            words = shlex.split(str(value))
        except ValueError:
            return str(value)
    else:
        return None
    if len(words) >= 3 and posixpath.basename(words[0]) in ("sh", "bash") and words[1] == "-c":
        return words[2]
    return " ".join(words) if words else None


def compose_files(snap: Snapshot, call: ComposeCall) -> list[str]:
    """The compose files a call reads: its ``-f`` files, else the first default file
    (compose.yaml, docker-compose.yml, ...) of its directory."""
    if call.files:
        return [p for p in call.files if snap.exists(p)]
    defaults = (posixpath.normpath(posixpath.join(call.directory, f))
                for f in _cat()["compose"]["default_files"])
    return [p for p in defaults if snap.exists(p)][:1]


def compose_services(snap: Snapshot, files: list[str]
                     ) -> dict[str, dict[str, tuple[str, str, int | None]]]:
    """Each service's ``entrypoint`` and ``command`` as (text, file, line); a later file
    overrides an earlier one, as ``-f a -f b`` does. An unparseable file gives nothing."""
    services: dict[str, dict[str, tuple[str, str, int | None]]] = {}
    for path in files:
        parsed = snap.yaml(path)
        doc = _mapping(parsed.value if parsed.ok else None)
        lines = snap.lines(path)
        for name, service in _mapping(doc.get("services", doc)).items():
            keys = services.setdefault(str(name), {})
            service_line = _find_key(lines, str(name))
            for key in ("entrypoint", "command"):
                text = _compose_words(_mapping(service).get(key))
                if text is not None:
                    keys[key] = (text, path, _find_key(lines, key, service_line))
    return services


def follow_compose(snap: Snapshot, command: Command) -> Command:
    """A command that starts compose services, classified also by what a service runs: its
    entrypoint followed by its command (or by ``run``'s words), read from the compose file
    (one level: a script the service runs is not opened). It counts like any command when the
    call exits with the service's status; otherwise it carries the reason it cannot fail the
    job. A ``cd DIR &&`` before the call moves where the compose file is looked for."""
    if "compose" not in command.text:
        return command
    cwd = ""
    for segment, _ in split_shell(command.text):
        if re.fullmatch(r"cd\s+[\w./-]+", segment):
            cwd = posixpath.normpath(posixpath.join(cwd, segment.split()[1]))
            continue
        call = parse_compose(segment, cwd)
        if call is None:
            continue
        services = compose_services(snap, compose_files(snap, call))
        for name in call.services or tuple(services):
            keys = services.get(name, {})
            entry = (call.entrypoint, command.path, command.line) if call.entrypoint \
                else keys.get("entrypoint")
            body = (" ".join(call.words), command.path, command.line) if call.words \
                else keys.get("command")
            parts = [p for p in (entry, body) if p]
            runs = " ".join(text for text, _, _ in parts)
            classes = classify(runs)
            if not classes - command.classes:
                continue
            cited: dict[str, list[str]] = {}
            for _, path, line in parts:
                if path != command.path:
                    cited.setdefault(path, []).append(str(line or "?"))
            where = "".join(f", {p}:{','.join(n)}" for p, n in cited.items())
            soft = (command.soft or call.carries
                    or soft_reason(ShellLine(0, runs, runs, True, False, True)))
            return replace(command, classes=command.classes | classes, soft=soft,
                           text=f"{runs} [compose service {name}{where}]")
    return command


# -- facts ----------------------------------------------------------------------------------

def read_ci(snap: Snapshot) -> Scan:
    """Read every CI system's configuration once per snapshot."""
    def compute() -> Scan:
        scan = Scan()
        for reader in (scan_github, scan_gitlab, scan_azure, scan_jenkins, scan_circleci,
                       scan_bitbucket, scan_codepipeline, scan_unread):
            reader(snap, scan)
        scan.commands = [follow_compose(snap, c) for c in scan.commands]
        # A reusable workflow is read on its own (never triggered) and again for each caller:
        # keep the untriggered copy only when no caller reaches the same line.
        reached = {(c.path, c.line, c.text) for c in scan.commands if c.runs}
        scan.commands = [c for c in scan.commands
                         if c.runs or (c.path, c.line, c.text) not in reached]
        return scan
    result: Scan = snap.memo("ci.scan", compute)
    return result


def scan_unread(snap: Snapshot, scan: Scan) -> None:
    """CI/CD defined in systems this check does not read (AWS CodeBuild buildspecs no pipeline
    of the repository runs, CodePipeline in Terraform or code the reader did not resolve, Google
    Cloud Build, Travis, Drone, Buildkite, Tekton, Argo CD, Flux ...): what they run is unknown,
    so a fact that found nothing elsewhere cannot be False. Files a reader read are skipped."""
    for system in common.catalogue("ci")["unread_systems"]:
        pattern = re.compile(str(system["content"]))
        for path in snap.glob(*system["files"]):
            source = snap.text(path) if path not in scan.files else None
            if source is None or not source.ok:
                continue
            line = common.first_line(source.value, pattern)
            text = source.value.split("\n")[line - 1] if line is not None else ""
            if line is not None and not common.is_comment(text) and \
                    not common.is_comment(text, "//"):
                scan.unread.setdefault(path, common.at(
                    path, line, f"{system['name']}: not read by the auditor yet"))
                break


def _where(scan: Scan) -> str:
    if not scan.files:
        return ("CI configuration (.github/workflows, .gitlab-ci.yml, azure-pipelines.yml, "
                "Jenkinsfile, .circleci/config.yml, bitbucket-pipelines.yml, CodePipeline in "
                "CloudFormation or CDK): none found")
    files = ", ".join(scan.files[:8])
    return files + (f" and {len(scan.files) - 8} more" if len(scan.files) > 8 else "")


def _cite(command: Command, detail: str) -> Evidence:
    return common.at(command.path, command.line, f"{command.job}: `{command.text}` {detail}")


def _on(command: Command, kinds: set[str]) -> str:
    runs = [r.detail for r in command.runs if r.kind in kinds]
    return "on " + "; ".join(dict.fromkeys(runs)) if runs else "never triggered"


def _triggers(command: Command) -> str:
    return "; ".join(dict.fromkeys(r.detail for r in command.runs)) or "never triggered"


def _bool(fact_id: str, support: list[Evidence], counter: list[Evidence], what: str,
          scan: Scan) -> Fact:
    """True with SUPPORT; else False with the search and the counter-evidence; None when a CI
    file could not be parsed (it may hold what was not found)."""
    if support:
        return common.value(fact_id, True, support)
    items = [*counter, *scan.notes[:5]]
    if scan.unparseable:
        broken = ", ".join(scan.unparseable)
        return common.unknown(fact_id, f"CI file(s) could not be parsed: {broken}",
                              [*scan.unparseable.values(), *items])
    if scan.unread:
        unread = ", ".join(scan.unread)
        return common.unknown(fact_id, f"CI/CD is also defined where the auditor does not read "
                              f"yet ({unread})", [*scan.unread.values(),
                                                  common.searched(what, _where(scan)), *items])
    return Fact(fact_id, False, (common.searched(what, _where(scan)), *items[:19]))


def collect(snap: Snapshot) -> list[Fact]:
    scan = read_ci(snap)
    return [present_fact(scan), systems_fact(scan), pr_tests_fact(scan),
            pr_validation_fact(scan), pr_skips_iac_fact(snap, scan), deploy_on_merge_fact(scan),
            iac_apply_on_merge_fact(scan), deploy_manual_only_fact(scan),
            iac_apply_on_pr_fact(scan), multi_env_fact(scan), scheduled_fact(scan),
            load_tests_fact(scan), unparseable_fact(scan)]


def present_fact(scan: Scan) -> Fact:
    """CI configuration defining at least one job (a file without jobs is not CI)."""
    support = [items[0] for items in scan.jobs.values()]
    return _bool("ci.present", support, [], "a CI configuration defining jobs", scan)


def systems_fact(scan: Scan) -> Fact:
    """The CI systems with at least one job, each cited at its first job."""
    systems = tuple(s for s in SYSTEMS if s in scan.jobs)
    if not systems and scan.unparseable:
        return common.unknown("ci.systems", "CI file(s) could not be parsed",
                              scan.unparseable.values())
    items = [replace(scan.jobs[s][0], detail=f"{SYSTEMS[s]}: {len(scan.jobs[s])} job(s)")
             for s in systems] or [common.searched("CI configuration", _where(scan))]
    return common.value("ci.systems", systems, items)


def _pr_fact(fact_id: str, scan: Scan, cls: str, what: str) -> Fact:
    """A pull-request job running a command of class CLS whose failure fails the job.

    Counter-evidence, cited when nothing counts: such commands that cannot fail (``|| true``,
    continue-on-error, allow_failure, pipes without pipefail, not the last line of a script
    without ``set -e``) and such commands that do not run for pull requests.
    """
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for command in scan.commands:
        if cls not in command.classes:
            continue
        on_pr = "pr" in command.kinds
        if on_pr and not command.soft:
            support.append(_cite(command, _on(command, {"pr"})))
        elif on_pr:
            counter.append(_cite(command, f"does not count: {command.soft}"))
        else:
            counter.append(_cite(command, f"does not run for pull requests ({_triggers(command)})"))
    return _bool(fact_id, support, counter, what, scan)


def pr_tests_fact(scan: Scan) -> Fact:
    """Tests (pytest, tox, nox, unittest, make test, npm test, go test, ...) in a job that pull
    or merge requests trigger. Branch pipelines of every branch count (GitLab jobs without
    rules, ``on: push`` without branch filters, Azure's default CI trigger); GitLab jobs without
    rules count only when ``workflow: rules`` let merge request or feature-branch pipelines
    through. Pipes count as masking unless ``set -o pipefail`` is set (GitHub's explicit
    ``shell: bash`` and CircleCI set it; GitLab's runner sets it only in bash images, which
    the repository does not show, so GitLab pipes need an explicit ``set -o pipefail``)."""
    return _pr_fact("ci.pr_tests", scan, "test",
                    "a test command (pytest, tox, nox, unittest, make test, ...) that can fail a "
                    "pull-request job")


def pr_validation_fact(scan: Scan) -> Fact:
    """Configuration/IaC validation in a pull-request job (same triggers and counter-evidence
    as ci.pr_tests)."""
    return _pr_fact("ci.pr_config_validation", scan, "validate",
                    "a configuration/IaC check (terraform validate/fmt -check/plan, tflint, "
                    "checkov, cfn-lint, bicep build, kubeconform, bundle validate, yamllint, "
                    "actionlint, trivy config) that can fail a pull-request job")


def pr_skips_iac_fact(snap: Snapshot, scan: Scan) -> Fact:
    """True when IaC files exist and every pull-request validation (tests or configuration
    checks) is limited by path filters that none of them matches, so a change to
    infrastructure alone is never validated before review."""
    iac_paths = iac.iac_files(snap)
    checks = [c for c in scan.commands
              if c.classes & {"test", "validate"} and not c.soft and "pr" in c.kinds]
    if not iac_paths:
        return _bool("ci.pr_skips_iac", [], [], "IaC files for path filters to skip", scan)
    if not checks:
        return _bool("ci.pr_skips_iac", [], [], "pull-request validation jobs", scan)
    skipping: dict[tuple[str, str], Evidence] = {}
    covering: dict[tuple[str, str], Evidence] = {}
    for command in checks:
        for run in (r for r in command.runs if r.kind == "pr"):
            key = (command.job, run.detail)
            if run.paths is None:
                detail = f"{command.job} runs `{command.text}` on {run.detail} for any path"
                covering.setdefault(key, common.at(command.path, command.line, detail))
                continue
            hits = [p for p in iac_paths if run.paths.triggered_by(p)]
            if hits:
                detail = (f"{command.job} on {run.detail}: {run.paths.describe()} matches IaC "
                          f"file {hits[0]}")
                covering.setdefault(key, common.at(command.path, command.line, detail))
            else:
                detail = (f"{command.job} on {run.detail}: no IaC file matches "
                          f"{run.paths.describe()} (e.g. {iac_paths[0]}, {len(iac_paths)} in all)")
                skipping.setdefault(key, common.at(command.path, command.line, detail))
    if covering:
        return Fact("ci.pr_skips_iac", False, tuple(covering.values())[:20])
    return common.value("ci.pr_skips_iac", True, skipping.values())


def _deploys(scan: Scan, classes: frozenset[str] = DEPLOYS) -> list[Command]:
    return [c for c in scan.commands if c.classes & classes]


def deploy_on_merge_fact(scan: Scan) -> Fact:
    """A deployment (model, app or IaC) run by a push/merge to the default branch or by a
    release tag, without a manual start. Manual-only deployments and image or package
    publishing (docker push is not a deployment) are cited when nothing counts."""
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for command in _deploys(scan, DEPLOYS | {"publish"}):
        automatic = command.kinds & {"merge", "tag"}
        if automatic and command.classes & DEPLOYS:
            support.append(_cite(command, _on(command, {"merge", "tag"})))
        elif automatic:
            counter.append(_cite(command, "publishes an image or package; not a deployment"))
        else:
            counter.append(_cite(command, f"deploys, but not on a merge ({_triggers(command)})"))
    return _bool("ci.deploy_on_merge", support, counter,
                 "a deploy step (terraform apply, bundle deploy, az ml online-deployment, "
                 "deploy actions, ...) triggered by a merge to the default branch or a tag", scan)


def iac_apply_on_merge_fact(scan: Scan) -> Fact:
    """IaC applied by a push/merge to the default branch; plans and manual applies are cited
    when nothing counts. An apply by a pipeline that applies only other stacks while its own
    stack (the pipeline and the infrastructure defined with it) is deployed by hand does not
    count: infrastructure changes there are not applied on merge."""
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for command in _deploys(scan, frozenset({"deploy_iac"})):
        if "merge" in command.kinds and not command.scope:
            support.append(_cite(command, _on(command, {"merge"})))
        elif "merge" in command.kinds:
            counter.append(common.at(command.path, command.line, f"{command.job}: applies IaC "
                                     f"on a merge, but {command.scope}"))
        else:
            counter.append(_cite(command, f"applies IaC, but not on a merge "
                                          f"({_triggers(command)})"))
    for command in scan.commands:
        if "validate" in command.classes and "merge" in command.kinds and re.search(
                r"\b(plan|preview|diff|synth)\b", command.text):
            counter.append(_cite(command, "only previews the change on a merge"))
    return _bool("ci.iac_apply_on_merge", support, counter,
                 "an IaC apply (terraform apply, databricks bundle deploy, cdk/sam deploy, "
                 "pulumi up, helm upgrade, kubectl apply, az deployment, CloudFormation deploy "
                 "actions) triggered by a merge to the default branch", scan)


def deploy_manual_only_fact(scan: Scan) -> Fact:
    """Deploy steps exist and every one of them starts only by hand."""
    deploys = [c for c in _deploys(scan) if c.runs]
    if not deploys:
        return _bool("ci.deploy_manual_only", [], [], "deploy steps", scan)
    automatic = [c for c in deploys if c.kinds - {"manual"}]
    if automatic:
        return Fact("ci.deploy_manual_only", False, tuple(
            _cite(c, f"deploys automatically ({_triggers(c)})") for c in automatic[:20]))
    return common.value("ci.deploy_manual_only", True,
                        [_cite(c, f"deploys only by hand ({_triggers(c)})") for c in deploys])


def iac_apply_on_pr_fact(scan: Scan) -> Fact:
    """IaC applied from a pull-request or feature-branch job, before review."""
    support = [_cite(c, _on(c, {"pr"})) for c in _deploys(scan, frozenset({"deploy_iac"}))
               if "pr" in c.kinds]
    return _bool("ci.iac_apply_on_pr", support, [],
                 "an IaC apply in a job triggered by pull requests or feature-branch pushes",
                 scan)


def _command_shape(text: str) -> str:
    """A deploy command with variables and environment names blanked, so ``-t dev`` and
    ``-t prod`` are the same command."""
    text = re.sub(r"\$\{\{[^}]*\}\}|\$\([^)]*\)|\$\{[^}]*\}|\$\w+|%\w+%", "<var>", text.lower())
    words = _env_words()
    text = re.sub(r"[a-z0-9]+", lambda m: "<env>" if m.group(0) in words else m.group(0), text)
    return " ".join(text.split())


def multi_env_fact(scan: Scan) -> Fact:
    """The same deploy command run for two or more environments: one command over a matrix
    of environments, or the same command (environment names and variables blanked) in jobs,
    templates or reusable-workflow calls for different environments."""
    groups: dict[str, list[Command]] = {}
    for command in _deploys(scan):
        if command.runs:
            groups.setdefault(_command_shape(command.text), []).append(command)
    support: list[Evidence] = []
    counter: list[Evidence] = []
    for commands in groups.values():
        envs = {e for c in commands for e in c.envs}
        spread = {c.envs for c in commands if c.envs}
        if len(envs) > 1 and (any(c.env_param for c in commands) or len(spread) > 1):
            support += [_cite(c, f"deploys {', '.join(sorted(c.envs))}") for c in commands]
        else:
            counter.append(_cite(commands[0], "deploys "
                                 + (", ".join(sorted(envs)) if envs else "one unnamed target")))
    return _bool("ci.multi_env_deploy", support, counter,
                 "one deploy command run for two or more environments", scan)


def _runs_something(command: Command) -> bool:
    """A command worth naming: classified, or a command line that is not an action, task or
    pipe reference, an install or a print."""
    if command.classes:
        return True
    if command.text.startswith(("uses: ", "task: ", "pipe: ", "orb job ")):
        return False
    return any(segment and not any(p.search(segment) for p in _not_a_run())
               for segment, _ in split_shell(command.text))


def scheduled_fact(scan: Scan) -> Fact:
    """Jobs started by a schedule, each cited at its cron line with what it runs."""
    by_job: dict[tuple[str, str], list[Command]] = {}
    for command in scan.commands:
        if "schedule" in command.kinds:
            by_job.setdefault((command.job, command.path), []).append(command)
    support = []
    for (job, _), commands in by_job.items():
        run = next(r for r in commands[0].runs if r.kind == "schedule")
        doing = [c.text for c in commands if _runs_something(c)]
        what = "; ".join(dict.fromkeys(doing or [c.text for c in commands]))
        path, line = (run.path, run.line) if run.line else (commands[0].path, commands[0].line)
        support.append(common.at(path, line, f"{run.detail} runs {job}: {what}"))
    return _bool("ci.scheduled", support, [], "a scheduled (cron) trigger", scan)


def load_tests_fact(scan: Scan) -> Fact:
    """Load tests (locust, k6 run, jmeter, gatling, vegeta, artillery) run by some trigger."""
    support = [_cite(c, f"on {_triggers(c)}") for c in scan.commands
               if "load" in c.classes and c.runs]
    return _bool("ci.load_tests", support, [], "a load-test command", scan)


def unparseable_fact(scan: Scan) -> Fact:
    """CI files whose YAML (or text) could not be read, each with the parser's reason."""
    items = list(scan.unparseable.values()) or [
        common.searched("CI files that could not be parsed", _where(scan))]
    return common.value("ci.unparseable", tuple(scan.unparseable), items)
