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

from fragcge.model.closures import income_net_of_transfers
from fragcge.model.nest_terms import ces_children, demands, nest_prices, sigma_columns
from fragcge.model.nests import NESTS
from fragcge.model.route_wedges import WEDGES, benchmark_rates
from fragcge.model.structure import EquationSpace, TermGroup, Terms
from fragcge.model.terms import (
    BASIC_KINDS,
    QUOTA_EXTRA,
    TARIFF_EXTRA,
    revenue_kind,
    route_param_names,
)

FIN = {t.agent: t.activity for t in NESTS.final}
"""Each final agent's activity variable (its nest tree's)."""
FIXED_LEVEL = {t.agent: t.fixed_level for t in NESTS.final if t.fixed_level}
"""Parameters that set G and I where the closure keeps them exogenous."""
FIN_PRICE = {t.agent: t.root.price for t in NESTS.final}
"""Each final agent's price (its nest tree's root)."""


def firm_prices(sys: EquationSpace) -> None:
    """Zero profit of Y[j,r] and the price index of each inner nest of the firms' tree
    (``nests.FIRMS``: value added pva, the intermediate bundle pint where esubc ≠ esubt)."""
    nest_prices(sys, sys.nests.firms)


def final_prices(sys: EquationSpace) -> None:
    """Final agents' price indices (``nests.HOUSEHOLD`` …): pc[r] (zero profit of C), pg[r],
    pinv[r], and those of their inner nests."""
    for tree in sys.nests.final:
        nest_prices(sys, tree)


def def_pa(sys: EquationSpace) -> None:
    """Armington price pa[i,g,r] = CES(py·(1+tdf)/(1+tdf0), pm·(1+tif)/(1+tif0); esubd, the
    elasticity of ``Nests.armington``)."""
    c = sys.cal
    pa, py, pm = sys.var["pa"], sys.var["py"], sys.var["pm"]
    i, g, r = pa.members.T
    rows = pa.pos[i, g, r]
    for flows, price, theta in (
        (c.dd0, py, c.theta_d),
        (c.di0, pm, 1.0 - c.theta_d),
    ):
        has = flows[i, g, r] > 0
        ces_children(
            sys,
            rows[has],
            price.pos[i[has], r[has]],
            rows[has],
            theta[i[has], g[has], r[has]],
            sigma_columns(sys, sys.nests.armington, i[has]),
        )


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
        for name in route_param_names(0)[2:]
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
    p = [sigma_columns(sys, "esubm", i)[1], *_route_params(sys, i, s, r)]
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
    sigma, esubm = sigma_columns(sys, "esubm", i)
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
            BASIC_KINDS["cd"].columns(
                sigma=sys.params.const(1.0, n), scale=sys.params.const(1.0, n)
            ),
            c.vst[m, r] / c.vtw[m],
        )


def purchase_groups(sys: EquationSpace) -> dict[str, tuple[np.ndarray, list[TermGroup]]]:
    """Every agent's purchases of domestic (``py``: dd0) and imported (``pm``: di0) goods in
    benchmark units: per price, the cells (i, g, r) of the non-zero flows (g: sectors, then
    hh, gov, inv) and the demand templates' instances with coefficient flows[i, g, r], one
    row per cell. Reports evaluate them (:func:`fragcge.model.report.purchases`); they are in
    no equation."""
    c = sys.cal
    out = {}
    for name, flows in (("py", c.dd0), ("pm", c.di0)):
        cells = np.argwhere(flows != 0)
        i, g, r = cells.T
        terms = Terms()
        _goods_demands(sys, terms, i, g, r, sys.var[name], np.arange(len(i)), flows[i, g, r])
        out[name] = (cells, terms.groups())
    return out


def _goods_demands(sys: EquationSpace, terms: Terms, i, g, r, price, rows, coef, value=False):
    """coef·demand of agent g of region r for good i at price (py or pm), each agent by its
    nest tree; ``value`` multiplies by the price (a purchase tax base)."""
    n = sys.cal.n_sectors
    for tree in sys.nests.trees():
        at = g < n if tree.agent == "firms" else g == sys.nest_shares[tree.agent].agent
        owner = (g[at], r[at]) if tree.agent == "firms" else (r[at],)
        where = price.pos[i[at], r[at]]
        demands(sys, terms, tree, "good", i[at], owner, where, rows[at], coef[at], value)


def _agent_demands(sys: EquationSpace, flows, price, scale, rows_of, value_rate=None) -> None:
    """Compensated demands of every agent for a domestic (py) or imported (pm) good.

    Adds −flows/scale·demand to the row rows_of(i, r); with value_rate, adds instead the
    purchase tax revenue −rate·flows/scale·price·demand to the same agents' income rows.
    """
    weight = flows if value_rate is None else flows * value_rate
    i, g, r = np.argwhere(weight != 0).T
    coef = -weight[i, g, r] / scale(i, r)
    _goods_demands(sys, sys.terms, i, g, r, price, rows_of(i, r), coef, value_rate is not None)


def _route_volumes(sys: EquationSpace, i, s, r, rows, coef) -> None:
    """Terms coef·τ·V[i,s,r] for goods or margins shipped on routes (i, s → r)."""
    v = sys.var
    x = [v["M"].pos[i, r], v["pm"].pos[i, r], v["py"].pos[i, s], *_pt_cols(sys, len(i))]
    p = [sigma_columns(sys, "esubm", i)[1], *_route_params(sys, i, s, r)]
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
    coef = -weight[f, j, r] / scale(f, j, r)
    firms = sys.nests.firms
    demands(
        sys, sys.terms, firms, "factor", f, (j, r), None, rows_of(f, j, r), coef, rate is not None
    )


def factor_demand_groups(sys: EquationSpace) -> tuple[np.ndarray, list[TermGroup]]:
    """Firms' factor demands in benchmark units: the cells (f, j, r) of the non-zero fd0 and
    the factor demand templates' instances with coefficient fd0[f, j, r], one row per cell.
    Reports evaluate them (:func:`fragcge.model.report.factor_demands`); in no equation."""
    fd0 = sys.cal.fd0
    cells = np.argwhere(fd0 != 0)
    f, j, r = cells.T
    terms = Terms()
    demands(sys, terms, sys.nests.firms, "factor", f, (j, r), None, np.arange(len(f)), fd0[f, j, r])
    return cells, terms.groups()


def mkt_pf(sys: EquationSpace) -> None:
    """Factor markets: mobile pf[f,r]: evom·endow·(pf/pc)^eta = Σ_j demand; specific
    ps[f,j,r]: evom_s·endow_s·(ps/pc)^eta = demand (eta = 0: the endowment itself)."""
    c, P = sys.cal, sys.params
    pf, ps = sys.var["pf"], sys.var["ps"]
    L = sys.var["L"]
    f, r = pf.members.T
    employed = L.pos[f, r] >= 0
    full = ~employed
    endow = P.mutable["endow"].pos[f, r]
    rows = pf.pos[f, r]
    _factor_supplies(sys, sys.terms, f[full], r[full], rows[full], rows[full], 1.0, endow[full])
    sys.terms.add(
        "lin", pf.pos[f, r][employed], [L.pos[f, r][employed]], [], 1.0, [endow[employed]]
    )
    f, j, r = ps.members.T
    rows = ps.pos[f, j, r]
    _factor_supplies(sys, sys.terms, f, r, rows, rows, 1.0, P.mutable["endow_s"].pos[f, j, r])

    def rows_of(f, j, r):
        return np.where(pf.pos[f, r] >= 0, pf.pos[f, r], ps.pos[f, j, r])

    def scale(f, j, r):
        return np.where(pf.pos[f, r] >= 0, c.evom[f, r], c.evom_s[f, j, r])

    _factor_demands(sys, rows_of, scale)


def _factor_supplies(
    sys: EquationSpace, terms: Terms, f, r, rows, price, coef, endow, value: bool = False
) -> None:
    """coef·endow·(p/pc)^η: the supply of factor f in region r at its price p (the variable
    at positions ``price``: pf, or ps of one sector), η = eta[f, r]; with ``value``, that
    supply times p (factor income). Where the data's η is 0 the supply is the endowment
    itself, as a constant (a ``lin`` term in p for its value): the model's equations are then
    those of a fixed supply, and η a parameter only where it is positive."""
    coef = np.broadcast_to(np.asarray(coef, dtype=float), np.shape(rows))
    elastic = sys.cal.sam.eta[f, r] != 0
    fixed = ~elastic
    if value:
        terms.add("lin", rows[fixed], [price[fixed]], [], coef[fixed], [endow[fixed]])
    else:
        terms.add("const", rows[fixed], [], [], coef[fixed], [endow[fixed]])
    terms.add(
        "supply_val" if value else "supply",
        rows[elastic],
        [price[elastic], sys.var["pc"].pos[r[elastic]]],
        [sys.params.mutable["eta"].pos[f[elastic], r[elastic]]],
        coef[elastic],
        [endow[elastic]],
    )


def factor_supply_groups(sys: EquationSpace) -> dict[str, tuple[np.ndarray, list[TermGroup]]]:
    """Factors supplied, in benchmark units of the endowment (endow·(p/pc)^eta): per price,
    the cells of the mobile factors whose market clears at full employment (``pf``: (f, r))
    and of the specific factors (``ps``: (f, j, r)), and the factor markets' supply terms
    with coefficient 1, one row per cell. For reports and the decomposition; in no equation.
    (Employment L of the real-wage closure is a variable of its own.)"""
    v, P = sys.var, sys.params
    pf, ps = v["pf"], v["ps"]
    f, r = pf.members[v["L"].pos[tuple(pf.members.T)] < 0].T
    f_s, j_s, r_s = ps.members.T
    out = {}
    for name, cells, price, endow in (
        ("pf", np.stack([f, r], axis=1), pf.pos[f, r], P.mutable["endow"].pos[f, r]),
        ("ps", ps.members, ps.pos[f_s, j_s, r_s], P.mutable["endow_s"].pos[f_s, j_s, r_s]),
    ):
        terms = Terms()
        fac, reg = cells[:, 0], cells[:, -1]
        _factor_supplies(sys, terms, fac, reg, np.arange(len(cells)), price, 1.0, endow)
        out[name] = (cells, terms.groups())
    return out


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
    """Income RA[r] = factor income + every tax, tariff and rent collected in r + the net
    foreign transfer: pnum·vb[r] (fixed imbalances) or the variable B[r] (income-share)."""
    c, P, v = sys.cal, sys.params, sys.var
    RA = v["RA"]
    ra0 = c.ra0
    (r,) = RA.members.T
    sys.terms.add("lin", RA.pos[r], [RA.pos[r]], [], 1.0 / ra0[r])
    B = v["B"]
    fixed = B.pos[r] < 0
    sys.terms.add(
        "const",
        RA.pos[r][fixed],
        [],
        [],
        -1.0 / ra0[r][fixed],
        [P.mutable["vb"].pos[r][fixed], P.mutable["pnum"].pos[np.zeros_like(r[fixed])]],
    )
    sys.terms.add("lin", RA.pos[r][~fixed], [B.pos[r][~fixed]], [], -1.0 / ra0[r][~fixed])
    pf, ps = v["pf"], v["ps"]
    L = v["L"]
    f, r = pf.members.T
    employed = L.pos[f, r] >= 0
    full = ~employed
    coef = -c.evom[f, r] / ra0[r]
    endow = P.mutable["endow"].pos[f, r]
    price = pf.pos[f, r]
    _factor_supplies(
        sys,
        sys.terms,
        f[full],
        r[full],
        RA.pos[r][full],
        price[full],
        coef[full],
        endow[full],
        value=True,
    )
    sys.terms.add(
        "lin2",
        RA.pos[r][employed],
        [pf.pos[f, r][employed], L.pos[f, r][employed]],
        [],
        coef[employed],
        [endow[employed]],
    )
    f, j, r = ps.members.T
    endow_s = P.mutable["endow_s"].pos[f, j, r]
    coef = -c.evom_s[f, j, r] / ra0[r]
    _factor_supplies(sys, sys.terms, f, r, RA.pos[r], ps.pos[f, j, r], coef, endow_s, value=True)
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
    p = [sigma_columns(sys, "esubm", i)[1], *_route_params(sys, i, s, r)]
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


def imb_B(sys: EquationSpace) -> None:
    """Income-share imbalances: expenditure RA = Ξ·κ·(RA − B), κ = 1 + vb/Y0, divided by RA0.

    B[r] is the net foreign transfer in value, so RA − B is the income of factors and taxes;
    κ is E0/Y0 at the data's transfers vb0 and 1 with vb = 0 (``balanced-trade``).
    """
    v, P = sys.var, sys.params
    B = v["B"]
    (r,) = B.members.T
    if not len(r):
        return
    ra0 = sys.cal.ra0[r]
    y0 = income_net_of_transfers(sys.cal)[r]
    rows, ra, xi = B.pos[r], v["RA"].pos[r], np.full(len(r), v["xi"].pos[0])
    vb = [P.mutable["vb"].pos[r]]
    sys.terms.add("lin", rows, [ra], [], 1.0 / ra0)
    for x, sign in ((ra, -1.0), (rows, 1.0)):
        sys.terms.add("lin2", rows, [xi, x], [], sign / ra0)
        sys.terms.add("lin2", rows, [xi, x], [], sign / (ra0 * y0), vb)


def imb_xi(sys: EquationSpace) -> None:
    """Income-share imbalances: Ξ such that world expenditure equals world income, Σ_r B = 0
    (divided by world income)."""
    v = sys.var
    B, xi = v["B"], v["xi"]
    if not xi.size:
        return
    (r,) = B.members.T
    sys.terms.add("lin", np.full(len(r), xi.pos[0]), [B.pos[r]], [], 1.0 / sys.cal.ra0.sum())


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
        sigma_columns(sys, "esubm", i)[1],
        *_route_params(sys, i, s, r),
        *(quota[name] for name in QUOTA_EXTRA),
    ]
    sys.terms.add("fb_route_q", rho.pos[i, s, r], [*x, rho.pos[i, s, r]], p, 1.0)


BLOCKS = (
    firm_prices,
    def_pa,
    final_prices,
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
    imb_B,
    imb_xi,
)
"""Every equation block; with the numeraire they make the square system."""
