"""A scenario's names checked against a dataset, and the cells each shock selects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.spec import NONALIGNED, Route, Scenario


@dataclass(frozen=True, eq=False)
class Selector:
    """Bloc, region, group and sector names of one scenario file, as masks over its dataset."""

    sam: GlobalSAM
    blocs: dict[str, tuple[str, ...]]
    groups: dict[str, tuple[str, ...]]

    @classmethod
    def build(cls, scenario: Scenario, sam: GlobalSAM) -> Selector:
        """Check [blocs] (regions) and [groups] (sectors) against ``sam``; add "nonaligned"."""
        where = scenario.source.where
        listed = set()
        for bloc, members in scenario.blocs.items():
            if bloc in sam.regions:
                raise ScenarioError(
                    f"{where('blocs', bloc)}: bloc name {bloc!r} is also a region code; rename it"
                )
            for region in members:
                if region not in sam.regions:
                    raise unknown(where("blocs", bloc), "region", region, sam.regions)
            listed.update(members)
        nonaligned = tuple(r for r in sam.regions if r not in listed)
        for group, members in scenario.groups.items():
            if group in sam.sectors:
                raise ScenarioError(
                    f"{where('groups', group)}: {group!r} is also a sector code; rename the group"
                )
            for sector in members:
                if sector not in sam.sectors:
                    raise unknown(where("groups", group), "sector", sector, sam.sectors)
        return cls(
            sam=sam,
            blocs={**scenario.blocs, NONALIGNED: nonaligned},
            groups={**sam.groups, **scenario.groups},
        )

    @property
    def bloc_of(self) -> dict[str, str]:
        """Each region's bloc, in the dataset's region order."""
        bloc = {region: name for name, members in self.blocs.items() for region in members}
        return {region: bloc[region] for region in self.sam.regions}

    def regions(self, names: tuple[str, ...], where: str) -> np.ndarray:
        """Boolean mask over regions of the named blocs and regions; () means every region."""
        regions = self.sam.regions
        if not names:
            return np.ones(len(regions), dtype=bool)
        chosen = set()
        for name in names:
            if name in self.blocs:
                chosen.update(self.blocs[name])
            elif name in regions:
                chosen.add(name)
            else:
                raise unknown(where, "bloc or region", name, [*self.blocs, *regions])
        return np.array([r in chosen for r in regions])

    def routes(self, route: Route, at: Callable[[str], str]) -> np.ndarray:
        """Boolean mask [r, s] of the routes exporter r → importer s, never r → r."""
        keys = ("between", "between") if route.both_ways else ("from", "to")
        exporters = self.regions(route.exporters, at(keys[0]))
        importers = self.regions(route.importers, at(keys[1]))
        mask = np.outer(exporters, importers)
        if route.both_ways:
            mask |= mask.T
        own = np.flatnonzero(np.diag(mask))
        np.fill_diagonal(mask, False)
        if not mask.any():
            # Only a region's trade with itself is selected (USA → USA, a one-region bloc to
            # itself, or an empty nonaligned bloc): the shock would change nothing.
            names = ", ".join(f"{r} → {r}" for r in np.asarray(self.sam.regions)[own])
            raise ScenarioError(
                f"{at(keys[0])}: the route selects no pair of two different regions"
                + (
                    f" (only {names}, a region's trade with itself, which is not a route)"
                    if names
                    else ""
                )
                + "; name an exporter and an importer that differ"
            )
        return mask

    def sectors(self, sectors: str | tuple[str, ...], where: str) -> np.ndarray:
        """Boolean mask over sectors of "all", or of the named groups and sectors."""
        codes = self.sam.sectors
        chosen = set()
        for name in (sectors,) if isinstance(sectors, str) else sectors:
            if name == "all":
                chosen.update(codes)
            elif name in codes:
                chosen.add(name)
            elif name in self.groups:
                outside = [c for c in self.groups[name] if c not in codes]
                if outside:
                    raise ScenarioError(
                        f"{where}: group {name!r} lists {', '.join(outside)}, which are not "
                        f"sectors of dataset {self.sam.name!r}"
                    )
                chosen.update(self.groups[name])
            else:
                raise unknown(where, "sector or group", name, ["all", *self.groups, *codes])
        return np.array([c in chosen for c in codes])

    def factors(self, factors: str | tuple[str, ...], where: str) -> np.ndarray:
        """Boolean mask over factors of "all", or of the named factors."""
        codes = self.sam.factors
        names = (factors,) if isinstance(factors, str) else factors
        for name in names:
            if name != "all" and name not in codes:
                raise unknown(where, "factor", name, ["all", *codes])
        return np.array([code in names or "all" in names for code in codes])

    def cells(
        self, route: Route, sectors: str | tuple[str, ...], at: Callable[[str], str]
    ) -> np.ndarray:
        """Boolean mask [i, r, s] of the selected commodities on the selected routes.

        ``at(key)`` names a key of the shock (between, from, to, sectors) in messages.
        """
        chosen = self.sectors(sectors, at("sectors"))
        return chosen[:, None, None] & self.routes(route, at)[None, :, :]
