"""A dataset's summary in words and small tables, for `fragcge data show`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fragcge.calibration import accounts
from fragcge.calibration.elasticity_registry import SCALAR_ELASTICITIES, SECTOR_ELASTICITIES
from fragcge.calibration.sam import GlobalSAM


def summary(sam: GlobalSAM) -> str:
    """Name, provenance, sets, and per-region accounts: output, value added, trade, transfers."""
    meta = sam.meta
    unit = str(meta.get("unit", ""))
    lines = [
        f"{sam.name}: {meta.get('title', '')}",
        f"  year {meta.get('year', '?')}, unit {unit}, licence {meta.get('licence', '?')}",
        f"  source   {meta.get('source', '?')}",
        f"  citation {meta.get('citation', '?')}",
        f"  sha256   {sam.digest}",
        f"  regions  ({len(sam.regions)}) {' '.join(sam.regions)}",
        f"  sectors  ({len(sam.sectors)}) {' '.join(sam.sectors)}",
        "  factors  " + " ".join(f"{f} ({sam.factor_kind[f]})" for f in sam.factors),
        f"  margins  {' '.join(sam.margins) or 'none'}",
    ]
    for name, members in sam.groups.items():
        lines.append(f"  group    {name} = {' '.join(members)}")
    va = sam.vfm.sum(axis=(0, 1))
    exports = sam.vxmd.sum(axis=(0, 2))
    imports = accounts.vim(sam).sum(axis=0)
    table = pd.DataFrame(
        {
            "output": accounts.vom(sam).sum(axis=0),
            "value_added": va,
            "exports": exports,
            "imports": imports,
            "vb": accounts.vb(sam),
            "export_share_%": 100 * exports / np.maximum(accounts.vom(sam).sum(axis=0), 1e-300),
        },
        index=pd.Index(sam.regions, name="region"),
    )
    table.loc["WORLD"] = table.sum()
    table.loc["WORLD", "export_share_%"] = 100 * exports.sum() / accounts.vom(sam).sum()
    lines += ["", f"Accounts by region ({unit}; vb = net foreign transfers received):"]
    lines.append(table.to_string(float_format=lambda v: f"{v:,.0f}"))
    el = pd.DataFrame(
        {k: getattr(sam, k) for k in SECTOR_ELASTICITIES},
        index=pd.Index(sam.sectors, name="sector"),
    )
    scalars = ", ".join(f"{k} {getattr(sam, k)}" for k in SCALAR_ELASTICITIES)
    lines += ["", f"Elasticities ({scalars}):"]
    lines.append(el.to_string(float_format=lambda v: f"{v:.2f}"))
    if np.any(sam.eta != 0):
        eta = pd.DataFrame(sam.eta.T, index=pd.Index(sam.regions, name="region"))
        eta.columns = list(sam.factors)
        lines += ["", "Factor supply elasticities eta ([factor_supply]; 0 = fixed supply):"]
        lines.append(eta.to_string(float_format=lambda v: f"{v:.2f}"))
    return "\n".join(lines)
