"""The scenario language: shipped files, the ShockSets they produce, and the errors users see."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

import fragcge.scenarios as scenarios_package
from fragcge.calibration import accounts
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.scenarios import (
    ScenarioWarning,
    chain_sha256,
    load_scenario,
    resolve,
    scenario_record,
)

SHIPPED = Path(scenarios_package.__file__).parent
# Batch and risk files sit beside the scenarios they use; tests/test_batch_design.py and
# tests/test_risk.py check them.
SCENARIO_FILES = sorted(
    p for p in SHIPPED.glob("*.toml") if not {"batch", "risk"} & set(tomllib.loads(p.read_text()))
)
REGIONS = ("USA", "EUR", "OAD", "JPN", "KOR", "CHN", "RUS", "IND", "OEM", "ROW")
SECTORS = ("AGF", "ENE", "LMF", "CHM", "MET", "MAC", "ELE", "SRV")
WEST = ("USA", "EUR", "OAD", "JPN", "KOR")
EAST = ("CHN", "RUS")
STRATEGIC = ("ELE", "CHM", "MET", "MAC")
R = {code: k for k, code in enumerate(REGIONS)}
I = {code: k for k, code in enumerate(SECTORS)}  # noqa: E741
HEAD = '[scenario]\nname = "t"\ndata = "wiod2011_10x8"\n'


@pytest.fixture(scope="module")
def sam() -> GlobalSAM:
    """A balanced toy world with WIOD's codes: one factor, households buy everything.

    Trade is random with tariffs; RUS→KOR carries no trade at all and USA→IND no ELE, so
    that rows on zero flows can be tested. Exports and tariffs make vb ≠ 0 with Σ vb = 0.
    """
    rng = np.random.default_rng(2011)
    ni, nr = len(SECTORS), len(REGIONS)
    vxmd = rng.uniform(1.0, 10.0, (ni, nr, nr))
    vxmd[:, np.arange(nr), np.arange(nr)] = 0.0
    vxmd[:, R["RUS"], R["KOR"]] = 0.0
    vxmd[I["ELE"], R["USA"], R["IND"]] = 0.0
    tm0 = rng.uniform(0.0, 0.1, vxmd.shape) * (vxmd > 0)
    tx0 = np.zeros_like(vxmd)
    vdfm = np.zeros((ni, ni + 3, nr))
    vifm = np.zeros((ni, ni + 3, nr))
    domestic = rng.uniform(50.0, 100.0, (ni, nr))
    vdfm[:, ni, :] = domestic
    vifm[:, ni, :] = (vxmd * (1 + tx0) * (1 + tm0)).sum(axis=1)
    vom = domestic + vxmd.sum(axis=2)
    zeros = np.zeros((ni, nr))
    return GlobalSAM(
        name="toy",
        regions=REGIONS,
        sectors=SECTORS,
        factors=("va",),
        factor_kind={"va": "mobile"},
        margins=(),
        vfm=vom[None, :, :],
        vdfm=vdfm,
        vifm=vifm,
        vxmd=vxmd,
        vtwr=np.zeros((0, ni, nr, nr)),
        vst=np.zeros((0, nr)),
        to0=zeros,
        tf0=np.zeros((1, ni, nr)),
        tdf0=np.zeros_like(vdfm),
        tif0=np.zeros_like(vifm),
        tx0=tx0,
        tm0=tm0,
        esubd=np.full(ni, 2.0),
        esubm=np.full(ni, 4.0),
        esubva=np.ones(ni),
        esubt=np.zeros(ni),
        esubc=np.zeros(ni),
        groups={"strategic": STRATEGIC},
        meta={"unit": "USD million"},
    )


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> str:
    """The message of the ScenarioError that loading ``path`` raises."""
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return str(caught.value)


def resolve_error(path: Path, sam: GlobalSAM) -> str:
    """The message of the ScenarioError that resolving ``path`` against ``sam`` raises."""
    with pytest.raises(ScenarioError) as caught:
        resolve(load_scenario(path), sam)
    return str(caught.value)


def between(a: tuple[str, ...], b: tuple[str, ...]) -> np.ndarray:
    """Independent route mask [r, s]: r in a and s in b, or the other way round."""
    return np.array(
        [[(r in a and s in b) or (r in b and s in a) for s in REGIONS] for r in REGIONS]
    )


# Shipped scenarios


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_shipped_scenario_loads_and_resolves(path: Path, sam: GlobalSAM) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.data == "wiod2011_10x8"
    assert scenario.source.text.lstrip().startswith("#"), "each file opens with its story"
    resolved = resolve(scenario, sam)
    assert len(resolved.shock_labels) == len(scenario.shocks)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.stem)
def test_shipped_scenario_resolves_against_its_dataset(path: Path) -> None:
    scenario = load_scenario(path)
    resolved = resolve(scenario, load_dataset(scenario.data))
    assert np.all(np.isfinite(resolved.shocks.tau))


def test_baseline_is_the_benchmark(sam: GlobalSAM) -> None:
    resolved = resolve(load_scenario(SHIPPED / "baseline.toml"), sam)
    for levels in (resolved.baseline, resolved.shocks):
        np.testing.assert_array_equal(levels.tau, np.ones_like(sam.vxmd))
        np.testing.assert_array_equal(levels.tm, sam.tm0)
        np.testing.assert_array_equal(levels.tx, sam.tx0)
        np.testing.assert_array_equal(levels.vb, accounts.vb(sam))
    assert resolved.baseline_label == "benchmark (no shocks)"


def test_balanced_trade_sets_every_transfer_to_zero(sam: GlobalSAM) -> None:
    vb0 = accounts.vb(sam)
    assert np.abs(vb0).max() > 1.0 and abs(vb0.sum()) < 1e-9 * np.abs(vb0).sum()
    resolved = resolve(load_scenario(SHIPPED / "balanced-trade.toml"), sam)
    np.testing.assert_array_equal(resolved.baseline.vb, vb0)
    np.testing.assert_array_equal(resolved.shocks.vb, np.zeros(len(REGIONS)))
    np.testing.assert_array_equal(resolved.shocks.tau, np.ones_like(sam.vxmd))
    np.testing.assert_array_equal(resolved.shocks.tm, sam.tm0)


def test_friendshoring_raises_tau_by_30_percent_between_blocs_only(sam: GlobalSAM) -> None:
    resolved = resolve(load_scenario(SHIPPED / "friendshoring.toml"), sam)
    expected = np.where(between(WEST, EAST)[None, :, :], 1.3, 1.0) * np.ones((len(SECTORS), 1, 1))
    np.testing.assert_array_equal(resolved.shocks.tau, expected)
    assert resolved.shocks.tau[0, R["USA"], R["CHN"]] == 1.3
    assert resolved.shocks.tau[0, R["CHN"], R["USA"]] == 1.3
    assert resolved.shocks.tau[0, R["USA"], R["JPN"]] == 1.0  # within west
    assert resolved.shocks.tau[0, R["CHN"], R["RUS"]] == 1.0  # within east
    assert resolved.shocks.tau[0, R["IND"], R["CHN"]] == 1.0  # nonaligned
    np.testing.assert_array_equal(resolved.shocks.tm, sam.tm0)
    # measured from balanced trade: both solutions carry vb = 0
    np.testing.assert_array_equal(resolved.baseline.vb, np.zeros(len(REGIONS)))
    np.testing.assert_array_equal(resolved.baseline.tau, np.ones_like(sam.vxmd))
    np.testing.assert_array_equal(resolved.shocks.vb, np.zeros(len(REGIONS)))
    blocs = {**dict.fromkeys(WEST, "west"), **dict.fromkeys(EAST, "east")}
    assert resolved.blocs == {r: blocs.get(r, "nonaligned") for r in REGIONS}
    assert list(resolved.blocs) == list(REGIONS)
    assert resolved.baseline_label.startswith("balanced-trade")
    assert resolved.shock_labels == ("ntb +30% on all sectors between west and east",)


def test_friendshoring_strategic_touches_strategic_sectors_only(sam: GlobalSAM) -> None:
    resolved = resolve(load_scenario(SHIPPED / "friendshoring-strategic.toml"), sam)
    strategic = np.array([s in STRATEGIC for s in SECTORS])
    expected = np.where(strategic[:, None, None] & between(WEST, EAST)[None, :, :], 1.3, 1.0)
    np.testing.assert_array_equal(resolved.shocks.tau, expected)


def test_tariff_war_adds_25_points_on_goods_between_usa_and_china(sam: GlobalSAM) -> None:
    resolved = resolve(load_scenario(SHIPPED / "tariff-war.toml"), sam)
    expected = sam.tm0.copy()
    goods = [I[s] for s in SECTORS if s != "SRV"]
    expected[goods, R["USA"], R["CHN"]] += 0.25
    expected[goods, R["CHN"], R["USA"]] += 0.25
    np.testing.assert_array_equal(resolved.shocks.tm, expected)
    np.testing.assert_array_equal(resolved.baseline.tm, sam.tm0)
    np.testing.assert_array_equal(resolved.shocks.tau, np.ones_like(sam.vxmd))
    np.testing.assert_array_equal(resolved.shocks.vb, np.zeros(len(REGIONS)))


def test_scenario_hashes_cover_the_file_and_its_baseline_chain(tmp_path: Path) -> None:
    base = write(tmp_path, "base.toml", HEAD.replace('"t"', '"base"'))
    scen = write(tmp_path, "scen.toml", HEAD + 'baseline = "base"\n')
    before = chain_sha256(load_scenario(scen))
    record = scenario_record(load_scenario(scen))
    assert record["file"] == "scen.toml" and record["text"] == scen.read_text()
    assert record["baseline"]["file"] == "base.toml"
    assert record["chain_sha256"] == before
    base.write_text(base.read_text() + "# edited\n")
    assert chain_sha256(load_scenario(scen)) != before
    assert load_scenario(scen).source.sha256 == record["sha256"]


# Resolution: elasticities, chains, transfers


def test_elasticity_overrides_give_a_new_sam(tmp_path: Path, sam: GlobalSAM) -> None:
    path = write(
        tmp_path,
        "e.toml",
        HEAD + "[elasticities]\nesubm = { scale = 1.5 }\nesubd = { ELE = 3.0 }\nesubp = 0.5\n",
    )
    resolved = resolve(load_scenario(path), sam)
    np.testing.assert_array_equal(resolved.sam.esubm, np.full(len(SECTORS), 6.0))
    expected_d = np.full(len(SECTORS), 2.0)
    expected_d[I["ELE"]] = 3.0
    np.testing.assert_array_equal(resolved.sam.esubd, expected_d)
    assert resolved.sam.esubp == 0.5
    np.testing.assert_array_equal(sam.esubm, np.full(len(SECTORS), 4.0))  # untouched
    assert sam.esubp == 1.0


def test_baseline_chain_applies_each_file_in_order(tmp_path: Path, sam: GlobalSAM) -> None:
    write(
        tmp_path,
        "a.toml",
        HEAD + '[[shock]]\ninstrument = "ntb"\nfrom = "USA"\nto = "CHN"\nrate = 0.1\n'
        '[[shock]]\ninstrument = "tariff"\nfrom = "USA"\nto = "CHN"\nrate = 0.1\n',
    )
    write(
        tmp_path,
        "b.toml",
        HEAD + 'baseline = "a"\n[elasticities]\nesubm = { scale = 2.0 }\n'
        '[[shock]]\ninstrument = "ntb"\nfrom = "USA"\nto = "CHN"\nrate = 0.2\n',
    )
    c = write(
        tmp_path,
        "c.toml",
        HEAD + 'baseline = "b.toml"\n'
        '[[shock]]\ninstrument = "tariff"\nmode = "set"\nfrom = "USA"\nto = "CHN"\n'
        'sectors = ["ELE"]\nrate = 0.05\n',
    )
    resolved = resolve(load_scenario(c), sam)
    usa_chn = (slice(None), R["USA"], R["CHN"])
    np.testing.assert_allclose(resolved.baseline.tau[usa_chn], 1.1 * 1.2, rtol=1e-15)
    np.testing.assert_array_equal(resolved.shocks.tau, resolved.baseline.tau)
    np.testing.assert_allclose(resolved.baseline.tm[usa_chn], sam.tm0[usa_chn] + 0.1)
    expected = resolved.baseline.tm.copy()
    expected[I["ELE"], R["USA"], R["CHN"]] = 0.05  # "set" is absolute
    np.testing.assert_array_equal(resolved.shocks.tm, expected)
    assert resolved.shocks.tau[0, R["CHN"], R["USA"]] == 1.0  # from/to is one direction
    # b's own elasticities give way to c's (the dataset's): noted, not applied
    np.testing.assert_array_equal(resolved.sam.esubm, sam.esubm)
    assert resolved.notes == (
        "baseline t (b.toml) is solved with the elasticities of t, not its own",
    )


def test_transfer_values_with_absorb(tmp_path: Path, sam: GlobalSAM) -> None:
    path = write(
        tmp_path,
        "t.toml",
        HEAD + '[[shock]]\ninstrument = "transfer"\nvalues = { USA = 0.0, CHN = 5.0 }\n'
        'absorb = "ROW"\n',
    )
    vb = resolve(load_scenario(path), sam).shocks.vb
    vb0 = accounts.vb(sam)
    assert vb[R["USA"]] == 0.0 and vb[R["CHN"]] == 5.0
    others = [R[r] for r in REGIONS if r not in ("USA", "CHN", "ROW")]
    np.testing.assert_array_equal(vb[others], vb0[others])
    assert abs(vb.sum()) < 1e-9


def test_transfer_values_that_keep_the_sum_need_no_absorb(tmp_path: Path, sam: GlobalSAM) -> None:
    vb0 = accounts.vb(sam)
    swap = f"USA = {float(vb0[R['CHN']])!r}, CHN = {float(vb0[R['USA']])!r}"
    path = write(
        tmp_path, "t.toml", HEAD + f'[[shock]]\ninstrument = "transfer"\nvalues = {{ {swap} }}\n'
    )
    vb = resolve(load_scenario(path), sam).shocks.vb
    assert vb[R["USA"]] == vb0[R["CHN"]] and vb[R["CHN"]] == vb0[R["USA"]]


# bilateral_table


def test_bilateral_table_applies_rows_and_warns_once_on_zero_flows(
    tmp_path: Path, sam: GlobalSAM
) -> None:
    write(
        tmp_path,
        "rates.csv",
        "commodity,exporter,importer,rate\n"
        "*,USA,CHN,0.1\n"
        "ELE,CHN,USA,0.2\n"
        "AGF,RUS,KOR,0.5\n"
        "ELE,USA,IND,0.3\n"
        "AGF,USA,IND,-0.1\n",
    )
    path = write(
        tmp_path,
        "t.toml",
        HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "rates.csv"\napply = "ntb"\n',
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolved = resolve(load_scenario(path), sam)
    ours = [w for w in caught if issubclass(w.category, ScenarioWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "rates.csv" in message and "line 4 AGF RUS->KOR" in message
    assert "line 5 ELE USA->IND" in message and "line 2" not in message
    expected = np.ones_like(sam.vxmd)
    expected[:, R["USA"], R["CHN"]] = 1.1
    expected[I["ELE"], R["CHN"], R["USA"]] = 1.2
    expected[I["AGF"], R["USA"], R["IND"]] = 0.9
    np.testing.assert_allclose(resolved.shocks.tau, expected, rtol=1e-15)
    assert resolved.shock_labels == ("ntb per route from rates.csv (5 rows)",)


def test_bilateral_table_of_tariffs_set(tmp_path: Path, sam: GlobalSAM) -> None:
    write(tmp_path, "tm.csv", "exporter,importer,commodity,rate\nJPN,KOR,MET,0.07\n")
    path = write(
        tmp_path,
        "t.toml",
        HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "tm.csv"\napply = "tariff"\n'
        'mode = "set"\n',
    )
    expected = sam.tm0.copy()
    expected[I["MET"], R["JPN"], R["KOR"]] = 0.07
    np.testing.assert_array_equal(resolve(load_scenario(path), sam).shocks.tm, expected)


def test_bilateral_table_unknown_code_names_file_line_and_codes(
    tmp_path: Path, sam: GlobalSAM
) -> None:
    write(
        tmp_path, "rates.csv", "commodity,exporter,importer,rate\n*,USA,CHN,0.1\nELE,USA,XXX,0.2\n"
    )
    path = write(
        tmp_path,
        "t.toml",
        HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "rates.csv"\napply = "ntb"\n',
    )
    message = resolve_error(path, sam)
    assert "rates.csv:3" in message and "importer" in message and "'XXX'" in message
    assert "USA, EUR, OAD" in message


def test_bilateral_table_refuses_a_cell_set_twice(tmp_path: Path, sam: GlobalSAM) -> None:
    write(tmp_path, "r.csv", "commodity,exporter,importer,rate\n*,USA,CHN,0.1\nELE,USA,CHN,0.2\n")
    path = write(
        tmp_path,
        "t.toml",
        HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "r.csv"\napply = "ntb"\n',
    )
    message = resolve_error(path, sam)
    assert "r.csv:3" in message and "line 2" in message


def test_bilateral_table_bad_columns(tmp_path: Path) -> None:
    write(tmp_path, "r.csv", "commodity,exporter,importer,value\nELE,USA,CHN,0.2\n")
    path = write(
        tmp_path,
        "t.toml",
        HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "r.csv"\napply = "ntb"\n',
    )
    message = error(path)
    assert "r.csv:1" in message and "commodity, exporter, importer, rate" in message


# Errors a user sees: each names the file, the key or value, and what is allowed


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    message = error(write(tmp_path, "bad.toml", HEAD + "rate = = 1\n"))
    assert "bad.toml" in message and "not valid TOML" in message and "line 4" in message


def test_unknown_key_in_scenario_table(tmp_path: Path) -> None:
    message = error(write(tmp_path, "bad.toml", HEAD + 'titel = "x"\n'))
    assert "bad.toml:4" in message and "[scenario]" in message and "'titel'" in message
    assert "did you mean 'title'" in message
    assert "baseline, closure, data, imbalances, name, title" in message


def test_unknown_key_in_a_shock(tmp_path: Path) -> None:
    text = HEAD + '[[shock]]\ninstrument = "ntb"\nbetween = ["USA", "CHN"]\nrates = 0.3\n'
    message = error(write(tmp_path, "bad.toml", text))
    assert "bad.toml:7" in message and "[[shock]] #1" in message and "'rates'" in message
    assert "between, from, instrument, rate, sectors, to" in message


def test_unknown_table(tmp_path: Path) -> None:
    message = error(write(tmp_path, "bad.toml", HEAD + "[bloc]\nwest = ['USA']\n"))
    assert "bad.toml:4" in message and "'bloc'" in message and "[blocs]" in message


def test_unknown_region_in_a_bloc(tmp_path: Path, sam: GlobalSAM) -> None:
    path = write(tmp_path, "bad.toml", HEAD + '[blocs]\nwest = ["USA"]\neast = ["CHA", "RUS"]\n')
    message = resolve_error(path, sam)
    assert "bad.toml:6" in message and "[blocs] east" in message and "'CHA'" in message
    assert "USA, EUR, OAD, JPN, KOR, CHN, RUS, IND, OEM, ROW" in message


def test_region_in_two_blocs(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.toml", HEAD + '[blocs]\nwest = ["USA", "KOR"]\neast = ["KOR"]\n')
    message = error(path)
    assert "bad.toml:6" in message and "[blocs] east" in message
    assert "'KOR'" in message and "'west'" in message


def test_unknown_bloc_in_a_route(tmp_path: Path, sam: GlobalSAM) -> None:
    text = (
        HEAD + '[blocs]\nwest = ["USA"]\n'
        '[[shock]]\ninstrument = "ntb"\nbetween = ["wset", "CHN"]\nrate = 0.3\n'
    )
    message = resolve_error(write(tmp_path, "bad.toml", text), sam)
    assert "bad.toml:8: [[shock]] #1 between" in message and "'wset'" in message
    assert "did you mean 'west'" in message and "west, nonaligned, USA" in message


def test_unknown_sector_or_group(tmp_path: Path, sam: GlobalSAM) -> None:
    text = (
        HEAD
        + '[[shock]]\ninstrument = "ntb"\nfrom = "USA"\nsectors = ["ELE", "strategc"]\nrate = 0.3\n'
    )
    message = resolve_error(write(tmp_path, "bad.toml", text), sam)
    assert "bad.toml:7: [[shock]] #1 sectors" in message and "'strategc'" in message
    assert "all, strategic, AGF" in message


def test_unknown_instrument(tmp_path: Path) -> None:
    text = HEAD + '[[shock]]\ninstrument = "ntbs"\nbetween = ["USA", "CHN"]\nrate = 0.3\n'
    message = error(write(tmp_path, "bad.toml", text))
    assert "bad.toml:5" in message and "instrument" in message and "'ntbs'" in message
    assert "ntb, ntb_rent, export_ban, export_quota, tariff, export_tax, endowment" in message


def test_negative_quota_share_is_refused(tmp_path: Path) -> None:
    text = HEAD + '[[shock]]\ninstrument = "export_quota"\nbetween = ["USA", "CHN"]\nvalue = -0.1\n'
    message = error(write(tmp_path, "bad.toml", text))
    assert "bad.toml:7" in message and "value" in message and "must be >= 0" in message


def test_every_closure_of_model_md_is_accepted(tmp_path: Path) -> None:
    for closure in ("default", "gov-share", "savings", "short-run", "real-wage"):
        scenario = load_scenario(
            write(tmp_path, f"{closure}.toml", HEAD + f'closure = "{closure}"\n')
        )
        assert scenario.closure == closure


def test_unknown_closure(tmp_path: Path) -> None:
    message = error(write(tmp_path, "bad.toml", HEAD + 'closure = "keynes"\n'))
    assert "bad.toml:4" in message and "'keynes'" in message and "allowed: default" in message


def test_ntb_rate_at_or_below_minus_one(tmp_path: Path) -> None:
    text = HEAD + '[[shock]]\ninstrument = "ntb"\nbetween = ["USA", "CHN"]\nrate = -1.0\n'
    message = error(write(tmp_path, "bad.toml", text))
    assert "bad.toml:7" in message and "rate" in message and "-1" in message
    assert "must be > -1" in message


def test_transfer_not_summing_to_zero_without_absorb(tmp_path: Path, sam: GlobalSAM) -> None:
    text = HEAD + '[[shock]]\ninstrument = "transfer"\nvalues = { USA = 0.0 }\n'
    message = resolve_error(write(tmp_path, "bad.toml", text), sam)
    assert "bad.toml:6: [[shock]] #1 values" in message and "USD million" in message
    assert 'absorb = "REGION"' in message and "USA, EUR, OAD" in message


def test_transfer_unknown_region(tmp_path: Path, sam: GlobalSAM) -> None:
    text = HEAD + '[[shock]]\ninstrument = "transfer"\nvalues = { US = 0.0 }\nabsorb = "ROW"\n'
    message = resolve_error(write(tmp_path, "bad.toml", text), sam)
    assert "bad.toml" in message and "values" in message and "'US'" in message
    assert "USA, EUR" in message


def test_baseline_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", HEAD + 'baseline = "b"\n')
    write(tmp_path, "b.toml", HEAD + 'baseline = "c"\n')
    write(tmp_path, "c.toml", HEAD + 'baseline = "a"\n')
    message = error(tmp_path / "a.toml")
    assert "c.toml:4" in message and "baseline" in message and "'a'" in message
    assert "a.toml -> b.toml -> c.toml -> a.toml" in message


def test_missing_baseline_lists_the_folder(tmp_path: Path) -> None:
    write(tmp_path, "balanced.toml", HEAD)
    message = error(write(tmp_path, "bad.toml", HEAD + 'baseline = "balanced-trade"\n'))
    assert "bad.toml:4" in message and "'balanced-trade'" in message
    assert "allowed: bad, balanced" in message


def test_batch_tables_come_later(tmp_path: Path) -> None:
    message = error(write(tmp_path, "bad.toml", HEAD + "[sweep]\nrate = [0.1, 0.2]\n"))
    assert "bad.toml:4" in message and "[sweep]" in message and "later version" in message


def test_route_missing(tmp_path: Path) -> None:
    text = HEAD + '[[shock]]\ninstrument = "tariff"\nrate = 0.1\n'
    message = error(write(tmp_path, "bad.toml", text))
    assert "bad.toml:5" in message and "between = [A, B]" in message


def test_elasticity_for_unknown_sector(tmp_path: Path, sam: GlobalSAM) -> None:
    path = write(tmp_path, "bad.toml", HEAD + "[elasticities]\nesubd = { ELX = 3.0 }\n")
    message = resolve_error(path, sam)
    assert "bad.toml:5" in message and "esubd" in message and "'ELX'" in message
    assert "did you mean 'ELE'" in message and "AGF, ENE" in message


def test_unknown_elasticity(tmp_path: Path) -> None:
    message = error(write(tmp_path, "bad.toml", HEAD + "[elasticities]\nesubx = 2.0\n"))
    assert "bad.toml:5" in message and "'esubx'" in message and "esubd, esubm" in message


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[scenario]\nname = "t"\n', ["bad.toml:1: [scenario]", "missing key data"]),
        (
            HEAD.replace('"t"', '"a b"'),
            ["bad.toml:2: [scenario] name", "'a b'", "letters, digits"],
        ),
        (HEAD + "[shock]\nrate = 1\n", ["bad.toml:4: [shock]", "[[shock]]"]),
        (
            HEAD + '[[shock]]\ninstrument = "transfer"\nbalanced = true\nabsorb = "USA"\n',
            ["bad.toml:6: [[shock]] #1 balanced", "drop values and absorb"],
        ),
        (
            HEAD + '[[shock]]\ninstrument = "transfer"\nvalues = { USA = 1.0 }\nabsorb = "USA"\n',
            ["bad.toml:7: [[shock]] #1 absorb", "'USA'"],
        ),
        (
            HEAD + '[[shock]]\ninstrument = "ntb"\nbetween = ["USA", "CHN", "JPN"]\nrate = 0.1\n',
            ["bad.toml:6: [[shock]] #1 between", "two sides"],
        ),
        (
            HEAD + '[[shock]]\ninstrument = "tariff"\nto = "USA"\nmode = "replace"\nrate = 0.1\n',
            ["bad.toml:7: [[shock]] #1 mode", "'replace'", "allowed: add, set"],
        ),
        (
            HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "x.csv"\n'
            'apply = "export_ban"\n',
            ["bad.toml:7: [[shock]] #1 apply", "'export_ban'", "not set per route", "ntb, tariff"],
        ),
        (
            HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "x.csv"\napply = "ntb"\n',
            ["bad.toml:6: [[shock]] #1 file", "no such file", "x.csv"],
        ),
        (
            HEAD + "[elasticities]\nesubm = { scale = 1.5, ELE = 2.0 }\n",
            ["bad.toml:5: [elasticities] esubm", "{ scale = x }"],
        ),
        (HEAD + "[groups]\nall = ['ELE']\n", ["bad.toml:5: [groups] all", "every sector"]),
    ],
)
def test_bad_input_is_refused_with_file_and_key(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    message = error(write(tmp_path, "bad.toml", text))
    for fragment in fragments:
        assert fragment in message


def test_baseline_on_another_dataset_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "other.toml", HEAD.replace("wiod2011_10x8", "gtap11"))
    message = error(write(tmp_path, "bad.toml", HEAD + 'baseline = "other"\n'))
    assert "bad.toml:4: [scenario] baseline" in message and "'gtap11'" in message


# export_tax, endowment, productivity

BLOCS = '[blocs]\nwest = ["USA", "EUR", "OAD", "JPN", "KOR"]\neast = ["CHN", "RUS"]\n'


def test_export_tax_adds_points_or_sets_the_rate(tmp_path: Path, sam: GlobalSAM) -> None:
    text = (
        HEAD + BLOCS + '[[shock]]\ninstrument = "export_tax"\nfrom = "west"\nto = "CHN"\n'
        'sectors = "strategic"\nrate = 0.1\n'
        '[[shock]]\ninstrument = "export_tax"\nfrom = "USA"\nto = "CHN"\nsectors = "ELE"\n'
        'mode = "set"\nrate = 0.05\n'
    )
    resolved = resolve(load_scenario(write(tmp_path, "t.toml", text)), sam)
    expected = sam.tx0.copy()
    for sector in STRATEGIC:
        for region in WEST:
            expected[I[sector], R[region], R["CHN"]] += 0.1
    expected[I["ELE"], R["USA"], R["CHN"]] = 0.05
    np.testing.assert_array_equal(resolved.shocks.tx, expected)
    np.testing.assert_array_equal(resolved.shocks.tm, sam.tm0)
    np.testing.assert_array_equal(resolved.shocks.tau, np.ones_like(sam.vxmd))
    assert resolved.shock_labels == (
        "export tax +10 points on strategic from west to CHN",
        "export tax set to 5% on ELE from USA to CHN",
    )


def test_endowment_of_a_factor_in_blocs_and_regions(tmp_path: Path, sam: GlobalSAM) -> None:
    text = (
        HEAD + BLOCS + '[[shock]]\ninstrument = "endowment"\nfactor = "va"\nregions = "west"\n'
        'rate = 0.1\n[[shock]]\ninstrument = "endowment"\nregions = ["east", "IND"]\n'
        "rate = -0.2\n"
    )
    resolved = resolve(load_scenario(write(tmp_path, "t.toml", text)), sam)
    expected = np.ones((1, len(REGIONS)))
    expected[0, [R[r] for r in WEST]] = 1.1
    expected[0, [R[r] for r in (*EAST, "IND")]] = 0.8
    np.testing.assert_allclose(resolved.shocks.endow, expected, rtol=1e-15)
    np.testing.assert_array_equal(resolved.shocks.A, np.ones((len(SECTORS), len(REGIONS))))
    assert resolved.shock_labels == (
        "endowment +10% of va in west",
        "endowment -20% of every factor in [east, IND]",
    )


def test_productivity_compounds_over_shocks(tmp_path: Path, sam: GlobalSAM) -> None:
    text = (
        HEAD + '[[shock]]\ninstrument = "productivity"\nsectors = "strategic"\nregions = "CHN"\n'
        'rate = 0.05\n[[shock]]\ninstrument = "productivity"\nsectors = ["ELE"]\nrate = 0.1\n'
    )
    resolved = resolve(load_scenario(write(tmp_path, "t.toml", text)), sam)
    expected = np.ones((len(SECTORS), len(REGIONS)))
    expected[[I[s] for s in STRATEGIC], R["CHN"]] = 1.05
    expected[I["ELE"], :] *= 1.1
    np.testing.assert_allclose(resolved.shocks.A, expected, rtol=1e-15)
    np.testing.assert_array_equal(resolved.shocks.endow, np.ones((1, len(REGIONS))))
    assert resolved.shock_labels == (
        "productivity +5% for strategic in CHN",
        "productivity +10% for ELE in every region",
    )


def test_bilateral_table_of_export_taxes(tmp_path: Path, sam: GlobalSAM) -> None:
    write(tmp_path, "tx.csv", "commodity,exporter,importer,rate\nCHM,JPN,KOR,0.3\n")
    path = write(
        tmp_path,
        "t.toml",
        HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "tx.csv"\napply = "export_tax"\n',
    )
    resolved = resolve(load_scenario(path), sam)
    expected = sam.tx0.copy()
    expected[I["CHM"], R["JPN"], R["KOR"]] += 0.3
    np.testing.assert_array_equal(resolved.shocks.tx, expected)
    assert resolved.shock_labels == ("export_tax per route from tx.csv (1 rows)",)


@pytest.mark.parametrize(
    ("shock", "fragments"),
    [
        (
            'instrument = "endowment"\nfactor = "lab"\nrate = 0.1\n',
            ["bad.toml:6: [[shock]] #1 factor", "unknown factor 'lab'", "allowed: all, va"],
        ),
        (
            'instrument = "endowment"\nfactor = ["va", "VA"]\nrate = 0.1\n',
            ["bad.toml:6: [[shock]] #1 factor", "'VA'", "did you mean 'va'"],
        ),
        (
            'instrument = "endowment"\nregions = "wset"\nrate = 0.1\n',
            ["bad.toml:6: [[shock]] #1 regions", "'wset'", "nonaligned, USA"],
        ),
        (
            'instrument = "productivity"\nregions = ["CHN", "CHA"]\nrate = 0.1\n',
            ["bad.toml:6: [[shock]] #1 regions", "unknown bloc or region 'CHA'", "CHN"],
        ),
        (
            'instrument = "productivity"\nsectors = "strategc"\nrate = 0.1\n',
            ["bad.toml:6: [[shock]] #1 sectors", "'strategc'", "all, strategic, AGF"],
        ),
        (
            'instrument = "export_tax"\nfrom = "USA"\nto = "CHN"\nrate = -1.5\n',
            [
                "bad.toml:8: [[shock]] #1 rate",
                "export tax on AGF from USA to CHN becomes -1.5",
                "1 + tx must stay > 0",
            ],
        ),
    ],
)
def test_new_instruments_refuse_unknown_codes(
    tmp_path: Path, sam: GlobalSAM, shock: str, fragments: list[str]
) -> None:
    message = resolve_error(write(tmp_path, "bad.toml", HEAD + "[[shock]]\n" + shock), sam)
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("shock", "fragments"),
    [
        (
            'instrument = "endowment"\nrate = -1\n',
            ["bad.toml:6: [[shock]] #1 rate", "must be > -1", "endowment is multiplied"],
        ),
        (
            'instrument = "productivity"\nsectors = "ELE"\nrate = -1.2\n',
            ["bad.toml:7: [[shock]] #1 rate", "rate = -1.2 must be > -1", "A is multiplied"],
        ),
        (
            'instrument = "export_tax"\nto = "USA"\nmode = "set"\nrate = -1\n',
            ["bad.toml:8: [[shock]] #1 rate", "must be > -1 (1 + tx > 0)"],
        ),
        ('instrument = "productivity"\nregions = "CHN"\n', ["[[shock]] #1", "missing key rate"]),
        (
            'instrument = "endowment"\nsectors = "ELE"\nrate = 0.1\n',
            ["bad.toml:6", "unknown key 'sectors'", "allowed: factor, instrument, rate, regions"],
        ),
        (
            'instrument = "endowment"\nfactor = 3\nrate = 0.1\n',
            ["bad.toml:6: [[shock]] #1 factor", "a name or a list of names"],
        ),
        (
            'instrument = "export_tax"\nsectors = "ELE"\nrate = 0.1\n',
            ["bad.toml:5: [[shock]] #1 instrument", "no route"],
        ),
        (
            'instrument = "bilateral_table"\nfile = "x.csv"\napply = "endowment"\n',
            ["bad.toml:7: [[shock]] #1 apply", "'endowment'", "not set per route"],
        ),
    ],
)
def test_new_instruments_refuse_bad_values(
    tmp_path: Path, shock: str, fragments: list[str]
) -> None:
    message = error(write(tmp_path, "bad.toml", HEAD + "[[shock]]\n" + shock))
    for fragment in fragments:
        assert fragment in message, message


# Inputs that would silently do nothing, or silently mean something else


def test_bloc_named_world_is_refused(tmp_path: Path) -> None:
    text = HEAD + '[blocs]\nWORLD = ["USA", "EUR"]\n'
    message = error(write(tmp_path, "bad.toml", text))
    assert "bad.toml:5: [blocs] WORLD" in message and "sums every region" in message


@pytest.mark.parametrize(
    "route",
    [
        'from = "USA"\nto = "USA"',
        'between = ["USA", "USA"]',
        'from = "solo"\nto = "solo"',
        'between = ["solo", "USA"]',
    ],
)
def test_route_from_a_region_to_itself_is_refused(
    tmp_path: Path, sam: GlobalSAM, route: str
) -> None:
    text = (
        HEAD + '[blocs]\nsolo = ["USA"]\n[[shock]]\ninstrument = "ntb"\n' + route + "\nrate = 1\n"
    )
    message = resolve_error(write(tmp_path, "bad.toml", text), sam)
    assert "bad.toml:8: [[shock]] #1" in message
    assert "only USA → USA, a region's trade with itself" in message


def test_bloc_to_itself_shocks_its_cross_routes(tmp_path: Path, sam: GlobalSAM) -> None:
    text = HEAD + '[blocs]\nduo = ["USA", "CHN"]\n[[shock]]\ninstrument = "ntb"\n'
    text += 'between = ["duo", "duo"]\nrate = 1\n'
    tau = resolve(load_scenario(write(tmp_path, "ok.toml", text)), sam).shocks.tau
    assert (tau[:, R["USA"], R["CHN"]] == 2.0).all() and (tau[:, R["CHN"], R["USA"]] == 2.0).all()
    assert (tau != 1.0).sum() == 2 * len(SECTORS)


def test_route_from_an_empty_nonaligned_bloc_is_refused(tmp_path: Path, sam: GlobalSAM) -> None:
    members = ", ".join(f'"{r}"' for r in REGIONS)
    text = HEAD + f"[blocs]\nall_of_them = [{members}]\n"
    text += '[[shock]]\ninstrument = "tariff"\nfrom = "nonaligned"\nrate = 0.1\n'
    message = resolve_error(write(tmp_path, "bad.toml", text), sam)
    assert "bad.toml:8: [[shock]] #1 from" in message
    assert "selects no pair of two different regions" in message


@pytest.mark.parametrize("instrument", ["ntb", "ntb_rent", "tariff", "export_tax", "export_ban"])
def test_route_without_benchmark_trade_is_refused(
    tmp_path: Path, sam: GlobalSAM, instrument: str
) -> None:
    """RUS→KOR carries no trade in the toy data: a wedge there changes nothing."""
    rate = "" if instrument == "export_ban" else "rate = 0.5\n"
    text = HEAD + f'[[shock]]\ninstrument = "{instrument}"\nfrom = "RUS"\nto = "KOR"\n{rate}'
    message = resolve_error(write(tmp_path, "bad.toml", text), sam)
    assert "bad.toml:4: [[shock]] #1:" in message
    assert "selects no route with benchmark trade, so it would change nothing" in message


def test_file_that_is_not_a_bilateral_table_is_not_echoed(tmp_path: Path) -> None:
    secret = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n"
    write(tmp_path, "passwd", secret)
    text = HEAD + '[[shock]]\ninstrument = "bilateral_table"\nfile = "passwd"\napply = "ntb"\n'
    message = error(write(tmp_path, "t.toml", text))
    assert f"{tmp_path / 'passwd'}:1: not a bilateral table" in message
    assert "columns commodity, exporter, importer, rate" in message
    assert "missing commodity, exporter, importer, rate; 1 other column(s)" in message
    for word in ("root", "bash", "daemon"):
        assert word not in message.replace(str(tmp_path), "")


def test_folder_named_like_a_builtin_dataset_is_refused_unless_written_as_a_path(
    tmp_path: Path,
) -> None:
    write_dataset(load_dataset("wiod2011_10x8"), tmp_path / "wiod2011_10x8")
    message = error(write(tmp_path, "t.toml", HEAD))
    assert "t.toml:3: [scenario] data" in message
    assert f"'wiod2011_10x8' is both a built-in dataset and the folder {tmp_path}" in message
    assert 'write data = "./wiod2011_10x8" for the folder' in message
    explicit = HEAD.replace('"wiod2011_10x8"', '"./wiod2011_10x8"')
    assert load_scenario(write(tmp_path, "u.toml", explicit)).data == tmp_path / "wiod2011_10x8"


def test_builtin_dataset_name_without_a_folder_beside_is_the_builtin(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, "t.toml", HEAD)).data == "wiod2011_10x8"
