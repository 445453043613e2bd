"""Report tables: welfare, its decomposition, bloc-to-bloc trade and sector output."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fragcge.model.decomposition import RESIDUAL_SHARE
from fragcge.model.report import REAL_INCOME
from fragcge.reports.result_folders import NONALIGNED, WORLD, Result


@dataclass(frozen=True)
class Table:
    """A report table: label columns first, then numbers shown with a fixed number of decimals."""

    name: str
    caption: str
    frame: pd.DataFrame
    labels: int
    decimals: int
    note: str = ""
    rules: tuple[int, ...] = field(default=())
    """Row positions a horizontal rule goes before (e.g. where the bloc rows start)."""


def bloc_order(blocs: dict[str, str]) -> list[str]:
    """Blocs in the order their first region appears, the non-aligned group last."""
    order = list(dict.fromkeys(blocs.values()))
    return [b for b in order if b != NONALIGNED] + [b for b in order if b == NONALIGNED]


def region_order(ref: Result) -> list[str]:
    """Regions grouped by bloc, within a bloc from the largest EV gain to the largest loss."""
    pct = ref.welfare.set_index("region")["ev_pct"]
    rank = {b: k for k, b in enumerate(bloc_order(ref.blocs))}
    return sorted(ref.regions, key=lambda r: (rank[ref.blocs[r]], -pct[r], r))


def _members(blocs: dict[str, str], bloc: str) -> set[str]:
    return {r for r, b in blocs.items() if b == bloc}


def _welfare_rows(ref: Result) -> pd.DataFrame:
    """Region and bloc labels of the welfare rows: regions, then blocs, then the world."""
    blocs = bloc_order(ref.blocs)
    regions = region_order(ref)
    return pd.DataFrame(
        {
            "region": regions + blocs + [WORLD],
            "bloc": [ref.blocs[r] for r in regions] + blocs + [WORLD],
        }
    )


def _welfare_column(result: Result, ref: Result, rows: pd.DataFrame, col: str) -> list[float]:
    """A welfare column on the reference rows; a bloc whose members differ is left blank, and
    so is every row of a result written before the column existed (real_income_pct)."""
    if col not in result.welfare.columns:
        return [np.nan] * len(rows)
    values = result.welfare.set_index("region")[col]
    out = []
    for region in rows.region:
        same = region in result.regions or region == WORLD
        same = same or _members(result.blocs, region) == _members(ref.blocs, region)
        out.append(float(values[region]) if same and region in values.index else np.nan)
    return out


WELFARE_MEASURES = {
    "ev_pct": ("welfare", "Equivalent variation, % of baseline income", 3),
    "ev": ("welfare_ev", "Equivalent variation, {unit}", 1),
    REAL_INCOME: (
        "welfare_real_income",
        "Real income (regional income net of foreign transfers, deflated by the household "
        "price index), % change",
        3,
    ),
}
"""welfare.csv's measures a report shows, each a table: its name, caption and decimals."""


def welfare(results: list[Result], col: str = "ev_pct") -> Table:
    """A welfare measure (:data:`WELFARE_MEASURES`) by region, bloc and world, one column per
    scenario (blocs of the reference result)."""
    ref = reference(results)
    frame = _welfare_rows(ref)
    for r in results:
        frame[r.name] = _welfare_column(r, ref, frame, col)
    name, caption, decimals = WELFARE_MEASURES[col]
    missing = [r.name for r in results if col not in r.welfare.columns]
    note = _several(
        results,
        f"Bloc rows as defined in {ref.name}; n/a where a scenario's bloc has other members.",
    )
    if missing:
        note += (" " if note else "") + (
            f"n/a for {', '.join(missing)}: written by a fragcge without this column."
        )
    return Table(
        name=name,
        caption=caption.format(unit=ref.unit),
        frame=frame,
        labels=2,
        decimals=decimals,
        note=note,
        rules=(len(ref.regions),),
    )


def decomposition(result: Result) -> Table | None:
    """EV and its additive decomposition for one scenario; None when welfare.csv has none."""
    cols = result.decomposition
    if not cols:
        return None
    frame = _welfare_rows(result)
    values = result.welfare.set_index("region")
    pct = all(c.endswith("_pct") for c in cols)
    ev = "ev_pct" if pct else "ev"
    for c in (ev, *cols):
        frame[c] = [float(values.loc[r, c]) for r in frame.region]
    return Table(
        name=f"welfare_decomposition_{result.name}",
        caption=f"Decomposition of EV, {'% of baseline income' if pct else result.unit}: "
        f"{result.name}",
        frame=frame,
        labels=2,
        decimals=3 if pct else 1,
        note=_unreliable_note(result),
        rules=(len(result.regions),),
    )


def _unreliable_note(result: Result) -> str:
    """Which rows' components do not add up to EV, if any."""
    if not result.unreliable:
        return ""
    return (
        f"Unreliable decomposition (residual above {RESIDUAL_SHARE:.0%} of |EV| on the finest "
        f"path tried): {', '.join(result.unreliable)}. EV itself is unaffected."
    )


def reference(results: list[Result]) -> Result:
    """The result whose blocs group the others: the first that defines two or more blocs."""
    return next((r for r in results if len(set(r.blocs.values())) > 1), results[0])


def trade_groups(ref: Result) -> tuple[str, dict[str, str]]:
    """How trade is grouped: by the blocs of ref, or by region when ref defines no blocs."""
    if len(set(ref.blocs.values())) > 1:
        return "bloc", ref.blocs
    # One group holding every region would show a single, uninformative number.
    return "region", {r: r for r in region_order(ref)}


def bloc_trade_matrix(result: Result, blocs: dict[str, str]) -> pd.DataFrame:
    """Change in trade value (%) from exporter group (rows) to importer group (columns)."""
    t = result.trade
    grouped = (
        t.assign(exporter_bloc=t.exporter.map(blocs), importer_bloc=t.importer.map(blocs))
        .groupby(["exporter_bloc", "importer_bloc"])[["baseline_value", "value"]]
        .sum()
    )
    pct = (grouped.value / grouped.baseline_value - 1.0) * 100.0
    order = bloc_order(blocs)
    return pct.unstack().reindex(index=order, columns=order)


def bloc_trade(results: list[Result]) -> Table:
    """Trade value change by exporter and importer bloc (or region), one column per scenario."""
    ref = reference(results)
    kind, groups = trade_groups(ref)
    order = bloc_order(groups)
    pairs = [(e, i) for e in order for i in order]
    frame = pd.DataFrame(pairs, columns=[f"exporter_{kind}", f"importer_{kind}"])
    for r in results:
        m = bloc_trade_matrix(r, groups)
        frame[r.name] = [float(m.loc[e, i]) for e, i in pairs]
    # Pairs without trade (a region with itself: trade.csv holds no domestic flows) are dropped.
    frame = frame.dropna(how="all", subset=[r.name for r in results]).reset_index(drop=True)
    return Table(
        name="bloc_trade",
        caption=f"Change in trade value by exporter and importer {kind}, %",
        frame=frame,
        labels=2,
        decimals=2,
        note=_several(results, f"Regions grouped into the blocs of {ref.name} for every scenario. ")
        + "Values at market prices, summed over commodities, in the numeraire of each run.",
    )


def output(results: list[Result]) -> Table:
    """Output volume change (%) by region and sector, one column per scenario."""
    ref = reference(results)
    regions = region_order(ref)
    frame = pd.DataFrame(
        [(r, s) for r in regions for s in ref.sectors], columns=["region", "sector"]
    )
    for res in results:
        values = res.output.set_index(["region", "sector"])["output_pct"]
        frame[res.name] = [float(values[k]) for k in zip(frame.region, frame.sector, strict=True)]
    return Table(
        name="output",
        caption="Change in output volume by region and sector, %",
        frame=frame,
        labels=2,
        decimals=2,
    )


def all_tables(results: list[Result]) -> list[Table]:
    """Every report table for the given results, in the order the report lists them."""
    tables = [welfare(results), welfare(results, "ev")]
    if any(REAL_INCOME in r.welfare.columns for r in results):
        tables.append(welfare(results, REAL_INCOME))
    tables += [t for t in map(decomposition, results) if t is not None]
    return tables + [bloc_trade(results), output(results)]


def _several(results: list[Result], note: str) -> str:
    """A note that only matters when scenarios are compared."""
    return note if len(results) > 1 else ""
