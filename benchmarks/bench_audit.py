"""Time a whole audit against git's own cost on the same repository.

    python benchmarks/bench_audit.py REPO [--runs 3] [--pydriller N]

Measures, each as the best of --runs runs in a child process (wall time and peak memory):
  * ``git log --name-status`` (the reference), ``git log --first-parent --name-status`` (what
    the auditor's history pass asks git for) and ``git ls-tree -r`` (the file index),
  * ``mlops-audit audit REPO --format json`` (the whole audit),
  * with --pydriller N: PyDriller walking the first N commits' modified files, the naive
    per-commit-diff approach. It runs on a temporary clone, because PyDriller writes to the
    config of the repository it opens.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYDRILLER_SNIPPET = """
import sys
from pydriller import Repository
n = 0
for commit in Repository(sys.argv[1], only_no_merge=False).traverse_commits():
    _ = [m.filename for m in commit.modified_files]
    n += 1
    if n >= int(sys.argv[2]):
        break
print(n)
"""


# Runs one command and prints its own peak RSS: RUSAGE_CHILDREN of a fresh process covers
# only that command, not everything this script ran before.
MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURE, *cmd], cwd=cwd, capture_output=True,
                          text=True, check=False)
    elapsed = time.perf_counter() - start
    code, peak_kib = proc.stdout.split()
    if code != "0":
        sys.exit(f"{' '.join(cmd[:3])} failed with exit code {code}")
    return elapsed, int(peak_kib) / 1024


def best(cmd: list[str], runs: int, cwd: Path | None = None) -> tuple[float, float]:
    results = [timed(cmd, cwd) for _ in range(runs)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pydriller", type=int, metavar="N", default=0)
    args = parser.parse_args()
    repo = args.repo.resolve()
    git = ["git", "-C", str(repo)]
    commits = subprocess.run([*git, "rev-list", "--first-parent", "--count", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
    total = subprocess.run([*git, "rev-list", "--count", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.strip()
    files = subprocess.run([*git, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.count("\n")
    if not shutil.which("mlops-audit"):
        sys.exit("install the auditor first: pip install .")
    audit_cmd = ["mlops-audit", "audit", str(repo), "--format", "json"]

    all_s, _ = best([*git, "log", "--name-status", "HEAD"], args.runs)
    log_s, _ = best([*git, "log", "--first-parent", "--name-status", "HEAD"], args.runs)
    tree_s, _ = best([*git, "ls-tree", "-r", "HEAD"], args.runs)
    audit_s, audit_mb = best(audit_cmd, args.runs)
    python = [f for f in subprocess.run([*git, "ls-tree", "-r", "--name-only", "HEAD"],
                                        capture_output=True, text=True, check=True
                                        ).stdout.splitlines() if f.endswith(".py")]
    print(f"repository: {repo.name}: {commits} first-parent commits ({total} in all), "
          f"{files} files at HEAD, {len(python)} of them Python")
    print(f"git log --name-status:                {all_s:6.2f} s")
    print(f"git log --first-parent --name-status: {log_s:6.2f} s")
    print(f"git ls-tree -r HEAD:                  {tree_s:6.2f} s")
    print(f"mlops-audit audit (whole audit):      {audit_s:6.2f} s  {audit_mb:6.0f} MiB peak")
    print(f"audit / git log --name-status:        {audit_s / all_s:6.1f} x")
    if args.pydriller:
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(repo), str(clone)],
                           check=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
            pyd_s, pyd_mb = timed([sys.executable, "-c", PYDRILLER_SNIPPET, str(clone),
                                   str(args.pydriller)])
        print(f"pydriller, {args.pydriller} commits' modified files: {pyd_s:6.2f} s  "
              f"{pyd_mb:6.0f} MiB (on a temporary clone)")


if __name__ == "__main__":
    main()
