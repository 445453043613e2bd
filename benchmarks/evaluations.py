"""Counting the evaluator's evaluations of F and J (model/evaluator.py) in a benchmark.

``count()`` wraps ``Evaluator.evaluate`` in this process so that ``TOTAL`` holds how many
evaluations ran and their wall seconds; a benchmark reads it before and after a stage to
report the evaluator's share of that stage (issue 13, item 5).
"""

from __future__ import annotations

import time

TOTAL = {"calls": 0, "seconds": 0.0}
"""Evaluations of F and J in this process and their wall seconds (after ``count()``)."""


def count() -> None:
    """Count and time every evaluation from now on (TOTAL); once per process."""
    from fragcge.model.evaluator import Evaluator

    evaluate = Evaluator.evaluate

    def counted(self, x, at):
        t0 = time.perf_counter()
        try:
            return evaluate(self, x, at)
        finally:
            TOTAL["calls"] += 1
            TOTAL["seconds"] += time.perf_counter() - t0

    Evaluator.evaluate = counted


def between(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    """The evaluations between two copies of TOTAL as text, with their share of ``wall``
    seconds."""
    calls = after["calls"] - before["calls"]
    seconds = after["seconds"] - before["seconds"]
    share = seconds / wall if wall > 0 else 0.0
    return f"{calls} evaluations of F and J, {seconds:.2f} s ({share:.0%})"
