"""Risk files: worlds to compare, disruption events with probabilities, a horizon, γ.

A risk file (docs/risk.md)::

    [risk]
    name = "risk-strategic"           # results/<name>/ unless --out
    risk_aversion = 2.0               # γ >= 0 of the certainty equivalent (default 0)
    events = "exclusive"              # or "independent" (all 2^k combinations, k <= 10)

    [[world]]                         # the first world is the reference of every EV
    name = "integrated"
    scenario = "balanced-trade.toml"  # relative to the risk file

    [[world]]
    name = "friend-shored"
    scenario = "friendshoring-strategic.toml"

    [horizon]
    kind = "short-run"                # or "long-run" (the worlds' elasticities)
    scale = 0.25                      # short run: these elasticities times scale
    elasticities = ["esubd", "esubm"] # default: every sector elasticity
    closure = "short-run"             # default: the worlds' closure

    [blocs]                           # default: the first world's blocs and groups
    west = ["USA", "EUR"]

    [[event]]
    name = "east-ban"
    probability = 0.05
    [[event.shock]]                   # ordinary [[shock]] tables
    instrument = "export_ban"
    from = "east"
    to = "west"

Events are mutually exclusive states ("none", no disruption, takes the probability left)
or, with ``events = "independent"``, independent, each state a combination of events. The
worlds must differ only by their shocks: the same dataset, closure, imbalance rule,
elasticities and factor supply, so that one welfare index measures them all.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from fragcge.errors import ScenarioError
from fragcge.model.closures import CLOSURES as MODEL_CLOSURES
from fragcge.output_folder import is_folder_name
from fragcge.scenarios import fields
from fragcge.scenarios.load import load_scenario, read_shocks
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.source import SourceFile
from fragcge.scenarios.spec import (
    CLOSURES,
    SECTOR_ELASTICITIES,
    Scenario,
    SectorElasticity,
    Shock,
)

TABLES = ("risk", "world", "horizon", "blocs", "groups", "event")
RISK_KEYS = ("name", "risk_aversion", "events")
WORLD_KEYS = ("name", "scenario")
EVENT_KEYS = ("name", "title", "probability", "shock")
HORIZONS = ("long-run", "short-run")
HORIZON_KEYS = {
    "long-run": ("kind", "closure"),
    "short-run": ("kind", "scale", "elasticities", "closure"),
}
EVENT_KINDS = ("exclusive", "independent")
MAX_INDEPENDENT = 10
"""Independent events a file may have: 2^10 = 1024 states a world, each a solve."""
NO_DISRUPTION = "none"
"""The state in which no event happens."""
HORIZON_HINT = {
    "closure": " (an event's closure goes in [horizon])",
    "elasticities": " (an event's short-run elasticities go in [horizon])",
}
"""Where a risk file sets what a world may not: only the events' closure and elasticities have
a place of their own; imbalances and factor supply are the worlds' and the same for all."""


@dataclass(frozen=True)
class World:
    """A world to compare: a name and the scenario whose equilibrium it is."""

    name: str
    scenario: Scenario


@dataclass(frozen=True)
class Event:
    """A disruption: its shocks (as written, for the run ids) and its probability."""

    name: str
    title: str
    probability: float
    shocks: tuple[Shock, ...]
    tables: tuple[dict, ...]


@dataclass(frozen=True)
class Horizon:
    """How an event is solved on a world: ``elasticities`` times ``scale`` (1 in the long
    run), under ``closure`` (None: the worlds')."""

    kind: str
    scale: float
    elasticities: tuple[str, ...]
    closure: str | None


@dataclass(frozen=True)
class State:
    """A state of the world after the draw: the events that happen (indices into the file's
    events), none for no disruption."""

    events: tuple[int, ...]
    name: str


@dataclass(frozen=True)
class RiskFile:
    """A loaded risk file."""

    source: SourceFile
    name: str
    risk_aversion: float
    independent: bool
    worlds: tuple[World, ...]
    horizon: Horizon
    blocs: dict[str, tuple[str, ...]]
    groups: dict[str, tuple[str, ...]]
    events: tuple[Event, ...]

    @property
    def probabilities(self) -> tuple[float, ...]:
        """Each event's probability, in file order."""
        return tuple(event.probability for event in self.events)

    def states(self) -> tuple[State, ...]:
        """No disruption first, then each event (exclusive), or every combination of events
        by number of events, then file order (independent)."""
        k = len(self.events)
        if self.independent:
            combos = [c for size in range(k + 1) for c in itertools.combinations(range(k), size)]
        else:
            combos = [(), *((j,) for j in range(k))]
        return tuple(State(c, self.state_name(c)) for c in combos)

    def state_name(self, events: tuple[int, ...]) -> str:
        """ "none", or the events' names joined by "+"."""
        return "+".join(self.events[j].name for j in events) if events else NO_DISRUPTION

    def event_scenario(self, state: State, data: str | Path, world: str) -> Scenario:
        """The scenario solved for ``state`` on a world's dataset ``data``: the events' shocks
        in file order, the horizon's elasticities and closure, the file's blocs and groups,
        measured from the dataset's benchmark (the world itself)."""
        reference = self.worlds[0].scenario
        scale = self.horizon.scale
        elasticities = tuple(
            SectorElasticity(name, scale, {}) for name in sorted(self.horizon.elasticities)
        )
        return Scenario(
            source=self.source,
            name=f"{world}.{state.name}",
            title=f"{state.name} in world {world} ({self.horizon.kind})",
            data=data,
            closure=self.horizon.closure or reference.closure,
            imbalances=reference.imbalances,
            baseline=None,
            elasticities=elasticities if scale != 1.0 else (),
            blocs=self.blocs,
            groups=self.groups,
            shocks=tuple(s for j in state.events for s in self.events[j].shocks),
        )


def load_risk(path: str | Path) -> RiskFile:
    """Read a risk file and the world scenarios it names, checking every key and value (the
    events' names against a dataset are checked by :func:`fragcge.risk.run_risk`)."""
    path = Path(path)
    source = SourceFile.read(path)
    doc = source.toml()
    for key in doc:
        if key not in TABLES:
            raise unknown(source.where("", line_of=key), "table", key, [f"[{t}]" for t in TABLES])
    meta = _table(doc, "risk", source)
    fields.check_keys(meta, RISK_KEYS, source, "risk")
    name = fields.text(meta.get("name", path.stem), source.where("risk", "name"))
    if not is_folder_name(name):
        raise ScenarioError(
            f"{source.where('risk', 'name')}: {name!r} names the results folder: use letters, "
            "digits, '.', '_', '-', and not '.' or '..' alone"
        )
    gamma = fields.number(meta.get("risk_aversion", 0.0), source.where("risk", "risk_aversion"))
    if gamma < 0:
        raise ScenarioError(
            f"{source.where('risk', 'risk_aversion')}: risk aversion γ = {gamma:g} must be >= 0 "
            "(0: risk neutral, the certainty equivalent is the expected EV)"
        )
    kind = fields.text(meta.get("events", "exclusive"), source.where("risk", "events"))
    if kind not in EVENT_KINDS:
        raise unknown(source.where("risk", "events"), "kind of events", kind, EVENT_KINDS)
    worlds = _worlds(doc.get("world"), source)
    reference = worlds[0].scenario
    blocs = doc.get("blocs")
    groups = doc.get("groups")
    risk = RiskFile(
        source=source,
        name=name,
        risk_aversion=gamma,
        independent=kind == "independent",
        worlds=worlds,
        horizon=_horizon(_table(doc, "horizon", source, {"kind": "long-run"}), source),
        blocs=reference.blocs if blocs is None else _names_table(blocs, "blocs", source),
        groups=reference.groups if groups is None else _names_table(groups, "groups", source),
        events=_events(doc.get("event"), source, kind == "independent"),
    )
    _check_closures(risk)
    return risk


def _table(doc: dict, name: str, source: SourceFile, default: dict | None = None) -> dict:
    table = doc.get(name, default)
    if table is None:
        raise ScenarioError(f"{source.path}: missing table [{name}]")
    if not isinstance(table, dict):
        raise ScenarioError(f"{source.where('', line_of=name)}: {name} must be a table [{name}]")
    return table


def _array(value: object, name: str, source: SourceFile) -> list[dict]:
    if value is None:
        raise ScenarioError(f"{source.path}: missing [[{name}]] tables; a risk file needs one")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ScenarioError(
            f"{source.where('', line_of=name)}: write [[{name}]] with double brackets, one each"
        )
    return value


def _unique_name(table: dict, where: str, seen: set[str], what: str) -> str:
    name = fields.text(
        fields.required(table, "name", where, f"a name for the {what}"), f"{where} name"
    )
    if not is_folder_name(name) or "+" in name:
        raise ScenarioError(
            f"{where} name: {name!r} must be letters, digits, '.', '_', '-' (it names runs "
            "and table columns)"
        )
    if name in seen:
        raise ScenarioError(f"{where} name: {what} {name!r} is named twice; names must differ")
    seen.add(name)
    return name


def _worlds(value: object, source: SourceFile) -> tuple[World, ...]:
    worlds: list[World] = []
    seen: set[str] = set()
    for n, table in enumerate(_array(value, "world", source), start=1):
        where = source.where("world", index=n)
        fields.check_keys(table, WORLD_KEYS, source, "world", n)
        name = _unique_name(table, where, seen, "world")
        scenario = fields.required(table, "scenario", where, "a scenario file")
        at = source.where("world", "scenario", n)
        target = source.path.parent / fields.text(scenario, at)
        if not target.is_file():
            raise ScenarioError(f"{at}: no scenario file {target}")
        scenario = load_scenario(target)
        if worlds:
            _check_comparable(worlds[0], name, scenario, at)
        worlds.append(World(name, scenario))
    return tuple(worlds)


def _check_comparable(first: World, name: str, scenario: Scenario, at: str) -> None:
    """Worlds differ by their shocks only: one welfare index must measure them all."""
    reference = first.scenario
    if str(scenario.data) != str(reference.data):
        raise ScenarioError(
            f"{at}: world {name!r} uses data {str(scenario.data)!r}, world {first.name!r} "
            f"{str(reference.data)!r}; every world must be solved on the same dataset"
        )
    for what in ("closure", "imbalances", "elasticities", "factor_supply"):
        if getattr(scenario, what) != getattr(reference, what):
            raise ScenarioError(
                f"{at}: world {name!r} ({scenario.path.name}) has other {what} than world "
                f"{first.name!r} ({reference.path.name}); worlds must differ only by their "
                f"shocks, so that one welfare index measures them{HORIZON_HINT.get(what, '')}"
            )


def _horizon(table: dict, source: SourceFile) -> Horizon:
    at = source.where
    kind = fields.text(table.get("kind", "long-run"), at("horizon", "kind"))
    if kind not in HORIZONS:
        raise unknown(at("horizon", "kind"), "horizon", kind, HORIZONS)
    fields.check_keys(table, HORIZON_KEYS[kind], source, "horizon")
    closure = table.get("closure")
    if closure is not None:
        closure = fields.text(closure, at("horizon", "closure"))
        if closure not in CLOSURES:
            raise unknown(at("horizon", "closure"), "closure", closure, CLOSURES)
    if kind == "long-run":
        return Horizon(kind, 1.0, (), closure)
    expected = "the short run's multiplier of the long-run elasticities, e.g. 0.25"
    scale = fields.number(
        fields.required(table, "scale", at("horizon"), expected), at("horizon", "scale")
    )
    if not 0 < scale <= 1:
        raise ScenarioError(
            f"{at('horizon', 'scale')}: scale = {scale:g} must be in (0, 1]: short-run "
            "elasticities are a fraction of the long-run ones"
        )
    names = table.get("elasticities", list(SECTOR_ELASTICITIES))
    elasticities = fields.names(names, at("horizon", "elasticities"))
    for name in elasticities:
        if name not in SECTOR_ELASTICITIES:
            raise unknown(
                f"{at('horizon', 'elasticities')} (final demand's esubp, esubg, esubi define "
                "the welfare index and stay as they are)",
                "sector elasticity",
                name,
                SECTOR_ELASTICITIES,
            )
    return Horizon(kind, scale, tuple(dict.fromkeys(elasticities)), closure)


def _names_table(table: object, name: str, source: SourceFile) -> dict[str, tuple[str, ...]]:
    if not isinstance(table, dict):
        raise ScenarioError(f"{source.where('', line_of=name)}: {name} must be a table [{name}]")
    return {key: fields.names(value, source.where(name, key)) for key, value in table.items()}


def _events(value: object, source: SourceFile, independent: bool) -> tuple[Event, ...]:
    events: list[Event] = []
    seen = {NO_DISRUPTION}
    shocks_before = 0
    for n, table in enumerate(_array(value, "event", source), start=1):
        where = source.where("event", index=n)
        fields.check_keys(table, EVENT_KEYS, source, "event", n)
        name = _unique_name(table, where, seen, "event")
        probability = fields.required(table, "probability", where, "a number in [0, 1]")
        at = source.where("event", "probability", n)
        probability = fields.number(probability, at)
        if not 0 <= probability <= 1:
            raise ScenarioError(f"{at}: probability = {probability:g} must be in [0, 1]")
        entries = table.get("shock")
        if not entries:
            raise ScenarioError(
                f"{where}: event {name!r} has no [[event.shock]] table; an event needs a shock"
            )
        shocks = read_shocks(entries, source, "event.shock", shocks_before)
        shocks_before += len(shocks)
        title = fields.text(table.get("title", name), source.where("event", "title", n))
        events.append(Event(name, title, probability, shocks, tuple(entries)))
    if independent and len(events) > MAX_INDEPENDENT:
        raise ScenarioError(
            f"{source.where('risk', 'events')}: {len(events)} independent events make "
            f"2^{len(events)} states a world; at most {MAX_INDEPENDENT} (1024 states)"
        )
    total = math.fsum(event.probability for event in events)
    if not independent and total > 1:
        listed = " + ".join(f"{e.name} {e.probability:g}" for e in events)
        raise ScenarioError(
            f"{source.path}: the probabilities of exclusive events sum to {total:g} "
            f"({listed}), above 1; no disruption takes 1 minus their sum"
        )
    return tuple(events)


def _check_closures(risk: RiskFile) -> None:
    """EVs are chained through a rebenchmarked world only when welfare is the household's C."""
    first = risk.worlds[0]
    places = [(first.scenario.closure, f"{first.scenario.path}: world {first.name!r}")]
    if risk.horizon.closure is not None:
        places.append((risk.horizon.closure, risk.source.where("horizon", "closure")))
    for name, where in places:
        if MODEL_CLOSURES[name].welfare != "C":
            raise ScenarioError(
                f"{where}: closure {name!r} measures welfare by the regional utility U, whose "
                "exponents are the benchmark's spending shares; a rebenchmarked world changes "
                "them, so EVs cannot be chained through it: use default, short-run or real-wage"
            )
