"""Batch progress: counts, failures and the time left, on a terminal and in a log."""

from __future__ import annotations

import io

from fragcge.batch import Outcome
from fragcge.progress import Progress, clock
from fragcge.scenarios.batch_file import BatchRun


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _outcome(k: int, status: str, message: str = "") -> Outcome:
    return Outcome(
        BatchRun(f"{k:08d}abcdef", {"shock.1.rate": k / 10}, {}, 1.0), status, 2.0, message
    )


def test_plain_lines_count_runs_and_estimate_the_time_left() -> None:
    stream, now = io.StringIO(), Clock()
    progress = Progress(10, stream, tty=False, now=now)
    progress(_outcome(0, "skipped"))
    now.t += 30.0
    progress(_outcome(1, "solved"))
    now.t += 30.0
    progress(_outcome(2, "failed", "No equilibrium was found.\n  details"))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    # Skipped runs cost nothing: 60 s for 2 runs worked, 7 runs left -> 210 s.
    assert lines[2] == (
        "[3/10] 00000002 shock.1.rate=0.2 failed in 2.0 s: No equilibrium was found.  "
        "(1 failed, 1 skipped, 1:00 elapsed, ETA 3:30)"
    )
    # 30 s for 1 run, 8 left.
    assert "ETA 4:00" in lines[1] and "ETA --:--" in lines[0]


def test_a_terminal_gets_one_redrawn_bar_and_failures_above_it() -> None:
    stream, now = io.StringIO(), Clock()
    progress = Progress(4, stream, tty=True, now=now)
    now.t += 10.0
    progress(_outcome(0, "solved"))
    progress(_outcome(1, "failed", "bad"))
    progress.close()
    text = stream.getvalue()
    assert "\n" not in text.split("failed in 2.0 s: bad\n")[0].split("\r")[-1]
    bars = [part for part in text.split("\r\033[K") if part.startswith("[")]
    assert bars[0].startswith("[######------------------] 1/4 runs")
    assert bars[-1].startswith("[############------------] 2/4 runs, 1 failed, 0 skipped")
    assert bars[-1].endswith("ETA 0:10\n")
    assert text.count("\n") == 2


def test_clock() -> None:
    assert (clock(59.4), clock(61), clock(3725)) == ("0:59", "1:01", "1:02:05")
