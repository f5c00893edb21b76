"""How an audit's cost grows with the size of a repository, on synthetic repositories.

    python benchmarks/bench_scale.py [--sizes 10000:5000,30000:15000,100000:50000]
                                     [--runs 2] [--pydriller 1000]

For each FILES:COMMITS size, makes a repository with make_synthetic.py in a temporary folder
(deleted afterwards), then measures, each in a fresh child process (wall time of the best of
--runs, the highest peak memory):
  * git's own cost: ``git ls-tree -r HEAD`` (the file index; the repository is bare, so this
    stands in for ``git ls-files``) plus ``git log --name-status`` (the whole history),
  * the whole audit, ``mlops-audit audit REPO --format json``, on both cores and in one process
    (``MLOPS_AUDIT_WORKERS=1``),
  * with --pydriller K: PyDriller walking the first K commits' modified files (on a temporary
    clone: PyDriller writes to the config of the repository it opens).
Then prints each measure's growth from one size to the next beside the growth in size.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_audit import MEASURE, PYDRILLER_SNIPPET, best, timed
from make_synthetic import make


def measure(repo: Path, runs: int, pydriller: int) -> dict[str, float]:
    git = ["git", "-C", str(repo)]
    tree_s, tree_mb = best([*git, "ls-tree", "-r", "HEAD"], runs)
    log_s, log_mb = best([*git, "log", "--name-status", "HEAD"], runs)
    audit_cmd = ["mlops-audit", "audit", str(repo), "--format", "json"]
    audit_s, audit_mb = best(audit_cmd, runs)
    one_s, one_mb = best_env(audit_cmd, runs, {"MLOPS_AUDIT_WORKERS": "1"})
    row = {"git_s": tree_s + log_s, "git_mb": max(tree_mb, log_mb), "audit_s": audit_s,
           "audit_mb": audit_mb, "one_s": one_s, "one_mb": one_mb}
    if pydriller:
        with tempfile.TemporaryDirectory() as tmp:
            clone = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(repo), str(clone)],
                           check=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
            row["pyd_s"], row["pyd_mb"] = timed([sys.executable, "-c", PYDRILLER_SNIPPET,
                                                 str(clone), str(pydriller)])
    return row


def best_env(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Like bench_audit.best, with ENV added to the child's environment."""
    results = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True,
                              text=True, check=False, env={**os.environ, **env})
        elapsed = time.perf_counter() - start
        code, peak_kib = proc.stdout.split()
        if code != "0":
            sys.exit(f"{' '.join(cmd[:3])} failed with exit code {code}")
        results.append((elapsed, int(peak_kib) / 1024))
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000:5000,30000:15000,100000:50000")
    parser.add_argument("--python-share", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--pydriller", type=int, metavar="K", default=0)
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in s.split(":")) for s in args.sizes.split(",")]
    rows = []
    for files, commits in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            repo = Path(tmp) / "synthetic.git"
            start = time.perf_counter()
            make(repo, files, commits, args.python_share)
            made_s = time.perf_counter() - start
            row = measure(repo, args.runs, args.pydriller)
        row.update(files=files, commits=commits, made_s=made_s)
        rows.append(row)
        pyd = (f" | {row['pyd_s']:.2f} s, {row['pyd_mb']:.0f} MiB" if "pyd_s" in row else "")
        print(f"| {files:,} files, {commits:,} commits | {made_s:.1f} s | {row['git_s']:.2f} s "
              f"| {row['audit_s']:.2f} s ({row['audit_s'] / row['git_s']:.1f} x), "
              f"{row['audit_mb']:.0f} MiB | {row['one_s']:.2f} s, {row['one_mb']:.0f} MiB{pyd} |",
              flush=True)
    for a, b in itertools.pairwise(rows):
        print(f"{a['files']:,} -> {b['files']:,} files, {a['commits']:,} -> {b['commits']:,} "
              f"commits (x {b['commits'] / a['commits']:.2f}): git x {b['git_s'] / a['git_s']:.2f}"
              f", audit x {b['audit_s'] / a['audit_s']:.2f}, one process x "
              f"{b['one_s'] / a['one_s']:.2f}, audit memory x {b['audit_mb'] / a['audit_mb']:.2f}")


if __name__ == "__main__":
    main()
