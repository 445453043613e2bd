"""The `sam` importer: a SAM written by this test from a synthetic economy (its own route
from the GlobalSAM's arrays to cells, with income paid along other lines than fragcge's
own writer uses) comes back as the same economy, replicates, and every bad input is refused
by name with nothing written."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.calibration import accounts, sam_cells
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.importers import IMPORTERS, import_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.cli import main
from fragcge.errors import DatasetError
from fragcge.model.cge import CGEModel
from fragcge.model.checks import replication

ARRAYS = "vfm vdfm vifm vxmd vtwr vst to0 tf0 tdf0 tif0 tx0 tm0".split()
ESUB = ("esubd", "esubm", "esubva", "esubt", "esubc")


def sam_of(sam) -> tuple[list[tuple[str, str, str, str, str]], dict[tuple[str, str], float]]:
    """The account map and the cells {(row, column): value} of ``sam``, by the format's
    definitions in docs/data.md: taxes on their own accounts, factor income to the
    household, tax revenue to the government, which passes its surplus to the household;
    the household pays investment its savings and trades transfers with the world."""
    accounts: list[tuple[str, str, str, str, str]] = []
    cells: dict[tuple[str, str], float] = {}

    def acc(name: str, region: str, role: str, code: str = "", partner: str = "") -> str:
        if name not in {a[0] for a in accounts}:
            accounts.append((name, region, role, code, partner))
        return name

    def pay(row: str, col: str, value: float) -> None:
        if value != 0:
            cells[(row, col)] = cells.get((row, col), 0.0) + float(value)

    n = len(sam.sectors)
    for reg in sam.regions:
        for j in sam.sectors:
            acc(f"{reg} act {j}", reg, "activity", j)
            acc(f"{reg} com {j}", reg, "commodity", j)
        for i in sam.sectors:
            acc(f"{reg} imp {i}", reg, "imported", i)
        for f in sam.factors:
            acc(f"{reg} fac {f}", reg, "factor-" + sam.factor_kind[f], f)
        for role in ("household", "government", "investment"):
            acc(f"{reg} {role}", reg, role)
    for m in sam.margins:
        acc(f"pool {m}", "", "margin", m)
    acc("world", "", "transfers")
    roles = {"household": "household", "gov": "government", "inv": "investment"}
    for r, reg in enumerate(sam.regions):
        buyers = [f"{reg} act {j}" for j in sam.sectors] + [
            f"{reg} {roles[a]}" for a in ("household", "gov", "inv")
        ]
        for g, buyer in enumerate(buyers):
            for i, c in enumerate(sam.sectors):
                base = sam.vdfm[i, g, r] / (1 + sam.tdf0[i, g, r])
                pay(f"{reg} com {c}", buyer, base)
                tax = acc(f"{reg} vat-d {c}", reg, "tax-purchase-domestic", c)
                pay(tax, buyer, sam.vdfm[i, g, r] - base)
                base = sam.vifm[i, g, r] / (1 + sam.tif0[i, g, r])
                pay(f"{reg} imp {c}", buyer, base)
                tax = acc(f"{reg} vat-m {c}", reg, "tax-purchase-imported", c)
                pay(tax, buyer, sam.vifm[i, g, r] - base)
        for j, sector in enumerate(sam.sectors):
            cost = sam.vfm[:, j, r].sum() + sam.vdfm[:, j, r].sum() + sam.vifm[:, j, r].sum()
            output = cost / (1 - sam.to0[j, r])
            for f, factor in enumerate(sam.factors):
                base = sam.vfm[f, j, r] / (1 + sam.tf0[f, j, r])
                pay(f"{reg} fac {factor}", f"{reg} act {sector}", base)
                tax = acc(f"{reg} payroll {factor}", reg, "tax-factor", factor)
                pay(tax, f"{reg} act {sector}", sam.vfm[f, j, r] - base)
            pay(acc(f"{reg} prodtax", reg, "tax-output"), f"{reg} act {sector}", output - cost)
            pay(f"{reg} act {sector}", f"{reg} com {sector}", output)
        for i, c in enumerate(sam.sectors):
            for s, exporter in enumerate(sam.regions):
                fob = sam.vxmd[i, s, r] * (1 + sam.tx0[i, s, r])
                cif = fob + sam.vtwr[:, i, s, r].sum()
                if cif == 0:
                    continue
                route = acc(f"{reg} from {exporter} {c}", reg, "trade", c, exporter)
                pay(route, f"{reg} imp {c}", cif * (1 + sam.tm0[i, s, r]))
                pay(f"{exporter} com {c}", route, sam.vxmd[i, s, r])
                pay(acc(f"{exporter} xtax", exporter, "tax-export"), route, fob - sam.vxmd[i, s, r])
                for m, margin in enumerate(sam.margins):
                    pay(f"pool {margin}", route, sam.vtwr[m, i, s, r])
                pay(acc(f"{reg} duty", reg, "tax-import"), route, cif * sam.tm0[i, s, r])
        for m, margin in enumerate(sam.margins):
            pay(f"{reg} com {margin}", f"pool {margin}", sam.vst[m, r])
    received = {a[0]: 0.0 for a in accounts}
    for (row, _), value in cells.items():
        received[row] += value
    for name, reg, role, *_ in accounts:
        if role.startswith("factor"):
            pay(f"{reg} household", name, received[name])
        elif role.startswith("tax"):
            pay(f"{reg} government", name, received[name])
    for r, reg in enumerate(sam.regions):
        spent = {
            a: (sam.vdfm[:, n + k, r] + sam.vifm[:, n + k, r]).sum() for k, a in enumerate(roles)
        }
        revenue = sum(v for (row, _), v in cells.items() if row == f"{reg} government")
        surplus = revenue - spent["gov"]
        if surplus > 0:
            pay(f"{reg} household", f"{reg} government", surplus)
        else:
            pay(f"{reg} government", f"{reg} household", -surplus)
        pay(f"{reg} investment", f"{reg} household", spent["inv"])
        income = sum(v for (row, _), v in cells.items() if row == f"{reg} household")
        outlay = sum(v for (_, col), v in cells.items() if col == f"{reg} household")
        if outlay > income:
            pay(f"{reg} household", "world", outlay - income)
        else:
            pay("world", f"{reg} household", income - outlay)
    return accounts, cells


def write_sam(folder: Path, sam, square: str = "") -> tuple[Path, Path]:
    """The SAM of ``sam`` as a long CSV (or a square .csv/.xlsx) and its account map."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts, cells = sam_of(sam)
    account_map = folder / "accounts.csv"
    pd.DataFrame(accounts, columns=["account", "region", "role", "code", "partner"]).to_csv(
        account_map, index=False
    )
    long = pd.DataFrame(
        [(r, c, v) for (r, c), v in cells.items()], columns=["row", "column", "value"]
    )
    if not square:
        path = folder / "sam.csv"
        long.to_csv(path, index=False, float_format="%.17g")
        return path, account_map
    names = [a[0] for a in accounts]
    matrix = long.pivot(index="row", columns="column", values="value").reindex(
        index=names, columns=names
    )
    path = folder / f"sam.{square}"
    if square == "csv":
        matrix.to_csv(path, float_format="%.17g")
    else:
        matrix.to_excel(path)
    return path, account_map


def options(account_map: Path, **extra) -> argparse.Namespace:
    values = dict(accounts=account_map, elasticities=None, balance=None, unit="USD", year=2020)
    return argparse.Namespace(**{**values, **extra})


def run_import(path: Path, account_map: Path, out: Path, **extra):
    return import_dataset(IMPORTERS["sam"], path, out, options(account_map, **extra), None, None)


@pytest.fixture(scope="module")
def economy():
    return synthetic_sam(3, 3, seed=4)


def elasticity_file(sam, path: Path) -> Path:
    table = {"sector": sam.sectors, **{e: getattr(sam, e) for e in ESUB}}
    pd.DataFrame(table).to_csv(path, index=False, float_format="%.17g")
    return path


def test_imported_sam_is_the_economy_it_was_written_from(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    esub = elasticity_file(economy, tmp_path / "src" / "esub.csv")
    sam = run_import(path, account_map, tmp_path / "out", elasticities=esub)
    assert sam.regions == economy.regions and sam.sectors == economy.sectors
    assert sam.factor_kind == economy.factor_kind and sam.margins == economy.margins
    scale = economy.vdfm.max()
    for name in ARRAYS:
        np.testing.assert_allclose(
            getattr(sam, name), getattr(economy, name), rtol=1e-12, atol=1e-12 * scale, err_msg=name
        )
    for name in ESUB:
        np.testing.assert_array_equal(getattr(sam, name), getattr(economy, name))
    assert replication(CGEModel(calibrate(sam))).passed


def test_accounts_match_totals_summed_from_the_cells(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    sam = run_import(path, account_map, tmp_path / "out")
    _, cells = sam_of(economy)

    vom = accounts.vom(sam)
    for r, reg in enumerate(sam.regions):
        for j, sector in enumerate(sam.sectors):
            assert vom[j, r] == pytest.approx(
                cells[(f"{reg} act {sector}", f"{reg} com {sector}")], rel=1e-12
            )
        duty = sum(v for (row, _), v in cells.items() if row == f"{reg} duty")
        tariffs = (sam.tm0[:, :, r] * accounts.cif(sam)[:, :, r]).sum()
        assert tariffs == pytest.approx(duty, rel=1e-12)
    transfers_in = {
        reg: cells.get((f"{reg} household", "world"), 0.0)
        - cells.get(("world", f"{reg} household"), 0.0)
        for reg in sam.regions
    }
    np.testing.assert_allclose(
        accounts.vb(sam), [transfers_in[r] for r in sam.regions], atol=1e-9 * vom.max()
    )
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "no --elasticities" in readme and "esubd = 2" in readme


@pytest.mark.parametrize("square", ["csv", "xlsx"])
def test_square_matrix_gives_the_same_dataset(economy, tmp_path: Path, square: str) -> None:
    if square == "xlsx":
        pytest.importorskip("openpyxl")
    long, account_map = write_sam(tmp_path / "long", economy)
    path, _ = write_sam(tmp_path / "square", economy, square)
    a = run_import(long, account_map, tmp_path / "a")
    b = run_import(path, account_map, tmp_path / "b")
    # A .csv written with 17 digits reads back exactly; Excel keeps 15 significant digits.
    rtol = 0.0 if square == "csv" else 1e-14
    for name in ARRAYS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, err_msg=name)


def test_command_line_import_then_check(economy, tmp_path: Path, capsys) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    out = tmp_path / "out"
    assert (
        main(
            ["data", "import", "sam", str(path), "--accounts", str(account_map), "--out", str(out)]
        )
        == 0
    )
    assert main(["check", "--data", str(out)]) == 0
    assert "FAIL" not in capsys.readouterr().out


def refusal(path: Path, account_map: Path, out: Path, **extra) -> str:
    with pytest.raises(DatasetError) as raised:
        run_import(path, account_map, out, **extra)
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))
    return str(raised.value)


def edit_cells(path: Path, change) -> None:
    frame = pd.read_csv(path, dtype={"value": float}, keep_default_na=False)
    change(frame)
    frame.to_csv(path, index=False, float_format="%.17g")


def test_unbalanced_sam_names_the_account_and_both_totals(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    frame = pd.read_csv(path)
    row = frame.index[(frame["row"] == "R1 com S1") & (frame["column"] == "R1 household")][0]
    old = frame.loc[row, "value"]
    edit_cells(path, lambda f: f.__setitem__("value", f["value"].where(f.index != row, old + 1.0)))
    message = refusal(path, account_map, tmp_path / "out")
    assert "account R1 com S1: row total (receipts)" in message
    assert "column total (payments)" in message and "fragcge data balance" in message
    assert "account R1 household" in message
    # Balanced on import, the same SAM is accepted and replicates.
    for method in ("gras", "least-squares"):
        sam = run_import(path, account_map, tmp_path / method, balance=method)
        assert replication(CGEModel(calibrate(sam))).passed
        assert f"balanced on import with {method}" in (tmp_path / method / "README.md").read_text()


def test_unknown_account_is_refused(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    edit_cells(path, lambda f: f.__setitem__("row", f["row"].where(f.index != 3, "R1 mystery")))
    message = refusal(path, account_map, tmp_path / "out")
    assert "not in the account map: R1 mystery" in message


def test_account_mapped_twice_is_refused(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    lines = account_map.read_text().splitlines()
    account_map.write_text("\n".join([*lines, lines[1].replace("activity", "commodity")]) + "\n")
    message = refusal(path, account_map, tmp_path / "out")
    assert "account 'R1 act S1' is mapped twice (also on line 2)" in message


def test_negative_flow_is_refused_but_a_subsidy_is_not(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    frame = pd.read_csv(path)
    flow = frame.index[(frame["row"] == "R2 fac lab") & (frame["column"] == "R2 act S1")][0]
    edit_cells(
        path, lambda f: f.__setitem__("value", f["value"].where(f.index != flow, -f["value"]))
    )
    message = refusal(path, account_map, tmp_path / "out")
    assert "cell (row R2 fac lab, column R2 act S1)" in message and "negative" in message
    # Output taxes of the synthetic economy include subsidies: they imported above.
    assert (economy.to0 < 0).any()


def test_map_problems_are_named(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    frame = pd.read_csv(account_map, keep_default_na=False)
    frame.loc[0, "role"] = "activities"
    frame.loc[1, "region"] = ""
    frame.drop(columns="partner").to_csv(tmp_path / "no_partner.csv", index=False)
    frame.to_csv(account_map, index=False)
    message = refusal(path, account_map, tmp_path / "out")
    assert "line 2 (R1 act S1): unknown role 'activities'" in message
    assert "line 3 (R1 com S1): a commodity account needs a region" in message
    message = refusal(path, tmp_path / "no_partner.csv", tmp_path / "out")
    assert "a trade account needs a partner" in message
    pd.DataFrame({"account": ["a"], "region": ["R1"]}).to_csv(tmp_path / "bad.csv", index=False)
    assert "missing column(s) role, code" in refusal(path, tmp_path / "bad.csv", tmp_path / "out")


def test_cell_outside_the_format_is_refused(economy, tmp_path: Path) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    with path.open("a") as text:
        text.write("R1 act S1,R1 household,1.0\nR1 fac lab,R1 household,1.0\n")
    message = refusal(path, account_map, tmp_path / "out")
    assert "cell (row R1 act S1, column R1 household)" in message
    assert (
        "a payment from a household account to a activity account is not part of the SAM format"
        in message
    )
    assert "cell (row R1 fac lab, column R1 household)" in message


@pytest.mark.parametrize("header", ["row,colum,value", "Row,Column,Value", "rows,cols,value"])
def test_a_misspelt_long_header_is_named(economy, tmp_path: Path, header: str) -> None:
    """Read as a square matrix, such a file used to fail with 'row account(s) ... appear
    twice' (issue 9)."""
    path, account_map = write_sam(tmp_path / "src", economy)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([header, *lines[1:]]) + "\n")
    message = refusal(path, account_map, tmp_path / "out")
    assert f"header '{header}' is almost that of a long SAM table" in message
    assert "expected exactly 'row,column,value'" in message and "appear twice" not in message


def test_a_table_whose_first_row_names_no_account_is_not_read_as_a_square_matrix(
    economy, tmp_path: Path
) -> None:
    path, account_map = write_sam(tmp_path / "src", economy)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(["from,to,amount", *lines[1:]]) + "\n")
    message = refusal(path, account_map, tmp_path / "out")
    assert "read as a square matrix (its header is not row,column,value)" in message
    assert "no label of its first row (to; amount) is a row account" in message


def test_dataset_as_sam_round_trip(economy) -> None:
    """fragcge's own writer (used by `data balance`) and reader are inverse on a dataset."""
    cells = sam_cells.from_global_sam(economy)
    assert sam_cells.imbalances(cells) == []
    esub = {e: getattr(economy, e) for e in ESUB}
    back = sam_cells.to_global_sam(cells, "x", esub, {})
    for name in ARRAYS:
        np.testing.assert_allclose(
            getattr(back, name), getattr(economy, name), rtol=1e-13, atol=1e-15, err_msg=name
        )


def test_shipped_example_imports_and_checks(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "docs" / "examples" / "sam"
    out = tmp_path / "two"
    sam = run_import(
        example / "sam.csv",
        example / "accounts.csv",
        out,
        elasticities=example / "elasticities.csv",
    )
    assert sam.regions == ("NTH", "STH") and load_dataset(out).sectors == sam.sectors
    assert replication(CGEModel(calibrate(sam))).passed


def test_shipped_example_aggregated_to_one_sector_still_replicates(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "docs" / "examples" / "sam"
    sectors = tmp_path / "sectors.csv"
    sectors.write_text("code,group\nAGR,ALL\nMAN,ALL\n")
    out = tmp_path / "one"
    sam = import_dataset(
        IMPORTERS["sam"],
        example / "sam.csv",
        out,
        options(example / "accounts.csv", elasticities=example / "elasticities.csv"),
        None,
        sectors,
    )
    assert sam.sectors == ("ALL",)
    # Gross output: the activities' sales in the example, 80 + 100 in NTH, 40 + 60 in STH.
    np.testing.assert_allclose(accounts.vom(sam)[0], [180.0, 100.0], rtol=1e-12)
    assert replication(CGEModel(calibrate(sam))).passed
