"""The order a batch's runs are solved in: strands of nearby runs, each warm-starting the next.

The runs are ordered along a nearest-neighbour tour of the design (the swept values and the
elasticity multipliers, each scaled to its range in the batch) and cut into strands of at
most :data:`STRAND_LENGTH` runs, shorter in small batches so that they still make
:data:`PARALLEL_STRANDS` strands. A strand's runs are solved one after another, each from
the nearest run of its strand solved before it (the first from its baseline); strands run
in parallel. The cut depends on the batch alone, never on the number of workers or the
executor, so every run starts from the same point and the result tables are the same
bytes however the batch is run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fragcge.scenarios.batch_file import BatchRun

STRAND_LENGTH = 8
"""Most runs per strand: enough that most runs start next to a solved neighbour."""
PARALLEL_STRANDS = 8
"""Strands a batch is cut into at least, when it has that many runs: workers it keeps busy."""


class Schedule:
    """A batch's runs cut into strands, with the design distance between runs."""

    def __init__(self, runs: Sequence[BatchRun], length: int | None = None) -> None:
        runs = list(runs)
        if length is None:
            length = min(STRAND_LENGTH, max(1, len(runs) // PARALLEL_STRANDS))
        coords = _coordinates(runs)
        self._coords = {run.id: c for run, c in zip(runs, coords, strict=True)}
        ordered = [runs[k] for k in _tour(coords)]
        self.strands: list[list[BatchRun]] = [
            ordered[k : k + length] for k in range(0, len(ordered), length)
        ]

    def distance(self, a: BatchRun, b: BatchRun) -> float:
        """Euclidean distance between two runs in the scaled design."""
        return float(np.linalg.norm(self._coords[a.id] - self._coords[b.id]))

    def nearest(self, run: BatchRun, solved: Sequence[BatchRun]) -> BatchRun | None:
        """The solved run nearest to run, the first of equals; None if none is solved."""
        return min(solved, key=lambda other: self.distance(run, other)) if solved else None


def _coordinates(runs: list[BatchRun]) -> np.ndarray:
    """Each run's swept values and multipliers, scaled to [0, 1] over the batch (n × d)."""
    raw = np.array(
        [[*run.overrides.values(), *run.multipliers.values()] for run in runs], dtype=float
    ).reshape(len(runs), -1)
    if raw.size == 0:
        return raw
    span = np.ptp(raw, axis=0)
    return (raw - raw.min(axis=0)) / np.where(span > 0, span, 1.0)


def _tour(points: np.ndarray) -> list[int]:
    """Greedy nearest-neighbour tour from the first point; ties go to the earlier point."""
    n = len(points)
    if n == 0:
        return []
    left = np.ones(n, dtype=bool)
    order = [0]
    left[0] = False
    for _ in range(n - 1):
        d = np.linalg.norm(points - points[order[-1]], axis=1)
        d[~left] = np.inf
        nxt = int(np.argmin(d))
        order.append(nxt)
        left[nxt] = False
    return order
