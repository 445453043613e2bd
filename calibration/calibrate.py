"""Calibration: a validated GlobalSAM in, the frozen benchmark parameters of the share form out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.sam import GlobalSAM


@dataclass(frozen=True, eq=False)
class Calibration:
    """Benchmark quantities (net of tax) and value shares (gross of tax) of MODEL.md.

    Every array keeps the GlobalSAM's axis order. Quantities are in benchmark value
    units, so every price and activity level of the model is 1 in the benchmark.
    """

    sam: GlobalSAM
    vom: np.ndarray  # [j, r] output at market prices
    dd0: np.ndarray  # [i, g, r] domestic purchases, net of purchase tax
    di0: np.ndarray  # [i, g, r] imported purchases, net of purchase tax
    fd0: np.ndarray  # [f, j, r] factor use, net of factor tax
    vxmd: np.ndarray  # [i, r, s]
    vtwr: np.ndarray  # [m, i, r, s]
    cif: np.ndarray  # [i, r, s]
    vim: np.ndarray  # [i, r]
    vst: np.ndarray  # [m, r]
    vtw: np.ndarray  # [m]
    evom: np.ndarray  # [f, r] endowment of mobile factors (zero for specific ones)
    evom_s: np.ndarray  # [f, j, r] endowment of specific factors (zero for mobile ones)
    vfd: np.ndarray  # [a, r] final demand of hh, gov, inv at gross prices
    ra0: np.ndarray  # [r] benchmark income = vc + vg + vi
    vb0: np.ndarray  # [r] benchmark net foreign transfers
    theta_d: np.ndarray  # [i, g, r] domestic share within each Armington composite
    theta_s: np.ndarray  # [i, s, r] source shares within the import composite
    theta_fob: np.ndarray  # [i, s, r] fob / cif on each route
    theta_t: np.ndarray  # [m, i, s, r] margin m's share of cif on each route

    @property
    def n_sectors(self) -> int:
        """Number of sectors (and commodities)."""
        return len(self.sam.sectors)


def share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole, zero where the whole is zero (no flow, no share)."""
    out = np.zeros(np.broadcast_shapes(part.shape, whole.shape))
    np.divide(part, whole, out=out, where=whole != 0)
    return out


def calibrate(sam: GlobalSAM) -> Calibration:
    """Benchmark quantities, the Armington and trade shares of MODEL.md; the shares of the
    agents' nests follow their declaration (``fragcge.model.nests``)."""
    vom = accounts.vom(sam)
    dd0 = accounts.net_domestic(sam)
    di0 = accounts.net_imported(sam)
    fd0 = accounts.net_factor(sam)
    cif = accounts.cif(sam)
    mobile = np.array([sam.factor_kind[f] == "mobile" for f in sam.factors], dtype=bool)
    evom = np.where(mobile[:, None], fd0.sum(axis=1), 0.0)
    evom_s = np.where(mobile[:, None, None], 0.0, fd0)
    vfd = accounts.final_demand(sam)

    purchases = sam.vdfm + sam.vifm
    return Calibration(
        sam=sam,
        vom=vom,
        dd0=dd0,
        di0=di0,
        fd0=fd0,
        vxmd=sam.vxmd,
        vtwr=sam.vtwr,
        cif=cif,
        vim=accounts.vim(sam),
        vst=sam.vst,
        vtw=accounts.vtw(sam),
        evom=evom,
        evom_s=evom_s,
        vfd=vfd,
        ra0=vfd.sum(axis=0),
        vb0=accounts.vb(sam),
        theta_d=share(sam.vdfm, purchases),
        theta_s=share(accounts.vims(sam), accounts.vim(sam)[:, None, :]),
        theta_fob=share(accounts.fob(sam), cif),
        theta_t=share(sam.vtwr, cif[None]),
    )
