"""The welfare decomposition: each component where theory says it must be, and the parts add up.

Expectations are reasoned from the accounts, not read off the code: without taxes there is
no tax wedge, so ``alloc`` is exactly 0; without an iceberg change ``iceberg`` is exactly 0;
an importer's wedges are credited to the importer only; a uniform endowment change leaves
every price alone, so all of EV is ``endowment``; and EV minus the parts (``residual``) is
small because the differential identity holds at every point of the path.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model import report
from fragcge.model.cge import CGEModel
from fragcge.model.decomposition import (
    COMPONENTS,
    DEFAULT_STEPS,
    RELIABLE,
    RESIDUAL_SHARE,
    DecompositionWarning,
    add_to_welfare,
    decompose,
    decompose_welfare,
)
from fragcge.model.shocks import ShockSet

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
def test_shipped_scenarios_residual_under_one_percent(name: str, shipped_run) -> None:
    run_ = shipped_run(name)
    df = run_.tables["welfare"]
    assert list(df.columns[-len(PARTS) - 1 :]) == [*PARTS, RELIABLE]
    assert df[RELIABLE].all() and run_.decomposition_steps == DEFAULT_STEPS
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


def _large_iceberg(no_tax):
    """Iceberg costs × 11 both ways R1↔R2 at esubm = 4: imports on the route collapse in
    the first sixth of the path, which six steps integrate badly (residual ~50% of |EV|)."""
    sam = replace(no_tax, esubm=np.full(len(no_tax.sectors), 4.0))
    model = CGEModel(calibrate(sam))
    bench = ShockSet.benchmark(sam)
    base = model.solve(bench)
    tau = bench.tau.copy()
    tau[:, 0, 1] *= 11.0
    tau[:, 1, 0] *= 11.0
    scen = model.solve(replace(bench, tau=tau), x0=base)
    return model, base, scen, report.welfare(model, base, scen, {})


def test_a_large_residual_refines_the_path_until_it_is_small(no_tax) -> None:
    model, base, scen, welfare = _large_iceberg(no_tax)
    coarse = add_to_welfare(welfare, decompose(model, base, scen))
    assert (coarse.residual.abs() > RESIDUAL_SHARE * coarse.ev.abs()).any()
    refined = decompose_welfare(model, base, scen, welfare)
    assert refined.steps > DEFAULT_STEPS and refined.unreliable == []
    table = refined.welfare
    assert (table.residual.abs() <= RESIDUAL_SHARE * table.ev.abs()).all()
    assert table[RELIABLE].all()
    np.testing.assert_array_equal(table.ev, welfare.ev)  # EV does not depend on the path
    # the refined path reuses the coarse points: it equals a path solved afresh
    fresh = add_to_welfare(welfare, decompose(model, base, scen, steps=refined.steps))
    np.testing.assert_allclose(table[PARTS], fresh[PARTS], rtol=1e-6, atol=1e-9)


def test_a_residual_still_large_at_the_finest_path_is_flagged(no_tax) -> None:
    model, base, scen, welfare = _large_iceberg(no_tax)
    with pytest.warns(DecompositionWarning, match="welfare decomposition unreliable in") as w:
        flagged = decompose_welfare(model, base, scen, welfare, max_steps=DEFAULT_STEPS)
    assert "marked decomposition_reliable = false in welfare.csv" in str(w[0].message)
    table = flagged.welfare.set_index("region")
    above = table.residual.abs() > RESIDUAL_SHARE * table.ev.abs()
    assert above.any() and (table[RELIABLE] == ~above).all()
    assert "WORLD" in flagged.unreliable
    np.testing.assert_array_equal(table.ev, welfare.set_index("region").ev)


def test_unreliable_rows_reach_welfare_csv_the_manifest_and_the_report(
    no_tax, tmp_path, capsys, monkeypatch
) -> None:
    from fragcge.calibration.dataset import write_dataset
    from fragcge.cli import main
    from fragcge.model import decomposition

    monkeypatch.setattr(decomposition, "MAX_STEPS", 12)  # ×11 iceberg costs need 48
    write_dataset(replace(no_tax, esubm=np.full(len(no_tax.sectors), 4.0)), tmp_path / "toy")
    (tmp_path / "huge.toml").write_text(
        '[scenario]\nname = "huge"\ndata = "./toy"\n\n'
        '[[shock]]\ninstrument = "ntb"\nbetween = ["R1", "R2"]\nrate = 10\n'
    )
    out = tmp_path / "out"
    with pytest.warns(DecompositionWarning, match="welfare decomposition unreliable in"):
        assert main(["solve", str(tmp_path / "huge.toml"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "refining   the welfare decomposition on 12 steps: its residual is above 1%" in err
    welfare = pd.read_csv(out / "welfare.csv")
    flagged = list(welfare.region[~welfare[RELIABLE]])
    assert "WORLD" in flagged
    big = welfare.residual.abs() > RESIDUAL_SHARE * welfare.ev.abs()
    assert (welfare[RELIABLE] == ~big).all()
    record = json.loads((out / "manifest.json").read_text())["welfare_decomposition"]
    assert record["unreliable_rows"] == flagged and record["steps"] == 12
    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    table = (tmp_path / "report" / "tables" / "welfare_decomposition_huge.md").read_text()
    note = "Unreliable decomposition (residual above 1% of |EV| on the finest path tried)"
    assert f"{note}: {', '.join(flagged)}." in table
    assert "| decomposition_reliable" not in table


def test_a_path_that_cannot_be_solved_leaves_the_components_empty_and_flagged(
    no_tax, monkeypatch
) -> None:
    from fragcge.errors import SolveError
    from fragcge.model import decomposition

    model, base, scen, welfare = _large_iceberg(no_tax)

    def fails(*args, **kwargs):
        raise SolveError("No equilibrium was found. (a path point, in this test)")

    monkeypatch.setattr(decomposition, "solve", fails)
    with pytest.warns(DecompositionWarning, match="welfare decomposition not computed"):
        decomposed = decompose_welfare(model, base, scen, welfare)
    table = decomposed.welfare
    assert table[PARTS].isna().all().all() and not table[RELIABLE].any()
    np.testing.assert_array_equal(table.ev, welfare.ev)
