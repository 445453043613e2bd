"""A one-sector bilateral trade table, the input of structural gravity, as a benchmark.

SOURCE is a CSV ``exporter,importer,value`` with one row per route, domestic sales
included (``exporter == importer``), the data of ge_gravity (Baier, Yotov and Zylkin 2019)
and of Campos et al. (2023). A missing route is zero trade; a repeated one is an error.

The benchmark is the one-sector Armington economy these papers solve: one good, one
mobile factor ``va``, no intermediate inputs, households the only final demand, no taxes
or margins. Region ``r``'s output, all of it value added, is the sum of its sales
(row sum); its expenditure is the sum of its purchases (column sum). Where they differ,
the difference is the transfer ``vb`` the dataset contract allows (ge_gravity's trade
deficit D = E - Y, fixed in numeraire units); the world's transfers add up to zero.

The trade elasticity θ gives ``esubd = esubm = θ + 1``, so that the Armington nest is a
single CES over every source, the domestic good included (ge_gravity's mapping).
Zero domestic sales are refused: the CES share of the domestic good would be zero, and a
region with no domestic sales is almost always a coding error in the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.importers import Imported, Importer
from fragcge.calibration.sam import FINAL_AGENTS, GlobalSAM
from fragcge.errors import DatasetError

COLUMNS = ("exporter", "importer", "value")
SECTOR = "good"
HH = 1 + FINAL_AGENTS.index("hh")
"""Position of the household on the agent axis of a one-sector economy."""


def read_gravity(path: Path) -> tuple[tuple[str, ...], np.ndarray]:
    """Regions (sorted codes) and the trade matrix ``X[exporter, importer]`` of the CSV."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: cannot be read as CSV ({error})") from error
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}"
        )
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if len(bad):
        k = int(bad[0])
        raise DatasetError(
            f"{path}: line {k + 2} ({frame['exporter'][k]} to {frame['importer'][k]}): value "
            f"{frame['value'][k]!r} must be a number >= 0"
        )
    blank = frame.index[
        (frame["exporter"].str.strip() == "") | (frame["importer"].str.strip() == "")
    ]
    if len(blank):
        raise DatasetError(f"{path}: line {blank[0] + 2}: blank exporter or importer")
    repeated = frame.duplicated(["exporter", "importer"])
    if repeated.any():
        k = int(np.flatnonzero(repeated)[0])
        raise DatasetError(
            f"{path}: line {k + 2}: route {frame['exporter'][k]} to {frame['importer'][k]} "
            "appears more than once"
        )
    regions = tuple(sorted(set(frame["exporter"]) | set(frame["importer"])))
    at = {r: k for k, r in enumerate(regions)}
    trade = np.zeros((len(regions), len(regions)))
    trade[frame["exporter"].map(at), frame["importer"].map(at)] = values
    return regions, trade


def gravity_sam(
    regions: tuple[str, ...],
    trade: np.ndarray,
    trade_elasticity: float,
    name: str = "gravity",
    sector: str = SECTOR,
) -> GlobalSAM:
    """The one-sector Armington benchmark of ``trade[exporter, importer]`` (module docstring)."""
    trade = np.asarray(trade, dtype=float)
    n = len(regions)
    if trade.shape != (n, n):
        raise DatasetError(f"trade: shape {trade.shape}, expected ({n}, {n}) for {n} regions")
    if (trade < 0).any():
        s, r = np.argwhere(trade < 0)[0]
        raise DatasetError(f"trade: {regions[s]} to {regions[r]} is {trade[s, r]:.12g} < 0")
    no_domestic = [regions[k] for k in np.flatnonzero(np.diag(trade) <= 0)]
    if no_domestic:
        raise DatasetError(
            f"trade: region(s) {', '.join(no_domestic)} have no domestic sales (exporter = "
            "importer); each region needs positive domestic sales"
        )
    sigma = float(trade_elasticity) + 1.0
    if not (np.isfinite(sigma) and sigma > 0):
        raise DatasetError(
            f"trade elasticity {trade_elasticity!r}: must be a number > -1 (esubd = θ + 1 > 0)"
        )
    exports = trade * (1.0 - np.eye(n))
    agents = 1 + len(FINAL_AGENTS)
    vdfm = np.zeros((1, agents, n))
    vifm = np.zeros((1, agents, n))
    vdfm[0, HH] = np.diag(trade)
    vifm[0, HH] = exports.sum(axis=0)
    zeros = np.zeros
    return GlobalSAM(
        name=name,
        regions=tuple(regions),
        sectors=(sector,),
        factors=("va",),
        factor_kind={"va": "mobile"},
        margins=(),
        vfm=trade.sum(axis=1)[None, None, :],  # output = value added, [f, j, r]
        vdfm=vdfm,
        vifm=vifm,
        vxmd=exports[None],
        vtwr=zeros((0, 1, n, n)),
        vst=zeros((0, n)),
        to0=zeros((1, n)),
        tf0=zeros((1, 1, n)),
        tdf0=zeros((1, agents, n)),
        tif0=zeros((1, agents, n)),
        tx0=zeros((1, n, n)),
        tm0=zeros((1, n, n)),
        esubd=np.array([sigma]),
        esubm=np.array([sigma]),
        esubva=np.array([1.0]),  # one factor: no substitution to speak of
        esubt=np.array([0.0]),
        esubc=np.array([0.0]),
        meta={"title": f"{name}: one-sector gravity benchmark"},
    )


def gravity_import(
    source: Path, trade_elasticity: float, sector: str = SECTOR
) -> tuple[GlobalSAM, list[str]]:
    """The benchmark of a trade CSV, with the notes for the dataset's README."""
    regions, trade = read_gravity(source)
    name = Path(source).name.split(".")[0]
    sam = gravity_sam(regions, trade, trade_elasticity, name=name, sector=sector)
    deficit = trade.sum(axis=0) - trade.sum(axis=1)
    largest = int(np.abs(deficit).argmax())
    theta = float(trade_elasticity)
    notes = [
        f"{Path(source).name}: {len(regions)} regions, {np.count_nonzero(trade)} non-zero routes",
        f"trade elasticity θ = {theta:g}: esubd = esubm = θ + 1 = {theta + 1:g}",
        "output = value added of one mobile factor va = sales (row sum); household "
        "expenditure = purchases (column sum)",
        f"expenditure - output is the transfer vb of each region (sum {deficit.sum():.6g}); "
        f"largest {deficit[largest]:.12g} at {regions[largest]}",
    ]
    return sam, notes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fragcge data import gravity``."""
    parser.add_argument(
        "--trade-elasticity",
        type=float,
        required=True,
        metavar="THETA",
        help="trade elasticity θ > -1; esubd = esubm = θ + 1 (ge_gravity's mapping)",
    )
    parser.add_argument(
        "--sector", default=SECTOR, help=f"code of the one sector (default {SECTOR})"
    )


def read_source(source: Path, options: argparse.Namespace) -> Imported:
    """``fragcge data import gravity SOURCE``: the trade table as an Imported benchmark."""
    sam, notes = gravity_import(
        source, options.trade_elasticity, getattr(options, "sector", SECTOR)
    )
    return Imported(sam=sam, notes=tuple(notes))


IMPORTER = Importer(
    kind="gravity",
    summary="a one-sector bilateral trade table exporter,importer,value (structural gravity)",
    add_arguments=add_arguments,
    read=read_source,
)
