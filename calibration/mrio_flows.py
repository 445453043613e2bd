"""GTAP benchmark flows of a resolved multi-regional table, and their DATA.md tables.

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

from fragcge.calibration.elasticity_weights import ELASTICITIES
from fragcge.calibration.mrio import MRIO
from fragcge.calibration.mrio_quirks import AGENTS
from fragcge.calibration.sam import GlobalSAM
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
    flows: BenchmarkFlows, elasticities: pd.DataFrame, name: str, **labels: object
) -> GlobalSAM:
    """The flows as a GlobalSAM: no taxes, no margins, one mobile factor per FACTORS.

    ``elasticities``: one row per sector with the columns of ELASTICITIES; ``labels``:
    GlobalSAM's optional fields (region_names, sector_names, groups, meta, esubp, ...).
    """
    n_r, n_s = len(flows.regions), len(flows.sectors)
    esub = elasticities.set_index("sector").reindex(list(flows.sectors))
    return GlobalSAM(
        name=name,
        regions=flows.regions,
        sectors=flows.sectors,
        factors=flows.factors,
        factor_kind={f: "mobile" for f in flows.factors},
        margins=(),
        vfm=flows.vfm,
        vdfm=flows.vdfm,
        vifm=flows.vifm,
        vxmd=flows.vxmd,
        vtwr=np.zeros((0, n_s, n_r, n_r)),
        vst=np.zeros((0, n_r)),
        to0=np.zeros((n_s, n_r)),
        tf0=np.zeros_like(flows.vfm),
        tdf0=np.zeros_like(flows.vdfm),
        tif0=np.zeros_like(flows.vifm),
        tx0=np.zeros_like(flows.vxmd),
        tm0=np.zeros_like(flows.vxmd),
        **{e: esub[e].to_numpy(dtype=float) for e in ELASTICITIES},
        **labels,
    )
