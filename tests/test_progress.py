"""The progress display: on a terminal only, after a delay, in place, cleared at the end."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner

from mlops_auditor import progress
from mlops_auditor.cli import main
from mlops_auditor.engine import audit


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_each_stage_in_place_and_then_nothing() -> None:
    stream = FakeTerminal()
    now = [0.0]
    shown = progress.Progress(stream, delay=1.0, clock=lambda: now[0])
    shown("reading the repository")
    assert stream.getvalue() == ""  # under a second: nothing
    now[0] = 1.5
    shown("running checks 7/16 (ci)")
    shown("running checks 8/16 (iac)")
    assert stream.getvalue() == (progress.CLEAR + "mlops-audit: running checks 7/16 (ci)..."
                                 + progress.CLEAR + "mlops-audit: running checks 8/16 (iac)...")
    assert "\n" not in stream.getvalue()
    shown.clear()
    assert stream.getvalue().endswith(progress.CLEAR)
    shown.clear()  # a second clear writes nothing more
    assert stream.getvalue().count(progress.CLEAR) == 3


def test_nothing_is_cleared_when_nothing_was_shown() -> None:
    stream = FakeTerminal()
    quick = progress.Progress(stream, delay=60.0)
    quick("reading the repository")
    quick.clear()
    assert stream.getvalue() == ""


def test_on_terminal_reports_and_clears_a_long_audit(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n", encoding="utf-8")
    stream = FakeTerminal()
    with progress.on_terminal(stream) as report:
        assert isinstance(report, progress.Progress)
        report.delay = 0.0  # every stage counts as late enough
        audit(tmp_path, progress=report)
        written = stream.getvalue()
    assert "mlops-audit: reading the repository..." in written
    assert "running checks 1/" in written and "(ci)..." in written
    assert stream.getvalue().endswith(progress.CLEAR)


def test_without_a_terminal_nothing_is_written(tmp_path: Path) -> None:
    stream = io.StringIO()  # a CI log or a pipe
    with progress.on_terminal(stream) as report:
        assert report is progress.silent
        report("running checks 1/16 (ci)")
    assert stream.getvalue() == ""


def test_the_cli_writes_no_progress_into_its_streams(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# x\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["audit", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "mlops-audit: " not in result.output and "\r" not in result.output


class ClosedTerminal(FakeTerminal):
    def write(self, text: str) -> int:
        raise OSError("terminal hung up")


def test_a_terminal_that_goes_away_never_stops_the_audit() -> None:
    shown = progress.Progress(ClosedTerminal(), delay=0.0)
    shown("running checks 1/15 (ci)")
    shown("running checks 2/15 (iac)")
    shown.clear()
    assert shown.shown is False
