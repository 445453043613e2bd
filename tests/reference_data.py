"""Benchmark economies for the reference tests, built with numpy alone.

Each is the one-sector Armington economy that the trade-theory results are stated for:
one good per region, one mobile factor ``va``, no intermediate inputs, households the
only final demand, no taxes or margins, and ``esubd = esubm = σ`` so that the Armington
nest is a single CES over all sources, the domestic good included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.sam import FINAL_AGENTS, GlobalSAM

DATA = Path(__file__).resolve().parent / "data"
GE_GRAVITY = DATA / "ge_gravity_eu2000" / "expected_ge_gravity.csv.gz"
HH = 1 + FINAL_AGENTS.index("hh")
"""Position of the household on the agent axis when there is one sector."""


def armington_sam(
    trade: np.ndarray,
    sigma: float,
    regions: tuple[str, ...] | None = None,
    name: str = "armington",
) -> GlobalSAM:
    """The one-sector economy whose bilateral flows are ``trade[exporter, importer]``.

    The diagonal is domestic sales, bought by the household; the off-diagonal entries
    are exports at market prices, and each importer's household buys the sum of its
    imports. Output is the sum of the exporter's sales, all of it value added of the one
    mobile factor. Expenditure minus income (column sum minus row sum) is the transfer
    ``vb`` that the data then imply.
    """
    trade = np.asarray(trade, dtype=float)
    n = trade.shape[0]
    if trade.shape != (n, n) or np.any(np.diag(trade) <= 0) or np.any(trade < 0):
        raise ValueError("trade must be a square non-negative matrix with positive diagonal")
    regions = regions or tuple(f"r{k}" for k in range(n))
    exports = trade * (1.0 - np.eye(n))
    agents = 1 + len(FINAL_AGENTS)

    vdfm = np.zeros((1, agents, n))
    vifm = np.zeros((1, agents, n))
    vdfm[0, HH] = np.diag(trade)
    vifm[0, HH] = exports.sum(axis=0)
    vfm = trade.sum(axis=1)[None, None, :]  # output = value added, [f, j, r]

    zeros = np.zeros
    return GlobalSAM(
        name=name,
        regions=regions,
        sectors=("good",),
        factors=("va",),
        factor_kind={"va": "mobile"},
        margins=(),
        vfm=vfm,
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
        esubd=np.array([float(sigma)]),
        esubm=np.array([float(sigma)]),
        esubva=np.array([1.0]),
        esubt=np.array([0.0]),
        esubc=np.array([0.0]),
        esubp=1.0,
        esubg=1.0,
        esubi=0.0,
        meta={"unit": "arbitrary"},
    )


def ge_gravity_eu2000() -> tuple[tuple[str, ...], np.ndarray, np.ndarray, pd.DataFrame]:
    """The year-2000 rows of the published ge_gravity EU-enlargement example.

    Returns the economies (sorted codes), the trade matrix ``X[exporter, importer]``,
    the partial effect ``β[exporter, importer]`` (``eu_effect``, non-zero exactly on the
    ``new_eu_pair`` routes) and the rows themselves, which carry the published welfare
    change ``w_eu`` of the exporter and the new flow ``X_eu``.
    """
    rows = pd.read_csv(GE_GRAVITY)
    rows = rows[rows["year"] == 2000].copy()
    regions = tuple(sorted(set(rows["exporter"]) | set(rows["importer"])))
    pos = {c: k for k, c in enumerate(regions)}
    rows["e"] = rows["exporter"].map(pos)
    rows["m"] = rows["importer"].map(pos)
    n = len(regions)
    if len(rows) != n * n:
        raise ValueError(f"expected {n * n} year-2000 rows, found {len(rows)}")
    trade = np.zeros((n, n))
    beta = np.zeros((n, n))
    trade[rows["e"], rows["m"]] = rows["trade"]
    beta[rows["e"], rows["m"]] = np.where(rows["new_eu_pair"] == 1, rows["eu_effect"], 0.0)
    return regions, trade, beta, rows
