"""Resolve the data quirks of a WIOD-style table so that every MODEL.md identity holds.

WIOD publishes a world table that is almost, but not exactly, a benchmark equilibrium.
:func:`resolve_quirks` applies the rules below, in this order, to a table at whatever
resolution it is given (the full 41 x 35 table or an aggregate of it: aggregation comes
first, so an aggregate is a plain sum of the published numbers). Each time a rule fires
it returns a :class:`Quirk` saying where, how much and what was done; the build script
prints them and the dataset's README summarises them.

1. Zero output. An industry whose gross output is zero (22 in the 2011 table, e.g.
   ``CHN_c19``, ``LUX_c5``, most ``c35``) is dropped: its row (uses) and its column
   (intermediate inputs) are set to zero. The report says whether it still had flows and
   their size (``LUX_c5`` and ``LUX_c8`` carry an inventory change of -1 each).
2. Output. The row total of uses (intermediate plus final) differs from the published
   gross output on most rows (by -108 to +7 in 2011; the source does not say why). Rule:
   output is the row total of uses; the difference is reported.
3. Final demand agents. Categories fold into MODEL.md's agents: ``HH`` + ``NPISH`` →
   household, ``GOV`` → government, ``GFCF`` + ``INV`` → investment (OECD ICIO's
   ``HFCE`` + ``NPISH`` + ``DPABR``, ``GGFC`` and ``GFCF`` + ``INVNT`` alike). Inventory changes
   are negative in hundreds of cells, so net investment can still be negative for a
   (supplier, buyer region) cell. Rule: household demand for the same supplier (same
   commodity, same source region) in the same buyer region absorbs the negative amount,
   down to zero at most, and investment in that cell becomes zero; this leaves the
   cell's total use, the supplier's output and bilateral trade unchanged. Where the
   cell's household demand is too small (41 cells of the 41 x 35 table, none at 10 x 8;
   in 23 of them the region's uses of that supplier add up to less than zero, e.g.
   ``LTU_c2`` bought by ``RoW``: -205) the rest is dropped: that draw-down of inventories
   is counted as current output, so the supplier's output and value added rise by it.
4. Value added. WIOD gives no factor split, so value added is one mobile factor ``va``
   equal to output minus intermediate inputs (it also absorbs net product taxes,
   international margins and the cif/fob adjustments). Where rule 2 makes it negative
   (``LUX_c24``: -4) the shortfall is added to investment demand of the industry's own
   region for its own output (an unrecorded inventory build-up), raising output to the
   cost of inputs; value added becomes zero.

Negative intermediate use, or negative household or government demand, is covered by no
rule and is refused with an error naming the source (file or table) and the cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from fragcge.calibration.mrio import MRIO
from fragcge.errors import DatasetError

CATEGORY_AGENT = {
    "HH": "household",
    "NPISH": "household",
    "GOV": "government",
    "GFCF": "investment",
    "INV": "investment",
    # OECD ICIO's names (calibration/icio.py); direct purchases abroad by residents are
    # household consumption of the buying country.
    "HFCE": "household",
    "DPABR": "household",
    "GGFC": "government",
    "INVNT": "investment",
}
AGENTS = ("household", "government", "investment")
HOUSEHOLD, GOVERNMENT, INVESTMENT = range(3)

ZERO_OUTPUT = "zero output"
OUTPUT_GAP = "uses differ from gross output"
NEGATIVE_INVESTMENT = "negative investment"
NEGATIVE_VALUE_ADDED = "negative value added"
KINDS = (ZERO_OUTPUT, OUTPUT_GAP, NEGATIVE_INVESTMENT, NEGATIVE_VALUE_ADDED)
ROUNDING = 1e-9
"""Relative size of a difference between uses and gross output that is not reported."""


@dataclass(frozen=True)
class Quirk:
    """One firing of a quirk rule: its kind, the cell, the amount at issue and the action."""

    kind: str
    where: str
    amount: float
    action: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.amount:.12g}; {self.action}"


def resolve_quirks(mrio: MRIO, source: str = "intermediate") -> tuple[MRIO, list[Quirk]]:
    """Apply rules 1-4: the result has agents as categories, ``x`` = uses, ``va`` >= 0.
    ``source`` names where the intermediate table came from, for the refusals."""
    require_nonnegative_intermediate(mrio, source)
    mrio, zero = drop_zero_output(mrio)
    mrio, gaps = output_from_uses(mrio)
    mrio, investment = net_negative_investment(fold_final_demand(mrio))
    mrio, value_added = cover_negative_value_added(mrio)
    return mrio, zero + gaps + investment + value_added


def require_nonnegative_intermediate(
    mrio: MRIO, source: str, origin: Callable[[str, str], str] | None = None
) -> None:
    """Refuse a table with a negative intermediate use, naming ``source`` (the file or
    table), the first cell and what to do; ``origin(seller, buyer)`` may add where a
    merged cell came from."""
    negative = np.argwhere(mrio.z < 0)
    if len(negative):
        s, i, r, j = negative[0]
        seller, buyer = mrio.label(s, i), mrio.label(r, j)
        raise DatasetError(
            f"{source}: {seller} supplies {mrio.z[s, i, r, j]:.12g} to {buyer}"
            f"{origin(seller, buyer) if origin else ''} ({len(negative)} negative intermediate "
            "cell(s)); no rule covers negative intermediate use (a purchase cannot be "
            "negative): correct the cell(s) in the source (e.g. set to zero, with the buyer's "
            "value added lowered by as much so that its column still adds up), then import again"
        )


def drop_zero_output(mrio: MRIO) -> tuple[MRIO, list[Quirk]]:
    """Rule 1: an industry with zero gross output loses its uses and its inputs."""
    if (mrio.x < 0).any():
        s, i = np.argwhere(mrio.x < 0)[0]
        raise DatasetError(f"gross_output: {mrio.label(s, i)} is negative ({mrio.x[s, i]:.12g})")
    z, f = mrio.z.copy(), mrio.f.copy()
    quirks = []
    for s, i in np.argwhere(mrio.x == 0):
        uses = z[s, i].sum() + f[s, i].sum()
        inputs = z[:, :, s, i].sum()
        size = np.abs(z[s, i]).sum() + np.abs(f[s, i]).sum() + np.abs(z[:, :, s, i]).sum()
        z[s, i], f[s, i], z[:, :, s, i] = 0.0, 0.0, 0.0
        action = (
            "no flows"
            if size == 0
            else f"dropped its uses (net {uses:.12g}) and intermediate inputs ({inputs:.12g})"
        )
        quirks.append(Quirk(ZERO_OUTPUT, mrio.label(s, i), float(size), action))
    return replace(mrio, z=z, f=f), quirks


def output_from_uses(mrio: MRIO) -> tuple[MRIO, list[Quirk]]:
    """Rule 2: output is the row total of uses; report where it differs from gross output."""
    uses = mrio.uses
    gap = uses - mrio.x
    quirks = [
        Quirk(
            OUTPUT_GAP,
            mrio.label(s, i),
            float(gap[s, i]),
            f"output set to uses {uses[s, i]:.12g} (gross output {mrio.x[s, i]:.12g})",
        )
        for s, i in np.argwhere(np.abs(gap) > ROUNDING * np.maximum(1.0, np.abs(mrio.x)))
    ]
    return replace(mrio, x=uses), quirks


def fold_final_demand(mrio: MRIO) -> MRIO:
    """Rule 3, first half: sum final-demand categories into household, government, investment."""
    unknown = [k for k in mrio.categories if k not in CATEGORY_AGENT]
    if unknown:
        raise DatasetError(
            f"final_demand: category {', '.join(unknown)} unknown; expected one of "
            f"{', '.join(CATEGORY_AGENT)}"
        )
    agent_of = np.zeros((len(mrio.categories), len(AGENTS)))
    for k, category in enumerate(mrio.categories):
        agent_of[k, AGENTS.index(CATEGORY_AGENT[category])] = 1.0
    return replace(mrio, categories=AGENTS, f=mrio.f @ agent_of)


def net_negative_investment(mrio: MRIO) -> tuple[MRIO, list[Quirk]]:
    """Rule 3, second half: household demand absorbs negative net investment; drop the rest."""
    negative = np.argwhere(mrio.f[..., [HOUSEHOLD, GOVERNMENT]] < 0)
    if len(negative):
        s, i, r, a = negative[0]
        raise DatasetError(
            f"final_demand: {AGENTS[a]} demand of {mrio.regions[r]} for {mrio.label(s, i)} is "
            f"{mrio.f[s, i, r, a]:.12g}; no rule covers negative {AGENTS[a]} demand"
        )
    f, x = mrio.f.copy(), mrio.x.copy()
    quirks = []
    for s, i, r in np.argwhere(f[..., INVESTMENT] < 0):
        amount = f[s, i, r, INVESTMENT]
        moved = min(-amount, f[s, i, r, HOUSEHOLD])
        dropped = -amount - moved
        f[s, i, r, HOUSEHOLD] -= moved
        f[s, i, r, INVESTMENT] = 0.0
        x[s, i] += dropped
        action = f"moved {moved:.12g} to household demand, now {f[s, i, r, HOUSEHOLD]:.12g}"
        if dropped:
            action += f"; dropped the other {dropped:.12g}, so output rises by as much"
        where = f"{mrio.label(s, i)} bought by {mrio.regions[r]}"
        quirks.append(Quirk(NEGATIVE_INVESTMENT, where, float(amount), action))
    return replace(mrio, f=f, x=x), quirks


def cover_negative_value_added(mrio: MRIO) -> tuple[MRIO, list[Quirk]]:
    """Rule 4: a negative value added becomes own-region investment in own output."""
    value_added = mrio.value_added
    f, x = mrio.f.copy(), mrio.x.copy()
    quirks = []
    for r, j in np.argwhere(value_added < 0):
        shortfall = -value_added[r, j]
        f[r, j, r, INVESTMENT] += shortfall
        x[r, j] += shortfall
        action = (
            f"added {shortfall:.12g} to investment demand of {mrio.regions[r]} for its own output; "
            "value added set to 0"
        )
        quirks.append(
            Quirk(NEGATIVE_VALUE_ADDED, mrio.label(r, j), float(value_added[r, j]), action)
        )
    return replace(mrio, f=f, x=x), quirks


def quirk_summary(quirks: list[Quirk]) -> list[str]:
    """One line per rule: how often it fired, the total and the largest amount."""
    lines = []
    for kind in KINDS:
        fired = [q for q in quirks if q.kind == kind]
        if not fired:
            lines.append(f"{kind}: none")
            continue
        largest = max(fired, key=lambda q: abs(q.amount))
        total = sum(q.amount for q in fired)
        lines.append(
            f"{kind}: {len(fired)} case(s), total {total:.12g}, "
            f"largest {largest.amount:.12g} at {largest.where}"
        )
    return lines
