"""A report: every table in the chosen formats and every figure, written into one folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fragcge.reports import figures, formats, tables
from fragcge.reports.results import Result, check_comparable


@dataclass(frozen=True)
class Item:
    """One table or figure of a report and the files it was written to."""

    kind: str
    name: str
    caption: str
    files: tuple[Path, ...]


def write_report(results: Sequence[Result], out: Path, fmts: Sequence[str]) -> list[Item]:
    """Write out/tables/<table>.<ext> and out/figures/<figure>.png|pdf; returns what was written."""
    results = list(results)
    check_comparable(results)
    table_dir, figure_dir = out / "tables", out / "figures"
    table_dir.mkdir(parents=True, exist_ok=True)
    figure_dir.mkdir(parents=True, exist_ok=True)
    items = [
        Item("table", t.name, t.caption, tuple(formats.write_table(t, table_dir, f) for f in fmts))
        for t in tables.all_tables(results)
    ]
    for name, (caption, fig) in figures.all_figures(results).items():
        items.append(Item("figure", name, caption, tuple(figures.save(fig, figure_dir, name))))
    return items
