"""Report figures: welfare by region, its decomposition, bloc trade and sector output heatmaps.

Figures are built with matplotlib's object API (no pyplot), so no display or global backend
state is involved and the command works on headless machines.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from fragcge.output_folder import write_file
from fragcge.reports import tables
from fragcge.reports.result_folders import NONALIGNED, WORLD, Result

BLOC_PALETTE = ("#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#17a2b8", "#6d4c41")
NONALIGNED_COLOUR = "#9e9e9e"
WORLD_COLOUR = "#222222"
COMPONENT_PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")
RESIDUAL_COLOUR = "#cccccc"
COMPONENT_LABELS = {
    "tot": "terms of trade",
    "alloc": "allocative efficiency",
    "iceberg": "iceberg resource cost",
    "rents": "rents received",
    "endowment": "endowment, productivity",
    "transfers": "transfers",
    "residual": "residual",
}
"""Legend text of the decomposition columns welfare.csv is known to carry; others show as is."""
DIVERGING = "RdBu"
"""Red for falls, blue for rises, white at zero."""

PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None}
"""No timestamps or versions in the files, so that a rerun writes the same bytes."""


def bloc_colours(blocs: dict[str, str]) -> dict[str, str]:
    """One colour per bloc, fixed by the blocs' order; the non-aligned group in grey."""
    named = [b for b in tables.bloc_order(blocs) if b != NONALIGNED]
    colours = {b: BLOC_PALETTE[k % len(BLOC_PALETTE)] for k, b in enumerate(named)}
    return {**colours, NONALIGNED: NONALIGNED_COLOUR, WORLD: WORLD_COLOUR}


def save(fig: Figure, folder: Path, name: str) -> list[Path]:
    """Write fig as PNG and PDF into folder; returns the two files."""
    png, pdf = folder / f"{name}.png", folder / f"{name}.pdf"
    formats = ((png, {"dpi": 150, "metadata": PNG_METADATA}), (pdf, {"metadata": PDF_METADATA}))
    for path, options in formats:
        image = io.BytesIO()
        fig.savefig(image, format=path.suffix[1:], **options)
        write_file(path, image.getvalue())
    return [png, pdf]


PANELS_PER_ROW = 4
"""More scenarios than this wrap onto further rows, so a page stays readable."""


def panels(n: int, width: float, height: float, **kw) -> tuple[Figure, list]:
    """A figure of n panels of width × height inches, PANELS_PER_ROW to a row; kw to subplots."""
    cols = min(n, PANELS_PER_ROW)
    rows = -(-n // cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    grid = fig.subplots(rows, cols, squeeze=False, **kw).ravel()
    for ax in grid[n:]:
        fig.delaxes(ax)
    return fig, list(grid[:n])


def _title(result: Result, width: float) -> str:
    """The scenario's name (as in the tables' columns) over its title wrapped to the panel."""
    return "\n".join([result.name, *textwrap.wrap(result.title, int(width * 11))])


def _signed(value: float, decimals: int) -> str:
    text = f"{value:+.{decimals}f}"
    # A change that rounds to zero prints as 0, without a sign.
    return text[1:] if float(text) == 0 else text


def welfare(results: list[Result]) -> Figure:
    """Horizontal bars of EV (% of income) by region, coloured by bloc, one panel per scenario."""
    ref = tables.reference(results)
    rows = tables.region_order(ref) + [WORLD]
    # A gap separates the world bar from the regions.
    y = np.r_[np.arange(len(rows) - 1), len(rows)]
    colours = bloc_colours(ref.blocs)
    groups = {**ref.blocs, WORLD: WORLD}
    width = 4.2
    fig, axes = panels(len(results), width, 0.32 * len(rows) + 1.9, sharey=True, sharex=True)
    lo = min(0.0, *(float(r.welfare.ev_pct.min()) for r in results))
    hi = max(0.0, *(float(r.welfare.ev_pct.max()) for r in results))
    for ax, res in zip(axes, results, strict=True):
        pct = res.welfare.set_index("region")["ev_pct"].reindex(rows).to_numpy(float)
        ax.barh(y, pct, color=[colours[groups[r]] for r in rows], height=0.7)
        for yk, v in zip(y, pct, strict=True):
            ax.annotate(
                _signed(v, 2),
                (v, yk),
                xytext=(3 if v >= 0 else -3, 0),
                textcoords="offset points",
                ha="left" if v >= 0 else "right",
                va="center",
                fontsize=7,
            )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(_title(res, width), fontsize=8.5)
        ax.set_xlabel("EV, % of baseline income")
        ax.grid(axis="x", linewidth=0.3, alpha=0.6)
    # Room for the value labels at the ends of the longest bars.
    pad = 0.2 * (hi - lo or 1.0)
    axes[0].set_xlim(lo - pad, hi + pad)
    axes[0].set_yticks(y, rows)
    axes[0].invert_yaxis()
    handles = [Patch(color=colours[b], label=b) for b in tables.bloc_order(ref.blocs)]
    handles.append(Patch(color=WORLD_COLOUR, label=WORLD))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig


def decomposition(results: list[Result]) -> Figure | None:
    """Stacked bars of the EV decomposition by region, one panel per scenario that has one."""
    have = [r for r in results if r.decomposition]
    if not have:
        return None
    ref = tables.reference(results)
    rows = tables.region_order(ref) + [WORLD]
    y = np.r_[np.arange(len(rows) - 1), len(rows)]
    components = list(dict.fromkeys(c for r in have for c in r.decomposition))
    colours = {
        c: RESIDUAL_COLOUR if c.startswith("residual") else COMPONENT_PALETTE[k % 7]
        for k, c in enumerate(components)
    }
    width = 4.6
    fig, axes = panels(len(have), width, 0.32 * len(rows) + 2.1, sharey=True)
    for ax, res in zip(axes, have, strict=True):
        table = tables.decomposition(res)
        frame = table.frame.set_index("region").reindex(rows)
        total_col = table.frame.columns[2]
        left_pos, left_neg = np.zeros(len(rows)), np.zeros(len(rows))
        for c in res.decomposition:
            v = frame[c].to_numpy(float)
            left = np.where(v >= 0, left_pos, left_neg)
            ax.barh(y, v, left=left, color=colours[c], height=0.7, label=c)
            left_pos, left_neg = left_pos + np.maximum(v, 0), left_neg + np.minimum(v, 0)
        ev = frame[total_col].to_numpy(float)
        ax.scatter(ev, y, color="black", s=14, zorder=3, label="EV")
        # Explicit limits: zero-width segments stacked at a bar's end would otherwise pin
        # the axis there (matplotlib's sticky bar edges) and clip the bar and its EV dot.
        lo = min(np.nanmin(left_neg), np.nanmin(ev), 0.0)
        hi = max(np.nanmax(left_pos), np.nanmax(ev), 0.0)
        pad = 0.06 * (hi - lo or 1.0)
        ax.set_xlim(lo - pad, hi + pad)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(_title(res, width), fontsize=8.5)
        unit = "% of baseline income" if total_col == "ev_pct" else res.unit
        ax.set_xlabel(f"EV and its parts, {unit}")
        ax.grid(axis="x", linewidth=0.3, alpha=0.6)
        # Values in USD million need few, comma-grouped ticks to stay legible.
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_formatter(
            StrMethodFormatter("{x:,.0f}" if unit == res.unit else "{x:g}")
        )
    axes[0].set_yticks(y, rows)
    axes[0].invert_yaxis()
    handles = [
        Patch(color=colours[c], label=COMPONENT_LABELS.get(c.removesuffix("_pct"), c))
        for c in components
    ]
    handles.append(axes[0].collections[0])
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return fig


def _heatmaps(
    matrices: list, results: list[Result], label: str, fontsize: float, width: float
) -> tuple[Figure, list]:
    span = max(float(np.nanmax(np.abs(m.to_numpy(float)))) for m in matrices) or 1.0
    norm = TwoSlopeNorm(0.0, -span, span)
    rows, cols = matrices[0].shape
    fig, axes = panels(len(results), width, 0.38 * rows + 2.0)
    for ax, m, res in zip(axes, matrices, results, strict=True):
        values = m.to_numpy(float)
        image = ax.imshow(values, cmap=DIVERGING, norm=norm, aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            if np.isnan(v):
                continue
            ax.text(
                j,
                i,
                _signed(v, 1),
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if abs(v) > 0.6 * span else "black",
            )
        ax.set_xticks(range(cols), list(m.columns), rotation=0)
        ax.set_yticks(range(rows), list(m.index))
        ax.set_title(_title(res, width), fontsize=8.5)
        ax.tick_params(length=0)
    fig.colorbar(image, ax=axes, label=label, shrink=0.9)
    return fig, axes


def bloc_trade(results: list[Result]) -> Figure:
    """Heatmap of the trade value change (%) from exporter to importer bloc, per scenario."""
    ref = tables.reference(results)
    kind, groups = tables.trade_groups(ref)
    matrices = [tables.bloc_trade_matrix(r, groups) for r in results]
    by_bloc = kind == "bloc"
    fig, axes = _heatmaps(
        matrices,
        results,
        "change in trade value, %",
        9 if by_bloc else 6.5,
        4.0 if by_bloc else 5.0,
    )
    for ax in axes:
        ax.set_xlabel(f"importer {kind}")
        # Region and bloc names would run into each other at full size.
        ax.tick_params(axis="x", labelsize=8, labelrotation=0 if by_bloc else 90)
    axes[0].set_ylabel(f"exporter {kind}")
    labels = {b: b for b in tables.bloc_order(ref.blocs)} if by_bloc else ref.blocs
    _colour_ticks(axes, labels, bloc_colours(ref.blocs))
    return fig


def output(results: list[Result]) -> Figure:
    """Heatmap of output volume change (%) by region (rows) and sector (columns), per scenario."""
    ref = tables.reference(results)
    regions = tables.region_order(ref)
    matrices = [
        r.output.pivot(index="region", columns="sector", values="output_pct").reindex(
            index=regions, columns=ref.sectors
        )
        for r in results
    ]
    fig, axes = _heatmaps(matrices, results, "change in output volume, %", 6.5, 5.0)
    for ax in axes:
        ax.set_xlabel("sector")
        ax.tick_params(axis="x", labelsize=8)
    axes[0].set_ylabel("region (coloured by bloc)")
    _colour_ticks(axes, ref.blocs, bloc_colours(ref.blocs))
    return fig


def _colour_ticks(axes: list, groups: dict[str, str], colours: dict[str, str]) -> None:
    """Colour row labels (and bloc column labels) by bloc, matching the welfare figure."""
    for ax in axes:
        for label in [*ax.get_yticklabels(), *ax.get_xticklabels()]:
            group = groups.get(label.get_text())
            if group is not None:
                label.set_color(colours[group])
                label.set_fontweight("bold")


def all_figures(results: list[Result]) -> dict[str, tuple[str, Figure]]:
    """Every report figure for the given results: file name → (caption, figure)."""
    figures = {
        "welfare": ("Equivalent variation by region, % of baseline income", welfare(results))
    }
    decomp = decomposition(results)
    if decomp is not None:
        figures["welfare_decomposition"] = ("Decomposition of EV by region", decomp)
    kind, _ = tables.trade_groups(tables.reference(results))
    figures["bloc_trade"] = (
        f"Change in trade value by exporter and importer {kind}, %",
        bloc_trade(results),
    )
    figures["output"] = ("Change in output volume by region and sector, %", output(results))
    return figures
