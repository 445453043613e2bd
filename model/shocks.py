"""The scenario-dependent parameter values the model takes: every one 'no change' by default."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.sam import GlobalSAM


@dataclass(frozen=True, eq=False)
class ShockSet:
    """Levels of the mutable parameters of MODEL.md, as dense arrays.

    ``tau[i, r, s]`` iceberg trade cost relative to the benchmark (1 = benchmark);
    ``tm[i, r, s]`` import tariff and ``tx[i, r, s]`` export tax rates on the route from
    exporter r to importer s (absolute rates, not changes); ``vb[r]`` net foreign
    transfers in numeraire units.
    """

    tau: np.ndarray
    tm: np.ndarray
    tx: np.ndarray
    vb: np.ndarray

    @classmethod
    def benchmark(cls, sam: GlobalSAM) -> ShockSet:
        """The benchmark: no trade-cost change, benchmark rates and transfers."""
        return cls(
            tau=np.ones_like(sam.vxmd),
            tm=sam.tm0.copy(),
            tx=sam.tx0.copy(),
            vb=accounts.vb(sam),
        )
