"""Reading a bilateral_table CSV: columns commodity, exporter, importer, rate."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from fragcge.errors import ScenarioError
from fragcge.scenarios.source import SourceFile
from fragcge.scenarios.spec import BilateralRow

COLUMNS = ("commodity", "exporter", "importer", "rate")


def read_rows(path: Path, where: str) -> tuple[SourceFile, tuple[BilateralRow, ...]]:
    """The CSV's text and rows; ``where`` names the scenario key that points to it."""
    if not path.is_file():
        raise ScenarioError(f"{where}: no such file {str(path)!r}")
    source = SourceFile.read(path)
    reader = csv.DictReader(io.StringIO(source.text, newline=""), skipinitialspace=True)
    header = [name.strip() for name in reader.fieldnames or ()]
    if sorted(header) != sorted(COLUMNS):
        # Name only the expected columns: the file may be anything, and its text is not echoed.
        missing = [c for c in COLUMNS if c not in header]
        others = len([c for c in header if c not in COLUMNS])
        repeated = sorted({c for c in COLUMNS if header.count(c) > 1})
        found = [f"missing {', '.join(missing)}"] if missing else []
        found += [f"{others} other column(s)"] if others else []
        found += [f"{', '.join(repeated)} more than once"] if repeated else []
        raise ScenarioError(
            f"{path}:1: not a bilateral table: expected a header line with exactly the columns "
            f"{', '.join(COLUMNS)}; {'; '.join(found)} (read for {where})"
        )
    reader.fieldnames = header
    rows = []
    for record in reader:
        if not any((value or "").strip() for value in record.values()):
            continue
        line = reader.line_num
        if None in record:
            raise ScenarioError(f"{path}:{line}: more fields than the {len(header)} columns")
        fields = {name: (record[name] or "").strip() for name in COLUMNS}
        rows.append(
            BilateralRow(
                line=line,
                commodity=fields["commodity"],
                exporter=fields["exporter"],
                importer=fields["importer"],
                rate=_rate(fields["rate"], f"{path}:{line}"),
            )
        )
    if not rows:
        raise ScenarioError(f"{path}: no data rows (read for {where})")
    return source, tuple(rows)


def _rate(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ScenarioError(f"{where}: rate {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ScenarioError(f"{where}: rate {text!r} is not a finite number")
    return value
