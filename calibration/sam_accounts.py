"""``fragcge data import sam``: read a SAM file and its account map, check, balance on
request, and hand the dataset it stands for to the import pipeline.

The format (roles, cells, what each becomes) is :mod:`fragcge.calibration.sam_cells`.
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.balance import METHODS, balance_square
from fragcge.calibration.elasticity_weights import ELASTICITIES
from fragcge.calibration.importers import Imported, Importer
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.sam_cells import (
    FACTOR_ROLES,
    ROLES,
    WORLD_ROLES,
    Account,
    SocialAccounts,
    check_balanced,
    check_cells,
    sets_of,
    to_global_sam,
)
from fragcge.calibration.sector_elasticities import read_sector_elasticities
from fragcge.calibration.validate import Problems, examples
from fragcge.errors import DatasetError

MAP_COLUMNS = ("account", "region", "role", "code", "partner")
LONG_COLUMNS = ("row", "column", "value")
DEFAULT_ELASTICITIES = {"esubd": 2.0, "esubm": 4.0, "esubva": 1.0, "esubt": 0.0, "esubc": 0.0}
"""Used for every sector when no --elasticities file is given (stated in the README)."""


# --- reading ---------------------------------------------------------------------------


def read_account_map(path: Path) -> tuple[Account, ...]:
    """The accounts of a map file ``account,region,role,code[,partner]``, checked."""
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
        )
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DatasetError(f"{path}: cannot be read as CSV ({str(error).strip()})") from None
    columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in MAP_COLUMNS[:4] if c not in columns]
    unknown = [c for c in columns if c not in MAP_COLUMNS]
    if missing or unknown:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing) or 'none'}, unknown column(s) "
            f"{', '.join(unknown) or 'none'}; expected {', '.join(MAP_COLUMNS)} (partner optional)"
        )
    frame.columns = columns
    problems = Problems(str(path))
    seen: dict[str, int] = {}
    out = []
    for line, row in enumerate(frame.to_dict("records"), start=2):
        account = Account(*(str(row.get(c, "")).strip() for c in MAP_COLUMNS))
        where = f"line {line} ({account.name or 'blank account'})"
        if not account.name:
            problems.add(f"{where}: blank account name")
            continue
        if account.name in seen:
            problems.add(
                f"{where}: account {account.name!r} is mapped twice (also on line "
                f"{seen[account.name]}); each account needs exactly one line"
            )
            continue
        seen[account.name] = line
        problems.messages.extend(f"{where}: {m}" for m in _account_problems(account))
        out.append(account)
    problems.raise_if_any()
    return tuple(out)


def _account_problems(a: Account) -> list[str]:
    if a.role not in ROLES:
        return [f"unknown role {a.role!r}; roles: {', '.join(ROLES)}"]
    found = []
    if a.role in WORLD_ROLES:
        if a.region:
            found.append(f"a {a.role} account belongs to the world: leave its region empty")
    elif not a.region:
        found.append(f"a {a.role} account needs a region")
    needs_code = ("activity", "commodity", "imported", "trade", "margin", *FACTOR_ROLES)
    needs_code += ("tax-factor", "tax-purchase-domestic", "tax-purchase-imported")
    if a.role in needs_code and not a.code:
        found.append(f"a {a.role} account needs a code (the sector, margin or factor it is for)")
    if a.role == "trade" and not a.partner:
        found.append("a trade account needs a partner: the exporting region")
    if a.role != "trade" and a.partner:
        found.append(f"only trade accounts have a partner; this one is a {a.role} account")
    if a.role == "trade" and a.partner == a.region:
        found.append("a trade account's partner must differ from its region")
    return found


def read_sam_cells(path: Path, accounts_: tuple[Account, ...]) -> SocialAccounts:
    """The cells of a SAM file: a long CSV ``row,column,value`` or a square CSV/.xlsx matrix."""
    frame = _read_long(path) if _is_long(path) else _read_square(path)
    index = {a.name: k for k, a in enumerate(accounts_)}
    problems = Problems(str(path))
    for column in ("row", "column"):
        unknown = sorted(set(frame[column]) - set(index))
        if unknown:
            problems.add(
                f"{column} account(s) not in the account map: {examples(unknown)}; "
                "add them to the map (account,region,role,code,partner)"
            )
    repeated = frame[frame.duplicated(["row", "column"], keep=False)]
    if len(repeated):
        pairs = sorted(
            {f"({r}, {c})" for r, c in zip(repeated["row"], repeated["column"], strict=True)}
        )
        problems.add(f"cell(s) given more than once: {examples(pairs)}")
    problems.raise_if_any()
    frame = frame[frame["value"] != 0]
    return SocialAccounts(
        accounts=accounts_,
        rows=frame["row"].map(index).to_numpy(dtype=int),
        cols=frame["column"].map(index).to_numpy(dtype=int),
        values=frame["value"].to_numpy(dtype=float),
        source=str(path),
    )


def _is_long(path: Path) -> bool:
    """Whether ``path`` is a long table: a CSV whose header is exactly ``row,column,value``.
    A header within a typo of it is refused, where it would be read as a square matrix."""
    if path.suffix.lower() != ".csv":
        return False
    with path.open(encoding="utf-8-sig") as text:
        header = [c.strip() for c in text.readline().strip().split(",")]
    if header == list(LONG_COLUMNS):
        return True
    near = len(header) == len(LONG_COLUMNS) and all(
        difflib.SequenceMatcher(None, given.lower(), expected).ratio() >= 0.6
        for given, expected in zip(header, LONG_COLUMNS, strict=True)
    )
    if near:
        raise DatasetError(
            f"{path}: header {','.join(header)!r} is almost that of a long SAM table; expected "
            f"exactly {','.join(LONG_COLUMNS)!r} (lower case), or a square matrix whose first "
            "row names the column accounts"
        )
    return False


def _read_long(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [str(c).strip() for c in frame.columns]
    frame["row"] = frame["row"].str.strip()
    frame["column"] = frame["column"].str.strip()
    frame["value"] = _numbers(path, frame["value"], [f"line {k + 2}" for k in range(len(frame))])
    return frame


def _read_square(path: Path) -> pd.DataFrame:
    """A square matrix: row accounts in the first column, column accounts in the header."""
    try:
        if path.suffix.lower() == ".xlsx":
            matrix = pd.read_excel(path, sheet_name=0, header=0, index_col=0, dtype=object)
        elif path.suffix.lower() == ".csv":
            matrix = pd.read_csv(
                path, header=0, index_col=0, dtype=str, keep_default_na=False,
                encoding="utf-8-sig",
            )  # fmt: skip
        else:
            raise DatasetError(
                f"{path}: a SAM is a .csv (long row,column,value or square) or a .xlsx matrix"
            )
    except ImportError:
        raise DatasetError(
            f"{path}: reading .xlsx needs openpyxl; `pip install 'fragcge[excel]'` or save the "
            "matrix as .csv"
        ) from None
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DatasetError(f"{path}: cannot be read ({str(error).strip()})") from None
    rows = [str(r).strip() for r in matrix.index]
    cols = [str(c).strip() for c in matrix.columns]
    if not set(rows) & set(cols):
        raise DatasetError(
            f"{path}: read as a square matrix (its header is not {','.join(LONG_COLUMNS)}), but "
            f"no label of its first row ({examples(cols)}) is a row account of its first "
            "column: a square SAM's first row names the same accounts as its first column; a "
            f"long table needs the header {','.join(LONG_COLUMNS)}"
        )
    for what, labels in (("row", rows), ("column", cols)):
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        if repeated:
            raise DatasetError(f"{path}: {what} account(s) {', '.join(repeated)} appear twice")
    long = matrix.stack(future_stack=True).reset_index()
    long.columns = ["row", "column", "value"]
    long["row"] = long["row"].astype(str).str.strip()
    long["column"] = long["column"].astype(str).str.strip()
    where = [f"cell ({r}, {c})" for r, c in zip(long["row"], long["column"], strict=True)]
    blank = long["value"].isna() | (long["value"].astype(str).str.strip() == "")
    long.loc[blank, "value"] = "0"
    long["value"] = _numbers(path, long["value"], where)
    return long


def _numbers(path: Path, texts: pd.Series, where: list[str]) -> np.ndarray:
    values = np.array([_float(t) for t in texts], dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        cells = [f"{w}: {t!r}" for w, t, b in zip(where, texts, bad, strict=True) if b]
        raise DatasetError(f"{path}: not a finite number in {examples(cells)}")
    return values


def _float(text: object) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        return np.nan


# --- the importer ----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fragcge data import sam``."""
    parser.add_argument(
        "--accounts",
        type=Path,
        required=True,
        metavar="MAP.csv",
        help="account map: account,region,role,code[,partner] (docs/data.md, section sam)",
    )
    parser.add_argument(
        "--elasticities",
        type=Path,
        metavar="FILE.csv",
        help="sector,esubd,esubva[,esubm,esubt,esubc] per sector (default: generic values, "
        "stated in the README)",
    )
    parser.add_argument(
        "--balance",
        choices=METHODS,
        help="balance an unbalanced SAM on import (as `fragcge data balance` does a dataset)",
    )
    parser.add_argument("--unit", default="value units", help="unit of the SAM's values")
    parser.add_argument("--year", type=int, help="the SAM's year")


def import_sam(
    source: Path,
    account_map: Path,
    *,
    elasticities: Path | None = None,
    balance: str | None = None,
    unit: str = "value units",
    year: int | None = None,
) -> tuple[GlobalSAM, tuple[str, ...]]:
    """The dataset a SAM file stands for, and the notes for its README."""
    source = Path(source)
    if not source.is_file():
        raise DatasetError(f"{source}: no such SAM file")
    cells = read_sam_cells(source, read_account_map(Path(account_map)))
    notes = [
        f"SAM {source.name} read with account map {Path(account_map).name}: "
        f"{len(cells.accounts)} accounts, {len(cells.values)} non-zero cells"
    ]
    check_cells(cells)
    if balance is not None:
        before = cells
        names = [a.name for a in cells.accounts]
        cells = cells.with_values(
            balance_square(len(names), cells.rows, cells.cols, cells.values, balance, names)
        )
        change = np.abs(cells.values - before.values).sum() / np.abs(before.values).sum()
        notes.append(
            f"balanced on import with {balance}: cells changed by {change:.3g} of their "
            "absolute sum"
        )
    check_balanced(cells)
    regions, sectors, *_ = sets_of(cells)
    if elasticities is None:
        values = {k: np.full(len(sectors), v) for k, v in DEFAULT_ELASTICITIES.items()}
        notes.append(
            "no --elasticities: every sector has generic GTAP-like values "
            + ", ".join(f"{k} = {v:g}" for k, v in DEFAULT_ELASTICITIES.items())
            + "; esubp = 1, esubg = 1, esubi = 0 (MODEL.md defaults)"
        )
    else:
        table = read_sector_elasticities(Path(elasticities), sectors)
        values = {k: table[k].to_numpy(dtype=float) for k in ELASTICITIES}
        notes.append(f"elasticities from {Path(elasticities).name}")
    meta: dict[str, object] = {
        "title": f"Social accounting matrix {source.name}",
        "unit": unit,
        "source": f"{source.name} with account map {Path(account_map).name}",
    }
    if year is not None:
        meta["year"] = year
    sam = to_global_sam(cells, source.stem, values, meta)
    return sam, tuple(notes)


def read(source: Path, options: argparse.Namespace) -> Imported:
    """``fragcge data import sam``'s reader."""
    sam, notes = import_sam(
        source,
        options.accounts,
        elasticities=options.elasticities,
        balance=options.balance,
        unit=options.unit,
        year=options.year,
    )
    return Imported(sam, notes)


IMPORTER = Importer(
    kind="sam",
    summary="a multi-region social accounting matrix (long CSV, square CSV or .xlsx) "
    "with an account map",
    add_arguments=add_arguments,
    read=read,
)
