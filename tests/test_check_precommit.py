"""The precommit check: hooks classified by id, entry and repository; quality needs lint/format."""

from __future__ import annotations

import pytest

from mlops_auditor.checks import precommit
from mlops_auditor.model import Fact
from tests.conftest import MakeSnapshot

CONFIG = """\
repos:
  - repo: https://github.com/pre-commit/pre-commit-hooks
    rev: v4.6.0
    hooks:
      - id: trailing-whitespace
      - id: check-added-large-files
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.6.0
    hooks:
      - id: ruff
      - id: ruff-format
  - repo: https://github.com/pre-commit/mirrors-mypy
    rev: v1.11.0
    hooks:
      - id: mypy
"""


def facts(snap: object) -> dict[str, Fact]:
    return {f.id: f for f in precommit.collect(snap)}  # type: ignore[arg-type]


def test_reports_every_fact_and_searches_when_nothing_is_there(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({"README.md": "# x\n"}))
    assert set(result) == set(precommit.FACTS)
    assert result["precommit.config"].value is False
    assert result["precommit.hooks"].value == ()
    assert result["precommit.quality"].value is False
    assert "did not find" in result["precommit.config"].evidence[0].detail
    assert ".pre-commit-config.yaml" in result["precommit.config"].evidence[0].detail


def test_standard_config_gives_ids_categories_and_quality(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({".pre-commit-config.yaml": CONFIG}))
    assert result["precommit.config"].value is True
    assert result["precommit.hooks"].value == (
        "trailing-whitespace", "check-added-large-files", "ruff", "ruff-format", "mypy")
    assert result["precommit.categories"].value == ("lint", "format", "types", "data", "hygiene")
    quality = result["precommit.quality"]
    assert quality.value is True
    ruff = quality.evidence[0]
    assert (ruff.path, ruff.line) == (".pre-commit-config.yaml", 10)
    assert "ruff" in ruff.detail and "lint" in ruff.detail


def test_only_hygiene_hooks_are_not_quality(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".pre-commit-config.yaml": """\
        repos:
          - repo: https://github.com/pre-commit/pre-commit-hooks
            rev: v4.6.0
            hooks:
              - id: trailing-whitespace
              - id: end-of-file-fixer
        """})
    result = facts(snap)
    assert result["precommit.config"].value is True
    assert result["precommit.categories"].value == ("hygiene",)
    quality = result["precommit.quality"]
    assert quality.value is False
    details = " | ".join(e.detail for e in quality.evidence)
    assert "only hygiene hooks configured: trailing-whitespace, end-of-file-fixer" in details


def test_empty_repos_list_is_no_config_and_no_quality(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({".pre-commit-config.yaml": "repos: []\n"}))
    assert result["precommit.config"].value is False
    assert result["precommit.quality"].value is False
    empty = [e for e in result["precommit.config"].evidence if e.path]
    assert empty[0].path == ".pre-commit-config.yaml"
    assert "defines no hook" in empty[0].detail
    assert any("defines no hook" in e.detail for e in result["precommit.quality"].evidence)


@pytest.mark.parametrize("url", [
    "https://github.com/psf/black", "https://github.com/psf/black.git",
    "http://github.com/PSF/black/", "git@github.com:psf/black.git",
    "https://user@github.com/psf/black.git/"])
def test_repository_urls_are_normalised(url: str) -> None:
    assert precommit.normalise_repo(url) == "github.com/psf/black"


def test_unknown_id_is_classified_by_its_repository(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".pre-commit-config.yaml": """\
        repos:
          - repo: https://github.com/PSF/black.git/
            rev: 24.1.0
            hooks:
              - id: black-custom-profile
        """})
    result = facts(snap)
    assert result["precommit.categories"].value == ("format",)
    assert result["precommit.quality"].value is True


def test_local_hooks_are_judged_by_their_entry(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".pre-commit-config.yaml": """\
        repos:
          - repo: local
            hooks:
              - id: black
                name: black
                entry: echo "formatting is done in CI"
                language: system
              - id: style
                entry: poetry run ruff check --fix
                language: system
              - id: types
                entry: uv run mypy src
                language: system
        """})
    result = facts(snap)
    assert result["precommit.categories"].value == ("lint", "types")
    quality = result["precommit.quality"]
    assert quality.value is True
    assert [e.line for e in quality.evidence] == [8]


def test_local_hook_with_a_no_op_entry_is_counter_evidence(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".pre-commit-config.yaml": """\
        repos:
          - repo: local
            hooks:
              - id: ruff
                entry: "true"
                language: system
        """})
    quality = facts(snap)["precommit.quality"]
    assert quality.value is False
    note = [e for e in quality.evidence if e.line == 4]
    assert note and "checks nothing" in note[0].detail


def test_manual_stage_hooks_do_not_enforce_anything(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".pre-commit-config.yaml": """\
        default_stages: [manual]
        repos:
          - repo: https://github.com/astral-sh/ruff-pre-commit
            rev: v0.6.0
            hooks:
              - id: ruff
          - repo: https://github.com/pre-commit/pre-commit-hooks
            rev: v4.6.0
            hooks:
              - id: trailing-whitespace
                stages: [pre-commit]
        """})
    result = facts(snap)
    assert result["precommit.hooks"].value == ("ruff", "trailing-whitespace")
    assert result["precommit.categories"].value == ("hygiene",)
    quality = result["precommit.quality"]
    assert quality.value is False
    assert any(e.line == 6 and "manual" in e.detail for e in quality.evidence)


def test_nbqa_hooks_are_notebook_tools_of_their_kind(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".pre-commit-config.yaml": """\
        repos:
          - repo: https://github.com/nbQA-dev/nbQA
            rev: 1.8.5
            hooks:
              - id: nbqa-black
              - id: nbqa-flake8
          - repo: https://github.com/kynan/nbstripout
            rev: 0.7.1
            hooks:
              - id: nbstripout
        """})
    assert facts(snap)["precommit.categories"].value == ("lint", "format", "notebooks")


def test_iac_and_security_hooks(snapshot: MakeSnapshot) -> None:
    snap = snapshot({".pre-commit-config.yml": """\
        repos:
          - repo: https://github.com/antonbabenko/pre-commit-terraform
            rev: v1.92.0
            hooks:
              - id: terraform_fmt
              - id: terraform_tflint
          - repo: https://github.com/gitleaks/gitleaks
            rev: v8.18.4
            hooks:
              - id: gitleaks
        """})
    result = facts(snap)
    assert result["precommit.categories"].value == ("security", "iac")
    assert result["precommit.quality"].value is False


def test_prek_toml_is_read(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"prek.toml": """\
        [[repos]]
        repo = "https://github.com/astral-sh/ruff-pre-commit"
        rev = "v0.6.0"
        hooks = [{ id = "ruff-format" }]

        [[repos]]
        repo = "local"

        [[repos.hooks]]
        id = "pylint"
        entry = "pylint src"
        language = "system"
        """})
    result = facts(snap)
    assert result["precommit.hooks"].value == ("ruff-format", "pylint")
    assert result["precommit.categories"].value == ("lint", "format")
    assert [e.line for e in result["precommit.hooks"].evidence] == [4, 10]


def test_lefthook_commands_count_and_skip_true_does_not(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"lefthook.yml": """\
        pre-commit:
          parallel: true
          commands:
            format:
              glob: "*.py"
              run: black --check {staged_files}
              skip: true
            types:
              run: mypy {staged_files}
        pre-push:
          jobs:
            - name: lint
              run: flake8 src
        """})
    result = facts(snap)
    assert result["precommit.config"].value is True
    assert result["precommit.hooks"].value == ("format", "types", "lint")
    assert result["precommit.categories"].value == ("lint", "types")
    quality = result["precommit.quality"]
    assert quality.value is True
    assert [(e.path, e.line) for e in quality.evidence] == [("lefthook.yml", 12)]


def test_unparseable_config_is_unknown_not_false(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({".pre-commit-config.yaml": "repos: [\n  - repo: x\n"}))
    for fact in result.values():
        assert fact.value is None
        assert fact.unknown and "could not be parsed" in fact.unknown
    assert result["precommit.quality"].evidence[0].path == ".pre-commit-config.yaml"
    assert result["precommit.quality"].evidence[0].detail.startswith("unparseable:")


def test_unparseable_config_beside_a_good_one_does_not_hide_it(snapshot: MakeSnapshot) -> None:
    result = facts(snapshot({".pre-commit-config.yaml": CONFIG, "lefthook.yml": "pre-commit: [\n"}))
    assert result["precommit.quality"].value is True
    assert any(e.path == "lefthook.yml" and "unparseable" in e.detail
               for e in result["precommit.config"].evidence)


@pytest.mark.parametrize("content", [
    "- just\n- a list\n", "a string\n", "repos: {not: a list}\n",
    "repos:\n  - 3\n  - repo: x\n    hooks: [1, {id: null}, {entry: x}]\n", ""])
def test_odd_shapes_do_not_raise(snapshot: MakeSnapshot, content: str) -> None:
    result = facts(snapshot({".pre-commit-config.yaml": content}))
    assert result["precommit.config"].value is False
    assert result["precommit.quality"].value is False


# -- a local hook's script or make target decides what it enforces ---------------------------

LOCAL_SCRIPT_HOOK = """\
    repos:
      - repo: local
        hooks:
          - id: lint
            entry: scripts/lint.sh
            language: system
    """


def test_local_hook_script_is_read(snapshot: MakeSnapshot) -> None:
    script = ("#!/bin/bash\nset -euo pipefail\npython -m pip install black flake8 -q\n"
              "black .\nflake8 src  # style\n")
    result = facts(snapshot({".pre-commit-config.yaml": LOCAL_SCRIPT_HOOK,
                             "scripts/lint.sh": script}))
    assert result["precommit.categories"].value == ("lint", "format")
    quality = result["precommit.quality"]
    assert quality.value is True
    assert (quality.evidence[0].path, quality.evidence[0].line) == (".pre-commit-config.yaml", 4)
    assert "scripts/lint.sh:4 `black .`" in quality.evidence[0].detail
    assert "scripts/lint.sh:5 `flake8 src`" in quality.evidence[0].detail


def test_local_hook_script_whose_checks_cannot_fail_is_not_quality(
        snapshot: MakeSnapshot) -> None:
    # No `set -e`: flake8's verdict is lost (not the last line), black --check rewrites nothing,
    # and installing black is not running it.
    script = "#!/bin/bash\npip install black flake8\nflake8 src\nblack --check .\necho done\n"
    result = facts(snapshot({".pre-commit-config.yaml": LOCAL_SCRIPT_HOOK,
                             "scripts/lint.sh": script}))
    assert result["precommit.categories"].value == ()
    assert result["precommit.quality"].value is False


def test_formatter_in_a_script_without_set_e_still_enforces(snapshot: MakeSnapshot) -> None:
    # pre-commit fails a hook that rewrites files, whatever the script's exit status.
    script = "#!/bin/bash\nblack .\necho done\n"
    quality = facts(snapshot({".pre-commit-config.yaml": LOCAL_SCRIPT_HOOK,
                              "scripts/lint.sh": script}))["precommit.quality"]
    assert quality.value is True
    assert "scripts/lint.sh:2" in quality.evidence[0].detail


MAKE_HOOK = """\
    repos:
      - repo: local
        hooks:
          - id: clean
            entry: make
            args: [clean]
            language: system
            pass_filenames: false
    """


def test_local_hook_make_target_follows_prerequisites(snapshot: MakeSnapshot) -> None:
    makefile = ("SHELL = /bin/bash\n\n.PHONY: style\nstyle:\n\tblack .\n\t@flake8\n\n"
                "clean: style\n\tfind . -name '*.pyc' -delete\n\trm -rf .coverage*\n")
    result = facts(snapshot({".pre-commit-config.yaml": MAKE_HOOK, "Makefile": makefile}))
    assert result["precommit.categories"].value == ("lint", "format")
    quality = result["precommit.quality"]
    assert quality.value is True
    assert quality.evidence[0].line == 4
    assert "Makefile:6 `flake8`" in quality.evidence[0].detail
    assert "Makefile:5 `black .`" in quality.evidence[0].detail


def test_make_target_is_judged_by_its_recipe_not_its_name(snapshot: MakeSnapshot) -> None:
    config = MAKE_HOOK.replace("[clean]", "[lint]")
    makefile = "lint:\n\techo 'linting is done in CI'\n\t-flake8 src\n"
    result = facts(snapshot({".pre-commit-config.yaml": config, "Makefile": makefile}))
    assert result["precommit.categories"].value == ()
    assert result["precommit.quality"].value is False


def test_make_target_without_a_makefile_falls_back_to_its_name(snapshot: MakeSnapshot) -> None:
    config = MAKE_HOOK.replace("[clean]", "[lint]")
    assert facts(snapshot({".pre-commit-config.yaml": config}))["precommit.quality"].value


def test_make_rules_and_default_target() -> None:
    rules, default = precommit.make_rules(
        "VERSION := 1.0\nall: lint test\n\n.PHONY: lint\nlint:\n\truff check . \\\n"
        "\t  --fix\ntest: ; pytest\n")
    assert default == "all"
    assert rules["all"][0] == ["lint", "test"]
    assert rules["lint"][1] == [(6, "ruff check . --fix")]
    assert rules["test"][1] == [(8, "pytest")]
    assert "VERSION" not in rules


def test_lefthook_runs_a_script(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"lefthook.yml": "pre-commit:\n  commands:\n    check:\n"
                                     "      run: ./tools/check.sh\n",
                     "tools/check.sh": "#!/bin/sh\nset -e\nruff check .\nmypy src\n"})
    result = facts(snap)
    assert result["precommit.categories"].value == ("lint", "types")
    assert "tools/check.sh:3" in result["precommit.quality"].evidence[0].detail


@pytest.mark.parametrize(("entry", "files"), [
    ("make", {"Makefile": "\x00\x01 not a makefile ::: = ;\n\t\n"}),
    ("make all", {"Makefile": "all: all\n\tmake all\n"}),  # a target that calls itself
    ("scripts/x.sh", {"scripts/x.sh": ""}),
    ("bash -c 'black .'", {}),
    ("'unclosed", {}),
])
def test_odd_followed_commands_do_not_raise(snapshot: MakeSnapshot, entry: str,
                                            files: dict[str, str]) -> None:
    config = ("repos:\n  - repo: local\n    hooks:\n      - id: x\n"
              f"        entry: {entry!r}\n        args: oops\n        language: system\n")
    result = facts(snapshot({".pre-commit-config.yaml": config, **files}))
    assert result["precommit.config"].value is True
