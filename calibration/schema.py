"""The dataset folder contract of DATA.md as data: tables, their columns and allowed values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fragcge.calibration.elasticity_registry import REGISTRY, SECTOR_ELASTICITIES
from fragcge.calibration.sam import AGENT_FILE_NAMES, FINAL_AGENTS

TOML = "dataset.toml"
IGNORED_PREFIXES = (".", "~", "#")
IGNORED_SUFFIXES = ("~",)
"""Files of a dataset folder that are not part of it: hidden files, editors' lock, swap and
backup files (``.#trade.csv``, ``.trade.csv.swp``, ``~$x.xlsx``, ``#trade.csv#``,
``trade.csv~``). They are not read, hashed or reported as misspelt tables."""
META_KEYS = ("title", "year", "unit", "source", "licence", "citation")
TOML_KEYS = (
    "name",
    *META_KEYS,
    "regions",
    "sectors",
    "factors",
    "groups",
    "elasticities",
    "factor_supply",
)
FINAL_ELASTICITIES = {e.name: float(e.default) for e in REGISTRY if not e.per_sector}
"""Final-demand elasticities of dataset.toml's [elasticities], with the registry's defaults."""
REPORTS = ("balance_report.csv",)
"""Files a dataset folder may hold besides its tables: what fragcge wrote about how it was made."""
FACTOR_KINDS = ("mobile", "specific")
SOURCES = ("domestic", "imported")
FINAL_AGENT_NAMES = tuple(AGENT_FILE_NAMES[a] for a in FINAL_AGENTS)
"""File spelling of the final agents hh, gov, inv, in that order."""


@dataclass(frozen=True)
class Rule:
    """A bound every value of a column must satisfy (besides being finite)."""

    holds: Callable[[np.ndarray], np.ndarray]
    text: str


FLOW = Rule(lambda v: v >= 0, "a flow must be >= 0")
RATE = Rule(lambda v: v > -1, "a tax rate must be > -1")
OUTPUT_RATE = Rule(lambda v: v < 1, "an output tax rate (on the gross value) must be < 1")
ELASTICITY = Rule(lambda v: v >= 0, "an elasticity must be >= 0")


@dataclass(frozen=True)
class Table:
    """One table of the contract: key columns (with the kind of code each holds) and values."""

    name: str
    keys: dict[str, str]
    values: dict[str, Rule]
    required: bool = False
    optional_values: tuple[str, ...] = ()
    route: bool = False  # keyed by exporter and importer, which must differ

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column, in the contract's order."""
        return (*self.keys, *self.values)


_ROUTE = {"commodity": "sector", "exporter": "region", "importer": "region"}

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "factor_payments",
            {"region": "region", "factor": "factor", "sector": "sector"},
            {"value": FLOW},
            required=True,
        ),
        Table(
            "intermediate",
            {"region": "region", "sector": "sector", "commodity": "sector", "source": "source"},
            {"value": FLOW},
            required=True,
        ),
        Table(
            "final_demand",
            {"region": "region", "agent": "final agent", "commodity": "sector", "source": "source"},
            {"value": FLOW},
            required=True,
        ),
        Table("trade", _ROUTE, {"value": FLOW}, required=True, route=True),
        Table("trade_wedges", _ROUTE, {"export_tax": RATE, "tariff": RATE}, route=True),
        Table("output_taxes", {"region": "region", "sector": "sector"}, {"rate": OUTPUT_RATE}),
        Table(
            "purchase_taxes",
            {"region": "region", "agent": "agent", "commodity": "sector", "source": "source"},
            {"rate": RATE},
        ),
        Table(
            "factor_taxes",
            {"region": "region", "factor": "factor", "sector": "sector"},
            {"rate": RATE},
        ),
        Table("margins", {"margin": "sector", **_ROUTE}, {"value": FLOW}, route=True),
        Table("margin_supply", {"region": "region", "margin": "sector"}, {"value": FLOW}),
        Table(
            "elasticities",
            {"sector": "sector"},
            {name: ELASTICITY for name in SECTOR_ELASTICITIES},
            required=True,
            optional_values=tuple(
                e.name for e in REGISTRY if e.per_sector and e.default is not None
            ),
        ),
    )
}
