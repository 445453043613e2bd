"""The validated global social accounting matrix: benchmark flows, tax rates, elasticities."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FINAL_AGENTS = ("hh", "gov", "inv")
"""Final-demand agents in MODEL.md's notation; files spell them household, government, …"""

AGENT_FILE_NAMES = {"hh": "household", "gov": "government", "inv": "investment"}


@dataclass(frozen=True, eq=False)
class GlobalSAM:
    """A benchmark world economy in MODEL.md's notation, as dense numpy arrays.

    Axis order follows GTAP: ``vfm[f, j, r]``, ``vdfm[i, g, r]``, ``vxmd[i, r, s]``,
    ``vtwr[m, i, r, s]``, ``vst[m, r]``. The agent axis ``g`` runs over the sectors and
    then ``hh``, ``gov``, ``inv`` (see :attr:`agents`). Margin commodities ``m`` are a
    subset of the sectors, listed in :attr:`margins`. Values are in ``meta['unit']``.
    Derived accounts (``vom``, ``vim``, ``evom``, ``vb``) live in
    :mod:`fragcge.calibration.accounts`, never here.
    """

    name: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    factors: tuple[str, ...]
    factor_kind: dict[str, str]
    margins: tuple[str, ...]
    vfm: np.ndarray
    vdfm: np.ndarray
    vifm: np.ndarray
    vxmd: np.ndarray
    vtwr: np.ndarray
    vst: np.ndarray
    to0: np.ndarray
    tf0: np.ndarray
    tdf0: np.ndarray
    tif0: np.ndarray
    tx0: np.ndarray
    tm0: np.ndarray
    esubd: np.ndarray
    esubm: np.ndarray
    esubva: np.ndarray
    esubt: np.ndarray
    esubc: np.ndarray
    esubp: float = 1.0
    esubg: float = 1.0
    esubi: float = 0.0
    region_names: dict[str, str] = field(default_factory=dict)
    sector_names: dict[str, str] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)
    path: Path | None = None
    digest: str = ""
    eta: np.ndarray | None = None
    """Factor supply elasticities [f, r] (dataset.toml's [factor_supply]): the supply of
    factor f in region r is its endowment times (pf/pc)**eta. None reads as every one 0,
    a fixed supply."""
    nest_elasticities: dict[str, np.ndarray] = field(default_factory=dict)
    """Values a scenario gives to elasticities that nests declare beyond the registry
    (``Nests.elasticities``: no dataset file carries them), by name: one per sector or one
    number (1-d). An elasticity left out has its declared default."""

    def __post_init__(self) -> None:
        if self.eta is None:
            object.__setattr__(self, "eta", np.zeros((len(self.factors), len(self.regions))))

    @property
    def agents(self) -> tuple[str, ...]:
        """Demand agents g: every sector, then hh, gov, inv."""
        return self.sectors + FINAL_AGENTS

    @property
    def mobile(self) -> tuple[str, ...]:
        """Factors mobile across the sectors of a region."""
        return tuple(f for f in self.factors if self.factor_kind[f] == "mobile")

    @property
    def specific(self) -> tuple[str, ...]:
        """Factors tied to the sector that uses them."""
        return tuple(f for f in self.factors if self.factor_kind[f] == "specific")

    @property
    def margin_index(self) -> np.ndarray:
        """Position in ``sectors`` of each margin commodity."""
        return np.array([self.sectors.index(m) for m in self.margins], dtype=int)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(regions, sectors, factors)."""
        return len(self.regions), len(self.sectors), len(self.factors)
