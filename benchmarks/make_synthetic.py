"""Make a synthetic git repository of a given size, for the scale benchmark.

    python benchmarks/make_synthetic.py DEST --files 100000 --commits 50000 [--python-share 0.05]

DEST becomes a bare repository (nothing is checked out: the auditor reads the committed tree).
The whole history is one generated stream fed to ``git fast-import``, so no process runs per
commit. The tree is a mix like an ML monorepo's: mostly data, notebooks, Markdown and YAML, a
share of small Python modules (--python-share), plus a CI workflow, a Terraform folder and the
usual top-level files. The first commit adds the files; every later first-parent commit changes
one to three of them, and about a third are merges of a side branch ("Merge pull request #N")
whose second parent holds the change. An annotated tag marks every 500th commit. The same
arguments and --seed always give the same repository.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

EPOCH = 1_500_000_000  # July 2017: the history runs forward from here, an hour per commit
AUTHORS = ("Ada Lovelace <ada@example.org>", "Alan Turing <alan@example.org>",
           "Grace Hopper <grace@example.org>", "Edsger Dijkstra <edsger@example.org>")
MERGE_SHARE = 0.33
TAG_EVERY = 500

CI_WORKFLOW = """\
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install -r requirements.txt
      - run: ruff check src
      - run: pytest -q tests
"""

TERRAFORM = """\
resource "aws_s3_bucket" "models" {
  bucket = "synthetic-models"
}

resource "aws_sagemaker_model" "serving" {
  name               = "synthetic"
  execution_role_arn = "arn:aws:iam::123456789012:role/sagemaker"
}
"""

FIXED = {
    "README.md": "# Synthetic ML monorepo\n\nMade by make_synthetic.py for benchmarks.\n",
    "requirements.txt": "scikit-learn==1.4.2\npandas==2.2.2\nmlflow==2.12.1\npytest==8.2.0\n",
    ".github/workflows/ci.yml": CI_WORKFLOW,
    "terraform/main.tf": TERRAFORM,
    "terraform/variables.tf": 'variable "region" {\n  default = "eu-west-1"\n}\n',
    "Dockerfile": "FROM python:3.11-slim\nCOPY . /app\nRUN pip install -r /app/requirements.txt\n",
}


def python_module(i: int) -> str:
    return (f'"""Feature step {i}."""\n\nimport pandas as pd\nfrom sklearn.preprocessing '
            f"import StandardScaler\n\n\ndef transform_{i}(frame: pd.DataFrame) -> pd.DataFrame:"
            f"\n    scaled = StandardScaler().fit_transform(frame)\n"
            f"    return pd.DataFrame(scaled, columns=frame.columns)\n")


def test_module(i: int) -> str:
    return (f"from src.pkg{i // 50}.step_{i} import transform_{i}\n\n\n"
            f"def test_transform_{i}() -> None:\n    assert callable(transform_{i})\n")


def notebook(i: int) -> str:
    return ('{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Exploration '
            f'{i}"]}}, {{"cell_type": "code", "metadata": {{}}, "outputs": [], "execution_count"'
            f': null, "source": ["import pandas as pd\\n", "df = pd.read_csv(\'data/{i}.csv\')"]'
            '}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n')


def layout(files: int, python_share: float, rng: random.Random) -> dict[str, str]:
    """FILES paths and their first contents: Python modules (a tenth of them tests) up to
    PYTHON_SHARE of the tree, the rest data, notebooks, Markdown and YAML, 100 to a folder."""
    tree = dict(FIXED)
    n_python = int(files * python_share)
    for i in range(n_python):
        if i % 10 == 9:
            tree[f"tests/pkg{i // 50}/test_step_{i}.py"] = test_module(i - 1)
        else:
            tree[f"src/pkg{i // 50}/step_{i}.py"] = python_module(i)
    kinds = ("csv", "csv", "csv", "ipynb", "md", "md", "yaml", "yaml")
    i = 0
    while len(tree) < files:
        kind = kinds[rng.randrange(len(kinds))]
        folder = i // 100
        if kind == "csv":
            tree[f"data/raw/part{folder}/{i}.csv"] = f"id,value\n{i},{rng.random():.6f}\n"
        elif kind == "ipynb":
            tree[f"notebooks/group{folder}/explore_{i}.ipynb"] = notebook(i)
        elif kind == "md":
            tree[f"docs/section{folder}/page_{i}.md"] = f"# Page {i}\n\nNotes on experiment {i}.\n"
        else:
            tree[f"configs/set{folder}/run_{i}.yaml"] = (
                f"run: {i}\nparams:\n  learning_rate: {rng.random():.4f}\n  epochs: 10\n")
        i += 1
    return tree


def data(text: str) -> bytes:
    raw = text.encode("utf-8")
    return b"data %d\n%s\n" % (len(raw), raw)


def commit(ref: str, mark: int, when: int, message: str, parent: int | None,
           merge: int | None, changes: dict[str, str], rng: random.Random) -> bytes:
    who = AUTHORS[rng.randrange(len(AUTHORS))]
    parts = [b"commit %s\nmark :%d\n" % (ref.encode(), mark),
             b"author %s %d +0000\ncommitter %s %d +0000\n" % (who.encode(), when, who.encode(),
                                                               when),
             data(message)]
    if parent is not None:
        parts.append(b"from :%d\n" % parent)
    if merge is not None:
        parts.append(b"merge :%d\n" % merge)
    for path, content in changes.items():
        parts.append(b"M 100644 inline %s\n" % path.encode())
        parts.append(data(content))
    return b"".join(parts) + b"\n"


def stream(files: int, commits: int, python_share: float, seed: int) -> Iterator[bytes]:
    """The fast-import stream: COMMITS first-parent commits on main (side-branch commits of the
    merges come on top), the first adding FILES files."""
    rng = random.Random(seed)
    tree = layout(files, python_share, rng)
    paths = list(tree)
    yield commit("refs/heads/main", 1, EPOCH, "Initial import", None, None, tree, rng)
    mark, main_mark, pr = 1, 1, 0
    for n in range(1, commits):
        when = EPOCH + 3600 * n
        changes = {}
        for _ in range(rng.randint(1, 3)):
            path = paths[rng.randrange(len(paths))]
            changes[path] = tree[path] + f"# revision {n}\n"
        if rng.random() < MERGE_SHARE:
            pr += 1
            mark += 1
            branch = f"feature-{pr}"
            yield commit(f"refs/heads/{branch}", mark, when - 600, f"Change {n} on {branch}",
                         main_mark, None, changes, rng)
            side = mark
            mark += 1
            yield commit("refs/heads/main", mark, when,
                         f"Merge pull request #{pr} from ada/{branch}\n\nChange {n}", main_mark,
                         side, {}, rng)
            yield b"reset refs/heads/%s\nfrom 0000000000000000000000000000000000000000\n\n" % (
                branch.encode())
        else:
            mark += 1
            yield commit("refs/heads/main", mark, when, f"Change {n}", main_mark, None, changes,
                         rng)
        main_mark = mark
        if n % TAG_EVERY == 0:
            who = AUTHORS[0].encode()
            yield (b"tag v0.%d.0\nfrom :%d\ntagger %s %d +0000\n" % (n // TAG_EVERY, mark, who,
                                                                    when)
                   + data(f"Release 0.{n // TAG_EVERY}.0"))


def make(dest: Path, files: int, commits: int, python_share: float, seed: int = 7) -> None:
    """Create the bare repository DEST (which must not exist yet)."""
    if dest.exists():
        sys.exit(f"{dest} exists; choose a new path")
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(dest)],
                   check=True)
    proc = subprocess.Popen(["git", "-C", str(dest), "fast-import", "--quiet", "--done"],
                            stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for chunk in stream(files, commits, python_share, seed):
        proc.stdin.write(chunk)
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit("git fast-import failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=5_000, help="first-parent commits")
    parser.add_argument("--python-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    start = time.perf_counter()
    make(args.dest, args.files, args.commits, args.python_share, args.seed)
    print(f"{args.dest}: {args.files} files, {args.commits} first-parent commits "
          f"in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
