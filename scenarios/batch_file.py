"""Batch files: a scenario swept over its keys and drawn over its elasticities, as a list of runs.

A batch file names one scenario and varies it::

    [batch]
    name = "friendshoring-rates"
    scenario = "friendshoring.toml"      # relative to the batch file
    decomposition = false                # true: each run's welfare decomposition too

    [sweep]                              # outer product of the lists, or zip = true
    "shock.1.rate" = [0.1, 0.2, 0.3]     # the first [[shock]]'s rate
    "elasticities.esubm.scale" = [1.0, 2.0]
    "factor_supply.lab" = [0.0, 0.5]     # eta of a factor, as the scenario's [factor_supply]

    [uncertainty]
    method = "quadrature"                # or "montecarlo" (the default): draws, seed (0)
    [uncertainty.esubm]
    distribution = "uniform"             # "triangular" (mode, default the midpoint),
                                         # "normal" (mean, sd; truncated to the bounds)
    lower = 0.5
    upper = 1.5

An uncertain parameter is a multiplier of a sector elasticity (``scope = "scale"``, GTAP's
systematic sensitivity convention): every sector's value, including sectors the scenario
sets, is multiplied by the same draw, on top of any swept scale. Sweeps and draws change
only the named scenario file, not its baselines; ``resolve`` solves the baselines with the
scenario's elasticities, so a draw moves them too. Every sweep point runs with every draw.

A swept ``factor_supply.FACTOR`` (or ``factor_supply.REGION.FACTOR``) is that line of the
scenario's ``[factor_supply]`` table set to the swept eta (calibration/factor_supply.py):
as there, a region's own value wins over the all-region one. An uncertain
``[uncertainty.factor_supply.FACTOR]`` (or ``.REGION.FACTOR``) draws that line's value
itself (``scope = "value"``: eta is often 0, which no multiplier moves). Codes are checked
against the scenario's dataset when the batch file is loaded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from fragcge.calibration import factor_supply
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.output_folder import is_folder_name
from fragcge.scenarios import fields
from fragcge.scenarios.design import (
    DISTRIBUTIONS,
    MIN_NORMAL_MASS,
    Distribution,
    monte_carlo,
    quadrature,
)
from fragcge.scenarios.instruments import instrument_of
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.provenance import chain_sha256
from fragcge.scenarios.source import SourceFile
from fragcge.scenarios.spec import (
    SCALAR_ELASTICITIES,
    SECTOR_ELASTICITIES,
    ScalarElasticity,
    Scenario,
    SectorElasticity,
)

TABLES = ("batch", "sweep", "uncertainty")
BATCH_KEYS = ("name", "scenario", "decomposition")
METHODS = ("montecarlo", "quadrature")
UNCERTAINTY_KEYS = ("method", "draws", "seed")
PARAMETER_KEYS = {
    "uniform": ("distribution", "lower", "upper", "scope"),
    "triangular": ("distribution", "lower", "upper", "mode", "scope"),
    "normal": ("distribution", "lower", "upper", "mean", "sd", "scope"),
}
SCOPES = ("scale",)
"""The scope of an uncertain elasticity: a multiplier of every sector's value."""
ETA_SCOPES = ("value",)
"""The scope of an uncertain factor supply elasticity: the drawn value is eta."""
DEFAULT_SEED = 0
MAX_RUNS = 100_000
"""Runs a batch may have: at about a second of a core each, 100,000 runs are a day on two
cores, and each writes a result folder."""
RUN_BYTES = 600
"""Memory a run takes in the list of runs built before the first solve (measured: ~540 B)."""


@dataclass(frozen=True)
class Sweep:
    """Swept scenario keys and their points: one tuple of values (one per key) per point."""

    keys: tuple[str, ...]
    points: tuple[tuple[float, ...], ...]
    zipped: bool


@dataclass(frozen=True)
class Uncertainty:
    """Elasticity multipliers drawn by Monte Carlo or placed by Stroud quadrature."""

    method: str
    parameters: dict[str, Distribution]
    draws: int | None
    seed: int | None

    def design(self) -> tuple[np.ndarray, np.ndarray]:
        """Multipliers (points × parameters, in ``parameters`` order) and their weights."""
        distributions = list(self.parameters.values())
        if self.method == "quadrature":
            return quadrature(distributions)
        return monte_carlo(distributions, self.draws, self.seed)


@dataclass(frozen=True)
class Batch:
    """A loaded batch file: the scenario it varies, its sweep and its uncertainty (or None),
    and whether each run's welfare is decomposed (``decomposition = true``; five or more
    solves a run, so off unless asked for)."""

    source: SourceFile
    name: str
    scenario: Scenario
    sweep: Sweep | None
    uncertainty: Uncertainty | None
    decomposition: bool = False


@dataclass(frozen=True)
class BatchRun:
    """One scenario of a batch: its id, the swept values, the elasticity draws and their weight.

    ``id`` hashes the scenario chain with the overrides and multipliers, so that a rerun of
    the same batch finds the runs already solved. ``weight`` is 1/N for a Monte Carlo draw
    and the quadrature weight otherwise; a sweep alone gives weight 1. ``label`` names a run
    that is not a point of a batch file's design (a risk file's world and event).
    """

    id: str
    overrides: dict[str, float]
    multipliers: dict[str, float]
    weight: float
    label: str = ""


def load_batch(path: str | Path) -> Batch:
    """Read a batch file and the scenario it names, checking every key and value (factor and
    region codes of factor supply keys against the scenario's dataset, loaded for that)."""
    path = Path(path)
    source = SourceFile.read(path)
    doc = source.toml()
    for key in doc:
        if key not in TABLES or not isinstance(doc[key], dict):
            raise unknown(source.where("", line_of=key), "table", key, [f"[{t}]" for t in TABLES])
    meta = doc.get("batch")
    if meta is None:
        raise ScenarioError(f"{path}: missing table [batch] (with scenario = ...)")
    fields.check_keys(meta, BATCH_KEYS, source, "batch")
    if "scenario" not in meta:
        raise ScenarioError(f"{source.where('batch')}: missing key scenario (a scenario file)")
    name = fields.text(meta.get("name", path.stem), source.where("batch", "name"))
    if not is_folder_name(name):
        raise ScenarioError(
            f"{source.where('batch', 'name')}: {name!r} names the results folder: "
            "use letters, digits, '.', '_', '-', and not '.' or '..' alone"
        )
    decomposition = meta.get("decomposition", False)
    if not isinstance(decomposition, bool):
        raise ScenarioError(
            f"{source.where('batch', 'decomposition')}: expected true or false (whether each "
            f"run's welfare is decomposed), got {decomposition!r}"
        )
    where = source.where("batch", "scenario")
    target = path.parent / fields.text(meta["scenario"], where)
    if not target.is_file():
        raise ScenarioError(f"{where}: no scenario file {target}")
    scenario = load_scenario(target)
    sam = load_dataset(scenario.data)
    sweep = _sweep(doc["sweep"], source, scenario, sam) if "sweep" in doc else None
    uncertainty = _uncertainty(doc["uncertainty"], source, sam) if "uncertainty" in doc else None
    for name in uncertainty.parameters if uncertainty and sweep else ():
        if name in sweep.keys:
            raise ScenarioError(
                f"{source.where('sweep', name)}: {name} is both swept and uncertain; a drawn "
                "eta replaces the swept one, so keep one of the two"
            )
    if sweep is None and uncertainty is None:
        raise ScenarioError(
            f"{path}: a batch needs a [sweep] table, an [uncertainty] table or both"
        )
    if uncertainty is not None:
        points = len(sweep.points) if sweep else 1
        # Monte Carlo's draws, or the quadrature's 2N points (already placed, and few).
        draws = uncertainty.draws or len(uncertainty.design()[1])
        key = "draws" if uncertainty.draws else "method"
        _check_runs(points * draws, source.where("uncertainty", key), points)
    return Batch(source, name, scenario, sweep, uncertainty, decomposition)


def _check_runs(runs: int, where: str, points: int | None = None) -> None:
    """Refuse a batch of more than MAX_RUNS runs before anything is allocated for them."""
    if runs > MAX_RUNS:
        count = f"{points:,} sweep point(s) × {runs // points:,} draws = " if points else ""
        raise ScenarioError(
            f"{where}: {count}{runs:,} runs; their list alone needs ~"
            f"{runs * RUN_BYTES / 2**30:.1f} GiB (about {RUN_BYTES} bytes a run) before the "
            f"first solve, and each run takes about a second and writes a result folder; "
            f"limit {MAX_RUNS:,} runs: split the batch, or use fewer draws or "
            'method = "quadrature"'
        )


def expand(batch: Batch) -> list[BatchRun]:
    """Every run of the batch: each sweep point with each draw, sweep points outermost."""
    points = batch.sweep.points if batch.sweep else ((),)
    keys = batch.sweep.keys if batch.sweep else ()
    if batch.uncertainty:
        names = tuple(batch.uncertainty.parameters)
        multipliers, weights = batch.uncertainty.design()
        draws = [
            (dict(zip(names, map(float, row), strict=True)), float(w))
            for row, w in zip(multipliers, weights, strict=True)
        ]
    else:
        draws = [({}, 1.0)]
    chain = chain_sha256(batch.scenario)
    runs = []
    for point in points:
        overrides = dict(zip(keys, point, strict=True))
        for draw, weight in draws:
            runs.append(BatchRun(_run_id(chain, overrides, draw), overrides, draw, weight))
    return runs


def apply_run(scenario: Scenario, run: BatchRun) -> Scenario:
    """``scenario`` with the run's swept values, then its elasticity multipliers, applied."""
    for key, value in run.overrides.items():
        scenario = _override(scenario, key, value)
    for name, factor in run.multipliers.items():
        if _is_eta(name):
            scenario = _with_factor_supply(scenario, name.split(".")[1:], factor)
            continue
        current = _sector_elasticity(scenario, name)
        scaled = SectorElasticity(
            name,
            (current.scale if current.scale is not None else 1.0) * factor,
            {sector: value * factor for sector, value in current.values.items()},
        )
        scenario = _with_elasticity(scenario, scaled)
    return scenario


def sweep_keys(scenario: Scenario, sam: GlobalSAM | None = None) -> list[str]:
    """The keys of ``scenario`` a sweep may vary; with its dataset ``sam``, the factor supply
    elasticities of its factors too (``factor_supply.FACTOR``, ``factor_supply.REGION.FACTOR``)."""
    keys = [
        f"shock.{n}.{field}"
        for n, shock in enumerate(scenario.shocks, 1)
        for field in instrument_of(shock).sweepable
    ]
    keys += [f"elasticities.{name}.scale" for name in SECTOR_ELASTICITIES]
    keys += [f"elasticities.{name}" for name in SCALAR_ELASTICITIES]
    if sam is not None:
        keys += [f"{factor_supply.TABLE}.{f}" for f in sam.factors]
        keys += [f"{factor_supply.TABLE}.{r}.{f}" for r in sam.regions for f in sam.factors]
    return keys


def parameter_column(name: str) -> str:
    """The runs.csv column of an uncertain parameter, named as the sweep key that sets it:
    ``elasticities.NAME.scale`` (a multiplier), or ``factor_supply…`` (eta itself)."""
    return name if _is_eta(name) else f"elasticities.{name}.scale"


def _is_eta(name: str) -> bool:
    """Whether an uncertain parameter's name is a factor supply elasticity's."""
    return name.startswith(f"{factor_supply.TABLE}.")


def _run_id(chain: str, overrides: dict[str, float], multipliers: dict[str, float]) -> str:
    # repr-exact floats in sorted JSON: the same batch always hashes to the same ids.
    payload = json.dumps({"overrides": overrides, "multipliers": multipliers}, sort_keys=True)
    return hashlib.sha256(f"{chain}\n{payload}".encode()).hexdigest()


def _override(scenario: Scenario, key: str, value: float) -> Scenario:
    parts = key.split(".")
    if parts[0] == "shock":
        shocks = list(scenario.shocks)
        index = int(parts[1]) - 1
        shocks[index] = replace(shocks[index], **{parts[2]: value})
        return replace(scenario, shocks=tuple(shocks))
    if parts[0] == factor_supply.TABLE:
        return _with_factor_supply(scenario, parts[1:], value)
    if len(parts) == 2:
        return _with_elasticity(scenario, ScalarElasticity(parts[1], value))
    return _with_elasticity(scenario, replace(_sector_elasticity(scenario, parts[1]), scale=value))


def _sector_elasticity(scenario: Scenario, name: str) -> SectorElasticity:
    """The scenario's override of ``name``, or one that leaves the data's values as they are."""
    for elasticity in scenario.elasticities:
        if elasticity.name == name:
            return elasticity
    return SectorElasticity(name, None, {})


def _with_factor_supply(scenario: Scenario, codes: list[str], eta: float) -> Scenario:
    """``scenario`` with its [factor_supply] line ``FACTOR = eta`` (codes [FACTOR]) or
    [factor_supply.REGION] line (codes [REGION, FACTOR]) set to ``eta``, all-region lines
    first as ``factor_supply.parse`` orders them (so a region's own value still wins)."""
    region = codes[0] if len(codes) == 2 else None
    new = factor_supply.Setting(codes[-1], region, eta)
    kept = [s for s in scenario.factor_supply if (s.factor, s.region) != (new.factor, region)]
    settings = sorted([*kept, new], key=lambda s: s.region is not None)
    return replace(scenario, factor_supply=tuple(settings))


def _with_elasticity(scenario: Scenario, new: SectorElasticity | ScalarElasticity) -> Scenario:
    kept = [e for e in scenario.elasticities if e.name != new.name]
    # Sorted by name, as load_scenario keeps them, so equal overrides compare equal.
    elasticities = tuple(sorted([*kept, new], key=lambda e: e.name))
    return replace(scenario, elasticities=elasticities)


def _sweep(table: dict, source: SourceFile, scenario: Scenario, sam: GlobalSAM) -> Sweep:
    zipped = table.get("zip", False)
    if not isinstance(zipped, bool):
        raise ScenarioError(
            f"{source.where('sweep', 'zip')}: expected true or false, got {zipped!r}"
        )
    lists = _flatten({k: v for k, v in table.items() if k != "zip"})
    if not lists:
        raise ScenarioError(
            f"{source.where('sweep')}: no key to sweep; allowed: "
            + ", ".join(sweep_keys(scenario, sam))
        )
    allowed = sweep_keys(scenario, sam)
    values: dict[str, tuple[float, ...]] = {}
    for key, raw in lists.items():
        where = source.where("sweep", key)
        if key not in allowed:
            raise unknown(f"{where} (of {scenario.path.name})", "sweep key", key, allowed)
        if not isinstance(raw, list) or not raw:
            raise ScenarioError(f"{where}: expected a non-empty list of values, got {raw!r}")
        values[key] = tuple(_swept_value(scenario, key, item, where) for item in raw)
    keys = tuple(values)
    sizes = [len(v) for v in values.values()]
    _check_runs(sizes[0] if zipped else math.prod(sizes), source.where("sweep"))
    if zipped:
        lengths = {key: len(v) for key, v in values.items()}
        if len(set(lengths.values())) > 1:
            sizes = ", ".join(f"{key} has {n}" for key, n in lengths.items())
            raise ScenarioError(
                f"{source.where('sweep', 'zip')}: zip = true pairs the lists element by "
                f"element, so they must have equal lengths: {sizes}"
            )
        points = tuple(zip(*values.values(), strict=True))
    else:
        points = tuple(itertools.product(*values.values()))
    if len(set(points)) < len(points):
        raise ScenarioError(f"{source.where('sweep')}: a point is listed twice; each run once")
    return Sweep(keys, points, zipped)


def _flatten(table: dict, prefix: str = "") -> dict[str, object]:
    """Quoted ("shock.1.rate" = ...) and bare (shock.1.rate = ...) dotted keys alike."""
    flat: dict[str, object] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _swept_value(scenario: Scenario, key: str, value: object, where: str) -> float:
    number = fields.number(value, where)
    parts = key.split(".")
    if parts[0] == "shock":
        shock = scenario.shocks[int(parts[1]) - 1]
        instrument_of(shock).sweepable[parts[2]](shock, number, where)
    elif parts[0] == factor_supply.TABLE:
        _, problems = factor_supply.parse({parts[-1]: number})
        if problems:
            raise ScenarioError(f"{where}: {problems[0].message}")
    elif parts[-1] == "scale" and number <= 0:
        raise ScenarioError(f"{where}: scale = {number:g} must be > 0")
    elif number < 0:
        raise ScenarioError(f"{where}: an elasticity must be >= 0, got {number:g}")
    return number


def _uncertainty(table: dict, source: SourceFile, sam: GlobalSAM) -> Uncertainty:
    at = source.where
    for key, value in table.items():
        if not isinstance(value, dict) and key not in UNCERTAINTY_KEYS:
            names = [*UNCERTAINTY_KEYS, *(f"[uncertainty.{e}]" for e in SECTOR_ELASTICITIES)]
            names.append(f"[uncertainty.{factor_supply.TABLE}.FACTOR]")
            raise unknown(at("uncertainty", line_of=key), "key", key, names)
    method = fields.text(table.get("method", "montecarlo"), at("uncertainty", "method"))
    if method not in METHODS:
        raise unknown(at("uncertainty", "method"), "method", method, METHODS)
    draws = seed = None
    if method == "quadrature":
        for key in ("draws", "seed"):
            if key in table:
                raise ScenarioError(
                    f'{at("uncertainty", key)}: {key} is for method = "montecarlo"; '
                    "quadrature places 2N points for N parameters"
                )
    else:
        draws = fields.required(table, "draws", at("uncertainty"), "Monte Carlo draws")
        draws = _integer(draws, at("uncertainty", "draws"))
        if draws < 1:
            raise ScenarioError(f"{at('uncertainty', 'draws')}: draws = {draws} must be >= 1")
        seed = _integer(table.get("seed", DEFAULT_SEED), at("uncertainty", "seed"))
        if seed < 0:
            raise ScenarioError(f"{at('uncertainty', 'seed')}: seed = {seed} must be >= 0")
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    tables |= _eta_tables(tables.pop(factor_supply.TABLE, {}), source, sam)
    parameters = {name: _parameter(name, tables[name], source) for name in sorted(tables)}
    if not parameters:
        raise ScenarioError(
            f"{at('uncertainty')}: no uncertain parameter; add a table such as "
            "[uncertainty.esubm] with distribution, lower and upper"
        )
    uncertainty = Uncertainty(method, parameters, draws, seed)
    if method == "quadrature":
        lowest = uncertainty.design()[0].min(axis=0)
        for name, low in zip(parameters, lowest, strict=True):
            if _is_eta(name) and low < 0:
                raise ScenarioError(
                    f"{at(f'uncertainty.{name}')}: a quadrature point puts {name} at "
                    f"{low:g}, but {factor_supply.RULE}; narrow the distribution"
                )
            if not _is_eta(name) and low <= 0:
                raise ScenarioError(
                    f"{at(f'uncertainty.{name}')}: a quadrature point puts the {name} scale at "
                    f"{low:g}, but a scale must be > 0; narrow the distribution"
                )
    return uncertainty


def _eta_tables(table: dict, source: SourceFile, sam: GlobalSAM) -> dict[str, dict]:
    """[uncertainty.factor_supply.FACTOR] and [uncertainty.factor_supply.REGION.FACTOR]
    tables by parameter name (``factor_supply.FACTOR``…), codes checked against ``sam``."""
    out = {}
    section = f"uncertainty.{factor_supply.TABLE}"
    for key, value in table.items():
        _table_of(value, source.where(section, key), f"{section}.{key}")
        if key in sam.factors:
            out[f"{factor_supply.TABLE}.{key}"] = value
        elif key in sam.regions:
            for factor, parameter in value.items():
                where = source.where(f"{section}.{key}", factor)
                if factor not in sam.factors:
                    raise unknown(where, "factor", factor, sam.factors)
                _table_of(parameter, where, f"{section}.{key}.{factor}")
                out[f"{factor_supply.TABLE}.{key}.{factor}"] = parameter
        else:
            codes = [*sam.factors, *sam.regions]
            raise unknown(source.where(f"{section}.{key}"), "factor or region", key, codes)
    return out


def _table_of(value: object, where: str, section: str) -> None:
    """Refuse a value that is not a table: an uncertain parameter is [section] with its
    distribution and bounds."""
    if not isinstance(value, dict):
        raise ScenarioError(
            f"{where}: expected a table [{section}] with distribution, lower and upper, "
            f"got {value!r}"
        )


def _parameter(name: str, table: dict, source: SourceFile) -> Distribution:
    section = f"uncertainty.{name}"
    at = source.where
    eta = _is_eta(name)
    if name not in SECTOR_ELASTICITIES and not eta:
        allowed = [*SECTOR_ELASTICITIES, f"{factor_supply.TABLE}.FACTOR"]
        raise unknown(at(section), "uncertain parameter", name, allowed)
    if "distribution" not in table:
        raise ScenarioError(
            f"{at(section)}: missing key distribution; allowed: " + ", ".join(DISTRIBUTIONS)
        )
    kind = fields.text(table["distribution"], at(section, "distribution"))
    if kind not in DISTRIBUTIONS:
        raise unknown(at(section, "distribution"), "distribution", kind, DISTRIBUTIONS)
    fields.check_keys(table, PARAMETER_KEYS[kind], source, section)
    scopes = ETA_SCOPES if eta else SCOPES
    scope = fields.text(table.get("scope", scopes[0]), at(section, "scope"))
    if scope not in scopes:
        raise unknown(at(section, "scope"), "scope", scope, scopes)
    needed = [k for k in PARAMETER_KEYS[kind] if k not in ("distribution", "scope", "mode")]
    numbers = {}
    for key in needed:
        value = fields.required(table, key, at(section), f"distribution = {kind!r}")
        numbers[key] = fields.number(value, at(section, key))
    lower, upper = numbers["lower"], numbers["upper"]
    if eta and not 0 <= lower < upper:
        raise ScenarioError(
            f"{at(section, 'lower')}: bounds of a factor supply elasticity must satisfy "
            f"0 <= lower < upper, got lower = {lower:g}, upper = {upper:g}"
        )
    if not eta and not 0 < lower < upper:
        raise ScenarioError(
            f"{at(section, 'lower')}: bounds of a scale must satisfy 0 < lower < upper, "
            f"got lower = {lower:g}, upper = {upper:g}"
        )
    if kind == "triangular":
        mode = fields.number(table.get("mode", (lower + upper) / 2), at(section, "mode"))
        if not lower <= mode <= upper:
            raise ScenarioError(
                f"{at(section, 'mode')}: mode = {mode:g} must lie between lower and upper"
            )
        return Distribution(kind, lower, upper, mode=mode)
    if kind == "normal":
        if numbers["sd"] <= 0:
            raise ScenarioError(f"{at(section, 'sd')}: sd = {numbers['sd']:g} must be > 0")
        normal = Distribution(kind, lower, upper, mean=numbers["mean"], sd=numbers["sd"])
        if normal.normal_mass() < MIN_NORMAL_MASS:
            raise ScenarioError(
                f"{at(section)}: the bounds keep less than {MIN_NORMAL_MASS:g} of the normal's "
                "mass; move mean inside them or widen them"
            )
        return normal
    return Distribution(kind, lower, upper)


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: expected a whole number, got {value!r}")
    return value
