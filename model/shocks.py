"""The scenario-dependent parameter values the model takes: every one 'no change' by default."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.sam import GlobalSAM
from fragcge.model.route_wedges import WEDGES

PARAMETERS = ("tau", "tm", "tx", "vb", "A", "endow", "endow_s", "tn", "trade_open")
"""The fields of a ShockSet, each named as the model's mutable parameter it sets."""


def parameter_names() -> tuple[str, ...]:
    """Every mutable parameter a ShockSet sets: its fields, then the route wedges registered
    beyond them (``route_wedges.WEDGES``), held in ``added_wedges``."""
    return (*PARAMETERS, *(name for name in WEDGES if name not in PARAMETERS))


@dataclass(frozen=True, eq=False)
class ShockSet:
    """Levels of the mutable parameters of MODEL.md, as dense arrays.

    ``tau[i, r, s]`` iceberg trade cost relative to the benchmark (1 = benchmark);
    ``tm[i, r, s]`` import tariff and ``tx[i, r, s]`` export tax rates on the route from
    exporter r to importer s (absolute rates, not changes); ``vb[r]`` net foreign
    transfers in numeraire units; ``A[j, r]`` Hicks-neutral output-augmenting productivity;
    ``endow[f, r]`` and ``endow_s[f, j, r]`` multipliers of the mobile and the specific
    factor endowments (all three 1 in the benchmark); ``tn[i, r, s]`` the tariff equivalent
    of a non-tariff barrier whose rent goes to the importer (0 in the benchmark) and
    ``trade_open[i, r, s]`` 1 for an open route, 0 for a banned one; ``quota[i, r, s]`` the
    cap on a route's delivered volume as a share of its volume at the baseline solution
    (inf = no quota). Every field but ``quota`` is a mutable parameter of the model.
    ``added_wedges`` holds the levels of the route wedges registered beyond the fields
    (``route_wedges.register``), by name; :meth:`level` reads any parameter by name.
    """

    tau: np.ndarray
    tm: np.ndarray
    tx: np.ndarray
    vb: np.ndarray
    A: np.ndarray
    endow: np.ndarray
    endow_s: np.ndarray
    tn: np.ndarray
    trade_open: np.ndarray
    quota: np.ndarray
    added_wedges: Mapping[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def benchmark(cls, sam: GlobalSAM) -> ShockSet:
        """The benchmark: every route wedge at its benchmark level (its rate in the data, or
        no wedge), benchmark transfers and endowments, every route open, no quota."""
        n_f, n_j, n_r = len(sam.factors), len(sam.sectors), len(sam.regions)
        route = {name: wedge.benchmark_level(sam) for name, wedge in WEDGES.items()}
        return cls(
            **{name: level for name, level in route.items() if name in PARAMETERS},
            vb=accounts.vb(sam),
            A=np.ones((n_j, n_r)),
            endow=np.ones((n_f, n_r)),
            endow_s=np.ones((n_f, n_j, n_r)),
            trade_open=np.ones_like(sam.vxmd),
            quota=np.full_like(sam.vxmd, np.inf),
            added_wedges={name: v for name, v in route.items() if name not in PARAMETERS},
        )

    def level(self, name: str) -> np.ndarray:
        """A parameter's level by name: a field, or a registered route wedge's."""
        if name in self.added_wedges:
            return self.added_wedges[name]
        if name in WEDGES and name not in PARAMETERS:
            raise KeyError(
                f"route wedge {name!r} was registered after this ShockSet was made; make it "
                "again (ShockSet.benchmark) to give the wedge its benchmark level"
            )
        return getattr(self, name)

    def replaced(self, levels: Mapping[str, np.ndarray]) -> ShockSet:
        """A copy with the named levels (fields, ``quota`` or added route wedges) replaced."""
        fields = {k: v for k, v in levels.items() if k not in self.added_wedges}
        added = {k: levels.get(k, v) for k, v in self.added_wedges.items()}
        return dataclasses.replace(self, **fields, added_wedges=added)
