"""Figures of a batch of runs: EV along a sweep, and EV's distribution across uncertain runs.

They read the tables a batch writes (sweep.csv, summary.csv, runs.csv), in which every
distinct ``region`` value (regions, bloc aggregates, WORLD) is one series, in the order it
first appears. The percentiles of the distribution figure follow the rule of
``fragcge.scenarios.design.summarise`` for weighted designs, so that they are those of a
quadrature batch's summary.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from fragcge.reports.figures import (
    BLOC_PALETTE,
    NONALIGNED_COLOUR,
    PANELS_PER_ROW,
    bloc_colours,
    panels,
    save,
)
from fragcge.scenarios.design import summarise

UNITS = {"ev": "EV, USD million", "ev_pct": "EV, % of baseline income"}
MEASURES = ("ev", "ev_pct")
NOT_KEYS = {"id", "weight", "region", "bloc", "runs", *MEASURES}
NOT_KEYS |= {f"{m}_{s}" for m in MEASURES for s in ("mean", "sd", "p5", "p95")}
"""The columns of the batch's tables that are not sweep keys."""
BAND_LABEL = "5th–95th percentile"
GOLDEN = (np.sqrt(5) - 1) / 2
"""Step of the jitter sequence: spreads any number of runs evenly, with no randomness."""


def _require(table: pd.DataFrame, *columns: str) -> None:
    for column in columns:
        if column not in table.columns:
            raise ValueError(f"the table has no column {column!r}")


def _colours(table: pd.DataFrame) -> dict[str, str]:
    """A colour per region, that of its bloc as in the report figures; grey without a bloc."""
    blocs = dict(zip(table.region, table.bloc, strict=True)) if "bloc" in table else {}
    by_bloc = bloc_colours({r: b for r, b in blocs.items() if b})
    return {r: by_bloc.get(blocs.get(r, ""), NONALIGNED_COLOUR) for r in table.region.unique()}


def ev_sweep(table: pd.DataFrame, key: str, measure: str = "ev_pct") -> Figure:
    """EV against the swept value ``key``, one panel per region (sweep.csv or summary.csv).

    A summary table (columns ``{measure}_mean``, ``_p5``, ``_p95``) gives the mean line and
    a band between the percentiles. If other sweep keys vary at a fixed ``key`` (a grid),
    each of their combinations is one line.
    """
    _require(table, key, "region")
    banded = f"{measure}_mean" in table.columns
    if banded:
        _require(table, f"{measure}_p5", f"{measure}_p95")
    elif measure not in table.columns:
        raise ValueError(f"the table has no column {measure!r} (nor {measure}_mean)")
    if table.empty:
        raise ValueError("the table has no rows")
    value = f"{measure}_mean" if banded else measure
    others = [c for c in table.columns if c not in NOT_KEYS and c != key]
    # A zipped sweep moves its other keys with ``key``; only a grid needs a line per value.
    grid = bool(others) and table.duplicated([key, "region"]).any()
    groups = list(table.groupby(others, sort=False, dropna=False)) if grid else [((), table)]
    kind = table[key].dtype
    numeric = pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind)
    categories = list(dict.fromkeys(table[key]))
    regions = list(dict.fromkeys(table.region))
    bloc_colour = _colours(table)
    fig, axes = panels(len(regions), 3.2, 2.5, sharex=True)
    for ax, region in zip(axes, regions, strict=True):
        for k, (_, group) in enumerate(groups):
            rows = group[group.region == region]
            x = rows[key].to_numpy(float) if numeric else rows[key].map(categories.index)
            order = np.argsort(np.asarray(x, float), kind="stable")
            x, rows = np.asarray(x, float)[order], rows.iloc[order]
            colour = BLOC_PALETTE[k % len(BLOC_PALETTE)] if grid else bloc_colour[region]
            if banded:
                low, high = rows[f"{measure}_p5"], rows[f"{measure}_p95"]
                ax.fill_between(
                    x,
                    low.to_numpy(float),
                    high.to_numpy(float),
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                )
            ax.plot(x, rows[value].to_numpy(float), marker="o", markersize=3.5, color=colour)
        ax.axhline(0, color="black", linewidth=0.8, zorder=1)
        ax.set_title(region, fontsize=9)
        ax.grid(linewidth=0.3, alpha=0.6)
    if not numeric:
        axes[0].set_xticks(range(len(categories)), [str(c) for c in categories])
    # The last panel of each column is its lowest: it carries the x axis, even above a gap.
    for ax in axes[-min(len(axes), PANELS_PER_ROW) :]:
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xlabel(key)
    for ax in axes[:: min(len(axes), PANELS_PER_ROW)]:
        ax.set_ylabel(UNITS.get(measure, measure))
    handles = []
    if grid:
        for k, (point, _) in enumerate(groups):
            values = point if isinstance(point, tuple) else (point,)
            text = ", ".join(f"{c} = {v}" for c, v in zip(others, values, strict=True))
            handles.append(Line2D([], [], color=BLOC_PALETTE[k % len(BLOC_PALETTE)], label=text))
    if banded:
        handles.append(Line2D([], [], color="grey", marker="o", markersize=3.5, label="mean"))
        handles.append(Patch(color="grey", alpha=0.3, label=BAND_LABEL))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    return fig


def ev_distribution(runs: pd.DataFrame, measure: str = "ev_pct", weighted: bool = True) -> Figure:
    """Each run's EV by region (a dot, its area ∝ weight), the mean and 5th–95th range.

    The caller filters runs.csv to one sweep point; sweep keys taking several values are
    refused. The statistics are ``summarise``'s, as in summary.csv: for a weighted design
    (quadrature), weights are normalised per region and the percentiles interpolate between
    the sorted values placed at the midpoints of their cumulative weight, clamped to the
    smallest and largest value; unweighted (Monte Carlo draws), sample percentiles.
    """
    _require(runs, "region", "weight", measure)
    for column in (c for c in runs.columns if c not in NOT_KEYS):
        if runs[column].nunique(dropna=False) > 1:
            raise ValueError(
                f"the runs span several sweep points ({column!r} takes several values); "
                "filter them to one point first"
            )
    if runs.empty:
        raise ValueError("the table has no rows")
    regions = list(dict.fromkeys(runs.region))
    colours = _colours(runs)
    fig = Figure(figsize=(7.0, 0.38 * len(regions) + 1.8), layout="constrained")
    ax = fig.subplots()
    points, sizes, colour, means, p5, p95 = [], [], [], [], [], []
    for y, region in enumerate(regions):
        rows = runs[runs.region == region]
        values, weights = rows[measure].to_numpy(float), rows.weight.to_numpy(float)
        stats = summarise(values, weights if weighted else None)
        means.append(stats.mean)
        p5.append(stats.p5)
        p95.append(stats.p95)
        jitter = (np.arange(len(values)) * GOLDEN % 1 - 0.5) * 0.5
        points.append(np.column_stack([values, y + jitter]))
        sizes.append(14 * len(values) * weights / weights.sum())
        colour += [colours[region]] * len(values)
    xy, y = np.concatenate(points), np.arange(len(regions))
    ax.scatter(
        xy[:, 0],
        xy[:, 1],
        s=np.concatenate(sizes),
        c=colour,
        alpha=0.45,
        linewidths=0,
        zorder=2,
        label="run (area ∝ weight)",
    )
    ax.hlines(y, p5, p95, color="black", linewidth=1.6, zorder=3, label=BAND_LABEL)
    ax.plot(
        means,
        y,
        "D",
        color="black",
        markersize=5,
        zorder=4,
        label="weighted mean" if weighted else "mean",
    )
    ax.axvline(0, color="black", linewidth=0.6, zorder=1)
    ax.set_yticks(y, regions)
    ax.invert_yaxis()
    ax.set_xlabel(UNITS.get(measure, measure))
    ax.set_title(f"{len(points[0])} runs", fontsize=9)
    ax.grid(axis="x", linewidth=0.3, alpha=0.6)
    fig.legend(loc="outside lower center", ncols=3, frameon=False)
    return fig


def _read(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    # Only empty cells are missing: a region called "NA" stays a name.
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "bloc" in table:
        table["bloc"] = table.bloc.fillna("").astype(str)
    return table


def batch_figures(
    folder: Path, keys: list[str], uncertainty: bool, weighted: bool = True
) -> list[Path]:
    """Write a batch's figures into its folder; returns the files (none if no run solved).

    A sweep gives ev_sweep (x = its first key; from summary.csv, with bands, when the batch
    is uncertain too); an uncertain batch without a sweep gives ev_distribution of runs.csv.
    A table that is missing or has no rows gives no figure. ``weighted``: the runs are the
    points of a weighted design (quadrature), not draws.
    """
    if keys:
        table = _read(folder / ("summary.csv" if uncertainty else "sweep.csv"))
        if table is not None and not table.empty:
            return save(ev_sweep(table, keys[0]), folder, "ev_sweep")
    elif uncertainty:
        runs = _read(folder / "runs.csv")
        if runs is not None and not runs.empty:
            # The elasticity multipliers vary by run; they are not sweep points.
            runs = runs[[c for c in runs.columns if c in NOT_KEYS]]
            return save(ev_distribution(runs, weighted=weighted), folder, "ev_distribution")
    return []
