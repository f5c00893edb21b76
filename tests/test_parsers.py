"""The bounded parsers: hostile or broken input gives a value or a ParseError, never a crash."""

from __future__ import annotations

import warnings

import pytest

from mlops_auditor import parsers
from tests.conftest import MakeSnapshot

BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))


def test_yaml_keeps_unknown_tags_as_plain_data() -> None:
    doc = parsers.load_yaml("a: !reference [.setup, script]\nb: !Ref Bucket\nc: !GetAtt X.Arn\n")
    assert doc == {"a": [".setup", "script"], "b": "Bucket", "c": "X.Arn"}


def test_yaml_python_tags_construct_nothing() -> None:
    assert parsers.load_yaml("x: !!python/object/apply:os.system [echo hi]\n") == {
        "x": ["echo hi"]}


def test_yaml_alias_bomb_is_refused_quickly() -> None:
    with pytest.raises(parsers.ParseError, match="alias bomb"):
        parsers.load_yaml(BOMB)


@pytest.mark.parametrize("text", ["[" * 100_000, "[']', " * 30_000, "a:\n" + "  b:\n" * 50])
def test_yaml_deep_or_odd_nesting_is_an_error_or_a_value(text: str) -> None:
    try:
        parsers.load_yaml(text)
    except parsers.ParseError as exc:
        assert "YAML" in str(exc)


def test_yaml_error_names_the_line() -> None:
    with pytest.raises(parsers.ParseError, match="line 3"):  # where libyaml notices
        parsers.load_yaml("a: 1\nb: [1,\n")
    with pytest.raises(parsers.ParseError, match="line 2"):
        parsers.load_yaml("a: 1\n  b: 2\n")


def test_yaml_shared_anchors_still_load() -> None:
    assert parsers.load_yaml("a: &x {c: 1}\nb: *x\n") == {"a": {"c": 1}, "b": {"c": 1}}


def test_json_deep_nesting_and_errors() -> None:
    with pytest.raises(parsers.ParseError, match="nested"):
        parsers.load_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(parsers.ParseError, match="line 1"):
        parsers.load_json("{bad}")


def test_toml_and_python_errors() -> None:
    with pytest.raises(parsers.ParseError, match="invalid TOML"):
        parsers.load_toml("a = [")
    with pytest.raises(parsers.ParseError, match="line 1"):
        parsers.load_python("def (:\n")


def test_the_audited_codes_compiler_warnings_are_not_printed() -> None:
    """Invalid escape sequences and ``is`` with a literal make the compiler warn; such warnings
    are about the audited code, not the auditor's to print."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsers.load_python('pattern = "\\d+"\nif x is 1:\n    pass\n')
    assert caught == []


def test_notebook_needs_cells() -> None:
    assert parsers.load_notebook('{"cells": [{"cell_type": "code", "source": ["x = 1\\n"]}]}') == [
        ("code", "x = 1\n")]
    with pytest.raises(parsers.ParseError, match="no cells"):
        parsers.load_notebook('{"nbformat": 4}')


def test_hcl_with_line_numbers_and_broken_input() -> None:
    doc = parsers.load_hcl('resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n')
    assert doc["resource"][0]["aws_s3_bucket"]["b"]["__start_line__"] == 1
    with pytest.raises(parsers.ParseError, match="invalid HCL"):
        parsers.load_hcl('resource "x" {\n')


def test_snapshot_normalises_bom_and_crlf_before_parsing(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"main.tf": b'\xef\xbb\xbfvariable "env" {\r\n  default = "dev"\r\n}\r\n'})
    parsed = snap.hcl("main.tf")
    assert parsed.ok and parsed.value["variable"][0]["env"]["default"] == "dev"


def test_snapshot_reports_binary_large_and_non_utf8(snapshot: MakeSnapshot) -> None:
    snap = snapshot({"a.py": b"x = 1\x00\x01", "b.md": b"caf\xe9\n",
                     "c.yaml": "a: 1\n" * 1_000_000})
    assert snap.text("a.py").error == "binary content"
    assert snap.text("b.md").error == "not valid UTF-8"
    assert "too large" in (snap.yaml("c.yaml").error or "")
    assert set(snap.problems) == {"a.py", "b.md", "c.yaml"}
