"""Elastic factor supply, income-share trade imbalances and real income (issue 11).

The reference numbers come from outside fragcge: an Alvarez–Lucas fixed point of the
one-sector structural-gravity model with supply elasticity ψ and the Dekle–Eaton–Kortum
imbalance rule, written here from the equations alone (numpy); and identities the
equilibrium must satisfy (market clearing read off the demand side, Σ B = 0, the expenditure
rule, the decomposition adding up to EV).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from reference_data import armington_sam

from fragcge.api import ModelCache, solve_loaded
from fragcge.calibration.balance_dataset import balance_folder
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.calibration.validate import validate
from fragcge.cli import main
from fragcge.errors import DatasetError, FragcgeError, ScenarioError
from fragcge.model import report
from fragcge.model.cge import CGEModel
from fragcge.model.checks import check_shock, homogeneity, replication, walras
from fragcge.model.closures import CLOSURES, IMBALANCE_RULES
from fragcge.model.report import dense
from fragcge.model.shocks import ShockSet
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import resolve

SHIPPED = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "calibration" / "datasets" / "wiod2011_10x8"


def _with_eta(sam, eta):
    """sam with every factor's supply elasticity eta (a number or an [f, r] array)."""
    return dataclasses.replace(sam, eta=np.broadcast_to(eta, sam.eta.shape).astype(float))


# --- the one-sector structural-gravity world, solved independently -------------------------


def _imbalanced_world(n: int, seed: int) -> np.ndarray:
    """X[exporter, importer] of n regions whose expenditure/income ratios range from about
    0.6 to 1.7: random flows, exports of each region scaled by its own factor."""
    rng = np.random.default_rng(seed)
    trade = rng.uniform(0.5, 4.0, (n, n)) * rng.uniform(0.5, 2.0, n)[None, :]
    trade *= np.geomspace(0.25, 4.0, n)[rng.permutation(n)][:, None]
    trade[np.diag_indices(n)] = rng.uniform(20.0, 80.0, n)
    return trade


def _alvarez_lucas(
    trade: np.ndarray, tau: np.ndarray, theta: float, psi: float, rule: str
) -> tuple[np.ndarray, np.ndarray]:
    """Hat-algebra equilibrium of the one-sector gravity model: p̂ and P̂ by region.

    Y_i = p_i·L_i·(p_i/P_i)^ψ (value of output, L_i its benchmark quantity), P_j the CES
    price index P_j^(−θ) = Σ_i π0_ij (τ_ij p_i)^(−θ), expenditure E_j = Ξ·κ_j·Y_j with
    κ_j = E0_j/Y0_j and Ξ = ΣY/ΣκY ("income-share"), or E_j = Y_j + D_j with the deficit D
    fixed in the numeraire ("fixed"); market clearing Y_i = Σ_j π_ij E_j. Prices are
    normalised as fragcge's numeraire, Σ_i Y0_i·p_i = Σ_i Y0_i. Damped tâtonnement on
    prices (Alvarez and Lucas 2007): p_i ← p_i·(demand_i/Y_i)^(1/(1+θ+ψ)).
    """
    y0, e0 = trade.sum(axis=1), trade.sum(axis=0)
    share = trade / e0[None, :]
    kappa, deficit = e0 / y0, e0 - y0
    p = np.ones(len(y0))
    for _ in range(100_000):
        cost = (tau * p[:, None]) ** (-theta) * share
        price_index = cost.sum(axis=0) ** (-1.0 / theta)
        income = y0 * p ** (1 + psi) * price_index ** (-psi)
        if rule == "income-share":
            spending = income.sum() / (kappa * income).sum() * kappa * income
        else:
            spending = income + deficit
        demand = (cost / cost.sum(axis=0) * spending).sum(axis=1)
        gap = demand / income
        if np.max(np.abs(gap - 1.0)) < 1e-15:
            return p, price_index
        p = p * gap ** (1.0 / (1.0 + theta + psi))
        p *= y0.sum() / (y0 @ p)
    raise AssertionError("the Alvarez-Lucas iteration did not converge")


@pytest.mark.parametrize("rule", ["income-share", "fixed"])
def test_one_sector_gravity_with_supply_elasticity_matches_alvarez_lucas(rule: str) -> None:
    """20 regions with large imbalances, θ = 3.8, ψ = 0.7, bloc-level trade costs: fragcge's
    real income change is (p̂/P̂)^(1+ψ) of the independent fixed point to 1e-8."""
    n, theta, psi = 20, 3.8, 0.7
    trade = _imbalanced_world(n, seed=151)
    kappa = trade.sum(axis=0) / trade.sum(axis=1)
    assert kappa.min() < 0.7 and kappa.max() > 1.5  # large imbalances
    sam = _with_eta(armington_sam(trade, theta + 1.0, name="al20"), psi)
    validate(sam)
    bloc_a, bloc_b = np.arange(n) < 8, (np.arange(n) >= 8) & (np.arange(n) < 16)
    tau = np.ones((n, n))
    tau[np.ix_(bloc_a, bloc_b)] = tau[np.ix_(bloc_b, bloc_a)] = 1.4
    tau[np.ix_(bloc_a, bloc_a)] = 0.9
    np.fill_diagonal(tau, 1.0)

    model = CGEModel(calibrate(sam), imbalances=rule)
    base = model.solve(ShockSet.benchmark(sam))
    assert base.result.iterations == 0
    scen = model.solve(dataclasses.replace(ShockSet.benchmark(sam), tau=tau[None].copy()))
    assert scen.result.status == 0 and abs(scen.walras) < 1e-8

    p, price_index = _alvarez_lucas(trade, tau, theta, psi, rule)
    expected = (p / price_index) ** (1.0 + psi)
    assert np.abs(expected - 1.0).max() > 0.01  # the shock does something
    table = report.welfare(model, base, scen, {})
    real = 1.0 + table.real_income_pct.to_numpy()[:n] / 100.0
    np.testing.assert_allclose(real, expected, rtol=0, atol=1e-8)
    # and the prices themselves, under the same numeraire
    np.testing.assert_allclose(dense(model.system, scen.x, "pf")[0], p, rtol=0, atol=1e-8)
    np.testing.assert_allclose(dense(model.system, scen.x, "pc"), price_index, rtol=0, atol=1e-8)


def test_income_share_keeps_expenditure_a_fixed_multiple_of_income() -> None:
    """At a shocked solution: Σ B = 0, and E/Y = Ξ·E0/Y0 with the same Ξ in every region."""
    trade = _imbalanced_world(6, seed=3)
    sam = _with_eta(armington_sam(trade, 4.0), 0.5)
    model = CGEModel(calibrate(sam), imbalances="income-share")
    tau = np.where(np.eye(6, dtype=bool), 1.0, 1.25)
    eq = model.solve(dataclasses.replace(ShockSet.benchmark(sam), tau=tau[None].copy()))
    spending = dense(model.system, eq.x, "RA")
    transfers = report.transfers(model, eq)
    assert abs(transfers.sum()) < 1e-9 * spending.sum()
    ratio = spending / (spending - transfers) / (trade.sum(axis=0) / trade.sum(axis=1))
    assert np.ptp(ratio) < 1e-10
    assert abs(ratio[0] - 1.0) > 1e-6  # Ξ moved: world income shifted between regions


# --- theory checks under each rule --------------------------------------------------------


def _rich_sam():
    """Synthetic data with taxes, margins, a sector-specific factor and every elasticity
    nest, its factors' supply elasticities between 0 and 2 by region."""
    sam = synthetic_sam(4, 3, seed=11)
    n = len(sam.sectors)
    sam = dataclasses.replace(sam, esubt=np.full(n, 0.4), esubc=np.full(n, 0.6))
    eta = np.random.default_rng(5).uniform(0.0, 2.0, sam.eta.shape)
    eta[0, 0] = 0.0  # a fixed supply beside elastic ones
    return _with_eta(sam, eta)


CASES = [
    (closure, rule, data)
    for rule in sorted(IMBALANCE_RULES)
    for closure in sorted(CLOSURES)
    for data in ("synthetic", "wiod2011_10x8")
    if not (closure == "real-wage" and data == "wiod2011_10x8")
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(c))
def model(request) -> CGEModel:
    closure, rule, data = request.param
    sam = _rich_sam() if data == "synthetic" else _with_eta(load_dataset(data), 0.8)
    return CGEModel(calibrate(sam), closure=closure, imbalances=rule)


def test_every_rule_replicates_the_benchmark_at_any_eta(model) -> None:
    check = replication(model)
    assert check.passed, check.detail


def test_every_rule_is_homogeneous(model) -> None:
    check = homogeneity(model, check_shock(model))
    assert check.passed, check.detail


def test_every_rule_obeys_walras_law(model) -> None:
    check = walras(model, check_shock(model))
    assert check.passed, check.detail


# --- eta = 0 is today's model --------------------------------------------------------------


def test_eta_zero_and_fixed_rule_add_no_term_and_no_variable() -> None:
    """With every eta 0 and fixed imbalances the system is the one without them: no supply
    term, no transfer or Ξ variable (so every reference test of the model is unchanged)."""
    cal = calibrate(load_dataset("wiod2011_10x8"))
    plain = CGEModel(cal)
    kinds = {g.kind for g in plain.system.groups}
    assert not kinds & {"supply", "supply_val"}
    assert plain.system.var["B"].size == 0 and plain.system.var["xi"].size == 0
    elastic = CGEModel(calibrate(_with_eta(cal.sam, 0.5)), imbalances="income-share")
    assert {"supply", "supply_val"} <= {g.kind for g in elastic.system.groups}
    assert elastic.system.n == plain.system.n + len(cal.sam.regions) + 1


def test_eta_is_a_parameter_where_it_is_positive() -> None:
    """A model built at eta = 0.5 and solved at eta = 1.2 gives the equilibrium of a model
    built at 1.2 (no rebuild); eta = 0 where the model has a positive one needs another."""
    sam = synthetic_sam(3, 2, seed=4)
    shocks = dataclasses.replace(
        ShockSet.benchmark(sam), tau=np.where(sam.vxmd > 0, 1.2, 1.0), vb=np.zeros(3)
    )
    built = CGEModel(calibrate(_with_eta(sam, 0.5)), imbalances="income-share")
    other = _with_eta(sam, 1.2)
    reused = built.solve(shocks, elasticities=built.elasticities_of(other))
    fresh = CGEModel(calibrate(other), imbalances="income-share").solve(shocks)
    np.testing.assert_allclose(reused.x, fresh.x, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match="need other equations"):
        built.elasticities_of(_with_eta(sam, 0.0))


def test_positive_eta_raises_a_gaining_regions_factor_supply() -> None:
    """Friend-shoring on the default data with eta = 1: where the real factor price rises
    (non-aligned regions gain) the factor employed, read off firms' demands, rises too, by
    (pf/pc)^eta, the supply ``report.factor_supplies`` evaluates; with eta = 0 it does not
    move."""
    sam = load_dataset("wiod2011_10x8")
    west = [sam.regions.index(r) for r in ("USA", "EUR", "OAD", "JPN", "KOR")]
    east = [sam.regions.index(r) for r in ("CHN", "RUS")]
    tau = np.ones_like(sam.vxmd)
    tau[:, np.ix_(west, east)[0], np.ix_(west, east)[1]] = 1.3
    tau[:, np.ix_(east, west)[0], np.ix_(east, west)[1]] = 1.3
    supplies = {}
    for eta in (0.0, 1.0):
        model = CGEModel(calibrate(_with_eta(sam, eta)))
        eq = model.solve(dataclasses.replace(ShockSet.benchmark(sam), tau=tau))
        employed = report.factor_demands(model, eq).sum(axis=1)[0] / model.cal.evom[0]
        real_price = dense(model.system, eq.x, "pf")[0] / dense(model.system, eq.x, "pc")
        supplies[eta] = employed, real_price
        # the supply terms the reports and the decomposition evaluate clear the market
        np.testing.assert_allclose(report.factor_supplies(model, eq)[0][0], employed, rtol=1e-9)
    np.testing.assert_allclose(supplies[0.0][0], 1.0, rtol=0, atol=1e-9)
    employed, real_price = supplies[1.0]
    np.testing.assert_allclose(employed, real_price, rtol=1e-9)
    gaining = sam.regions.index("ROW")
    assert real_price[gaining] > 1.0 and employed[gaining] > 1.001
    assert employed[sam.regions.index("CHN")] < 0.99


# --- scenarios: the multi-sector case, balanced trade, the manifest ------------------------


def _scenario(tmp_path: Path, text: str, name: str = "s") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


FRIENDSHORING = """
[blocs]
west = ["USA", "EUR", "OAD", "JPN", "KOR"]
east = ["CHN", "RUS"]

[[shock]]
instrument = "ntb"
between = ["west", "east"]
rate = 0.30
"""


def test_multi_sector_income_share_with_elastic_supply_decomposes(tmp_path: Path) -> None:
    """Default data, eta = 0.5 (CHN 1.0), income-share imbalances, friend-shoring from the
    imbalanced benchmark: it solves, the decomposition misses EV by < 1% in every row, the
    supply response shows up in ``endowment`` (zero without it), the transfers in
    ``transfers``."""
    header = '[scenario]\ndata = "wiod2011_10x8"\nimbalances = "income-share"\n'
    supply = "[factor_supply]\nva = 0.5\n[factor_supply.CHN]\nva = 1.0\n"
    cache = ModelCache()
    runs = {}
    for name, text in (("elastic", header + supply), ("fixed-supply", header)):
        path = _scenario(tmp_path, text + FRIENDSHORING, name)
        runs[name] = solve_loaded(load_scenario(path), cache)
    welfare = runs["elastic"].tables["welfare"]
    assert welfare.decomposition_reliable.all()
    assert (welfare.residual.abs() < 0.01 * welfare.ev.abs()).all()
    chn = welfare.set_index("region").loc["CHN"]
    assert abs(chn.endowment) > 0.1 * abs(chn.ev)
    assert (runs["fixed-supply"].tables["welfare"].endowment == 0).all()
    assert (welfare.transfers != 0).any()
    eta = runs["elastic"].model.system.param("eta", runs["elastic"].scen.theta)[0]
    assert eta[runs["elastic"].model.cal.sam.regions.index("CHN")] == 1.0 and eta[0] == 0.5


def test_balanced_trade_is_the_same_under_both_rules(tmp_path: Path, shipped_run) -> None:
    """With every transfer zero (balanced-trade) κ = 1 and Ξ = 1: the income-share rule
    gives the fixed rule's equilibrium, so the shipped balanced-trade result is unchanged."""
    text = (SHIPPED / "balanced-trade.toml").read_text(encoding="utf-8")
    text = text.replace("[scenario]\n", '[scenario]\nimbalances = "income-share"\n', 1)
    run = solve_loaded(load_scenario(_scenario(tmp_path, text)), decompose=False)
    shipped = shipped_run("balanced-trade").tables["welfare"]
    np.testing.assert_allclose(run.tables["welfare"].ev, shipped.ev, rtol=1e-7, atol=1e-3)
    transfers = report.transfers(run.model, run.scen)
    assert np.abs(transfers).max() < 1e-6 * dense(run.model.system, run.scen.x, "RA").max()
    assert abs(run.scen.x[run.model.system.var["xi"].pos[0]] - 1.0) < 1e-10


def test_real_income_equals_ev_with_one_final_agent_and_balanced_trade() -> None:
    """docs/model.md: with households the only final demand and no transfers, real income
    net of transfers is real expenditure, so real_income_pct = ev_pct; with a deficit the
    two differ."""
    n = 5
    trade = _imbalanced_world(n, seed=8)
    balanced = trade + trade.T
    tau = np.where(np.eye(n, dtype=bool), 1.0, 1.2)
    gaps = {}
    for name, flows in (("balanced", balanced), ("imbalanced", trade)):
        sam = _with_eta(armington_sam(flows, 3.0), 0.4)
        model = CGEModel(calibrate(sam))
        base = model.solve(ShockSet.benchmark(sam))
        scen = model.solve(dataclasses.replace(ShockSet.benchmark(sam), tau=tau[None].copy()))
        table = report.welfare(model, base, scen, {})
        gaps[name] = np.abs(table.real_income_pct - table.ev_pct).max()
    assert gaps["balanced"] < 1e-9
    assert gaps["imbalanced"] > 1e-3


def test_manifest_records_the_rule_and_eta(tmp_path: Path) -> None:
    text = '[scenario]\ndata = "wiod2011_10x8"\nimbalances = "income-share"\n'
    text += "[factor_supply.USA]\nva = 0.25\n" + FRIENDSHORING.replace("0.30", "0.05")
    out = tmp_path / "out"
    assert main(["solve", str(_scenario(tmp_path, text)), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["imbalances"]["rule"] == "income-share"
    assert manifest["factor_supply"]["eta"]["va"]["USA"] == 0.25
    assert manifest["factor_supply"]["eta"]["va"]["CHN"] == 0.0
    header = (out / "welfare.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("region,bloc,ev,ev_pct,real_income_pct,")


# --- [factor_supply] in dataset.toml and in a scenario ---------------------------------------


def _copy_default(tmp_path: Path, extra_toml: str = "") -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for f in DEFAULT_DATA.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    with open(folder / "dataset.toml", "a", encoding="utf-8") as toml:
        toml.write(extra_toml)
    return folder


def test_dataset_factor_supply_per_region_and_round_trip(tmp_path: Path) -> None:
    folder = _copy_default(tmp_path, "\n[factor_supply]\nva = 0.3\n[factor_supply.IND]\nva = 2\n")
    sam = load_dataset(folder)
    expected = np.full((1, 10), 0.3)
    expected[0, sam.regions.index("IND")] = 2.0
    np.testing.assert_array_equal(sam.eta, expected)
    write_dataset(sam, tmp_path / "again")
    np.testing.assert_array_equal(load_dataset(tmp_path / "again").eta, expected)
    balanced = balance_folder(folder, tmp_path / "balanced", "gras").sam
    np.testing.assert_array_equal(balanced.eta, expected)
    np.testing.assert_array_equal(load_dataset(tmp_path / "balanced").eta, expected)


def test_scenario_factor_supply_overrides_the_datasets(tmp_path: Path) -> None:
    folder = _copy_default(tmp_path, "\n[factor_supply]\nva = 0.3\n[factor_supply.IND]\nva = 2\n")
    text = f'[scenario]\ndata = "{folder}"\n'
    text += "[factor_supply]\nva = 1.5\n[factor_supply.USA]\nva = 0\n"
    resolved = resolve(load_scenario(_scenario(tmp_path, text)), load_dataset(folder))
    expected = np.full((1, 10), 1.5)
    expected[0, resolved.sam.regions.index("USA")] = 0.0
    np.testing.assert_array_equal(resolved.sam.eta, expected)


def test_negative_eta_in_dataset_toml_is_refused_by_name(tmp_path: Path) -> None:
    folder = _copy_default(tmp_path, "\n[factor_supply]\nva = -0.5\n")
    with pytest.raises(DatasetError, match=r"dataset\.toml: \[factor_supply\] va: -0\.5: .*>= 0"):
        load_dataset(folder)


def test_unknown_factor_in_dataset_toml_is_refused_by_name(tmp_path: Path) -> None:
    folder = _copy_default(tmp_path, "\n[factor_supply.XYZ]\nva = 1\n")
    with pytest.raises(DatasetError, match=r"\[factor_supply\.XYZ\]: unknown region 'XYZ'"):
        load_dataset(folder)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("[factor_supply]\nva = -1\n", r"s\.toml:5: \[factor_supply\] va: -1: .*>= 0"),
        ("[factor_supply.USA]\nva = true\n", r"s\.toml:5: \[factor_supply\.USA\] va: True"),
    ],
)
def test_negative_eta_in_a_scenario_is_refused_with_its_line(tmp_path, table, expected) -> None:
    text = '[scenario]\ndata = "wiod2011_10x8"\n\n' + table
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(_scenario(tmp_path, text))


def test_unknown_factor_in_a_scenario_is_refused_with_its_line(tmp_path: Path) -> None:
    text = '[scenario]\ndata = "wiod2011_10x8"\n\n[factor_supply]\nlabour = 1\n'
    scenario = load_scenario(_scenario(tmp_path, text))
    with pytest.raises(ScenarioError, match=r"s\.toml:5: \[factor_supply\] labour: unknown factor"):
        resolve(scenario, load_dataset("wiod2011_10x8"))


def test_unknown_imbalance_rule_is_refused_with_the_rules(tmp_path: Path) -> None:
    text = '[scenario]\ndata = "wiod2011_10x8"\nimbalances = "dek"\n'
    with pytest.raises(ScenarioError, match=r"imbalances: unknown imbalance rule 'dek'.*fixed"):
        load_scenario(_scenario(tmp_path, text))


def _zero_income_dataset(folder: Path) -> None:
    """Three regions; C produces nothing and lives on a transfer: its income net of
    transfers Y0 is 0."""
    trade = np.array([[50.0, 5.0, 8.0], [4.0, 40.0, 6.0], [0.0, 0.0, 1.0]])
    sam = armington_sam(trade, 3.0, regions=("A", "B", "C"), name="zero_income")
    vfm, vdfm = sam.vfm.copy(), sam.vdfm.copy()
    vfm[..., 2] = 0.0
    vdfm[..., 2] = 0.0
    sam = dataclasses.replace(sam, vfm=vfm, vdfm=vdfm)
    validate(sam)
    write_dataset(sam, folder)


def test_income_share_with_a_zero_income_region_is_a_named_error(tmp_path, capsys) -> None:
    _zero_income_dataset(tmp_path / "zero")
    text = '[scenario]\ndata = "./zero"\nimbalances = "{}"\n[[shock]]\ninstrument = "ntb"\n'
    text += 'between = ["A", "B"]\nrate = 0.1\n'
    fixed = solve_loaded(load_scenario(_scenario(tmp_path, text.format("fixed"))))
    assert fixed.scen.result.ok  # the data solve under the fixed rule
    out = tmp_path / "out"
    path = _scenario(tmp_path, text.format("income-share"))
    assert main(["solve", str(path), "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert 'imbalances = "income-share"' in err and "region(s) C (0)" in err
    assert "zero_income" in err and "Traceback" not in err
    assert not out.exists()
    with pytest.raises(FragcgeError, match="needs Y0 > 0"):
        CGEModel(calibrate(load_dataset(tmp_path / "zero")), imbalances="income-share")
