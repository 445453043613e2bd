"""The solver: a built model is reused across shocks, and a shock too large for one Ipopt run
is solved in steps from the last solution."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import SolveError
from fragcge.model.cge import CGEModel
from fragcge.model.shocks import ShockSet
from fragcge.model.solve import solve


def _shock(sam, tau: float, tariff: float) -> ShockSet:
    bench = ShockSet.benchmark(sam)
    routes = sam.vxmd > 0
    return replace(
        bench,
        tau=np.where(routes, tau, 1.0),
        tm=np.where(routes, bench.tm + tariff, bench.tm),
    )


def test_a_built_model_is_reused_across_shocks() -> None:
    """Solving B after A on one model gives what a freshly built model gives for B."""
    sam = synthetic_sam(4, 3, seed=7)
    a, b = _shock(sam, 1.3, 0.1), _shock(sam, 0.9, 0.0)
    reused = CGEModel(calibrate(sam), pyomo=False)
    first = reused.solve(a)
    second = reused.solve(b, x0=first.x)
    fresh = CGEModel(calibrate(sam), pyomo=False).solve(b)
    assert np.max(np.abs(second.x / fresh.x - 1)) < 1e-9
    assert np.max(np.abs(first.x / fresh.x - 1)) > 1e-3


def test_a_large_shock_is_solved_in_steps() -> None:
    """With Ipopt capped at 3 iterations a run cannot take the whole shock; halving can."""
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam), pyomo=False)
    shock = _shock(sam, 1.6, 0.2)
    one_go = model.solve(shock)
    model.system.set_shocks(ShockSet.benchmark(sam))
    target = {k: getattr(shock, k) for k in ("tau", "tm", "tx", "vb")}
    stepped = solve(
        model.system, model.evaluator, model.benchmark(), target, options={"max_iter": 4}
    )
    assert stepped.steps > 1
    assert np.max(np.abs(stepped.x / one_go.x - 1)) < 1e-8


def test_giving_up_leaves_the_parameters_where_the_path_stopped() -> None:
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam), pyomo=False)
    target = {k: getattr(_shock(sam, 1.6, 0.2), k) for k in ("tau", "tm", "tx", "vb")}
    with pytest.raises(SolveError, match="solved up to"):
        solve(
            model.system,
            model.evaluator,
            model.benchmark(),
            target,
            max_halvings=1,
            options={"max_iter": 1},
        )
    assert np.all(model.system.param("tau") < 1.6)
