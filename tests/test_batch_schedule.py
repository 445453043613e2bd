"""Strands: a batch cut into runs solved in sequence, each next to one solved before it."""

from __future__ import annotations

import numpy as np

from fragcge.scenarios.batch_file import BatchRun
from fragcge.schedule import Schedule


def _runs(values: list[float], multipliers: list[float] | None = None) -> list[BatchRun]:
    out = []
    for k, v in enumerate(values):
        draw = {} if multipliers is None else {"esubd": multipliers[k]}
        out.append(BatchRun(f"run{k:03d}", {"shock.1.rate": v}, draw, 1.0))
    return out


def test_a_sweep_is_cut_along_its_values() -> None:
    runs = _runs([0.0, 0.5, 0.1, 0.4, 0.2, 0.3])
    strands = Schedule(runs, length=3).strands
    values = [[r.overrides["shock.1.rate"] for r in strand] for strand in strands]
    assert values == [[0.0, 0.1, 0.2], [0.3, 0.4, 0.5]]


def test_every_run_is_in_one_strand_in_a_tour_of_short_steps() -> None:
    rng = np.random.default_rng(3)
    m = rng.uniform(0.5, 1.5, (60, 2))
    runs = [BatchRun(f"r{k}", {}, {"esubd": a, "esubm": b}, 1 / 60) for k, (a, b) in enumerate(m)]
    schedule = Schedule(runs, length=8)
    ordered = [r for strand in schedule.strands for r in strand]
    assert sorted(r.id for r in ordered) == sorted(r.id for r in runs)
    assert [len(s) for s in schedule.strands] == [8] * 7 + [4]
    tour = sum(schedule.distance(a, b) for a, b in zip(ordered, ordered[1:], strict=False))
    batch_order = sum(schedule.distance(a, b) for a, b in zip(runs, runs[1:], strict=False))
    # A greedy nearest-neighbour tour of 60 uniform points is a fraction of a random order's.
    assert tour < 0.5 * batch_order


def test_the_cut_depends_on_the_runs_alone() -> None:
    runs = _runs([0.3, 0.1, 0.2, 0.0], [1.2, 0.8, 1.0, 1.1])
    a, b = Schedule(runs, length=2).strands, Schedule(list(runs), length=2).strands
    assert [[r.id for r in s] for s in a] == [[r.id for r in s] for s in b]


def test_nearest_is_measured_on_scaled_coordinates() -> None:
    """A rate spans 0..1 and a multiplier 0.5..1.5 here: both count on their own range."""
    runs = [
        BatchRun("a", {"shock.1.rate": 0.0}, {"esubd": 0.5}, 1.0),
        BatchRun("b", {"shock.1.rate": 0.1}, {"esubd": 1.5}, 1.0),
        BatchRun("c", {"shock.1.rate": 1.0}, {"esubd": 0.6}, 1.0),
        BatchRun("d", {"shock.1.rate": 0.2}, {"esubd": 1.0}, 1.0),
    ]
    schedule = Schedule(runs)
    # d is 0.2 of the rate range and 0.5 of the multiplier range from a (distance 0.54),
    # 0.1 and 0.5 from b (0.51), 0.8 and 0.4 from c (0.89).
    assert schedule.nearest(runs[3], runs[:3]).id == "b"
    assert schedule.nearest(runs[3], [runs[0], runs[2]]).id == "a"
    assert schedule.nearest(runs[3], []) is None


def test_small_batches_get_short_strands_to_run_in_parallel() -> None:
    lengths = {n: max(map(len, Schedule(_runs(list(range(n)))).strands)) for n in (3, 11, 20, 200)}
    assert lengths == {3: 1, 11: 1, 20: 2, 200: 8}
