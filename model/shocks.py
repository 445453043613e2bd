"""The scenario-dependent parameter values the model takes: every one 'no change' by default."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.sam import GlobalSAM

PARAMETERS = ("tau", "tm", "tx", "vb", "A", "endow", "endow_s", "tn", "trade_open")
"""The fields of a ShockSet, each named as the model's mutable parameter it sets."""


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

    @classmethod
    def benchmark(cls, sam: GlobalSAM) -> ShockSet:
        """The benchmark: no trade-cost change, benchmark rates, transfers and endowments."""
        n_f, n_j, n_r = len(sam.factors), len(sam.sectors), len(sam.regions)
        return cls(
            tau=np.ones_like(sam.vxmd),
            tm=sam.tm0.copy(),
            tx=sam.tx0.copy(),
            vb=accounts.vb(sam),
            A=np.ones((n_j, n_r)),
            endow=np.ones((n_f, n_r)),
            endow_s=np.ones((n_f, n_j, n_r)),
            tn=np.zeros_like(sam.vxmd),
            trade_open=np.ones_like(sam.vxmd),
            quota=np.full_like(sam.vxmd, np.inf),
        )
