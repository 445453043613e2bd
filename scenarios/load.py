"""load_scenario: a scenario TOML file and its baseline chain, checked for syntax and keys."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fragcge.calibration import factor_supply
from fragcge.calibration.dataset import builtin_datasets
from fragcge.errors import ScenarioError
from fragcge.model.nests import NESTS, Nests, model_elasticities
from fragcge.model.report import WORLD
from fragcge.output_folder import is_folder_name
from fragcge.scenarios import fields, instruments
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.source import SourceFile
from fragcge.scenarios.spec import (
    CLOSURES,
    IMBALANCES,
    NONALIGNED,
    Elasticity,
    Origin,
    ScalarElasticity,
    Scenario,
    SectorElasticity,
    Shock,
)

TABLES = ("scenario", "elasticities", "factor_supply", "blocs", "groups", "shock")
LATER_TABLES = ("sweep", "uncertainty")
SCENARIO_KEYS = ("name", "title", "data", "baseline", "closure", "imbalances")


def load_scenario(path: str | Path, nests: Nests = NESTS) -> Scenario:
    """Read a scenario file and its baselines; codes are checked later, by ``resolve``.

    The [elasticities] table may name the registry's elasticities and those ``nests``
    declare (``Nests.elasticities``), the ones of the model that will solve it."""
    return _load(Path(path), (), nests)


def _load(path: Path, outer: tuple[Path, ...], nests: Nests) -> Scenario:
    source = SourceFile.read(path)
    doc = source.toml()
    _check_tables(doc, source)
    if not isinstance(doc.get("scenario"), dict):
        raise ScenarioError(f"{path}: missing table [scenario] (with at least data = ...)")
    meta = doc["scenario"]
    fields.check_keys(meta, SCENARIO_KEYS, source, "scenario")
    at: fields.Where = partial(source.where, "scenario")
    if "data" not in meta:
        raise ScenarioError(
            f"{source.where('scenario')}: missing key data "
            "(a built-in dataset name, or a path to a dataset folder)"
        )
    name = fields.text(meta.get("name", path.stem), at("name"))
    if not is_folder_name(name):
        raise ScenarioError(
            f"{at('name')}: {name!r} names the results folder: use letters, digits, '.', '_', "
            "'-', and not '.' or '..' alone"
        )
    data = _data_ref(fields.text(meta["data"], at("data")), path.parent, at("data"))
    baseline = None
    if "baseline" in meta:
        baseline = _baseline(meta["baseline"], path, outer, at("baseline"), nests)
        if not _same_data(baseline.data, data):
            raise ScenarioError(
                f"{at('baseline')}: {baseline.path.name} uses data {str(baseline.data)!r}, "
                f"this scenario {str(data)!r}; a baseline must use the same dataset"
            )
    return Scenario(
        source=source,
        name=name,
        title=fields.text(meta.get("title", name), at("title")),
        data=data,
        closure=_closure(meta.get("closure", "default"), at("closure")),
        baseline=baseline,
        elasticities=_elasticities(_table(doc, "elasticities", source), source, nests),
        blocs=_blocs(_table(doc, "blocs", source), source),
        groups=_groups(_table(doc, "groups", source), source),
        shocks=read_shocks(doc.get("shock", []), source),
        imbalances=_imbalances(meta.get("imbalances", "fixed"), at("imbalances")),
        factor_supply=_factor_supply(doc.get(factor_supply.TABLE, {}), source),
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


def _table(doc: dict, name: str, source: SourceFile) -> dict:
    table = doc.get(name, {})
    if not isinstance(table, dict):
        raise ScenarioError(f"{source.where('', line_of=name)}: {name} must be a table [{name}]")
    return table


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
    closure = fields.text(value, where)
    if closure not in CLOSURES:
        raise unknown(where, "closure", closure, CLOSURES)
    return closure


def _imbalances(value: object, where: str) -> str:
    rule = fields.text(value, where)
    if rule not in IMBALANCES:
        raise unknown(where, "imbalance rule", rule, IMBALANCES)
    return rule


def _factor_supply(table: object, source: SourceFile) -> tuple[factor_supply.Setting, ...]:
    """[factor_supply]: factor = eta, and [factor_supply.REGION] tables; codes are checked
    against the dataset by ``resolve``."""
    settings, problems = factor_supply.parse(table)
    if problems:
        first = problems[0]
        where = source.where(first.table, first.key) if first.key else source.where(first.table)
        raise ScenarioError(f"{where}: {first.message}")
    return settings


def _baseline(
    value: object, path: Path, outer: tuple[Path, ...], where: str, nests: Nests
) -> Scenario:
    name = fields.text(value, where)
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
    return _load(target, inner, nests)


def _elasticities(table: dict, source: SourceFile, nests: Nests) -> tuple[Elasticity, ...]:
    declared = {e.name: e for e in model_elasticities(nests)}
    result: list[Elasticity] = []
    for key in sorted(table):
        where = source.where("elasticities", key)
        value = table[key]
        if key not in declared:
            # Per-sector ones first, then economy-wide: the order of the registry's two lists.
            allowed = sorted(declared, key=lambda name: not declared[name].per_sector)
            raise unknown(where, "elasticity", key, allowed)
        if not declared[key].per_sector:
            result.append(ScalarElasticity(key, _elasticity(value, where)))
        elif not isinstance(value, dict) or not value or ("scale" in value and len(value) > 1):
            raise ScenarioError(
                f"{where}: expected {{ scale = x }} (every sector times x) or "
                f"{{ SECTOR = value, ... }}, got {value!r}"
            )
        elif "scale" in value:
            scale = fields.number(value["scale"], f"{where} scale")
            if scale <= 0:
                raise ScenarioError(f"{where}: scale = {scale:g} must be > 0")
            result.append(SectorElasticity(key, scale, {}))
        else:
            values = {s: _elasticity(v, f"{where} {s}") for s, v in value.items()}
            result.append(SectorElasticity(key, None, values))
    return tuple(result)


def _elasticity(value: object, where: str) -> float:
    number = fields.number(value, where)
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
        blocs[bloc] = fields.names(members, where)
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
        groups[group] = fields.names(members, where)
    return groups


def read_shocks(
    entries: object, source: SourceFile, table: str = "shock", start: int = 0
) -> tuple[Shock, ...]:
    """Shocks from ``entries``, the ``[[table]]`` tables of ``source`` (``[[shock]]`` in a
    scenario file, ``[[event.shock]]`` in a risk file) numbered from ``start + 1`` among the
    file's headers of that name, so that messages point at their lines."""
    if isinstance(entries, dict):
        raise ScenarioError(
            f"{source.where(table)}: write [[{table}]] with double brackets, one per shock"
        )
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ScenarioError(
            f"{source.where('', line_of=table.split('.')[-1])}: shocks must be [[{table}]] tables"
        )
    return tuple(
        _shock(entry, Origin(source, n, table)) for n, entry in enumerate(entries, start=start + 1)
    )


def _shock(table: dict, origin: Origin) -> Shock:
    at, where = origin.at, origin.at()
    if "instrument" not in table:
        available = ", ".join(instruments.names())
        raise ScenarioError(f"{where}: missing key instrument; available: {available}")
    name = fields.text(table["instrument"], at("instrument"))
    instruments.available(name, at("instrument"), instruments.names())
    entry = instruments.REGISTRY[name]
    fields.check_keys(table, entry.toml_keys, origin.source, origin.table, origin.index)
    return entry.read(table, origin)
