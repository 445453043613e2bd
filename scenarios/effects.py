"""What shocks do to parameter levels, with the checks that keep the result an equilibrium
the model can reach: the building blocks of the instruments' ``apply`` functions."""

from __future__ import annotations

import warnings

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.scenarios.messages import ScenarioWarning, unknown
from fragcge.scenarios.spec import BilateralTable, Transfer

TRANSFER_RTOL = 1e-6
"""Σ vb must vanish to this fraction of world final expenditure (the dataset's own tolerance)."""


def traded(cells: np.ndarray, sam: GlobalSAM, where: str) -> np.ndarray:
    """``cells``, refused when none has benchmark trade: a wedge on a zero flow changes
    nothing, and a shock that changes nothing is a mistake the user should hear of."""
    if not (cells & (sam.vxmd > 0)).any():
        raise ScenarioError(
            f"{where}: the shock selects no route with benchmark trade, so it would change "
            "nothing; check its regions and sectors"
        )
    return cells


def check_quota(cells: np.ndarray, value: float, sam: GlobalSAM, where: str) -> None:
    """With esubm < 1 a cap below M·θ_s^(σ/(1−σ)) has no equilibrium while M stays put."""
    theta = accounts.vims(sam) / np.maximum(accounts.vim(sam)[:, None, :], 1e-300)
    sigma = sam.esubm[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = np.where(sigma < 1, theta ** (sigma / (1 - sigma)), 0.0)
    low = np.argwhere(cells & (value < floor))
    if len(low):
        i, r, s = low[0]
        raise ScenarioError(
            f"{where}: a cap of {value:g} × the baseline volume on {sam.sectors[i]} from "
            f"{sam.regions[r]} to {sam.regions[s]} is below M·θ_s^(σ/(1−σ)) = "
            f"{floor[i, r, s]:.3g} × M with esubm = {sam.esubm[i]:g} < 1: the import composite "
            "cannot do without that much of this source, so there is no equilibrium unless M "
            "falls; raise the cap or esubm"
        )


def check_ban(trade_open: np.ndarray, cells: np.ndarray, sam: GlobalSAM, where: str) -> None:
    """A ban needs esubm > 1 (the exact σ → ∞ limit) and must leave each importer a source."""
    low = np.flatnonzero(cells.any(axis=(1, 2)) & (sam.esubm <= 1.0))
    if len(low):
        names = ", ".join(f"{sam.sectors[i]} (esubm {sam.esubm[i]:g})" for i in low)
        raise ScenarioError(
            f"{where}: export_ban needs esubm > 1 for every banned commodity: dropping a "
            f"source from a CES import composite with esubm <= 1 has no finite equilibrium "
            f"(its price would have to become infinite); refused for {names}"
        )
    imports = sam.vxmd > 0
    closed = (imports & (trade_open > 0)).sum(axis=1) == 0
    i, r = np.nonzero(closed & imports.any(axis=1))
    if len(i):
        pairs = ", ".join(
            f"{sam.sectors[a]} into {sam.regions[b]}" for a, b in zip(i, r, strict=True)
        )
        raise ScenarioError(
            f"{where}: export_ban closes every source of {pairs}; removing an import composite "
            "from the model is not supported yet: leave at least one source open"
        )


def ad_valorem(
    rates: np.ndarray,
    cells: np.ndarray,
    rate: float | np.ndarray,
    mode: str,
    where: str,
    sam: GlobalSAM,
    name: str,
    symbol: str,
) -> np.ndarray:
    """Route rates (tm or tx) with ``rate`` added or set on ``cells``; 1 + rate must stay > 0.

    ``name`` is the instrument in messages, ``symbol`` the rate's (tm, tx).
    """
    new = np.where(cells, rate if mode == "set" else rates + rate, rates)
    broken = np.argwhere(cells & (new <= -1.0))
    if len(broken):
        i, r, s = broken[0]
        raise ScenarioError(
            f"{where}: the {name} on {sam.sectors[i]} from {sam.regions[r]} to "
            f"{sam.regions[s]} becomes {new[i, r, s]:g}; 1 + {symbol} must stay > 0"
        )
    return new


def transfers(vb: np.ndarray, shock: Transfer, sam: GlobalSAM) -> np.ndarray:
    """The transfers ``shock`` sets: all zero, or its values with Σ vb = 0 (kept by
    ``absorb``, or checked to TRANSFER_RTOL of world expenditure)."""
    if shock.balanced:
        return np.zeros_like(vb)
    regions = sam.regions
    new = vb.copy()
    for region, value in shock.values.items():
        if region not in regions:
            raise unknown(shock.origin.at("values"), "region", region, regions)
        new[regions.index(region)] = value
    if shock.absorb is not None:
        if shock.absorb not in regions:
            raise unknown(shock.origin.at("absorb"), "region", shock.absorb, regions)
        k = regions.index(shock.absorb)
        new[k] = 0.0
        new[k] = -new.sum()
        return new
    gap = new.sum()
    if abs(gap) > TRANSFER_RTOL * accounts.expenditure(sam).sum():
        unit = sam.meta.get("unit", "data units")
        raise ScenarioError(
            f"{shock.origin.at('values')}: the transfers then sum to {gap:.6g} {unit}, not 0; "
            f'set values that keep Σ vb = 0, or add absorb = "REGION" to take the '
            f"difference (allowed: {', '.join(regions)})"
        )
    return new


def table_rates(shock: BilateralTable, sam: GlobalSAM) -> tuple[np.ndarray, np.ndarray]:
    """The cells a CSV sets and their rates; rows on routes without trade are left out."""
    cells = np.zeros(sam.vxmd.shape, dtype=bool)
    rates = np.zeros(sam.vxmd.shape)
    first_line: dict[tuple[int, int, int], int] = {}
    ignored = []
    path = shock.table.path
    for row in shock.rows:
        at = f"{path}:{row.line}:"
        r = _code(row.exporter, sam.regions, f"{at} exporter", "region")
        s = _code(row.importer, sam.regions, f"{at} importer", "region")
        if row.commodity == "*":
            commodities = range(len(sam.sectors))
        else:
            commodities = [_code(row.commodity, sam.sectors, f"{at} commodity", "commodity", "*")]
        if r == s:
            raise ScenarioError(f"{at} exporter and importer are both {row.exporter}; not a route")
        traded = [i for i in commodities if sam.vxmd[i, r, s] > 0]
        if not traded:
            ignored.append(f"line {row.line} {row.commodity} {row.exporter}->{row.importer}")
        for i in traded:
            if (i, r, s) in first_line:
                raise ScenarioError(
                    f"{at} {sam.sectors[i]} {row.exporter}->{row.importer} is already set "
                    f"on line {first_line[i, r, s]}; give each route and commodity one rate"
                )
            first_line[i, r, s] = row.line
            cells[i, r, s] = True
            rates[i, r, s] = row.rate
    if ignored:
        warnings.warn(
            f"{path} (read for {shock.origin.at('file')}): {len(ignored)} row(s) on routes with no "
            f"benchmark trade ignored, a rate on a zero flow changes nothing: {', '.join(ignored)}",
            ScenarioWarning,
            stacklevel=5,
        )
    return cells, rates


def _code(value: str, codes: tuple[str, ...], where: str, what: str, *also: str) -> int:
    if value not in codes:
        raise unknown(where, what, value, codes + also)
    return codes.index(value)
