"""Figures of a risk run: expected EV against an event's probability, and net gains.

They read the tables fragcge risk writes: breakeven.csv (both worlds' expected EV % at the
ends of each event's probability range; expected welfare is linear in the probability, so
two points draw the line) and risk.csv (the net gain of each alternative world).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fragcge.model.report import WORLD
from fragcge.reports.figures import BLOC_PALETTE, panels, save
from fragcge.risk_measures import ALWAYS, NEVER

FIRST_COLOUR = "#555555"


def risk_figures(out: Path, risk: pd.DataFrame, breakeven: pd.DataFrame, first: str) -> list[Path]:
    """expected_ev.png/.pdf and net_gain.png/.pdf in ``out``, ``first`` the first world's
    name; none for a table that has no complete row (every world but the first missing a
    state)."""
    files: list[Path] = []
    lines = breakeven[breakeven.missing == ""] if not breakeven.empty else breakeven
    if not lines.empty:
        files += save(expected_ev(lines, first), out, "expected_ev")
    gains = risk[(risk.measure == "ev_pct") & risk.net_gain.notna()]
    gains = gains[gains.world != risk.world.iloc[0]]
    if not gains.empty:
        files += save(net_gain(gains, first), out, "net_gain")
    return files


def expected_ev(lines: pd.DataFrame, first: str) -> Figure:
    """One panel per event and aggregate row (blocs and WORLD): each world's expected EV %
    against the event's probability, the break-even probability marked."""
    aggregates = [r for r in dict.fromkeys(lines.region) if r in set(lines.bloc) or r == WORLD]
    lines = lines[lines.region.isin(aggregates)]
    keys = list(dict.fromkeys(zip(lines.event, lines.region, strict=True)))
    fig, axes = panels(len(keys), 3.4, 2.6)
    for ax, (event, region) in zip(axes, keys, strict=True):
        panel = lines[(lines.event == event) & (lines.region == region)]
        ends = panel.iloc[0]
        x = [ends.probability_low, ends.probability_high]
        ax.plot(x, [ends.first_ev_pct_low, ends.first_ev_pct_high], color=FIRST_COLOUR, label=first)
        for k, row in enumerate(panel.itertuples(index=False)):
            colour = BLOC_PALETTE[k % len(BLOC_PALETTE)]
            ax.plot(x, [row.world_ev_pct_low, row.world_ev_pct_high], color=colour, label=row.world)
            if row.breakeven not in (NEVER, ALWAYS, ""):
                p = float(row.breakeven)
                ax.axvline(p, color=colour, linestyle=":", linewidth=1)
                # On the side of the line with more room, so the label stays in the panel.
                right = p > sum(x) / 2
                ax.annotate(
                    f"p* = {p:.3g}",
                    (p, ax.get_ylim()[1]),
                    xytext=(-3 if right else 3, -3),
                    textcoords="offset points",
                    fontsize=7,
                    color=colour,
                    ha="right" if right else "left",
                    va="top",
                )
        ax.set_title(f"{event}: {region}", fontsize=9)
        ax.set_xlabel("event probability", fontsize=8)
        ax.set_ylabel("expected EV, % of income", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    return fig


def net_gain(gains: pd.DataFrame, first: str) -> Figure:
    """One panel per alternative world: the expected net gain (EV % over the first world,
    static cost included) of each region and aggregate, with the certainty equivalent's."""
    worlds = list(dict.fromkeys(gains.world))
    fig, axes = panels(len(worlds), 5.0, 0.3 * gains.region.nunique() + 1.2)
    for ax, world in zip(axes, worlds, strict=True):
        rows = gains[gains.world == world]
        y = np.arange(len(rows))
        ax.barh(y - 0.2, rows.net_gain, height=0.4, color=BLOC_PALETTE[0], label="expected EV")
        ax.barh(
            y + 0.2,
            rows.net_gain_ce,
            height=0.4,
            color=BLOC_PALETTE[1],
            label="certainty equivalent",
        )
        ax.set_yticks(y, rows.region, fontsize=7)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_title(f"{world}: net gain over {first}", fontsize=9)
        ax.set_xlabel("% of income", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    return fig
