"""The closures of MODEL.md: each passes replication, homogeneity and Walras' law, and does
what its name says at a shocked solution."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import FragcgeError
from fragcge.model import report
from fragcge.model.cge import CGEModel
from fragcge.model.checks import check_shock, homogeneity, replication, walras
from fragcge.model.closures import CLOSURES
from fragcge.model.report import dense
from fragcge.model.shocks import ShockSet

TOL = 1e-8


def _rich_sam():
    sam = synthetic_sam(4, 3, seed=11)
    n = len(sam.sectors)
    return dataclasses.replace(sam, esubt=np.full(n, 0.4), esubc=np.full(n, 0.6))


CASES = [("synthetic", name) for name in sorted(CLOSURES)] + [
    ("wiod2011_10x8", name) for name in sorted(CLOSURES) if name != "real-wage"
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def model(request) -> CGEModel:
    data, closure = request.param
    sam = _rich_sam() if data == "synthetic" else load_dataset(data)
    return CGEModel(calibrate(sam), closure=closure)


def test_every_closure_replicates_the_benchmark(model) -> None:
    check = replication(model)
    assert check.passed, check.detail


def test_every_closure_is_homogeneous(model) -> None:
    check = homogeneity(model, check_shock(model))
    assert check.passed, check.detail


def test_every_closure_obeys_walras_law(model) -> None:
    check = walras(model, check_shock(model))
    assert check.passed, check.detail


def test_real_wage_needs_a_factor_whose_price_adjusts() -> None:
    with pytest.raises(FragcgeError, match="needs a sector-specific factor"):
        CGEModel(calibrate(load_dataset("wiod2011_10x8")), closure="real-wage")


def _solved(name: str):
    model = CGEModel(calibrate(_rich_sam()), closure=name)
    base = model.solve(ShockSet.benchmark(model.cal.sam))
    return model, base, model.solve(check_shock(model), x0=base)


def test_gov_share_keeps_government_spending_a_fixed_share_of_income() -> None:
    model, _, eq = _solved("gov-share")
    s, c = model.system, model.cal
    spend = dense(s, eq.x, "pg", 1.0) * c.vfd[1] * dense(s, eq.x, "G")
    share = c.vfd[1] / c.ra0 * dense(s, eq.x, "RA")
    assert np.max(np.abs(spend / share - 1)) < TOL
    assert np.max(np.abs(dense(s, eq.x, "G") - 1)) > 1e-3


def test_savings_keeps_investment_a_fixed_share_of_income() -> None:
    model, _, eq = _solved("savings")
    s, c = model.system, model.cal
    spend = dense(s, eq.x, "pinv", 1.0) * c.vfd[2] * dense(s, eq.x, "I")
    share = c.vfd[2] / c.ra0 * dense(s, eq.x, "RA")
    assert np.max(np.abs(spend / share - 1)) < TOL
    assert np.max(np.abs(dense(s, eq.x, "I") - 1)) > 1e-3


def test_short_run_ties_mobile_factors_to_their_sectors() -> None:
    model, _, eq = _solved("short-run")
    s = model.system
    assert s.var["pf"].size == 0
    ps = dense(s, eq.x, "ps", np.nan)
    lab = model.cal.sam.factors.index("lab")
    spread = np.nanmax(ps[lab], axis=0) - np.nanmin(ps[lab], axis=0)
    assert spread.max() > 1e-3


def test_default_closure_has_one_price_per_mobile_factor() -> None:
    model, _, eq = _solved("default")
    assert (
        model.system.var["ps"].size
        < CGEModel(calibrate(_rich_sam()), closure="short-run").system.var["ps"].size
    )
    assert model.system.var["L"].size == 0 and model.system.var["G"].size == 0


def test_real_wage_fixes_pf_over_pc_and_lets_employment_move() -> None:
    model, _, eq = _solved("real-wage")
    s = model.system
    pf, pc = dense(s, eq.x, "pf", np.nan), dense(s, eq.x, "pc", 1.0)
    mobile = s.var["pf"].pos >= 0
    assert np.nanmax(np.abs((pf / pc[None, :])[mobile] - 1)) < TOL
    L = dense(s, eq.x, "L", np.nan)[mobile]
    assert np.max(np.abs(L - 1)) > 1e-3


def test_utility_welfare_where_government_spending_varies() -> None:
    """EV = e_b·RA0·(U_s − U_b), U = C^αc·G^αg·I^αi, computed here from MODEL.md's formula."""
    model, base, eq = _solved("gov-share")
    s, c = model.system, model.cal
    alpha = c.vfd / c.ra0

    def u(e):
        return dense(s, e.x, "C") ** alpha[0] * dense(s, e.x, "G") ** alpha[1]

    price = dense(s, base.x, "pc", 1.0) ** alpha[0] * dense(s, base.x, "pg", 1.0) ** alpha[1]
    price = price * dense(s, base.x, "pinv", 1.0) ** alpha[2]
    expected = price * c.ra0 * (u(eq) - u(base))
    table = report.welfare(model, base, eq, {})
    got = table.set_index("region").loc[list(c.sam.regions), "ev"].to_numpy()
    assert np.max(np.abs(got - expected)) < 1e-9 * c.ra0.max()
