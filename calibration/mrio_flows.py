"""GTAP benchmark flows of a resolved multi-regional table, as DATA.md tables or a GlobalSAM.

The table must have passed :func:`fragcge.calibration.mrio_quirks.resolve_quirks`:
final demand by agent, output equal to the row total of uses, value added >= 0. Then
``vdfm`` is what each buyer takes from its own region, ``vifm`` the sum over every
foreign source, ``vxmd[i, s, r]`` every flow (intermediate and final) from ``(s, i)`` to
buyers in ``r ≠ s``, and ``vfm['va', j, r]`` the value added. There are no taxes and no
international margins: WIOD values every flow at basic prices, margins included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragcge.calibration.mrio import MRIO
from fragcge.calibration.mrio_quirks import AGENTS
from fragcge.calibration.sam import FINAL_AGENTS, GlobalSAM
from fragcge.errors import DatasetError

FACTORS = ("va",)
SOURCES = ("domestic", "imported")
KEYS = {
    "factor_payments": ["region", "factor", "sector"],
    "intermediate": ["region", "sector", "commodity", "source"],
    "final_demand": ["region", "agent", "commodity", "source"],
    "trade": ["commodity", "exporter", "importer"],
}
"""Key columns of each DATA.md table written here, in the contract's order."""
SECTOR_ELASTICITIES = ("esubd", "esubm", "esubva", "esubt", "esubc")


@dataclass(frozen=True, eq=False)
class BenchmarkFlows:
    """Benchmark flows in GlobalSAM's axis order; agents ``g`` are sectors then AGENTS."""

    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    vfm: np.ndarray
    vdfm: np.ndarray
    vifm: np.ndarray
    vxmd: np.ndarray
    factors: tuple[str, ...] = FACTORS


def benchmark_flows(mrio: MRIO) -> BenchmarkFlows:
    """Split each buyer's purchases into domestic and imported, and collect bilateral trade."""
    if mrio.categories != AGENTS:
        raise DatasetError(
            f"final demand is by {', '.join(mrio.categories)}; resolve the table's quirks first"
        )
    # purchases[s, i, r, g]: what buyer g of region r takes from industry i of region s
    purchases = np.concatenate([mrio.z, mrio.f], axis=3)
    own = np.eye(len(mrio.regions))
    return BenchmarkFlows(
        regions=mrio.regions,
        sectors=mrio.sectors,
        vfm=mrio.value_added.T[np.newaxis, :, :],
        vdfm=np.einsum("sirg,sr->igr", purchases, own),
        vifm=np.einsum("sirg,sr->igr", purchases, 1.0 - own),
        vxmd=np.einsum("sirg,sr->isr", purchases, 1.0 - own),
    )


def dataset_tables(flows: BenchmarkFlows) -> dict[str, pd.DataFrame]:
    """The DATA.md tables of the flows: non-zero rows only, sorted by their key columns."""
    n = len(flows.sectors)
    i, r = flows.sectors, flows.regions
    bought = {"domestic": flows.vdfm, "imported": flows.vifm}
    frames = {
        "factor_payments": long_table(
            flows.vfm, {"factor": flows.factors, "sector": i, "region": r}
        ),
        "intermediate": pd.concat(
            long_table(bought[src][:, :n], {"commodity": i, "sector": i, "region": r}, source=src)
            for src in SOURCES
        ),
        "final_demand": pd.concat(
            long_table(
                bought[src][:, n:], {"commodity": i, "agent": AGENTS, "region": r}, source=src
            )
            for src in SOURCES
        ),
        "trade": long_table(flows.vxmd, {"commodity": i, "exporter": r, "importer": r}),
    }
    return {
        name: frame[KEYS[name] + ["value"]].sort_values(KEYS[name]).reset_index(drop=True)
        for name, frame in frames.items()
    }


def long_table(
    values: np.ndarray, axes: dict[str, tuple[str, ...]], **constants: str
) -> pd.DataFrame:
    """The non-zero cells of an array, one row each: a column per axis, constants, ``value``."""
    index = pd.MultiIndex.from_product(list(axes.values()), names=list(axes))
    frame = pd.DataFrame({"value": values.ravel()}, index=index).reset_index()
    return frame[frame["value"] != 0].assign(**constants)


def flows_sam(
    flows: BenchmarkFlows,
    elasticities: pd.DataFrame,
    name: str,
    meta: dict[str, object],
    region_names: dict[str, str] | None = None,
    sector_names: dict[str, str] | None = None,
) -> GlobalSAM:
    """The GlobalSAM of benchmark flows: no taxes, no margins, one mobile factor per FACTORS.

    ``elasticities`` has a ``sector`` column and one column per sector elasticity
    (``esubd esubm esubva esubt esubc``), one row for every sector of the flows (extra
    rows are ignored); final-demand elasticities keep MODEL.md's defaults.
    """
    missing = [j for j in flows.sectors if j not in set(elasticities["sector"])]
    if missing:
        raise DatasetError(f"elasticities: no row for sector(s) {', '.join(missing)}")
    esub = elasticities.set_index("sector").loc[list(flows.sectors)]
    n_r, n_i = len(flows.regions), len(flows.sectors)
    n_g = n_i + len(FINAL_AGENTS)
    n_f = len(flows.factors)
    zeros = np.zeros
    return GlobalSAM(
        name=name,
        regions=flows.regions,
        sectors=flows.sectors,
        factors=flows.factors,
        factor_kind=dict.fromkeys(flows.factors, "mobile"),
        margins=(),
        vfm=flows.vfm,
        vdfm=flows.vdfm,
        vifm=flows.vifm,
        vxmd=flows.vxmd,
        vtwr=zeros((0, n_i, n_r, n_r)),
        vst=zeros((0, n_r)),
        to0=zeros((n_i, n_r)),
        tf0=zeros((n_f, n_i, n_r)),
        tdf0=zeros((n_i, n_g, n_r)),
        tif0=zeros((n_i, n_g, n_r)),
        tx0=zeros((n_i, n_r, n_r)),
        tm0=zeros((n_i, n_r, n_r)),
        **{e: esub[e].to_numpy(dtype=float) for e in SECTOR_ELASTICITIES},
        region_names=dict(region_names or {}),
        sector_names=dict(sector_names or {}),
        meta=dict(meta),
    )
