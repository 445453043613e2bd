"""Report quantities come from the equations' own terms: every agent's purchases and route
volumes evaluated with the numpy backend equal the matching terms of the market equations, at
a point off equilibrium, for every nest pattern of firms (two CES levels, one merged level,
Leontief) and for final agents whose activity is a variable (C) or fixed by the closure (G, I)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model import report
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.numpy_terms import term_values
from fragcge.model.shocks import ShockSet
from fragcge.model.terms import DEMAND_KINDS, all_kinds

NESTS = {"two-levels": (0.5, 0.3), "merged": (0.5, 0.5), "leontief": (0.0, 0.0)}


def demand_kinds(*who: str) -> tuple[str, ...]:
    """The demand templates (not their tax-base variants) of the given demanders."""
    return tuple(
        k for k in DEMAND_KINDS if k.startswith(tuple(f"dem_{w}" for w in who)) and "_val" not in k
    )


@pytest.fixture(scope="module", params=list(NESTS))
def point(request) -> tuple[CGEModel, Equilibrium]:
    """A model with the nest pattern, and a random point with shocked trade costs (a point
    carries its θ as an Equilibrium does; it need not solve the equations)."""
    esubt, esubc = NESTS[request.param]
    sam = synthetic_sam(3, 3, final_agents=("hh", "gov", "inv"), seed=4)
    n = len(sam.sectors)
    sam = replace(sam, esubt=np.full(n, esubt), esubc=np.full(n, esubc))
    model = CGEModel(calibrate(sam))
    rng = np.random.default_rng(11)
    bench = ShockSet.benchmark(sam)
    theta = model.theta_for(replace(bench, tau=rng.uniform(0.9, 1.3, bench.tau.shape)))
    x = model.benchmark() * rng.uniform(0.9, 1.1, model.system.n)
    return model, Equilibrium(x, None, 0.0, theta)


def _row_terms(model: CGEModel, eq: Equilibrium, kinds: tuple[str, ...], block: str):
    """Σ of the named templates' terms in each row of a variable's market equation, dense."""
    s = model.system
    templates = all_kinds(len(s.margin_rows))
    rows = np.zeros(s.n + 1)
    for g in s.groups:
        if g.kind in kinds:
            np.add.at(rows, g.rows, term_values(templates[g.kind], g, eq.x, eq.theta))
    # The dropped market's terms are kept in row n; its own row holds the numeraire.
    rows[s.dropped[2]] = rows[s.n]
    b = s.var[block]
    out = np.zeros(b.pos.shape)
    has = b.pos >= 0
    out[has] = rows[b.pos[has]]
    return out


def test_purchases_are_the_market_equations_terms(point) -> None:
    model, eq = point
    c = model.cal
    agents = demand_kinds("prod", "fin", "fix")
    assert model.system.var["G"].size == 0, "G is fixed by the default closure: dem_fix terms"
    domestic = report.purchases(model, eq, "py")
    imported = report.purchases(model, eq, "pm")
    # mkt_py[i,r] carries −dd0/vom·demand per agent; mkt_pm[i,r] −di0/vim·demand.
    expected_d = -_row_terms(model, eq, agents, "py") * c.vom
    expected_m = -_row_terms(model, eq, agents, "pm") * c.vim
    np.testing.assert_allclose(domestic.sum(axis=1), expected_d, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(imported.sum(axis=1), expected_m, rtol=1e-13, atol=1e-12)
    assert np.max(np.abs(domestic / np.where(c.dd0 > 0, c.dd0, 1) - 1)) > 1e-3


def test_purchases_at_the_benchmark_are_the_data(point) -> None:
    """Every price and activity 1: every agent buys its benchmark flows (independent of the
    templates)."""
    model, _ = point
    bench = Equilibrium(
        model.benchmark(), None, 0.0, model.theta_for(ShockSet.benchmark(model.cal.sam))
    )
    np.testing.assert_allclose(report.purchases(model, bench, "py"), model.cal.dd0, rtol=1e-14)
    np.testing.assert_allclose(report.purchases(model, bench, "pm"), model.cal.di0, rtol=1e-14)


def test_route_shipments_are_the_market_equations_terms(point) -> None:
    """mkt_py[i,s] carries −vxmd/vom·τ·V for each route from s: the goods shipped."""
    model, eq = point
    c = model.cal
    shipped = (c.vxmd * report.route_flows(model, eq)["shipped"]).sum(axis=2)
    expected = -_row_terms(model, eq, ("vol_route",), "py") * c.vom
    # Margin services are shipped in mkt_pt rows, not mkt_py: only goods rows compare.
    np.testing.assert_allclose(shipped, expected, rtol=1e-13, atol=1e-12)


def test_factor_demands_are_the_market_equations_terms(point) -> None:
    """mkt_pf[f,r] carries −fd0/evom·demand of each sector, mkt_ps[f,j,r] −fd0/evom_s·demand."""
    model, eq = point
    c, s = model.cal, model.system
    demand = report.factor_demands(model, eq)
    kinds = demand_kinds("fac")
    mobile = s.var["pf"].pos >= 0
    specific = s.var["ps"].pos >= 0
    assert mobile.any() and specific.any(), "the data should have both kinds of factor"
    expected_mobile = -_row_terms(model, eq, kinds, "pf") * c.evom
    expected_specific = -_row_terms(model, eq, kinds, "ps") * c.evom_s
    np.testing.assert_allclose(
        demand.sum(axis=1)[mobile], expected_mobile[mobile], rtol=1e-13, atol=1e-12
    )
    np.testing.assert_allclose(
        demand[specific], expected_specific[specific], rtol=1e-13, atol=1e-12
    )


def test_margin_supplies_are_the_market_equations_terms(point) -> None:
    """mkt_py[i,r] carries −vst/vom·YT·pt/py for each margin service i's good serves."""
    model, eq = point
    assert model.system.margin_rows, "the data should have margin services"
    supply = report.margin_supplies(model, eq)
    expected = -_row_terms(model, eq, ("msup",), "py") * model.cal.vom
    assert np.abs(supply).max() > 0
    np.testing.assert_allclose(supply, expected, rtol=1e-13, atol=1e-12)


def test_ban_flows_follow_from_the_wedge_w() -> None:
    """On a route on its way to a ban, the delivered volume is D = w^(−σ)·V and
    Ddw = D·τ·dw/d(open), with w = open^(1/(1−σ)) written here: Ddw is checked against a
    central difference of w, D against w itself; a Cobb-Douglas commodity has Ddw = 0."""
    sam = synthetic_sam(3, 3, seed=4)
    sigma = np.array([4.0, 1.0, 2.5])
    sam = replace(sam, esubm=sigma)
    model = CGEModel(calibrate(sam))
    rng = np.random.default_rng(5)
    bench = ShockSet.benchmark(sam)
    opening = rng.uniform(0.2, 0.9, bench.trade_open.shape)
    tau = rng.uniform(0.9, 1.3, bench.tau.shape)
    theta = model.theta_for(replace(bench, trade_open=opening, tau=tau))
    x = model.benchmark() * rng.uniform(0.9, 1.1, model.system.n)
    flows = report.route_flows(model, Equilibrium(x, None, 0.0, theta))
    routes = sam.vxmd > 0
    s = sigma[:, None, None]
    V = flows["volume"]

    def w(o):
        with np.errstate(divide="ignore"):
            return np.where(s == 1, 1.0, o ** (1 / np.where(s == 1, 2.0, 1 - s)))

    h = 1e-6
    dw = (w(opening + h) - w(opening - h)) / (2 * h)
    D = w(opening) ** (-s) * V
    np.testing.assert_allclose(flows["V"][routes], D[routes], rtol=1e-13)
    np.testing.assert_allclose(flows["Ddw"][routes], (D * tau * dw)[routes], rtol=1e-7)
    assert np.all(flows["Ddw"][1][routes[1]] == 0) and np.all(flows["Ddw"][~routes] == 0)
    assert np.all(flows["Ddw"][0][routes[0]] < 0)  # σ > 1: w rises as open falls
