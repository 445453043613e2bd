"""Reading and writing one table of a dataset folder, with the checks of its rows."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.schema import IGNORED_PREFIXES, IGNORED_SUFFIXES, Table
from fragcge.calibration.validate import Problems, examples

EXTENSIONS = (".csv", ".parquet")


def folder_files(folder: Path) -> list[Path]:
    """The entries of a dataset folder that belong to it, sorted by name: every one but
    hidden, lock and backup files (``schema.IGNORED_PREFIXES``, ``IGNORED_SUFFIXES``)."""
    return sorted(
        path
        for path in folder.iterdir()
        if not path.name.startswith(IGNORED_PREFIXES) and not path.name.endswith(IGNORED_SUFFIXES)
    )


def table_file(folder: Path, table: Table, problems: Problems) -> Path | None:
    """The file holding ``table`` in ``folder``: a .csv or a .parquet, not both."""
    candidates = [folder / f"{table.name}{ext}" for ext in EXTENSIONS]
    dangling = [p for p in candidates if p.is_symlink() and not p.exists()]
    for path in dangling:
        problems.add(
            f"{path.name}: a symbolic link to {os.readlink(path)}, which does not exist; "
            f"point it at the {table.name} table or remove it"
        )
    if dangling:
        return None
    found = [path for path in candidates if path.is_file()]
    if len(found) > 1:
        problems.add(f"{found[0].name} and {found[1].name}: both present; keep one")
        return None
    if not found and table.required:
        problems.add(
            f"{table.name}.csv: required table missing from {folder} (looked for "
            f"{table.name}.csv or {table.name}.parquet, columns {', '.join(table.columns)})"
        )
    return found[0] if found else None


def read_table(
    path: Path, table: Table, codes: dict[str, tuple[str, ...]], problems: Problems
) -> pd.DataFrame | None:
    """The rows of ``path`` with codes as str and values as float, or None if any row fails.

    ``codes`` gives the allowed codes of each kind of key column (region, sector, ...).
    """
    before = len(problems.messages)
    frame = _read(path, table, problems)
    if frame is None:
        return None
    frame.index = _row_labels(path, len(frame))
    for column, kind in table.keys.items():
        _check_codes(path, frame, column, kind, codes[kind], problems)
    for column, rule in table.values.items():
        if column in frame.columns:
            frame[column] = _numbers(path, frame, column, problems)
            bad = frame[column].notna() & ~rule.holds(frame[column].to_numpy())
            if bad.any():
                problems.add(
                    f"{path.name}, column '{column}': {rule.text}; "
                    + examples(_rows(frame[bad], table, column))
                )
    if table.route:
        own = frame[frame["exporter"] == frame["importer"]]
        if len(own):
            problems.add(
                f"{path.name}: exporter = importer in {len(own)} row(s), where only "
                f"international trade belongs; " + examples(_rows(own, table))
            )
    keys = list(table.keys)
    repeated = frame[frame.duplicated(keys, keep=False)]
    for key, rows in repeated.groupby(keys, sort=False):
        key_text = ", ".join(f"{c}={v}" for c, v in zip(keys, key, strict=True))
        problems.add(f"{path.name}: duplicate key ({key_text}) in {', '.join(rows.index)}")
    return frame if len(problems.messages) == before else None


def write_table(folder: Path, table: Table, rows: Iterable[tuple[object, ...]]) -> None:
    """Write ``rows`` (keys, then values in ``table.columns`` order) as ``<table>.csv``.

    Floats are written by ``repr``, the shortest text that reads back to the same float.
    """
    with (folder / f"{table.name}.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.columns)
        for row in rows:
            writer.writerow([repr(float(v)) if isinstance(v, float) else v for v in row])


def _read(path: Path, table: Table, problems: Problems) -> pd.DataFrame | None:
    """The raw table, or None (with the reason recorded) if it cannot be read or lacks columns."""
    try:
        if path.suffix == ".csv":
            # Codes are text ("NA" is Namibia, not a missing value); a spreadsheet's BOM is not.
            frame = pd.read_csv(
                path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
            )
        else:
            frame = pd.read_parquet(path)
    except ImportError:
        problems.add(
            f"{path.name}: reading .parquet needs pyarrow, which is not installed; "
            f"`pip install pyarrow`, or save the table as {table.name}.csv"
        )
        return None
    except pd.errors.EmptyDataError:
        problems.add(f"{path.name}: empty file; expected columns {', '.join(table.columns)}")
        return None
    except (OSError, ValueError, pd.errors.ParserError) as error:
        problems.add(f"{path.name}: cannot be read ({str(error).strip()})")
        return None
    columns = [str(c) for c in frame.columns]
    required = [c for c in table.columns if c not in table.optional_values]
    missing = [c for c in required if c not in columns]
    unknown = [c for c in columns if c not in table.columns]
    expected = f"expected columns {', '.join(table.columns)}" + (
        f" ({', '.join(table.optional_values)} optional)" if table.optional_values else ""
    )
    if missing:
        problems.add(f"{path.name}: missing column(s) {_quoted(missing)}; {expected}")
    if unknown:
        problems.add(f"{path.name}: unknown column(s) {_quoted(unknown)}; {expected}")
    if missing or unknown:
        return None
    frame.columns = columns
    for column in table.keys:
        blank = frame[column].isna()
        frame[column] = frame[column].astype(str).where(~blank, "")
    return frame


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _row_labels(path: Path, n: int) -> list[str]:
    """Where each row is: its line in a .csv (the header is line 1), its row in a .parquet."""
    if path.suffix == ".csv":
        return [f"line {k + 2}" for k in range(n)]
    return [f"row {k + 1}" for k in range(n)]


def _rows(frame: pd.DataFrame, table: Table, column: str | None = None) -> list[str]:
    """``line 4 (commodity=ELE, exporter=CHN, importer=USA): -3`` for each row."""
    out = []
    for label, row in frame.iterrows():
        keys = ", ".join(f"{c}={row[c]}" for c in table.keys)
        value = "" if column is None else f": {row[column]:.10g}"
        out.append(f"{label} ({keys}){value}")
    return out


def _check_codes(
    path: Path,
    frame: pd.DataFrame,
    column: str,
    kind: str,
    allowed: tuple[str, ...],
    problems: Problems,
) -> None:
    unknown = frame[~frame[column].isin(allowed)]
    for value, rows in unknown.groupby(column, sort=False):
        problems.add(
            f"{path.name}, column '{column}': unknown {kind} code {value!r} in "
            f"{examples(list(rows.index))}; allowed: {', '.join(allowed)}"
        )


def _numbers(path: Path, frame: pd.DataFrame, column: str, problems: Problems) -> pd.Series:
    """The column as floats; unreadable or non-finite entries become NaN and are reported."""
    texts = frame[column]
    try:
        # A copy: pandas' copy-on-write hands out read-only views, and bad cells are set below.
        values = np.array(texts, dtype=float)
    except (TypeError, ValueError):
        values = np.array([_float(v) for v in texts])
    bad = ~np.isfinite(values)
    if bad.any():
        cells = [f"{label}: {text!r}" for label, text in texts[bad].items()]
        problems.add(f"{path.name}, column '{column}': not a finite number in {examples(cells)}")
        values[bad] = np.nan
    return pd.Series(values, index=frame.index)


def _float(text: str | float) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return np.nan
