"""A scenario as written: frozen records of what a TOML file says, codes not yet checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fragcge.scenarios.source import SourceFile

INSTRUMENTS = ("ntb", "tariff", "transfer", "bilateral_table")
"""Instruments this version applies."""

LATER_INSTRUMENTS = (
    "ntb_rent",
    "export_tax",
    "export_quota",
    "export_ban",
    "endowment",
    "productivity",
)
"""Instruments of SCENARIOS.md recognised but not yet applied."""

CLOSURES = ("default",)
LATER_CLOSURES = ("gov-share", "savings", "short-run", "real-wage")

SECTOR_ELASTICITIES = ("esubd", "esubm", "esubva", "esubt", "esubc")
SCALAR_ELASTICITIES = ("esubp", "esubg", "esubi")

NONALIGNED = "nonaligned"
"""The bloc of every region a scenario's [blocs] table leaves out."""


@dataclass(frozen=True)
class SectorElasticity:
    """A per-sector elasticity override: every sector scaled, or named sectors set."""

    name: str
    scale: float | None
    values: dict[str, float]


@dataclass(frozen=True)
class ScalarElasticity:
    """A final-demand elasticity (esubp, esubg, esubi) set to a new value."""

    name: str
    value: float


Elasticity = SectorElasticity | ScalarElasticity


@dataclass(frozen=True)
class Origin:
    """Where a shock is written: its file and its number among the [[shock]] tables."""

    source: SourceFile
    index: int

    def at(self, key: str | None = None) -> str:
        """``file:line: [[shock]] #n key``, for messages about this shock."""
        return self.source.where("shock", key, self.index)


@dataclass(frozen=True)
class Route:
    """Routes exporter → importer named by bloc or region; () means every region."""

    exporters: tuple[str, ...]
    importers: tuple[str, ...]
    both_ways: bool

    @property
    def label(self) -> str:
        """How the route reads in a report."""
        if self.both_ways:
            return f"between {_names(self.exporters)} and {_names(self.importers)}"
        into = f" to {_names(self.importers)}" if self.importers else ""
        return f"from {_names(self.exporters)}{into}" if self.exporters else into.lstrip()


@dataclass(frozen=True)
class Ntb:
    """Iceberg trade cost: τ multiplied by (1 + rate) on the selected routes and sectors."""

    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]
    rate: float

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        return f"ntb {100 * self.rate:+g}% on {_sectors(self.sectors)} {self.route.label}"


@dataclass(frozen=True)
class Tariff:
    """Import tariff: ``rate`` added to tm (mode "add") or replacing it (mode "set")."""

    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]
    rate: float
    mode: str

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        size = (
            f"{100 * self.rate:+g} points" if self.mode == "add" else f"set to {100 * self.rate:g}%"
        )
        return f"tariff {size} on {_sectors(self.sectors)} {self.route.label}"


@dataclass(frozen=True)
class Transfer:
    """New fixed foreign transfers vb: all zero, or named regions set with Σ vb kept at 0."""

    origin: Origin
    values: dict[str, float]
    absorb: str | None
    balanced: bool

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        if self.balanced:
            return "transfers balanced: every vb = 0"
        values = ", ".join(f"{region} = {value:g}" for region, value in self.values.items())
        return f"transfers {values}" + (
            f", {self.absorb} absorbs the difference" if self.absorb else ""
        )


@dataclass(frozen=True)
class BilateralRow:
    """One data line of a bilateral_table CSV; ``line`` is its line number in the file."""

    line: int
    commodity: str
    exporter: str
    importer: str
    rate: float


@dataclass(frozen=True)
class BilateralTable:
    """Per-route rates read from a CSV and applied as instrument ``apply`` (ntb or tariff)."""

    origin: Origin
    table: SourceFile
    apply: str
    mode: str
    rows: tuple[BilateralRow, ...]

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        mode = " set" if self.apply == "tariff" and self.mode == "set" else ""
        return f"{self.apply}{mode} per route from {self.table.path.name} ({len(self.rows)} rows)"


Shock = Ntb | Tariff | Transfer | BilateralTable


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario file, with its baseline loaded the same way (or None)."""

    source: SourceFile
    name: str
    title: str
    data: str | Path
    closure: str
    baseline: Scenario | None
    elasticities: tuple[Elasticity, ...]
    blocs: dict[str, tuple[str, ...]]
    groups: dict[str, tuple[str, ...]]
    shocks: tuple[Shock, ...]

    @property
    def path(self) -> Path:
        """The scenario file."""
        return self.source.path

    @property
    def chain(self) -> tuple[Scenario, ...]:
        """The baselines, innermost first, then this scenario: the order shocks apply in."""
        return (self.baseline.chain if self.baseline else ()) + (self,)


def _names(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def _sectors(sectors: str | tuple[str, ...]) -> str:
    if sectors == "all":
        return "all sectors"
    return sectors if isinstance(sectors, str) else ", ".join(sectors)
