"""How changes reach the audited branch: version control, pull/merge requests, reviews, and the
committed rules (CODEOWNERS, rulesets) that ask for them. Read from the first-parent history."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, TypeGuard

from mlops_auditor.checks.common import at, catalogue, searched, unknown, unreadable, value
from mlops_auditor.checks.iac import iac_files
from mlops_auditor.history import BOT, Commit, History
from mlops_auditor.model import Evidence, Fact
from mlops_auditor.snapshot import Snapshot

FACTS: dict[str, str] = {
    "process.versioned": "the folder is a git repository with commits (False for a plain folder)",
    "process.pr_share": "share of non-bot first-parent commits after the initial one that arrived "
                        "through a pull/merge request (whole history); None when the history is "
                        "missing or shallow",
    "process.pr_share_recent": "the same share over the latest 100 non-bot first-parent commits",
    "process.iac_pr_share": "the same share over first-parent commits that change an IaC file; "
                            "None when no such commit",
    "process.iac_pr_share_recent": "the IaC share over the latest 100 non-bot first-parent "
                                   "commits only: today's practice for infrastructure changes",
    "process.reviewed_share": "share of pull-request merges among the latest 100 non-bot "
                              "first-parent commits with evidence that another person reviewed "
                              "(merged by someone other than the branch author, Reviewed-by/"
                              "Approved-by trailers, Gerrit/Phabricator); None when not "
                              "observable (e.g. only squash merges)",
    "process.codeowners": "a CODEOWNERS file with at least one rule (a path and an owner)",
    "process.ruleset_approvals": "approving reviews a committed branch rule requires on the "
                                 "default branch (.github/rulesets/*.json, .github/settings.yml); "
                                 "None when no committed rule",
}

# Practice changes: the recent shares judge how the team works now, over this many commits.
RECENT = 100
EXAMPLES = 5
APPROVALS_KEY = "required_approving_review_count"


def collect(snap: Snapshot) -> list[Fact]:
    history = snap.history
    counted = counted_commits(history)
    return [
        versioned(snap),
        pr_share(history, counted),
        pr_share_recent(history, counted),
        iac_pr_share(snap, history, counted),
        iac_pr_share(snap, history, counted[:RECENT], recent=True),
        reviewed_share(history, counted),
        codeowners(snap),
        ruleset_approvals(snap),
    ]


# -- version control ----------------------------------------------------------------------


def versioned(snap: Snapshot) -> Fact:
    """A git repository with at least one commit: the code, and its changes, are versioned."""
    fact_id = "process.versioned"
    if not snap.info.is_git:
        # A plain folder may be an export or a sub-folder of a repository kept elsewhere:
        # whether it is versioned cannot be seen from it.
        return unknown(fact_id, "not a git repository: whether this code is kept under version "
                                "control elsewhere cannot be seen from the folder",
                       [searched("a git repository (.git)", "the audited folder")])
    head = snap.info.head
    if head is None:
        return Fact(fact_id, False, (Evidence(
            "a git repository without any commit: nothing is under version control yet"),))
    count = len(snap.history.commits)
    shallow = " (shallow clone: older commits are missing)" if snap.info.shallow else ""
    branch = snap.info.branch or "a detached HEAD"
    detail = f"git repository: {count} first-parent commit(s) on {branch}{shallow}"
    return Fact(fact_id, True, (Evidence(detail, commit=head),))


# -- pull/merge request shares -------------------------------------------------------------


def counted_commits(history: History) -> list[Commit]:
    """First-parent commits that say something about how people change the code: bots' own
    commits apart (their updates arrive however the bot is configured) and the root commit apart
    (the initial import of a project has no branch to come from, so it is not a push around
    review). A pull-request merge commit made by a merge bot (mergify, a merge queue) stays:
    the bot only pressed the button on someone's branch."""
    return [c for c in history.commits if c.parents and not _bot_own(c)]


def _bot_own(commit: Commit) -> bool:
    return commit.is_bot and not (commit.is_merge and commit.pr is not None)


def pr_share(history: History, counted: list[Commit]) -> Fact:
    """Share of commits over the whole history that arrived through a pull/merge request."""
    return _share("process.pr_share", history, counted, history.commits,
                  f"{len(counted)} non-bot first-parent commits")


def pr_share_recent(history: History, counted: list[Commit]) -> Fact:
    """The same share over the latest commits: today's practice, not the project's early days."""
    window = counted[:RECENT]
    seen = history.commits[: history.commits.index(window[-1]) + 1] if window else []
    return _share("process.pr_share_recent", history, window, seen,
                  f"the latest {len(window)} non-bot first-parent commits")


def iac_pr_share(snap: Snapshot, history: History, counted: list[Commit],
                 recent: bool = False) -> Fact:
    """The same share over commits that change a file the IaC check recognises (a merge
    counts with what it brought in over its first parent), over the whole history or, RECENT,
    among the latest non-bot first-parent commits. Paths are today's IaC files: a change to a
    file deleted since is not seen."""
    fact_id = "process.iac_pr_share_recent" if recent else "process.iac_pr_share"
    if not history.usable:
        return _unusable(fact_id, history)
    paths = set(iac_files(snap))
    if not paths:
        return unknown(fact_id, "no IaC files in the tree, so no IaC change to judge",
                       [searched("IaC files (see iac.present)", "the tree")])
    seen = [c for c in history.commits if not paths.isdisjoint(c.paths)]
    touching = [c for c in counted if not paths.isdisjoint(c.paths)]
    if not touching:
        return unknown(fact_id, "no first-parent commit after the initial one changes an IaC "
                                "file (bots apart)",
                       [searched("non-bot commits changing " + _names(sorted(paths)),
                                 "the first-parent history")])
    return _share(fact_id, history, touching, seen,
                  f"{len(touching)} {'recent ' if recent else ''}non-bot first-parent commits "
                  "changing IaC files "
                  f"({_names(sorted(paths))})")


def _share(fact_id: str, history: History, commits: list[Commit], seen: list[Commit],
           scope: str) -> Fact:
    """Fraction of COMMITS marked as pull/merge requests, with the counts by kind and a few
    direct pushes as counter-evidence. SCOPE names the commits with their number; SEEN are
    the commits of the same scope before bots and the initial commit were set apart."""
    if not history.usable:
        return _unusable(fact_id, history)
    if not commits:
        return unknown(fact_id, "insufficient history: no commit after the initial one "
                                "(bots apart) to judge")
    least = int(catalogue("process")["min_commits"])
    if len(commits) < least:
        through = sum(1 for c in commits if c.pr is not None)
        return unknown(fact_id, f"insufficient history: {scope} ({through} through pull/merge "
                                f"requests) are too few to judge a practice (at least {least})",
                       [Evidence(f"{through} of {scope} arrived through pull/merge requests")])
    through_pr = [c for c in commits if c.pr is not None]
    direct = [c for c in commits if c.pr is None]
    kinds = Counter(c.pr for c in through_pr if c.pr)
    by_kind = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common())
    summary = (f"{len(through_pr)} of {scope} arrived through pull/merge requests"
               + (f" ({by_kind})" if by_kind else ""))
    items = [Evidence(summary), *_left_out(seen)]
    items += [Evidence(f"pushed directly, no pull/merge request: {c.subject}", commit=c.sha)
              for c in direct[:EXAMPLES]]
    items += [Evidence(f"{c.pr}: {c.subject}", commit=c.sha) for c in through_pr[:2]]
    return value(fact_id, len(through_pr) / len(commits), items)


def _left_out(seen: list[Commit]) -> list[Evidence]:
    """Say which commits of the scope the share does not count, so a reader can redo the
    arithmetic."""
    bots = sum(1 for c in seen if _bot_own(c))
    roots = [c for c in seen if not c.parents and not _bot_own(c)]
    parts = [f"{bots} bot commit(s)"] if bots else []
    parts += [f"the initial commit {c.sha[:12]}" for c in roots]
    return [Evidence("not counted: " + ", ".join(parts))] if parts else []


def _unusable(fact_id: str, history: History) -> Fact:
    reason = history.unusable_reason
    return unknown(fact_id, reason, [Evidence(reason)])


# -- reviews ---------------------------------------------------------------------------------


def reviewed_share(history: History, counted: list[Commit]) -> Fact:
    """Share of recent pull-request merges that show a second person: the merge was made by
    someone other than the author of the merged branch (GitHub, GitLab, Azure DevOps and
    Bitbucket merge commits, compared through their second parent), it carries a Reviewed-by/
    Approved-by trailer, or it went through Gerrit or Phabricator, whose default submit rules
    need a reviewer's approval. A squash or rebase merge keeps no branch author and its
    committer is the service (GitHub's is ``GitHub <noreply@github.com>``), which says nothing
    about approvals: such commits are left out, and with nothing else the share is None.
    A branch written by a bot is left out too: a person merging a bot's update is not a review
    of a person's change."""
    fact_id = "process.reviewed_share"
    if not history.usable:
        return _unusable(fact_id, history)
    window = counted[:RECENT]
    outcomes = [(c, *outcome) for c, outcome in zip(window, _review_outcomes(history, window),
                                                    strict=True) if outcome is not None]
    reviewed = [(c, how) for c, kind, how in outcomes if kind == "reviewed"]
    self_merged = [(c, how) for c, kind, how in outcomes if kind == "self-merged"]
    skipped = Counter(how for _, kind, how in outcomes if kind == "not observable")
    not_counted = ", ".join(f"{how} {n}" for how, n in skipped.most_common())
    judged = len(reviewed) + len(self_merged)
    if not judged:
        if skipped:
            reason = (f"not observable: the pull/merge requests in the latest {len(window)} "
                      f"non-bot commits ({not_counted}) keep no trace of who reviewed")
            if "squash merge" in skipped:
                reason += (": a squash merge's committer is the hosting service (GitHub "
                           "<noreply@github.com> on GitHub), which says nothing about approvals")
        else:
            reason = f"no pull/merge request in the latest {len(window)} non-bot commits"
        return unknown(fact_id, reason, [Evidence(reason)])
    ways = Counter(how.split(":")[0] for _, how in reviewed)
    by_way = ", ".join(f"{way} {n}" for way, n in ways.most_common())
    summary = (f"{len(reviewed)} of {judged} pull/merge requests in the latest {len(window)} "
               f"non-bot first-parent commits show another person's review"
               + (f" ({by_way})" if by_way else ""))
    items = [Evidence(summary)]
    if not_counted:
        items.append(Evidence(f"not counted, nothing to compare: {not_counted}"))
    items += [Evidence(f"{how}: {c.subject}", commit=c.sha) for c, how in self_merged[:EXAMPLES]]
    items += [Evidence(f"{how}: {c.subject}", commit=c.sha) for c, how in reviewed[:3]]
    return value(fact_id, len(reviewed) / judged, items)


def _review_outcomes(history: History, window: list[Commit]
                     ) -> list[tuple[str, str] | None]:
    """For each commit: None when it is no pull/merge request, else (kind, how) with kind
    "reviewed", "self-merged" or "not observable". Branch authors come from one git call."""
    cat = catalogue("process")
    merges = [c for c in window
              if c.pr in cat["merge_kinds"] and c.is_merge and not c.reviewed_trailer]
    merge_shas = {c.sha for c in merges}
    branch_authors = history.branch_authors(merges)
    outcomes: list[tuple[str, str] | None] = []
    for c in window:
        if c.reviewed_trailer:
            outcomes.append(("reviewed", "review trailer: Reviewed-by/Approved-by"))
        elif c.pr in cat["reviewed_kinds"]:
            outcomes.append(("reviewed", f"{c.pr}: landed through review, which needs an "
                                         "approval by default"))
        elif c.sha in merge_shas:
            outcomes.append(_merge_outcome(c, branch_authors.get(c.sha), cat["service_emails"]))
        elif c.pr == "squash merge":
            outcomes.append(("not observable", "squash merge"))
        elif c.pr is not None:
            outcomes.append(("not observable", f"{c.pr} without a merged branch"))
        else:
            outcomes.append(None)
    return outcomes


def _merge_outcome(merge: Commit, branch_author: tuple[str, str] | None,
                   service_emails: Iterable[str]) -> tuple[str, str]:
    """Who merged against who wrote the merged branch (the author of its tip). The merger is
    the merge commit's author and committer, hosting services' identities and bots aside (a
    merge bot pressing the button is no reviewer)."""
    if branch_author is None:
        return ("not observable", "merge whose branch author could not be read")
    if BOT.search(branch_author[0]) or BOT.search(branch_author[1]):
        return ("not observable", "bot-authored branch")
    services = {e.lower() for e in service_emails}
    mergers = [(name, email) for name, email in ((merge.author, merge.author_email),
                                                 (merge.committer, merge.committer_email))
               if email.strip().lower() not in services
               and not (BOT.search(name) or BOT.search(email))]
    if not mergers:
        return ("not observable", "merge made by a service account or bot")
    same = [m for m in mergers if same_person(m, branch_author)]
    if same:
        return ("self-merged", f"self-merged by its author {same[0][0]}")
    return ("reviewed", f"merged by another person: {mergers[0][0]} merged "
                        f"{branch_author[0]}'s branch")


_NOREPLY_ID = re.compile(r"^\d+\+(?=[^@]+@users\.noreply\.github\.com$)")


def same_person(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Two (name, email) identities are one person when the e-mails match (case aside, GitHub's
    numbered no-reply form aside) or the names match (case and spacing aside)."""
    email_a, email_b = (_NOREPLY_ID.sub("", e.strip().lower()) for e in (a[1], b[1]))
    name_a, name_b = (" ".join(n.split()).casefold() for n in (a[0], b[0]))
    return bool(email_a and email_a == email_b) or bool(name_a and name_a == name_b)


# -- committed rules -----------------------------------------------------------------------


def codeowners(snap: Snapshot) -> Fact:
    """A CODEOWNERS file where the hosting service reads it, with at least one rule: a path
    followed by an owner. Comments, blank lines and GitLab section headers are not rules."""
    fact_id = "process.codeowners"
    locations = list(catalogue("process")["codeowners"])
    rules: list[Evidence] = []
    counter: list[Evidence] = []
    broken: list[str] = []
    for path in (p for p in locations if snap.exists(p)):
        text = snap.text(path)
        if not text.ok:
            broken.append(path)
            continue
        hits = [at(path, n, line) for n, line in enumerate(snap.lines(path), start=1)
                if is_owner_rule(line)]
        rules += hits
        if not hits:
            counter.append(Evidence("holds no rule (a path and an owner): only comments, "
                                    "blank lines or paths without owners", path=path))
    if rules:
        return Fact(fact_id, True, tuple(rules[:20]))
    if broken:
        return unknown(fact_id, "CODEOWNERS could not be read", unreadable(snap, broken))
    return Fact(fact_id, False,
                (searched("a CODEOWNERS rule (path and owner)", ", ".join(locations)), *counter))


_UNESCAPED_SPACE = re.compile(r"(?<!\\)\s+")


def is_owner_rule(line: str) -> bool:
    """A CODEOWNERS line naming a path and at least one owner (@user, @org/team or e-mail)."""
    text = line.strip()
    if not text or text.startswith("#") or text.startswith(("[", "^[")):
        return False
    tokens = _UNESCAPED_SPACE.split(text)
    owners: list[str] = []
    for token in tokens[1:]:
        if token.startswith("#"):
            break
        if "@" in token:
            owners.append(token)
    return bool(owners)


def ruleset_approvals(snap: Snapshot) -> Fact:
    """Approving reviews that a committed rule requires before a merge to the default branch:
    the ``pull_request`` rule of exported GitHub rulesets (``.github/rulesets/*.json``) and of
    settings-as-code (``.github/settings.yml``: ``branches[].protection.
    required_pull_request_reviews`` or ``rulesets``). Only enforced (``active``) rulesets that
    target the default branch count. GitHub applies the most restrictive of all rules that
    target a branch, so the value is the largest count. Rules kept only in the hosting service's
    settings (and GitLab approval rules, which never live in the repository) cannot be seen:
    no committed rule gives None, not 0."""
    fact_id = "process.ruleset_approvals"
    cat = catalogue("process")
    branches = [snap.info.branch] if snap.info.branch else []
    branches += [b for b in cat["default_branches"] if b not in branches]
    counts: list[tuple[int, Evidence]] = []
    notes: list[Evidence] = []
    broken: list[str] = []
    ruleset_files = snap.glob(*cat["rulesets"])
    settings_files = [p for p in cat["settings"] if snap.exists(p)]
    for path in ruleset_files:
        parsed = snap.json(path)
        if not parsed.ok:
            broken.append(path)
            continue
        rules = parsed.value if isinstance(parsed.value, list) else [parsed.value]
        lines = _key_lines(snap, path)
        for ruleset in rules:
            _ruleset(path, ruleset, branches, lines, counts, notes)
    for path in settings_files:
        parsed = snap.yaml(path)
        if not parsed.ok:
            broken.append(path)
            continue
        _settings(path, parsed.value, branches, _key_lines(snap, path), counts, notes)
    where = ", ".join([*cat["rulesets"], *cat["settings"]])
    if counts:
        best = max(n for n, _ in counts)
        return value(fact_id, best, [e for _, e in counts] + notes + unreadable(snap, broken))
    if broken:
        return unknown(fact_id, "the committed branch rules could not be parsed",
                       unreadable(snap, broken) + notes)
    reason = ("no committed rule requiring approvals on the default branch; rules set in the "
              "hosting service's settings cannot be seen from the repository")
    return unknown(fact_id, reason,
                   [searched("a pull-request rule with required_approving_review_count", where),
                    *notes])


def _ruleset(path: str, ruleset: Any, branches: list[str], lines: list[int],
             counts: list[tuple[int, Evidence]], notes: list[Evidence]) -> None:
    """Collect the approvals of one ruleset's ``pull_request`` rules when it is enforced on the
    default branch; say why when it is not."""
    if not isinstance(ruleset, dict):
        return
    name = str(ruleset.get("name") or "unnamed")
    rules = ruleset.get("rules")
    pull_rules = [r for r in rules if isinstance(r, dict) and r.get("type") == "pull_request"] \
        if isinstance(rules, list) else []
    # Keep the line cursor in step with the file even for rules that end up not counting.
    line_of = [lines.pop(0) if lines and APPROVALS_KEY in _mapping(r.get("parameters"))
               else None for r in pull_rules]
    if not pull_rules:
        return
    target = ruleset.get("target", "branch")
    enforcement = ruleset.get("enforcement", "active")
    if target != "branch":
        notes.append(Evidence(f"ruleset {name!r} targets {target}s, not branches", path=path))
        return
    if enforcement != "active":
        notes.append(Evidence(f"ruleset {name!r} is not enforced (enforcement: {enforcement})",
                              path=path))
        return
    if not _targets_default(ruleset.get("conditions"), branches):
        notes.append(Evidence(f"ruleset {name!r} does not target the default branch", path=path))
        return
    bypass = ruleset.get("bypass_actors")
    caveat = f"; {len(bypass)} actor(s) may bypass it" if isinstance(bypass, list) and bypass \
        else ""
    for rule, line in zip(pull_rules, line_of, strict=True):
        count = _mapping(rule.get("parameters")).get(APPROVALS_KEY)
        if _is_count(count):
            counts.append((count, at(path, line, f"ruleset {name!r}: pull requests to the "
                                                 f"default branch need {count} approving "
                                                 f"review(s){caveat}")))
        else:
            notes.append(Evidence(f"ruleset {name!r}: pull_request rule without a valid "
                                  f"{APPROVALS_KEY}", path=path, line=line))


def _settings(path: str, data: Any, branches: list[str], lines: list[int],
              counts: list[tuple[int, Evidence]], notes: list[Evidence]) -> None:
    """Branch protection and rulesets in a settings-as-code file (probot settings shape). The
    settings app makes the branch's protection exactly what the file says, so an explicit
    ``protection: null`` or ``required_pull_request_reviews: null`` on the default branch is a
    committed rule requiring no approval (0)."""
    data = _mapping(data)
    entries = data.get("branches")
    for entry in entries if isinstance(entries, list) else []:
        entry = _mapping(entry)
        protection = entry.get("protection")
        if protection is None and "protection" in entry:
            reviews: Any = None
        elif isinstance(protection, dict) and "required_pull_request_reviews" in protection:
            reviews = protection["required_pull_request_reviews"]
        else:
            continue
        line = lines.pop(0) if lines and APPROVALS_KEY in _mapping(reviews) else None
        name = str(entry.get("name"))
        count = _mapping(reviews).get(APPROVALS_KEY)
        if name not in branches:
            notes.append(Evidence(f"branch protection for {name!r}, not the default branch",
                                  path=path, line=line))
        elif reviews is None:
            counts.append((0, Evidence(f"branch protection of {name!r} requires no pull-request "
                                       "review (protection or its reviews set to null)",
                                       path=path)))
        elif _is_count(count):
            counts.append((count, at(path, line, f"branch protection of {name!r}: pull requests "
                                                 f"need {count} approving review(s)")))
        else:
            notes.append(Evidence(f"branch protection of {name!r}: no valid {APPROVALS_KEY}",
                                  path=path, line=line))
    rulesets = data.get("rulesets")
    for ruleset in rulesets if isinstance(rulesets, list) else []:
        _ruleset(path, ruleset, branches, lines, counts, notes)


def _targets_default(conditions: Any, branches: list[str]) -> bool:
    """True when a ruleset's ``ref_name`` condition includes the default branch (by
    ``~DEFAULT_BRANCH``, ``~ALL`` or a pattern matching a default-branch name) and does not
    exclude it. A ruleset without a ``ref_name`` condition targets no branch."""
    ref = conditions.get("ref_name") if isinstance(conditions, dict) else None
    if not isinstance(ref, dict):
        return False
    include, exclude = (_strings(ref.get(key)) for key in ("include", "exclude"))
    for branch in branches:
        if any(_ref_matches(p, branch) for p in include) and not any(
                _ref_matches(p, branch) for p in exclude):
            return True
    return False


def _ref_matches(pattern: str, branch: str) -> bool:
    if pattern in ("~ALL", "~DEFAULT_BRANCH"):
        return True
    return fnmatch.fnmatchcase(f"refs/heads/{branch}", pattern) or fnmatch.fnmatchcase(
        branch, pattern)


def _key_lines(snap: Snapshot, path: str) -> list[int]:
    """Line numbers of every ``required_approving_review_count`` key, in file order, to point
    the evidence at the rule it comes from."""
    return [n for n, line in enumerate(snap.lines(path), start=1) if APPROVALS_KEY in line]


def _mapping(data: Any) -> dict[Any, Any]:
    """DATA when it is a mapping, else an empty one: odd YAML/JSON shapes read as nothing."""
    return data if isinstance(data, dict) else {}


def _strings(data: Any) -> list[str]:
    return [item for item in data if isinstance(item, str)] if isinstance(data, list) else []


def _is_count(count: object) -> TypeGuard[int]:
    return isinstance(count, int) and not isinstance(count, bool) and count >= 0


def _names(paths: list[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
