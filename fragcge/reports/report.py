"""A report: every table in the chosen formats and every figure, written into one folder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from fragcge.output_folder import replacing
from fragcge.reports import figures, formats, tables
from fragcge.reports.result_folders import Result, check_comparable


@dataclass(frozen=True)
class Item:
    """One table or figure of a report and the files it was written to."""

    kind: str
    name: str
    caption: str
    files: tuple[Path, ...]


def write_report(results: Sequence[Result], out: Path, fmts: Sequence[str]) -> list[Item]:
    """Write out/tables/<table>.<ext> and out/figures/<figure>.png|pdf, replacing an earlier
    report in out at once; returns what was written. OutputError, before anything is
    written, when out holds anything but a report."""
    results = list(results)
    check_comparable(results)
    with replacing(out, "report") as tmp:
        table_dir, figure_dir = tmp / "tables", tmp / "figures"
        table_dir.mkdir()
        figure_dir.mkdir()
        items = [
            Item(
                "table",
                t.name,
                t.caption,
                tuple(formats.write_table(t, table_dir, f) for f in fmts),
            )
            for t in tables.all_tables(results)
        ]
        for name, (caption, fig) in figures.all_figures(results).items():
            items.append(Item("figure", name, caption, tuple(figures.save(fig, figure_dir, name))))
    return [
        replace(item, files=tuple(out / f.relative_to(tmp) for f in item.files)) for item in items
    ]
