"""Any multi-regional table pymrio can hold (EXIOBASE, Eora, GLORIA, WIOD 2016, OECD...).

:func:`from_pymrio` takes a ``pymrio.IOSystem`` (``Z``, ``Y`` and, if computed, ``x``) and
returns the benchmark GlobalSAM; ``fragcge data import mrio FOLDER`` does the same for an
IOSystem that pymrio saved with ``io.save_all(FOLDER)`` (any of pymrio's table formats,
``txt``/``csv``/``parquet``/``pkl``, a folder or a ``.zip``), read with ``pymrio.load_all``.
A raw download (EXIOBASE zip, Eora folder...) is parsed with pymrio's own parser first
(``pymrio.parse_exiobase3(path)`` etc.), then saved or handed to :func:`from_pymrio`.

``Z`` becomes the MRIO's intermediate block, ``Y`` its final demand and ``x`` its gross
output (row totals of ``Z`` and ``Y`` when pymrio has not computed it); value added is
output minus intermediate inputs, as for WIOD and ICIO (pymrio's factor-input extension is
not read: its rows are satellite accounts whose sum need not close the table). Then the
quirk rules of :mod:`fragcge.calibration.mrio_quirks` apply.

Final-demand categories are folded into household, government and investment by their
names (:func:`category_agent`); a category the rules do not recognise needs a map file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fragcge.calibration.importers import Imported, Importer
from fragcge.calibration.mrio import MRIO
from fragcge.calibration.mrio_flows import benchmark_flows, flows_sam
from fragcge.calibration.mrio_quirks import AGENTS, CATEGORY_AGENT, quirk_summary, resolve_quirks
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.sector_elasticities import (
    check_sector_elasticities,
    sector_elasticities,
)
from fragcge.errors import DatasetError

AGENT_CATEGORY = {"household": "HH", "government": "GOV", "investment": "GFCF"}
"""The quirk rules' category standing for each agent once pymrio's categories are folded."""
KEYWORDS = (
    ("household", "household"),
    ("npish", "household"),
    ("non-profit", "household"),
    ("government", "government"),
    ("capital formation", "investment"),
    ("inventor", "investment"),
    ("valuables", "investment"),
)
"""(text in the category name, lower case; agent), first match wins."""
EXPORT = "export"
"""Categories naming exports to outside the table: skipped when zero, refused otherwise."""


def pymrio_module() -> Any:
    """The pymrio package, or a DatasetError naming the extra that installs it."""
    try:
        import pymrio
    except ImportError as error:
        raise DatasetError(
            "the mrio importer needs pymrio, which is not installed: "
            "pip install 'fragcge[mrio]' (or pip install pymrio)"
        ) from error
    return pymrio


def category_agent(category: str, categories: dict[str, str] | None = None) -> str | None:
    """The agent of a final-demand category; None for an export category (see EXPORT)."""
    if categories and category in categories:
        return categories[category]
    if category in CATEGORY_AGENT:
        return CATEGORY_AGENT[category]
    name = category.lower()
    for text, agent in KEYWORDS:
        if text in name:
            return agent
    if EXPORT in name:
        return None
    raise DatasetError(
        f"Y: final-demand category {category!r} is not recognised (names containing "
        f"{', '.join(repr(t) for t, _ in KEYWORDS)} are); give a map file --categories "
        f"FILE.csv with columns category,agent and agent one of {', '.join(AGENTS)}"
    )


def mrio_from_pymrio(io: Any, categories: dict[str, str] | None = None) -> tuple[MRIO, list[str]]:
    """The MRIO of an IOSystem's ``Z``, ``Y`` and ``x``, categories folded into agents."""
    z_frame, y_frame = getattr(io, "Z", None), getattr(io, "Y", None)
    if not isinstance(z_frame, pd.DataFrame) or not isinstance(y_frame, pd.DataFrame):
        raise DatasetError("IOSystem: Z and Y must both be present (pymrio DataFrames)")
    for name, frame in (("Z", z_frame), ("Y", y_frame)):
        if frame.index.nlevels != 2 or frame.columns.nlevels != 2:
            raise DatasetError(
                f"IOSystem.{name}: expected (region, sector) rows and two column levels, "
                f"found {frame.index.nlevels} and {frame.columns.nlevels}"
            )
    regions = tuple(str(r) for r in dict.fromkeys(z_frame.index.get_level_values(0)))
    sectors = tuple(str(i) for i in dict.fromkeys(z_frame.index.get_level_values(1)))
    rows = pd.MultiIndex.from_product([regions, sectors])
    z_frame = relabel(z_frame)
    y_frame = relabel(y_frame)
    for name, axis, index in (
        ("Z", "rows", z_frame.index),
        ("Z", "columns", z_frame.columns),
        ("Y", "rows", y_frame.index),
    ):
        if len(index) != len(rows) or not index.sort_values().equals(rows.sort_values()):
            raise DatasetError(
                f"IOSystem.{name}: {axis} are not every (region, sector) pair of Z's rows once"
            )
    y_regions = [r for r in dict.fromkeys(y_frame.columns.get_level_values(0))]
    unknown = [r for r in y_regions if r not in regions]
    if unknown:
        raise DatasetError(f"IOSystem.Y: column region(s) {', '.join(unknown)} not in Z")
    numbers = {name: numeric(frame, name) for name, frame in (("Z", z_frame), ("Y", y_frame))}
    z_values = numbers["Z"].loc[rows, rows].to_numpy()
    x_frame = getattr(io, "x", None)
    if isinstance(x_frame, pd.DataFrame) and len(x_frame.columns) == 1:
        x = numeric(relabel(x_frame), "x").reindex(rows).iloc[:, 0].to_numpy()
        if np.isnan(x).any():
            raise DatasetError("IOSystem.x: not every (region, sector) pair of Z has an output")
        x_note = "gross output: IOSystem.x"
    else:
        x = z_values.sum(axis=1) + numbers["Y"].loc[rows].to_numpy().sum(axis=1)
        x_note = "gross output: row totals of Z and Y (IOSystem.x not computed)"

    n_r, n_i = len(regions), len(sectors)
    f = np.zeros((n_r, n_i, n_r, len(AGENTS)))
    skipped = []
    y_values = numbers["Y"].loc[rows]
    for (region, category), column in y_values.items():
        agent = category_agent(category, categories)
        if agent is None:
            if (column != 0).any():
                raise DatasetError(
                    f"IOSystem.Y: column ({region}, {category}) holds exports to outside the "
                    "table; the model is a closed world: map it to an agent with --categories"
                )
            skipped.append(category)
            continue
        f[:, :, regions.index(region), AGENTS.index(agent)] += column.to_numpy().reshape(n_r, n_i)
    mrio = MRIO(
        regions=regions,
        sectors=sectors,
        categories=tuple(AGENT_CATEGORY[a] for a in AGENTS),
        z=z_values.reshape(n_r, n_i, n_r, n_i),
        f=f,
        x=x.reshape(n_r, n_i),
    )
    folded = {
        agent: sorted(
            {
                c
                for c in y_frame.columns.get_level_values(1)
                if category_agent(c, categories) == agent
            }
        )
        for agent in AGENTS
    }
    notes = [
        f"IOSystem: {n_r} regions x {n_i} sectors",
        x_note,
        "value added = output - intermediate inputs (factor inputs not read)",
        *(f"{agent} = {' + '.join(cats) or 'nothing'}" for agent, cats in folded.items()),
    ]
    if skipped:
        notes.append(f"skipped (all zero): {', '.join(sorted(set(skipped)))}")
    return mrio, notes


def relabel(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every index level as strings, so that codes compare as written."""
    frame = frame.copy()
    for axis in ("index", "columns"):
        index = getattr(frame, axis)
        if isinstance(index, pd.MultiIndex):
            index = index.set_levels([level.astype(str) for level in index.levels])
        else:
            index = index.astype(str)
        setattr(frame, axis, index)
    return frame


def numeric(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The frame as finite floats; a missing or non-numeric cell is named."""
    values = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    bad = np.argwhere(~np.isfinite(values.to_numpy()))
    if len(bad):
        row, column = frame.index[bad[0][0]], frame.columns[bad[0][1]]
        raise DatasetError(
            f"IOSystem.{name}: row {row}, column {column}: missing or non-numeric value "
            f"{frame.iat[bad[0][0], bad[0][1]]!r}"
        )
    return values


def pymrio_sam(
    io: Any,
    elasticities: Path | pd.DataFrame | None = None,
    categories: dict[str, str] | None = None,
    name: str = "mrio",
) -> tuple[GlobalSAM, list[str]]:
    """The benchmark of an IOSystem, with the notes for the dataset's README."""
    table, notes = mrio_from_pymrio(io, categories)
    resolved, quirks = resolve_quirks(table, f"IOSystem {name}, table Z")
    if isinstance(elasticities, pd.DataFrame):
        esub = check_sector_elasticities(elasticities, resolved.sectors, "elasticities")
        esub_note = "elasticities: given as a table"
    else:
        esub, esub_note = sector_elasticities(elasticities, resolved.sectors, f"IOSystem {name}")
    unit = unit_of(io)
    meta = {
        "title": f"{name}, imported from a pymrio IOSystem",
        "source": "pymrio IOSystem; imported by fragcge (quirks resolved, see README)",
        **({"unit": unit} if unit else {}),
    }
    sam = flows_sam(benchmark_flows(resolved), esub, name=name, meta=meta)
    return sam, [*notes, *quirk_summary(quirks), esub_note]


def unit_of(io: Any) -> str | None:
    """The IOSystem's unit when every row has the same one."""
    unit = getattr(io, "unit", None)
    if isinstance(unit, pd.DataFrame) and "unit" in unit.columns:
        units = set(unit["unit"].astype(str))
        if len(units) == 1:
            return units.pop()
    return None


def from_pymrio(
    io: Any,
    elasticities: Path | pd.DataFrame | None = None,
    categories: dict[str, str] | None = None,
    name: str = "mrio",
) -> GlobalSAM:
    """The benchmark GlobalSAM of a ``pymrio.IOSystem``, ready for :func:`write_dataset`.

    ``elasticities``: a CSV path or a frame with columns ``sector, esubd, esubva`` (and
    optionally ``esubm, esubt, esubc``), one row per sector; may be left out only when a
    table shipped in ``calibration/maps`` covers the sectors. ``categories`` maps final-demand
    category names to household, government or investment where the name rules fail.
    """
    return pymrio_sam(io, elasticities, categories, name)[0]


def load_iosystem(source: Path) -> Any:
    """The IOSystem pymrio saved in ``source`` (a folder or a .zip)."""
    pymrio = pymrio_module()
    source = Path(source)
    if not source.exists():
        raise DatasetError(f"{source}: no such folder or zip (an IOSystem saved by pymrio)")
    try:
        return pymrio.load_all(source)
    except Exception as error:  # pymrio raises many kinds; the user needs the folder named
        raise DatasetError(
            f"{source}: pymrio.load_all cannot read it as a saved IOSystem ({error}); save "
            "one with io.save_all(folder) after parsing the raw download with pymrio"
        ) from error


def read_categories(path: Path) -> dict[str, str]:
    """A ``category,agent`` map file."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("category", "agent") if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
    bad = sorted(set(frame["agent"]) - set(AGENTS))
    if bad:
        raise DatasetError(
            f"{path}: agent(s) {', '.join(bad)} unknown; expected one of {', '.join(AGENTS)}"
        )
    return dict(zip(frame["category"], frame["agent"], strict=True))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fragcge data import mrio``."""
    parser.add_argument(
        "--elasticities",
        type=Path,
        help="CSV sector,esubd,esubva[,esubm,esubt,esubc], one row per sector (required "
        "unless a table shipped in calibration/maps covers the sectors)",
    )
    parser.add_argument(
        "--categories",
        type=Path,
        help="CSV category,agent mapping final-demand categories to household, government "
        "or investment where fragcge does not recognise their names",
    )


def read_source(source: Path, options: argparse.Namespace) -> Imported:
    """``fragcge data import mrio SOURCE``: a saved IOSystem as an Imported benchmark."""
    categories = getattr(options, "categories", None)
    sam, notes = pymrio_sam(
        load_iosystem(source),
        getattr(options, "elasticities", None),
        read_categories(categories) if categories is not None else None,
        name=Path(source).name.split(".")[0],
    )
    return Imported(sam=sam, notes=tuple(notes))


IMPORTER = Importer(
    kind="mrio",
    summary="an IOSystem saved by pymrio (EXIOBASE, Eora, GLORIA, WIOD 2016, OECD...); "
    "needs the mrio extra",
    add_arguments=add_arguments,
    read=read_source,
)
