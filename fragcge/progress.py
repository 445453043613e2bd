"""A batch's progress: a bar redrawn in place on a terminal, one plain line per run otherwise.

Both show runs done of the total, failures and the estimated time left: the time per run
finished so far (runs skipped as already solved count for nothing) times the runs left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from fragcge.scenarios.batch_file import BatchRun

BAR_WIDTH = 24


def clock(seconds: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour."""
    s = round(seconds)
    hours, rest = divmod(s, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def describe(run: BatchRun) -> str:
    """A run in a few words: its label, or its swept values and elasticity multipliers."""
    if run.label:
        return run.label
    values = [f"{key}={value:g}" for key, value in run.overrides.items()]
    values += [f"{name}x{factor:.4g}" for name, factor in run.multipliers.items()]
    return " ".join(values)


class Progress:
    """Call with each run's outcome (status "solved", "skipped" or "failed"); close at the end."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        tty: bool | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty() if tty is None else tty
        self.now = now
        self.t0 = now()
        self.counts = {"solved": 0, "skipped": 0, "failed": 0}

    @property
    def finished(self) -> int:
        """Runs with an outcome, skipped ones included."""
        return sum(self.counts.values())

    def eta(self) -> float | None:
        """Seconds left at the pace of the runs solved or failed so far; None before the first."""
        worked = self.counts["solved"] + self.counts["failed"]
        if worked == 0:
            return None
        return (self.now() - self.t0) / worked * (self.total - self.finished)

    def status(self) -> str:
        """Failures, time so far and time left, in one line's end."""
        eta = self.eta()
        left = "ETA --:--" if eta is None else f"ETA {clock(eta)}"
        return (
            f"{self.counts['failed']} failed, {self.counts['skipped']} skipped, "
            f"{clock(self.now() - self.t0)} elapsed, {left}"
        )

    def __call__(self, outcome) -> None:
        """Count an outcome and show it."""
        self.counts[outcome.status] += 1
        if self.tty:
            if outcome.status == "failed":
                self._write(f"\r\033[K{self._line(outcome)}\n")
            done = self.finished
            filled = BAR_WIDTH * done // max(self.total, 1)
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self._write(f"\r\033[K[{bar}] {done}/{self.total} runs, {self.status()}")
        else:
            self._write(f"{self._line(outcome)}  ({self.status()})\n")

    def close(self) -> None:
        """End the bar's line."""
        if self.tty:
            self._write("\n")

    def _line(self, outcome) -> str:
        reason = f": {outcome.message.splitlines()[0]}" if outcome.message else ""
        return (
            f"[{self.finished}/{self.total}] {outcome.run.id[:8]} {describe(outcome.run)} "
            f"{outcome.status} in {outcome.seconds:.1f} s{reason}"
        )

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
