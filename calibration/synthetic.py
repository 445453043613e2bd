"""Random benchmark economies that satisfy MODEL.md's identities exactly, for tests.

Everything is drawn per unit of activity: input coefficients per unit of output, final
demand per unit of a region's spending level, source shares of imports, margins per unit
shipped. Output then follows from the domestic market identity, a linear system in
output (the Leontief inverse, with exports and margin supply induced by the other
regions' imports), and the spending levels from income = expenditure in every region,
linear in output and levels together (Walras' law makes one of these equations redundant;
the scale replaces it): both are solved by GMRES. Zero profit holds because factor
payments are the residual of each sector's unit cost.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
from scipy.sparse.linalg import LinearOperator, gmres

from fragcge.calibration import accounts
from fragcge.calibration.sam import FINAL_AGENTS, GlobalSAM

TAX_RATES = ("to0", "tf0", "tdf0", "tif0", "tx0", "tm0")

GMRES_RTOL = 1e-14
"""Relative accuracy of the output solve: the identities hold to rounding, as by LU."""
GMRES_RESTART = 100


@dataclass(frozen=True)
class _Economy:
    """The random draws, all per unit: every flow is one of these times a level."""

    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    factors: tuple[str, ...]
    factor_kind: dict[str, str]
    margins: tuple[str, ...]
    ad: np.ndarray  # [i, j, r] domestic input per unit of output, net of tax
    am: np.ndarray  # [i, j, r] imported input per unit of output, net of tax
    fd: np.ndarray  # [i, a, r] domestic final demand per unit of spending level, net of tax
    fm: np.ndarray  # [i, a, r] imported final demand per unit of spending level, net of tax
    va: np.ndarray  # [f, j, r] factor payments per unit of output, gross of tax
    source: np.ndarray  # [i, s, r] exporter s's share of r's imports of i at market prices
    markup: np.ndarray  # [m, i, s, r] margin m per unit of fob value
    supply: np.ndarray  # [m, r] region r's share of the world supply of margin m
    rates: dict[str, np.ndarray]
    esub: dict[str, np.ndarray | float]


def synthetic_sam(
    n_regions: int = 3,
    n_sectors: int = 3,
    *,
    taxes: bool | Collection[str] = True,
    margins: bool = True,
    factors: tuple[str, ...] = ("lab", "cap", "res"),
    specific: tuple[str, ...] = ("res",),
    intermediates: bool = True,
    final_agents: tuple[str, ...] = FINAL_AGENTS,
    balanced: bool = False,
    proportional_sourcing: bool = False,
    seed: int = 0,
) -> GlobalSAM:
    """A random benchmark that passes validate(), with identities exact to rounding.

    ``taxes``: True for every rate of ``TAX_RATES``, False for none, or the names of those
    wanted (e.g. ``("tm0",)``). ``margins``: the last sector is a transport service that
    carries all trade. Specific factors are used by every other sector (all sectors if no
    factor is mobile). ``final_agents``: which of hh, gov, inv buy (hh always must).
    ``balanced``: income = expenditure in every region (``vb = 0``); otherwise transfers
    of up to about 15% of spending, summing to zero. ``proportional_sourcing``: every agent
    of a region buys the same import share of each good (net of tax), as Caliendo-Parro.
    """
    if n_regions < 2 or n_sectors < 1:
        raise ValueError("synthetic_sam needs at least 2 regions and 1 sector")
    if "hh" not in final_agents or not set(final_agents) <= set(FINAL_AGENTS):
        raise ValueError(f"final_agents must include 'hh' and be among {FINAL_AGENTS}")
    if not set(specific) <= set(factors) or not factors:
        raise ValueError("specific factors must be among the (non-empty) factors")
    chosen = set(TAX_RATES) if taxes is True else set(taxes or ())
    if not chosen <= set(TAX_RATES):
        raise ValueError(
            f"unknown tax rate(s) {sorted(chosen - set(TAX_RATES))}; known: {TAX_RATES}"
        )
    rng = np.random.default_rng(seed)
    economy = _draw(
        rng,
        n_regions,
        n_sectors,
        chosen,
        margins,
        factors,
        specific,
        intermediates,
        final_agents,
        proportional_sourcing,
    )
    levels = _spending_levels(economy)
    if not balanced:
        levels = levels * rng.uniform(0.85, 1.15, n_regions)
    return _sam(economy, _output(economy, levels), levels)


def _draw(
    rng: np.random.Generator,
    n_r: int,
    n: int,
    taxes: set[str],
    margins: bool,
    factors: tuple[str, ...],
    specific: tuple[str, ...],
    intermediates: bool,
    final_agents: tuple[str, ...],
    proportional: bool,
) -> _Economy:
    """Every per-unit coefficient, rate and elasticity, with a few structural zeros."""
    n_a, n_f = len(FINAL_AGENTS), len(factors)

    def sometimes(shape: tuple[int, ...], p: float) -> np.ndarray:
        """True except with probability p: where structural zeros fall."""
        return rng.random(shape) >= p

    # Import shares: one per good and region, or one per agent.
    share_j = (
        rng.uniform(0.1, 0.4, (n, 1, n_r)) if proportional else rng.uniform(0.05, 0.5, (n, n, n_r))
    )
    share_a = share_j[:, :1, :] if proportional else rng.uniform(0.1, 0.5, (n, n_a, n_r))

    inputs = np.zeros((n, n, n_r))
    if intermediates:
        weight = rng.uniform(0.2, 1.0, (n, n, n_r)) * sometimes((n, n, n_r), 0.15)
        weight[np.arange(n), np.arange(n), :] = rng.uniform(0.2, 1.0, (n, n_r))  # own use
        inputs = weight / weight.sum(axis=0) * rng.uniform(0.2, 0.5, (1, n, n_r))
    active = np.array([a in final_agents for a in FINAL_AGENTS])
    budget = rng.uniform(0.5, 1.5, (n, n_a, n_r)) * active[None, :, None]
    budget[1:, 1:, :] *= sometimes((n - 1, n_a - 1, n_r), 0.25)  # gov, inv skip some goods

    source = rng.uniform(0.2, 1.0, (n, n_r, n_r)) * (1 - np.eye(n_r))
    if n_r > 2:
        source *= sometimes(source.shape, 0.15)
        for i, r in zip(*np.nonzero(source.sum(axis=1) == 0), strict=True):
            source[i, (r + 1) % n_r, r] = 1.0
    source /= source.sum(axis=1, keepdims=True)
    routes = source > 0

    n_m = 1 if margins else 0
    markup = rng.uniform(0.02, 0.1, (n_m, n, n_r, n_r)) * routes
    supply = rng.uniform(0.5, 1.5, (n_m, n_r))
    supply /= supply.sum(axis=1, keepdims=True)

    kind = {f: "specific" if f in specific else "mobile" for f in factors}
    any_mobile = any(k == "mobile" for k in kind.values())
    uses = np.array(
        [
            [
                kind[f] == "mobile" or not any_mobile or (j + specific.index(f)) % 2 == 0
                for j in range(n)
            ]
            for f in factors
        ]
    )
    factor_weight = rng.uniform(0.5, 1.5, (n_f, n, n_r)) * uses[:, :, None]
    factor_weight /= factor_weight.sum(axis=0)

    def rate(name: str, low: float, high: float, where: np.ndarray) -> np.ndarray:
        drawn = rng.uniform(low, high, where.shape)
        return drawn * where if name in taxes else np.zeros(where.shape)

    ad, am = inputs * (1 - share_j), inputs * share_j
    fd, fm = budget * (1 - share_a), budget * share_a
    buys_domestic = np.concatenate([ad, fd], axis=1) > 0
    buys_imported = np.concatenate([am, fm], axis=1) > 0
    rates = {
        "to0": rate("to0", -0.02, 0.08, np.ones((n, n_r), dtype=bool)),
        "tf0": rate("tf0", 0.0, 0.3, factor_weight > 0),
        "tdf0": rate("tdf0", 0.0, 0.15, buys_domestic),
        "tif0": rate("tif0", 0.0, 0.15, buys_imported),
        "tx0": rate("tx0", -0.05, 0.1, routes),
        "tm0": rate("tm0", 0.0, 0.25, routes),
    }
    # Factor payments are what is left of the unit revenue after taxes and inputs.
    input_cost = (ad * (1 + rates["tdf0"][:, :n]) + am * (1 + rates["tif0"][:, :n])).sum(axis=0)
    value_added = 1 - rates["to0"] - input_cost
    esubd = rng.uniform(1.5, 4.0, n)
    esub = {
        "esubd": esubd,
        "esubm": esubd * rng.uniform(1.6, 2.4, n),
        "esubva": rng.uniform(0.3, 1.5, n),
        "esubt": rng.uniform(0.0, 0.6, n),
        "esubc": rng.uniform(0.0, 0.8, n),
        "esubp": float(rng.uniform(0.5, 1.5)),
        "esubg": float(rng.uniform(0.3, 1.2)),
        "esubi": float(rng.uniform(0.0, 1.0)),
    }
    sectors = tuple(f"S{k + 1}" for k in range(n))
    return _Economy(
        regions=tuple(f"R{k + 1}" for k in range(n_r)),
        sectors=sectors,
        factors=tuple(factors),
        factor_kind=kind,
        margins=sectors[n - n_m :],
        ad=ad,
        am=am,
        fd=fd,
        fm=fm,
        va=factor_weight * value_added,
        source=source,
        markup=markup,
        supply=supply,
        rates=rates,
        esub=esub,
    )


def _sam(economy: _Economy, vom: np.ndarray, levels: np.ndarray) -> GlobalSAM:
    """The benchmark flows at output ``vom[j, r]`` and spending levels ``levels[r]``."""
    e, t = economy, economy.rates
    n = len(e.sectors)
    net_domestic = np.concatenate([e.ad * vom[None], e.fd * levels], axis=1)
    net_imported = np.concatenate([e.am * vom[None], e.fm * levels], axis=1)
    vim = net_imported.sum(axis=1)
    vims = vim[:, None, :] * e.source
    # vims = vxmd (1 + tx0) (1 + Σ_m markup) (1 + tm0), per route.
    vxmd = vims / ((1 + t["tx0"]) * (1 + e.markup.sum(axis=0)) * (1 + t["tm0"]))
    vtwr = e.markup * (vxmd * (1 + t["tx0"]))[None]
    vst = e.supply * vtwr.sum(axis=(1, 2, 3))[:, None]
    return GlobalSAM(
        name="synthetic",
        regions=e.regions,
        sectors=e.sectors,
        factors=e.factors,
        factor_kind=dict(e.factor_kind),
        margins=e.margins,
        vfm=e.va * vom[None],
        vdfm=net_domestic * (1 + t["tdf0"]),
        vifm=net_imported * (1 + t["tif0"]),
        vxmd=vxmd,
        vtwr=vtwr,
        vst=vst,
        **t,
        **e.esub,
        region_names={r: f"Region {r[1:]}" for r in e.regions},
        sector_names={
            j: "Transport services (margin)" if j in e.margins else f"Sector {j[1:]}"
            for j in e.sectors
        },
        groups={
            "bloc": e.regions[: len(e.regions) // 2],
            "goods": tuple(j for j in e.sectors if j not in e.margins),
        },
        meta={
            "title": f"Synthetic benchmark, {len(e.regions)} regions x {n} sectors",
            "year": 2011,
            "unit": "value units",
            "source": "fragcge.calibration.synthetic",
            "licence": "CC0-1.0",
            "citation": "generated by fragcge.calibration.synthetic.synthetic_sam",
        },
    )


def _output(economy: _Economy, levels: np.ndarray) -> np.ndarray:
    """vom[j, r] that clears every domestic market: the gap is affine in vom, so solve it.

    By GMRES on the linear part, which costs one evaluation of the gap per iteration: every
    region's output reaches every other's markets through trade and margins, so the linear
    map is dense and building it column by column costs one evaluation per unknown (at
    80 × 50 that did not finish).
    """
    shape = (len(economy.sectors), len(economy.regions))

    def gap(vom: np.ndarray) -> np.ndarray:
        return accounts.domestic_supply_gap(_sam(economy, vom.reshape(shape), levels)).ravel()

    at_zero = gap(np.zeros(shape))
    size = at_zero.size
    linear = LinearOperator((size, size), matvec=lambda v: gap(v) - at_zero, dtype=float)

    vom, info = gmres(linear, -at_zero, rtol=GMRES_RTOL, atol=0.0, restart=GMRES_RESTART)
    if info:
        raise RuntimeError(f"synthetic_sam: output did not converge (GMRES status {info})")
    return vom.reshape(shape)


def _spending_levels(economy: _Economy) -> np.ndarray:
    """Spending levels at which every region's income equals its expenditure.

    Output and levels are solved together: the domestic market gaps and each region's
    income minus expenditure are linear in (vom, levels), and world income equals world
    expenditure once the markets clear (Walras' law), so one balance is replaced by the
    scale: world expenditure = 100 per region. One GMRES solve of that affine map; solving
    output for each region's unit spending level instead (the income matrix column by
    column) took 142 solves and over two minutes at 141 × 65.
    """
    n_r = len(economy.regions)
    shape = (len(economy.sectors), n_r)
    size = shape[0] * n_r

    def identities(z: np.ndarray) -> np.ndarray:
        sam = _sam(economy, z[:size].reshape(shape), z[size:])
        spending = accounts.expenditure(sam)
        balance = accounts.income(sam) - spending
        balance[-1] = spending.sum() - 100.0 * n_r
        return np.concatenate([accounts.domestic_supply_gap(sam).ravel(), balance])

    at_zero = identities(np.zeros(size + n_r))
    linear = LinearOperator(
        (size + n_r, size + n_r), matvec=lambda v: identities(v) - at_zero, dtype=float
    )
    z, info = gmres(linear, -at_zero, rtol=GMRES_RTOL, atol=0.0, restart=GMRES_RESTART)
    if info:
        raise RuntimeError(f"synthetic_sam: spending levels did not converge (GMRES status {info})")
    levels = z[size:]
    if not (levels > 0).all():
        raise RuntimeError(
            f"synthetic_sam: no positive balanced spending ({levels}); try another seed"
        )
    return levels
