"""Special cases the model must nest (MODEL.md): published solutions and closed forms.

Every expected number here comes from outside the model: the published solution of the
Stata ``ge_gravity`` EU-enlargement example (Baier, Yotov & Zylkin 2019), and the
Arkolakis–Costinot–Rodríguez-Clare (2012) welfare formula evaluated on the trade flows
of the model's own solution.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from reference_data import armington_sam, ge_gravity_eu2000

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.gravity import IMPORTER as GRAVITY
from fragcge.calibration.importers import import_dataset
from fragcge.calibration.validate import validate
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.report import dense, route_flows
from fragcge.model.shocks import ShockSet


def _iceberg(sam, tau: np.ndarray) -> ShockSet:
    """The benchmark ShockSet with iceberg costs tau[exporter, importer] of the one good."""
    bench = ShockSet.benchmark(sam)
    return replace(bench, tau=tau[None].copy())


def _trade_values(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """Bilateral spending X[exporter, importer] at the solution, in value (gravity's X_ij).

    Imports are the goods shipped (τ·V units of the benchmark flow) at the exporter's
    price, which is the importer's delivered price of what arrives; domestic sales are
    the output not shipped abroad, at the producer price.
    """
    shipped = route_flows(model, eq)["shipped"][0] * model.cal.vxmd[0]
    py = dense(model.system, eq.x, "py")[0]
    output = model.cal.vom[0] * dense(model.system, eq.x, "Y")[0]
    flows = shipped * py[:, None]
    flows[np.diag_indices_from(flows)] = py * (output - shipped.sum(axis=1))
    return flows


def test_reproduces_ge_gravity_eu_enlargement(tmp_path: Path) -> None:
    """The published EU-enlargement counterfactual of ge_gravity, country by country.

    ge_gravity: one sector, endowment economies, CES across origins with θ = 4 (σ = 5),
    additive (nominal) trade imbalances, world output value held fixed as the numeraire,
    partial effect β on each new-EU route applied as exp(β) on the gravity term, i.e. an
    iceberg cost τ̂ = exp(−β/θ). With one factor and no intermediates, output is value
    added, so the model's default numeraire (Laspeyres index of mobile-factor prices with
    endowment weights) is exactly world output value at fixed quantities, and the data's
    expenditure − income is ge_gravity's D = E − Y, fixed in numeraire units.

    The benchmark comes through the gravity importer, from the year-2000 flows written as
    the ``exporter,importer,value`` table a user of ge_gravity has.
    """
    theta = 4.0
    regions, trade, beta, rows = ge_gravity_eu2000()
    assert len(regions) == 44 and np.count_nonzero(beta) == 572
    source = tmp_path / "ge_gravity_eu2000.csv"
    rows.rename(columns={"trade": "value"})[["exporter", "importer", "value"]].to_csv(
        source, index=False
    )
    options = argparse.Namespace(trade_elasticity=theta)
    sam = import_dataset(GRAVITY, source, tmp_path / "ge_gravity", options, None, None)
    assert sam.regions == regions
    cal = calibrate(sam)
    np.testing.assert_allclose(cal.vb0, trade.sum(axis=0) - trade.sum(axis=1), atol=1e-6)

    model = CGEModel(cal)
    eq = model.solve(_iceberg(sam, np.exp(-beta / theta)))
    assert eq.result.status == 0
    assert abs(eq.walras) < 1e-8

    # ge_gravity's normalisation: world output value unchanged.
    output = trade.sum(axis=1)
    pf = dense(model.system, eq.x, "pf")[0]
    assert abs(pf @ output / output.sum() - 1.0) < 1e-12

    # Welfare: (ŵY + D)/(E·P̂), the published w_eu of each exporter.
    published = rows.groupby("exporter")["w_eu"].agg(["min", "max"]).reindex(list(regions))
    assert (published["min"] == published["max"]).all()
    welfare = dense(model.system, eq.x, "C")
    gap = np.abs(welfare - published["max"].to_numpy())
    assert gap.max() < 1e-5, f"worst: {regions[gap.argmax()]} off by {gap.max():.2e}"

    # New flows: the published X_eu, to the single precision they are stored in.
    expected = np.zeros_like(trade)
    expected[rows["e"], rows["m"]] = rows["X_eu"]
    rel = np.abs(_trade_values(model, eq) / expected - 1.0)
    assert rel.max() < 1e-6, f"worst X_eu relative gap {rel.max():.2e}"


def _balanced_trade(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random trade matrix with every row sum equal to its column sum (vb = 0).

    A symmetric part plus a circulation r → r+1 (mod n), so that trade is balanced
    without being bilaterally balanced.
    """
    sym = rng.uniform(0.5, 5.0, (n, n))
    sym = sym + sym.T
    cycle = np.roll(np.eye(n), 1, axis=1) * rng.uniform(0.5, 2.0)
    trade = sym + cycle
    trade[np.diag_indices(n)] = rng.uniform(20.0, 60.0, n)
    return trade


@pytest.mark.parametrize("sigma", [0.5, 1.5, 2.0, 5.0])
def test_acr_closed_form(sigma: float) -> None:
    """Armington with balanced trade: Ĉ = λ̂_rr^(−1/(σ−1)) for every region (ACR 2012).

    λ_rr is the region's domestic expenditure share, read off the trade flows of the
    model's solution; nothing of the formula is computed by the model.
    """
    rng = np.random.default_rng(20120101)
    n = 5
    trade = _balanced_trade(n, rng)
    sam = armington_sam(trade, sigma, name=f"acr_sigma{sigma}")
    validate(sam)
    cal = calibrate(sam)
    assert np.abs(cal.vb0).max() < 1e-12
    assert (cal.vfd[1:] == 0).all()  # vg = vi = 0

    tau = np.ones((n, n))
    routes = [(0, 1), (1, 0), (2, 4), (3, 1), (4, 0), (0, 3), (2, 1)]
    for s, r in routes:
        tau[s, r] = rng.uniform(0.8, 1.5)

    model = CGEModel(cal)
    eq = model.solve(_iceberg(sam, tau))
    assert eq.result.status == 0
    assert abs(eq.walras) < 1e-8

    before = np.diag(trade) / trade.sum(axis=0)
    flows = _trade_values(model, eq)
    after = np.diag(flows) / flows.sum(axis=0)
    acr = (after / before) ** (-1.0 / (sigma - 1.0))
    welfare = dense(model.system, eq.x, "C")
    assert np.abs(welfare - 1.0).max() > 1e-3  # the shock does something
    np.testing.assert_allclose(welfare, acr, rtol=0, atol=1e-8)
