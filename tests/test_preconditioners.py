"""Newton–Krylov's preconditioners (model/preconditioners.py): each reaches Ipopt's
equilibrium, the regional blocks follow the regions, and "auto" chooses by size."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model import preconditioners, report
from fragcge.model.cge import CGEModel
from fragcge.model.newton import (
    KRYLOV_STALLED,
    JacobianMatrix,
    NewtonOptions,
    NewtonRunner,
    newton_krylov,
    run_newton,
)
from fragcge.model.preconditioners import (
    LU,
    PRECONDITIONERS,
    REGIONS_ABOVE,
    TRADE,
    RegionalBlocks,
    choose_preconditioner,
    factorize,
    good_of_trade_unknowns,
    region_of_unknowns,
)
from fragcge.model.shocks import ShockSet
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]
AGREE = 1e-8
"""Largest scaled difference between Ipopt's and Newton–Krylov's equilibria (issue 13)."""


def _scaled_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a))))


def _two_bloc(sam):
    """A balanced-trade baseline and, from it, +30% iceberg costs and +10 tariff points
    between the first half of the regions and the rest."""
    bench = ShockSet.benchmark(sam)
    routes = sam.vxmd > 0
    bloc = np.arange(len(sam.regions)) < len(sam.regions) // 2
    between = routes & (bloc[:, None] != bloc[None, :])[None]
    baseline = replace(bench, vb=np.zeros_like(bench.vb))
    shocks = replace(
        baseline,
        tau=np.where(between, 1.3, 1.0),
        tm=np.where(between, bench.tm + 0.1, bench.tm),
    )
    return baseline, shocks


def _solve(sam, method: str, baseline, shocks, closure="default", quota=None):
    """Baseline and scenario equilibria with Ipopt or with Newton–Krylov preconditioned by
    ``method`` ("lu", "regions"), as fragcge.api.solve_loaded solves them."""
    quota = np.zeros(sam.vxmd.shape, bool) if quota is None else quota
    solver = "ipopt" if method == "ipopt" else "newton"
    model = CGEModel(calibrate(sam), closure, quota=quota, solver=solver)
    if solver == "newton":
        model.solver = replace(model.solver, run=partial(run_newton, preconditioner=method))
    base = model.solve(baseline)
    reference = report.route_flows(model, base)["V"]
    scen = model.solve(shocks, x0=base, quota_reference=reference)
    for eq in (base, scen):
        assert eq.result.solver == solver
        assert eq.result.ok and eq.result.max_residual < 1e-8 and abs(eq.walras) < 1e-8
        if solver == "newton":
            assert eq.result.options["preconditioner"] == method
    return base, scen


@pytest.mark.parametrize("method", PRECONDITIONERS)
def test_each_preconditioner_reaches_ipopts_equilibrium_with_taxes_and_margins(method) -> None:
    sam = synthetic_sam(6, 4, seed=3)
    assert sam.specific and sam.margins and np.count_nonzero(sam.tm0) and np.count_nonzero(sam.tx0)
    baseline, shocks = _two_bloc(sam)
    ipopt = _solve(sam, "ipopt", baseline, shocks)
    newton = _solve(sam, method, baseline, shocks)
    for a, b in zip(ipopt, newton, strict=True):
        assert _scaled_difference(a.x, b.x) < AGREE
    # The shock moved the economy: agreement is not both solvers staying at the start.
    assert _scaled_difference(newton[0].x, newton[1].x) > 1e-2


@pytest.mark.parametrize("method", ["regions", "regions-trade"])
@pytest.mark.parametrize("name", ["export-control-jpn-kor.toml", "tariff-war.toml"])
def test_regional_blocks_reach_ipopts_equilibrium_on_shipped_scenarios(name, method) -> None:
    """The default data with a quota (its wedge ρ is an unknown of the importing region)
    and with tariffs: the regional blocks precondition these too."""
    scenario = load_scenario(ROOT / "scenarios" / name)
    resolved = resolve(scenario, load_dataset(scenario.data))
    args = (resolved.sam, method, resolved.baseline, resolved.shocks, scenario.closure)
    quota = np.isfinite(resolved.shocks.quota)
    newton = _solve(*args, quota=quota)
    ipopt = _solve(resolved.sam, "ipopt", *args[2:], quota=quota)
    for a, b in zip(ipopt, newton, strict=True):
        assert _scaled_difference(a.x, b.x) < AGREE


def test_regional_factors_kept_along_a_path_give_the_same_equilibria() -> None:
    """A NewtonRunner with regional blocks hands its factors from solve to solve, as with
    the global LU: same equilibria as fresh global LUs, to 1e-10."""
    sam = synthetic_sam(5, 3, seed=8)
    baseline, shocks = _two_bloc(sam)
    got = {}
    for name, run in (("kept", NewtonRunner("regions-trade")), ("lu", run_newton)):
        model = CGEModel(calibrate(sam), solver="newton")
        model.solver = replace(model.solver, run=run)
        eq = model.solve(baseline)
        path = [eq]
        for t in (0.5, 1.0):
            tau = 1 + t * (shocks.tau - 1)
            eq = model.solve(replace(shocks, tau=tau), x0=eq)
            path.append(eq)
        got[name] = path
    for a, b in zip(got["kept"], got["lu"], strict=True):
        assert a.result.max_residual < 1e-10 and _scaled_difference(a.x, b.x) < 1e-10
    assert [eq.result.factorizations for eq in got["kept"][1:]] == [0, 0]


def test_every_unknown_is_in_the_region_its_label_names() -> None:
    """region_of_unknowns against the variables' labels: the last region code of the label
    (py[S1,R3] → R3; a quota wedge rho[i,exporter,importer] → the importer), none (−1) for
    the margin pools; the trade unknowns are py, pm and M by their good."""
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam), quota=sam.vxmd > 0, solver="newton")
    region = region_of_unknowns(model.system)
    good = good_of_trade_unknowns(model.system)
    codes = {r: k for k, r in enumerate(sam.regions)}
    sectors = {s: k for k, s in enumerate(sam.sectors)}
    assert model.system.var["rho"].size > 0
    for k, label in enumerate(model.system.variable_labels()):
        name, inside = re.fullmatch(r"(\w+)\[(.*)\]", label).groups()
        parts = inside.split(",")
        named = [codes[p] for p in parts if p in codes]
        assert region[k] == (named[-1] if named and name not in ("YT", "pt") else -1), label
        assert good[k] == (sectors[parts[0]] if name in TRADE else -1), label


def test_regional_blocks_approximate_the_jacobian_and_trade_blocks_improve_them() -> None:
    """On J at the benchmark of a 6 × 4 economy whose regions import 5–50% of each good, the
    operator preconditioned by the regional blocks has its eigenvalues within 0.7 of 1 (none
    near 0, where GMRES would stall), with the trade blocks' sweep within 0.5; the global
    LU's factors invert J."""
    sam = synthetic_sam(6, 4, seed=0)
    model = CGEModel(calibrate(sam), solver="newton")
    jac = JacobianMatrix(model.evaluator.at(model.system.benchmark_theta))(model.system.start())
    dense = jac.toarray()
    regions = RegionalBlocks(model.system)(jac)
    sweep = RegionalBlocks(model.system, trade=True)(jac)
    assert not regions.exact and not sweep.exact
    eig_regions = np.linalg.eigvals(regions.solve(dense))
    eig_sweep = np.linalg.eigvals(np.column_stack([sweep.solve(c) for c in dense.T]))
    assert np.max(np.abs(eig_regions - 1)) < 0.7 and np.min(np.abs(eig_regions)) > 0.4
    assert np.max(np.abs(eig_sweep - 1)) < 0.5 and np.min(np.abs(eig_sweep)) > 0.8
    exact = factorize(jac)
    assert exact.exact and np.allclose(exact.solve(dense), np.eye(jac.shape[0]), atol=1e-8)


def test_auto_chooses_the_global_lu_up_to_the_size_rule_and_regions_above() -> None:
    assert choose_preconditioner("auto", REGIONS_ABOVE) == "lu"
    assert choose_preconditioner("auto", REGIONS_ABOVE + 1) == "regions-trade"
    assert choose_preconditioner("lu", 10**7) == "lu"
    with pytest.raises(ValueError, match="unknown preconditioner 'ilu': expected one of lu"):
        choose_preconditioner("ilu", 10)


def test_auto_switches_to_the_blocks_above_the_rule_and_records_it(monkeypatch) -> None:
    """run_newton's default ("auto") uses the regional and trade blocks once the model has
    more unknowns than REGIONS_ABOVE (lowered here to below a 4 × 3 economy's), and the
    solve's options say so."""
    sam = synthetic_sam(4, 3, seed=8)
    shocks = _two_bloc(sam)[1]
    model = CGEModel(calibrate(sam), solver="newton")
    small = model.solve(shocks)
    monkeypatch.setattr(preconditioners, "REGIONS_ABOVE", model.system.n - 1)
    large = model.solve(shocks)
    assert small.result.options["preconditioner"] == "lu"
    assert large.result.options["preconditioner"] == "regions-trade"
    assert large.result.ok and _scaled_difference(small.x, large.x) < 1e-10


def test_a_step_gmres_cannot_find_on_fresh_inexact_factors_stops_with_that_status() -> None:
    """F(x) = A x − b with A far from its diagonal, preconditioned by the diagonal alone and
    GMRES allowed 2 iterations: the solve stops at once, says why and is not converged."""
    rng = np.random.default_rng(0)
    a = sp.csc_matrix(np.eye(40) + 3.0 * rng.standard_normal((40, 40)))
    b = rng.standard_normal(40)

    def diagonal(jac):
        return LU(splu(sp.diags(jac.diagonal()).tocsc()), exact=False)

    opt = NewtonOptions(block_krylov=2, block_cycles=1)
    out = newton_krylov(
        lambda x: a @ x - b, lambda x: a, np.zeros(40), None, opt, None, None, diagonal
    )
    assert out.status == KRYLOV_STALLED and not out.converged and out.iterations == 0
    assert "GMRES does not converge" in out.message
