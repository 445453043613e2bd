"""Per-sector elasticities aggregated the way GTAPAgg does: value-weighted means.

Each elasticity of an aggregate sector is the mean of its member sectors' values, weighted
by the world value of the flow it governs (GTAPAgg's rule):

- ``esubd`` (domestic vs imported): world use of the commodity, domestic plus imported,
  at agents' prices, ``Σ_{g,r} (vdfm + vifm)``;
- ``esubm`` (among import sources): world imports at importers' market prices,
  ``Σ_r vim``;
- ``esubva`` (among factors): world value added, ``Σ_{f,r} vfm``;
- ``esubt`` and ``esubc`` (top nest, intermediates): world gross output ``Σ_r vom``.

An aggregate whose members all have zero weight gets their unweighted mean; an aggregate
of one sector keeps that sector's value exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fragcge.calibration import accounts
from fragcge.calibration.aggregate import CodeMap, membership
from fragcge.calibration.elasticity_registry import SECTOR_ELASTICITIES
from fragcge.calibration.sam import GlobalSAM

ELASTICITIES = SECTOR_ELASTICITIES
"""Per-sector elasticities of a GlobalSAM (the registry's), in the dataset contract's column
order."""
WEIGHT_BASIS = {
    "esubd": "world domestic + imported use (agents' prices)",
    "esubm": "world imports (importers' market prices)",
    "esubva": "world value added",
    "esubt": "world gross output",
    "esubc": "world gross output",
}
"""What each elasticity is weighted by, as written into an imported dataset's README."""


def elasticity_values(sam: GlobalSAM) -> pd.DataFrame:
    """The per-sector elasticities of ``sam``: index sector, one column per elasticity."""
    return pd.DataFrame(
        {name: getattr(sam, name) for name in ELASTICITIES},
        index=pd.Index(sam.sectors, name="sector"),
    )


def elasticity_weights(sam: GlobalSAM) -> pd.DataFrame:
    """GTAPAgg's weight of each sector for each elasticity: index sector, columns as values."""
    use = (sam.vdfm + sam.vifm).sum(axis=(1, 2))
    output = accounts.vom(sam).sum(axis=1)
    return pd.DataFrame(
        {
            "esubd": use,
            "esubm": accounts.vim(sam).sum(axis=1),
            "esubva": sam.vfm.sum(axis=(0, 2)),
            "esubt": output,
            "esubc": output,
        },
        index=pd.Index(sam.sectors, name="sector"),
    )


def aggregate_elasticities(
    values: pd.DataFrame, weights: pd.DataFrame, sectors: CodeMap
) -> pd.DataFrame:
    """Value-weighted means of ``values`` over the sectors mapped to each aggregate.

    ``values`` and ``weights`` are indexed by source sector, with the same columns (any of
    ELASTICITIES); the result is indexed by aggregate, in the map's order.
    """
    members = membership(sectors, tuple(values.index), "sector")
    weights = weights.reindex(index=values.index, columns=values.columns)
    out = {}
    for column in values.columns:
        v = values[column].to_numpy(dtype=float)
        w = weights[column].to_numpy(dtype=float)
        total = members @ w
        weighted = members @ (w * v) / np.where(total > 0, total, 1.0)
        count = members.sum(axis=1)
        plain = members @ v / count
        # A kept sector keeps its value to the last digit; 0 weights: unweighted mean.
        out[column] = np.where((count == 1) | (total <= 0), plain, weighted)
    return pd.DataFrame(out, index=pd.Index(sectors.aggregates, name="sector"))


def weight_shares(weights: pd.DataFrame, sectors: CodeMap) -> pd.DataFrame:
    """Each source sector's share of its aggregate's weight, per elasticity (for READMEs).

    Columns ``group``, ``code`` and one per elasticity; where an aggregate's weights are
    all zero its members share equally, as :func:`aggregate_elasticities` does.
    """
    members = membership(sectors, tuple(weights.index), "sector")
    group_of = members.argmax(axis=0)
    table = pd.DataFrame(
        {
            "group": [sectors.aggregates[k] for k in group_of],
            "code": list(weights.index),
        }
    )
    size = members.sum(axis=1)[group_of]
    for column in weights.columns:
        w = weights[column].to_numpy(dtype=float)
        total = (members @ w)[group_of]
        table[column] = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / size)
    order = {code: k for k, code in enumerate(sectors.aggregates)}
    return table.sort_values("group", key=lambda g: g.map(order), kind="stable").reset_index(
        drop=True
    )


def weight_table(values: pd.DataFrame, weights: pd.DataFrame, sectors: CodeMap) -> pd.DataFrame:
    """One row per source sector: its ``group``, ``code``, and for each elasticity its
    value and its ``{elasticity}_share`` of the aggregate's weight (what READMEs show)."""
    shares = weight_shares(weights, sectors)
    table = shares[["group", "code"]].copy()
    for name in values.columns:
        table[name] = values[name].reindex(shares["code"]).to_numpy()
        table[f"{name}_share"] = shares[name].to_numpy()
    return table


def weights_section(weights: pd.DataFrame) -> str:
    """The README's table of per-sector elasticities and their aggregation weights."""
    lines = [
        "",
        "## Elasticities and their weights",
        "",
        "Aggregated the GTAPAgg way: each aggregate's value is the mean of its members'",
        "values, weighted by the world flow it governs (share = a member's part of its",
        "aggregate's weight):",
        "",
        *(f"- {name}: {basis}" for name, basis in WEIGHT_BASIS.items()),
        "",
        "| group | code | " + " | ".join(f"{e} | share" for e in ELASTICITIES) + " |",
        "|---|---|" + "---|---|" * len(ELASTICITIES),
    ]
    for row in weights.itertuples(index=False):
        cells = [row.group, row.code]
        for e in ELASTICITIES:
            cells += [f"{getattr(row, e):.6g}", f"{np.round(getattr(row, f'{e}_share'), 4):g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
