"""Derived benchmark accounts of MODEL.md: pure functions of a GlobalSAM, never stored."""

from __future__ import annotations

import numpy as np

from fragcge.calibration.sam import GlobalSAM


def net_domestic(sam: GlobalSAM) -> np.ndarray:
    """Domestic purchases net of purchase tax: ``vdfm / (1 + tdf0)`` over [i, g, r]."""
    return sam.vdfm / (1.0 + sam.tdf0)


def net_imported(sam: GlobalSAM) -> np.ndarray:
    """Imported purchases net of purchase tax: ``vifm / (1 + tif0)`` over [i, g, r]."""
    return sam.vifm / (1.0 + sam.tif0)


def net_factor(sam: GlobalSAM) -> np.ndarray:
    """Factor use net of factor tax: ``vfm / (1 + tf0)`` over [f, j, r]."""
    return sam.vfm / (1.0 + sam.tf0)


def vom(sam: GlobalSAM) -> np.ndarray:
    """Output at market prices [j, r]: ``(Σ_f vfm + Σ_i (vdfm + vifm)[i, j]) / (1 − to0)``."""
    n = len(sam.sectors)
    cost = sam.vfm.sum(axis=0) + (sam.vdfm[:, :n, :] + sam.vifm[:, :n, :]).sum(axis=0)
    return cost / (1.0 - sam.to0)


def fob(sam: GlobalSAM) -> np.ndarray:
    """Exports at world prices before margins [i, r, s]: ``vxmd · (1 + tx0)``."""
    return sam.vxmd * (1.0 + sam.tx0)


def cif(sam: GlobalSAM) -> np.ndarray:
    """Exports including transport margins [i, r, s]: ``fob + Σ_m vtwr``."""
    return fob(sam) + sam.vtwr.sum(axis=0)


def vims(sam: GlobalSAM) -> np.ndarray:
    """Imports at the importer's market price [i, s, r]: ``cif · (1 + tm0)``."""
    return cif(sam) * (1.0 + sam.tm0)


def vim(sam: GlobalSAM) -> np.ndarray:
    """Imports of each commodity by each region [i, r]: ``Σ_s vims[i, s, r]``."""
    return vims(sam).sum(axis=1)


def vtw(sam: GlobalSAM) -> np.ndarray:
    """World supply of each margin service [m]: ``Σ_r vst[m, r]``."""
    return sam.vst.sum(axis=1)


def margin_use(sam: GlobalSAM) -> np.ndarray:
    """World use of each margin service [m]: ``Σ_{i,r,s} vtwr[m, i, r, s]``."""
    return sam.vtwr.sum(axis=(1, 2, 3))


def evom(sam: GlobalSAM) -> np.ndarray:
    """Factor endowments [f, r] at net prices: ``Σ_j vfm / (1 + tf0)``."""
    return net_factor(sam).sum(axis=1)


def final_demand(sam: GlobalSAM) -> np.ndarray:
    """Final demand at the agents' gross prices [a, r] for a = hh, gov, inv."""
    n = len(sam.sectors)
    return (sam.vdfm[:, n:, :] + sam.vifm[:, n:, :]).sum(axis=0)


def tax_revenue(sam: GlobalSAM) -> np.ndarray:
    """Benchmark tax and tariff revenue collected by each region [r]."""
    out = (sam.to0 * vom(sam)).sum(axis=0)
    fac = (sam.tf0 * net_factor(sam)).sum(axis=(0, 1))
    pur = (sam.vdfm - net_domestic(sam) + sam.vifm - net_imported(sam)).sum(axis=(0, 1))
    export_tax = (sam.tx0 * sam.vxmd).sum(axis=(0, 2))
    tariff = (sam.tm0 * cif(sam)).sum(axis=(0, 1))
    return out + fac + pur + export_tax + tariff


def income(sam: GlobalSAM) -> np.ndarray:
    """Benchmark regional income before transfers [r]: factor income plus revenues."""
    return evom(sam).sum(axis=0) + tax_revenue(sam)


def expenditure(sam: GlobalSAM) -> np.ndarray:
    """Benchmark final expenditure ``vc + vg + vi`` at gross prices [r]."""
    return final_demand(sam).sum(axis=0)


def vb(sam: GlobalSAM) -> np.ndarray:
    """Net foreign transfers [r]: expenditure minus income (the current-account deficit)."""
    return expenditure(sam) - income(sam)


def domestic_supply_gap(sam: GlobalSAM) -> np.ndarray:
    """Domestic market identity [i, r]: vom − (Σ_g net domestic use + Σ_s vxmd + vst)."""
    supply_use = net_domestic(sam).sum(axis=1) + sam.vxmd.sum(axis=2)
    if len(sam.margins):
        supply_use[sam.margin_index, :] += sam.vst
    return vom(sam) - supply_use


def import_market_gap(sam: GlobalSAM) -> np.ndarray:
    """Import market identity [i, r]: Σ_s vims − Σ_g net imported use."""
    return vim(sam) - net_imported(sam).sum(axis=1)


def margin_gap(sam: GlobalSAM) -> np.ndarray:
    """Each margin's identity [m]: supply vtw − use Σ vtwr."""
    return vtw(sam) - margin_use(sam)
