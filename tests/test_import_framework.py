"""The import framework: aggregation of a GlobalSAM keeps every account and the benchmark,
tax rates aggregate to revenue over base, GTAPAgg's elasticity weights, map refusals, and
import_dataset / `fragcge data import` writing a folder that `fragcge check` passes, or
nothing at all."""

from __future__ import annotations

import argparse
import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.calibration import accounts
from fragcge.calibration.aggregate import CodeMap, identity_map, read_map
from fragcge.calibration.aggregate_sam import aggregate_sam
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset, write_dataset, write_dataset_files
from fragcge.calibration.elasticity_weights import (
    aggregate_elasticities,
    elasticity_weights,
)
from fragcge.calibration.importers import Imported, Importer, import_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.calibration.validate import validate
from fragcge.cli import main
from fragcge.errors import DatasetError, OutputError
from fragcge.model.cge import CGEModel
from fragcge.model.checks import replication, run_checks

REGIONS = {"R1": "NORTH", "R2": "NORTH", "R3": "SOUTH", "R4": "EAST"}
SECTORS = {"S1": "GOODS", "S2": "GOODS", "S3": "FOOD", "S4": "SERVICES"}  # S4 is the margin


@pytest.fixture(scope="module")
def source():
    """4 regions x 4 sectors, every tax, margins (sector S4), a specific factor."""
    return synthetic_sam(4, 4, seed=11)


@pytest.fixture(scope="module")
def aggregated(source):
    return aggregate_sam(source, CodeMap("regions", REGIONS), CodeMap("sectors", SECTORS))


def summed(values: np.ndarray, codes: tuple[str, ...], groups: dict[str, str]) -> dict:
    """Sum a vector over the codes of each group, by a plain loop."""
    out: dict[str, float] = defaultdict(float)
    for code, value in zip(codes, values, strict=True):
        out[groups[code]] += float(value)
    return dict(out)


def by_code(values: np.ndarray, codes: tuple[str, ...]) -> dict:
    return {code: float(v) for code, v in zip(codes, values, strict=True)}


def close(left: dict, right: dict) -> None:
    assert left.keys() == right.keys()
    for key in left:
        assert left[key] == pytest.approx(right[key], rel=1e-12, abs=1e-9), key


# aggregate_sam: accounts, identities, benchmark


def test_aggregate_is_valid_and_replicates(aggregated) -> None:
    sam, _ = aggregated
    validate(sam)
    check = replication(CGEModel(calibrate(sam)))
    assert check.passed, check.detail


def test_regional_accounts_are_sums_of_members(source, aggregated) -> None:
    sam, _ = aggregated
    assert sam.regions == ("NORTH", "SOUTH", "EAST")
    for account in (accounts.income, accounts.expenditure, accounts.vb, accounts.tax_revenue):
        close(summed(account(source), source.regions, REGIONS), by_code(account(sam), sam.regions))
    endowments = accounts.evom(source).sum(axis=0)
    close(
        summed(endowments, source.regions, REGIONS), by_code(accounts.evom(sam).sum(0), sam.regions)
    )


def test_output_by_aggregate_sector_and_region_is_the_sum(source, aggregated) -> None:
    sam, _ = aggregated
    vom = accounts.vom(source)
    expected: dict[tuple[str, str], float] = defaultdict(float)
    for j, sector in enumerate(source.sectors):
        for r, region in enumerate(source.regions):
            expected[SECTORS[sector], REGIONS[region]] += vom[j, r]
    got = accounts.vom(sam)
    for (sector, region), value in expected.items():
        k, r = sam.sectors.index(sector), sam.regions.index(region)
        assert got[k, r] == pytest.approx(value, rel=1e-12)


def test_trade_within_an_aggregate_becomes_domestic(source, aggregated) -> None:
    sam, _ = aggregated
    # Trade between different aggregates is kept; R1 <-> R2 (both NORTH) disappears.
    kept = sum(
        source.vxmd[i, r, s]
        for i in range(4)
        for r in range(4)
        for s in range(4)
        if REGIONS[source.regions[r]] != REGIONS[source.regions[s]] and source.sectors[i] != "S4"
    )
    goods = [sam.sectors.index(s) for s in ("GOODS", "FOOD")]
    assert sam.vxmd[goods].sum() == pytest.approx(kept, rel=1e-12)
    # World margin services: what carried NORTH's internal trade is now bought directly.
    inside = sum(
        source.vtwr[0, i, r, s]
        for i in range(4)
        for r in range(4)
        for s in range(4)
        if r != s and REGIONS[source.regions[r]] == REGIONS[source.regions[s]]
    )
    assert inside > 0
    assert accounts.vtw(sam).sum() == pytest.approx(accounts.vtw(source).sum() - inside, rel=1e-12)


def test_margin_commodity_survives_aggregation(aggregated) -> None:
    sam, _ = aggregated
    assert sam.margins == ("SERVICES",)


def test_identity_maps_give_back_the_source(source) -> None:
    same, _ = aggregate_sam(source, None, None)
    for name in ("vfm", "vdfm", "vifm", "vxmd", "vtwr", "vst"):
        np.testing.assert_array_equal(getattr(same, name), getattr(source, name))
    for name in ("to0", "tf0", "tdf0", "tif0", "tx0", "tm0", "esubd", "esubva"):
        np.testing.assert_allclose(getattr(same, name), getattr(source, name), rtol=1e-12)


def test_no_tax_in_the_source_means_exactly_zero_rates() -> None:
    untaxed = synthetic_sam(4, 4, seed=11, taxes=False)
    sam, _ = aggregate_sam(untaxed, CodeMap("r", REGIONS), CodeMap("s", SECTORS))
    for name in ("to0", "tf0", "tdf0", "tif0", "tx0", "tm0"):
        assert not getattr(sam, name).any(), name


# tax rates: revenue over base


def test_output_and_factor_tax_rates_are_revenue_over_base(source, aggregated) -> None:
    sam, _ = aggregated
    vom = accounts.vom(source)
    revenue, base = defaultdict(float), defaultdict(float)
    for j, sector in enumerate(source.sectors):
        for r, region in enumerate(source.regions):
            key = SECTORS[sector], REGIONS[region]
            revenue[key] += source.to0[j, r] * vom[j, r]
            base[key] += vom[j, r]
    for (sector, region), value in revenue.items():
        k, r = sam.sectors.index(sector), sam.regions.index(region)
        assert sam.to0[k, r] == pytest.approx(value / base[sector, region], rel=1e-12)
    net = source.vfm / (1 + source.tf0)
    f = source.factors.index("lab")
    paid = sum(source.vfm[f, j, r] - net[f, j, r] for j in (0, 1) for r in (0, 1))
    earned = sum(net[f, j, r] for j in (0, 1) for r in (0, 1))
    assert sam.tf0[f, 0, 0] == pytest.approx(paid / earned, rel=1e-12)  # GOODS in NORTH


def test_tariff_and_export_tax_rates_are_revenue_over_base(source) -> None:
    # Sectors only: every route survives, so each aggregate route is a sum of source routes.
    sam, _ = aggregate_sam(source, None, CodeMap("s", SECTORS))
    cif = accounts.cif(source)
    for s_to in range(4):
        for r_from in range(4):
            if r_from == s_to:
                continue
            tariffs = sum(source.tm0[i, r_from, s_to] * cif[i, r_from, s_to] for i in (0, 1))
            export_tax = sum(
                source.tx0[i, r_from, s_to] * source.vxmd[i, r_from, s_to] for i in (0, 1)
            )
            goods = sam.sectors.index("GOODS")
            assert sam.tm0[goods, r_from, s_to] * accounts.cif(sam)[goods, r_from, s_to] == (
                pytest.approx(tariffs, rel=1e-12)
            )
            assert sam.tx0[goods, r_from, s_to] * sam.vxmd[goods, r_from, s_to] == (
                pytest.approx(export_tax, rel=1e-12)
            )


# elasticities: GTAPAgg's weights


def test_weighted_means_worked_by_hand() -> None:
    values = pd.DataFrame(
        {"esubd": [2.0, 4.0, 3.0], "esubva": [0.5, 1.5, 1.0]}, index=["a", "b", "c"]
    )
    weights = pd.DataFrame(
        {"esubd": [1.0, 3.0, 7.0], "esubva": [0.0, 0.0, 2.0]}, index=values.index
    )
    out = aggregate_elasticities(values, weights, CodeMap("m", {"a": "X", "b": "X", "c": "Y"}))
    assert out.loc["X", "esubd"] == pytest.approx((2 * 1 + 4 * 3) / 4)  # 3.5
    assert out.loc["Y", "esubd"] == 3.0
    assert out.loc["X", "esubva"] == pytest.approx(1.0)  # zero weights: unweighted mean
    assert list(out.index) == ["X", "Y"]


def test_weights_are_the_world_flows_of_the_written_tables(source, tmp_path: Path) -> None:
    """Weights recomputed from the dataset's CSV files with pandas, not from the arrays."""
    write_dataset(source, tmp_path / "d")
    read = {n: pd.read_csv(tmp_path / "d" / f"{n}.csv") for n in ("intermediate", "final_demand")}
    use = pd.concat(read.values()).groupby("commodity")["value"].sum()
    trade = pd.read_csv(tmp_path / "d" / "trade.csv")
    wedges = pd.read_csv(tmp_path / "d" / "trade_wedges.csv")
    margins = pd.read_csv(tmp_path / "d" / "margins.csv")
    route = ["commodity", "exporter", "importer"]
    routes = trade.merge(wedges, on=route, how="left").fillna(0.0)
    routes = routes.merge(
        margins.groupby(route)["value"].sum().rename("margin").reset_index(), on=route, how="left"
    ).fillna(0.0)
    vims = (routes["value"] * (1 + routes["export_tax"]) + routes["margin"]) * (
        1 + routes["tariff"]
    )
    imports = vims.groupby(routes["commodity"]).sum()
    value_added = pd.read_csv(tmp_path / "d" / "factor_payments.csv").groupby("sector")["value"]
    weights = elasticity_weights(source)
    for sector in source.sectors:
        assert weights.loc[sector, "esubd"] == pytest.approx(use[sector], rel=1e-12)
        assert weights.loc[sector, "esubm"] == pytest.approx(imports[sector], rel=1e-12)
        assert weights.loc[sector, "esubva"] == pytest.approx(value_added.sum()[sector], rel=1e-12)


def test_aggregate_elasticity_is_the_weighted_mean_of_members(source, aggregated) -> None:
    sam, table = aggregated
    use = (source.vdfm + source.vifm).sum(axis=(1, 2))
    goods = sam.sectors.index("GOODS")
    expected = (source.esubd[0] * use[0] + source.esubd[1] * use[1]) / (use[0] + use[1])
    assert sam.esubd[goods] == pytest.approx(expected, rel=1e-12)
    shares = table.set_index("code")
    assert shares.loc["S1", "esubd_share"] == pytest.approx(use[0] / (use[0] + use[1]))
    assert sam.esubva[sam.sectors.index("FOOD")] == source.esubva[2]


# maps: every refusal is named


@pytest.mark.parametrize(
    "text, message",
    [
        ("code,group\nR1,A\nR2,B\nR1,C\n", r"regions\.csv: code R1 is mapped twice"),
        ("code,group\nR1,A\n,B\n", r"regions\.csv: line 3: blank code or group"),
        ("region,country\nA,R1\n", r"regions\.csv: a map file needs the columns code,group"),
        ("code,group\n", r"regions\.csv: the map file has no rows"),
    ],
)
def test_bad_map_file_is_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "regions.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message):
        read_map(path)


def test_map_missing_or_inventing_a_code_is_refused(source, tmp_path: Path) -> None:
    path = tmp_path / "regions.csv"
    path.write_text("code,group\nR1,A\nR2,A\nR3,B\n")
    with pytest.raises(DatasetError, match=r"regions\.csv: region R4 not mapped"):
        aggregate_sam(source, read_map(path), None)
    path.write_text("group,code\nA,R1\nA,R2\nB,R3\nB,R4\nC,R9\n")
    with pytest.raises(DatasetError, match=r"regions\.csv: region R9 not in the table"):
        aggregate_sam(source, read_map(path), None)


# import_dataset and the command line


def fake_importer(sam) -> Importer:
    def read(path: Path, options: argparse.Namespace) -> Imported:
        if not path.is_file():
            raise DatasetError(f"{path}: not found")
        return Imported(sam=sam, notes=("made up by the test",))

    return Importer("fake", "a test source", lambda parser: None, read)


def test_import_writes_a_checked_dataset_with_its_readme(source, tmp_path: Path) -> None:
    (tmp_path / "src.txt").write_text("x")
    (tmp_path / "regions.csv").write_text(
        "code,group\n" + "".join(f"{c},{g}\n" for c, g in REGIONS.items())
    )
    out = tmp_path / "imported"
    sam = import_dataset(
        fake_importer(source),
        tmp_path / "src.txt",
        out,
        argparse.Namespace(),
        tmp_path / "regions.csv",
        None,
    )
    assert sam.path == out.resolve() and sam.regions == ("NORTH", "SOUTH", "EAST")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imported", "regions.csv", "src.txt"]
    assert all(c.passed for c in run_checks(CGEModel(calibrate(load_dataset(out)))))
    readme = (out / "README.md").read_text()
    assert "made up by the test" in readme and "NORTH: R1 R2" in readme
    assert "| GOODS | S1 |" not in readme and "| NORTH |" not in readme  # sectors unmapped


def test_import_refuses_an_existing_folder_and_keeps_it(source, tmp_path: Path) -> None:
    (tmp_path / "src.txt").write_text("x")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(OutputError, match=r"mine is a folder fragcge did not write"):
        import_dataset(
            fake_importer(source), tmp_path / "src.txt", out, argparse.Namespace(), None, None
        )
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "precious"


def test_import_replaces_a_dataset_folder_it_wrote_whole(source, tmp_path: Path) -> None:
    (tmp_path / "src.txt").write_text("x")
    out = tmp_path / "data"
    importer = fake_importer(source)
    import_dataset(importer, tmp_path / "src.txt", out, argparse.Namespace(), None, None)
    (out / "stray.csv").write_text("left by hand")
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "stray.csv"}
    import_dataset(importer, tmp_path / "src.txt", out, argparse.Namespace(), None, None)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_import_that_fails_validation_writes_nothing(source, tmp_path: Path) -> None:
    (tmp_path / "src.txt").write_text("x")
    broken = dataclasses.replace(source, vxmd=source.vxmd * 1.01)
    with pytest.raises(DatasetError, match="import market"):
        import_dataset(
            fake_importer(broken),
            tmp_path / "src.txt",
            tmp_path / "o",
            argparse.Namespace(),
            None,
            None,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.txt"]


WIOD_Z = """supplier,A_s1,A_s2,B_s1,B_s2,C_s1,C_s2
A_s1,10,5,4,1,3,0
A_s2,4,8,2,0,1,2
B_s1,3,1,20,6,2,1
B_s2,0,2,1,9,0,3
C_s1,2,0,3,1,12,4
C_s2,1,1,0,2,5,7
"""
WIOD_F = """supplier,A_HH,A_GOV,A_GFCF,B_HH,B_GOV,B_GFCF,C_HH,C_GOV,C_GFCF
A_s1,50,5,10,6,0,1,4,0,0
A_s2,30,10,0,1,0,0,2,1,0
B_s1,4,0,0,40,20,15,3,0,2
B_s2,0,0,1,30,5,0,1,0,0
C_s1,2,0,0,3,0,0,45,8,6
C_s2,0,1,0,0,0,2,25,4,3
"""


def test_command_line_imports_a_wiod_table_that_check_passes(tmp_path: Path) -> None:
    source = tmp_path / "table"
    source.mkdir()
    (source / "intermediate.csv").write_text(WIOD_Z)
    (source / "final_demand.csv").write_text(WIOD_F)
    z = pd.read_csv(source / "intermediate.csv", index_col=0)
    f = pd.read_csv(source / "final_demand.csv", index_col=0)
    output = z.sum(axis=1) + f.sum(axis=1)
    output.rename("gross_output").rename_axis("supplier").reset_index().to_csv(
        source / "gross_output.csv", index=False
    )
    (tmp_path / "elasticities.csv").write_text(
        "sector,esubd,esubm,esubva,esubt,esubc,source\ns1,2,4,1,0,0,test\ns2,3,6,0.5,0,0,test\n"
    )
    (tmp_path / "regions.csv").write_text("code,group\nA,AB\nB,AB\nC,C\n")
    (tmp_path / "sectors.csv").write_text("code,group\ns1,ALL\ns2,ALL\n")
    out = tmp_path / "ds"
    status = main(
        ["data", "import", "wiod", str(source), "--out", str(out),
         "--regions", str(tmp_path / "regions.csv"), "--sectors", str(tmp_path / "sectors.csv"),
         "--elasticities", str(tmp_path / "elasticities.csv")]
    )  # fmt: skip
    assert status == 0
    assert main(["check", "--data", str(out)]) == 0
    sam = load_dataset(out)
    assert sam.regions == ("AB", "C") and sam.sectors == ("ALL",)
    assert accounts.vom(sam).sum() == pytest.approx(output.sum(), rel=1e-12)
    # International trade left: every flow between {A, B} and C, by hand from the CSVs.
    flows = pd.concat([z, f], axis=1)
    seller = flows.index.str[0]
    buyer = flows.columns.str[0]
    between = np.not_equal.outer(seller == "C", buyer == "C")
    assert sam.vxmd.sum() == pytest.approx(flows.to_numpy()[between].sum(), rel=1e-12)
    # GTAPAgg weights at the source's resolution: world use, world (A, B, C) imports.
    use = flows.sum(axis=1).groupby(flows.index.str[2:]).sum()
    foreign = np.not_equal.outer(seller, buyer)
    imports = pd.Series((flows.to_numpy() * foreign).sum(axis=1), index=flows.index)
    imports = imports.groupby(flows.index.str[2:]).sum()
    assert sam.esubd[0] == pytest.approx((2 * use["s1"] + 3 * use["s2"]) / use.sum(), rel=1e-12)
    assert sam.esubm[0] == pytest.approx((4 * imports["s1"] + 6 * imports["s2"]) / imports.sum())


def test_command_line_names_a_bad_map_and_writes_nothing(tmp_path: Path, capsys) -> None:
    (tmp_path / "regions.csv").write_text("code,group\nA,X\nA,Y\n")
    status = main(
        ["data", "import", "wiod", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
         "--regions", str(tmp_path / "regions.csv")]
    )  # fmt: skip
    assert status == 2
    assert "regions.csv: code A is mapped twice" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_identity_map_is_used_when_no_map_is_given(source) -> None:
    sam, table = aggregate_sam(source, identity_map(source.regions), None)
    assert sam.regions == source.regions and list(table["code"]) == list(source.sectors)


def test_groups_survive_when_whole_and_are_dropped_with_a_note_otherwise(source, tmp_path) -> None:
    grouped = dataclasses.replace(source, groups={"north": ("R1", "R2"), "split": ("R1", "R3")})
    sam, _ = aggregate_sam(grouped, CodeMap("r", REGIONS), None)
    assert sam.groups == {"north": ("NORTH",)}
    (tmp_path / "src.txt").write_text("x")
    (tmp_path / "regions.csv").write_text(
        "code,group\n" + "".join(f"{c},{g}\n" for c, g in REGIONS.items())
    )
    out = tmp_path / "o"
    import_dataset(
        fake_importer(grouped), tmp_path / "src.txt", out, argparse.Namespace(),
        tmp_path / "regions.csv", None,
    )  # fmt: skip
    assert "group split dropped: its members split an aggregate" in (out / "README.md").read_text()
    assert load_dataset(out).groups == {"north": ("NORTH",)}


def test_ctrl_c_during_an_import_exits_130_and_writes_nothing(source, tmp_path, monkeypatch):
    def interrupted(sam):
        def write_then_stop(sam, folder):
            write_dataset_files(sam, folder)  # the staging folder exists when Ctrl-C comes
            raise KeyboardInterrupt

        monkeypatch.setattr("fragcge.calibration.importers.write_dataset_files", write_then_stop)
        return fake_importer(sam)

    importer = interrupted(source)
    monkeypatch.setattr(
        "fragcge.calibration.importers.__getattr__", lambda name: {"fake": importer}
    )
    monkeypatch.delattr("fragcge.calibration.importers.IMPORTERS", raising=False)
    (tmp_path / "src.txt").write_text("x")
    status = main(
        ["data", "import", "fake", str(tmp_path / "src.txt"), "--out", str(tmp_path / "o")]
    )
    assert status == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.txt"]


def test_unreadable_source_is_named_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    source = tmp_path / "table"
    source.mkdir()
    (source / "intermediate.csv").write_text("supplier,A_s1\nA_s1,-5\n")
    (source / "final_demand.csv").write_text("supplier,A_HH\nA_s1,10\n")
    (source / "gross_output.csv").write_text("supplier,gross_output\nA_s1,5\n")
    status = main(["data", "import", "wiod", str(source), "--out", str(tmp_path / "o")])
    assert status == 2
    assert f"{source / 'intermediate.csv'}: A_s1 supplies -5 to A_s1" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table"]


@pytest.mark.parametrize(
    "regions, sectors",
    [
        ({"R1": "A", "R2": "B", "R3": "A", "R4": "B"}, None),  # two blocs, all trade merged
        (None, {"S1": "X", "S2": "Y", "S3": "Y", "S4": "Y"}),  # the margin merged with goods
        (
            {"R1": "A", "R2": "A", "R3": "A", "R4": "B"},
            {"S1": "X", "S2": "X", "S3": "X", "S4": "M"},
        ),
    ],
)
def test_other_maps_keep_the_benchmark(source, regions, sectors) -> None:
    sam, _ = aggregate_sam(
        source,
        CodeMap("r", regions) if regions else None,
        CodeMap("s", sectors) if sectors else None,
    )
    validate(sam)
    assert replication(CGEModel(calibrate(sam))).passed
    world = accounts.tax_revenue(source).sum()
    assert accounts.tax_revenue(sam).sum() == pytest.approx(world, rel=1e-12)
    assert accounts.vom(sam).sum() == pytest.approx(accounts.vom(source).sum(), rel=1e-12)
