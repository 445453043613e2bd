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
from fragcge.scenarios.spec import (
    BilateralTable,
    Endowment,
    ExportBan,
    ExportQuota,
    ExportTax,
    Ntb,
    NtbRent,
    Productivity,
    Scenario,
    Tariff,
    Transfer,
)

TRANSFER_RTOL = 1e-6
"""Σ vb must vanish to this fraction of world final expenditure (the dataset's own tolerance)."""


def apply_shocks(start: ShockSet, scenario: Scenario, selector: Selector) -> ShockSet:
    """``start`` with ``scenario``'s own shocks on top; names resolve through ``selector``."""
    sam = selector.sam
    tau, tm, tx, vb = start.tau, start.tm, start.tx, start.vb
    A, endow, endow_s = start.A, start.endow, start.endow_s
    tn, trade_open, quota = start.tn, start.trade_open, start.quota
    for shock in scenario.shocks:
        at = shock.origin.at
        match shock:
            case Ntb():
                cells = _traded(selector.cells(shock.route, shock.sectors, at), sam, at())
                tau = np.where(cells, tau * (1.0 + shock.rate), tau)
            case NtbRent():
                cells = _traded(selector.cells(shock.route, shock.sectors, at), sam, at())
                tn = np.where(cells, (1.0 + tn) * (1.0 + shock.rate) - 1.0, tn)
            case ExportBan():
                cells = _traded(selector.cells(shock.route, shock.sectors, at), sam, at())
                cells &= sam.vxmd > 0
                trade_open = np.where(cells, 0.0, trade_open)
                _check_ban(trade_open, cells, sam, at())
            case ExportQuota():
                cells = selector.cells(shock.route, shock.sectors, at)
                traded = cells & (sam.vxmd > 0)
                if not traded.any():
                    raise ScenarioError(
                        f"{at()}: export_quota selects no route with benchmark trade; a quota "
                        "caps a share of an existing flow"
                    )
                if shock.value == 0:
                    trade_open = np.where(traded, 0.0, trade_open)
                    _check_ban(trade_open, traded, sam, at())
                else:
                    _check_quota(traded, shock.value, sam, at("value"))
                    quota = np.where(traded, shock.value, quota)
            case Tariff():
                cells = _traded(selector.cells(shock.route, shock.sectors, at), sam, at())
                tm = _ad_valorem(tm, cells, shock.rate, shock.mode, at("rate"), sam, "tariff")
            case ExportTax():
                cells = _traded(selector.cells(shock.route, shock.sectors, at), sam, at())
                tx = _ad_valorem(tx, cells, shock.rate, shock.mode, at("rate"), sam, "export_tax")
            case Endowment():
                factors = selector.factors(shock.factors, at("factor"))
                regions = selector.regions(shock.regions, at("regions"))
                # A factor is mobile or specific: the multiplier in the other array is unused.
                endow = np.where(np.outer(factors, regions), endow * (1.0 + shock.rate), endow)
                cells = factors[:, None, None] & regions[None, None, :]
                endow_s = np.where(cells, endow_s * (1.0 + shock.rate), endow_s)
            case Productivity():
                sectors = selector.sectors(shock.sectors, at("sectors"))
                regions = selector.regions(shock.regions, at("regions"))
                A = np.where(np.outer(sectors, regions), A * (1.0 + shock.rate), A)
            case Transfer():
                vb = _transfer(vb, shock, sam)
            case BilateralTable():
                cells, rates = _table_rates(shock, sam)
                if shock.apply == "ntb":
                    tau = np.where(cells, tau * (1.0 + rates), tau)
                elif shock.apply == "tariff":
                    tm = _ad_valorem(tm, cells, rates, shock.mode, at("file"), sam, "tariff")
                else:
                    tx = _ad_valorem(tx, cells, rates, shock.mode, at("file"), sam, "export_tax")
    return ShockSet(
        tau=tau.copy(),
        tm=tm.copy(),
        tx=tx.copy(),
        vb=vb.copy(),
        A=A.copy(),
        endow=endow.copy(),
        endow_s=endow_s.copy(),
        tn=tn.copy(),
        trade_open=trade_open.copy(),
        quota=quota.copy(),
    )


def _traded(cells: np.ndarray, sam: GlobalSAM, where: str) -> np.ndarray:
    """``cells``, refused when none has benchmark trade: a wedge on a zero flow changes
    nothing, and a shock that changes nothing is a mistake the user should hear of."""
    if not (cells & (sam.vxmd > 0)).any():
        raise ScenarioError(
            f"{where}: the shock selects no route with benchmark trade, so it would change "
            "nothing; check its regions and sectors"
        )
    return cells


def _check_quota(cells: np.ndarray, value: float, sam: GlobalSAM, where: str) -> None:
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


def _check_ban(trade_open: np.ndarray, cells: np.ndarray, sam: GlobalSAM, where: str) -> None:
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


_RATE_NAMES = {"tariff": ("tariff", "tm"), "export_tax": ("export tax", "tx")}
"""An ad valorem instrument's name in messages, and the symbol of its rate."""


def _ad_valorem(
    rates: np.ndarray,
    cells: np.ndarray,
    rate: float | np.ndarray,
    mode: str,
    where: str,
    sam: GlobalSAM,
    instrument: str,
) -> np.ndarray:
    """Route rates (tm or tx) with ``rate`` added or set on ``cells``; 1 + rate must stay > 0."""
    new = np.where(cells, rate if mode == "set" else rates + rate, rates)
    broken = np.argwhere(cells & (new <= -1.0))
    if len(broken):
        i, r, s = broken[0]
        name, symbol = _RATE_NAMES[instrument]
        raise ScenarioError(
            f"{where}: the {name} on {sam.sectors[i]} from {sam.regions[r]} to "
            f"{sam.regions[s]} becomes {new[i, r, s]:g}; 1 + {symbol} must stay > 0"
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
