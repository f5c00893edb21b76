"""Build hostile repositories at test time: each builder writes a small repository (or folder)
under ROOT that tries to make the auditor run a command (it would create MARKER), read outside
its tree, hang, or pass markup through. Builders return the folder to audit."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

from tests.gitrepo import RepoBuilder

SECRET = "hostile-outside-secret-7f3a9c"  # the content of a file outside every audited tree
MARKUP = "<script>alert(1)</script>"
ESC = "\x1b[31m"
NAME = f"alert(1) & \"quote\" ' {ESC}x"  # git refuses < and > in names

_HOOKS = ("applypatch-msg", "commit-msg", "fsmonitor-watchman", "post-applypatch",
          "post-checkout", "post-commit", "post-index-change", "post-merge", "post-receive",
          "post-rewrite", "post-update", "pre-applypatch", "pre-auto-gc", "pre-commit",
          "pre-merge-commit", "pre-push", "pre-rebase", "pre-receive", "prepare-commit-msg",
          "proc-receive", "push-to-checkout", "reference-transaction", "sendemail-validate",
          "update")

_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": os.devnull,
            "GIT_AUTHOR_NAME": "Ada Dev", "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada Dev", "GIT_COMMITTER_EMAIL": "ada@example.com",
            "GIT_AUTHOR_DATE": "1700000000 +0000", "GIT_COMMITTER_DATE": "1700000000 +0000"}


def git(cwd: Path, *args: str, data: bytes | None = None) -> str:
    """Run git in CWD for building a fixture (our own commands, never the auditor's)."""
    env = {**os.environ, **_GIT_ENV}
    proc = subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           "-c", "protocol.file.allow=always", *args],
                          cwd=cwd, env=env, input=data, capture_output=True, check=True)
    return proc.stdout.decode("utf-8", "replace")


def command(marker: Path) -> str:
    """A shell command that proves it ran by creating MARKER."""
    return f"touch '{marker}'"


def script(marker: Path) -> str:
    return f"#!/bin/sh\n{command(marker)}\n"


def python_writing(marker: Path) -> str:
    """Python source that creates MARKER as soon as it is imported or run."""
    return f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file, symlink and folder under FOLDER with its mode and content hash (symlinks by
    target, never followed): equal digests mean not a byte changed."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            info = full.lstat()
            rel = full.relative_to(folder).as_posix()
            if stat.S_ISLNK(info.st_mode):
                out[rel] = f"link {os.readlink(full)}"
            elif stat.S_ISREG(info.st_mode):
                out[rel] = f"{info.st_mode:o} {hashlib.sha256(full.read_bytes()).hexdigest()}"
            else:
                out[rel] = f"{info.st_mode:o}"
    return out


def outside_secret(root: Path) -> Path:
    """A file outside the audited tree whose content must never reach a report."""
    secret = root / "outside" / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(SECRET + "\n", encoding="utf-8")
    return secret


def _repo(root: Path, files: dict[str, str] | None = None) -> RepoBuilder:
    repo = RepoBuilder(root / "repo")
    repo.commit("initial", files or {"train.py": "print('train')\n", "README.md": "# Model\n"})
    return repo


def config_commands(root: Path, marker: Path) -> Path:
    """Repository config naming programs git would run: fsmonitor, pager, external diff, textconv
    and filter drivers bound by .gitattributes, ssh, gpg (with a signed-looking commit), askpass,
    a hooks folder, and a dirty working tree so that a status would need the clean filter."""
    repo = _repo(root, {"train.py": "print('train')\n", "data.csv": "a,b\n1,2\n",
                        ".gitattributes": "* diff=evil filter=evil merge=evil\n"})
    path = repo.path
    hooks = root / "hooks"
    hooks.mkdir()
    for name in _HOOKS:
        (hooks / name).write_text(script(marker), encoding="utf-8")
        (hooks / name).chmod(0o755)
    # A commit carrying a PGP signature block, so that log.showSignature would start gpg.
    head = git(path, "rev-parse", "HEAD").strip()
    tree = git(path, "rev-parse", "HEAD^{tree}").strip()
    body = (f"tree {tree}\nparent {head}\nauthor Ada Dev <ada@example.com> 1700007200 +0000\n"
            "committer Ada Dev <ada@example.com> 1700007200 +0000\n"
            "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n"
            " -----END PGP SIGNATURE-----\n\nsigned change\n")
    signed = git(path, "hash-object", "-t", "commit", "-w", "--stdin", data=body.encode()).strip()
    git(path, "update-ref", "refs/heads/main", signed)
    run = command(marker)
    with repo.repo.config_writer() as cfg:
        for section, key, value in (
                ("core", "fsmonitor", run), ("core", "pager", run), ("core", "sshCommand", run),
                ("core", "askPass", run), ("core", "editor", run), ("core", "hooksPath", hooks),
                ("core", "alternateRefsCommand", run), ("diff", "external", run),
                ('diff "evil"', "textconv", run), ('diff "evil"', "command", run),
                ('filter "evil"', "clean", run), ('filter "evil"', "smudge", run),
                ('filter "evil"', "process", run), ('filter "evil"', "required", "true"),
                ('merge "evil"', "driver", run), ("log", "showSignature", "true"),
                ("gpg", "program", run), ("gpg", "format", "openpgp"),
                ("credential", "helper", f"!{run}"), ("pager", "log", run),
                ("alias", "log", f"!{run}"), ("uploadpack", "packObjectsHook", run),
                ('remote "origin"', "url", "ssh://attacker.invalid/repo.git")):
            cfg.set_value(section, key, str(value))
    repo.close()
    (path / "train.py").write_text("print('changed in the working tree')\n", encoding="utf-8")
    (path / "untracked.py").write_text("x = 1\n", encoding="utf-8")
    return path


def hooks(root: Path, marker: Path) -> Path:
    """Every hook git knows, executable, in .git/hooks."""
    repo = _repo(root)
    repo.close()
    for name in _HOOKS:
        hook = repo.path / ".git" / "hooks" / name
        hook.write_text(script(marker), encoding="utf-8")
        hook.chmod(0o755)
    (repo.path / "README.md").write_text("# dirty\n", encoding="utf-8")
    return repo.path


def importable_code(root: Path, marker: Path) -> Path:
    """Code that runs when imported, installed or collected by pytest/nox."""
    code = python_writing(marker)
    repo = _repo(root, {
        "setup.py": code, "conftest.py": code, "noxfile.py": code, "sitecustomize.py": code,
        "tests/conftest.py": code, "tests/test_model.py": code + "def test_x():\n    pass\n",
        "src/app/__init__.py": code, "src/app/train.py": code + "import mlflow\n",
        "pyproject.toml": "[build-system]\nrequires = ['setuptools']\n"
                          "build-backend = 'setuptools.build_meta'\n",
        "app.pth": f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n",
        "notebook.ipynb": json.dumps({"cells": [{"cell_type": "code", "source": [code],
                                                  "metadata": {}, "outputs": []}],
                                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}),
    })
    repo.close()
    return repo.path


_LINKS = {
    "README.md": "SECRET",  # replaced by the path of the outside secret
    "requirements.txt": "/etc/passwd",
    "root": "/",
    "etc": "/etc",
    "up.py": "../../../../../../../../etc/passwd",
    "params.yaml": "../outside/secret.txt",
    ".github": "../outside",  # a symlinked folder where the CI checks look
    "docs": "/etc",
}


def _make_links(folder: Path, secret: Path) -> None:
    for name, target in _LINKS.items():
        (folder / name).symlink_to(str(secret) if target == "SECRET" else target)
    (folder.parent / "outside" / "workflows").mkdir(exist_ok=True)
    (folder.parent / "outside" / "workflows" / "ci.yml").write_text(
        f"# {SECRET}\non: push\njobs:\n  t:\n    runs-on: x\n    steps:\n"
        f"      - run: echo {SECRET}\n", encoding="utf-8")


def symlinks_git(root: Path, marker: Path) -> Path:
    """Committed symlinks to /etc/passwd, /, /etc, through ../.. and a symlinked folder."""
    secret = outside_secret(root)
    path = root / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "train.py").write_text("print('train')\n", encoding="utf-8")
    _make_links(path, secret)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "links")
    return path


def symlinks_plain(root: Path, marker: Path) -> Path:
    """The same symlinks in a folder that is not a repository."""
    secret = outside_secret(root)
    path = root / "plain"
    path.mkdir()
    (path / "train.py").write_text("print('train')\n", encoding="utf-8")
    _make_links(path, secret)
    return path


def big_file(root: Path, marker: Path) -> Path:
    """A 20 MB Python file and a 6 MB workflow, above every read cap."""
    path = root / "repo"
    path.mkdir()
    git(path, "init", "-q")
    (path / "huge.py").write_bytes(b"x = 1  # padding padding padding padding\n" * 500_000)
    (path / ".github" / "workflows").mkdir(parents=True)
    (path / ".github" / "workflows" / "ci.yml").write_bytes(
        b"on: push\n" + b"# pad pad pad pad pad pad pad pad pad pad pad pad\n" * 120_000)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "big")
    return path


def missing_objects(root: Path, marker: Path) -> Path:
    """A partial clone's shape: files listed in the committed tree whose contents are not in
    the object store (their loose objects deleted)."""
    repo = _repo(root, {"train.py": "from sklearn.svm import SVC\nSVC().fit([[0]], [0])\n",
                        "config.yaml": "password: hunter22hunter\n", "README.md": "# Model\n"})
    for name in ("train.py", "config.yaml"):
        oid = git(repo.path, "rev-parse", f"HEAD:{name}").strip()
        (repo.path / ".git" / "objects" / oid[:2] / oid[2:]).unlink()
    return repo.path


def bad_bytes(root: Path, marker: Path) -> Path:
    """Binary content under source extensions, invalid UTF-8, CRLF with a byte-order mark."""
    path = root / "repo"
    path.mkdir()
    git(path, "init", "-q")
    files: dict[str, bytes] = {
        "model.py": bytes(range(256)) * 64,
        "train.py": b"def f():\n    return '\xff\xfe\xc3\x28'\n",
        "serve.py": b"\xef\xbb\xbfimport mlflow\r\nmlflow.log_metric('a', 1)\r\n",
        "requirements.txt": b"\x00\x01\x02numpy\x00",
        "pyproject.toml": b"\xef\xbb\xbf[project]\r\nname = 'x'\r\n",
        ".github/workflows/ci.yml": b"\xef\xbb\xbfon: push\r\njobs:\r\n  t:\r\n"
                                    b"    runs-on: x\r\n    steps:\r\n      - run: pytest\r\n",
        "notebook.ipynb": b"\x89PNG\r\n\x1a\n\x00\x00",
        "main.tf": b"\xff\xfe\x00r\x00e\x00s\x00",
        "README.md": b"# \xff\xfe broken \xc3\x28\r\n",
    }
    for rel, data in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_bytes(data)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "bytes")
    return path


MALFORMED = {
    ".github/workflows/ci.yml": "on: [push\njobs: {t: {runs-on: x, steps: [- run: pytest\n",
    ".gitlab-ci.yml": "test:\n  script:\n    - pytest\n  - bad indent\n",
    "pyproject.toml": "[project\nname = 'x'\n[tool.pytest.ini_options\n",
    "package.json": '{"scripts": {"test": "jest",}',
    "main.tf": 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n  tags = {\n',
    "dvc.yaml": "stages:\n  train:\n    cmd: [python train.py\n",
    ".pre-commit-config.yaml": "repos:\n- repo: x\n  hooks: [{id: ruff\n",
    "notebook.ipynb": '{"cells": [{"cell_type": "code", "source": "import mlflow"',
}


def malformed(root: Path, marker: Path) -> Path:
    """Broken YAML, TOML, JSON and HCL where the checks look."""
    repo = _repo(root, {**MALFORMED, "train.py": "print('train')\n"})
    repo.close()
    return repo.path


def _alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\non: push\njobs:\n  t:\n    runs-on: *j\n    steps: *j\n"


def alias_bomb(root: Path, marker: Path) -> Path:
    """A billion-laughs YAML in the CI, the DVC pipeline and the pre-commit config."""
    bomb = _alias_bomb()
    repo = _repo(root, {".github/workflows/ci.yml": bomb, ".gitlab-ci.yml": bomb,
                        "dvc.yaml": bomb, ".pre-commit-config.yaml": bomb, "params.yaml": bomb,
                        "train.py": "print('train')\n"})
    repo.close()
    return repo.path


def deep_nesting(root: Path, marker: Path) -> Path:
    """JSON and YAML nested far beyond any recursion limit, and a deeply nested Python
    expression."""
    depth = 50_000
    deep_json = "[" * depth + "]" * depth
    deep_yaml = "[" * depth + "]" * depth + "\n"
    repo = _repo(root, {
        "notebook.ipynb": '{"cells": ' + deep_json + "}",
        "package.json": '{"a": ' + deep_json + "}",
        ".github/workflows/ci.yml": deep_yaml,
        "dvc.yaml": "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 300)),
        "deep.py": "x = " + "(" * 5000 + "1" + ")" * 5000 + "\n",
        "train.py": "print('train')\n",
    })
    repo.close()
    return repo.path


def markup(root: Path, marker: Path) -> Path:
    """Markup and terminal escapes in file names, commit messages, author names and contents."""
    repo = RepoBuilder(root / "repo")
    repo.commit(f"{MARKUP} {ESC}initial", {
        f"tests/test_{MARKUP.replace('/', '_')}.py": "def test_a():\n    assert 1\n",
        f"tests/test_{ESC}red.py": "def test_b():\n    assert 1\n",
        "README.md": f"# {MARKUP}\n\n## Monitoring\n\n{ESC}red {MARKUP} text\n",
        "train.py": f"import mlflow\nmlflow.log_param('{MARKUP}', '{ESC}')\n",
        ".github/workflows/ci.yml": f"name: '{MARKUP}'\non: push\njobs:\n  t{ESC}:\n"
                                   f"    runs-on: x\n    steps:\n      - run: pytest # {MARKUP}\n",
    }, author=f"{NAME} <x@example.com>")
    repo.merge_pr(1, "feature", {"serve.py": f"# {MARKUP}\n"}, author=f"{NAME} <y@example.com>",
                  merger=f"{NAME} <z@example.com>", title=f"{MARKUP}{ESC}title")
    repo.close()
    path = repo.path
    (path / f"{MARKUP.replace('/', '_')}{ESC}.md").symlink_to("README.md")
    git(path, "add", "-A")
    git(path, "commit", "-qm", f"link {MARKUP}")
    # A raw commit object whose author field itself holds markup (no porcelain writes one).
    body = (f"tree {git(path, 'rev-parse', 'HEAD^{tree}').strip()}\n"
            f"parent {git(path, 'rev-parse', 'HEAD').strip()}\n"
            f"author {MARKUP} {ESC} <x@example.com> 1700100000 +0000\n"
            f"committer {MARKUP} <y@example.com> 1700100000 +0000\n\n{MARKUP} raw\n")
    raw = git(path, "hash-object", "--literally", "-t", "commit", "-w", "--stdin",
              data=body.encode()).strip()
    git(path, "update-ref", "refs/heads/main", raw)
    return repo.path


def _history_repo(root: Path) -> Path:
    repo = RepoBuilder(root / "origin")
    for i in range(4):
        repo.commit(f"change {i}", {f"src/m{i}.py": f"x = {i}\n", "README.md": f"# v{i}\n"})
    repo.close()
    return repo.path


def empty_repo(root: Path, marker: Path) -> Path:
    path = root / "repo"
    path.mkdir()
    git(path, "init", "-q")
    return path


def bare_repo(root: Path, marker: Path) -> Path:
    git(root, "clone", "-q", "--bare", str(_history_repo(root)), "bare.git")
    return root / "bare.git"


def shallow_clone(root: Path, marker: Path) -> Path:
    git(root, "clone", "-q", "--depth", "1", f"file://{_history_repo(root)}", "shallow")
    return root / "shallow"


def detached_head(root: Path, marker: Path) -> Path:
    path = _history_repo(root)
    git(path, "checkout", "-q", "--detach", "HEAD~1")
    return path


def lfs_pointers(root: Path, marker: Path) -> Path:
    """Git LFS pointer files where models, data and even code would be, with the lfs filter
    configured to run a command."""
    pointer = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
               "size 12345\n")
    repo = _repo(root, {".gitattributes": "*.pkl filter=lfs diff=lfs merge=lfs -text\n"
                                          "*.py filter=lfs diff=lfs merge=lfs -text\n",
                        "model.pkl": pointer, "train.py": pointer, "data/train.csv": pointer,
                        "README.md": "# LFS\n"})
    with repo.repo.config_writer() as cfg:
        cfg.set_value('filter "lfs"', "smudge", command(marker))
        cfg.set_value('filter "lfs"', "process", command(marker))
        cfg.set_value('filter "lfs"', "clean", command(marker))
    repo.close()
    return repo.path


def submodule(root: Path, marker: Path) -> Path:
    """A gitlink whose .gitmodules URL would run a command if anything fetched it."""
    repo = _repo(root, {".gitmodules": f'[submodule "lib"]\n\tpath = vendor/lib\n'
                                       f'\turl = ext::sh -c "{command(marker)}"\n'
                                       "\tupdate = !" + command(marker) + "\n",
                        "train.py": "print('train')\n"})
    repo.close()
    sha = "1" * 40
    git(repo.path, "update-index", "--add", "--cacheinfo", f"160000,{sha},vendor/lib")
    git(repo.path, "commit", "-qm", "add submodule")
    return repo.path


def odd_paths(root: Path, marker: Path) -> Path:
    """Paths with spaces, newlines, tabs, quotes, leading dashes and non-ASCII characters."""
    repo = _repo(root, {
        "my dir/train model.py": "import mlflow\n",
        "tests/test new\nline.py": "def test_a():\n    assert 1\n",
        "tests/test\ttab.py": "def test_b():\n    assert 1\n",
        '-rf "quoted".py': "x = 1\n",
        "--help.md": "# help\n",
        "données/modèle ü.py": "x = 1\n",
        ".github/workflows/c i.yml": "on: push\njobs:\n  t:\n    runs-on: x\n"
                                     "    steps:\n      - run: pytest\n",
    })
    repo.close()
    return repo.path


def not_a_repository(root: Path, marker: Path) -> Path:
    path = root / "plain"
    (path / "src").mkdir(parents=True)
    (path / "src" / "train.py").write_text(python_writing(marker), encoding="utf-8")
    (path / "setup.py").write_text(python_writing(marker), encoding="utf-8")
    return path


def other_owner(root: Path, marker: Path) -> Path:
    """A checkout owned by another user (uid 65534) with a hook that would run."""
    path = _history_repo(root)
    hook = path / ".git" / "hooks" / "post-index-change"
    hook.write_text(script(marker), encoding="utf-8")
    hook.chmod(0o755)
    for dirpath, _, filenames in os.walk(path):
        os.chown(dirpath, 65534, 65534)
        for name in filenames:
            os.chown(Path(dirpath) / name, 65534, 65534, follow_symlinks=False)
    return path
