"""pymrio import: an IOSystem built here and pymrio's own test MRIO become datasets that
replicate, with accounts equal to totals computed here from Z and Y."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.calibration import accounts, from_pymrio
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.calibration.pymrio_source import pymrio_module
from fragcge.cli import main
from fragcge.errors import DatasetError
from fragcge.model.cge import CGEModel
from fragcge.model.checks import run_checks

pymrio = pytest.importorskip("pymrio")

REGIONS = ("north", "south", "east")
SECTORS = ("agri", "manu", "serv")
CATEGORIES = (
    "Final consumption expenditure by households",
    "Final consumption expenditure by government",
    "Gross fixed capital formation",
    "Changes in inventories",
)
ELASTICITIES = pd.DataFrame(
    {"sector": SECTORS, "esubd": [2.0, 3.0, 1.5], "esubva": [0.3, 1.2, 1.4]}
)


def small_iosystem():
    rng = np.random.default_rng(11)
    rows = pd.MultiIndex.from_product([REGIONS, SECTORS], names=["region", "sector"])
    y_columns = pd.MultiIndex.from_product([REGIONS, CATEGORIES], names=["region", "category"])
    z = pd.DataFrame(rng.uniform(1.0, 8.0, (9, 9)), index=rows, columns=rows)
    y = pd.DataFrame(rng.uniform(10.0, 40.0, (9, 12)), index=rows, columns=y_columns)
    y.loc[:, (slice(None), "Changes in inventories")] = rng.uniform(-0.5, 1.0, (9, 3))
    io = pymrio.IOSystem(Z=z, Y=y, unit=pd.DataFrame({"unit": ["M EUR"] * 9}, index=rows))
    io.calc_all()
    return io


def replicates(folder: Path) -> None:
    checks = run_checks(CGEModel(calibrate(load_dataset(folder))))
    assert all(c.passed for c in checks), [f"{c.name}: {c.detail}" for c in checks]


def test_iosystem_built_here_imports_with_its_totals_and_replicates(tmp_path: Path) -> None:
    io = small_iosystem()
    write_dataset(from_pymrio(io, elasticities=ELASTICITIES), tmp_path / "small")
    sam = load_dataset(tmp_path / "small")
    assert (sam.regions, sam.sectors) == (REGIONS, SECTORS)
    z, y = io.Z.to_numpy(), io.Y.to_numpy()
    # No zero output, uses = x, no negative net investment: the published totals stand.
    output = (z.sum(axis=1) + y.sum(axis=1)).reshape(3, 3)
    np.testing.assert_allclose(accounts.vom(sam), output.T, rtol=1e-12)
    inputs = z.sum(axis=0).reshape(3, 3)
    np.testing.assert_allclose(sam.vfm[0], (output - inputs).T, rtol=1e-12)
    block = z.reshape(3, 3, 3, 3).sum(axis=(1, 3)) + y.reshape(3, 3, 3, 4).sum(axis=(1, 3))
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(sam.vxmd.sum(axis=0)[off], block[off], rtol=1e-12)
    np.testing.assert_array_equal(sam.esubm, [4.0, 6.0, 3.0])
    assert sam.meta["unit"] == "M EUR"
    replicates(tmp_path / "small")


def test_pymrio_test_mrio_saved_to_a_folder_imports_and_replicates(tmp_path: Path) -> None:
    io = pymrio.load_test()
    io.calc_all()
    io.save_all(tmp_path / "saved")
    esub = tmp_path / "esub.csv"
    sectors = [str(s) for s in io.get_sectors()]
    esub.write_text("sector,esubd,esubva\n" + "".join(f"{s},2.5,1.0\n" for s in sectors))
    out = tmp_path / "test_mrio"
    command = ["data", "import", "mrio", str(tmp_path / "saved"), "--out", str(out)]
    assert main([*command, "--elasticities", str(esub)]) == 0
    assert main(["check", "--data", str(out)]) == 0
    readme = (out / "README.md").read_text()
    assert "skipped (all zero): Export" in readme
    assert "investment = Changes in inventories + Changes in valuables" in readme
    # The test MRIO has no quirks: regional output equals its row totals.
    x = io.x["indout"].to_numpy().reshape(6, 8)
    imported = load_dataset(out)
    np.testing.assert_allclose(accounts.vom(imported).sum(axis=0), x.sum(axis=1), rtol=1e-10)


def test_saved_iosystem_needs_elasticities_and_writes_nothing_without(
    tmp_path: Path, capsys
) -> None:
    pymrio.load_test().save_all(tmp_path / "saved")
    status = main(["data", "import", "mrio", str(tmp_path / "saved"), "--out", str(tmp_path / "o")])
    assert status != 0
    assert "no shipped elasticity table covers its sectors" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unknown_category_names_the_map_option() -> None:
    io = small_iosystem()
    io.Y = io.Y.rename(columns={"Gross fixed capital formation": "Capex"})
    with pytest.raises(DatasetError, match="'Capex' is not recognised.*--categories"):
        from_pymrio(io, elasticities=ELASTICITIES)
    sam = from_pymrio(io, elasticities=ELASTICITIES, categories={"Capex": "investment"})
    assert sam.vdfm[:, -1].sum() + sam.vifm[:, -1].sum() > 0


def test_sectors_without_a_shipped_table_need_elasticities() -> None:
    with pytest.raises(DatasetError, match="no shipped elasticity table.*--elasticities"):
        from_pymrio(small_iosystem())


def test_negative_intermediate_use_is_refused() -> None:
    io = small_iosystem()
    io.Z.iloc[1, 4] = -3.0
    with pytest.raises(DatasetError, match="IOSystem mrio, table Z: north_manu supplies -3 to "):
        from_pymrio(io, elasticities=ELASTICITIES)


def test_missing_pymrio_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymrio", None)
    with pytest.raises(DatasetError, match=r"pip install 'fragcge\[mrio\]'"):
        pymrio_module()
