"""One scenario file's shocks applied, in file order, to the parameter levels the model takes."""

from __future__ import annotations

import warnings

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.model.shocks import ShockSet
from fragcge.scenarios.messages import ScenarioWarning, unknown
from fragcge.scenarios.select import Selector
from fragcge.scenarios.spec import BilateralTable, Ntb, Scenario, Tariff, Transfer

TRANSFER_RTOL = 1e-6
"""Σ vb must vanish to this fraction of world final expenditure (the dataset's own tolerance)."""


def apply_shocks(start: ShockSet, scenario: Scenario, selector: Selector) -> ShockSet:
    """``start`` with ``scenario``'s own shocks on top; names resolve through ``selector``."""
    sam = selector.sam
    tau, tm, vb = start.tau, start.tm, start.vb
    for shock in scenario.shocks:
        match shock:
            case Ntb():
                cells = selector.cells(shock.route, shock.sectors, shock.origin.at)
                tau = np.where(cells, tau * (1.0 + shock.rate), tau)
            case Tariff():
                cells = selector.cells(shock.route, shock.sectors, shock.origin.at)
                tm = _tariff(tm, cells, shock.rate, shock.mode, shock.origin.at("rate"), sam)
            case Transfer():
                vb = _transfer(vb, shock, sam)
            case BilateralTable():
                cells, rates = _table_rates(shock, sam)
                if shock.apply == "ntb":
                    tau = np.where(cells, tau * (1.0 + rates), tau)
                else:
                    tm = _tariff(tm, cells, rates, shock.mode, shock.origin.at("file"), sam)
    return ShockSet(tau=tau.copy(), tm=tm.copy(), tx=start.tx.copy(), vb=vb.copy())


def _tariff(
    tm: np.ndarray,
    cells: np.ndarray,
    rate: float | np.ndarray,
    mode: str,
    where: str,
    sam: GlobalSAM,
) -> np.ndarray:
    new = np.where(cells, rate if mode == "set" else tm + rate, tm)
    broken = np.argwhere(cells & (new <= -1.0))
    if len(broken):
        i, r, s = broken[0]
        raise ScenarioError(
            f"{where}: the tariff on {sam.sectors[i]} from {sam.regions[r]} to "
            f"{sam.regions[s]} becomes {new[i, r, s]:g}; 1 + tm must stay > 0"
        )
    return new


def _transfer(vb: np.ndarray, shock: Transfer, sam: GlobalSAM) -> np.ndarray:
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


def _table_rates(shock: BilateralTable, sam: GlobalSAM) -> tuple[np.ndarray, np.ndarray]:
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
            stacklevel=4,
        )
    return cells, rates


def _code(value: str, codes: tuple[str, ...], where: str, what: str, *also: str) -> int:
    if value not in codes:
        raise unknown(where, what, value, codes + also)
    return codes.index(value)
