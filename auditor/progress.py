"""A one-line progress display on stderr for audits long enough to wonder about.

Shown only when the stream is a terminal (never in CI logs, never mixed into a report on
stdout), only once an audit has run for more than a second, updated in place and cleared at
the end. Only the process that created it writes: a forked worker running checks stays silent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Report = Callable[[str], None]

PREFIX = "mlops-audit: "
DELAY_SECONDS = 1.0
CLEAR = "\r\033[K"


class Progress:
    """Writes the latest stage to STREAM, in place, once DELAY seconds have passed."""

    def __init__(self, stream: TextIO, delay: float = DELAY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.delay = delay
        self.clock = clock
        self.started = clock()
        self.pid = os.getpid()
        self.shown = False

    def __call__(self, stage: str) -> None:
        """Show STAGE (e.g. ``running checks 7/16 (ci)``) if the audit has run long enough."""
        if os.getpid() != self.pid or self.clock() - self.started < self.delay:
            return
        width = _columns() - 1
        line = (PREFIX + stage + "...")[:width]
        self.shown = self._write(CLEAR + line)

    def _write(self, text: str) -> bool:
        """Write TEXT; a terminal that went away (or cannot encode it) only ends the display."""
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.pid = -1  # say nothing more
            return False
        return True

    def clear(self) -> None:
        """Remove the line, if one was written, so that what follows starts on a clean line."""
        if self.shown and os.getpid() == self.pid:
            self._write(CLEAR)
            self.shown = False


def _columns() -> int:
    """The terminal's width (80 when it does not say: a pseudo-terminal may report 0)."""
    try:
        columns = os.get_terminal_size(2).columns
    except OSError:
        return 80
    return max(columns, 20) if columns > 0 else 80


def silent(stage: str) -> None:
    """The report used when nothing should be shown."""


@contextmanager
def on_terminal(stream: TextIO) -> Iterator[Report]:
    """A progress report writing to STREAM when it is a terminal, silent otherwise; the line is
    cleared when the block ends, however it ends."""
    isatty = getattr(stream, "isatty", None)
    if not (callable(isatty) and isatty()):
        yield silent
        return
    progress = Progress(stream)
    try:
        yield progress
    finally:
        progress.clear()
