"""Measure the auditor against hand-made labels of real public repositories.

    python benchmarks/devset.py --repos DIR [--labels benchmarks/devset] [--sections 2,3]

Each label file (``benchmarks/devset/OWNER__NAME.yaml``) names a repository, the commit that was
labelled and, per statement, the answer a careful reviewer gave with the reason. The repositories
themselves are not part of this project: clone them yourself into DIR, as ``DIR/OWNER__NAME``,
``DIR/OWNER+NAME/repo`` or ``DIR/NAME`` (a bare clone is fine: the labelled commit is audited
straight from the object store).

Prints, per statement, how many repositories agree, and every false yes (the auditor said yes,
the label did not) and false no (the auditor said no, the label did not), then agreement per
section.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from mlops_auditor.engine import audit
from mlops_auditor.errors import InputError
from mlops_auditor.rules import load_rules

HERE = Path(__file__).resolve().parent


def find_repo(root: Path, name: str) -> Path | None:
    owner, _, short = name.partition("/")
    for candidate in (root / f"{owner}__{short}", root / f"{owner}+{short}" / "repo",
                      root / short):
        if candidate.is_dir():
            return candidate
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=Path, required=True, help="folder holding the clones")
    parser.add_argument("--labels", type=Path, default=HERE / "devset")
    parser.add_argument("--sections", default="1,2,3,4,5,6,7",
                        help="comma-separated sections to score (default: all)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    rules = load_rules()
    ids = [s.id for s in rules.statements if s.section in sections]
    agree: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    false_yes: dict[str, list[str]] = defaultdict(list)
    false_no: dict[str, list[str]] = defaultdict(list)
    per_section: dict[str, Counter[str]] = defaultdict(Counter)
    audited = 0
    for path in sorted(args.labels.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        repo = find_repo(args.repos, spec["repo"])
        if repo is None:
            print(f"skipped {spec['repo']}: no clone under {args.repos}", file=sys.stderr)
            continue
        try:
            result = audit(repo, rev=spec["commit"], rules=rules)
        except InputError as exc:
            print(f"skipped {spec['repo']}: {exc}", file=sys.stderr)
            continue
        audited += 1
        got = {a.statement.id: a.status for a in result.answers}
        for sid in ids:
            label = str(spec["labels"][sid]["answer"])
            section = sid.split(".")[0]
            seen[sid] += 1
            per_section[section]["total"] += 1
            if got[sid] == label:
                agree[sid] += 1
                per_section[section]["agree"] += 1
            if got[sid] == "yes" and label != "yes":
                false_yes[sid].append(f"{spec['repo']} (label {label})")
                per_section[section]["false yes"] += 1
            if got[sid] == "no" and label != "no":
                false_no[sid].append(f"{spec['repo']} (label {label})")
                per_section[section]["false no"] += 1
    if not audited:
        print("no labelled repository found under --repos", file=sys.stderr)
        return 2
    print(f"{audited} repositories, sections {','.join(sorted(sections))}\n")
    print(f"{'statement':<10} {'agree':>7}  false yes / false no")
    for sid in ids:
        notes = "; ".join([*(f"YES {r}" for r in false_yes[sid]),
                           *(f"NO {r}" for r in false_no[sid])])
        print(f"{sid:<10} {agree[sid]:>3}/{seen[sid]:<3}  {notes}")
    print()
    for section in sorted(per_section):
        c = per_section[section]
        print(f"section {section}: agreement {c['agree']}/{c['total']} "
              f"({100 * c['agree'] / c['total']:.0f} %), false yes {c['false yes']}, "
              f"false no {c['false no']}")
    total = sum(c["total"] for c in per_section.values())
    agreed = sum(c["agree"] for c in per_section.values())
    print(f"all: agreement {agreed}/{total} ({100 * agreed / total:.0f} %), "
          f"false yes {sum(len(v) for v in false_yes.values())}, "
          f"false no {sum(len(v) for v in false_no.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
