"""The welfare decomposition: each component where theory says it must be, and the parts add up.

Expectations are reasoned from the accounts, not read off the code: without taxes there is
no tax wedge, so ``alloc`` is exactly 0; without an iceberg change ``iceberg`` is exactly 0;
an importer's wedges are credited to the importer only; a uniform endowment change leaves
every price alone, so all of EV is ``endowment``; and EV minus the parts (``residual``) is
small because the differential identity holds at every point of the path.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.api import solve_scenario
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model import report
from fragcge.model.cge import CGEModel
from fragcge.model.decomposition import COMPONENTS, add_to_welfare, decompose
from fragcge.model.shocks import ShockSet

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
PARTS = [*COMPONENTS, "residual"]


def run(sam, change, closure: str = "default", blocs=None) -> pd.DataFrame:
    """welfare.csv's rows for the benchmark → change(benchmark), decomposed."""
    model = CGEModel(calibrate(sam), closure=closure)
    bench = ShockSet.benchmark(sam)
    base = model.solve(bench)
    scen = model.solve(change(bench), x0=base)
    welfare = report.welfare(model, base, scen, blocs or {})
    return add_to_welfare(welfare, decompose(model, base, scen)).set_index("region")


def regions(df: pd.DataFrame, sam) -> pd.DataFrame:
    return df.loc[list(sam.regions)]


def assert_small_residual(df: pd.DataFrame, rel: float) -> None:
    bad = df[df.residual.abs() > rel * np.maximum(df.ev.abs(), 1e-9)]
    assert bad.empty, f"residual above {rel:.0e} of |EV|:\n{bad[['ev', 'residual']]}"


@pytest.fixture(scope="module")
def no_tax():
    return synthetic_sam(3, 2, taxes=False, margins=False, seed=3)


def test_pure_transfer_is_transfers_and_terms_of_trade(no_tax) -> None:
    def change(b):
        vb = b.vb.copy()
        vb[0] += 5.0
        vb[1] -= 5.0
        return replace(b, vb=vb)

    df = regions(run(no_tax, change), no_tax)
    for k in ("alloc", "iceberg", "rents", "endowment"):
        assert (df[k] == 0).all(), k
    assert df.transfers.iloc[2] == 0, "R3's transfer does not change"
    # the transfer deflated by the consumer price, which moves by a few % at most
    assert df.transfers.iloc[0] == pytest.approx(5.0, rel=0.05)
    assert df.transfers.iloc[1] == pytest.approx(-5.0, rel=0.05)
    # the receiving region's spending raises its prices: a terms-of-trade gain
    assert df.tot.iloc[0] > 0 > df.tot.iloc[1]
    assert (df.ev - df.transfers - df.tot).abs().max() < 1e-4 * df.ev.abs().max()
    assert_small_residual(df, 1e-4)


def test_iceberg_cost_is_borne_by_the_importer(no_tax) -> None:
    def change(b):
        tau = b.tau.copy()
        tau[0, 0, 1] = 1.3
        return replace(b, tau=tau)

    df = regions(run(no_tax, change), no_tax)
    for k in ("alloc", "rents", "endowment", "transfers"):
        assert (df[k] == 0).all(), k
    assert df.iceberg.iloc[1] < 0, "R2 imports on the route and loses the goods melted"
    assert (df.iceberg.iloc[[0, 2]] == 0).all()
    # first order: extra goods melted = Δτ × the delivered flow at cif prices
    cif = calibrate(no_tax).cif[0, 0, 1]
    assert -df.iceberg.iloc[1] == pytest.approx(0.3 * cif, rel=0.5)
    assert_small_residual(df, 1e-3)


def test_tariff_is_allocative_efficiency_and_terms_of_trade() -> None:
    sam = synthetic_sam(3, 2, taxes=("tm0",), margins=True, seed=5)

    def change(b):
        tm = b.tm.copy()
        tm[0, 0, 1] += 0.3
        return replace(b, tm=tm)

    df = regions(run(sam, change), sam)
    for k in ("iceberg", "rents", "endowment", "transfers"):
        assert (df[k] == 0).all(), k
    assert df.alloc.iloc[1] < 0, "the tariff cuts R2's imports, which bore a tariff"
    assert (df.ev - df.alloc - df.tot).abs().max() < 1e-3 * df.ev.abs().max()
    assert_small_residual(df, 1e-3)


def test_uniform_endowment_growth_is_all_endowment() -> None:
    # with only households buying, every demand scales with the endowments (G, I fixed in
    # real terms would not grow and would shift the composition of demand)
    sam = synthetic_sam(3, 2, taxes=False, margins=True, balanced=True, final_agents=("hh",))
    df = regions(run(sam, lambda b: replace(b, endow=b.endow * 1.1, endow_s=b.endow_s * 1.1)), sam)
    np.testing.assert_allclose(df.endowment, df.ev, rtol=1e-6)
    np.testing.assert_allclose(df.tot, 0.0, atol=1e-8 * df.ev.abs().max())
    assert (df.alloc == 0).all() and (df.iceberg == 0).all()


@pytest.mark.parametrize("closure", ["default", "savings", "gov-share", "short-run"])
def test_every_tax_and_shock_together_leave_a_small_residual(closure: str) -> None:
    sam = synthetic_sam(3, 3, taxes=True, margins=True, seed=1)

    def change(b):
        tm, tau, vb = b.tm.copy(), b.tau.copy(), b.vb.copy()
        tm[0, 0, 1] += 0.3
        tau[1, 2, 0] = 1.2
        vb[0] += 3.0
        vb[1] -= 3.0
        return replace(b, tm=tm, tau=tau, vb=vb, tx=b.tx + 0.05, A=b.A * 1.02)

    df = regions(run(sam, change, closure), sam)
    assert_small_residual(df, 1e-3)
    assert (df[["tot", "alloc", "iceberg", "endowment", "transfers"]].abs().sum() > 0).all()


def test_rent_wedge_is_credited_to_the_importer() -> None:
    sam = replace(synthetic_sam(4, 2, taxes=False, margins=True, seed=24), esubm=np.full(2, 6.0))

    def change(b):
        tn = b.tn.copy()
        tn[0, 0, 1] = 0.3
        return replace(b, tn=tn)

    df = regions(run(sam, change), sam)
    assert (df.alloc == 0).all() and (df.iceberg == 0).all()
    assert df.rents.iloc[1] < 0, "the importer's rent-bearing wedge × its fall in imports"
    assert (df.rents.drop(df.index[1]) == 0).all()
    assert_small_residual(df, 1e-4)


def test_a_ban_on_the_path_to_closure_leaves_a_small_residual() -> None:
    sam = replace(synthetic_sam(4, 2, taxes=True, margins=True, seed=24), esubm=np.full(2, 6.0))

    def change(b):
        opn = b.trade_open.copy()
        opn[0, 0, 1] = 0.0
        return replace(b, trade_open=opn)

    assert_small_residual(regions(run(sam, change), sam), 1e-3)


def test_bloc_and_world_rows_are_sums_of_regions() -> None:
    sam = synthetic_sam(4, 2, taxes=True, margins=True, seed=2)

    def change(b):
        tm = b.tm.copy()
        tm[:, 0, 1] += 0.2
        return replace(b, tm=tm)

    df = run(sam, change, blocs={"R1": "a", "R2": "a", "R3": "b"})
    reg = df.loc[list(sam.regions)]
    for bloc, members in (("a", ["R1", "R2"]), ("b", ["R3"]), ("nonaligned", ["R4"])):
        assert (df.loc[bloc, PARTS] == reg.loc[members, PARTS].sum()).all(), bloc
    assert (df.loc["WORLD", PARTS] == reg[PARTS].sum()).all()
    np.testing.assert_allclose(df.ev - df[PARTS].sum(axis=1), 0.0, atol=1e-9 * df.ev.abs().max())


@pytest.mark.parametrize(
    "name",
    [
        "friendshoring",
        "friendshoring-strategic",
        "tariff-war",
        "decoupling",
        "export-control-jpn-kor",
        "export-control-chn-jpn",
    ],
)
def test_shipped_scenarios_residual_under_one_percent(name: str) -> None:
    run_ = solve_scenario(SCENARIOS / f"{name}.toml")
    df = run_.tables["welfare"]
    assert list(df.columns[-len(PARTS) :]) == PARTS
    reg = df[df.region.isin(run_.resolved.sam.regions)]
    assert_small_residual(reg.set_index("region"), 1e-2)
    world = df.set_index("region").loc["WORLD"]
    assert world.residual == pytest.approx(reg.residual.sum(), abs=1e-9 * abs(world.ev))


def test_a_binding_quota_leaves_a_small_residual(no_tax) -> None:
    """The quota's rent wedge ρ is endogenous: its rate comes from the solution."""
    i, r, s = 0, 0, 1
    quota = np.zeros(no_tax.vxmd.shape, bool)
    quota[i, r, s] = True
    model = CGEModel(calibrate(no_tax), quota=quota)
    bench = ShockSet.benchmark(no_tax)
    base = model.solve(bench)
    cap = np.where(quota, 0.6, np.inf)
    scen = model.solve(replace(bench, quota=cap), x0=base)
    assert report.dense(model.system, scen.x, "rho")[i, r, s] > 1e-3
    df = add_to_welfare(report.welfare(model, base, scen, {}), decompose(model, base, scen))
    assert_small_residual(regions(df.set_index("region"), no_tax), 1e-3)
