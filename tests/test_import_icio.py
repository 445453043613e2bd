"""OECD ICIO import: a small table written in the 2023 release layout, CN1/CN2 and MX1/MX2
split, is merged, resolved, written as a dataset that replicates, and its accounts equal
totals computed here from the written cells."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.calibration import accounts
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.icio import FINAL_CATEGORIES, IMPORTER, icio_sam
from fragcge.calibration.importers import import_dataset
from fragcge.cli import main
from fragcge.errors import DatasetError
from fragcge.model.cge import CGEModel
from fragcge.model.checks import run_checks

PARTS = {"AUS": ("AUS",), "CHN": ("CN1", "CN2"), "MEX": ("MX1", "MX2")}
ECONOMIES = tuple(PARTS)
INDUSTRIES = ("A01_02", "C20", "G")


def icio_frame(seed: int = 7) -> pd.DataFrame:
    """A balanced table in the 2023 layout; rows and columns as the OECD writes them."""
    rng = np.random.default_rng(seed)
    parts = [p for ps in PARTS.values() for p in ps]
    labels = [f"{p}_{i}" for p in parts for i in INDUSTRIES]
    final = [f"{c}_{k}" for c in ECONOMIES for k in FINAL_CATEGORIES]
    z = rng.uniform(1.0, 10.0, (len(labels), len(labels)))
    f = rng.uniform(20.0, 60.0, (len(labels), len(final)))
    f[:, [k for k, c in enumerate(final) if c.endswith("_INVNT")]] *= 0.05
    f[0, final.index("AUS_GFCF")] = 0.0
    f[0, final.index("AUS_INVNT")] = -2.0  # net investment < 0: moved to AUS_HFCE (rule 3)
    output = z.sum(axis=1) + f.sum(axis=1)
    taxes = np.concatenate([rng.uniform(1.0, 5.0, len(labels)), rng.uniform(2.0, 9.0, len(final))])
    value_added = np.concatenate(
        [output - z.sum(axis=0) - taxes[: len(labels)], np.zeros(len(final))]
    )
    body = np.hstack([z, f])
    frame = pd.DataFrame(body, index=labels, columns=labels + final)
    frame.loc["TLS"] = taxes
    frame.loc["VA"] = value_added
    frame.loc["OUT"] = np.concatenate([output, np.zeros(len(final))])
    frame["OUT"] = list(output) + [0.0, 0.0, 0.0]
    frame.index.name = "V1"
    return frame


def write_icio(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path)
    return path


def economy_totals(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Output, value added + TLS and bilateral trade by economy, from the published cells."""
    cells = frame.drop(index=["TLS", "VA", "OUT"], columns=["OUT"])

    def economy(label: str) -> str:
        head = label.partition("_")[0]
        return next(e for e, ps in PARTS.items() if head in ps or head == e)

    by_row = cells.groupby(pd.Index([economy(r) for r in cells.index])).sum()
    by_both = by_row.T.groupby(pd.Index([economy(c) for c in by_row.columns])).sum().T
    labels = [c for c in frame.columns if c.partition("_")[2] in INDUSTRIES]
    out = frame.loc["OUT", labels]
    income = frame.loc["VA", labels] + frame.loc["TLS", labels]
    return {
        "output": out.groupby([economy(c) for c in labels]).sum().reindex(ECONOMIES).to_numpy(),
        "income": income.groupby([economy(c) for c in labels]).sum().reindex(ECONOMIES).to_numpy(),
        "trade": by_both.reindex(index=ECONOMIES, columns=ECONOMIES).to_numpy(),
    }


def test_imported_icio_merges_split_economies_and_replicates(tmp_path: Path) -> None:
    frame = icio_frame()
    source = write_icio(frame, tmp_path / "2020.csv")
    options = argparse.Namespace(elasticities=None)
    loaded = import_dataset(IMPORTER, source, tmp_path / "icio", options, None, None)
    notes = (tmp_path / "icio" / "README.md").read_text().splitlines()
    assert loaded.regions == ECONOMIES
    assert loaded.sectors == INDUSTRIES

    expected = economy_totals(frame)
    # Uses equal OUT on every row, and the negative inventory cell moves to household
    # demand without changing any total: output and income by economy are the published ones.
    np.testing.assert_allclose(accounts.vom(loaded).sum(axis=0), expected["output"], rtol=1e-12)
    np.testing.assert_allclose(accounts.income(loaded), expected["income"], rtol=1e-12)
    trade = expected["trade"]
    shipped = loaded.vxmd.sum(axis=0)
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_allclose(shipped[off], trade[off], rtol=1e-12)
    # Final demand leaves out TLS on final buyers, so expenditure is at basic prices.
    final = frame.loc[:, [c for c in frame.columns if c.partition("_")[2] in FINAL_CATEGORIES]]
    spent = final.drop(index=["TLS", "VA", "OUT"]).sum().groupby(lambda c: c[:3]).sum()
    np.testing.assert_allclose(
        accounts.expenditure(loaded), spent.reindex(ECONOMIES).to_numpy(), rtol=1e-12
    )
    assert any("CHN = CN1 + CN2" in n and "MEX = MX1 + MX2" in n for n in notes)
    assert any(n.startswith("- negative investment: 1 case") for n in notes)
    # Shipped elasticities: C20 maps to GTAP crp (ESUBD 3.3, ESUBVA 1.26).
    k = loaded.sectors.index("C20")
    assert (loaded.esubd[k], loaded.esubm[k], loaded.esubva[k]) == (3.3, 6.6, 1.26)

    checks = run_checks(CGEModel(calibrate(loaded)))
    assert all(c.passed for c in checks), [f"{c.name}: {c.detail}" for c in checks]


def test_elasticities_file_overrides_the_shipped_table(tmp_path: Path) -> None:
    source = write_icio(icio_frame(), tmp_path / "2020.csv")
    override = tmp_path / "esub.csv"
    override.write_text("sector,esubd,esubva\nA01_02,1.5,0.3\nC20,2.5,0.9\nG,1.1,1.2\n")
    sam, notes = icio_sam(source, override)
    np.testing.assert_array_equal(sam.esubd, [1.5, 2.5, 1.1])
    np.testing.assert_array_equal(sam.esubm, [3.0, 5.0, 2.2])
    assert f"elasticities: user table {override}" in notes


def refusal(source: Path, elasticities: Path | None = None) -> str:
    with pytest.raises(DatasetError) as raised:
        icio_sam(source, elasticities)
    return str(raised.value)


def test_missing_tls_row_is_refused(tmp_path: Path) -> None:
    source = write_icio(icio_frame().drop(index="TLS"), tmp_path / "2020.csv")
    message = refusal(source)
    assert "2020.csv: missing row(s) TLS" in message


def test_unbalanced_column_is_refused_with_its_label(tmp_path: Path) -> None:
    frame = icio_frame()
    frame.loc["VA", "MX2_C20"] += 5.0
    message = refusal(write_icio(frame, tmp_path / "2020.csv"))
    assert "column MEX_C20 does not balance" in message
    assert "= 5" in message


def test_unknown_final_demand_category_is_refused(tmp_path: Path) -> None:
    frame = icio_frame().rename(columns={"AUS_GGFC": "AUS_GOVT"})
    message = refusal(write_icio(frame, tmp_path / "2020.csv"))
    assert "AUS_GOVT" in message and "HFCE NPISH GGFC GFCF INVNT DPABR" in message


def test_negative_intermediate_flow_is_refused(tmp_path: Path) -> None:
    frame = icio_frame()
    frame.loc["VA", "AUS_C20"] += frame.loc["AUS_A01_02", "AUS_C20"] + 1.0  # column still balances
    frame.loc["AUS_A01_02", "AUS_C20"] = -1.0
    source = write_icio(frame, tmp_path / "2020.csv")
    message = refusal(source)
    assert message.startswith(f"{source}: AUS_A01_02 supplies -1 to AUS_C20 (1 negative")
    assert "correct the cell(s) in the source" in message and "merged" not in message


def test_negative_flow_of_a_split_economy_names_its_original_rows(tmp_path: Path) -> None:
    """CN1_G and CN2_G become CHN_G: the refusal names the file and both original cells
    (issue 9: it named only CHN_G and no file)."""
    frame = icio_frame()
    frame.loc["VA", "AUS_C20"] += frame.loc["CN1_G", "AUS_C20"] + 30.0  # column still balances
    frame.loc["CN1_G", "AUS_C20"] = -30.0
    part = frame.loc["CN2_G", "AUS_C20"]
    source = write_icio(frame, tmp_path / "2020.csv")
    message = refusal(source)
    assert message.startswith(f"{source}: CHN_G supplies {part - 30:.12g} to AUS_C20 (merged ")
    assert f"from CN1_G to AUS_C20: -30, CN2_G to AUS_C20: {part:.12g})" in message


def test_industry_without_elasticities_is_named(tmp_path: Path) -> None:
    source = write_icio(icio_frame(), tmp_path / "2020.csv")
    override = tmp_path / "esub.csv"
    override.write_text("sector,esubd,esubva\nA01_02,1.5,0.3\nG,1.1,1.2\n")
    assert "no row for sector(s) C20" in refusal(source, override)


def test_command_line_aggregates_an_icio_table_that_check_passes(tmp_path: Path) -> None:
    frame = icio_frame()
    source = write_icio(frame, tmp_path / "2020.csv")
    (tmp_path / "regions.csv").write_text("code,group\nAUS,AUS\nCHN,CHM\nMEX,CHM\n")
    out = tmp_path / "icio2"
    status = main(
        ["data", "import", "icio", str(source), "--out", str(out),
         "--regions", str(tmp_path / "regions.csv")]
    )  # fmt: skip
    assert status == 0
    assert main(["check", "--data", str(out)]) == 0
    sam = load_dataset(out)
    assert sam.regions == ("AUS", "CHM")
    # Output of the CHN + MEX aggregate: every CN1, CN2, MX1, MX2 industry's OUT.
    published = frame.loc["OUT", [c for c in frame.columns if c[:2] in ("CN", "MX")]].sum()
    assert accounts.vom(sam)[:, 1].sum() == pytest.approx(published, rel=1e-12)


def test_command_line_refuses_an_unbalanced_table_and_writes_nothing(
    tmp_path: Path, capsys
) -> None:
    frame = icio_frame()
    frame.loc["TLS", "AUS_G"] -= 1.0
    source = write_icio(frame, tmp_path / "2020.csv")
    status = main(["data", "import", "icio", str(source), "--out", str(tmp_path / "o")])
    assert status != 0
    assert "column AUS_G does not balance" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2020.csv"]


def test_shipped_doc_example_imports_as_the_doc_shows(tmp_path: Path) -> None:
    """docs/examples/icio/2020.csv (written by docs/examples/make_examples.py) aggregated
    as in docs/data.md: AUS kept, China and Mexico one region."""
    source = Path(__file__).parent.parent / "docs" / "examples" / "icio" / "2020.csv"
    regions = tmp_path / "regions.csv"
    regions.write_text("code,group\nAUS,AUS\nCHN,CHM\nMEX,CHM\n")
    out = tmp_path / "icio_chm"
    args = ["data", "import", "icio", str(source), "--regions", str(regions), "--out", str(out)]
    assert main(args) == 0
    sam = load_dataset(out)
    assert sam.regions == ("AUS", "CHM") and len(sam.sectors) == 3
    assert "CHN = CN1 + CN2, MEX = MX1 + MX2" in (out / "README.md").read_text()
