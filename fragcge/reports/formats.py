"""Writing report tables as Markdown, LaTeX (booktabs) or CSV, byte-identical on rerun."""

from __future__ import annotations

import math
from pathlib import Path

from fragcge.output_folder import write_file
from fragcge.reports.tables import Table

FORMATS = ("md", "latex", "csv")
SUFFIX = {"md": ".md", "latex": ".tex", "csv": ".csv"}
BLANK = "n/a"

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def write_table(table: Table, folder: Path, fmt: str) -> Path:
    """Write one table into folder in the given format; returns the file written."""
    text = {"md": markdown, "latex": latex, "csv": csv}[fmt](table)
    path = folder / f"{table.name}{SUFFIX[fmt]}"
    write_file(path, text)
    return path


def _cells(table: Table, blank: str) -> list[list[str]]:
    rows = []
    for row in table.frame.itertuples(index=False):
        labels = [str(v) for v in row[: table.labels]]
        numbers = [_number(v, table.decimals, blank) for v in row[table.labels :]]
        rows.append(labels + numbers)
    return rows


def _number(value: float, decimals: int, blank: str) -> str:
    if value is None or math.isnan(value):
        return blank
    text = f"{value:.{decimals}f}"
    # A loss that rounds to zero prints as 0, not -0.
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def markdown(table: Table) -> str:
    """A pipe table under a bold caption, numbers right-aligned, with the note below."""
    head = [str(c) for c in table.frame.columns]
    align = ["---"] * table.labels + ["---:"] * (len(head) - table.labels)
    lines = [f"**{table.caption}**", "", _pipe(head), _pipe(align)]
    lines += [_pipe(r) for r in _cells(table, BLANK)]
    if table.note:
        lines += ["", table.note]
    return "\n".join(lines) + "\n"


def _pipe(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def latex(table: Table) -> str:
    """A booktabs table with caption and label; needs \\usepackage{booktabs}."""
    head = [_tex(str(c)) for c in table.frame.columns]
    spec = "l" * table.labels + "r" * (len(head) - table.labels)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{_tex(table.caption)}}}",
        rf"\label{{tab:{table.name}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(head) + r" \\",
        r"\midrule",
    ]
    for k, row in enumerate(_cells(table, "")):
        if k in table.rules:
            lines.append(r"\midrule")
        cells = [_tex(c) for c in row[: table.labels]] + [
            c.replace("-", "$-$", 1) if c.startswith("-") else c for c in row[table.labels :]
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.note:
        lines.append(rf"\par\smallskip\footnotesize {_tex(table.note)}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def csv(table: Table) -> str:
    """Tidy CSV with six decimals, blank cells where a value does not apply."""
    return table.frame.to_csv(index=False, float_format="%.6f", lineterminator="\n")
