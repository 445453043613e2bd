"""The equations of MODEL.md, one function per block, written as sums of template terms.

Each block function adds the terms of its equations to ``sys.terms``; equation rows share
the global position of the variable they are paired with (``prf_Y`` ↔ ``Y``). Every
equation is scaled by its benchmark value, so residuals are relative. CES price indices
are written as ``Σ_k θ_k ((p_k/P)^(1−σ) − 1)/(1−σ) = 0`` (``Σ_k θ_k log(p_k/P) = 0`` when
σ = 1), the unit-cost equation of MODEL.md divided through by the parent price and by 1−σ,
so that residuals stay well scaled as σ approaches 1.
"""

from __future__ import annotations

import numpy as np

from fragcge.calibration.elasticity_registry import NAMES
from fragcge.model.route_wedges import WEDGES, benchmark_rates
from fragcge.model.structure import EquationSpace, TermGroup, Terms
from fragcge.model.terms import QUOTA_EXTRA, TARIFF_EXTRA, revenue_kind, route_param_names

FIN = {"hh": "C", "gov": "G", "inv": "I"}
FIXED_LEVEL = {"gov": "Gbar", "inv": "Ibar"}
"""Parameters that set G and I where the closure keeps them exogenous."""
FIN_PRICE = {"hh": "pc", "gov": "pg", "inv": "pinv"}
ESUB_FIN = {"hh": "esubp", "gov": "esubg", "inv": "esubi"}
ELASTICITIES = NAMES
"""Every substitution elasticity of the data (the registry's): mutable parameters of the model."""


def _sigma(sys: EquationSpace, name: str, idx=None) -> tuple[np.ndarray, np.ndarray]:
    """An elasticity's data values and θ positions for terms in sectors idx (None: a scalar).

    Elasticities are mutable parameters: the values only choose each term's functional form
    (Cobb-Douglas at σ = 1, Leontief nests at 0), which :func:`elasticity_pattern` records.
    """
    values = np.atleast_1d(np.asarray(getattr(sys.cal.sam, name), dtype=float))
    pos = sys.params.mutable[name].pos
    k = np.zeros(1, dtype=np.int64) if idx is None else idx
    return values[k], pos[k]


def elasticity_pattern(sam) -> bytes:
    """What of the elasticities fixes the equations: where σ = 1 or 0, and where esubt = esubc.

    Two sets of elasticities with the same pattern share one model; only θ differs.
    """
    masks = [np.isclose(np.atleast_1d(getattr(sam, n)), 1.0) for n in ELASTICITIES]
    masks += [np.asarray(sam.esubt) == 0, np.asarray(sam.esubc) == 0, sam.esubt == sam.esubc]
    return b"".join(np.ascontiguousarray(m, dtype=np.uint8).tobytes() + b"|" for m in masks)


def _ces_children(sys: EquationSpace, rows, child, parent, theta, sigma, scale=None) -> None:
    """Terms θ·(child/(parent·scale))^(1−σ) of a CES price index, log form where σ = 1.

    ``sigma`` is (values, θ positions) from :func:`_sigma`, one entry per term or one for all.
    """
    values, pos = (np.broadcast_to(a, np.shape(rows)) for a in sigma)
    scale = sys.params.const(1.0, len(rows)) if scale is None else scale
    cd = np.isclose(values, 1.0)
    for mask, kind in ((~cd, "ces"), (cd, "cd")):
        sys.terms.add(
            kind,
            rows[mask],
            [child[mask], parent[mask]],
            [pos[mask], scale[mask]],
            theta[mask],
        )


def prf_Y(sys: EquationSpace) -> None:
    """Zero profit of Y[j,r]: (1−to)·py·A = c̄·CES(pva, pint; esubt).

    Where esubt = esubc the two nests are one CES (MODEL.md: with both 1, one Cobb-Douglas
    over value added and every intermediate), and the firm has no pint: its Armington
    composites enter this equation directly with shares θint·θa.
    """
    c = sys.cal
    Y, py, pva, pint, pa = (sys.var[k] for k in ("Y", "py", "pva", "pint", "pa"))
    A = sys.params.mutable["A"]
    for child, theta in ((pva, c.theta_va), (pint, c.theta_int)):
        j, r = child.members.T
        rows = Y.pos[j, r]
        esubt = _sigma(sys, "esubt", j)
        _ces_children(sys, rows, child.pos[j, r], py.pos[j, r], theta[j, r], esubt, A.pos[j, r])
    n = c.n_sectors
    i, j, r = np.argwhere((pa.pos[:, :n, :] >= 0) & (pint.pos[None] < 0)).T
    _ces_children(
        sys,
        Y.pos[j, r],
        pa.pos[i, j, r],
        py.pos[j, r],
        c.theta_int[j, r] * c.theta_a[i, j, r],
        _sigma(sys, "esubt", j),
        A.pos[j, r],
    )


def def_pva(sys: EquationSpace) -> None:
    """Value-added price pva[j,r] = CES over factor prices (esubva)."""
    c = sys.cal
    pva, pf, ps = sys.var["pva"], sys.var["pf"], sys.var["ps"]
    f, j, r = np.argwhere((c.sam.vfm > 0) & (pva.pos[None] >= 0)).T
    child = np.where(pf.pos[f, r] >= 0, pf.pos[f, r], ps.pos[f, j, r])
    rows = pva.pos[j, r]
    _ces_children(sys, rows, child, rows, c.theta_f[f, j, r], _sigma(sys, "esubva", j))


def def_pint(sys: EquationSpace) -> None:
    """Intermediate bundle price pint[j,r] = CES over the firm's Armington prices (esubc)."""
    c = sys.cal
    pint, pa = sys.var["pint"], sys.var["pa"]
    n = c.n_sectors
    i, j, r = np.argwhere((pa.pos[:, :n, :] >= 0) & (pint.pos[None] >= 0)).T
    rows = pint.pos[j, r]
    _ces_children(sys, rows, pa.pos[i, j, r], rows, c.theta_a[i, j, r], _sigma(sys, "esubc", j))


def def_pa(sys: EquationSpace) -> None:
    """Armington price pa[i,g,r] = CES(py·(1+tdf)/(1+tdf0), pm·(1+tif)/(1+tif0); esubd)."""
    c = sys.cal
    pa, py, pm = sys.var["pa"], sys.var["py"], sys.var["pm"]
    i, g, r = pa.members.T
    rows = pa.pos[i, g, r]
    for flows, price, theta in (
        (c.dd0, py, c.theta_d),
        (c.di0, pm, 1.0 - c.theta_d),
    ):
        has = flows[i, g, r] > 0
        _ces_children(
            sys,
            rows[has],
            price.pos[i[has], r[has]],
            rows[has],
            theta[i[has], g[has], r[has]],
            _sigma(sys, "esubd", i[has]),
        )


def prf_final(sys: EquationSpace) -> None:
    """Final demand price indices: pc[r] (zero profit of C), pg[r], pinv[r] = CES over pa."""
    c = sys.cal
    pa = sys.var["pa"]
    for k, agent in enumerate(("hh", "gov", "inv")):
        g = c.n_sectors + k
        price = sys.var[FIN_PRICE[agent]]
        own = sys.var["C"] if agent == "hh" else price
        i, r = np.argwhere((pa.pos[:, g, :] >= 0) & (price.pos[None] >= 0)).T
        rows = own.pos[r]
        esub = _sigma(sys, ESUB_FIN[agent])
        _ces_children(sys, rows, pa.pos[i, g, r], price.pos[r], c.theta_a[i, g, r], esub)


def _route_params(sys: EquationSpace, i, s, r) -> list[np.ndarray]:
    """Parameter columns of the route templates on routes (i, s → r), by name
    (``terms.route_param_names``) after the coefficient and esubm: the route constants, each
    registered route wedge (a mutable parameter of its name), each wedge's benchmark rate,
    then the margins' cif shares θt."""
    c, P = sys.cal, sys.params
    constant = {"theta_fob": c.theta_fob}
    constant.update({name: getattr(c.sam, name) for name in benchmark_rates()})
    mutable = {"open": "trade_open", **{name: name for name in WEDGES}}
    cols = [
        P.mutable[mutable[name]].pos[i, s, r]
        if name in mutable
        else P.const(constant[name][i, s, r])
        for name in route_param_names()[2:]
    ]
    cols += [P.const(c.theta_t[m, i, s, r]) for m in sys.margin_rows]
    return cols


def _pt_cols(sys: EquationSpace, n: int) -> list[np.ndarray]:
    """Variable columns of the margin prices, one per active margin service."""
    pt = sys.var["pt"]
    return [np.full(n, pt.pos[k]) for k in range(len(sys.margin_rows))]


def _route_terms(sys: EquationSpace, kind: str, i, s, r, rows, x, p, coef) -> None:
    """Route terms, in their quota variant (ρ as last variable) on the model's quota routes."""
    n = len(i)
    rows = np.broadcast_to(np.asarray(rows), (n,))
    coef = np.broadcast_to(np.asarray(coef, dtype=float), (n,))
    rho = sys.var["rho"].pos[i, s, r]
    for q, name in ((rho < 0, kind), (rho >= 0, kind + "_q")):
        xs = [a[q] for a in x] + ([rho[q]] if name != kind else [])
        sys.terms.add(name, rows[q], xs, [a[q] for a in p], coef[q])


def route_groups(sys: EquationSpace) -> list[TermGroup]:
    """Every trade route's variables and parameters in the layout of the route templates
    (``vol_route``: M, pm, py, pt…; esubm, τ, tx, …), one instance per route, numbered as
    ``sys.routes``: kind ``route``, and ``route_q`` with ρ last on quota routes. Reports
    evaluate the route templates on them (:func:`fragcge.model.report.route_flows`)."""
    v = sys.var
    i, s, r = sys.routes.T
    x = [v["M"].pos[i, r], v["pm"].pos[i, r], v["py"].pos[i, s], *_pt_cols(sys, len(i))]
    p = [_sigma(sys, "esubm", i)[1], *_route_params(sys, i, s, r)]
    rho = v["rho"].pos[i, s, r]
    terms = Terms()
    for q, kind in ((rho < 0, "route"), (rho >= 0, "route_q")):
        xs = [a[q] for a in x] + ([rho[q]] if kind == "route_q" else [])
        terms.add(kind, np.flatnonzero(q), xs, [a[q] for a in p], 1.0)
    return terms.groups()


def prf_M(sys: EquationSpace) -> None:
    """Zero profit of M[i,r]: pm = CES over delivered prices pdel[i,s,r] (esubm)."""
    c = sys.cal
    M, pm, py = sys.var["M"], sys.var["pm"], sys.var["py"]
    i, s, r = sys.routes.T
    rows = M.pos[i, r]
    sigma, esubm = _sigma(sys, "esubm", i)
    cd = np.isclose(sigma, 1.0)
    x = [pm.pos[i, r], py.pos[i, s], *_pt_cols(sys, len(i))]
    p = [esubm, *_route_params(sys, i, s, r)]
    for mask, kind in ((~cd, "ces_route"), (cd, "cd_route")):
        _route_terms(
            sys,
            kind,
            i[mask],
            s[mask],
            r[mask],
            rows[mask],
            [a[mask] for a in x],
            [a[mask] for a in p],
            c.theta_s[i, s, r][mask],
        )


def prf_YT(sys: EquationSpace) -> None:
    """Zero profit of YT[m]: pt[m] = Cobb-Douglas over regional supplies py[m,r]."""
    c = sys.cal
    YT, pt, py = sys.var["YT"], sys.var["pt"], sys.var["py"]
    for k, m in enumerate(sys.margin_rows):
        r = np.flatnonzero(c.vst[m] > 0)
        i = c.sam.margin_index[m]
        n = len(r)
        sys.terms.add(
            "cd",
            np.full(n, YT.pos[k]),
            [py.pos[i, r], np.full(n, pt.pos[k])],
            [sys.params.const(1.0, n), sys.params.const(1.0, n)],
            c.vst[m, r] / c.vtw[m],
        )


def _firm_demands(sys: EquationSpace, terms: Terms, i, j, r, price, rows, coef, suffix="") -> None:
    """coef·demand of sector j's firms in region r for good i at price (py or pm), with the
    template the nests of j need: two CES levels (esubt ≠ esubc), one merged level
    (esubt = esubc), or Leontief above the Armington nest (esubt = esubc = 0)."""
    v, A = sys.var, sys.params.mutable["A"]
    (esubt, t), (esubc, cc) = _sigma(sys, "esubt", j), _sigma(sys, "esubc", j)
    d = _sigma(sys, "esubd", i)[1]
    leo = (esubt == 0) & (esubc == 0)
    flat = (esubt == esubc) & ~leo
    full = esubt != esubc
    terms.add(
        "dem_prod" + suffix,
        rows[full],
        [
            v["Y"].pos[j, r][full],
            v["py"].pos[j, r][full],
            v["pint"].pos[j, r][full],
            v["pa"].pos[i, j, r][full],
            price.pos[i, r][full],
        ],
        [
            A.pos[j, r][full],
            t[full],
            cc[full],
            d[full],
        ],
        coef[full],
    )
    terms.add(
        "dem_prod_flat" + suffix,
        rows[flat],
        [
            v["Y"].pos[j, r][flat],
            v["py"].pos[j, r][flat],
            v["pa"].pos[i, j, r][flat],
            price.pos[i, r][flat],
        ],
        [A.pos[j, r][flat], t[flat], d[flat]],
        coef[flat],
    )
    terms.add(
        "dem_prod_leo" + suffix,
        rows[leo],
        [v["Y"].pos[j, r][leo], v["pa"].pos[i, j, r][leo], price.pos[i, r][leo]],
        [d[leo]],
        coef[leo],
    )


def purchase_groups(sys: EquationSpace) -> dict[str, tuple[np.ndarray, list[TermGroup]]]:
    """Every agent's purchases of domestic (``py``: dd0) and imported (``pm``: di0) goods in
    benchmark units: per price, the cells (i, g, r) of the non-zero flows (g: sectors, then
    hh, gov, inv) and the demand templates' instances with coefficient flows[i, g, r], one
    row per cell. Reports evaluate them (:func:`fragcge.model.report.purchases`); they are in
    no equation."""
    c = sys.cal
    n = c.n_sectors
    out = {}
    for name, flows in (("py", c.dd0), ("pm", c.di0)):
        cells = np.argwhere(flows != 0)
        i, g, r = cells.T
        terms = Terms()
        rows = np.arange(len(i))
        firm = g < n
        _firm_demands(
            sys, terms, i[firm], g[firm], r[firm], sys.var[name], rows[firm], flows[i, g, r][firm]
        )
        for k, agent in enumerate(("hh", "gov", "inv")):
            at = g == n + k
            coef = flows[i, g, r][at]
            _final_demands(sys, terms, agent, i[at], r[at], sys.var[name], rows[at], coef)
        out[name] = (cells, terms.groups())
    return out


def _agent_demands(sys: EquationSpace, flows, price, scale, rows_of, value_rate=None) -> None:
    """Compensated demands of every agent for a domestic (py) or imported (pm) good.

    Adds −flows/scale·demand to the row rows_of(i, r); with value_rate, adds instead the
    purchase tax revenue −rate·flows/scale·price·demand to the same agents' income rows.
    """
    c = sys.cal
    n = c.n_sectors
    suffix = "" if value_rate is None else "_val"
    weight = flows if value_rate is None else flows * value_rate
    i, j, r = np.argwhere(weight[:, :n, :] != 0).T
    coef = -weight[i, j, r] / scale(i, r)
    _firm_demands(sys, sys.terms, i, j, r, price, rows_of(i, r), coef, suffix)
    for k, agent in enumerate(("hh", "gov", "inv")):
        i, r = np.argwhere(weight[:, n + k, :] != 0).T
        coef = -weight[i, n + k, r] / scale(i, r)
        _final_demands(sys, sys.terms, agent, i, r, price, rows_of(i, r), coef, suffix)


def _final_demands(
    sys: EquationSpace, terms: Terms, agent: str, i, r, price, rows, coef, suffix=""
):
    """coef·demand of a final agent of region r for good i at price (py or pm): its activity
    is a variable (``dem_fin``), or a parameter the closure fixes (``dem_fix``, G and I)."""
    P, v = sys.params, sys.var
    g = sys.cal.n_sectors + ("hh", "gov", "inv").index(agent)
    fin_price = v[FIN_PRICE[agent]].pos[r]
    common = [v["pa"].pos[i, g, r], price.pos[i, r]]
    p = [np.full(len(i), _sigma(sys, ESUB_FIN[agent])[1][0]), _sigma(sys, "esubd", i)[1]]
    endogenous = v[FIN[agent]].pos[r] >= 0
    fixed = ~endogenous
    terms.add(
        "dem_fin" + suffix,
        rows[endogenous],
        [v[FIN[agent]].pos[r][endogenous], fin_price[endogenous]] + [a[endogenous] for a in common],
        [a[endogenous] for a in p],
        coef[endogenous],
    )
    if agent != "hh":
        level = P.mutable[FIXED_LEVEL[agent]].pos[r][fixed]
        terms.add(
            "dem_fix" + suffix,
            rows[fixed],
            [fin_price[fixed]] + [a[fixed] for a in common],
            [a[fixed] for a in p],
            coef[fixed],
            [level],
        )


def _route_volumes(sys: EquationSpace, i, s, r, rows, coef) -> None:
    """Terms coef·τ·V[i,s,r] for goods or margins shipped on routes (i, s → r)."""
    v = sys.var
    x = [v["M"].pos[i, r], v["pm"].pos[i, r], v["py"].pos[i, s], *_pt_cols(sys, len(i))]
    p = [_sigma(sys, "esubm", i)[1], *_route_params(sys, i, s, r)]
    _route_terms(sys, "vol_route", i, s, r, rows, x, p, coef)


def mkt_py(sys: EquationSpace) -> None:
    """Domestic market py[i,r]: vom·A·Y = Σ_g dd + Σ_s τ·vxmd·V + vst·YT·pt/py."""
    c = sys.cal
    py, Y = sys.var["py"], sys.var["Y"]
    i, r = py.members.T
    sys.terms.add("lin", py.pos[i, r], [Y.pos[i, r]], [], 1.0, [sys.params.mutable["A"].pos[i, r]])

    def scale(i, r):
        return c.vom[i, r]

    def rows_of(i, r):
        return py.pos[i, r]

    _agent_demands(sys, c.dd0, py, scale, rows_of)
    i, s, r = sys.routes.T
    _route_volumes(sys, i, s, r, py.pos[i, s], -c.vxmd[i, s, r] / c.vom[i, s])
    _margin_supplies(sys, sys.terms, lambda j, r: py.pos[j, r], lambda j, r: -c.vom[j, r])


def _margin_supplies(sys: EquationSpace, terms: Terms, rows_of, scale) -> None:
    """vst/scale·YT·pt/py: each region's supply of a margin service's good to the global pool
    (Cobb-Douglas), in the row rows_of(good, region)."""
    c, v = sys.cal, sys.var
    for k, m in enumerate(sys.margin_rows):
        j = c.sam.margin_index[m]
        rr = np.flatnonzero(c.vst[m] > 0)
        n = len(rr)
        terms.add(
            "msup",
            rows_of(np.full(n, j), rr),
            [np.full(n, v["YT"].pos[k]), np.full(n, v["pt"].pos[k]), v["py"].pos[j, rr]],
            [],
            c.vst[m, rr] / scale(j, rr),
        )


def margin_supply_groups(sys: EquationSpace) -> tuple[np.ndarray, list[TermGroup]]:
    """Supplies to the margin pools in benchmark units of the domestic good: the cells
    (i, r) of each supplying region and good, one row per margin service and region (a good
    may serve several), and the ``msup`` instances with coefficient vst. For reports; in no
    equation."""
    cells: list[tuple[int, int]] = []

    def rows_of(j, r):
        first = len(cells)
        cells.extend(zip(np.asarray(j).tolist(), np.asarray(r).tolist(), strict=True))
        return np.arange(first, len(cells))

    terms = Terms()
    _margin_supplies(sys, terms, rows_of, lambda j, r: 1.0)
    return np.array(cells, dtype=np.int64).reshape(-1, 2), terms.groups()


def mkt_pm(sys: EquationSpace) -> None:
    """Import market pm[i,r]: vim·M = Σ_g di."""
    c = sys.cal
    pm, M = sys.var["pm"], sys.var["M"]
    i, r = pm.members.T
    sys.terms.add("lin", pm.pos[i, r], [M.pos[i, r]], [], 1.0)
    _agent_demands(sys, c.di0, pm, lambda i, r: c.vim[i, r], lambda i, r: pm.pos[i, r])


def _factor_demands(sys: EquationSpace, rows_of, scale, rate=None) -> None:
    """Firms' factor demands −fd0/scale·demand (or factor tax revenue with rate)."""
    c = sys.cal
    weight = c.fd0 if rate is None else c.fd0 * rate
    f, j, r = np.argwhere(weight != 0).T
    suffix = "" if rate is None else "_val"
    coef = -weight[f, j, r] / scale(f, j, r)
    _factor_terms(sys, sys.terms, f, j, r, rows_of(f, j, r), coef, suffix)


def _factor_terms(sys: EquationSpace, terms: Terms, f, j, r, rows, coef, suffix="") -> None:
    """coef·demand of sector j's firms in region r for factor f, at its mobile price pf or
    its sector-specific price ps, with a CES level above value added, or Leontief (esubt = 0)."""
    P, v = sys.params, sys.var
    price = np.where(v["pf"].pos[f, r] >= 0, v["pf"].pos[f, r], v["ps"].pos[f, j, r])
    esubt, t = _sigma(sys, "esubt", j)
    va = _sigma(sys, "esubva", j)[1]
    leo = esubt == 0
    full = ~leo
    terms.add(
        "dem_fac" + suffix,
        rows[full],
        [v["Y"].pos[j, r][full], v["py"].pos[j, r][full], v["pva"].pos[j, r][full], price[full]],
        [
            P.mutable["A"].pos[j, r][full],
            t[full],
            va[full],
        ],
        coef[full],
    )
    terms.add(
        "dem_fac_leo" + suffix,
        rows[leo],
        [v["Y"].pos[j, r][leo], v["pva"].pos[j, r][leo], price[leo]],
        [va[leo]],
        coef[leo],
    )


def factor_demand_groups(sys: EquationSpace) -> tuple[np.ndarray, list[TermGroup]]:
    """Firms' factor demands in benchmark units: the cells (f, j, r) of the non-zero fd0 and
    the factor demand templates' instances with coefficient fd0[f, j, r], one row per cell.
    Reports evaluate them (:func:`fragcge.model.report.factor_demands`); in no equation."""
    fd0 = sys.cal.fd0
    cells = np.argwhere(fd0 != 0)
    f, j, r = cells.T
    terms = Terms()
    _factor_terms(sys, terms, f, j, r, np.arange(len(f)), fd0[f, j, r])
    return cells, terms.groups()


def mkt_pf(sys: EquationSpace) -> None:
    """Factor markets: mobile pf[f,r]: evom = Σ_j demand; specific ps[f,j,r]: evom_s = demand."""
    c, P = sys.cal, sys.params
    pf, ps = sys.var["pf"], sys.var["ps"]
    L = sys.var["L"]
    f, r = pf.members.T
    employed = L.pos[f, r] >= 0
    full = ~employed
    endow = P.mutable["endow"].pos[f, r]
    sys.terms.add("const", pf.pos[f, r][full], [], [], 1.0, [endow[full]])
    sys.terms.add(
        "lin", pf.pos[f, r][employed], [L.pos[f, r][employed]], [], 1.0, [endow[employed]]
    )
    f, j, r = ps.members.T
    sys.terms.add("const", ps.pos[f, j, r], [], [], 1.0, [P.mutable["endow_s"].pos[f, j, r]])

    def rows_of(f, j, r):
        return np.where(pf.pos[f, r] >= 0, pf.pos[f, r], ps.pos[f, j, r])

    def scale(f, j, r):
        return np.where(pf.pos[f, r] >= 0, c.evom[f, r], c.evom_s[f, j, r])

    _factor_demands(sys, rows_of, scale)


def mkt_pc(sys: EquationSpace) -> None:
    """Private consumption pc[r]: pc·vc·C = RA − pg·vg·G − pinv·vi·I."""
    c, P, v = sys.cal, sys.params, sys.var
    pc = v["pc"]
    (r,) = pc.members.T
    vc = c.vfd[0, r]
    rows = pc.pos[r]
    sys.terms.add("lin2", rows, [pc.pos[r], v["C"].pos[r]], [], 1.0)
    sys.terms.add("lin", rows, [v["RA"].pos[r]], [], -1.0 / vc)
    for k, agent in enumerate(("gov", "inv"), start=1):
        price, activity = v[FIN_PRICE[agent]].pos[r], v[FIN[agent]].pos[r]
        endogenous, fixed = activity >= 0, (activity < 0) & (price >= 0)
        share = c.vfd[k, r] / vc
        sys.terms.add(
            "lin2",
            rows[endogenous],
            [price[endogenous], activity[endogenous]],
            [],
            share[endogenous],
        )
        sys.terms.add(
            "lin",
            rows[fixed],
            [price[fixed]],
            [],
            share[fixed],
            [P.mutable[FIXED_LEVEL[agent]].pos[r[fixed]]],
        )


def shr_G(sys: EquationSpace) -> None:
    """Government spending a fixed share of income (gov-share closure): pg·vg·G = (vg/RA0)·RA."""
    _income_share(sys, "gov")


def sav_I(sys: EquationSpace) -> None:
    """Investment from a fixed savings rate (savings closure): pinv·vi·I = (vi/RA0)·RA."""
    _income_share(sys, "inv")


def _income_share(sys: EquationSpace, agent: str) -> None:
    """pX·X − RA/RA0 = 0: spending on X stays the benchmark share of income (divided by vX)."""
    v = sys.var
    activity = v[FIN[agent]]
    (r,) = activity.members.T
    rows = activity.pos[r]
    sys.terms.add("lin2", rows, [v[FIN_PRICE[agent]].pos[r], rows], [], 1.0)
    sys.terms.add("lin", rows, [v["RA"].pos[r]], [], -1.0 / sys.cal.ra0[r])


def rwg_L(sys: EquationSpace) -> None:
    """Fixed real wage (real-wage closure): pf[f,r] = pc[r], employment L[f,r] adjusts."""
    v = sys.var
    L = v["L"]
    f, r = L.members.T
    rows = L.pos[f, r]
    sys.terms.add("lin", rows, [v["pf"].pos[f, r]], [], 1.0)
    sys.terms.add("lin", rows, [v["pc"].pos[r]], [], -1.0)


def mkt_pt(sys: EquationSpace) -> None:
    """Transport pool pt[m]: vtw·YT = Σ_{i,r,s} τ·vtwr·V."""
    c = sys.cal
    pt, YT = sys.var["pt"], sys.var["YT"]
    for k, m in enumerate(sys.margin_rows):
        sys.terms.add("lin", [pt.pos[k]], [[YT.pos[k]]], [], 1.0)
        i, s, r = sys.routes.T
        use = c.vtwr[m, i, s, r]
        has = use > 0
        _route_volumes(
            sys, i[has], s[has], r[has], np.full(has.sum(), pt.pos[k]), -use[has] / c.vtw[m]
        )


def inc_RA(sys: EquationSpace) -> None:
    """Income RA[r] = factor income + every tax, tariff and rent collected in r + pnum·vb[r]."""
    c, P, v = sys.cal, sys.params, sys.var
    RA = v["RA"]
    ra0 = c.ra0
    (r,) = RA.members.T
    sys.terms.add("lin", RA.pos[r], [RA.pos[r]], [], 1.0 / ra0[r])
    sys.terms.add(
        "const",
        RA.pos[r],
        [],
        [],
        -1.0 / ra0[r],
        [P.mutable["vb"].pos[r], P.mutable["pnum"].pos[np.zeros_like(r)]],
    )
    pf, ps = v["pf"], v["ps"]
    L = v["L"]
    f, r = pf.members.T
    employed = L.pos[f, r] >= 0
    full = ~employed
    coef = -c.evom[f, r] / ra0[r]
    endow = P.mutable["endow"].pos[f, r]
    sys.terms.add("lin", RA.pos[r][full], [pf.pos[f, r][full]], [], coef[full], [endow[full]])
    sys.terms.add(
        "lin2",
        RA.pos[r][employed],
        [pf.pos[f, r][employed], L.pos[f, r][employed]],
        [],
        coef[employed],
        [endow[employed]],
    )
    f, j, r = ps.members.T
    sys.terms.add(
        "lin",
        RA.pos[r],
        [ps.pos[f, j, r]],
        [],
        -c.evom_s[f, j, r] / ra0[r],
        [P.mutable["endow_s"].pos[f, j, r]],
    )
    to0 = c.sam.to0
    j, r = np.argwhere((to0 != 0) & (v["Y"].pos >= 0)).T
    sys.terms.add(
        "lin2",
        RA.pos[r],
        [v["py"].pos[j, r], v["Y"].pos[j, r]],
        [],
        -to0[j, r] * c.vom[j, r] / ra0[r],
        [P.mutable["A"].pos[j, r]],
    )

    def income_row(*idx):
        return RA.pos[idx[-1]]

    def income_scale(*idx):
        return ra0[idx[-1]]

    _factor_demands(sys, income_row, income_scale, rate=c.sam.tf0)
    _agent_demands(sys, c.dd0, v["py"], income_scale, income_row, value_rate=c.sam.tdf0)
    _agent_demands(sys, c.di0, v["pm"], income_scale, income_row, value_rate=c.sam.tif0)
    i, s, r = sys.routes.T
    x = [v["M"].pos[i, r], v["pm"].pos[i, r], v["py"].pos[i, s], *_pt_cols(sys, len(i))]
    p = [_sigma(sys, "esubm", i)[1], *_route_params(sys, i, s, r)]
    extra = {"vxmd": c.vxmd[i, s, r]}
    p_value = (
        p
        + [P.const(extra[name]) for name in TARIFF_EXTRA]
        + [P.const(c.vtwr[m, i, s, r]) for m in sys.margin_rows]
    )
    income = {"exporter": RA.pos[s], "importer": RA.pos[r]}
    scale = {"exporter": ra0[s], "importer": ra0[r]}
    # Each route wedge's revenue or rent, in its owner's income: a fob wedge's on the
    # exporter's value vxmd·py (in the coefficient), the others' on the cif value.
    for wedge in WEDGES.values():
        if wedge.owner is None:
            continue
        kind, owner = revenue_kind(wedge), wedge.owner
        if wedge.on == "fob":
            coef = -c.vxmd[i, s, r] / scale[owner]
            _route_terms(sys, kind, i, s, r, income[owner], x, p, coef)
        else:
            _route_terms(sys, kind, i, s, r, income[owner], x, p_value, -1.0 / scale[owner])
    quota = sys.var["rho"].pos[i, s, r] >= 0
    sys.terms.add(
        "quota_rent_route_q",
        RA.pos[s][quota],
        [a[quota] for a in x] + [sys.var["rho"].pos[i, s, r][quota]],
        [a[quota] for a in p],
        -c.vxmd[i, s, r][quota] / ra0[s][quota],
    )


def fb_rho(sys: EquationSpace) -> None:
    """Export quota on a route: ρ ≥ 0 ⊥ share·V_b − V ≥ 0, smoothed Fischer–Burmeister."""
    P, v = sys.params, sys.var
    rho = v["rho"]
    i, s, r = rho.members.T
    x = [v["M"].pos[i, r], v["pm"].pos[i, r], v["py"].pos[i, s], *_pt_cols(sys, len(i))]
    quota = {
        "qshare": P.mutable["qshare"].pos[i, s, r],
        "qscale": P.mutable["qscale"].pos[i, s, r],
        "qmu": np.full(len(i), P.mutable["qmu"].pos[0]),
    }
    p = [
        _sigma(sys, "esubm", i)[1],
        *_route_params(sys, i, s, r),
        *(quota[name] for name in QUOTA_EXTRA),
    ]
    sys.terms.add("fb_route_q", rho.pos[i, s, r], [*x, rho.pos[i, s, r]], p, 1.0)


BLOCKS = (
    prf_Y,
    def_pva,
    def_pint,
    def_pa,
    prf_final,
    prf_M,
    prf_YT,
    mkt_py,
    mkt_pm,
    mkt_pf,
    mkt_pc,
    mkt_pt,
    inc_RA,
    shr_G,
    sav_I,
    rwg_L,
    fb_rho,
)
"""Every equation block; with the numeraire they make the square system."""
