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

The route wedges are the model's (``model.route_wedges.WEDGES``): each one's revenue per unit
shipped times the change of the quantity it is levied on falls in its owner's row and its
``component``; an iceberg wedge's goods lost fall in its ``component``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from fragcge.errors import SolveError
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.report import (
    FINAL_PRICES,
    dense,
    factor_demands,
    factor_prices,
    factor_supplies,
    final_level,
    margin_supplies,
    purchases,
    route_flows,
    transfers,
    utility,
    utility_price,
)
from fragcge.model.route_wedges import WEDGES
from fragcge.model.route_wedges import wedges as route_wedges
from fragcge.model.solve import (
    DEFAULT_LIMITS,
    RESIDUAL_TOL,
    ProgressLines,
    SolveLimits,
    SolveResult,
    solve,
)

COMPONENTS = ("tot", "alloc", "iceberg", "rents", "endowment", "transfers")
"""The decomposition columns of welfare.csv, before ``residual``."""

DEFAULT_STEPS = 6
"""Solves from baseline to scenario: residual below 5e-5 of |EV| on the shipped scenarios."""

RESIDUAL_SHARE = 0.01
"""A decomposition whose residual exceeds this share of |EV| in a row is refined, and if it
still does at MAX_STEPS, marked unreliable."""

MAX_STEPS = 96
"""The finest path tried: 16 times DEFAULT_STEPS (about 20 s more on the default data)."""

RELIABLE = "decomposition_reliable"
"""welfare.csv's column saying whether a row's decomposition is within RESIDUAL_SHARE."""


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
    iceberg: dict[str, np.ndarray]  # [i, s, r] each iceberg wedge's level τ_k
    Dw: dict[str, np.ndarray]  # [i, s, r] per iceberg wedge, D·w·τ/τ_k: dS per dτ_k at fixed D
    opn: np.ndarray  # [i, s, r] trade_open: 1, or 0 on a banned route
    Ddw: np.ndarray  # [i, s, r] τ·V/(1−σ): D·τ·dw = Ddw·d(open), w = open^(1/(1−σ))
    cifp: np.ndarray  # [i, s, r] cif value of a benchmark unit at current prices
    fobp: np.ndarray  # [i, s, r] fob value of a benchmark unit, vxmd·(1+tx0)·pfob
    rho: np.ndarray  # [i, s, r] export-quota wedge (0 where no quota binds)
    revenue: dict[str, np.ndarray]  # [i, s, r] each owned route wedge's revenue per unit shipped
    msup: np.ndarray  # [i, r] supply to the margin pools, units of the domestic good
    pf_endow: np.ndarray  # [f, r] value of a unit of the endowment multiplier, pf·evom
    endow: np.ndarray  # [f, r] endowment multiplier times employment and supply response
    ps_endow: np.ndarray  # [f, j, r] ps·evom_s
    endow_s: np.ndarray  # [f, j, r] endowment multiplier times supply response
    qA: np.ndarray  # [j, r] (1−to)·py·vom·Y: value of a unit of productivity
    A: np.ndarray  # [j, r]
    vb: np.ndarray  # [r] net foreign transfers in value (report.transfers)
    X: np.ndarray  # [3, r] final activities C, G, I
    spend_gap: np.ndarray  # [3, r] (αk·RA − pk·vfd_k·Xk)/Xk where welfare is U, else 0


def _state(model: CGEModel, eq: Equilibrium, base: Equilibrium) -> _State:
    s, c = model.system, model.cal
    sam = c.sam
    x, th = eq.x, eq.theta

    def var(name: str, fill: float = 1.0) -> np.ndarray:
        return dense(s, x, name, fill)

    py, pm = var("py"), var("pm")
    A = model.system.param("A", th)
    Y = var("Y", 0.0)
    # firms' purchases and final demands
    dd, di = purchases(model, eq, "py"), purchases(model, eq, "pm")
    # factors
    pf, ps = var("pf", np.nan), var("ps", np.nan)
    mobile = s.var["pf"].pos >= 0
    pfac = factor_prices(model, eq)
    fd = factor_demands(model, eq)
    L = var("L")
    # Factor supply: endowment, employment (real-wage closure) and the response to the
    # real factor price (eta > 0), all valued at the factor price in ``endowment``.
    supply, supply_s = factor_supplies(model, eq)
    employed = s.var["L"].pos >= 0
    endow = np.where(employed, model.system.param("endow", th) * L, supply)
    # routes
    ice = {w.name: model.system.param(w.name, th) for w in route_wedges("iceberg")}
    opn = model.system.param("trade_open", th)
    rho = var("rho", 0.0)
    flows = route_flows(model, eq)
    V, pcif = flows["volume"], flows["pcif"]
    S = flows["shipped"]
    cifp = c.cif * pcif
    # margin supplies, in units of the domestic good
    msup = margin_supplies(model, eq)
    X = np.array([var("C"), *(final_level(model, eq, act) for act in ("G", "I"))])
    if model.closure.welfare == "U":
        spend = c.vfd * np.array([var(p) for p in FINAL_PRICES]) * X
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
        iceberg=ice,
        Dw={k: _product([opn * V, *(t for j, t in ice.items() if j != k)]) for k in ice},
        opn=opn,
        Ddw=flows["Ddw"],
        cifp=cifp,
        fobp=c.vxmd * (1 + sam.tx0) * flows["pfob"],
        rho=rho,
        revenue=_revenue(model, th, py, cifp),
        msup=msup,
        pf_endow=np.where(mobile, pf, 0.0) * c.evom,
        endow=endow,
        ps_endow=np.where(s.var["ps"].pos >= 0, ps, 0.0) * c.evom_s,
        endow_s=supply_s,
        qA=(1 - sam.to0) * py * c.vom * Y,
        A=A,
        vb=transfers(model, eq),
        X=X,
        spend_gap=gap,
    )


def _product(factors: list[np.ndarray]) -> np.ndarray:
    """The product of the arrays, the first as it is when it is the only one."""
    out = factors[0]
    for factor in factors[1:]:
        out = out * factor
    return out


def _revenue(model: CGEModel, th: np.ndarray, py: np.ndarray, cifp: np.ndarray) -> dict:
    """Each owned route wedge's revenue per unit shipped [i, s, r] (its rate times the value
    it is levied on, as in its income term, ``terms.route_kinds``): t·py·vxmd on the fob
    side, t·cif on the cif side, t·(1 + Σ t_cif)·Π(1 + t_del before it)·cif delivered."""
    param = model.system.param
    out = {}
    for wedge in route_wedges("fob"):
        out[wedge.name] = param(wedge.name, th) * py[:, :, None] * model.cal.vxmd
    cif = route_wedges("cif")
    for wedge in cif:
        out[wedge.name] = param(wedge.name, th) * cifp
    base = 1 + sum(param(w.name, th) for w in cif) if cif else None
    for wedge in route_wedges("delivered"):
        rate = param(wedge.name, th)
        out[wedge.name] = (rate if base is None else rate * base) * cifp
        base = 1 + rate if base is None else base * (1 + rate)
    return out


def _deflator(model: CGEModel, eq: Equilibrium, base: Equilibrium) -> np.ndarray:
    """Converts a change of real expenditure at eq's prices into EV units (baseline prices).

    pc_b/pc where welfare is C; e_b·RA0·U/RA (= e_b/e with optimal spending shares) where
    welfare is the regional utility U (:func:`fragcge.model.report.utility`).
    """
    s = model.system
    if model.closure.welfare == "C":
        return dense(s, base.x, "pc", 1.0) / dense(s, eq.x, "pc", 1.0)
    u = utility(model, eq)
    return utility_price(model, base) * model.cal.ra0 * u / dense(s, eq.x, "RA")


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
        return trap(wa, wb, qa, qb, 1)

    out = {k: np.zeros(n_r) for k in COMPONENTS}
    # domestic tax wedges × quantity changes
    to0, tf0, tdf0, tif0 = sam.to0, sam.tf0, sam.tdf0, sam.tif0
    alloc = trap(to0 * a.py, to0 * b.py, a.Q, b.Q, 1)
    alloc += trap(tf0 * a.pfac, tf0 * b.pfac, a.fd, b.fd, 2)
    alloc += trap(tdf0 * a.py[:, None], tdf0 * b.py[:, None], a.dd, b.dd, 2)
    alloc += trap(tif0 * a.pm[:, None], tif0 * b.pm[:, None], a.di, b.di, 2)
    # export quota rents × change of goods shipped, to the exporter who holds the quota
    out["rents"] += exporter(
        a.rho * a.py[:, :, None] * c.vxmd, b.rho * b.py[:, :, None] * c.vxmd, a.S, b.S
    )
    # Route wedges' revenue × change of the quantity it is levied on, in the owner's row: on
    # the fob side the goods shipped S; on the cif side the delivered quantity D, in units
    # shipped: κ·dD = dS − D·dκ, κ = τ·w goods shipped per unit delivered, and
    # D·dκ = Σ_k D·w·(τ/τ_k)·dτ_k + D·τ·dw = Σ_k Dw_k·dτ_k + τ·V/(1−σ)·d(open)
    for wedge in WEDGES.values():
        if wedge.owner is None:
            continue
        owner = exporter if wedge.owner == "exporter" else importer
        ra, rb = a.revenue[wedge.name], b.revenue[wedge.name]
        part = owner(ra, rb, a.S, b.S)
        if wedge.on != "fob":
            for k in a.iceberg:
                part -= owner(ra * a.Dw[k], rb * b.Dw[k], a.iceberg[k], b.iceberg[k])
            part -= owner(ra * a.Ddw, rb * b.Ddw, a.opn, b.opn)
        if wedge.component == "alloc":
            alloc += part
        else:
            out[wedge.component] += part
    # goods lost in transit at world (cif) prices: iceberg τ; and, allocative, the wedge
    # w of a route on its way to a ban (export_ban), finite in terms of d(open)
    for k, wedge in ((k, WEDGES[k]) for k in a.iceberg):
        lost = importer(a.cifp * a.Dw[k], b.cifp * b.Dw[k], a.iceberg[k], b.iceberg[k])
        out[wedge.component] -= lost
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


class DecompositionWarning(UserWarning):
    """The decomposition of EV does not add up to EV within RESIDUAL_SHARE."""


class _Path:
    """The solved points of the straight path from baseline to scenario, kept by their share
    of the way, so that a finer path solves only the points a coarser one lacks. Only each
    point's solution and θ are kept: a state holds dozens of route-sized arrays, and a long
    path of them would not fit in memory on large data."""

    def __init__(
        self, model: CGEModel, base: Equilibrium, scen: Equilibrium, limits: SolveLimits
    ) -> None:
        self.model, self.base, self.scen, self.limits = model, base, scen, limits
        self.points: dict[Fraction, SolveResult] = {}

    def solve(self, steps: int) -> None:
        """Solve the points k/steps, k = 1..steps−1, not solved yet, each started on the
        straight line between the nearest solved points on either side (the baseline at 0,
        the scenario at 1): a guess whose error is second order in the step, where the point
        before it alone is a first-order one (at 41 × 35 one Newton iteration fewer per
        point). Should the solve from the guess fail, the path of smaller steps starts from
        the solved point before it."""
        model, x, theta = self.model, self.base.x, self.base.theta
        # Newton–Krylov: each point starts from the factors of J of the one before it.
        run = model.solver.path_runner()
        for k in range(1, steps):
            share = Fraction(k, steps)
            if share not in self.points:
                shares = _theta_path(model, self.base, self.scen, float(share))
                target = model.system.with_params(self.base.theta, shares)
                # The model's solver (Ipopt or Newton–Krylov) solves the path.
                self.points[share] = solve(
                    model.system,
                    model.evaluator,
                    x,
                    theta,
                    target,
                    self.limits,
                    run=run,
                    guess=self._guess(share),
                )
            x, theta = self.points[share].x, self.points[share].theta

    def _guess(self, share: Fraction) -> np.ndarray:
        """x at ``share`` interpolated between the nearest solved points around it (a convex
        combination: above every variable's floor when they are)."""
        solved = {Fraction(0): self.base.x, Fraction(1): self.scen.x}
        solved |= {s: res.x for s, res in self.points.items()}
        lo = max(s for s in solved if s < share)
        hi = min(s for s in solved if s > share)
        w = float((share - lo) / (hi - lo))
        return (1 - w) * solved[lo] + w * solved[hi]

    def states(self, steps: int) -> Iterator[_State]:
        """The states at k/steps for k = 0..steps, one at a time, from solved points (the
        scenario's own solution is the last)."""
        model = self.model
        yield _state(model, self.base, self.base)
        for k in range(1, steps):
            res = self.points[Fraction(k, steps)]
            yield _state(model, Equilibrium(res.x, res, 0.0, res.theta), self.base)
        yield _state(model, self.scen, self.base)


def decompose(
    model: CGEModel,
    base: Equilibrium,
    scen: Equilibrium,
    steps: int = DEFAULT_STEPS,
    limits: SolveLimits = DEFAULT_LIMITS,
) -> pd.DataFrame:
    """Per region, the components of EV (dataset unit), integrated over ``steps`` solves.

    Solves at k/steps of the parameter change for k = 1..steps−1, each started between the
    solved points around it (the scenario's own solution is the last point). Each component
    is integrated by the trapezoid rule over the steps; with an even number of steps the
    trapezoid sums over steps and over pairs of steps are combined by Richardson
    extrapolation, (4·T_h − T_2h)/3 (Simpson's rule), which removes the O(h²) error at no
    extra solve.
    Columns: region and :data:`COMPONENTS`.
    """
    path = _Path(model, base, scen, limits)
    path.solve(steps)
    return _integrate(model, path.states(steps))


@dataclass(frozen=True)
class Decomposed:
    """welfare.csv's table with the decomposition, and the path it was integrated on."""

    welfare: pd.DataFrame
    """The welfare rows with :data:`COMPONENTS`, ``residual`` and :data:`RELIABLE`."""
    steps: int
    """Solves from baseline to scenario the components were integrated over."""

    @property
    def unreliable(self) -> list[str]:
        """Rows (regions, blocs, WORLD) whose residual is above RESIDUAL_SHARE of |EV|."""
        return list(self.welfare.region[~self.welfare[RELIABLE]])


def decompose_welfare(
    model: CGEModel,
    base: Equilibrium,
    scen: Equilibrium,
    welfare: pd.DataFrame,
    steps: int = DEFAULT_STEPS,
    max_steps: int | None = None,
    limits: SolveLimits = DEFAULT_LIMITS,
    progress: ProgressLines | None = None,
) -> Decomposed:
    """``welfare`` with EV's decomposition, on a path refined until it can be trusted.

    The path starts with ``steps`` solves; while any row's residual (EV minus the sum of
    the components) exceeds RESIDUAL_SHARE of its |EV|, the number of steps is doubled
    (solving only the new points) up to ``max_steps`` (default :data:`MAX_STEPS`). Rows still
    above are marked False in :data:`RELIABLE`; EV itself does not depend on the path. Each
    solve of the path is bounded by ``limits``; ``progress`` hears of each refinement.
    """
    max_steps = MAX_STEPS if max_steps is None else max_steps
    path = _Path(model, base, scen, limits)
    try:
        path.solve(steps)
    except SolveError as error:
        return _unsolved(path, welfare, steps, error)
    # Below what the solver's tolerance lets EV be off by, a residual is noise: the floor
    # keeps a region whose EV is about zero from counting as unreliable.
    floor = RESIDUAL_TOL * float(np.sum(dense(model.system, base.x, "RA")))
    while True:
        table = add_to_welfare(welfare, _integrate(model, path.states(steps)))
        within = table.residual.abs() <= RESIDUAL_SHARE * table.ev.abs() + floor
        if within.all() or 2 * steps > max_steps:
            break
        if progress is not None:
            progress(
                f"refining   the welfare decomposition on {2 * steps} steps: its residual is "
                f"above {RESIDUAL_SHARE:.0%} of |EV| with {steps}"
            )
        try:
            path.solve(2 * steps)
        except SolveError:
            break  # a finer path cannot be solved: keep this one, flagged
        steps *= 2
    table[RELIABLE] = within.to_numpy()
    if not within.all():
        share = table.residual.abs() / table.ev.abs().where(table.ev != 0)
        worst = table.loc[share.fillna(np.inf).idxmax()]
        warnings.warn(
            f"welfare decomposition unreliable in {', '.join(table.region[~within])}: the "
            f"residual (EV minus the sum of the components) stays above {RESIDUAL_SHARE:.0%} "
            f"of |EV| on a path of {steps} steps (worst: {worst.region}, residual "
            f"{worst.residual:.6g} against EV {worst.ev:.6g}); marked {RELIABLE} = false "
            "in welfare.csv. EV itself is unaffected.",
            DecompositionWarning,
            stacklevel=2,
        )
    return Decomposed(table, steps)


def _unsolved(path: _Path, welfare: pd.DataFrame, steps: int, error: SolveError) -> Decomposed:
    """welfare with empty components, every row unreliable: a point of the path from
    baseline to scenario could not be solved (the scenario itself was)."""
    zero = pd.DataFrame({"region": path.model.cal.sam.regions, **dict.fromkeys(COMPONENTS, 0.0)})
    table = add_to_welfare(welfare, zero)
    table[[*COMPONENTS, "residual"]] = np.nan
    table[RELIABLE] = False
    warnings.warn(
        f"welfare decomposition not computed: a point of the path from baseline to scenario "
        f"could not be solved ({str(error).splitlines()[0]}); its columns are left empty and "
        f"marked {RELIABLE} = false in welfare.csv. EV itself is unaffected.",
        DecompositionWarning,
        stacklevel=3,
    )
    return Decomposed(table, steps)


def _integrate(model: CGEModel, states: Iterator[_State]) -> pd.DataFrame:
    """The components of EV over the path through ``states``: the trapezoid rule over
    each step and over each pair of steps, combined by Richardson extrapolation when the
    number of steps is even. Holds three states at a time."""
    fine = {k: np.zeros(len(model.cal.sam.regions)) for k in COMPONENTS}
    coarse = {k: np.zeros(len(model.cal.sam.regions)) for k in COMPONENTS}
    last = pair_start = next(states)
    steps = 0
    for state in states:
        steps += 1
        for k, v in _step(model, last, state).items():
            fine[k] += v
        if steps % 2 == 0:
            for k, v in _step(model, pair_start, state).items():
                coarse[k] += v
            pair_start = state
        last = state
    if steps % 2:
        total = fine
    else:
        total = {k: (4.0 * fine[k] - coarse[k]) / 3.0 for k in COMPONENTS}
    return pd.DataFrame({"region": model.cal.sam.regions, **total})


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
