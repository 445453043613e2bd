"""Benchmark economies for the reference tests, built by the gravity importer's benchmark.

Each is the one-sector Armington economy that the trade-theory results are stated for:
one good per region, one mobile factor ``va``, no intermediate inputs, households the
only final demand, no taxes or margins, and ``esubd = esubm = σ`` so that the Armington
nest is a single CES over all sources, the domestic good included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.gravity import gravity_sam
from fragcge.calibration.sam import GlobalSAM

DATA = Path(__file__).resolve().parent / "data"
GE_GRAVITY = DATA / "ge_gravity_eu2000" / "expected_ge_gravity.csv.gz"


def armington_sam(
    trade: np.ndarray,
    sigma: float,
    regions: tuple[str, ...] | None = None,
    name: str = "armington",
) -> GlobalSAM:
    """The one-sector economy whose bilateral flows are ``trade[exporter, importer]``.

    The gravity importer's benchmark (:func:`fragcge.calibration.gravity.gravity_sam`)
    with trade elasticity σ − 1: the diagonal is domestic sales, bought by the household,
    the off-diagonal entries exports; expenditure minus income is the transfer ``vb``.
    """
    regions = regions or tuple(f"r{k}" for k in range(np.shape(trade)[0]))
    return gravity_sam(regions, trade, sigma - 1.0, name=name)


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
