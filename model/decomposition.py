"""Additive decomposition of each region's EV, integrated along the path of the shock.

The differential form follows from the model's own accounts (docs/model.md, "Welfare
decomposition"): with zero profits, cost-minimising demands and market clearing, the change
of a region's real expenditure at the current prices,

    W = pc·vc·dC + pg·vg·dG + pinv·vi·dI,

is a sum of wedges times quantity changes (``alloc``, ``rents``), endowment and productivity
changes valued at factor and output prices (``endowment``), the change of the transfer
(``transfers``), the extra goods lost in transit valued at world prices (``iceberg``) and the
change of world (fob, cif) prices times the quantities traded (``tot``). Each term is
deflated to baseline prices (``pc_b/pc``; ``e_b/e`` where welfare is the regional utility U)
and integrated with the trapezoid rule from the baseline to the scenario, solving the model
at k/N of the parameter change for k = 1..N. ``residual`` is EV minus the sum of the parts.

Route wedges are listed in :data:`ROUTE_WEDGES`, one entry per instrument; a new instrument
whose wedge sits on the importer's cif value adds an entry there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.equations import ESUB_FIN
from fragcge.model.report import _firm_purchases, dense, route_flows
from fragcge.model.solve import solve

COMPONENTS = ("tot", "alloc", "iceberg", "rents", "endowment", "transfers")
"""The decomposition columns of welfare.csv, before ``residual``."""

DEFAULT_STEPS = 6
"""Solves from baseline to scenario: residual below 5e-5 of |EV| on the shipped scenarios."""

FIN_AGENTS = (("hh", "C", "pc"), ("gov", "G", "pg"), ("inv", "I", "pinv"))


@dataclass(frozen=True)
class RouteWedge:
    """An ad-valorem wedge on the importer's cif value of a route's flow.

    ``rate(model, theta)`` gives the wedge per unit of cif value [i, s, r] (for a tariff tm;
    for a tariff-equivalent barrier stacked on the tariff, tn·(1+tm)); the revenue or rent
    accrues to the importer and its change times the change in quantity goes to
    ``component``.
    """

    name: str
    component: str
    rate: Callable[[CGEModel, np.ndarray], np.ndarray]


ROUTE_WEDGES: list[RouteWedge] = [
    RouteWedge("tariff", "alloc", lambda m, th: m.system.param("tm", th)),
    RouteWedge(
        "ntb_rent",
        "rents",
        lambda m, th: m.system.param("tn", th) * (1 + m.system.param("tm", th)),
    ),
]
"""Wedges on imports: each instrument's revenue or rent, credited to the importer."""


@dataclass
class _State:
    """What the decomposition needs at one solved point (dense arrays)."""

    phi: np.ndarray  # [r] deflator to baseline prices
    py: np.ndarray  # [i, r]
    pm: np.ndarray  # [i, r]
    Q: np.ndarray  # [j, r] output vom·A·Y
    dd: np.ndarray  # [i, g, r] purchases of domestic goods (benchmark net units)
    di: np.ndarray  # [i, g, r] purchases of imports
    fd: np.ndarray  # [f, j, r] factor demands
    pfac: np.ndarray  # [f, j, r] factor prices (net of factor tax)
    S: np.ndarray  # [i, s, r] shipped, units of the benchmark flow
    Dw: np.ndarray  # [i, s, r] open·V: shipped per unit of τ (delivered volume D times w)
    tau: np.ndarray  # [i, s, r]
    opn: np.ndarray  # [i, s, r] trade_open: 1, or 0 on a banned route
    Ddw: np.ndarray  # [i, s, r] τ·V/(1−σ): D·τ·dw = Ddw·d(open), w = open^(1/(1−σ))
    cifp: np.ndarray  # [i, s, r] cif value of a benchmark unit at current prices
    fobp: np.ndarray  # [i, s, r] fob value of a benchmark unit: vxmd·py·(1+tx)
    tx: np.ndarray  # [i, s, r]
    rho: np.ndarray  # [i, s, r] export-quota wedge (0 where no quota binds)
    wedges: dict[str, np.ndarray]  # ROUTE_WEDGES rates
    msup: np.ndarray  # [i, r] supply to the margin pools, units of the domestic good
    pf_endow: np.ndarray  # [f, r] value of a unit of the endowment multiplier, pf·evom
    endow: np.ndarray  # [f, r] endowment multiplier times employment
    ps_endow: np.ndarray  # [f, j, r] ps·evom_s
    endow_s: np.ndarray  # [f, j, r]
    qA: np.ndarray  # [j, r] (1−to)·py·vom·Y: value of a unit of productivity
    A: np.ndarray  # [j, r]
    vb: np.ndarray  # [r] transfers times the numeraire level
    X: np.ndarray  # [3, r] final activities C, G, I
    spend_gap: np.ndarray  # [3, r] (αk·RA − pk·vfd_k·Xk)/Xk where welfare is U, else 0


def _state(model: CGEModel, eq: Equilibrium, base: Equilibrium) -> _State:
    s, c = model.system, model.cal
    sam = c.sam
    n = c.n_sectors
    x, th = eq.x, eq.theta

    def var(name: str, fill: float = 1.0) -> np.ndarray:
        return dense(s, x, name, fill)

    py, pm, pt = var("py"), var("pm"), var("pt")
    A = model.system.param("A", th)
    Y = var("Y", 0.0)
    # firms' purchases and final demands
    dd = np.zeros_like(c.dd0)
    di = np.zeros_like(c.di0)
    dd[:, :n] = _firm_purchases(model, eq, c.dd0, "py")
    di[:, :n] = _firm_purchases(model, eq, c.di0, "pm")
    pa = var("pa")
    sigma = {agent: s.esub(name, th) for agent, name in ESUB_FIN.items()}
    esubd = s.esub("esubd", th)
    for k, (agent, act, price) in enumerate(FIN_AGENTS):
        g = n + k
        level = var(act) if act == "C" else _level(model, eq, act)
        P = var(price)
        for flows, out, p in ((c.dd0, dd, py), (c.di0, di, pm)):
            out[:, g] = (
                flows[:, g]
                * level[None]
                * (P[None] / pa[:, g]) ** sigma[agent]
                * (pa[:, g] / p) ** esubd[:, None]
            )
    # factors
    pf, ps, pva = var("pf", np.nan), var("ps", np.nan), var("pva")
    mobile = s.var["pf"].pos >= 0
    pfac = np.where(mobile[:, None, :], pf[:, None, :], ps)
    pfac = np.where(np.isnan(pfac), 1.0, pfac)
    fd = (
        c.fd0
        * Y[None]
        * ((py * A / pva) ** s.esub("esubt", th)[:, None])[None]
        * (pva[None] / pfac) ** s.esub("esubva", th)[None, :, None]
    )
    L = var("L")
    endow = model.system.param("endow", th) * np.where(s.var["L"].pos >= 0, L, 1.0)
    # routes
    tau, tx = model.system.param("tau", th), model.system.param("tx", th)
    opn = model.system.param("trade_open", th)
    esubm = s.esub("esubm", th)[:, None, None]
    rho = var("rho", 0.0)
    flows = route_flows(model, eq)
    V, pcif = flows["volume"], flows["pcif"]
    has = c.vxmd > 0
    cd = np.isclose(esubm, 1.0)
    Ddw = np.where(has & ~cd, tau * V / np.where(cd, 1.0, 1.0 - esubm), 0.0)
    S = flows["shipped"]
    # margin supplies, in units of the domestic good
    msup = np.zeros_like(py)
    YT = var("YT")
    for k, m in enumerate(s.margin_rows):
        i = sam.margin_index[m]
        msup[i] += c.vst[m] * YT[k] * pt[k] / py[i]
    pnum = float(model.system.param("pnum", th).ravel()[0])
    X = np.array([var("C"), *(_level(model, eq, act) for act in ("G", "I"))])
    if model.closure.welfare == "U":
        spend = c.vfd * np.array([var(p) for _, _, p in FIN_AGENTS]) * X
        gap = (c.vfd / c.ra0 * var("RA", 0.0) - spend) / X
    else:
        gap = np.zeros_like(X)
    return _State(
        phi=_deflator(model, eq, base),
        py=py,
        pm=pm,
        Q=c.vom * A * Y,
        dd=dd,
        di=di,
        fd=fd,
        pfac=pfac,
        S=S,
        Dw=opn * V,
        tau=tau,
        opn=opn,
        Ddw=Ddw,
        cifp=c.cif * pcif,
        fobp=c.vxmd * py[:, :, None] * (1 + tx + rho),
        tx=tx,
        rho=rho,
        wedges={wd.name: wd.rate(model, th) for wd in ROUTE_WEDGES},
        msup=msup,
        pf_endow=np.where(mobile, pf, 0.0) * c.evom,
        endow=endow,
        ps_endow=np.where(s.var["ps"].pos >= 0, ps, 0.0) * c.evom_s,
        endow_s=model.system.param("endow_s", th),
        qA=(1 - sam.to0) * py * c.vom * Y,
        A=A,
        vb=model.system.param("vb", th) * pnum,
        X=X,
        spend_gap=gap,
    )


def _level(model: CGEModel, eq: Equilibrium, act: str) -> np.ndarray:
    """G or I: the variable where the closure makes it one, else its fixed level."""
    s = model.system
    fixed = model.system.param({"G": "Gbar", "I": "Ibar"}[act], eq.theta)
    return np.where(s.var[act].pos >= 0, dense(s, eq.x, act, 1.0), fixed)


def _deflator(model: CGEModel, eq: Equilibrium, base: Equilibrium) -> np.ndarray:
    """Converts a change of real expenditure at eq's prices into EV units (baseline prices).

    pc_b/pc where welfare is C; e_b·RA0·U/RA (= e_b/e with optimal spending shares) where
    welfare is the regional utility U = C^αc·G^αg·I^αi.
    """
    s, c = model.system, model.cal
    if model.closure.welfare == "C":
        return dense(s, base.x, "pc", 1.0) / dense(s, eq.x, "pc", 1.0)
    alpha = c.vfd / c.ra0

    def e(q: Equilibrium) -> np.ndarray:
        return np.prod(
            [dense(s, q.x, p, 1.0) ** a for (_, _, p), a in zip(FIN_AGENTS, alpha, strict=True)],
            axis=0,
        )

    g, i = _level(model, eq, "G"), _level(model, eq, "I")
    u = dense(s, eq.x, "C") ** alpha[0] * g ** alpha[1] * i ** alpha[2]
    return e(base) * c.ra0 * u / dense(s, eq.x, "RA")


def _step(model: CGEModel, a: _State, b: _State) -> dict[str, np.ndarray]:
    """The components of one step a → b, per region, by the trapezoid rule."""
    c = model.cal
    sam = c.sam
    n_r = len(sam.regions)

    def trap(wa: np.ndarray, wb: np.ndarray, qa: np.ndarray, qb: np.ndarray, axis_r: int):
        """∫ φ·w dq over the step, summed to the region on axis axis_r of the arrays."""
        phia = np.expand_dims(a.phi, tuple(k for k in range(wa.ndim) if k != axis_r % wa.ndim))
        phib = np.expand_dims(b.phi, tuple(k for k in range(wb.ndim) if k != axis_r % wb.ndim))
        val = 0.5 * (phia * wa + phib * wb) * (qb - qa)
        axes = tuple(k for k in range(val.ndim) if k != axis_r % val.ndim)
        return np.sum(val, axis=axes) if axes else val

    def importer(wa, wb, qa, qb):
        return trap(wa, wb, qa, qb, 2)

    def exporter(wa, wb, qa, qb):
        phia, phib = a.phi[None, :, None], b.phi[None, :, None]
        val = 0.5 * (phia * wa + phib * wb) * (qb - qa)
        return np.sum(val, axis=(0, 2))

    out = {k: np.zeros(n_r) for k in COMPONENTS}
    # domestic tax wedges × quantity changes
    to0, tf0, tdf0, tif0 = sam.to0, sam.tf0, sam.tdf0, sam.tif0
    alloc = trap(to0 * a.py, to0 * b.py, a.Q, b.Q, 1)
    alloc += trap(tf0 * a.pfac, tf0 * b.pfac, a.fd, b.fd, 2)
    alloc += trap(tdf0 * a.py[:, None], tdf0 * b.py[:, None], a.dd, b.dd, 2)
    alloc += trap(tif0 * a.pm[:, None], tif0 * b.pm[:, None], a.di, b.di, 2)
    # export taxes × change of goods shipped, to the exporter
    alloc += exporter(a.tx * a.py[:, :, None] * c.vxmd, b.tx * b.py[:, :, None] * c.vxmd, a.S, b.S)
    # export quota rents × change of goods shipped, to the exporter who holds the quota
    out["rents"] += exporter(
        a.rho * a.py[:, :, None] * c.vxmd, b.rho * b.py[:, :, None] * c.vxmd, a.S, b.S
    )
    # importer's wedges on the cif value × change of the delivered quantity D, in units
    # shipped: κ·dD = dS − D·dκ, κ = τ·w goods shipped per unit delivered, and
    # D·dκ = D·w·dτ + D·τ·dw = open·V·dτ + τ·V/(1−σ)·d(open)
    for wd in ROUTE_WEDGES:
        ra, rb = a.wedges[wd.name] * a.cifp, b.wedges[wd.name] * b.cifp
        out[wd.component] += (
            importer(ra, rb, a.S, b.S)
            - importer(ra * a.Dw, rb * b.Dw, a.tau, b.tau)
            - importer(ra * a.Ddw, rb * b.Ddw, a.opn, b.opn)
        )
    # goods lost in transit at world (cif) prices: iceberg τ; and, allocative, the wedge
    # w of a route on its way to a ban (export_ban), finite in terms of d(open)
    out["iceberg"] = -importer(a.cifp * a.Dw, b.cifp * b.Dw, a.tau, b.tau)
    alloc -= importer(a.cifp * a.Ddw, b.cifp * b.Ddw, a.opn, b.opn)
    # where welfare is U and the closure fixes G, I or their spending shares, the split of
    # spending between C, G and I differs from U's shares α: dEV − φ·W = φ·Σ_k gap_k·dX_k
    alloc += trap(a.spend_gap, b.spend_gap, a.X, b.X, 1)
    out["alloc"] += alloc
    # terms of trade: world prices × quantities traded
    tot = exporter(a.S, b.S, a.fobp, b.fobp)
    tot += trap(a.msup, b.msup, a.py, b.py, 1)
    tot -= importer(a.S, b.S, a.cifp, b.cifp)
    out["tot"] = tot
    # endowments, employment and productivity
    endow = trap(a.pf_endow, b.pf_endow, a.endow, b.endow, 1)
    endow += trap(a.ps_endow, b.ps_endow, a.endow_s, b.endow_s, 2)
    endow += trap(a.qA, b.qA, a.A, b.A, 1)
    out["endowment"] = endow
    out["transfers"] = trap(np.ones(n_r), np.ones(n_r), a.vb, b.vb, 0)
    return out


def _theta_path(model: CGEModel, base: Equilibrium, scen: Equilibrium, t: float):
    """Every mutable parameter at the share t of the way from baseline to scenario."""
    target = {}
    for name, block in model.system.params.mutable.items():
        lo = base.theta[block.offset : block.offset + block.size]
        hi = scen.theta[block.offset : block.offset + block.size]
        if name == "qscale":
            lo = hi
        elif name == "qshare":
            # A slack quota's share is a large placeholder: start the path where the cap
            # begins to bind (the baseline volume, share 1), so ρ grows smoothly from 0.
            lo = np.minimum(lo, np.maximum(hi, 1.0))
        target[name] = (lo + t * (hi - lo)).reshape(block.pos.shape)
    return target


def decompose(
    model: CGEModel, base: Equilibrium, scen: Equilibrium, steps: int = DEFAULT_STEPS
) -> pd.DataFrame:
    """Per region, the components of EV (dataset unit), integrated over ``steps`` solves.

    Solves at k/steps of the parameter change for k = 1..steps−1, warm-starting each from the
    last (the scenario's own solution is the last point), and leaves the model's parameters
    at the scenario's. Each component is integrated by the trapezoid rule over the steps;
    with an even number of steps the trapezoid sums over steps and over pairs of steps are
    combined by Richardson extrapolation, (4·T_h − T_2h)/3 (Simpson's rule), which removes
    the O(h²) error at no extra solve. Columns: region and :data:`COMPONENTS`.
    """
    states = [_state(model, base, base)]
    x = base.x
    for k in range(1, steps):
        target = _theta_path(model, base, scen, k / steps)
        # The model's solver (Ipopt or Newton–Krylov, model/solver_choice.py) solves the path.
        res = solve(model.system, model.evaluator, x, target, run=model.solver.run)
        x = res.x
        eq = Equilibrium(x, res, 0.0, model.system.theta.copy())
        states.append(_state(model, eq, base))
    for name, values in _theta_path(model, base, scen, 1.0).items():
        model.system.set_param(name, values)
    states.append(_state(model, scen, base))
    fine = _trapezoid(model, states)
    if steps % 2:
        total = fine
    else:
        coarse = _trapezoid(model, states[::2])
        total = {k: (4.0 * fine[k] - coarse[k]) / 3.0 for k in COMPONENTS}
    return pd.DataFrame({"region": model.cal.sam.regions, **total})


def _trapezoid(model: CGEModel, states: list[_State]) -> dict[str, np.ndarray]:
    """The components summed over the steps between consecutive states."""
    total = {k: np.zeros(len(model.cal.sam.regions)) for k in COMPONENTS}
    for a, b in zip(states[:-1], states[1:], strict=True):
        for k, v in _step(model, a, b).items():
            total[k] += v
    return total


def add_to_welfare(welfare: pd.DataFrame, parts: pd.DataFrame) -> pd.DataFrame:
    """welfare with the components and the residual EV − Σ parts; bloc and WORLD rows sum."""
    out = welfare.copy()
    regions = parts.set_index("region")
    is_region = out.region.isin(regions.index)
    for k in COMPONENTS:
        out[k] = 0.0
        out.loc[is_region, k] = regions.loc[out.region[is_region], k].to_numpy()
    out["residual"] = 0.0
    out.loc[is_region, "residual"] = out.ev[is_region] - out.loc[is_region, list(COMPONENTS)].sum(
        axis=1
    )
    cols = [*COMPONENTS, "residual"]
    reg = out[is_region]
    for idx in out.index[~is_region]:
        label = out.region[idx]
        members = reg if label == "WORLD" else reg[reg.bloc == label]
        out.loc[idx, cols] = members[cols].sum().to_numpy()
    return out
