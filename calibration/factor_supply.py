"""Factor supply elasticities: the ``[factor_supply]`` table of dataset.toml and of a scenario.

The supply of factor f in region r is ``endowment · (pf/pc)**eta[f, r]`` (docs/model.md,
"Elastic factor supply"). The table is written the same way in both files::

    [factor_supply]
    va = 0.5            # factor = eta, in every region
    [factor_supply.USA]
    va = 0.2            # region USA only: overrides the line above

A number under ``[factor_supply]`` is a factor's eta in every region; a sub-table is a
region's own values, applied after the all-region ones. Parsing (:func:`parse`) checks
types and signs; codes are checked against a dataset by :func:`apply`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TABLE = "factor_supply"
"""The table's name in dataset.toml and in a scenario file."""

RULE = "a factor supply elasticity must be a finite number >= 0 (0: fixed supply)"


@dataclass(frozen=True)
class Setting:
    """eta of one factor, in one region or (region None) in every region."""

    factor: str
    region: str | None
    eta: float

    @property
    def table(self) -> str:
        """The table it is written in: ``factor_supply`` or ``factor_supply.REGION``."""
        return TABLE if self.region is None else f"{TABLE}.{self.region}"


@dataclass(frozen=True)
class Problem:
    """What is wrong with one key of the table, and where: ``[table] key``."""

    table: str
    key: str | None
    message: str

    def __str__(self) -> str:
        return f"[{self.table}]" + (f" {self.key}" if self.key else "") + f": {self.message}"


def parse(table: object) -> tuple[tuple[Setting, ...], list[Problem]]:
    """The settings of a ``[factor_supply]`` table, all-region ones first, and the problems
    found."""
    if not isinstance(table, dict):
        text = f"must be a table of factor = eta (and [{TABLE}.REGION] tables), got {table!r}"
        return (), [Problem(TABLE, None, text)]
    every: list[Setting] = []
    own: list[Setting] = []
    problems: list[Problem] = []
    for key, value in table.items():
        if isinstance(value, dict):
            for factor, eta in value.items():
                own += _setting(factor, key, eta, problems)
        else:
            every += _setting(key, None, value, problems)
    return tuple(every + own), problems


def _setting(factor: str, region: str | None, value: object, problems: list[Problem]) -> list:
    """[the Setting] if value is a valid eta, else [] with the problem recorded."""
    setting = Setting(factor, region, 0.0)
    valid = not isinstance(value, bool) and isinstance(value, int | float)
    if not (valid and math.isfinite(value) and value >= 0):
        problems.append(Problem(setting.table, factor, f"{value!r}: {RULE}"))
        return []
    return [Setting(factor, region, float(value))]


def apply(
    eta: np.ndarray,
    settings: tuple[Setting, ...],
    factors: tuple[str, ...],
    regions: tuple[str, ...],
) -> tuple[np.ndarray, list[Problem]]:
    """A copy of ``eta[f, r]`` with the settings applied in order, and the problems found
    (a factor or region code the dataset does not have)."""
    out = np.array(eta, dtype=float)
    problems = []
    for s in settings:
        if s.factor not in factors:
            text = f"unknown factor {s.factor!r}; factors: {', '.join(factors)}"
            problems.append(Problem(s.table, s.factor, text))
        elif s.region is not None and s.region not in regions:
            text = f"unknown region {s.region!r}; regions: {', '.join(regions)}"
            problems.append(Problem(s.table, None, text))
        elif s.region is None:
            out[factors.index(s.factor), :] = s.eta
        else:
            out[factors.index(s.factor), regions.index(s.region)] = s.eta
    return out, problems


def toml_tables(eta: np.ndarray, factors: tuple[str, ...], regions: tuple[str, ...]) -> dict:
    """``[factor_supply]`` as dataset.toml writes it: each factor's most common eta (if not 0)
    for every region, and a table per region for the values that differ from it; {} when
    every supply is fixed. Read back by :func:`parse` and :func:`apply`, it gives ``eta``."""
    every: dict[str, float] = {}
    own: dict[str, dict[str, float]] = {}
    for k, f in enumerate(factors):
        values = [float(v) for v in eta[k]]
        common = max(values, key=values.count)
        if common != 0:
            every[f] = common
        for region, value in zip(regions, values, strict=True):
            if value != common:
                own.setdefault(region, {})[f] = value
    return {**every, **own}
