"""A solved equilibrium becomes a dataset (issue 12 §1): `fragcge data from-result`.

The written dataset passes `fragcge check`, the empty scenario on it changes nothing, its
accounts are the world's solved income and transfers, and a scenario on it is the same
economy as the original one shocked twice: its EVs, in the world's prices, equal those of
the combined scenario measured from the world, and chained back to the original reference
prices they equal the difference of the two EVs measured from the original baseline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.api import SolvedScenario, solve_loaded
from fragcge.calibration import accounts
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import DATASETS, load_dataset, write_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.calibration.validate import validate
from fragcge.cli import main
from fragcge.errors import FragcgeError
from fragcge.model.cge import CGEModel
from fragcge.model.report import dense
from fragcge.model.system import PRICES
from fragcge.rebenchmark import chained_ev, rebenchmark, utility_ratio
from fragcge.results import write_run
from fragcge.scenarios.load import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

BLOCS = """
[blocs]
west = ["USA", "EUR", "OAD", "JPN", "KOR"]
east = ["CHN", "RUS"]
"""

FRIENDSHORING = """
[[shock]]
instrument = "ntb"
between = ["west", "east"]
sectors = "all"
rate = 0.30
"""

LATER = """
[[shock]]
instrument = "ntb"
between = ["west", "east"]
sectors = ["ELE", "CHM", "MET", "MAC"]
rate = 0.20

[[shock]]
instrument = "tariff"
from = "USA"
to = "CHN"
sectors = "all"
rate = 0.10

[[shock]]
instrument = "export_tax"
from = "CHN"
to = "west"
sectors = ["MET"]
rate = 0.05
"""
"""Shocks that compose exactly with friend-shoring's: iceberg costs multiply, tariff and
export tax points add (the world has no rent-bearing barrier or quota)."""


def _solve(path: Path) -> SolvedScenario:
    return solve_loaded(load_scenario(path), decompose=False)


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, object]:
    """friendshoring solved and written as a result; the result made a dataset by the
    command; on it, LATER; on the original data, friendshoring + LATER from balanced-trade
    and from friendshoring."""
    folder = tmp_path_factory.mktemp("chain")
    for name in ("balanced-trade", "friendshoring"):
        shutil.copy(SCENARIOS / f"{name}.toml", folder)
    world = _solve(folder / "friendshoring.toml")
    write_run(world, folder / "result")
    assert main(["data", "from-result", str(folder / "result"), "--out", str(folder / "fs")]) == 0
    (folder / "empty.toml").write_text('[scenario]\nname = "empty"\ndata = "./fs"\n')
    (folder / "later.toml").write_text(
        '[scenario]\nname = "later"\ndata = "./fs"\n' + BLOCS + LATER
    )
    head = '[scenario]\nname = "{}"\ndata = "wiod2011_10x8"\nbaseline = "{}"\n'
    (folder / "combined.toml").write_text(
        head.format("combined", "balanced-trade") + BLOCS + FRIENDSHORING + LATER
    )
    (folder / "from-world.toml").write_text(
        head.format("from-world", "friendshoring") + BLOCS + LATER
    )
    return {
        "folder": folder,
        "world": world,
        "empty": _solve(folder / "empty.toml"),
        "later": _solve(folder / "later.toml"),
        "combined": _solve(folder / "combined.toml"),
        "from_world": _solve(folder / "from-world.toml"),
    }


def test_check_passes_on_the_written_dataset(chain, capsys) -> None:
    capsys.readouterr()
    assert main(["check", "--data", str(chain["folder"] / "fs")]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 3 and "FAIL" not in out, out


def test_the_empty_scenario_on_it_changes_nothing(chain) -> None:
    run = chain["empty"]
    model = run.model
    bench = model.benchmark()
    theta = model.system.benchmark_theta
    assert np.max(np.abs(model.residuals(bench, theta))) < 1e-9
    for eq in (run.base, run.scen):
        for name in PRICES:
            values = dense(model.system, eq.x, name, 1.0)
            np.testing.assert_allclose(values, 1.0, rtol=0, atol=1e-9, err_msg=name)
    assert np.max(np.abs(run.tables["welfare"].ev)) <= 1e-9


def test_its_accounts_are_the_world_as_solved(chain) -> None:
    """Income and consumption of the new benchmark are the world's solved RA and pc·vc·C
    (variables of the original model), its transfers the solved ones (zero: the world is
    measured from balanced-trade)."""
    world = chain["world"]
    sam = load_dataset(chain["folder"] / "fs")
    s = world.model.system
    np.testing.assert_allclose(accounts.expenditure(sam), dense(s, world.scen.x, "RA"), rtol=1e-9)
    consumption = (
        dense(s, world.scen.x, "pc") * world.model.cal.vfd[0] * dense(s, world.scen.x, "C")
    )
    np.testing.assert_allclose(accounts.final_demand(sam)[0], consumption, rtol=1e-9)
    np.testing.assert_allclose(accounts.vb(sam), 0.0, atol=1e-9 * accounts.income(sam).max())
    assert sam.esubm.tolist() == world.resolved.sam.esubm.tolist()


def test_a_scenario_on_it_is_the_original_shocked_twice(chain) -> None:
    """LATER on the rebenchmarked world and friendshoring + LATER measured from friendshoring
    are the same economy: the same EVs (both at the world's prices) and trade values."""
    later, direct = chain["later"], chain["from_world"]
    np.testing.assert_allclose(
        later.tables["welfare"].ev, direct.tables["welfare"].ev, rtol=1e-8, atol=1e-6
    )
    np.testing.assert_allclose(
        later.tables["trade"].value, direct.tables["trade"].value, rtol=1e-8, atol=1e-6
    )


def test_chained_ev_is_the_difference_of_evs_from_the_first_baseline(chain) -> None:
    world, combined = chain["world"], chain["combined"]
    chained = chained_ev(world, chain["later"])
    difference = combined.tables["welfare"].ev - world.tables["welfare"].ev
    assert list(chained.region) == list(combined.tables["welfare"].region)
    np.testing.assert_allclose(chained.ev, difference, rtol=1e-8, atol=1e-6)
    assert np.max(np.abs(difference)) > 1e3, "the later shocks must change welfare"
    # U_combined/U_0 = (U_later/U_world)·(U_world/U_0)
    np.testing.assert_allclose(
        utility_ratio(combined), utility_ratio(chain["later"]) * utility_ratio(world), rtol=1e-10
    )


NTB_RENT = """
[[shock]]
instrument = "ntb_rent"
from = "CHN"
to = "USA"
sectors = ["ELE"]
rate = 0.25
"""


@pytest.mark.parametrize(
    "scenario",
    ["decoupling", "export-control-jpn-kor", "tariff-war", "ntb-rent"],
)
def test_bans_quotas_tariffs_and_rents_become_a_dataset_that_replicates(tmp_path, scenario) -> None:
    """Closed routes drop out, a binding quota becomes an export tax, a rent a tariff; the
    new benchmark's identities hold and every equation of the model built on it is zero."""
    if scenario == "ntb-rent":
        shutil.copy(SCENARIOS / "balanced-trade.toml", tmp_path)
        path = tmp_path / "ntb-rent.toml"
        head = (
            '[scenario]\nname = "ntb-rent"\ndata = "wiod2011_10x8"\nbaseline = "balanced-trade"\n'
        )
        path.write_text(head + NTB_RENT)
    else:
        path = SCENARIOS / f"{scenario}.toml"
    run = _solve(path)
    sam = rebenchmark(run)
    validate(sam)
    model = CGEModel(calibrate(sam))
    residuals = model.residuals(model.benchmark(), model.system.benchmark_theta)
    assert np.max(np.abs(residuals)) < 1e-9
    s, theta = run.model.system, run.scen.theta
    closed = (s.param("trade_open", theta) == 0) & (run.model.cal.vxmd > 0)
    assert np.all(sam.vxmd[closed] == 0)
    rho = dense(s, run.scen.x, "rho", 0.0)
    np.testing.assert_array_equal(sam.tx0, s.param("tx", theta) + rho)
    if scenario == "export-control-jpn-kor":
        assert np.max(rho) > 0, "the quota binds"
    if scenario == "ntb-rent":
        tn = s.param("tn", theta)
        assert np.max(tn) == pytest.approx(0.25)
        tm = s.param("tm", theta)
        np.testing.assert_allclose(sam.tm0, np.where(tn > 0, (1 + tm) * 1.25 - 1, tm), rtol=1e-15)


# Bad input: a named error, exit status 2, nothing written.


@pytest.fixture(scope="module")
def result_on_a_folder(tmp_path_factory) -> Path:
    """A result solved on a copy of the built-in data (a dataset folder, not a built-in
    name), with its scenario beside it."""
    folder = tmp_path_factory.mktemp("folder-data")
    shutil.copytree(DATASETS / "wiod2011_10x8", folder / "data")
    (folder / "s.toml").write_text('[scenario]\nname = "s"\ndata = "./data"\n' + BLOCS + LATER)
    write_run(_solve(folder / "s.toml"), folder / "result")
    return folder


def _refused(capsys, argv: list[str], out: Path, *expected: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_not_a_result_folder_is_refused(tmp_path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a user's file")
    out = tmp_path / "out"
    _refused(
        capsys,
        ["data", "from-result", str(mine), "--out", str(out)],
        out,
        str(mine),
        "not a result folder",
    )
    assert (mine / "notes.txt").read_text() == "a user's file"


def test_a_failed_result_is_refused(chain, tmp_path, capsys) -> None:
    result = tmp_path / "result"
    shutil.copytree(chain["folder"] / "result", result)
    manifest = json.loads((result / "manifest.json").read_text())
    manifest["solver"]["scenario"]["largest_scaled_residual"] = 0.5
    (result / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "out"
    _refused(
        capsys,
        ["data", "from-result", str(result), "--out", str(out)],
        out,
        "failed solve",
        "solver.scenario",
    )


def test_a_result_whose_evs_differ_is_refused(chain, tmp_path, capsys) -> None:
    result = tmp_path / "result"
    shutil.copytree(chain["folder"] / "result", result)
    welfare = pd.read_csv(result / "welfare.csv", keep_default_na=False)
    welfare.loc[welfare.region == "KOR", "ev"] += 1.0
    welfare.to_csv(result / "welfare.csv", index=False)
    out = tmp_path / "out"
    _refused(
        capsys, ["data", "from-result", str(result), "--out", str(out)], out, "welfare.csv", "KOR"
    )


def test_a_dataset_folder_must_be_given_found_and_unchanged(
    result_on_a_folder, tmp_path, capsys
) -> None:
    result = result_on_a_folder / "result"
    out = tmp_path / "out"
    argv = ["data", "from-result", str(result), "--out", str(out)]
    _refused(capsys, argv, out, "./data", "--data")
    _refused(capsys, [*argv, "--data", str(tmp_path / "gone")], out, "gone")
    changed = tmp_path / "changed"
    shutil.copytree(result_on_a_folder / "data", changed)
    esub = changed / "elasticities.csv"
    # AGF's esubva 0.5698... becomes 0.5699...: a valid dataset, but another one.
    esub.write_text(esub.read_text().replace(",0.5698", ",0.5699", 1))
    _refused(capsys, [*argv, "--data", str(changed)], out, str(changed), "is not the one")
    assert main([*argv, "--data", str(result_on_a_folder / "data")]) == 0
    assert (out / "README.md").is_file()


def test_a_users_folder_is_not_replaced(chain, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.csv").write_text("x\n")
    capsys.readouterr()
    assert main(["data", "from-result", str(chain["folder"] / "result"), "--out", str(out)]) == 2
    assert "not a dataset folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["mine.csv"]


SYNTHETIC_WORLD = """
[[shock]]
instrument = "ntb"
between = ["R1", "R2"]
sectors = "all"
rate = 0.30

[[shock]]
instrument = "tariff"
from = "R3"
to = "R1"
sectors = ["S1"]
rate = 0.15
"""

SYNTHETIC_LATER = """
[[shock]]
instrument = "ntb"
from = "R1"
to = ["R2", "R4"]
sectors = ["S1", "S2"]
rate = 0.50

[[shock]]
instrument = "productivity"
sectors = ["S2"]
regions = ["R3"]
rate = 0.05
"""


@pytest.mark.parametrize("closure", ["default", "short-run"])
def test_chained_ev_with_taxes_margins_transfers_and_specific_factors(tmp_path, closure) -> None:
    """On synthetic data with every tax, a transport margin, a specific factor and fixed
    transfers vb ≠ 0 (in numeraire units: the rebenchmarked numeraire is the same index,
    the world changing no endowment), the written dataset replicates and EVs chain."""
    write_dataset(synthetic_sam(4, 3, seed=3), tmp_path / "syn")
    head = '[scenario]\nname = "{}"\ndata = "./{}"\nclosure = "' + closure + '"\n'
    (tmp_path / "world.toml").write_text(head.format("world", "syn") + SYNTHETIC_WORLD)
    world = _solve(tmp_path / "world.toml")
    assert np.max(np.abs(accounts.vb(world.resolved.sam))) > 1.0
    write_run(world, tmp_path / "result")
    argv = ["data", "from-result", str(tmp_path / "result"), "--out", str(tmp_path / "new")]
    assert main([*argv, "--data", str(tmp_path / "syn")]) == 0
    sam = load_dataset(tmp_path / "new")
    assert len(sam.margins) == 1 and np.all(sam.vst > 0)
    model = CGEModel(calibrate(sam), closure)
    assert np.max(np.abs(model.residuals(model.benchmark(), model.system.benchmark_theta))) < 1e-9
    (tmp_path / "later.toml").write_text(head.format("later", "new") + SYNTHETIC_LATER)
    (tmp_path / "both.toml").write_text(
        head.format("both", "syn") + SYNTHETIC_WORLD + SYNTHETIC_LATER
    )
    later, both = _solve(tmp_path / "later.toml"), _solve(tmp_path / "both.toml")
    difference = both.tables["welfare"].ev - world.tables["welfare"].ev
    assert np.max(np.abs(difference)) > 1e-2
    np.testing.assert_allclose(chained_ev(world, later).ev, difference, rtol=1e-8, atol=1e-10)


def test_chained_ev_refuses_welfare_measured_by_utility(tmp_path) -> None:
    """U's exponents are the benchmark's spending shares, which the world changes."""
    write_dataset(synthetic_sam(3, 2, seed=5), tmp_path / "syn")
    text = '[scenario]\nname = "w"\ndata = "./syn"\nclosure = "gov-share"\n'
    shock = '[[shock]]\ninstrument = "ntb"\nbetween = ["R1", "R2"]\nsectors = "all"\nrate = 0.3\n'
    (tmp_path / "w.toml").write_text(text + shock)
    world = _solve(tmp_path / "w.toml")
    with pytest.raises(FragcgeError, match="regional utility U"):
        chained_ev(world, world)


def test_a_baseline_in_another_folder_is_found_from_the_record(tmp_path, capsys) -> None:
    """The chain is rebuilt from the manifest's texts at the places its baseline keys name."""
    (tmp_path / "base").mkdir()
    (tmp_path / "mine").mkdir()
    shutil.copy(SCENARIOS / "balanced-trade.toml", tmp_path / "base" / "balanced.toml")
    text = '[scenario]\nname = "s"\ndata = "wiod2011_10x8"\nbaseline = "../base/balanced"\n'
    (tmp_path / "mine" / "s.toml").write_text(text + BLOCS + FRIENDSHORING)
    write_run(_solve(tmp_path / "mine" / "s.toml"), tmp_path / "result")
    out = tmp_path / "out"
    assert main(["data", "from-result", str(tmp_path / "result"), "--out", str(out)]) == 0
    assert "baseline: balanced-trade" in (out / "README.md").read_text()


def test_an_edited_manifest_writes_nowhere_else(chain, tmp_path, capsys) -> None:
    result = tmp_path / "result"
    shutil.copytree(chain["folder"] / "result", result)
    manifest = json.loads((result / "manifest.json").read_text())
    manifest["scenario"]["file"] = "../escaped.toml"
    (result / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "out"
    argv = ["data", "from-result", str(result), "--out", str(out)]
    _refused(capsys, argv, out, "manifest.json", "'../escaped.toml'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


def test_a_rerun_writes_the_same_bytes(chain, tmp_path) -> None:
    out = tmp_path / "fs"
    assert main(["data", "from-result", str(chain["folder"] / "result"), "--out", str(out)]) == 0
    first = chain["folder"] / "fs"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in first.iterdir())
    for path in first.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_scenario_with_a_table_needs_its_file_with_the_recorded_sha256(tmp_path, capsys) -> None:
    """Per-route tables are recorded by sha256 only: --scenario gives the file, which must be
    the one solved (a changed table is refused), and a dataset folder beside it is found."""
    shutil.copytree(DATASETS / "wiod2011_10x8", tmp_path / "data")
    (tmp_path / "rates.csv").write_text("commodity,exporter,importer,rate\nELE,CHN,USA,0.2\n")
    shock = '[[shock]]\ninstrument = "bilateral_table"\nfile = "rates.csv"\napply = "ntb"\n'
    (tmp_path / "t.toml").write_text('[scenario]\nname = "t"\ndata = "./data"\n' + shock)
    write_run(_solve(tmp_path / "t.toml"), tmp_path / "result")
    out = tmp_path / "out"
    argv = ["data", "from-result", str(tmp_path / "result"), "--out", str(out)]
    _refused(capsys, argv, out, "rates.csv", "--scenario")
    (tmp_path / "rates.csv").write_text("commodity,exporter,importer,rate\nELE,CHN,USA,0.3\n")
    _refused(capsys, [*argv, "--scenario", str(tmp_path / "t.toml")], out, "not the scenario")
    (tmp_path / "rates.csv").write_text("commodity,exporter,importer,rate\nELE,CHN,USA,0.2\n")
    assert main([*argv, "--scenario", str(tmp_path / "t.toml")]) == 0
    assert load_dataset(out).vxmd.sum() > 0


def test_a_batch_run_is_refused_by_name(tmp_path, capsys) -> None:
    """A batch's (or a risk file's) run folder records the batch file, not the run's own
    scenario: it is refused naming the run, not re-read as a scenario from a temporary file."""
    for name in ("balanced-trade", "friendshoring-strategic"):
        shutil.copy(SCENARIOS / f"{name}.toml", tmp_path)
    (tmp_path / "b.toml").write_text(
        '[batch]\nname = "b"\nscenario = "friendshoring-strategic.toml"\n\n'
        '[sweep]\n"shock.1.rate" = [0.2]\n'
    )
    assert main(["batch", str(tmp_path / "b.toml"), "--out", str(tmp_path / "b")]) == 0
    (run,) = (tmp_path / "b" / "runs").iterdir()
    out = tmp_path / "out"
    _refused(
        capsys,
        ["data", "from-result", str(run), "--out", str(out)],
        out,
        str(run),
        "a run of a batch or risk file",
        "fragcge solve",
    )


def test_elastic_supply_and_income_share_imbalances_carry_over(tmp_path) -> None:
    """A world solved with eta > 0 and income-share imbalances, from the data's transfers:
    the dataset keeps its eta, its README says which imbalance rule continues the world, and
    LATER on it under that rule is LATER measured from the world on the original data."""
    head = '[scenario]\nname = "{}"\ndata = "{}"\nimbalances = "income-share"\n{}'
    supply = "[factor_supply]\nva = 0.5\n"
    (tmp_path / "world.toml").write_text(
        head.format("world", "wiod2011_10x8", "") + supply + BLOCS + FRIENDSHORING
    )
    world = _solve(tmp_path / "world.toml")
    assert np.max(np.abs(accounts.vb(world.model.cal.sam))) > 1e4, "the data's transfers"
    write_run(world, tmp_path / "result")
    argv = ["data", "from-result", str(tmp_path / "result"), "--out", str(tmp_path / "fs")]
    assert main(argv) == 0
    assert 'imbalances = "income-share"' in (tmp_path / "fs" / "README.md").read_text()
    (tmp_path / "later.toml").write_text(head.format("later", "./fs", "") + BLOCS + LATER)
    (tmp_path / "direct.toml").write_text(
        head.format("direct", "wiod2011_10x8", 'baseline = "world"\n') + supply + BLOCS + LATER
    )
    later, direct = _solve(tmp_path / "later.toml"), _solve(tmp_path / "direct.toml")
    assert later.model.system.param("eta", later.scen.theta).max() == 0.5
    assert np.max(np.abs(later.tables["welfare"].ev)) > 1e3, "the later shocks must change welfare"
    for column in ("ev", "real_income_pct"):
        np.testing.assert_allclose(
            later.tables["welfare"][column], direct.tables["welfare"][column], rtol=1e-8, atol=1e-6
        )
    np.testing.assert_allclose(
        later.tables["trade"].volume_pct, direct.tables["trade"].volume_pct, rtol=1e-8, atol=1e-6
    )
    # Nominal values differ by one price level: the rebenchmarked numeraire weighs factor
    # prices by the world's supplies, not the original endowments (docs/data.md).
    level = later.tables["trade"].value / direct.tables["trade"].value
    np.testing.assert_allclose(level, level.iloc[0], rtol=1e-8)
