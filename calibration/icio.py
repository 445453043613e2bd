"""Read an OECD Inter-Country Input-Output (ICIO) table, 2023 release layout, into an MRIO.

SOURCE is one year's CSV as the OECD distributes it (``2020.csv``; ``.csv.gz`` works too):
the first column holds the row labels (its header, ``V1`` in the 2023 files, is ignored).

- Rows: ``CTY_IND`` (country, industry, e.g. ``AUS_A01_02``), then ``TLS`` (taxes less
  subsidies on products, paid by each column's buyer), ``VA`` (value added) and ``OUT``
  (output).
- Columns: ``CTY_IND`` (intermediate use), ``CTY_CAT`` for the final-demand categories
  ``HFCE NPISH GGFC GFCF INVNT DPABR``, and an optional ``OUT`` (row totals, not read).

Country codes hold no underscore, so a label splits at its first ``_``. China and Mexico
come split into ``CN1``/``CN2`` and ``MX1``/``MX2`` (by processing trade); their rows and
columns, intermediate and final, are summed back into ``CHN`` and ``MEX`` before anything
else, so that the result has one region per economy.

Treatment of the accounts that the model has no place for:

- ``TLS`` of an industry's column (net taxes on its intermediate purchases) stays in that
  industry's costs: value added is computed as output minus intermediate inputs, so it is
  ``VA + TLS``, as for WIOD (rule 4 of :mod:`fragcge.calibration.mrio_quirks`).
- ``TLS`` of the final-demand columns (net product taxes paid by final buyers) is not part
  of any industry's output; it is left out, so final demand is valued at basic prices, and
  its total is reported in the dataset's README.
- ``DPABR`` (direct purchases abroad by residents) is household consumption of the buying
  country, bought from the country where it was spent.

Each column must balance, intermediate inputs + ``TLS`` + ``VA`` = ``OUT``, within
:data:`BALANCE_TOLERANCE`; the row side (uses against output) is handled by the quirk rules.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.importers import Imported, Importer
from fragcge.calibration.mrio import MRIO, final_categories, read_wide, split_grid
from fragcge.calibration.mrio_flows import benchmark_flows, flows_sam
from fragcge.calibration.mrio_quirks import (
    quirk_summary,
    require_nonnegative_intermediate,
    resolve_quirks,
)
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.sector_elasticities import sector_elasticities
from fragcge.errors import DatasetError

FINAL_CATEGORIES = ("HFCE", "NPISH", "GGFC", "GFCF", "INVNT", "DPABR")
TAXES, VALUE_ADDED, OUTPUT = "TLS", "VA", "OUT"
SPLIT_REGIONS = {"CN1": "CHN", "CN2": "CHN", "MX1": "MEX", "MX2": "MEX"}
"""Sub-tables of the 2023 release and the economy they are summed back into."""
BALANCE_TOLERANCE = (1e-2, 1e-6)
"""A column balances when |inputs + TLS + VA - OUT| <= absolute + relative * |OUT|."""

ICIO_META = {
    "unit": "USD million",
    "source": (
        "OECD Inter-Country Input-Output (ICIO) tables, 2023 release; imported by fragcge "
        "(fragcge data import icio): CN1/CN2 and MX1/MX2 merged, quirks resolved"
    ),
    "licence": "OECD terms and conditions (https://www.oecd.org/termsandconditions/)",
    "citation": "OECD (2023), OECD Inter-Country Input-Output Database, http://oe.cd/icio",
}


def read_icio(path: Path) -> tuple[MRIO, list[str]]:
    """The table at ``path`` with CN1/CN2 and MX1/MX2 merged, and notes on what was done."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (an OECD ICIO year CSV, e.g. 2020.csv)")
    frame = read_wide(path)
    missing = [r for r in (TAXES, VALUE_ADDED, OUTPUT) if r not in frame.index]
    if missing:
        raise DatasetError(
            f"{path}: missing row(s) {', '.join(missing)}; the 2023 ICIO layout ends with "
            f"rows {TAXES} (taxes less subsidies), {VALUE_ADDED} and {OUTPUT}"
        )
    frame = frame.drop(columns=[OUTPUT], errors="ignore")
    parts = sorted({r.partition("_")[0] for r in frame.index}.intersection(SPLIT_REGIONS))
    source = frame
    frame = merge_split_regions(frame)
    rows = [r for r in frame.index if r not in (TAXES, VALUE_ADDED, OUTPUT)]
    regions, sectors = split_grid(rows, path, "row")
    labels = [f"{r}_{i}" for r in regions for i in sectors]
    final_columns = [c for c in frame.columns if c.rpartition("_")[2] in FINAL_CATEGORIES]
    unknown = [c for c in frame.columns if c not in set(labels) | set(final_columns)]
    if unknown:
        raise DatasetError(
            f"{path}: column(s) {', '.join(unknown[:5])} are neither an industry of the rows "
            f"nor a final-demand column CTY_CAT with CAT in {' '.join(FINAL_CATEGORIES)}"
        )
    absent = [label for label in labels if label not in frame.columns]
    if absent:
        raise DatasetError(f"{path}: missing column(s) {', '.join(absent[:5])}")
    categories = final_categories(final_columns, regions, path)
    n_r, n_i, n_k = len(regions), len(sectors), len(categories)
    f_columns = [f"{r}_{k}" for r in regions for k in categories]
    z = frame.loc[labels, labels].to_numpy()
    output = frame.loc[OUTPUT, labels].to_numpy()
    require_balanced_columns(z, frame.loc[[TAXES, VALUE_ADDED], labels], output, labels, path)
    mrio = MRIO(
        regions=regions,
        sectors=sectors,
        categories=categories,
        z=z.reshape(n_r, n_i, n_r, n_i),
        f=frame.loc[labels, f_columns].to_numpy().reshape(n_r, n_i, n_r, n_k),
        x=output.reshape(n_r, n_i),
    )

    def origin(seller: str, buyer: str) -> str:
        rows = [r for r in source.index if merged_label(r) == seller]
        cols = [c for c in source.columns if merged_label(c) == buyer]
        if rows == [seller] and cols == [buyer]:
            return ""
        cells = [f"{r} to {c}: {source.loc[r, c]:.12g}" for r in rows for c in cols]
        return f" (merged from {', '.join(cells)})"

    require_nonnegative_intermediate(mrio, str(path), origin)
    taxes_final = float(frame.loc[TAXES, f_columns].sum())
    taxes_inputs = float(frame.loc[TAXES, labels].sum())
    dpabr = float(mrio.f[..., categories.index("DPABR")].sum()) if "DPABR" in categories else 0.0
    notes = [
        f"{path.name}: {n_r} regions x {n_i} industries, final demand {' '.join(categories)}",
        "merged split economies: "
        + (
            ", ".join(
                f"{economy} = {' + '.join(p for p in parts if SPLIT_REGIONS[p] == economy)}"
                for economy in dict.fromkeys(SPLIT_REGIONS[p] for p in parts)
            )
            or "none present"
        ),
        f"TLS on intermediate inputs ({taxes_inputs:.12g}) kept in value added "
        "(value added = output - intermediate inputs)",
        f"TLS on final demand ({taxes_final:.12g}) left out: final demand at basic prices",
        f"DPABR ({dpabr:.12g}) counted as household demand of the buying country",
    ]
    return mrio, notes


def merged_label(label: str) -> str:
    """The label of a row or column once CN1/CN2 and MX1/MX2 are CHN and MEX."""
    head, sep, tail = label.partition("_")
    return f"{SPLIT_REGIONS.get(head, head)}{sep}{tail}"


def merge_split_regions(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows and columns of CN1/CN2 and MX1/MX2 summed into CHN and MEX, order kept."""
    frame = frame.groupby(pd.Index([merged_label(r) for r in frame.index]), sort=False).sum()
    return frame.T.groupby(pd.Index([merged_label(c) for c in frame.columns]), sort=False).sum().T


def require_balanced_columns(
    z: np.ndarray, taxes_and_va: pd.DataFrame, output: np.ndarray, labels: list[str], path: Path
) -> None:
    """Refuse a column whose inputs, TLS and VA do not add up to its OUT."""
    gap = z.sum(axis=0) + taxes_and_va.to_numpy().sum(axis=0) - output
    absolute, relative = BALANCE_TOLERANCE
    bad = np.abs(gap) > absolute + relative * np.abs(output)
    if bad.any():
        k = int(np.abs(np.where(bad, gap, 0.0)).argmax())
        raise DatasetError(
            f"{path}: column {labels[k]} does not balance: intermediate inputs + {TAXES} + "
            f"{VALUE_ADDED} - {OUTPUT} = {gap[k]:.12g} (output {output[k]:.12g}); "
            f"{int(bad.sum())} column(s) off by more than {absolute:g} + {relative:g} x output"
        )


def icio_sam(source: Path, elasticities: Path | None = None) -> tuple[GlobalSAM, list[str]]:
    """The benchmark of an ICIO year CSV, with the notes for the dataset's README."""
    table, notes = read_icio(source)
    resolved, quirks = resolve_quirks(table, str(source))
    esub, esub_note = sector_elasticities(elasticities, resolved.sectors, str(source))
    stem = Path(source).name.split(".")[0]
    year = {"year": int(stem[-4:])} if stem[-4:].isdigit() else {}
    sam = flows_sam(
        benchmark_flows(resolved),
        esub,
        name=stem,
        meta={"title": f"OECD ICIO, {Path(source).name}", **year, **ICIO_META},
    )
    return sam, [*notes, *quirk_summary(quirks), esub_note]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fragcge data import icio``."""
    parser.add_argument(
        "--elasticities",
        type=Path,
        help="CSV sector,esubd,esubva[,esubm,esubt,esubc] per ICIO industry, replacing the "
        "shipped calibration/maps/icio2023/elasticities.csv",
    )


def read_source(source: Path, options: argparse.Namespace) -> Imported:
    """``fragcge data import icio SOURCE``: the year CSV as an Imported benchmark."""
    sam, notes = icio_sam(source, getattr(options, "elasticities", None))
    return Imported(sam=sam, notes=tuple(notes))


IMPORTER = Importer(
    kind="icio",
    summary="an OECD Inter-Country Input-Output year CSV (2023 release layout)",
    add_arguments=add_arguments,
    read=read_source,
)
