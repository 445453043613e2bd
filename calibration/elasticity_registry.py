"""Every substitution elasticity of the model, declared once: name, meaning, index, where it
applies, its default when a dataset leaves it out, and its valid range.

The dataset contract, validation, summaries, scenario overrides and the model's parameters
read this registry instead of typing the list out. (GTAP names, as in GTAPinGAMS.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Elasticity:
    """One substitution elasticity."""

    name: str
    meaning: str
    per_sector: bool
    """Indexed by sector (a column of elasticities.csv), else one number (dataset.toml)."""
    applies: str
    """Where in the model it is the elasticity of substitution."""
    default: str | float | None
    """When a dataset leaves it out: a number, a rule in words (applied by the dataset
    loader), or None where the dataset must give it."""
    minimum: float = 0.0
    """Valid values are >= minimum (0: Leontief)."""
    rule: tuple[str, float] | None = None
    """Where ``default`` is a rule: (another elasticity, factor), the default being the
    factor times that elasticity (GTAP's rule of two: esubm = 2 × esubd)."""

    def default_values(self, known: dict[str, np.ndarray], n: int) -> np.ndarray:
        """The default of a per-sector elasticity for n sectors, from the elasticities
        already ``known`` by name (those before it in the registry) where it is a rule."""
        if self.rule is not None:
            other, factor = self.rule
            return factor * known[other]
        if not isinstance(self.default, int | float):
            raise ValueError(f"elasticity {self.name} has no default: the dataset must give it")
        return np.full(n, float(self.default))


REGISTRY: tuple[Elasticity, ...] = (
    Elasticity(
        "esubd",
        "domestic vs imported (Armington)",
        True,
        "def_pa: each agent's Armington price of a good",
        None,
    ),
    Elasticity(
        "esubm",
        "among import sources",
        True,
        "prf_M: the import composite over delivered prices",
        "2 × esubd (GTAP's rule of two)",
        rule=("esubd", 2.0),
    ),
    Elasticity("esubva", "among primary factors", True, "def_pva: value added", None),
    Elasticity(
        "esubt",
        "value added vs intermediate bundle (top level of production)",
        True,
        "prf_Y: zero profit of production",
        0.0,
    ),
    Elasticity(
        "esubc",
        "among intermediate inputs",
        True,
        "def_pint: the intermediate bundle (merged with the top level when equal to esubt)",
        0.0,
    ),
    Elasticity("esubp", "in private consumption", False, "prf_C: private consumption", 1.0),
    Elasticity("esubg", "in government consumption", False, "def_pg: government spending", 1.0),
    Elasticity("esubi", "in investment", False, "def_pinv: investment", 0.0),
)

NAMES: tuple[str, ...] = tuple(e.name for e in REGISTRY)
"""Every elasticity, in the registry's order."""
SECTOR_ELASTICITIES: tuple[str, ...] = tuple(e.name for e in REGISTRY if e.per_sector)
"""The per-sector elasticities: columns of elasticities.csv."""
SCALAR_ELASTICITIES: tuple[str, ...] = tuple(e.name for e in REGISTRY if not e.per_sector)
"""The economy-wide elasticities: dataset.toml's [elasticities]."""


def elasticity(name: str) -> Elasticity:
    """The registry entry of an elasticity; KeyError naming the known ones otherwise."""
    for e in REGISTRY:
        if e.name == name:
            return e
    raise KeyError(f"unknown elasticity {name!r}; known: {', '.join(NAMES)}")
