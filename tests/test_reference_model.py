"""The model's solutions satisfy MODEL.md, checked by an independent implementation of it.

tests/reference_model.py recomputes every unit cost and nested demand from MODEL.md's
formulas. At the benchmark its residuals vanish (a check of the reference itself); after a
combined shock (trade costs, tariffs, export taxes, transfers, productivity, endowments) on
a dataset with every tax, margins, mobile and specific factors and non-zero transfers, the
model's solution must satisfy every one of its equations. This is
the test that catches net-of-tax shares where MODEL.md wants gross-of-tax ones (the
benchmark would still replicate). A slightly perturbed solution must fail it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import reference_model as ref

from fragcge.calibration import accounts
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.synthetic import TAX_RATES, synthetic_sam
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.report import dense
from fragcge.model.shocks import ShockSet

CASES = [(3, 3, 0, False), (3, 3, 1, False), (4, 3, 2, False), (3, 3, 3, True), (3, 3, 4, "flat")]
"""(regions, sectors, seed, special) of the shocked solves; special: the elasticities of
:func:`special_elasticities`, else the synthetic draws (all strictly between 0 and 1 or
above, never exactly 0 or 1)."""


def special_elasticities(sam: GlobalSAM) -> GlobalSAM:
    """Cobb-Douglas (σ = 1) and Leontief (σ = 0) nests beside CES ones, in every nest type."""
    return replace(
        sam,
        esubt=np.array([1.0, 0.0, 0.5]),
        esubc=np.array([0.0, 1.0, 1.0]),
        esubva=np.array([1.0, 0.5, 0.0]),
        esubd=np.array([1.0, 2.0, 3.0]),
        esubm=np.array([2.0, 1.0, 6.0]),
        esubp=1.0,
        esubg=0.0,
        esubi=1.0,
    )


def flat_elasticities(sam: GlobalSAM) -> GlobalSAM:
    """esubt = esubc in every sector (CES, Cobb-Douglas, Leontief): the model merges the nests."""
    return replace(sam, esubt=np.array([0.5, 1.0, 0.0]), esubc=np.array([0.5, 1.0, 0.0]))


def combined_shock(sam: GlobalSAM, seed: int) -> ShockSet:
    """Iceberg costs, tariffs and export taxes on several routes, transfers moved (Σ Δvb = 0),
    productivity and factor endowments changed in some sectors and regions."""
    rng = np.random.default_rng(100 + seed)
    bench = ShockSet.benchmark(sam)
    routes = sam.vxmd > 0

    def some() -> np.ndarray:
        return routes & (rng.random(routes.shape) < 0.5)

    tau = np.where(some(), rng.uniform(0.9, 1.25, routes.shape), 1.0)
    tm = np.where(some(), np.maximum(sam.tm0 + rng.uniform(-0.05, 0.3, routes.shape), 0.0), sam.tm0)
    tx = np.where(some(), sam.tx0 + rng.uniform(-0.05, 0.1, routes.shape), sam.tx0)
    move = rng.uniform(-1.0, 1.0, len(sam.regions))
    move -= move.mean()
    vb = bench.vb + 0.05 * np.abs(bench.vb).max() * move / np.abs(move).max()
    A = np.where(rng.random(bench.A.shape) < 0.5, rng.uniform(0.9, 1.15, bench.A.shape), 1.0)
    endow = rng.uniform(0.9, 1.1, bench.endow.shape)
    endow_s = rng.uniform(0.9, 1.1, bench.endow_s.shape)
    return replace(bench, tau=tau, tm=tm, tx=tx, vb=vb, A=A, endow=endow, endow_s=endow_s)


def model_values(model: CGEModel, eq: Equilibrium) -> dict[str, np.ndarray]:
    """MODEL.md's variables from a solution, dense; prices 1 where a variable does not exist."""
    values = {k: dense(model.system, eq.x, k, 1.0) for k in ref.VARIABLES}
    values["RA"] = dense(model.system, eq.x, "RA")
    return values


def worst(residuals: dict[str, np.ndarray]) -> tuple[str, float]:
    """The block with the largest residual, and that residual."""
    sizes = ref.max_abs(residuals)
    block = max(sizes, key=sizes.get)
    return block, sizes[block]


@pytest.fixture(
    scope="module",
    params=CASES,
    ids=lambda c: (
        f"{c[0]}x{c[1]}-seed{c[2]}" + {False: "", True: "-special", "flat": "-flat"}[c[3]]
    ),
)
def solved(request) -> tuple[GlobalSAM, ShockSet, dict[str, np.ndarray]]:
    n_regions, n_sectors, seed, special = request.param
    sam = synthetic_sam(n_regions, n_sectors, seed=seed)
    if special == "flat":
        sam = flat_elasticities(sam)
    elif special:
        sam = special_elasticities(sam)
    model = CGEModel(calibrate(sam))
    shocks = combined_shock(sam, seed)
    eq = model.solve(shocks)
    assert eq.result.ok, eq.result.message
    return sam, shocks, model_values(model, eq)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("size", [(2, 1), (3, 3), (4, 3)])
def test_reference_vanishes_at_the_benchmark(size: tuple[int, int], seed: int) -> None:
    sam = synthetic_sam(*size, seed=seed)
    residuals = ref.mdl_residuals(sam, ShockSet.benchmark(sam), ref.benchmark_values(sam))
    assert set(residuals) == set(ref.BLOCKS)
    block, size_ = worst(residuals)
    assert size_ < 1e-10, f"{block}: {size_:.3e}"
    # The reference's own transfers agree with the calibration's accounts.
    vb = ref.benchmark_accounts(sam)["vb0"]
    np.testing.assert_allclose(vb, accounts.vb(sam), rtol=0, atol=1e-10 * np.abs(vb).max())


def test_datasets_exercise_every_feature(solved) -> None:
    """Every tax, margins, both kinds of factor, transfers, and every mutable parameter moved."""
    sam, shocks, values = solved
    for rate in TAX_RATES:
        assert np.abs(getattr(sam, rate)).max() > 0.01, rate
    assert sam.margins and sam.vtwr.sum() > 0
    assert sam.mobile and sam.specific
    assert np.abs(shocks.vb).min() > 0 and abs(shocks.vb.sum()) < 1e-9 * np.abs(shocks.vb).max()
    assert not np.allclose(shocks.vb, ShockSet.benchmark(sam).vb)
    routes = sam.vxmd > 0
    assert (shocks.tau[routes] != 1).sum() >= 3
    assert (shocks.tm[routes] != sam.tm0[routes]).sum() >= 3
    assert (shocks.tx[routes] != sam.tx0[routes]).sum() >= 3
    assert (shocks.A != 1).sum() >= 2 and (shocks.endow != 1).all() and (shocks.endow_s != 1).all()
    assert np.abs(values["py"] - 1).max() > 0.01, "the shock should move prices"
    assert np.abs(values["C"] - 1).max() > 0.01, "the shock should move welfare"


def test_model_solution_satisfies_model_md(solved) -> None:
    sam, shocks, values = solved
    residuals = ref.mdl_residuals(sam, shocks, values)
    sizes = ref.max_abs(residuals)
    bad = {k: f"{v:.3e}" for k, v in sizes.items() if v >= 1e-8}
    assert not bad, f"reference residuals above 1e-8: {bad}"


def test_a_perturbed_solution_fails(solved) -> None:
    sam, shocks, values = solved
    n = len(sam.sectors)
    for name, index in (("py", (0, 1)), ("pm", (n - 1, 0)), ("M", (1, 1)), ("RA", (0,))):
        moved = {k: v.copy() for k, v in values.items()}
        moved[name][index] *= 1.001
        block, size = worst(ref.mdl_residuals(sam, shocks, moved))
        assert size > 1e-6, f"{name}{index} × 1.001 went unnoticed (worst {block}: {size:.2e})"
