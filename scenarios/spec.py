"""A scenario as written: frozen records of what a TOML file says, codes not yet checked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fragcge.calibration import elasticity_registry
from fragcge.calibration.factor_supply import Setting
from fragcge.model.closures import CLOSURES as MODEL_CLOSURES
from fragcge.model.closures import IMBALANCE_RULES
from fragcge.scenarios.source import SourceFile

CLOSURES = tuple(MODEL_CLOSURES)
IMBALANCES = tuple(IMBALANCE_RULES)
"""The trade-imbalance rules a scenario's ``imbalances`` key may name."""

SECTOR_ELASTICITIES = elasticity_registry.SECTOR_ELASTICITIES
SCALAR_ELASTICITIES = elasticity_registry.SCALAR_ELASTICITIES
"""The registry's elasticities, per sector and economy-wide; a scenario may override these and
those its model's nests declare (``Nests.elasticities``)."""


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
    """An economy-wide elasticity (esubp, esubg, esubi, or one a nest declares) set to a new
    value."""

    name: str
    value: float


Elasticity = SectorElasticity | ScalarElasticity


@dataclass(frozen=True)
class Origin:
    """Where a shock is written: its file and its number among the file's ``[[table]]``
    tables (``[[shock]]`` in a scenario file, ``[[event.shock]]`` in a risk file)."""

    source: SourceFile
    index: int
    table: str = "shock"

    def at(self, key: str | None = None) -> str:
        """``file:line: [[shock]] #n key``, for messages about this shock."""
        return self.source.where(self.table, key, self.index)


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
class _ProportionalOnRoutes:
    """A shock that multiplies a route parameter by (1 + rate) on routes and sectors."""

    instrument: ClassVar[str]
    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]
    rate: float

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        return (
            f"{self.instrument} {100 * self.rate:+g}% on {_sectors(self.sectors)} "
            f"{self.route.label}"
        )


@dataclass(frozen=True)
class Ntb(_ProportionalOnRoutes):
    """Iceberg trade cost: τ multiplied by (1 + rate) on the selected routes and sectors."""

    instrument: ClassVar[str] = "ntb"


@dataclass(frozen=True)
class NtbRent(_ProportionalOnRoutes):
    """Tariff-equivalent barrier with rent to the importer: (1 + tn) multiplied by (1 + rate)."""

    instrument: ClassVar[str] = "ntb_rent"


@dataclass(frozen=True)
class ExportBan:
    """The selected routes are closed: their CES terms and every flow on them vanish."""

    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        return f"export_ban on {_sectors(self.sectors)} {self.route.label}"


@dataclass(frozen=True)
class ExportQuota:
    """Cap on the delivered volume of the selected routes: ``value`` × the baseline volume."""

    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]
    value: float

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        return (
            f"export_quota {100 * self.value:g}% of the baseline volume on "
            f"{_sectors(self.sectors)} {self.route.label}"
        )


@dataclass(frozen=True)
class _PointsOnRoutes:
    """An ad valorem rate: ``rate`` added to it (mode "add") or replacing it (mode "set")."""

    instrument: ClassVar[str]
    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]
    rate: float
    mode: str

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        size = _points(self.rate, self.mode)
        return f"{self.instrument} {size} on {_sectors(self.sectors)} {self.route.label}"


@dataclass(frozen=True)
class Tariff(_PointsOnRoutes):
    """Import tariff: ``rate`` added to tm (mode "add") or replacing it (mode "set")."""

    instrument: ClassVar[str] = "tariff"


@dataclass(frozen=True)
class ExportTax(_PointsOnRoutes):
    """Export tax: ``rate`` added to tx (mode "add") or replacing it (mode "set")."""

    instrument: ClassVar[str] = "export tax"


@dataclass(frozen=True)
class Endowment:
    """Factor supply: the endowments of ``factors`` in ``regions`` multiplied by (1 + rate).

    ``factors`` is "all" or factor codes; ``regions`` names blocs and regions, () every one.
    """

    origin: Origin
    factors: str | tuple[str, ...]
    regions: tuple[str, ...]
    rate: float

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        what = "every factor" if self.factors == "all" else _names(_tuple(self.factors))
        return f"endowment {100 * self.rate:+g}% of {what} in {_regions(self.regions)}"


@dataclass(frozen=True)
class Productivity:
    """Hicks-neutral productivity: A times (1 + rate) in the selected sectors and regions."""

    origin: Origin
    sectors: str | tuple[str, ...]
    regions: tuple[str, ...]
    rate: float

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        where = f"{_sectors(self.sectors)} in {_regions(self.regions)}"
        return f"productivity {100 * self.rate:+g}% for {where}"


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
    """Per-route rates from a CSV, applied as instrument ``apply`` (ntb, tariff, export_tax)."""

    origin: Origin
    table: SourceFile
    apply: str
    mode: str
    rows: tuple[BilateralRow, ...]

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        mode = " set" if self.mode == "set" else ""
        return f"{self.apply}{mode} per route from {self.table.path.name} ({len(self.rows)} rows)"


Shock = (
    Ntb
    | NtbRent
    | ExportBan
    | ExportQuota
    | Tariff
    | ExportTax
    | Endowment
    | Productivity
    | Transfer
    | BilateralTable
)


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
    imbalances: str = "fixed"
    """The trade-imbalance rule (``imbalances`` in [scenario]): "fixed" or "income-share"."""
    factor_supply: tuple[Setting, ...] = ()
    """The [factor_supply] table's settings, applied over the dataset's."""

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


def _tuple(names: str | tuple[str, ...]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else names


def _regions(regions: tuple[str, ...]) -> str:
    return _names(regions) if regions else "every region"


def _points(rate: float, mode: str) -> str:
    return f"{100 * rate:+g} points" if mode == "add" else f"set to {100 * rate:g}%"


def _sectors(sectors: str | tuple[str, ...]) -> str:
    if sectors == "all":
        return "all sectors"
    return sectors if isinstance(sectors, str) else ", ".join(sectors)
