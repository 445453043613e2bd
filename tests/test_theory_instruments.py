"""Export taxes, endowments and productivity, from scenario file to solution, against theory.

Each shock is written in the scenario language, resolved against a synthetic dataset and
solved. The expected values are computed here from the solution and the data (MODEL.md's
formulas), or by the independent implementation in tests/reference_model.py; none comes
from the model's own equations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import reference_model as ref

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.report import dense, route_flows
from fragcge.scenarios import ResolvedScenario, load_scenario, resolve

HEAD = '[scenario]\nname = "t"\ndata = "synthetic"\n'
TOL = 1e-8


def solve_scenario(
    folder: Path, sam: GlobalSAM, shocks: str, extra: dict[str, np.ndarray] | None = None
) -> tuple[CGEModel, Equilibrium, ResolvedScenario]:
    """Write a scenario with ``shocks`` ([[shock]] tables), resolve it on ``sam`` and solve."""
    path = folder / "scenario.toml"
    path.write_text(HEAD + shocks, encoding="utf-8")
    resolved = resolve(load_scenario(path), sam)
    quota = np.isfinite(resolved.shocks.quota)
    model = CGEModel(calibrate(resolved.sam), quota=quota)
    eq = model.solve(resolved.shocks, extra=extra)
    assert eq.result.ok, eq.result.message
    assert abs(eq.walras) < TOL, f"Walras' law: dropped market residual {eq.walras:.3e}"
    return model, eq, resolved


def values(model: CGEModel, eq: Equilibrium) -> dict[str, np.ndarray]:
    """MODEL.md's variables, dense; prices 1 where a variable does not exist."""
    out = {k: dense(model.system, eq.x, k, 1.0) for k in ref.VARIABLES}
    out["RA"] = dense(model.system, eq.x, "RA")
    return out


def assert_reference_holds(sam: GlobalSAM, resolved: ResolvedScenario, point: dict) -> None:
    """Every equation of the independent implementation holds at the model's solution."""
    sizes = ref.max_abs(ref.mdl_residuals(sam, resolved.shocks, point))
    bad = {k: f"{v:.3e}" for k, v in sizes.items() if v >= TOL}
    assert not bad, f"reference residuals above {TOL}: {bad}"


# Export tax


def test_export_tax_revenue_goes_to_the_exporter(tmp_path: Path) -> None:
    """With export taxes the only tax, RA − factor income − vb is the export-tax revenue
    Σ tx·py·τ·vxmd·V of the region's exports, computed from the solution's flows."""
    sam = synthetic_sam(3, 3, taxes=("tx0",), seed=5)
    shocks = (
        '[[shock]]\ninstrument = "export_tax"\nfrom = "R1"\nrate = 0.10\n'
        '[[shock]]\ninstrument = "export_tax"\nfrom = "R2"\nto = "R3"\nsectors = "S1"\n'
        'mode = "set"\nrate = 0.0\n'
        '[[shock]]\ninstrument = "ntb"\nfrom = "R3"\nrate = 0.2\n'
    )
    model, eq, resolved = solve_scenario(tmp_path, sam, shocks)
    expected_tx = sam.tx0.copy()
    expected_tx[:, 0, 1:] += 0.10
    expected_tx[0, 1, 2] = 0.0
    np.testing.assert_array_equal(resolved.shocks.tx, expected_tx)

    point = values(model, eq)
    flows = route_flows(model, eq)
    shipped = flows["shipped"]  # τ·V
    np.testing.assert_allclose(shipped, resolved.shocks.tau * flows["V"], rtol=1e-14)
    py = point["py"]
    revenue = (expected_tx * py[:, :, None] * sam.vxmd * shipped).sum(axis=(0, 2))
    acc = ref.benchmark_accounts(sam)
    mobile = acc["mobile"]
    factor_income = (point["pf"][mobile] * acc["evom"][mobile]).sum(axis=0)
    factor_income += (point["ps"][~mobile] * acc["evom_s"][~mobile]).sum(axis=(0, 1))
    gap = point["RA"] - (factor_income + revenue + resolved.shocks.vb)
    assert np.abs(gap / acc["ra0"]).max() < TOL, gap
    assert revenue[0] > 1.5 * (sam.tx0[:, 0, :] * sam.vxmd[:, 0, :]).sum(), "R1's revenue rose"
    assert_reference_holds(sam, resolved, point)


def test_export_tax_with_every_tax_passes_the_reference(tmp_path: Path) -> None:
    """The income identity with every revenue: tests/reference_model.py's inc_RA and the rest."""
    sam = synthetic_sam(4, 3, seed=6)
    shocks = '[[shock]]\ninstrument = "export_tax"\nfrom = ["R2", "R4"]\nrate = 0.15\n'
    model, eq, resolved = solve_scenario(tmp_path, sam, shocks)
    point = values(model, eq)
    assert abs(point["py"][:, 1] - 1).max() > 1e-3, "the export tax should move R2's prices"
    assert_reference_holds(sam, resolved, point)


# Endowment


@pytest.mark.parametrize("agents", [("hh",), ("hh", "gov", "inv")], ids=["hh", "hh-gov-inv"])
def test_uniform_endowment_growth_scales_every_quantity(tmp_path: Path, agents) -> None:
    """+10% of every factor everywhere, vb = 0: CRS and homothetic demand scale every
    quantity by 1.1 and leave prices at 1 (the numeraire weights are benchmark endowments).
    G and I are fixed in real terms, so where they exist the test scales them too."""
    sam = synthetic_sam(3, 3, balanced=True, final_agents=agents, seed=2)
    grow = (
        {k: np.full(len(sam.regions), 1.1) for k in ("Gbar", "Ibar")} if len(agents) > 1 else None
    )
    shocks = '[[shock]]\ninstrument = "endowment"\nfactor = "all"\nrate = 0.1\n'
    model, eq, resolved = solve_scenario(tmp_path, sam, shocks, extra=grow)
    np.testing.assert_array_equal(resolved.shocks.endow, np.full_like(resolved.shocks.endow, 1.1))
    np.testing.assert_array_equal(
        resolved.shocks.endow_s, np.full_like(resolved.shocks.endow_s, 1.1)
    )
    point = values(model, eq)
    np.testing.assert_allclose(point["C"], 1.1, rtol=0, atol=TOL)
    for name in ("Y", "M", "YT"):
        np.testing.assert_allclose(point[name], 1.1, rtol=0, atol=TOL, err_msg=name)
    for name in ("py", "pm", "pf", "ps", "pc", "pg", "pinv", "pt"):
        np.testing.assert_allclose(point[name], 1.0, rtol=0, atol=TOL, err_msg=name)
    np.testing.assert_allclose(point["RA"], 1.1 * ref.benchmark_accounts(sam)["ra0"], rtol=TOL)


def test_endowment_of_named_factors_in_one_region(tmp_path: Path) -> None:
    """A specific factor's multiplier reaches every sector using it; the reference holds."""
    sam = synthetic_sam(3, 3, seed=3)
    shocks = (
        '[[shock]]\ninstrument = "endowment"\nfactor = ["res", "lab"]\nregions = "R2"\n'
        "rate = -0.2\n"
    )
    model, eq, resolved = solve_scenario(tmp_path, sam, shocks)
    f = {code: k for k, code in enumerate(sam.factors)}
    endow, endow_s = np.ones((3, 3)), np.ones((3, 3, 3))
    endow[[f["res"], f["lab"]], 1] = 0.8
    endow_s[[f["res"], f["lab"]], :, 1] = 0.8
    np.testing.assert_array_equal(resolved.shocks.endow, endow)
    np.testing.assert_array_equal(resolved.shocks.endow_s, endow_s)
    point = values(model, eq)
    assert point["C"][1] < 0.99, "R2 loses a fifth of two factors"
    assert_reference_holds(sam, resolved, point)


# Productivity


def uniform_productivity_world(intermediates: bool) -> GlobalSAM:
    """One mobile factor, households the only final buyer, vb = 0; every tax and margins."""
    return synthetic_sam(
        3,
        3,
        balanced=True,
        final_agents=("hh",),
        factors=("lab",),
        specific=(),
        intermediates=intermediates,
    )


def test_uniform_productivity_is_uniform_endowment_growth(tmp_path: Path) -> None:
    """Without intermediate inputs +10% A everywhere buys what +10% of the one factor buys
    (C × 1.1), with activity levels unchanged and goods prices down by 1/1.1."""
    sam = uniform_productivity_world(intermediates=False)
    shocks = '[[shock]]\ninstrument = "productivity"\nrate = 0.1\n'
    model, eq, resolved = solve_scenario(tmp_path, sam, shocks)
    np.testing.assert_array_equal(resolved.shocks.A, np.full((3, 3), 1.1))
    point = values(model, eq)
    np.testing.assert_allclose(point["C"], 1.1, rtol=0, atol=TOL)
    np.testing.assert_allclose(point["Y"], 1.0, rtol=0, atol=TOL)
    np.testing.assert_allclose(1.1 * point["py"], 1.0, rtol=0, atol=TOL)
    assert_reference_holds(sam, resolved, point)

    endowment = '[[shock]]\ninstrument = "endowment"\nfactor = "lab"\nrate = 0.1\n'
    model_e, eq_e, _ = solve_scenario(tmp_path, sam, endowment)
    np.testing.assert_allclose(point["C"], values(model_e, eq_e)["C"], rtol=0, atol=TOL)


def test_gross_output_productivity_is_worth_more_with_intermediates(tmp_path: Path) -> None:
    """A is on gross output: with intermediate inputs every good's cost falls with the
    others' prices too (Hulten: Domar weights sum above 1), so C rises by more than 10%."""
    sam = uniform_productivity_world(intermediates=True)
    shocks = '[[shock]]\ninstrument = "productivity"\nrate = 0.1\n'
    model, eq, resolved = solve_scenario(tmp_path, sam, shocks)
    point = values(model, eq)
    assert point["C"].min() > 1.11
    assert_reference_holds(sam, resolved, point)


def test_productivity_in_one_sector_passes_the_reference(tmp_path: Path) -> None:
    """+20% A in one sector of one region, on a dataset with every tax, margins, a specific
    factor and transfers: every equation of the independent implementation holds."""
    sam = synthetic_sam(3, 3, seed=4)
    shocks = '[[shock]]\ninstrument = "productivity"\nsectors = "S1"\nregions = "R1"\nrate = 0.2\n'
    model, eq, resolved = solve_scenario(tmp_path, sam, shocks)
    expected = np.ones((3, 3))
    expected[0, 0] = 1.2
    np.testing.assert_array_equal(resolved.shocks.A, expected)
    point = values(model, eq)
    assert point["C"][0] > 1.001, "R1 gains from its own productivity"
    assert point["py"][0, 0] < 0.99, "the good becomes cheaper"
    assert_reference_holds(sam, resolved, point)


def _no_tax_sam(esubm: float = 6.0) -> GlobalSAM:
    from dataclasses import replace

    sam = synthetic_sam(4, 2, taxes=False, margins=False, seed=24)
    return replace(sam, esubm=np.full(len(sam.sectors), esubm))


def test_ntb_rent_is_a_tariff_whose_revenue_goes_to_the_importer(tmp_path: Path) -> None:
    """With no benchmark tariff, a rent wedge and a tariff at the same rate are one economy."""
    sam = _no_tax_sam()
    route = 'from = "R1"\nto = "R2"\nrate = 0.25\n'
    _, rent, _ = solve_scenario(tmp_path, sam, f'[[shock]]\ninstrument = "ntb_rent"\n{route}')
    _, tariff, _ = solve_scenario(tmp_path, sam, f'[[shock]]\ninstrument = "tariff"\n{route}')
    assert np.max(np.abs(rent.x / tariff.x - 1)) < 1e-9
    assert np.max(np.abs(rent.x - 1)) > 1e-3


def test_ntb_wastes_what_ntb_rent_keeps(tmp_path: Path) -> None:
    """Same price wedge, iceberg versus rent: the world loses more when the wedge is waste."""
    sam = _no_tax_sam()
    shock = 'between = ["R1", "R2"]\nrate = 0.3\n'
    model, waste, _ = solve_scenario(tmp_path, sam, f'[[shock]]\ninstrument = "ntb"\n{shock}')
    _, rent, _ = solve_scenario(tmp_path, sam, f'[[shock]]\ninstrument = "ntb_rent"\n{shock}')
    c = model.cal

    def world_real_consumption(eq: Equilibrium) -> float:
        return float((c.vfd[0] * dense(model.system, eq.x, "C")).sum())

    assert world_real_consumption(rent) > world_real_consumption(waste) + 1e-6


def test_export_ban_closes_the_route_as_the_limit_of_infinite_trade_costs(tmp_path) -> None:
    """A ban equals an iceberg cost so high that the route's CES term is gone (esubm = 8)."""
    sam = _no_tax_sam(esubm=8.0)
    model, ban, _ = solve_scenario(
        tmp_path, sam, '[[shock]]\ninstrument = "export_ban"\nfrom = "R1"\nto = "R2"\n'
    )
    flows = route_flows(model, ban)
    r1, r2 = sam.regions.index("R1"), sam.regions.index("R2")
    assert np.all(flows["shipped"][:, r1, r2] == 0) and np.all(flows["V"][:, r1, r2] == 0)
    assert np.any(flows["shipped"][:, r1, 2] > 0)
    _, wall, _ = solve_scenario(
        tmp_path, sam, '[[shock]]\ninstrument = "ntb"\nfrom = "R1"\nto = "R2"\nrate = 1e3\n'
    )
    C = dense(model.system, ban.x, "C")
    assert np.max(np.abs(C / dense(model.system, wall.x, "C") - 1)) < 1e-9
    assert np.max(np.abs(C - 1)) > 1e-4


def test_export_ban_needs_esubm_above_one(tmp_path: Path) -> None:
    from fragcge.errors import ScenarioError

    sam = _no_tax_sam(esubm=0.8)
    with pytest.raises(ScenarioError, match="export_ban needs esubm > 1"):
        solve_scenario(
            tmp_path, sam, '[[shock]]\ninstrument = "export_ban"\nfrom = "R1"\nto = "R2"\n'
        )


def test_export_ban_must_leave_a_source_open(tmp_path: Path) -> None:
    from fragcge.errors import ScenarioError

    sam = _no_tax_sam()
    with pytest.raises(ScenarioError, match="closes every source"):
        solve_scenario(tmp_path, sam, '[[shock]]\ninstrument = "export_ban"\nto = "R2"\n')


QUOTA = '[[shock]]\ninstrument = "export_quota"\nfrom = "R1"\nto = "R2"\nsectors = ["S1"]\n'


def test_binding_export_quota_is_an_export_tax_at_its_rent_rate(tmp_path: Path) -> None:
    """The flow equals the cap, the rent rate is positive, and an export tax at that rate
    (revenue to the exporter, as the rent) gives the same economy."""
    sam = _no_tax_sam()
    model, eq, _ = solve_scenario(tmp_path, sam, QUOTA + "value = 0.7\n")
    i, r, s = sam.sectors.index("S1"), sam.regions.index("R1"), sam.regions.index("R2")
    V = route_flows(model, eq)["V"]
    assert abs(V[i, r, s] - 0.7) < 1e-8
    rho = dense(model.system, eq.x, "rho")[i, r, s]
    assert rho > 1e-3
    text = '[[shock]]\ninstrument = "export_tax"\nfrom = "R1"\nto = "R2"\nsectors = ["S1"]\n'
    text += f'mode = "set"\nrate = {float(rho)!r}\n'
    tax_model, tax, _ = solve_scenario(tmp_path, sam, text)
    for name in ("py", "pm", "C", "RA", "Y", "M"):
        a, b = dense(model.system, eq.x, name), dense(tax_model.system, tax.x, name)
        assert np.max(np.abs(a - b)) < 1e-7 * np.max(np.abs(b)), name


def test_a_cap_that_does_not_bind_changes_nothing(tmp_path: Path) -> None:
    sam = _no_tax_sam()
    model, eq, _ = solve_scenario(tmp_path, sam, QUOTA + "value = 3.0\n")
    i, r, s = sam.sectors.index("S1"), sam.regions.index("R1"), sam.regions.index("R2")
    assert 0 <= dense(model.system, eq.x, "rho")[i, r, s] < 1e-8
    free = np.delete(eq.x, model.system.var["rho"].offset)
    assert (
        np.max(np.abs(free - np.delete(model.benchmark(), model.system.var["rho"].offset))) < 1e-8
    )


def test_a_zero_quota_is_a_ban(tmp_path: Path) -> None:
    sam = _no_tax_sam()
    m1, quota, _ = solve_scenario(tmp_path, sam, QUOTA + "value = 0.0\n")
    ban = '[[shock]]\ninstrument = "export_ban"\nfrom = "R1"\nto = "R2"\nsectors = ["S1"]\n'
    m2, banned, _ = solve_scenario(tmp_path, sam, ban)
    assert np.max(np.abs(dense(m1.system, quota.x, "C") - dense(m2.system, banned.x, "C"))) < 1e-10
