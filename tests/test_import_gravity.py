"""Gravity import: a bilateral table with deficits and a missing route becomes the
one-sector benchmark, its accounts are the table's row and column sums, and it replicates."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from fragcge.calibration import accounts
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.gravity import IMPORTER, gravity_import
from fragcge.calibration.importers import import_dataset
from fragcge.cli import main
from fragcge.errors import DatasetError
from fragcge.model.cge import CGEModel
from fragcge.model.checks import run_checks

TABLE = """exporter,importer,value
DEU,DEU,500
DEU,FRA,60
DEU,ITA,40
FRA,DEU,45
FRA,FRA,400
ITA,DEU,30
ITA,FRA,25
ITA,ITA,300
"""
# FRA -> ITA is missing: zero trade. Rows (output): DEU 600, FRA 445, ITA 355.
# Columns (expenditure): DEU 575, FRA 485, ITA 340.


def write(tmp_path: Path, text: str = TABLE) -> Path:
    path = tmp_path / "flows.csv"
    path.write_text(text)
    return path


def test_table_imports_with_its_sums_as_accounts_and_replicates(tmp_path: Path) -> None:
    options = argparse.Namespace(trade_elasticity=4.0)
    loaded = import_dataset(IMPORTER, write(tmp_path), tmp_path / "gravity", options, None, None)
    notes = (tmp_path / "gravity" / "README.md").read_text()
    assert loaded.regions == ("DEU", "FRA", "ITA") and loaded.sectors == ("good",)
    np.testing.assert_array_equal(accounts.vom(loaded)[0], [600.0, 445.0, 355.0])
    np.testing.assert_array_equal(accounts.expenditure(loaded), [575.0, 485.0, 340.0])
    np.testing.assert_array_equal(accounts.vb(loaded), [-25.0, 40.0, -15.0])
    assert loaded.vxmd[0, 1, 2] == 0.0
    assert (loaded.esubd[0], loaded.esubm[0]) == (5.0, 5.0)
    assert "largest 40 at FRA" in notes
    checks = run_checks(CGEModel(calibrate(loaded)))
    assert all(c.passed for c in checks), [f"{c.name}: {c.detail}" for c in checks]


@pytest.mark.parametrize(
    ("text", "theta", "message"),
    [
        (TABLE.replace("value", "flow"), 4.0, "missing column(s) value"),
        (TABLE + "DEU,FRA,1\n", 4.0, "line 10: route DEU to FRA appears more than once"),
        (TABLE.replace("ITA,FRA,25", "ITA,FRA,-25"), 4.0, "line 8 (ITA to FRA): value '-25'"),
        (TABLE.replace("ITA,FRA,25", "ITA,FRA,n/a"), 4.0, "value 'n/a' must be a number"),
        (TABLE.replace("FRA,FRA,400", "FRA,FRA,0"), 4.0, "region(s) FRA have no domestic"),
        (TABLE.replace("ITA,ITA,300\n", ""), 4.0, "region(s) ITA have no domestic sales"),
        (TABLE, -1.0, "trade elasticity -1.0: must be a number > -1"),
    ],
)
def test_bad_tables_are_refused_by_name(
    tmp_path: Path, text: str, theta: float, message: str
) -> None:
    with pytest.raises(DatasetError) as raised:
        gravity_import(write(tmp_path, text), theta)
    assert message in str(raised.value)


def test_command_line_import_with_a_region_map_passes_check(tmp_path: Path) -> None:
    (tmp_path / "regions.csv").write_text("code,group\nDEU,DEU\nFRA,SOU\nITA,SOU\n")
    out = tmp_path / "two"
    status = main(
        ["data", "import", "gravity", str(write(tmp_path)), "--out", str(out),
         "--trade-elasticity", "4", "--regions", str(tmp_path / "regions.csv")]
    )  # fmt: skip
    assert status == 0
    assert main(["check", "--data", str(out)]) == 0
    sam = load_dataset(out)
    # FRA-ITA trade becomes domestic: SOU sells 400 + 300 + 25 at home, 45 + 30 to DEU.
    np.testing.assert_array_equal(sam.vxmd[0], [[0.0, 100.0], [75.0, 0.0]])
    np.testing.assert_array_equal(sam.vdfm[0, :, 1].sum(), 725.0)
