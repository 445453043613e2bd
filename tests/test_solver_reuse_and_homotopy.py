"""The solver: a built model is reused across shocks, and a shock too large for one Ipopt run
is solved in steps from the last solution."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import SolveError
from fragcge.model.cge import CGEModel
from fragcge.model.shocks import ShockSet
from fragcge.model.solve import SolveLimits, solve

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


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
    reused = CGEModel(calibrate(sam))
    first = reused.solve(a)
    second = reused.solve(b, x0=first)
    fresh = CGEModel(calibrate(sam)).solve(b)
    assert np.max(np.abs(second.x / fresh.x - 1)) < 1e-9
    assert np.max(np.abs(first.x / fresh.x - 1)) > 1e-3


def test_a_large_shock_is_solved_in_steps() -> None:
    """With Ipopt capped at 3 iterations a run cannot take the whole shock; halving can."""
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam))
    shock = _shock(sam, 1.6, 0.2)
    one_go = model.solve(shock)
    bench = model.theta_for(ShockSet.benchmark(sam))
    stepped = solve(
        model.system,
        model.evaluator,
        model.benchmark(),
        bench,
        model.theta_for(shock),
        options={"max_iter": 4},
    )
    assert stepped.steps > 1
    assert np.max(np.abs(stepped.x / one_go.x - 1)) < 1e-8
    # What a manifest records is what Ipopt ran with, the caller's options included.
    assert stepped.options["max_iter"] == 4 and one_go.result.options["max_iter"] == 200


def test_solving_a_scenario_neither_builds_nor_imports_pyomo() -> None:
    """The solve path uses the evaluator only: Pyomo is loaded when a user asks for its model."""
    code = (
        "import sys\n"
        "from fragcge.api import solve_scenario\n"
        f"run = solve_scenario({str(SCENARIOS / 'friendshoring.toml')!r})\n"
        "assert run.scen.result.ok\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyomo'))\n"
        "run.model.pyomo_model(run.scen)\n"
        "print('pyomo.environ' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


def test_giving_up_says_how_far_the_path_got() -> None:
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam))
    with pytest.raises(SolveError, match=r"solved up to \d"):
        solve(
            model.system,
            model.evaluator,
            model.benchmark(),
            model.theta_for(ShockSet.benchmark(sam)),
            model.theta_for(_shock(sam, 1.6, 0.2)),
            SolveLimits(max_halvings=1),
            options={"max_iter": 1},
        )


def test_a_guess_starts_the_full_step_and_a_failed_one_falls_back_to_the_solved_start() -> None:
    """solve(guess=…): the full step starts from the guess (the decomposition's path passes a
    point between solved ones); if that run fails, the smaller steps start from x0, which
    solves theta0, and reach the same equilibrium."""
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam))
    base = model.solve(ShockSet.benchmark(sam))
    target = model.theta_for(_shock(sam, 1.3, 0.1))
    plain = solve(model.system, model.evaluator, base.x, base.theta, target)
    args = (model.system, model.evaluator, base.x, base.theta, target)
    good = solve(*args, guess=0.5 * (base.x + plain.x))
    assert good.steps == 1 and good.iterations < plain.iterations
    assert np.max(np.abs(good.x / plain.x - 1)) < 1e-9
    # A guess with negative prices: the first run cannot start, the path from x0 can.
    bad = solve(*args, options={"max_iter": 8}, guess=-base.x)
    assert bad.steps > 1
    assert np.max(np.abs(bad.x / plain.x - 1)) < 1e-8


def test_a_solve_whose_left_out_market_does_not_clear_is_refused() -> None:
    """Walras' law: when every equation of the square system holds, the market left out
    clears too. A run that reports success at a point where it does not (here a runner that
    moves its answer by up to 10% and keeps its report) is not taken as an equilibrium."""
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam))
    honest = model.solver.run
    rng = np.random.default_rng(0)

    def claims_success(system, ev, x0, theta, options=None, tick=None):
        result = honest(system, ev, x0, theta, options, tick)
        return replace(result, x=result.x * rng.uniform(0.9, 1.1, result.x.size))

    with pytest.raises(SolveError, match=r"does not clear .*Walras"):
        model.solve(_shock(sam, 1.3, 0.1), run=claims_success)


def _scaled(sam, **factors: float):
    """sam with each named elasticity multiplied by its factor."""
    return replace(sam, **{k: np.asarray(getattr(sam, k)) * f for k, f in factors.items()})


def test_new_elasticities_need_no_rebuild() -> None:
    """A model given other elasticities (same pattern) solves as a model built with them does,
    from the benchmark and from an equilibrium at the old elasticities; Pyomo follows."""
    sam = synthetic_sam(4, 3, seed=7)
    other = _scaled(sam, esubd=1.4, esubm=0.7, esubva=1.2)
    shock = _shock(sam, 1.3, 0.1)
    model = CGEModel(calibrate(sam))
    old = model.solve(shock)
    elasticities = model.elasticities_of(other)
    from_bench = model.solve(shock, elasticities=elasticities)
    fresh = CGEModel(calibrate(other)).solve(shock)
    assert np.max(np.abs(from_bench.x / fresh.x - 1)) < 1e-9
    assert np.max(np.abs(old.x / fresh.x - 1)) > 1e-3
    from_old = model.solve(shock, x0=old, elasticities=elasticities)
    assert np.max(np.abs(from_old.x / fresh.x - 1)) < 1e-9
    esubd = model.pyomo_model(from_old).model.esubd
    assert [esubd[s].value for s in sam.sectors] == pytest.approx(list(other.esubd), abs=0)
    assert np.array_equal(model.system.param("esubm", old.theta), np.asarray(sam.esubm))


def test_elasticities_of_another_form_are_refused() -> None:
    """σ = 1 is Cobb-Douglas, another template: a model built without it cannot take it."""
    sam = synthetic_sam(4, 3, seed=7)
    model = CGEModel(calibrate(sam))
    cd = replace(sam, esubd=np.where(np.arange(len(sam.sectors)) == 0, 1.0, sam.esubd))
    with pytest.raises(ValueError, match="build a model for them"):
        model.elasticities_of(cd)
