"""Read a WIOD-style multi-regional input-output table into labelled arrays.

A table is a folder of three CSV files (each may be gzip-compressed, ``.csv.gz``):

- ``intermediate.csv``: wide; rows are supplying ``REG_SEC`` (region, industry), columns
  are using ``REG_SEC``; the first column holds the row labels.
- ``final_demand.csv``: wide; rows are supplying ``REG_SEC``, columns are ``REG_CAT`` with
  a final-demand category such as ``HH``, ``NPISH``, ``GOV``, ``GFCF`` or ``INV``.
- ``gross_output.csv``: long; columns ``supplier`` and ``gross_output``.

Region codes hold no underscore: a label splits at its first ``_`` into region and
industry, and at its last ``_`` into region and category. Reading only checks shapes,
labels and numbers; the table's economic quirks are resolved in
:mod:`fragcge.calibration.mrio_quirks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.errors import DatasetError

TABLE_FILES = ("intermediate", "final_demand", "gross_output")


@dataclass(frozen=True, eq=False)
class MRIO:
    """A multi-regional input-output table as dense arrays.

    ``z[s, i, r, j]``: intermediate use of industry ``i`` of region ``s`` by industry
    ``j`` of region ``r``; ``f[s, i, r, k]``: final demand of region ``r``, category ``k``,
    for the output of ``(s, i)``; ``x[s, i]``: gross output. Values in the table's unit.
    """

    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    categories: tuple[str, ...]
    z: np.ndarray
    f: np.ndarray
    x: np.ndarray

    def label(self, region: int, sector: int) -> str:
        """The ``REG_SEC`` label of a (region, sector) position."""
        return f"{self.regions[region]}_{self.sectors[sector]}"

    @property
    def uses(self) -> np.ndarray:
        """Row total of uses [s, i]: intermediate plus final demand of every buyer."""
        return self.z.sum(axis=(2, 3)) + self.f.sum(axis=(2, 3))

    @property
    def inputs(self) -> np.ndarray:
        """Column total of intermediate inputs [r, j]."""
        return self.z.sum(axis=(0, 1))

    @property
    def value_added(self) -> np.ndarray:
        """Value added as the residual [r, j]: gross output minus intermediate inputs."""
        return self.x - self.inputs


def read_mrio(folder: Path) -> MRIO:
    """Read ``intermediate``, ``final_demand`` and ``gross_output`` from a table folder."""
    paths = {name: table_path(Path(folder), name) for name in TABLE_FILES}
    z_wide = read_wide(paths["intermediate"])
    regions, sectors = split_grid(list(z_wide.index), paths["intermediate"], "row")
    labels = [f"{r}_{i}" for r in regions for i in sectors]
    require_labels(list(z_wide.columns), labels, paths["intermediate"], "column")
    f_wide = read_wide(paths["final_demand"])
    require_labels(list(f_wide.index), labels, paths["final_demand"], "row")
    categories = final_categories(list(f_wide.columns), regions, paths["final_demand"])
    x = read_gross_output(paths["gross_output"])
    require_labels(list(x.index), labels, paths["gross_output"], "supplier")
    n_r, n_i, n_k = len(regions), len(sectors), len(categories)
    f_columns = [f"{r}_{k}" for r in regions for k in categories]
    return MRIO(
        regions=regions,
        sectors=sectors,
        categories=categories,
        z=z_wide.loc[labels, labels].to_numpy().reshape(n_r, n_i, n_r, n_i),
        f=f_wide.loc[labels, f_columns].to_numpy().reshape(n_r, n_i, n_r, n_k),
        x=x.loc[labels].to_numpy().reshape(n_r, n_i),
    )


def table_path(folder: Path, name: str) -> Path:
    """The file of table ``name`` in ``folder``: ``name.csv`` or ``name.csv.gz``."""
    for candidate in (folder / f"{name}.csv", folder / f"{name}.csv.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{folder}: missing table {name}.csv (or {name}.csv.gz)")


def read_wide(path: Path) -> pd.DataFrame:
    """A wide numeric matrix whose first column holds the row labels."""
    frame = pd.read_csv(path, index_col=0)
    frame.index = frame.index.astype(str)
    return numeric(frame, path)


def read_gross_output(path: Path) -> pd.Series:
    """Gross output by ``supplier`` label, from columns ``supplier`` and ``gross_output``."""
    frame = pd.read_csv(path)
    missing = [c for c in ("supplier", "gross_output") if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
    frame = frame.set_index(frame["supplier"].astype(str))[["gross_output"]]
    return numeric(frame, path)["gross_output"]


def numeric(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The frame as floats; a repeated row label or a blank or non-numeric cell is an error."""
    duplicated = frame.index[frame.index.duplicated()]
    if len(duplicated):
        raise DatasetError(f"{path}: row label {duplicated[0]} appears more than once")
    values = frame.apply(pd.to_numeric, errors="coerce")
    bad = np.argwhere(values.isna().to_numpy())
    if len(bad):
        row, column = frame.index[bad[0][0]], frame.columns[bad[0][1]]
        raise DatasetError(
            f"{path}: row {row}, column {column}: blank or non-numeric value "
            f"{frame.at[row, column]!r}"
        )
    return values.astype(float)


def split_grid(labels: list[str], path: Path, axis: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Regions and sectors, in order of appearance, of a full ``REG_SEC`` label grid."""
    pairs = [split_label(label, path, axis, first=True) for label in labels]
    regions = tuple(dict.fromkeys(r for r, _ in pairs))
    sectors = tuple(dict.fromkeys(i for _, i in pairs))
    require_labels(labels, [f"{r}_{i}" for r in regions for i in sectors], path, axis)
    return regions, sectors


def final_categories(columns: list[str], regions: tuple[str, ...], path: Path) -> tuple[str, ...]:
    """Final-demand categories, in order of appearance, of a full ``REG_CAT`` column grid."""
    pairs = [split_label(column, path, "column", first=False) for column in columns]
    unknown = [f"{r}_{k}" for r, k in pairs if r not in regions]
    if unknown:
        raise DatasetError(f"{path}: column {unknown[0]} names a region absent from the rows")
    categories = tuple(dict.fromkeys(k for _, k in pairs))
    require_labels(columns, [f"{r}_{k}" for r in regions for k in categories], path, "column")
    return categories


def split_label(label: str, path: Path, axis: str, first: bool) -> tuple[str, str]:
    """(region, code) of a ``REG_CODE`` label, split at its first or last underscore."""
    head, sep, tail = label.partition("_") if first else label.rpartition("_")
    if not (sep and head and tail):
        raise DatasetError(f"{path}: {axis} label {label!r} is not of the form REGION_CODE")
    return head, tail


def require_labels(found: list[str], expected: list[str], path: Path, axis: str) -> None:
    """Check that ``found`` holds each expected label once and nothing else."""
    seen = set(found)
    missing = [label for label in expected if label not in seen]
    extra = sorted(seen.difference(expected))
    duplicated = len(found) != len(seen)
    if missing or extra or duplicated:
        problems = []
        if missing:
            problems.append(f"missing {axis} label(s) {', '.join(missing[:5])}")
        if extra:
            problems.append(f"unexpected {axis} label(s) {', '.join(extra[:5])}")
        if duplicated:
            problems.append(f"a {axis} label appears more than once")
        raise DatasetError(f"{path}: {'; '.join(problems)}")
