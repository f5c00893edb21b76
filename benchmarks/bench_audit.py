"""Time a whole audit against git's own cost on the same repository.

    python benchmarks/bench_audit.py REPO [--runs 3] [--pydriller N]

Measures, each as the best of --runs runs in a child process (wall time and peak memory):
  * ``git log --first-parent --name-status`` and ``git ls-tree -r`` (the floor: what git itself
    needs to list the history and the files),
  * ``mlops-audit audit REPO --format json`` (the whole audit),
  * with --pydriller N: PyDriller walking the first N commits' modified files, the naive
    per-commit-diff approach. It runs on a temporary clone, because PyDriller writes to the
    config of the repository it opens.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed: {proc.stderr.decode(errors='replace')[-300:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


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
    files = subprocess.run([*git, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.count("\n")
    if not shutil.which("mlops-audit"):
        sys.exit("install the auditor first: pip install .")
    audit_cmd = ["mlops-audit", "audit", str(repo), "--format", "json"]

    log_s, log_mb = best([*git, "log", "--first-parent", "--name-status", "HEAD"], args.runs)
    tree_s, _ = best([*git, "ls-tree", "-r", "HEAD"], args.runs)
    audit_s, audit_mb = best(audit_cmd, args.runs)
    floor = log_s + tree_s
    print(f"repository: {repo.name}: {commits} first-parent commits, {files} files at HEAD")
    print(f"git log --first-parent --name-status: {log_s:6.2f} s  {log_mb:6.0f} MiB")
    print(f"git ls-tree -r HEAD:                  {tree_s:6.2f} s")
    print(f"mlops-audit audit (whole audit):      {audit_s:6.2f} s  {audit_mb:6.0f} MiB peak")
    print(f"audit / (git log + ls-tree):          {audit_s / floor:6.2f} x")
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
