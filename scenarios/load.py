"""load_scenario: a scenario TOML file and its baseline chain, checked for syntax and keys."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from fragcge.calibration.dataset import builtin_datasets
from fragcge.errors import ScenarioError
from fragcge.model.report import WORLD
from fragcge.output_folder import is_folder_name
from fragcge.scenarios.bilateral import read_rows
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.source import SourceFile
from fragcge.scenarios.spec import (
    CLOSURES,
    INSTRUMENTS,
    NONALIGNED,
    SCALAR_ELASTICITIES,
    SECTOR_ELASTICITIES,
    BilateralTable,
    Elasticity,
    Endowment,
    ExportBan,
    ExportQuota,
    ExportTax,
    Ntb,
    NtbRent,
    Origin,
    Productivity,
    Route,
    ScalarElasticity,
    Scenario,
    SectorElasticity,
    Shock,
    Tariff,
    Transfer,
)

TABLES = ("scenario", "elasticities", "blocs", "groups", "shock")
LATER_TABLES = ("sweep", "uncertainty")
SCENARIO_KEYS = ("name", "title", "data", "baseline", "closure")
_ROUTE_KEYS = ("between", "from", "to", "sectors")
SHOCK_KEYS = {
    "ntb": ("instrument", *_ROUTE_KEYS, "rate"),
    "ntb_rent": ("instrument", *_ROUTE_KEYS, "rate"),
    "export_ban": ("instrument", *_ROUTE_KEYS),
    "export_quota": ("instrument", *_ROUTE_KEYS, "value"),
    "tariff": ("instrument", *_ROUTE_KEYS, "rate", "mode"),
    "export_tax": ("instrument", *_ROUTE_KEYS, "rate", "mode"),
    "endowment": ("instrument", "factor", "regions", "rate"),
    "productivity": ("instrument", "regions", "sectors", "rate"),
    "transfer": ("instrument", "values", "absorb", "balanced"),
    "bilateral_table": ("instrument", "file", "apply", "mode"),
}
RATE_MODES = ("add", "set")
"""How a tariff or export tax rate applies: added to the current rate, or replacing it."""
TABLE_INSTRUMENTS = ("ntb", "tariff", "export_tax")
"""Instruments a bilateral_table can apply per route."""

Where = Callable[[str], str]
"""Names the place of a key in the file being read, for messages."""


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario file and its baselines; codes are checked later, by ``resolve``."""
    return _load(Path(path), ())


def _load(path: Path, outer: tuple[Path, ...]) -> Scenario:
    source = SourceFile.read(path)
    try:
        doc = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    _check_tables(doc, source)
    if not isinstance(doc.get("scenario"), dict):
        raise ScenarioError(f"{path}: missing table [scenario] (with at least data = ...)")
    meta = doc["scenario"]
    _check_keys(meta, SCENARIO_KEYS, source, "scenario")
    at: Where = partial(source.where, "scenario")
    if "data" not in meta:
        raise ScenarioError(
            f"{source.where('scenario')}: missing key data "
            "(a built-in dataset name, or a path to a dataset folder)"
        )
    name = _text(meta.get("name", path.stem), at("name"))
    if not is_folder_name(name):
        raise ScenarioError(
            f"{at('name')}: {name!r} names the results folder: use letters, digits, '.', '_', "
            "'-', and not '.' or '..' alone"
        )
    data = _data_ref(_text(meta["data"], at("data")), path.parent, at("data"))
    baseline = None
    if "baseline" in meta:
        baseline = _baseline(meta["baseline"], path, outer, at("baseline"))
        if not _same_data(baseline.data, data):
            raise ScenarioError(
                f"{at('baseline')}: {baseline.path.name} uses data {str(baseline.data)!r}, "
                f"this scenario {str(data)!r}; a baseline must use the same dataset"
            )
    return Scenario(
        source=source,
        name=name,
        title=_text(meta.get("title", name), at("title")),
        data=data,
        closure=_closure(meta.get("closure", "default"), at("closure")),
        baseline=baseline,
        elasticities=_elasticities(_table(doc, "elasticities", source), source),
        blocs=_blocs(_table(doc, "blocs", source), source),
        groups=_groups(_table(doc, "groups", source), source),
        shocks=_shocks(doc.get("shock", []), source),
    )


def _check_tables(doc: dict, source: SourceFile) -> None:
    for key in doc:
        if key in LATER_TABLES:
            raise ScenarioError(
                f"{source.where(key)}: batch tables ([sweep], [uncertainty]) "
                "come in a later version of fragcge"
            )
        if key not in TABLES:
            place = (
                source.where(key) if isinstance(doc[key], dict) else source.where("", line_of=key)
            )
            raise unknown(place, "table", key, [f"[{t}]" for t in TABLES])


def _check_keys(
    table: dict, allowed: tuple[str, ...], source: SourceFile, name: str, index: int | None = None
) -> None:
    for key in table:
        if key not in allowed:
            where = source.where(name, index=index, line_of=key)
            raise unknown(where, "key", key, sorted(allowed))


def _table(doc: dict, name: str, source: SourceFile) -> dict:
    table = doc.get(name, {})
    if not isinstance(table, dict):
        raise ScenarioError(f"{source.where('', line_of=name)}: {name} must be a table [{name}]")
    return table


def _required(table: dict, key: str, where: str) -> object:
    if key not in table:
        raise ScenarioError(f"{where}: missing key {key}")
    return table[key]


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: expected a non-empty text in quotes, got {value!r}")
    return value


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _names(value: object, where: str) -> tuple[str, ...]:
    """A name or a non-empty list of names, as a tuple."""
    if isinstance(value, str):
        return (_text(value, where),)
    if isinstance(value, list) and value:
        return tuple(_text(item, where) for item in value)
    raise ScenarioError(f"{where}: expected a name or a list of names, got {value!r}")


def _data_ref(value: str, folder: Path, where: str) -> str | Path:
    """A path (relative to the scenario's folder) or a built-in dataset's name.

    A bare name that is both a built-in dataset and a folder beside the scenario is refused:
    which one a user meant cannot be told, and the two give different numbers.
    """
    candidate = folder / value
    if any(sep in value for sep in "/\\") or value.startswith("."):
        return candidate
    if value in builtin_datasets():
        if candidate.is_dir():
            raise ScenarioError(
                f"{where}: {value!r} is both a built-in dataset and the folder {candidate}; "
                f'write data = "./{value}" for the folder, or rename or move the folder to use '
                "the built-in dataset"
            )
        return value
    return candidate if candidate.is_dir() else value


def _same_data(a: str | Path, b: str | Path) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return a.resolve() == b.resolve()
    return a == b


def _closure(value: object, where: str) -> str:
    closure = _text(value, where)
    if closure not in CLOSURES:
        raise unknown(where, "closure", closure, CLOSURES)
    return closure


def _baseline(value: object, path: Path, outer: tuple[Path, ...], where: str) -> Scenario:
    name = _text(value, where)
    target = path.parent / name
    if target.suffix != ".toml":
        target = target.with_name(target.name + ".toml")
    if not target.is_file():
        folder = (
            sorted(p.stem for p in target.parent.glob("*.toml")) if target.parent.is_dir() else []
        )
        raise unknown(f"{where} (no file {target})", "baseline", name, folder)
    inner = (*outer, path.resolve())
    if target.resolve() in inner:
        loop = " -> ".join(p.name for p in inner[inner.index(target.resolve()) :])
        raise ScenarioError(
            f"{where}: baseline {name!r} makes a cycle: {loop} -> {target.name}; "
            "a baseline chain must end in a scenario without a baseline"
        )
    return _load(target, inner)


def _elasticities(table: dict, source: SourceFile) -> tuple[Elasticity, ...]:
    result: list[Elasticity] = []
    for key in sorted(table):
        where = source.where("elasticities", key)
        value = table[key]
        if key in SCALAR_ELASTICITIES:
            result.append(ScalarElasticity(key, _elasticity(value, where)))
        elif key not in SECTOR_ELASTICITIES:
            raise unknown(where, "elasticity", key, SECTOR_ELASTICITIES + SCALAR_ELASTICITIES)
        elif not isinstance(value, dict) or not value or ("scale" in value and len(value) > 1):
            raise ScenarioError(
                f"{where}: expected {{ scale = x }} (every sector times x) or "
                f"{{ SECTOR = value, ... }}, got {value!r}"
            )
        elif "scale" in value:
            scale = _number(value["scale"], f"{where} scale")
            if scale <= 0:
                raise ScenarioError(f"{where}: scale = {scale:g} must be > 0")
            result.append(SectorElasticity(key, scale, {}))
        else:
            values = {s: _elasticity(v, f"{where} {s}") for s, v in value.items()}
            result.append(SectorElasticity(key, None, values))
    return tuple(result)


def _elasticity(value: object, where: str) -> float:
    number = _number(value, where)
    if number < 0:
        raise ScenarioError(f"{where}: an elasticity must be >= 0, got {number:g}")
    return number


def _blocs(table: dict, source: SourceFile) -> dict[str, tuple[str, ...]]:
    seen: dict[str, str] = {}
    blocs = {}
    for bloc, members in table.items():
        where = source.where("blocs", bloc)
        if bloc == NONALIGNED:
            raise ScenarioError(
                f"{where}: {NONALIGNED!r} is the bloc of every region not listed; do not declare it"
            )
        if bloc == WORLD:
            raise ScenarioError(
                f"{where}: {WORLD!r} is the name of the row that sums every region in the "
                "result tables; choose another bloc name"
            )
        blocs[bloc] = _names(members, where)
        for region in blocs[bloc]:
            if region in seen:
                raise ScenarioError(
                    f"{where}: region {region!r} is already in bloc {seen[region]!r}; "
                    f"a region belongs to one bloc (the unlisted ones form {NONALIGNED!r})"
                )
            seen[region] = bloc
    return blocs


def _groups(table: dict, source: SourceFile) -> dict[str, tuple[str, ...]]:
    groups = {}
    for group, members in table.items():
        where = source.where("groups", group)
        if group == "all":
            raise ScenarioError(f"{where}: 'all' already means every sector; choose another name")
        groups[group] = _names(members, where)
    return groups


def _shocks(entries: object, source: SourceFile) -> tuple[Shock, ...]:
    if isinstance(entries, dict):
        raise ScenarioError(
            f"{source.where('shock')}: write [[shock]] with double brackets, one per shock"
        )
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ScenarioError(f"{source.where('', line_of='shock')}: shocks must be [[shock]] tables")
    return tuple(_shock(entry, source, n) for n, entry in enumerate(entries, start=1))


def _shock(table: dict, source: SourceFile, index: int) -> Shock:
    origin = Origin(source, index)
    at, where = origin.at, origin.at()
    if "instrument" not in table:
        raise ScenarioError(f"{where}: missing key instrument; available: {', '.join(INSTRUMENTS)}")
    instrument = _text(table["instrument"], at("instrument"))
    _available(instrument, at("instrument"), INSTRUMENTS)
    _check_keys(table, SHOCK_KEYS[instrument], source, "shock", index)
    if instrument == "ntb":
        rate = _proportional(table, origin, "τ")
        return Ntb(origin, _route(table, at), _selection(table, "sectors", at), rate)
    if instrument == "ntb_rent":
        rate = _proportional(table, origin, "1 + tn")
        return NtbRent(origin, _route(table, at), _selection(table, "sectors", at), rate)
    if instrument == "export_ban":
        return ExportBan(origin, _route(table, at), _selection(table, "sectors", at))
    if instrument == "export_quota":
        value = _number(_required(table, "value", where), at("value"))
        if value < 0:
            raise ScenarioError(
                f"{at('value')}: a quota share must be >= 0 (the allowed share of the baseline "
                f"volume; 0 is a ban), got {value:g}"
            )
        return ExportQuota(origin, _route(table, at), _selection(table, "sectors", at), value)
    if instrument in ("tariff", "export_tax"):
        return _ad_valorem(table, origin, instrument)
    if instrument == "endowment":
        rate = _proportional(table, origin, "the endowment")
        return Endowment(origin, _selection(table, "factor", at), _regions(table, at), rate)
    if instrument == "productivity":
        rate = _proportional(table, origin, "the productivity A")
        sectors = _selection(table, "sectors", at)
        return Productivity(origin, sectors, _regions(table, at), rate)
    if instrument == "transfer":
        return _transfer(table, origin)
    return _bilateral_table(table, origin)


def _proportional(table: dict, origin: Origin, what: str) -> float:
    """The required ``rate`` of a shock that multiplies ``what`` by 1 + rate."""
    rate = _number(_required(table, "rate", origin.at()), origin.at("rate"))
    if rate <= -1:
        raise ScenarioError(
            f"{origin.at('rate')}: rate = {rate:g} must be > -1 ({what} is multiplied by 1 + rate)"
        )
    return rate


def _ad_valorem(table: dict, origin: Origin, instrument: str) -> Tariff | ExportTax:
    """A tariff or export tax: rate points added to the route's rate, or replacing it."""
    at = origin.at
    mode = _mode(table, at)
    rate = _number(_required(table, "rate", at()), at("rate"))
    symbol = "tm" if instrument == "tariff" else "tx"
    if mode == "set" and rate <= -1:
        raise ScenarioError(f"{at('rate')}: rate = {rate:g} must be > -1 (1 + {symbol} > 0)")
    record = Tariff if instrument == "tariff" else ExportTax
    return record(origin, _route(table, at), _selection(table, "sectors", at), rate, mode)


def _available(instrument: str, where: str, available: tuple[str, ...]) -> None:
    if instrument in INSTRUMENTS and instrument not in available:
        raise ScenarioError(
            f"{where}: instrument {instrument!r} is not set per route; allowed: "
            f"{', '.join(available)}"
        )
    if instrument not in available:
        raise unknown(where, "instrument", instrument, available)


def _mode(table: dict, at: Where) -> str:
    mode = _text(table.get("mode", "add"), at("mode"))
    if mode not in RATE_MODES:
        raise unknown(at("mode"), "mode", mode, RATE_MODES)
    return mode


def _route(table: dict, at: Where) -> Route:
    if "between" in table:
        if "from" in table or "to" in table:
            raise ScenarioError(f"{at('between')}: use either between or from/to, not both")
        sides = table["between"]
        if not isinstance(sides, list) or len(sides) != 2:
            raise ScenarioError(
                f"{at('between')}: expected two sides, between = [A, B], got {sides!r}"
            )
        return Route(_names(sides[0], at("between")), _names(sides[1], at("between")), True)
    if "from" not in table and "to" not in table:
        raise ScenarioError(
            f"{at('instrument')}: no route: write between = [A, B] (both directions), "
            "or from = A and/or to = B (one direction)"
        )
    exporters = _names(table["from"], at("from")) if "from" in table else ()
    importers = _names(table["to"], at("to")) if "to" in table else ()
    return Route(exporters, importers, False)


def _selection(table: dict, key: str, at: Where) -> str | tuple[str, ...]:
    """Sectors or factors: "all" (the default), a group or code, or a list of them."""
    value = table.get(key, "all")
    return value if isinstance(value, str) and value else _names(value, at(key))


def _regions(table: dict, at: Where) -> tuple[str, ...]:
    """Blocs and regions a shock applies in; () (the default) means every region."""
    return _names(table["regions"], at("regions")) if "regions" in table else ()


def _transfer(table: dict, origin: Origin) -> Transfer:
    at, where = origin.at, origin.at()
    balanced = table.get("balanced", False)
    if not isinstance(balanced, bool):
        raise ScenarioError(f"{at('balanced')}: expected true or false, got {balanced!r}")
    absorb = _text(table["absorb"], at("absorb")) if "absorb" in table else None
    values = table.get("values", {})
    if not isinstance(values, dict):
        raise ScenarioError(f"{at('values')}: expected {{ REGION = value, ... }}, got {values!r}")
    values = {region: _number(v, f"{at('values')} {region}") for region, v in values.items()}
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


def _bilateral_table(table: dict, origin: Origin) -> BilateralTable:
    at, where = origin.at, origin.at()
    folder = origin.source.path.parent
    apply = _text(_required(table, "apply", where), at("apply"))
    _available(apply, at("apply"), TABLE_INSTRUMENTS)
    if apply == "ntb" and "mode" in table:
        raise ScenarioError(f'{at("mode")}: mode applies to apply = "tariff" or "export_tax" only')
    mode = _mode(table, at)
    source, rows = read_rows(
        folder / _text(_required(table, "file", where), at("file")), at("file")
    )
    if apply == "ntb" or mode == "set":
        for row in rows:
            if row.rate <= -1:
                raise ScenarioError(
                    f"{source.path}:{row.line}: rate = {row.rate:g} must be > -1 "
                    f"for {apply} (read for {at('file')})"
                )
    return BilateralTable(origin, source, apply, mode, rows)
