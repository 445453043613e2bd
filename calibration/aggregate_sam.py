"""Aggregate a GlobalSAM by region and sector maps, keeping it an exact benchmark.

Flows are summed. Tax rates are recomputed so that each aggregate's revenue and base are
the sums of its members' (``rate = Σ revenue / Σ base``). Margins, margin supply and factor
kinds are kept; an aggregate sector is a margin commodity when any member is one.
Elasticities are aggregated with GTAPAgg's value weights
(:mod:`fragcge.calibration.elasticity_weights`).

Trade between two source regions of the same aggregate becomes that aggregate's domestic
trade (the dataset contract has no trade of a region with itself, unlike GTAPAgg's
output). Each buyer's imports are split by source in proportion to the region's imports
(GTAP's proportional sourcing), and the within-aggregate part moves to its domestic
purchases: at the seller's price net of purchase tax, while the buyer's gross payment is
unchanged, so the export taxes, tariffs and import purchase taxes on it stay with the
aggregate as purchase tax. The transport margins that trade used are bought by the same
buyer directly from the margin suppliers, in proportion to their supply ``vst``: from its
own aggregate as a domestic purchase, from any other as an untaxed import of the margin
commodity, and the suppliers' ``vst`` falls by as much. Every account of MODEL.md then
holds in the aggregate exactly as in the source: output, domestic and import markets,
margin supply, regional income, expenditure and transfers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragcge.calibration import accounts
from fragcge.calibration.aggregate import CodeMap, identity_map, membership
from fragcge.calibration.elasticity_weights import (
    ELASTICITIES,
    aggregate_elasticities,
    elasticity_values,
    elasticity_weights,
    weight_table,
)
from fragcge.calibration.sam import FINAL_AGENTS, GlobalSAM


@dataclass(frozen=True)
class _Flows:
    """Source-resolution flows once within-aggregate trade is domestic: net values and taxes.

    Taxes are carried as revenues, never as gross minus net, so that a source without a
    tax gives an aggregate rate of exactly zero.
    """

    dom_net: np.ndarray  # [i, g, r] domestic purchases net of purchase tax
    dom_tax: np.ndarray  # [i, g, r] purchase tax paid on them
    imp_net: np.ndarray
    imp_tax: np.ndarray
    vxmd: np.ndarray  # [i, r, s] trade between different aggregates only
    export_tax: np.ndarray  # [i, r, s] tx0 · vxmd
    cif: np.ndarray  # [i, r, s]
    tariff: np.ndarray  # [i, r, s] tm0 · cif
    vtwr: np.ndarray  # [m, i, r, s]
    vst: np.ndarray  # [m, r]


def aggregate_sam(
    sam: GlobalSAM, regions: CodeMap | None, sectors: CodeMap | None
) -> tuple[GlobalSAM, pd.DataFrame]:
    """``sam`` summed over the codes mapped to each aggregate (None: keep the codes).

    Returns the aggregated SAM and the elasticity weights used: one row per source sector
    with its ``group``, its value of each elasticity and its ``{elasticity}_share`` of the
    aggregate's weight. Raises DatasetError if a map misses or invents a code.
    """
    regions = regions or identity_map(sam.regions)
    sectors = sectors or identity_map(sam.sectors)
    r_of = membership(regions, sam.regions, "region")  # [A, r]
    i_of = membership(sectors, sam.sectors, "sector")  # [I, i]
    n_final = len(FINAL_AGENTS)
    g_of = np.block(  # [G, g]: sectors, then hh, gov, inv kept as they are
        [
            [i_of, np.zeros((len(i_of), n_final))],
            [np.zeros((n_final, len(sam.sectors))), np.eye(n_final)],
        ]
    )
    margin_groups = [k for k, row in enumerate(i_of) if row[sam.margin_index].any()]
    m_of = i_of[np.ix_(margin_groups, sam.margin_index)]  # [M, m]
    flows = _internalise(sam, r_of.T @ r_of)

    def purchases(a: np.ndarray) -> np.ndarray:
        return np.einsum("Ii,Gg,igr,Ar->IGA", i_of, g_of, a, r_of, optimize=True)

    def route(a: np.ndarray) -> np.ndarray:
        return np.einsum("Ii,Aa,ias,Bs->IAB", i_of, r_of, a, r_of, optimize=True)

    def by_sector(a: np.ndarray) -> np.ndarray:
        return np.einsum("Jj,...jr,Ar->...JA", i_of, a, r_of, optimize=True)

    dom_net, dom_tax = purchases(flows.dom_net), purchases(flows.dom_tax)
    imp_net, imp_tax = purchases(flows.imp_net), purchases(flows.imp_tax)
    net_factor = by_sector(accounts.net_factor(sam))
    vxmd, cif = route(flows.vxmd), route(flows.cif)
    vfm = by_sector(sam.vfm)
    vom = accounts.vom(sam)
    values, weights = elasticity_values(sam), elasticity_weights(sam)
    esub = aggregate_elasticities(values, weights, sectors)
    aggregated = GlobalSAM(
        name=sam.name,
        regions=regions.aggregates,
        sectors=sectors.aggregates,
        factors=sam.factors,
        factor_kind=dict(sam.factor_kind),
        margins=tuple(sectors.aggregates[k] for k in margin_groups),
        vfm=vfm,
        vdfm=dom_net + dom_tax,
        vifm=imp_net + imp_tax,
        vxmd=vxmd,
        vtwr=np.einsum("Mm,Ii,mirs,Ar,Bs->MIAB", m_of, i_of, flows.vtwr, r_of, r_of, optimize=True),
        vst=m_of @ flows.vst @ r_of.T,
        to0=_rate(by_sector(sam.to0 * vom), by_sector(vom)),
        tf0=_rate(by_sector(sam.vfm - accounts.net_factor(sam)), net_factor),
        tdf0=_rate(dom_tax, dom_net),
        tif0=_rate(imp_tax, imp_net),
        tx0=_rate(route(flows.export_tax), vxmd),
        tm0=_rate(route(flows.tariff), cif),
        **{name: esub[name].to_numpy() for name in ELASTICITIES},
        esubp=sam.esubp,
        esubg=sam.esubg,
        esubi=sam.esubi,
        region_names=_names(regions, sam.region_names),
        sector_names=_names(sectors, sam.sector_names),
        groups=_groups(sam.groups, regions, sectors),
        meta=dict(sam.meta),
    )
    return aggregated, weight_table(values, weights, sectors)


def _internalise(sam: GlobalSAM, same: np.ndarray) -> _Flows:
    """Turn trade between regions with ``same[r, s] = 1`` into domestic purchases."""
    cross = 1.0 - same
    vims = accounts.vims(sam)
    vim = vims.sum(axis=1)  # [i, s]
    vims_in = np.einsum("irs,rs->is", vims, same)
    vxmd_in = np.einsum("irs,rs->is", sam.vxmd, same)
    margins_in = np.einsum("mirs,rs->mis", sam.vtwr, same)
    inside = _rate(vims_in, vim)[:, None, :]  # [i, 1, s]: within-aggregate share of imports
    imp_net = accounts.net_imported(sam)
    imp_tax = sam.vifm - imp_net
    # Each agent's share of the region's imports of a commodity (proportional sourcing).
    agent_share = np.divide(
        imp_net, vim[:, None, :], out=np.zeros_like(imp_net), where=vim[:, None, :] > 0
    )
    # Export taxes and tariffs on within-aggregate trade: purchase tax of the buyers now.
    wedges_in = np.einsum("irs,rs->is", sam.tx0 * sam.vxmd + sam.tm0 * accounts.cif(sam), same)
    dom_net = accounts.net_domestic(sam) + agent_share * vxmd_in[:, None, :]
    dom_tax = sam.vdfm - accounts.net_domestic(sam) + inside * imp_tax
    dom_tax = dom_tax + agent_share * wedges_in[:, None, :]
    imp_net, imp_tax = (1.0 - inside) * imp_net, (1.0 - inside) * imp_tax
    vxmd, cif = sam.vxmd * cross, accounts.cif(sam) * cross
    vst = sam.vst.copy()
    if len(sam.margins):
        supply = _rate(sam.vst, accounts.vtw(sam)[:, None])  # [m, r] share of world supply
        bought = np.einsum("igs,mis->mgs", agent_share, margins_in)  # margin m by agent g in s
        from_home = supply @ same  # [m, s]: share supplied within the buyer's aggregate
        m = sam.margin_index
        dom_net[m] += bought * from_home[:, None, :]
        imp_net[m] += bought * (1.0 - from_home[:, None, :])
        shipped = np.einsum("mr,rs,ms->mrs", supply, cross, bought.sum(axis=1))
        vxmd[m] += shipped
        cif[m] += shipped
        vst -= supply * bought.sum(axis=(1, 2))[:, None]
    return _Flows(
        dom_net=dom_net,
        dom_tax=dom_tax,
        imp_net=imp_net,
        imp_tax=imp_tax,
        vxmd=vxmd,
        export_tax=sam.tx0 * sam.vxmd * cross,
        cif=cif,
        tariff=sam.tm0 * accounts.cif(sam) * cross,
        vtwr=sam.vtwr * cross,
        vst=vst,
    )


def _rate(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where the denominator is positive, else 0."""
    return np.divide(
        numerator,
        denominator,
        out=np.zeros(np.broadcast_shapes(numerator.shape, denominator.shape)),
        where=denominator > 0,
    )


def _names(code_map: CodeMap, names: dict[str, str]) -> dict[str, str]:
    """A kept code keeps its name; an aggregate is named after its members."""
    members: dict[str, list[str]] = {}
    for code, group in code_map.parent.items():
        members.setdefault(group, []).append(code)
    return {
        group: names.get(group, group)
        if codes == [group]
        else f"{group}: {', '.join(names.get(c, c) for c in codes)}"
        for group, codes in members.items()
    }


def _groups(
    groups: dict[str, tuple[str, ...]], regions: CodeMap, sectors: CodeMap
) -> dict[str, tuple[str, ...]]:
    """Groups whose members make up whole aggregates, in aggregate codes; others dropped."""
    kept = {}
    for name, members in groups.items():
        code_map = regions if all(m in regions.parent for m in members) else sectors
        covered = {code_map.parent.get(m) for m in members}
        whole = all(
            (code in members) == (group in covered) for code, group in code_map.parent.items()
        )
        if whole:
            kept[name] = tuple(g for g in code_map.aggregates if g in covered)
    return kept


def dropped_groups(source: GlobalSAM, aggregated: GlobalSAM) -> tuple[str, ...]:
    """Groups of ``source`` that split an aggregate, so the aggregation had to drop them."""
    return tuple(g for g in source.groups if g not in aggregated.groups)
