"""Dataset folders: round trip, every kind of refusal, and the synthetic benchmarks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.calibration import accounts
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.calibration.validate import validate
from fragcge.errors import DatasetError

ARRAYS = (
    "vfm vdfm vifm vxmd vtwr vst to0 tf0 tdf0 tif0 tx0 tm0 esubd esubm esubva esubt esubc"
).split()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A valid dataset with every tax, margins and a specific factor, ready to corrupt."""
    path = tmp_path / "toy"
    write_dataset(synthetic_sam(), path)
    return path


def refusal(folder: Path) -> str:
    """The message of the DatasetError that loading ``folder`` raises."""
    with pytest.raises(DatasetError) as raised:
        load_dataset(folder)
    return str(raised.value)


def edit(path: Path, line: int, change: Callable[[list[str]], list[str]]) -> None:
    """Replace one line of a csv (the header is line 1) by ``change(fields)``."""
    lines = path.read_text().splitlines()
    lines[line - 1] = ",".join(change(lines[line - 1].split(",")))
    path.write_text("\n".join(lines) + "\n")


def test_round_trip_reproduces_every_array(tmp_path: Path) -> None:
    sam = synthetic_sam(4, 3, seed=1)
    write_dataset(sam, tmp_path / "a")
    back = load_dataset(tmp_path / "a")
    for name in ARRAYS:
        assert np.array_equal(getattr(back, name), getattr(sam, name)), name
    for name in ("name", "regions", "sectors", "factors", "factor_kind", "margins", "groups"):
        assert getattr(back, name) == getattr(sam, name), name
    assert (back.esubp, back.esubg, back.esubi) == (sam.esubp, sam.esubg, sam.esubi)
    assert back.meta == sam.meta
    assert back.region_names == sam.region_names and back.sector_names == sam.sector_names
    assert back.path == (tmp_path / "a").resolve()


def test_codes_that_look_like_missing_values_stay_codes(tmp_path: Path) -> None:
    sam = synthetic_sam()
    regions = ("NA", "NaN", "null")  # Namibia and friends
    renamed = dataclasses.replace(
        sam,
        regions=regions,
        region_names={r: r for r in regions},
        groups={"bloc": ("NA",)},
    )
    write_dataset(renamed, tmp_path / "a")
    back = load_dataset(tmp_path / "a")
    assert back.regions == regions and np.array_equal(back.vxmd, sam.vxmd)


def test_digest_is_stable_across_writes_and_follows_the_data(tmp_path: Path) -> None:
    sam = synthetic_sam()
    write_dataset(sam, tmp_path / "a")
    write_dataset(sam, tmp_path / "b")
    first, second = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    assert len(first.digest) == 64 and first.digest == second.digest
    write_dataset(dataclasses.replace(sam, esubp=sam.esubp + 1), tmp_path / "b")
    assert load_dataset(tmp_path / "b").digest != first.digest


def test_rewriting_a_folder_drops_tables_the_new_data_lack(tmp_path: Path) -> None:
    write_dataset(synthetic_sam(), tmp_path / "a")
    bare = synthetic_sam(taxes=False, margins=False)
    write_dataset(bare, tmp_path / "a")
    assert not (tmp_path / "a" / "output_taxes.csv").exists()
    assert load_dataset(tmp_path / "a").margins == ()


def test_missing_optional_columns_take_model_defaults(folder: Path) -> None:
    frame = pd.read_csv(folder / "elasticities.csv")
    frame.drop(columns=["esubm", "esubt", "esubc"]).to_csv(folder / "elasticities.csv", index=False)
    sam = load_dataset(folder)
    assert np.array_equal(sam.esubm, 2 * sam.esubd)  # GTAP's rule of two
    assert not sam.esubt.any() and not sam.esubc.any()


def test_unknown_dataset_names_the_built_in_ones() -> None:
    with pytest.raises(DatasetError, match="wiod2011_10x8"):
        load_dataset("no_such_dataset")


def test_builtin_wiod_dataset_loads_and_validates() -> None:
    sam = load_dataset("wiod2011_10x8")
    assert sam.shape[:2] == (10, 8)
    assert sam.meta["year"] == 2011 and sam.digest
    validate(sam)


def test_missing_column_is_named_with_the_expected_ones(folder: Path) -> None:
    frame = pd.read_csv(folder / "trade.csv")
    frame.drop(columns=["value"]).to_csv(folder / "trade.csv", index=False)
    message = refusal(folder)
    assert "trade.csv: missing column(s) 'value'" in message
    assert "expected columns commodity, exporter, importer, value" in message


def test_missing_dataset_toml_is_refused(folder: Path) -> None:
    (folder / "dataset.toml").unlink()
    assert "dataset.toml: missing from" in refusal(folder)


def test_missing_required_table_is_refused(folder: Path) -> None:
    (folder / "intermediate.csv").unlink()
    assert "intermediate.csv: required table missing" in refusal(folder)


def test_misspelt_table_is_refused(folder: Path) -> None:
    (folder / "output_taxes.csv").rename(folder / "output_tax.csv")
    assert "output_tax.csv: not a table of the dataset contract" in refusal(folder)


def test_unknown_region_code_names_file_column_value_and_allowed_codes(folder: Path) -> None:
    edit(folder / "factor_payments.csv", 2, lambda f: ["XX", *f[1:]])
    message = refusal(folder)
    assert "factor_payments.csv, column 'region'" in message
    assert "unknown region code 'XX' in line 2; allowed: R1, R2, R3" in message


def test_unknown_agent_and_source_codes_are_refused(folder: Path) -> None:
    edit(folder / "final_demand.csv", 2, lambda f: [f[0], "hh", f[2], "foreign", f[4]])
    message = refusal(folder)
    assert "column 'agent': unknown final agent code 'hh'" in message
    assert "allowed: household, government, investment" in message
    assert "column 'source': unknown source code 'foreign'" in message


def test_negative_flow_names_row_keys_and_value(folder: Path) -> None:
    region, sector, commodity, source, _ = (
        (folder / "intermediate.csv").read_text().split()[3].split(",")
    )
    edit(folder / "intermediate.csv", 4, lambda f: [*f[:-1], "-2.5"])
    message = refusal(folder)
    assert "intermediate.csv, column 'value': a flow must be >= 0" in message
    keys = f"region={region}, sector={sector}, commodity={commodity}, source={source}"
    assert f"line 4 ({keys}): -2.5" in message


def test_text_where_a_number_belongs_is_refused(folder: Path) -> None:
    edit(folder / "margins.csv", 2, lambda f: [*f[:-1], "abc"])
    assert "margins.csv, column 'value': not a finite number in line 2: 'abc'" in refusal(folder)


def test_tax_rates_out_of_range_are_refused(folder: Path) -> None:
    edit(folder / "output_taxes.csv", 2, lambda f: [*f[:-1], "1.5"])
    edit(folder / "trade_wedges.csv", 2, lambda f: [*f[:-1], "-1"])
    message = refusal(folder)
    assert "output_taxes.csv, column 'rate': an output tax rate" in message and "< 1" in message
    assert "trade_wedges.csv, column 'tariff': a tax rate must be > -1" in message


def test_negative_elasticity_is_refused(folder: Path) -> None:
    edit(folder / "elasticities.csv", 3, lambda f: [f[0], "-1", *f[2:]])
    assert "elasticities.csv, column 'esubd': an elasticity must be >= 0" in refusal(folder)


def test_duplicate_row_is_refused(folder: Path) -> None:
    lines = (folder / "trade.csv").read_text().splitlines()
    (folder / "trade.csv").write_text("\n".join([*lines, lines[2]]) + "\n")
    commodity, exporter, importer, _ = lines[2].split(",")
    message = refusal(folder)
    key = f"commodity={commodity}, exporter={exporter}, importer={importer}"
    assert f"trade.csv: duplicate key ({key}) in line 3, line {len(lines) + 1}" in message


def test_exporter_equal_to_importer_is_refused(folder: Path) -> None:
    commodity, exporter, _, _ = (folder / "trade.csv").read_text().split()[1].split(",")
    edit(folder / "trade.csv", 2, lambda f: [f[0], f[1], f[1], f[3]])
    message = refusal(folder)
    assert "trade.csv: exporter = importer in 1 row(s)" in message
    assert f"line 2 (commodity={commodity}, exporter={exporter}, importer={exporter})" in message


def test_bad_factor_kind_is_refused(folder: Path) -> None:
    toml = folder / "dataset.toml"
    toml.write_text(toml.read_text().replace('lab = "mobile"', 'lab = "fixed"'))
    message = refusal(folder)
    assert "dataset.toml: [factors] lab = 'fixed'" in message
    assert "'mobile' or 'specific'" in message


def test_broken_trade_value_breaks_both_markets_with_codes_and_gap(folder: Path) -> None:
    commodity, exporter, importer, _ = (folder / "trade.csv").read_text().splitlines()[1].split(",")
    edit(folder / "trade.csv", 2, lambda f: [*f[:-1], repr(float(f[-1]) + 0.5)])
    message = refusal(folder)
    assert "tolerance of 1e-06" in message
    domestic = next(m for m in message.splitlines() if "domestic market" in m)
    assert f"commodity {commodity}, region {exporter}" in domestic and "trade.csv" in domestic
    assert "gap -0.5," in domestic and "of the account (tolerance 1e-06 relative)" in domestic
    imported = next(m for m in message.splitlines() if "import market" in m)
    assert f"commodity {commodity}, region {importer}" in imported


def test_margin_supply_must_equal_use(folder: Path) -> None:
    edit(folder / "margin_supply.csv", 2, lambda f: [*f[:-1], "7"])
    message = refusal(folder)
    assert "margin supply = use, margin S3, world (margin_supply.csv, margins.csv)" in message


def test_every_failure_is_reported_at_once(folder: Path) -> None:
    toml = folder / "dataset.toml"
    toml.write_text(toml.read_text().replace('lab = "mobile"', 'lab = "fixed"'))
    edit(folder / "intermediate.csv", 4, lambda f: [*f[:-1], "-2.5"])
    edit(folder / "trade.csv", 2, lambda f: ["S9", *f[1:]])
    message = refusal(folder)
    assert "3 problem(s)" in message
    assert "dataset.toml" in message and "intermediate.csv" in message and "'S9'" in message


def test_pyarrow_missing_is_said_plainly(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pyarrow(*args, **kwargs):
        raise ImportError("pyarrow")

    monkeypatch.setattr(pd, "read_parquet", no_pyarrow)
    (folder / "trade.csv").rename(folder / "trade.parquet")
    assert "trade.parquet: reading .parquet needs pyarrow" in refusal(folder)


def test_validate_names_array_cells_of_an_in_memory_sam() -> None:
    sam = synthetic_sam()
    vxmd = sam.vxmd.copy()
    vxmd[0, 1, 2] = -1.0
    with pytest.raises(DatasetError) as raised:
        validate(dataclasses.replace(sam, vxmd=vxmd))
    message = str(raised.value)
    assert "'synthetic' (in memory)" in message
    assert "trade, column 'value': a flow must be >= 0" in message
    assert "vxmd[commodity=S1, exporter=R2, importer=R3] = -1" in message


def test_sector_that_sells_without_inputs_fails_zero_profit() -> None:
    sam = synthetic_sam()
    vfm, vdfm, vifm = sam.vfm.copy(), sam.vdfm.copy(), sam.vifm.copy()
    for flows in (vfm, vdfm, vifm):
        flows[:, 1, 0] = 0.0  # sector S2 of region R1 buys nothing
    with pytest.raises(DatasetError, match="zero profit, sector S2, region R1"):
        validate(dataclasses.replace(sam, vfm=vfm, vdfm=vdfm, vifm=vifm))


@pytest.mark.parametrize(
    ("n_regions", "n_sectors", "seed"), [(2, 1, 0), (3, 3, 1), (4, 2, 2), (5, 4, 3), (6, 5, 4)]
)
def test_synthetic_benchmarks_are_exactly_balanced(
    n_regions: int, n_sectors: int, seed: int
) -> None:
    sam = synthetic_sam(n_regions, n_sectors, seed=seed)
    validate(sam)
    scale = accounts.vom(sam).max()
    assert np.abs(accounts.domestic_supply_gap(sam)).max() < 1e-12 * scale
    assert np.abs(accounts.import_market_gap(sam)).max() < 1e-12 * scale
    assert np.abs(accounts.margin_gap(sam)).max() < 1e-12 * scale
    assert abs(accounts.vb(sam).sum()) < 1e-12 * accounts.expenditure(sam).sum()


def test_synthetic_benchmark_has_every_feature() -> None:
    sam = synthetic_sam()
    for rate in ("to0", "tf0", "tdf0", "tif0", "tx0", "tm0"):
        assert np.count_nonzero(getattr(sam, rate)) > 0, rate
    assert sam.margins == ("S3",) and sam.vst.all() and sam.vtwr.any()
    assert sam.specific == ("res",) and sam.mobile == ("lab", "cap")
    assert (accounts.final_demand(sam) > 0).all()  # hh, gov and inv buy in every region
    assert np.abs(accounts.vb(sam)).min() > 0
    assert (accounts.vom(sam) > 0).all() and (accounts.evom(sam) > 0).all()


def test_synthetic_minimal_armington_case() -> None:
    sam = synthetic_sam(
        3,
        1,
        taxes=False,
        margins=False,
        factors=("va",),
        specific=(),
        intermediates=False,
        final_agents=("hh",),
        balanced=True,
    )
    validate(sam)
    assert sam.margins == () and sam.factors == ("va",)
    assert not any(getattr(sam, t).any() for t in ("to0", "tf0", "tdf0", "tif0", "tx0", "tm0"))
    assert not sam.vdfm[:, :1].any() and not sam.vifm[:, :1].any()
    assert not accounts.final_demand(sam)[1:].any()
    assert np.abs(accounts.vb(sam)).max() < 1e-12 * accounts.expenditure(sam).max()


def test_synthetic_proportional_sourcing_gives_every_agent_one_import_share() -> None:
    sam = synthetic_sam(taxes=("tm0",), proportional_sourcing=True)
    validate(sam)
    bought = sam.vdfm + sam.vifm
    share = np.divide(sam.vifm, bought, out=np.zeros_like(bought), where=bought > 0)
    for i in range(len(sam.sectors)):
        for r in range(len(sam.regions)):
            assert np.ptp(share[i, bought[i, :, r] > 0, r]) < 1e-12


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN", "Infinity"])
@pytest.mark.parametrize("table", ["trade", "elasticities", "output_taxes"])
def test_non_finite_numbers_get_the_named_error_of_an_empty_cell(
    folder: Path, table: str, text: str
) -> None:
    header = (folder / f"{table}.csv").read_text().splitlines()[0].split(",")
    edit(folder / f"{table}.csv", 2, lambda f: [*f[:-1], text])
    assert f"{table}.csv, column '{header[-1]}': not a finite number in line 2: {text!r}" in (
        refusal(folder)
    )


@pytest.mark.parametrize(
    "name", [".#trade.csv", ".trade.csv.swp", "~$trade.xlsx", "#trade.csv#", "trade.csv~"]
)
def test_editor_lock_and_backup_files_are_ignored(folder: Path, name: str) -> None:
    from fragcge.calibration.dataset import dataset_signature

    before = load_dataset(folder)
    (folder / name).write_text("not, a, table\n")
    after = load_dataset(folder)
    assert after.digest == before.digest
    assert name not in [entry[0] for entry in dataset_signature(folder)[1]]


def test_dangling_lock_symlink_is_ignored(folder: Path) -> None:
    """Emacs's lock file is a symbolic link to a name that does not exist."""
    from fragcge.calibration.dataset import dataset_signature

    (folder / ".#trade.csv").symlink_to("user@host.1234:1700000000")
    dataset_signature(folder)
    assert np.array_equal(load_dataset(folder).vxmd, synthetic_sam().vxmd)


def test_dangling_symlink_where_a_table_belongs_is_named(folder: Path) -> None:
    from fragcge.calibration.dataset import dataset_signature

    (folder / "trade.csv").unlink()
    (folder / "trade.csv").symlink_to(folder / "moved" / "trade.csv")
    dataset_signature(folder)  # a cache key: the error is load_dataset's to give
    message = refusal(folder)
    assert (
        f"trade.csv: a symbolic link to {folder / 'moved' / 'trade.csv'}, which does not exist"
        in (message)
    )
    assert "required table missing" not in message


def test_dangling_symlink_for_another_file_is_not_a_table(folder: Path) -> None:
    (folder / "notes.csv").symlink_to(folder / "gone.csv")
    assert "notes.csv: not a table of the dataset contract" in refusal(folder)


def test_byte_order_mark_in_dataset_toml_is_accepted(folder: Path) -> None:
    toml = folder / "dataset.toml"
    toml.write_bytes(b"\xef\xbb\xbf" + toml.read_bytes())
    assert load_dataset(folder).regions == synthetic_sam().regions


def _header(folder: Path, n_regions: int, n_sectors: int) -> None:
    """dataset.toml declaring this many regions and sectors, one mobile factor."""
    lines = ['name = "big"', "[regions]", *(f'R{k} = "r"' for k in range(n_regions))]
    lines += ["[sectors]", *(f'S{k} = "s"' for k in range(n_sectors))]
    lines += ["[factors]", 'lab = "mobile"']
    (folder / "dataset.toml").write_text("\n".join(lines) + "\n")


def test_a_dataset_too_large_to_solve_is_refused_before_anything_is_allocated(
    folder: Path,
) -> None:
    _header(folder, 20_000, 8)  # a 350 KB header that would need terabytes
    message = refusal(folder)
    # 500 arrays of 8 × 20,000² route cells and 8 × 11 × 20,000 purchase cells, 8 bytes each
    gib = 500 * 8 * (8 * 20_000**2 + 8 * 11 * 20_000) / 2**30
    assert f"20,000 regions × 8 sectors needs ~{gib:,.0f} GiB" in message
    assert "limit 16 GiB" in message and "1 problem(s)" in message


def test_gtap_size_passes_the_size_check(folder: Path) -> None:
    _header(folder, 141, 65)
    message = refusal(folder)  # the tables do not match the header; the size is fine
    assert "GiB" not in message and "elasticities.csv: no row for sector(s) S0, S4" in message
