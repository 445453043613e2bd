"""Per-sector elasticities for importers whose source has none: a user's file or a shipped table.

A table is a CSV with a ``sector`` column and a column per elasticity of the registry
(``calibration/elasticity_registry.py``); those with a default (``esubm``: ``2 * esubd``,
GTAP's rule of two; ``esubt`` and ``esubc``: 0) may be left out, as in a dataset's
``elasticities.csv``. Rows for sectors the source lacks
are ignored, so one shipped table can serve several releases of a classification.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.elasticity_registry import REGISTRY
from fragcge.errors import DatasetError

SHIPPED = Path(__file__).resolve().parent / "maps"
"""Folders of ``calibration/maps`` holding an ``elasticities.csv``."""
PER_SECTOR = tuple(e for e in REGISTRY if e.per_sector)
REQUIRED = ("sector", *(e.name for e in PER_SECTOR if e.default is None))
OPTIONAL = tuple(e.name for e in PER_SECTOR if e.default is not None)


def read_sector_elasticities(path: Path, sectors: tuple[str, ...]) -> pd.DataFrame:
    """The rows of ``sectors`` in the table at ``path``, every elasticity column filled in."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: cannot be read as CSV ({error})") from error
    return check_sector_elasticities(frame, sectors, str(path))


def check_sector_elasticities(
    frame: pd.DataFrame, sectors: tuple[str, ...], where: str
) -> pd.DataFrame:
    """The rows of ``sectors`` in ``frame`` (named ``where`` in errors), defaults filled in."""
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{where}: missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED)} "
            f"and optionally {', '.join(OPTIONAL)}"
        )
    codes = frame["sector"].astype(str)
    repeated = sorted(set(codes[codes.duplicated()]))
    if repeated:
        raise DatasetError(f"{where}: sector(s) {', '.join(repeated)} listed more than once")
    absent = [j for j in sectors if j not in set(codes)]
    if absent:
        raise DatasetError(
            f"{where}: no row for sector(s) {', '.join(absent)} of the source; one row per "
            "sector is needed"
        )
    frame = frame.set_index(codes).loc[list(sectors)]
    values: dict[str, np.ndarray] = {}
    for e in PER_SECTOR:
        column = e.name
        if column not in frame.columns:
            values[column] = e.default_values(values, len(sectors))
            continue
        numbers = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(numbers) & (numbers >= 0))
        if bad.any():
            k = int(bad.argmax())
            raise DatasetError(
                f"{where}: sector {frame.index[k]}, column {column}: "
                f"'{frame[column].iloc[k]}' is not a number >= 0"
            )
        values[column] = numbers
    table = pd.DataFrame(
        {c: np.broadcast_to(v, len(sectors)) for c, v in values.items()},
        index=pd.Index(list(sectors), name="sector"),
    )
    return table.reset_index()


def shipped_elasticities(sectors: tuple[str, ...]) -> Path | None:
    """The first shipped table (by folder name) with a row for every sector, if any."""
    for path in sorted(SHIPPED.glob("*/elasticities.csv")):
        codes = set(pd.read_csv(path, dtype={"sector": str}, keep_default_na=False)["sector"])
        if codes.issuperset(sectors):
            return path
    return None


def sector_elasticities(
    override: Path | None, sectors: tuple[str, ...], source: str
) -> tuple[pd.DataFrame, str]:
    """Elasticities from ``override`` or else a matching shipped table, and a note saying which.

    ``source`` names the data in the error raised when neither is available.
    """
    path = Path(override) if override is not None else shipped_elasticities(sectors)
    if path is None:
        raise DatasetError(
            f"{source}: no shipped elasticity table covers its sectors "
            f"({', '.join(sectors[:8])}{', ...' if len(sectors) > 8 else ''}); pass "
            f"--elasticities FILE.csv with columns {', '.join(REQUIRED)} (and optionally "
            f"{', '.join(OPTIONAL)})"
        )
    shipped = path.parent.parent == SHIPPED
    where = f"calibration/maps/{path.parent.name}/{path.name}" if shipped else str(path)
    kind = "shipped table" if shipped else "user table"
    return read_sector_elasticities(path, sectors), f"elasticities: {kind} {where}"
