"""Newton–Krylov (model/newton.py) against Ipopt: the same equilibrium on every shipped
scenario and on a synthetic economy with every feature; a failed solve says so."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from fragcge.api import ModelCache, solve_loaded
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.cli import main
from fragcge.errors import SolveError
from fragcge.model import newton, preconditioners, report
from fragcge.model.cge import CGEModel
from fragcge.model.decomposition import COMPONENTS, decompose_welfare
from fragcge.model.newton import (
    ITERATION_LIMIT,
    LINE_SEARCH_FAILED,
    SUCCESS,
    TIME_LIMIT,
    NewtonOptions,
    NewtonRunner,
    factorize,
    newton_krylov,
    run_newton,
)
from fragcge.model.shocks import ShockSet
from fragcge.model.solver_choice import NEWTON_ABOVE, choose_solver
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(
    p.name
    for p in (ROOT / "scenarios").glob("*.toml")
    if not p.name.startswith(("batch-", "sensitivity-", "risk-"))
)
AGREE = 1e-8
"""Largest scaled difference between the two solvers' equilibria (issue 13)."""


def _scaled_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to the value (prices and activities are 1 at the benchmark,
    incomes at their level; a quota's wedge is 0 when slack, so it is compared absolutely)."""
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a))))


def _both(sam, closure: str, quota: np.ndarray, baseline: ShockSet, shocks: ShockSet):
    """(baseline, scenario) equilibria solved by Ipopt and by Newton–Krylov, the way
    fragcge.api.solve_loaded solves them."""
    out = {}
    for method in ("ipopt", "newton"):
        model = CGEModel(calibrate(sam), closure, quota=quota, solver=method)
        base = model.solve(baseline)
        reference = report.route_flows(model, base)["V"]
        scen = model.solve(shocks, x0=base, quota_reference=reference)
        for eq in (base, scen):
            assert eq.result.solver == method
            assert eq.result.ok and eq.result.max_residual < 1e-8
            assert abs(eq.walras) < 1e-8
        out[method] = (base, scen)
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_newton_and_ipopt_agree_on_every_shipped_scenario(name: str) -> None:
    scenario = load_scenario(ROOT / "scenarios" / name)
    resolved = resolve(scenario, load_dataset(scenario.data))
    quota = np.isfinite(resolved.shocks.quota)
    got = _both(resolved.sam, scenario.closure, quota, resolved.baseline, resolved.shocks)
    for k in (0, 1):
        ipopt, newton = got["ipopt"][k], got["newton"][k]
        assert _scaled_difference(ipopt.x, newton.x) < AGREE


def test_newton_and_ipopt_agree_with_taxes_margins_and_specific_factors() -> None:
    sam = synthetic_sam(4, 3, seed=8)
    assert sam.specific and sam.margins and np.count_nonzero(sam.tm0) and np.count_nonzero(sam.to0)
    bench = ShockSet.benchmark(sam)
    routes = sam.vxmd > 0
    bloc = np.zeros(len(sam.regions), dtype=bool)
    bloc[:2] = True
    between = routes & (bloc[:, None] != bloc[None, :])[None]
    shocks = replace(
        bench,
        tau=np.where(between, 1.3, 1.0),
        tm=np.where(between, bench.tm + 0.1, bench.tm),
    )
    baseline = replace(bench, vb=np.zeros_like(bench.vb))
    got = _both(sam, "default", np.zeros_like(routes), baseline, shocks)
    for k in (0, 1):
        assert _scaled_difference(got["ipopt"][k].x, got["newton"][k].x) < AGREE
    # The shock moved the economy: agreement is not both solvers staying at the start.
    assert _scaled_difference(got["newton"][0].x, got["newton"][1].x) > 1e-2


def test_a_failed_newton_solve_raises_and_names_the_method() -> None:
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam), solver="newton")
    bench = ShockSet.benchmark(sam)
    # A transfer out of region R1 larger than its income: no positive equilibrium exists.
    vb = bench.vb.copy()
    vb[0] -= 3 * model.cal.ra0[0]
    vb[1] += 3 * model.cal.ra0[0]
    with pytest.raises(SolveError, match="No equilibrium was found: Newton–Krylov's last run"):
        model.solve(replace(bench, vb=vb))


def test_cli_solver_flag_is_recorded_and_both_solvers_write_the_same_tables(tmp_path) -> None:
    """The whole pipeline (baseline, scenario, welfare decomposition along a path of solves)
    with each solver: the manifests say which ran, the tables agree to their last digits."""
    scenario = str(ROOT / "scenarios" / "friendshoring-strategic.toml")
    tables = {}
    for method in ("ipopt", "newton"):
        out = tmp_path / method
        assert main(["solve", scenario, "--out", str(out), "--solver", method]) == 0
        solver = json.loads((out / "manifest.json").read_text())["solver"]
        assert solver["method"] == method and "asked for" in solver["why"]
        assert solver["scenario"]["method"] == solver["baseline"]["method"] == method
        # Each solve records the options its method ran with (Ipopt's tol, Newton's bound).
        ran_with = solver["scenario"]["options"]
        assert ("tol" in ran_with and "max_seconds" not in ran_with) == (method == "ipopt")
        assert ("hessian" in solver) == (method == "ipopt")
        tables[method] = pd.read_csv(out / "welfare.csv")
    ipopt, newton = tables["ipopt"], tables["newton"]
    assert list(ipopt.columns) == list(newton.columns) and len(ipopt.columns) > 6
    numbers = ipopt.select_dtypes("number").columns
    assert ipopt.drop(columns=numbers).equals(newton.drop(columns=numbers))
    # Written with 6 decimals in USD million; incomes are 1e6 to 7e7 USD million, so 1e-5
    # is a few units of the last digit and 1e-11 of a region's income.
    np.testing.assert_allclose(newton[numbers], ipopt[numbers], rtol=0, atol=1e-5)


def test_auto_keeps_ipopt_for_the_default_data_and_picks_newton_when_large() -> None:
    small = CGEModel(calibrate(load_dataset("wiod2011_10x8")))
    assert small.solver.method == "ipopt" and small.solver.reason.startswith("auto")
    assert choose_solver("auto", NEWTON_ABOVE + 1).method == "newton"
    assert choose_solver("ipopt", 10**7).method == "ipopt"
    with pytest.raises(ValueError, match="unknown solver 'lu'"):
        choose_solver("lu", 10)


def _cubic(target: np.ndarray):
    """F(x) = x³ − target and its Jacobian: the root is target^(1/3)."""

    def residual(x):
        return x**3 - target

    def jacobian(x):
        return sp.csc_matrix(sp.diags(3 * x**2))

    return residual, jacobian


def test_newton_krylov_finds_a_known_root_reusing_its_factors() -> None:
    target = np.linspace(1.0, 8.0, 50)
    residual, jacobian = _cubic(target)
    out = newton_krylov(residual, jacobian, np.full(50, 1.5))
    assert out.status == SUCCESS and out.converged
    assert np.max(np.abs(out.x - np.cbrt(target))) < 1e-12
    assert out.factorizations < out.iterations


def test_newton_krylov_reports_iteration_and_time_limits() -> None:
    residual, jacobian = _cubic(np.full(5, 8.0))
    out = newton_krylov(residual, jacobian, np.full(5, 100.0), options=NewtonOptions(max_iter=2))
    assert out.status == ITERATION_LIMIT and not out.converged and out.iterations == 2
    out = newton_krylov(
        residual, jacobian, np.full(5, 100.0), options=NewtonOptions(max_seconds=0.0)
    )
    assert out.status == TIME_LIMIT and "wall-time" in out.message


def test_newton_krylov_never_leaves_the_positive_orthant() -> None:
    """The only root of x + 1 is −1; a step to it is refused and the solve fails above 0."""
    visited = []

    def residual(x):
        visited.append(x.copy())
        return x + 1.0

    def jacobian(x):
        return sp.csc_matrix(sp.eye(x.size))

    out = newton_krylov(residual, jacobian, np.ones(3), floor=np.zeros(3))
    assert out.status in (LINE_SEARCH_FAILED, ITERATION_LIMIT) and not out.converged
    assert all(np.all(x > 0) for x in visited) and np.all(out.x > 0)


def _two_bloc_shock(sam):
    """A baseline with balanced trade and the +30% iceberg cost between two blocs of it."""
    routes = sam.vxmd > 0
    bloc = np.arange(len(sam.regions)) < 2
    between = routes & (bloc[:, None] != bloc[None, :])[None]
    bench = ShockSet.benchmark(sam)
    baseline = replace(bench, vb=np.zeros_like(bench.vb))
    return baseline, lambda t: replace(baseline, tau=np.where(between, 1 + 0.3 * t, 1.0))


def test_kept_factors_give_the_same_equilibria_along_a_path_with_fewer_factorisations() -> None:
    """A NewtonRunner hands each solve's factors of J to the next solve; along a path of
    warm-started solves the equilibria are those of solves that each factor J afresh
    (run_newton), to 1e-10, and the solves after the first factor nothing."""
    sam = synthetic_sam(5, 3, seed=8)
    baseline, shocked = _two_bloc_shock(sam)
    paths = {}
    for name, run in (("kept", NewtonRunner()), ("fresh", run_newton)):
        model = CGEModel(calibrate(sam), solver="newton")
        model.solver = replace(model.solver, run=run)
        eq = model.solve(baseline)
        path = [eq]
        for t in (0.25, 0.5, 0.75, 1.0):
            eq = model.solve(shocked(t), x0=eq)
            assert eq.result.ok and eq.result.max_residual < 1e-10
            path.append(eq)
        paths[name] = path
    for a, b in zip(paths["kept"], paths["fresh"], strict=True):
        assert _scaled_difference(a.x, b.x) < 1e-10
    assert _scaled_difference(paths["kept"][0].x, paths["kept"][-1].x) > 1e-2
    assert all(eq.result.factorizations >= 1 for eq in paths["fresh"])
    assert [eq.result.factorizations for eq in paths["kept"][1:]] == [0, 0, 0, 0]


@pytest.mark.parametrize("blocks", [False, True], ids=["global-lu", "regional-blocks"])
def test_the_scenario_starts_from_the_baselines_factors(blocks: bool, monkeypatch) -> None:
    """solve_loaded with Newton–Krylov: the scenario's solve is preconditioned by the factors
    of J its baseline's solve ended with, so it factors nothing, and reaches the equilibrium
    of a scenario solve that factors afresh (run_newton) to 1e-10. A baseline from the cache
    gives bit for bit the same scenario, whether its factors were kept or are made again from
    the point they were made at: the answer does not depend on what ran before. The same
    with the regional and trade blocks ``auto`` uses for large models (the size rule lowered
    here), whose factors are made again by the same preconditioner."""
    if blocks:
        monkeypatch.setattr(preconditioners, "REGIONS_ABOVE", 0)
    scenario = load_scenario(ROOT / "scenarios" / "friendshoring.toml")
    cache = ModelCache()
    first = solve_loaded(scenario, cache, solver="newton", decompose=False)
    assert first.base.result.factorizations >= 1
    assert first.scen.result.factorizations == 0 and first.scen.result.iterations > 2
    fresh = first.model.solve(
        first.resolved.shocks,
        x0=first.base,
        quota_reference=report.route_flows(first.model, first.base)["V"],
        elasticities=first.model.elasticities_of(first.resolved.sam),
    )
    assert fresh.result.factorizations >= 1
    assert _scaled_difference(fresh.x, first.scen.x) < 1e-10
    assert _scaled_difference(first.base.x, first.scen.x) > 1e-3
    kept = solve_loaded(scenario, cache, solver="newton", decompose=False)
    assert kept.base is first.base and cache.factors is not None
    cache.factors = None
    remade = solve_loaded(scenario, cache, solver="newton", decompose=False)
    assert np.array_equal(kept.scen.x, first.scen.x)
    assert np.array_equal(remade.scen.x, first.scen.x)
    assert remade.scen.result.factorizations == 0
    expected = "regions-trade" if blocks else "lu"
    assert {
        first.scen.result.options["preconditioner"],
        fresh.result.options["preconditioner"],
    } == {expected}


def test_the_decomposition_path_reuses_factors_and_gives_the_same_components(
    monkeypatch,
) -> None:
    """decompose_welfare on a Newton–Krylov model: its path's solves share one runner
    (SolverChoice.path_runner), so J is factored fewer times than there are solves, and the
    components are those of a path whose every solve factors afresh (reuse_factors off)."""
    sam = synthetic_sam(5, 3, seed=8)
    baseline, shocked = _two_bloc_shock(sam)
    model = CGEModel(calibrate(sam), solver="newton")
    base = model.solve(baseline)
    scen = model.solve(shocked(1.0), x0=base)
    welfare = report.welfare(model, base, scen, {})
    calls = []

    def counted(jac, ordering=newton.ORDERING):
        calls.append(jac.shape)
        return factorize(jac, ordering)

    monkeypatch.setattr(newton, "factorize", counted)
    kept = decompose_welfare(model, base, scen, welfare)
    kept_calls, calls[:] = len(calls), []
    model.solver = replace(model.solver, reuse_factors=False)
    fresh = decompose_welfare(model, base, scen, welfare)
    assert kept.steps == fresh.steps == 6
    assert len(calls) >= kept.steps - 1  # one fresh factorisation per solve of the path
    assert kept_calls < kept.steps - 1
    numbers = ["ev", *COMPONENTS, "residual"]
    scale = float(fresh.welfare.ev.abs().max())
    np.testing.assert_allclose(
        kept.welfare[numbers], fresh.welfare[numbers], rtol=0, atol=1e-9 * scale
    )
    assert float(kept.welfare.tot.abs().max()) > 1e-3 * scale
