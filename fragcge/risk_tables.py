"""The tables of a risk run (docs/risk.md), from each world's and state's EV by region.

EVs are measured from the first world's equilibrium; a state that was not solved is None,
its cells stay empty, and a world's expected EV, certainty equivalent and net gain are left
empty unless every one of its states (and, for net gains, the first world's) is there:
nothing is averaged over a missing cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragcge.model.report import welfare_rows
from fragcge.risk_measures import (
    breakeven,
    certainty_equivalent,
    expected,
    probability_range,
    state_probabilities,
    with_probability,
)
from fragcge.scenarios.risk_file import RiskFile

MEASURES = ("ev", "ev_pct")
SUMMARIES = ("expected", "certainty_equivalent")
NET_GAINS = {"net_gain": "expected", "net_gain_ce": "certainty_equivalent"}
STATE_COLUMNS = ("world", "state", "probability", "region", "bloc", "ev", "ev_pct", "status")
BREAKEVEN_COLUMNS = (
    "world",
    "event",
    "region",
    "bloc",
    "breakeven",
    "alternative_better",
    "probability_low",
    "probability_high",
    "first_ev_pct_low",
    "first_ev_pct_high",
    "world_ev_pct_low",
    "world_ev_pct_high",
    "missing",
)
PROBABILITY_FORMAT = "{:.12f}"
"""Break-even probabilities to 1e-12: 1e-6 would move expected welfare by more than the
solver's tolerance."""


@dataclass(frozen=True)
class Measured:
    """The EV of each region by world and state (``ev[world][state]``, None when missing),
    from the reference, whose regions, spending on its welfare index (E_ref: c = 1 + EV/E_ref)
    and income (of which EV % is) are given."""

    risk: RiskFile
    regions: tuple[str, ...]
    spending: np.ndarray
    income: np.ndarray
    ev: list[list[np.ndarray | None]]

    def rows(self, values: np.ndarray) -> pd.DataFrame:
        """Regional values with the bloc and WORLD rows that add them, EV % of income."""
        blocs = {region: bloc for bloc, members in self.risk.blocs.items() for region in members}
        return welfare_rows(self.regions, blocs, values, self.income)

    def weights(self, probabilities: list[float] | tuple[float, ...]) -> np.ndarray:
        """Each state's probability given the events'."""
        states = [state.events for state in self.risk.states()]
        return state_probabilities(states, probabilities, self.risk.independent)

    def complete(self, world: int) -> bool:
        """Whether every state of ``world`` was solved."""
        return all(cell is not None for cell in self.ev[world])

    def expected_rows(
        self, world: int, probabilities: list[float] | tuple[float, ...]
    ) -> pd.DataFrame:
        """The world's expected EV rows (a complete world's) at the events' ``probabilities``."""
        return self.rows(expected(np.array(self.ev[world]), self.weights(probabilities)))


def risk_tables(measured: Measured) -> dict[str, pd.DataFrame]:
    """states.csv, risk.csv and breakeven.csv (docs/risk.md); empty tables when no EV could
    be measured (the first world was not solved)."""
    if not measured.regions:
        return {
            "states": pd.DataFrame(columns=list(STATE_COLUMNS)),
            "risk": pd.DataFrame(columns=_risk_columns(measured.risk)),
            "breakeven": pd.DataFrame(columns=list(BREAKEVEN_COLUMNS)),
        }
    frames = [[None if v is None else measured.rows(v) for v in world] for world in measured.ev]
    labels = measured.rows(np.zeros(len(measured.regions)))[["region", "bloc"]]
    summaries = [_summary(measured, w) for w in range(len(measured.ev))]
    return {
        "states": _states(measured, frames, labels),
        "risk": _risk(measured, frames, labels, summaries),
        "breakeven": _breakeven(measured, labels),
    }


def _summary(measured: Measured, world: int) -> dict[str, pd.DataFrame] | None:
    """A complete world's expected EV and certainty equivalent rows; None otherwise."""
    if not measured.complete(world):
        return None
    values = np.array(measured.ev[world])
    weights = measured.weights(measured.risk.probabilities)
    ratios = 1.0 + values / measured.spending
    ce = certainty_equivalent(ratios, weights, measured.risk.risk_aversion)
    return {
        "expected": measured.rows(expected(values, weights)),
        "certainty_equivalent": measured.rows(measured.spending * (ce - 1.0)),
    }


def _states(measured: Measured, frames: list, labels: pd.DataFrame) -> pd.DataFrame:
    weights = measured.weights(measured.risk.probabilities)
    parts = []
    for world, by_state in zip(measured.risk.worlds, frames, strict=True):
        for s, (state, frame) in enumerate(zip(measured.risk.states(), by_state, strict=True)):
            if frame is None:
                part = labels.assign(ev=np.nan, ev_pct=np.nan, status="missing")
            else:
                part = frame.assign(status="solved")
            parts.append(part.assign(world=world.name, state=state.name, probability=weights[s]))
    return pd.concat(parts, ignore_index=True)[list(STATE_COLUMNS)]


def _shown(risk: RiskFile) -> list[int]:
    """The states risk.csv has a column for: none and each event alone."""
    return [s for s, state in enumerate(risk.states()) if len(state.events) <= 1]


def _risk_columns(risk: RiskFile) -> list[str]:
    states = [risk.states()[s].name for s in _shown(risk)]
    return ["world", "region", "bloc", "measure", *states, *SUMMARIES, *NET_GAINS, "missing"]


def _risk(measured: Measured, frames: list, labels: pd.DataFrame, summaries: list) -> pd.DataFrame:
    risk = measured.risk
    states = risk.states()
    first = summaries[0]
    parts = []
    for w, world in enumerate(risk.worlds):
        own = summaries[w]
        notes = [states[s].name for s, frame in enumerate(frames[w]) if frame is None]
        if w and first is None:
            notes.append(f"(first world {risk.worlds[0].name} incomplete: no net gain)")
        for measure in MEASURES:
            part = labels.assign(world=world.name, measure=measure)
            for s in _shown(risk):
                frame = frames[w][s]
                part[states[s].name] = np.nan if frame is None else frame[measure].to_numpy()
            for key in SUMMARIES:
                part[key] = own[key][measure].to_numpy() if own else np.nan
            for name, key in NET_GAINS.items():
                part[name] = (
                    own[key][measure].to_numpy() - first[key][measure].to_numpy()
                    if own and first
                    else np.nan
                )
            part["missing"] = " ".join(notes)
            parts.append(part)
    return pd.concat(parts, ignore_index=True)[_risk_columns(risk)]


def _breakeven(measured: Measured, labels: pd.DataFrame) -> pd.DataFrame:
    """For each alternative world, event and row: the event's probability at which the
    world's expected EV equals the first world's (the others' as in the file), and both
    worlds' expected EV % at the ends of the range (the figure's lines)."""
    risk = measured.risk
    base = risk.probabilities
    parts = []
    for w, world in enumerate(risk.worlds[1:], start=1):
        for j, event in enumerate(risk.events):
            low, high = probability_range(j, base, risk.independent)
            part = labels.assign(
                world=world.name, event=event.name, probability_low=low, probability_high=high
            )
            if not (measured.complete(0) and measured.complete(w)):
                part["breakeven"] = ""
                part["alternative_better"] = ""
                part["missing"] = "a state of this world or the first world is not solved"
                parts.append(part)
                continue
            ends = {}
            for end, p in (("low", low), ("high", high)):
                probabilities = with_probability(base, j, p)
                ends[end] = [measured.expected_rows(v, probabilities) for v in (0, w)]
            gap = {end: (ends[end][1].ev - ends[end][0].ev).to_numpy() for end in ends}
            points = [
                breakeven(g_low, g_high, low, high)
                for g_low, g_high in zip(gap["low"], gap["high"], strict=True)
            ]
            part["breakeven"] = [
                p if isinstance(p, str) else PROBABILITY_FORMAT.format(p) for p in points
            ]
            part["alternative_better"] = [
                "" if isinstance(p, str) else ("above" if g_high > g_low else "below")
                for p, g_low, g_high in zip(points, gap["low"], gap["high"], strict=True)
            ]
            for end in ("low", "high"):
                part[f"first_ev_pct_{end}"] = ends[end][0].ev_pct.to_numpy()
                part[f"world_ev_pct_{end}"] = ends[end][1].ev_pct.to_numpy()
            part["missing"] = ""
            parts.append(part)
    if not parts:
        return pd.DataFrame(columns=list(BREAKEVEN_COLUMNS))
    return pd.concat(parts, ignore_index=True).reindex(columns=list(BREAKEVEN_COLUMNS))
