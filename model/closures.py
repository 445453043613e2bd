"""Closures of MODEL.md: who adjusts when the economy is shocked."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fragcge.calibration.calibrate import Calibration
from fragcge.calibration.dataset import dataset_origin
from fragcge.errors import FragcgeError


@dataclass(frozen=True)
class Closure:
    """A named closure: which of G, I, factor mobility and the real wage are endogenous."""

    name: str
    description: str
    government_share: bool = False
    savings_rate: bool = False
    short_run: bool = False
    real_wage: bool = False
    imbalances: str = "fixed"
    """The trade-imbalance rule, a key of IMBALANCE_RULES; any closure takes either."""

    @property
    def income_share(self) -> bool:
        """Whether expenditure is a fixed multiple of income (transfers B and Ξ variables)."""
        return self.imbalances == "income-share"

    @property
    def welfare(self) -> str:
        """The welfare measure: 'C' when G and I are fixed, else the regional utility 'U'."""
        return "U" if self.government_share or self.savings_rate else "C"


CLOSURES = {
    c.name: c
    for c in (
        Closure(
            "default",
            "fixed real government and investment demand, full employment, mobile factors "
            "mobile across sectors (foreign transfers: the imbalance rule)",
        ),
        Closure(
            "gov-share",
            "government spending a fixed share of regional income: pg·vg·G = (vg/RA0)·RA",
            government_share=True,
        ),
        Closure(
            "savings",
            "investment driven by a fixed savings rate: pinv·vi·I = (vi/RA0)·RA",
            savings_rate=True,
        ),
        Closure(
            "short-run",
            "every mobile factor (capital, or the va factor) tied to the sector that uses it",
            short_run=True,
        ),
        Closure(
            "real-wage",
            "mobile factors' price fixed relative to the consumer price, pf = pc; employment L "
            "adjusts (L < 1 is unemployment)",
            real_wage=True,
        ),
    )
}


IMBALANCE_RULES = {
    "fixed": "net foreign transfers vb fixed in numeraire units (the data's, or the scenario's "
    "transfers)",
    "income-share": "each region's expenditure a fixed multiple of its income net of foreign "
    "transfers (Dekle, Eaton and Kortum): RA = Ξ·κ·(RA − B), κ = 1 + vb/Y0 (E0/Y0 at the data's "
    "vb); one world scalar Ξ keeps world expenditure equal to world income (Σ B = 0)",
}
"""How net foreign transfers are set, by the name a scenario's ``imbalances`` key gives."""


def with_imbalances(closure: Closure, rule: str) -> Closure:
    """The closure with the trade-imbalance rule ``rule``, or an error listing the rules."""
    if rule not in IMBALANCE_RULES:
        raise FragcgeError(
            f"imbalance rule {rule!r} is not available; available: {', '.join(IMBALANCE_RULES)}"
        )
    return dataclasses.replace(closure, imbalances=rule)


def get_closure(name: str) -> Closure:
    """The closure called name, or an error listing the available ones."""
    try:
        return CLOSURES[name]
    except KeyError:
        raise FragcgeError(
            f"closure {name!r} is not available; available: {', '.join(CLOSURES)}"
        ) from None


def income_net_of_transfers(cal: Calibration) -> np.ndarray:
    """Y0[r] = RA0 − vb0: the benchmark income of factors and taxes, without net transfers."""
    return cal.ra0 - cal.vb0


def close(cal: Calibration, closure: Closure) -> Calibration:
    """The calibration the closure solves: in the short run mobile endowments become specific."""
    if closure.income_share:
        y0 = income_net_of_transfers(cal)
        bad = [f"{r} ({y:.6g})" for r, y in zip(cal.sam.regions, y0, strict=True) if not y > 0]
        if bad:
            raise FragcgeError(
                f'imbalances = "income-share" makes each region\'s expenditure a multiple '
                f"E0/Y0 of its income net of foreign transfers Y0 (factor payments and taxes), "
                f"and needs Y0 > 0; dataset {cal.sam.name} ({dataset_origin(cal.sam)}) has Y0 <= 0 "
                f"(factor_payments.csv and the tax tables) in region(s) {', '.join(bad)}: use "
                'imbalances = "fixed" with this dataset'
            )
    if closure.real_wage and not np.any(cal.evom_s > 0):
        raise FragcgeError(
            f"the real-wage closure fixes the real price of every mobile factor "
            f"({', '.join(cal.sam.mobile)}) and needs a sector-specific factor whose price "
            f"adjusts; dataset {cal.sam.name} has none. With value added as one factor every "
            "price of a region would be fixed by technology alone and a shock would leave no "
            "equilibrium: split value added into labour and capital to use this closure"
        )
    if not closure.short_run:
        return cal
    mobile = cal.evom > 0
    evom_s = cal.evom_s + np.where(mobile[:, None, :], cal.fd0, 0.0)
    return dataclasses.replace(cal, evom=np.zeros_like(cal.evom), evom_s=evom_s)
