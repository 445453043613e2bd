"""The instrument registry: every instrument a scenario's [[shock]] may name, described once.

An entry declares the instrument's TOML keys and their types, how a [[shock]] table is read
into its record, the record fields a batch sweep may vary (with their bounds), the model
parameters it changes (ShockSet fields, by name) and how, who receives its revenue or rent,
and the column of the welfare decomposition its wedge falls in. The loader
(``scenarios/load.py``), the batch sweep (``scenarios/batch_file.py``) and the applier
(``scenarios/apply.py``) read the registry; nothing else describes an instrument.
``docs/extending.md`` shows an instrument added by one entry (in a test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.model.shocks import parameter_names
from fragcge.scenarios import effects, fields
from fragcge.scenarios.bilateral import read_rows
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.select import Selector
from fragcge.scenarios.spec import (
    BilateralTable,
    Endowment,
    ExportBan,
    ExportQuota,
    ExportTax,
    Ntb,
    NtbRent,
    Origin,
    Productivity,
    Tariff,
    Transfer,
)

Levels = dict[str, np.ndarray]
"""The parameter levels a scenario's shocks change, by name (:func:`levels_names`)."""


def levels_names() -> tuple[str, ...]:
    """What an instrument may change: the model's mutable parameters a ShockSet sets (its
    fields and the route wedges registered in the model, ``model.route_wedges``) and the
    export quota shares."""
    return (*parameter_names(), "quota")


Reader = Callable[[dict, Origin], Any]
"""Reads a [[shock]] table (its keys already checked) into the instrument's record."""
Effect = Callable[[Levels, Any, Selector], None]
"""Writes a record's effect into the levels, replacing the arrays it changes."""
PerRoute = Callable[[Levels, np.ndarray, np.ndarray, str, str, GlobalSAM], None]
"""Sets per-route rates (cells, rates, mode, where, sam), for a bilateral_table."""
Bound = Callable[[Any, float, str], None]
"""Refuses a swept value of a record field (record, value, where) that has no meaning."""


@dataclass(frozen=True)
class Key:
    """A TOML key of a [[shock]] table and the type of its value, as the docs state it."""

    name: str
    type: str


@dataclass(frozen=True)
class Instrument:
    """One instrument: everything the scenario language and the applier know of it.

    ``component`` is the column of welfare.csv (``model.decomposition.COMPONENTS``) the
    instrument's wedge or quantity change falls in (None: that of the instrument it applies);
    ``owner`` who receives its revenue or rent. ``per_route`` is set for the instruments a
    bilateral_table may apply route by route.
    """

    name: str
    record: type
    keys: tuple[Key, ...]
    read: Reader
    parameters: tuple[str, ...]
    apply: Effect
    owner: str
    component: str | None
    sweepable: dict[str, Bound] = field(default_factory=dict)
    per_route: PerRoute | None = None

    @property
    def toml_keys(self) -> tuple[str, ...]:
        """Every key a [[shock]] table of this instrument may have."""
        return ("instrument", *(key.name for key in self.keys))


REGISTRY: dict[str, Instrument] = {}
"""The instruments by name, in the order messages and docs list them."""


def register(entry: Instrument) -> None:
    """Add ``entry`` to the registry; its name must be new and its parameters ShockSet fields."""
    if entry.name in REGISTRY:
        raise ValueError(f"instrument {entry.name!r} is already registered")
    if any(entry.record is other.record for other in REGISTRY.values()):
        raise ValueError(f"record {entry.record.__name__} already belongs to an instrument")
    allowed = levels_names()
    stray = [name for name in entry.parameters if name not in allowed]
    if stray:
        raise ValueError(
            f"instrument {entry.name!r} changes {stray}, which are not ShockSet levels "
            f"(register a new route wedge in model.route_wedges first); allowed: "
            f"{', '.join(allowed)}"
        )
    REGISTRY[entry.name] = entry


@contextmanager
def registered(entry: Instrument) -> Iterator[Instrument]:
    """``entry`` in the registry for the duration of a with block (for tests and plug-ins)."""
    register(entry)
    try:
        yield entry
    finally:
        del REGISTRY[entry.name]


def instrument_of(shock: object) -> Instrument:
    """The registry entry whose record ``shock`` is."""
    for entry in REGISTRY.values():
        if type(shock) is entry.record:
            return entry
    raise TypeError(f"{type(shock).__name__} is the record of no registered instrument")


def names() -> tuple[str, ...]:
    """The registered instruments' names."""
    return tuple(REGISTRY)


def table_instruments() -> tuple[str, ...]:
    """The instruments a bilateral_table may apply per route."""
    return tuple(name for name, entry in REGISTRY.items() if entry.per_route is not None)


# Reading: each keeps the order of checks, so a table with two mistakes names the same one.


def proportional_rate(table: dict, origin: Origin, what: str) -> float:
    """The required ``rate`` of a shock that multiplies ``what`` by 1 + rate."""
    rate = fields.number(fields.required(table, "rate", origin.at()), origin.at("rate"))
    if rate <= -1:
        raise ScenarioError(
            f"{origin.at('rate')}: rate = {rate:g} must be > -1 ({what} is multiplied by 1 + rate)"
        )
    return rate


def proportional_on_routes(record: type, what: str) -> Reader:
    """A reader of route, sectors and a rate multiplying ``what`` by 1 + rate."""

    def read(table: dict, origin: Origin) -> Any:
        rate = proportional_rate(table, origin, what)
        at = origin.at
        return record(origin, fields.route(table, at), fields.selection(table, "sectors", at), rate)

    return read


def points_on_routes(record: type, symbol: str) -> Reader:
    """A reader of route, sectors, rate and mode of an ad valorem rate named ``symbol``."""

    def read(table: dict, origin: Origin) -> Any:
        at = origin.at
        mode = fields.mode(table, at)
        rate = fields.number(fields.required(table, "rate", at()), at("rate"))
        if mode == "set" and rate <= -1:
            raise ScenarioError(f"{at('rate')}: rate = {rate:g} must be > -1 (1 + {symbol} > 0)")
        return record(
            origin, fields.route(table, at), fields.selection(table, "sectors", at), rate, mode
        )

    return read


def _read_export_ban(table: dict, origin: Origin) -> ExportBan:
    at = origin.at
    return ExportBan(origin, fields.route(table, at), fields.selection(table, "sectors", at))


def _read_export_quota(table: dict, origin: Origin) -> ExportQuota:
    at = origin.at
    value = fields.number(fields.required(table, "value", at()), at("value"))
    if value < 0:
        raise ScenarioError(
            f"{at('value')}: a quota share must be >= 0 (the allowed share of the baseline "
            f"volume; 0 is a ban), got {value:g}"
        )
    return ExportQuota(
        origin, fields.route(table, at), fields.selection(table, "sectors", at), value
    )


def _read_endowment(table: dict, origin: Origin) -> Endowment:
    rate = proportional_rate(table, origin, "the endowment")
    at = origin.at
    return Endowment(origin, fields.selection(table, "factor", at), fields.regions(table, at), rate)


def _read_productivity(table: dict, origin: Origin) -> Productivity:
    rate = proportional_rate(table, origin, "the productivity A")
    sectors = fields.selection(table, "sectors", origin.at)
    return Productivity(origin, sectors, fields.regions(table, origin.at), rate)


def _read_transfer(table: dict, origin: Origin) -> Transfer:
    at, where = origin.at, origin.at()
    balanced = table.get("balanced", False)
    if not isinstance(balanced, bool):
        raise ScenarioError(f"{at('balanced')}: expected true or false, got {balanced!r}")
    absorb = fields.text(table["absorb"], at("absorb")) if "absorb" in table else None
    values = table.get("values", {})
    if not isinstance(values, dict):
        raise ScenarioError(f"{at('values')}: expected {{ REGION = value, ... }}, got {values!r}")
    values = {region: fields.number(v, f"{at('values')} {region}") for region, v in values.items()}
    if balanced and (values or absorb):
        raise ScenarioError(
            f"{at('balanced')}: balanced = true sets every vb to 0; drop values and absorb"
        )
    if not balanced and not values:
        raise ScenarioError(
            f"{where}: expected values = {{ REGION = value, ... }} keeping Σ vb = 0 "
            '(or with absorb = "REGION" to take the difference), or balanced = true'
        )
    if absorb in values:
        raise ScenarioError(
            f"{at('absorb')}: region {absorb!r} cannot both be given a value and absorb the rest"
        )
    return Transfer(origin, values, absorb, balanced)


def available(instrument: str, where: str, allowed: tuple[str, ...]) -> None:
    """Refuse ``instrument`` unless it is ``allowed`` (an instrument, but not allowed here,
    is said so)."""
    if instrument in REGISTRY and instrument not in allowed:
        raise ScenarioError(
            f"{where}: instrument {instrument!r} is not set per route; allowed: "
            f"{', '.join(allowed)}"
        )
    if instrument not in allowed:
        raise unknown(where, "instrument", instrument, allowed)


def _read_bilateral_table(table: dict, origin: Origin) -> BilateralTable:
    at, where = origin.at, origin.at()
    folder = origin.source.path.parent
    apply = fields.text(fields.required(table, "apply", where), at("apply"))
    available(apply, at("apply"), table_instruments())
    # A rate with a mode is added or set (ad valorem); one without multiplies a level.
    with_mode = [name for name in table_instruments() if "mode" in REGISTRY[name].toml_keys]
    if apply not in with_mode and "mode" in table:
        allowed = " or ".join(f'"{name}"' for name in with_mode)
        raise ScenarioError(f"{at('mode')}: mode applies to apply = {allowed} only")
    mode = fields.mode(table, at)
    source, rows = read_rows(
        folder / fields.text(fields.required(table, "file", where), at("file")), at("file")
    )
    if apply not in with_mode or mode == "set":
        for row in rows:
            if row.rate <= -1:
                raise ScenarioError(
                    f"{source.path}:{row.line}: rate = {row.rate:g} must be > -1 "
                    f"for {apply} (read for {at('file')})"
                )
    return BilateralTable(origin, source, apply, mode, rows)


# Sweep bounds: the same conditions the readers check, for a value a batch sets.


def rate_above_minus_one(shock: Any, value: float, where: str) -> None:
    """A rate multiplying a level by 1 + rate must stay above -1."""
    if value <= -1:
        raise ScenarioError(f"{where}: rate = {value:g} must be > -1")


def set_rate_above_minus_one(shock: Any, value: float, where: str) -> None:
    """An ad valorem rate that replaces the current one must stay above -1; one added need not."""
    if shock.mode == "set":
        rate_above_minus_one(shock, value, where)


def _quota_share(shock: Any, value: float, where: str) -> None:
    if value < 0:
        raise ScenarioError(f"{where}: a quota share must be >= 0, got {value:g}")


# Effects on the parameter levels.


def route_cells(shock: Any, selector: Selector) -> np.ndarray:
    """The traded cells [i, s, r] a route shock selects; none is an error."""
    at = shock.origin.at
    return effects.traded(selector.cells(shock.route, shock.sectors, at), selector.sam, at())


def _ntb(levels: Levels, shock: Ntb, selector: Selector) -> None:
    cells = route_cells(shock, selector)
    levels["tau"] = np.where(cells, levels["tau"] * (1.0 + shock.rate), levels["tau"])


def _ntb_rent(levels: Levels, shock: NtbRent, selector: Selector) -> None:
    cells, tn = route_cells(shock, selector), levels["tn"]
    levels["tn"] = np.where(cells, (1.0 + tn) * (1.0 + shock.rate) - 1.0, tn)


def _export_ban(levels: Levels, shock: ExportBan, selector: Selector) -> None:
    sam = selector.sam
    cells = route_cells(shock, selector) & (sam.vxmd > 0)
    levels["trade_open"] = np.where(cells, 0.0, levels["trade_open"])
    effects.check_ban(levels["trade_open"], cells, sam, shock.origin.at())


def _export_quota(levels: Levels, shock: ExportQuota, selector: Selector) -> None:
    at, sam = shock.origin.at, selector.sam
    traded = selector.cells(shock.route, shock.sectors, at) & (sam.vxmd > 0)
    if not traded.any():
        raise ScenarioError(
            f"{at()}: export_quota selects no route with benchmark trade; a quota "
            "caps a share of an existing flow"
        )
    if shock.value == 0:
        levels["trade_open"] = np.where(traded, 0.0, levels["trade_open"])
        effects.check_ban(levels["trade_open"], traded, sam, at())
    else:
        effects.check_quota(traded, shock.value, sam, at("value"))
        levels["quota"] = np.where(traded, shock.value, levels["quota"])


def ad_valorem_effect(parameter: str, name: str) -> tuple[Effect, PerRoute]:
    """Effect and per-route effect of an ad valorem rate ``parameter`` (tm, tx) on routes,
    called ``name`` in messages."""

    def per_route(levels: Levels, cells, rates, mode: str, where: str, sam: GlobalSAM) -> None:
        levels[parameter] = effects.ad_valorem(
            levels[parameter], cells, rates, mode, where, sam, name, parameter
        )

    def apply(levels: Levels, shock: Any, selector: Selector) -> None:
        cells = route_cells(shock, selector)
        per_route(levels, cells, shock.rate, shock.mode, shock.origin.at("rate"), selector.sam)

    return apply, per_route


def _ntb_per_route(levels: Levels, cells, rates, mode: str, where: str, sam: GlobalSAM) -> None:
    levels["tau"] = np.where(cells, levels["tau"] * (1.0 + rates), levels["tau"])


def _endowment(levels: Levels, shock: Endowment, selector: Selector) -> None:
    at = shock.origin.at
    factors = selector.factors(shock.factors, at("factor"))
    regions = selector.regions(shock.regions, at("regions"))
    # A factor is mobile or specific: the multiplier in the other array is unused.
    endow, endow_s = levels["endow"], levels["endow_s"]
    levels["endow"] = np.where(np.outer(factors, regions), endow * (1.0 + shock.rate), endow)
    cells = factors[:, None, None] & regions[None, None, :]
    levels["endow_s"] = np.where(cells, endow_s * (1.0 + shock.rate), endow_s)


def _productivity(levels: Levels, shock: Productivity, selector: Selector) -> None:
    at = shock.origin.at
    sectors = selector.sectors(shock.sectors, at("sectors"))
    regions = selector.regions(shock.regions, at("regions"))
    levels["A"] = np.where(
        np.outer(sectors, regions), levels["A"] * (1.0 + shock.rate), levels["A"]
    )


def _transfer(levels: Levels, shock: Transfer, selector: Selector) -> None:
    levels["vb"] = effects.transfers(levels["vb"], shock, selector.sam)


def _bilateral_table(levels: Levels, shock: BilateralTable, selector: Selector) -> None:
    cells, rates = effects.table_rates(shock, selector.sam)
    per_route = REGISTRY[shock.apply].per_route
    assert per_route is not None  # the reader allows table_instruments() only
    per_route(levels, cells, rates, shock.mode, shock.origin.at("file"), selector.sam)


ROUTE = (
    Key("between", "two sides [A, B], each a bloc, region or list of them"),
    Key("from", "exporting bloc, region or list of them"),
    Key("to", "importing bloc, region or list of them"),
    Key("sectors", '"all" (default), a group, a sector or a list of them'),
)
"""The keys that select routes and sectors (:func:`fields.route`, :func:`fields.selection`)."""
RATE = Key("rate", "number > -1: the level is multiplied by 1 + rate")
POINTS = (
    Key("rate", 'number: added to the rate (mode "add"), or the new rate (> -1, mode "set")'),
    Key("mode", '"add" (default) or "set"'),
)
_tariff, _tariff_per_route = ad_valorem_effect("tm", "tariff")
_export_tax, _export_tax_per_route = ad_valorem_effect("tx", "export tax")

for _entry in (
    Instrument(
        name="ntb",
        record=Ntb,
        keys=(*ROUTE, RATE),
        read=proportional_on_routes(Ntb, "τ"),
        parameters=("tau",),
        apply=_ntb,
        owner="nobody: the goods are lost in transit",
        component="iceberg",
        sweepable={"rate": rate_above_minus_one},
        per_route=_ntb_per_route,
    ),
    Instrument(
        name="ntb_rent",
        record=NtbRent,
        keys=(*ROUTE, RATE),
        read=proportional_on_routes(NtbRent, "1 + tn"),
        parameters=("tn",),
        apply=_ntb_rent,
        owner="importer",
        component="rents",
        sweepable={"rate": rate_above_minus_one},
    ),
    Instrument(
        name="export_ban",
        record=ExportBan,
        keys=ROUTE,
        read=_read_export_ban,
        parameters=("trade_open",),
        apply=_export_ban,
        owner="nobody: the route closes",
        component="alloc",
    ),
    Instrument(
        name="export_quota",
        record=ExportQuota,
        keys=(*ROUTE, Key("value", "number >= 0: the cap as a share of the baseline volume")),
        read=_read_export_quota,
        parameters=("trade_open", "quota"),
        apply=_export_quota,
        owner="exporter (the quota rent)",
        component="rents",
        sweepable={"value": _quota_share},
    ),
    Instrument(
        name="tariff",
        record=Tariff,
        keys=(*ROUTE, *POINTS),
        read=points_on_routes(Tariff, "tm"),
        parameters=("tm",),
        apply=_tariff,
        owner="importer",
        component="alloc",
        sweepable={"rate": set_rate_above_minus_one},
        per_route=_tariff_per_route,
    ),
    Instrument(
        name="export_tax",
        record=ExportTax,
        keys=(*ROUTE, *POINTS),
        read=points_on_routes(ExportTax, "tx"),
        parameters=("tx",),
        apply=_export_tax,
        owner="exporter",
        component="alloc",
        sweepable={"rate": set_rate_above_minus_one},
        per_route=_export_tax_per_route,
    ),
    Instrument(
        name="endowment",
        record=Endowment,
        keys=(
            Key("factor", '"all" (default), a factor or a list of them'),
            Key("regions", "blocs or regions (default: every region)"),
            RATE,
        ),
        read=_read_endowment,
        parameters=("endow", "endow_s"),
        apply=_endowment,
        owner="the region's factor owners",
        component="endowment",
        sweepable={"rate": rate_above_minus_one},
    ),
    Instrument(
        name="productivity",
        record=Productivity,
        keys=(
            Key("regions", "blocs or regions (default: every region)"),
            Key("sectors", '"all" (default), a group, a sector or a list of them'),
            RATE,
        ),
        read=_read_productivity,
        parameters=("A",),
        apply=_productivity,
        owner="the region's producers (no revenue)",
        component="endowment",
        sweepable={"rate": rate_above_minus_one},
    ),
    Instrument(
        name="transfer",
        record=Transfer,
        keys=(
            Key("values", "{ REGION = number, ... } keeping Σ vb = 0"),
            Key("absorb", "a region taking the difference"),
            Key("balanced", "true or false: every vb = 0"),
        ),
        read=_read_transfer,
        parameters=("vb",),
        apply=_transfer,
        owner="the receiving regions",
        component="transfers",
    ),
    Instrument(
        name="bilateral_table",
        record=BilateralTable,
        keys=(
            Key("file", "path of a CSV commodity,exporter,importer,rate (beside the scenario)"),
            Key("apply", "an instrument set per route: ntb, tariff or export_tax"),
            Key("mode", '"add" (default) or "set", for tariff and export_tax'),
        ),
        read=_read_bilateral_table,
        parameters=("tau", "tm", "tx"),
        apply=_bilateral_table,
        owner="as the instrument it applies",
        component=None,
    ),
):
    register(_entry)
