"""From solved points to tidy result tables: welfare (EV), macro indices, trade and output."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.nests import NESTS
from fragcge.model.numpy_terms import term_values
from fragcge.model.system import System
from fragcge.model.terms import all_kinds

WORLD = "WORLD"
"""The region and bloc of the row that sums every region; no bloc may take the name."""
REAL_INCOME = "real_income_pct"
"""welfare.csv's column of the change in real income (:func:`real_income`), %."""


def dense(system: System, x: np.ndarray, name: str, fill: float = 0.0) -> np.ndarray:
    """A variable block as a dense array over its index space (fill where it does not exist)."""
    b = system.var[name]
    out = np.full(b.pos.shape, fill)
    has = b.pos >= 0
    out[has] = x[b.pos[has]]
    return out


def route_flows(model: CGEModel, eq: Equilibrium) -> dict[str, np.ndarray]:
    """Per route [i, s, r], the route templates of ``model/terms.py`` evaluated on
    ``System.route_groups``, 0 where there is no route: ``volume`` V = M·(pm/pdel)^σm, the
    volume of an open route per unit of benchmark flow; ``shipped`` open·τ·V; ``pfob`` and
    ``pcif`` the fob and cif price indices; ``V`` the delivered volume D = w^(−σm)·V, and
    ``Ddw`` = τ·V/(1−σm) = D·τ·dw/d(open), 0 where σm = 1, for a route on its way to a ban
    (0 < open < 1, an iceberg wedge w = open^(1/(1−σm))); ``py`` the producer prices.
    """
    s, c = model.system, model.cal
    kinds = all_kinds(len(s.margin_rows))
    templates = {
        "volume": "volume_route",
        "shipped": "vol_route",
        "pfob": "fob_route",
        "pcif": "cif_route",
        "V": "delivered_route",
        "Ddw": "ban_route",
    }
    out = {k: np.zeros(c.vxmd.shape) for k in templates}
    for g in s.route_groups:
        i, sr, r = s.routes[g.rows].T
        suffix = "_q" if g.kind == "route_q" else ""
        # σm = 1 (Cobb-Douglas) divides by 0 in the two templates of the ban, which such a
        # route cannot have: its D is V and its Ddw is 0 (set below).
        with np.errstate(divide="ignore", invalid="ignore"):
            for name, kind in templates.items():
                out[name][i, sr, r] = term_values(kinds[kind + suffix], g, eq.x, eq.theta)
    cd = np.broadcast_to(np.isclose(s.esub("esubm", eq.theta), 1.0)[:, None, None], c.vxmd.shape)
    out["V"] = np.where(cd, out["volume"], out["V"])
    out["Ddw"] = np.where(cd, 0.0, out["Ddw"])
    return {**out, "py": dense(s, eq.x, "py", 1.0)}


FINAL_PRICES = tuple(tree.root.price for tree in NESTS.final)
"""Prices of the final agents hh, gov, inv (their nest trees' roots), in the order of
Calibration.vfd's first axis."""


def final_level(model: CGEModel, eq: Equilibrium, act: str) -> np.ndarray:
    """G or I: the variable where the closure makes it one, else its fixed level."""
    s = model.system
    fixed = s.param({"G": "Gbar", "I": "Ibar"}[act], eq.theta)
    return np.where(s.var[act].pos >= 0, dense(s, eq.x, act, 1.0), fixed)


def utility(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """The regional household's utility U = C^αc·G^αg·I^αi (benchmark expenditure shares α)."""
    alpha = model.cal.vfd / model.cal.ra0
    g, i = final_level(model, eq, "G"), final_level(model, eq, "I")
    return dense(model.system, eq.x, "C") ** alpha[0] * g ** alpha[1] * i ** alpha[2]


def utility_price(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """U's price index e = pc^αc·pg^αg·pinv^αi."""
    alpha = model.cal.vfd / model.cal.ra0
    prices = [
        dense(model.system, eq.x, p, 1.0) ** a for p, a in zip(FINAL_PRICES, alpha, strict=True)
    ]
    return np.prod(prices, axis=0)


def welfare_index(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """The welfare index of each region at eq, relative to the benchmark: the household's C
    where the closure fixes G and I, else the regional :func:`utility` U."""
    if model.closure.welfare == "C":
        return dense(model.system, eq.x, "C")
    return utility(model, eq)


def welfare_weight(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """What one unit of :func:`welfare_index` costs at eq's prices: pc·vc for C, e·RA0 for U
    (:func:`utility_price`)."""
    c = model.cal
    if model.closure.welfare == "C":
        return dense(model.system, eq.x, "pc", 1.0) * c.vfd[0]
    return utility_price(model, eq) * c.ra0


def factor_supplies(model: CGEModel, eq: Equilibrium) -> tuple[np.ndarray, np.ndarray]:
    """Factors supplied in benchmark units of the endowment, endow·(p/pc)^eta: mobile factors
    [f, r] at full employment and sector-specific ones [f, j, r] (0 where there is none): the
    factor markets' supply terms, evaluated on ``System.factor_supplies``."""
    s = model.system
    kinds = all_kinds(len(s.margin_rows))
    out = {"pf": np.zeros_like(model.cal.evom), "ps": np.zeros_like(model.cal.evom_s)}
    for price, (cells, groups) in s.factor_supplies.items():
        for g in groups:
            values = (
                g.coefficients(eq.theta)
                if g.kind == "const"
                else term_values(kinds[g.kind], g, eq.x, eq.theta)
            )
            out[price][tuple(cells[g.rows].T)] = values
    return out["pf"], out["ps"]


def transfers(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """Net foreign transfers received [r], in value: the variable B under income-share
    imbalances, else the fixed vb in numeraire units times the numeraire's level."""
    s = model.system
    if model.closure.income_share:
        return dense(s, eq.x, "B")
    return s.param("vb", eq.theta) * float(s.param("pnum", eq.theta)[0])


def real_income(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """Income net of foreign transfers deflated by the household price index, (RA − B)/pc."""
    s = model.system
    return (dense(s, eq.x, "RA") - transfers(model, eq)) / dense(s, eq.x, "pc", 1.0)


def welfare(
    model: CGEModel, base: Equilibrium, scen: Equilibrium, blocs: dict[str, str]
) -> pd.DataFrame:
    """Hicksian EV at baseline prices, EV in % of baseline income, and the % change of
    :func:`real_income`, with bloc and WORLD rows.

    With G and I fixed (MODEL.md), EV[r] = pc_b·vc·(C_s − C_b). Where the closure lets G or
    I vary, welfare is the regional household's :func:`utility` U and
    EV[r] = e_b·RA0·(U_s − U_b), e its :func:`utility_price`. Bloc and WORLD rows add EVs,
    baseline incomes, and real incomes at baseline prices (``real_income·pc_b``).
    """
    gain = welfare_index(model, scen) - welfare_index(model, base)
    ev = welfare_weight(model, base) * gain
    pc_b = dense(model.system, base.x, "pc", 1.0)
    real = (real_income(model, base) * pc_b, real_income(model, scen) * pc_b)
    income = dense(model.system, base.x, "RA")
    return welfare_rows(model.cal.sam.regions, blocs, ev, income, real)


def welfare_rows(
    regions: tuple[str, ...],
    blocs: dict[str, str],
    ev: np.ndarray,
    income: np.ndarray,
    real_incomes: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """The welfare table of regional EVs: region, bloc, ev, ev_pct (of ``income``) and, given
    real incomes at baseline prices (baseline, scenario), real_income_pct; then a row per bloc
    and WORLD, which add the EVs, incomes and real incomes of their regions."""
    columns = {"ev": ev, "income": income}
    if real_incomes is not None:
        columns |= {"real_b": real_incomes[0], "real_s": real_incomes[1]}
    sums = list(columns)
    df = pd.DataFrame(
        {"region": regions, "bloc": [blocs.get(r, "nonaligned") for r in regions], **columns}
    )
    agg = []
    for bloc, g in df.groupby("bloc", sort=True):
        agg.append({"region": bloc, "bloc": bloc, **g[sums].sum().to_dict()})
    agg.append({"region": WORLD, "bloc": WORLD, **df[sums].sum().to_dict()})
    out = pd.concat([df, pd.DataFrame(agg)], ignore_index=True)
    out["ev_pct"] = 100.0 * out.ev / out.income
    if real_incomes is None:
        return out[["region", "bloc", "ev", "ev_pct"]]
    out[REAL_INCOME] = _pct(out.real_s.to_numpy(), out.real_b.to_numpy())
    return out[["region", "bloc", "ev", "ev_pct", REAL_INCOME]]


def _pct(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(old != 0, 100.0 * (new / old - 1.0), 0.0)


def _gdp_volume(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """Real GDP [r]: value added at benchmark prices, output minus inputs (double deflation)."""
    s, c = model.system, model.cal
    n = c.n_sectors
    A = s.param("A", eq.theta)
    Y = dense(s, eq.x, "Y")
    output = (c.vom * A * Y).sum(axis=0)
    inputs = np.zeros(len(c.sam.regions))
    for price, tax in (("py", c.sam.tdf0), ("pm", c.sam.tif0)):
        q = purchases(model, eq, price)[:, :n]
        inputs += (q * (1 + tax[:, :n, :])).sum(axis=(0, 1))
    return output - inputs


def purchases(model: CGEModel, eq: Equilibrium, price: str) -> np.ndarray:
    """Every agent's purchases [i, g, r] (g: sectors, then hh, gov, inv) in benchmark units of
    domestic (``py``) or imported (``pm``) goods: the demand templates of the equations,
    evaluated on ``System.purchases``."""
    s, c = model.system, model.cal
    kinds = all_kinds(len(s.margin_rows))
    cells, groups = s.purchases[price]
    out = np.zeros_like(c.dd0)
    for g in groups:
        i, a, r = cells[g.rows].T
        out[i, a, r] = term_values(kinds[g.kind], g, eq.x, eq.theta)
    return out


def factor_demands(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """Firms' factor demands [f, j, r] in benchmark units: the factor demand templates of the
    equations, evaluated on ``System.factor_demands``."""
    s = model.system
    kinds = all_kinds(len(s.margin_rows))
    cells, groups = s.factor_demands
    out = np.zeros_like(model.cal.fd0)
    for g in groups:
        f, j, r = cells[g.rows].T
        out[f, j, r] = term_values(kinds[g.kind], g, eq.x, eq.theta)
    return out


def factor_prices(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """The price [f, j, r] each firm pays for a factor, net of factor tax: the region's pf for
    a mobile factor, the sector's ps for a specific one (1 where the firm uses none)."""
    s = model.system
    pf, ps = dense(s, eq.x, "pf", np.nan), dense(s, eq.x, "ps", np.nan)
    mobile = s.var["pf"].pos >= 0
    prices = np.where(mobile[:, None, :], pf[:, None, :], ps)
    return np.where(np.isnan(prices), 1.0, prices)


def margin_supplies(model: CGEModel, eq: Equilibrium) -> np.ndarray:
    """Supplies to the international margin pools [i, r] in benchmark units of the domestic
    good: the ``msup`` template of the equations, evaluated on ``System.margin_supplies``."""
    s = model.system
    kinds = all_kinds(len(s.margin_rows))
    cells, groups = s.margin_supplies
    out = np.zeros_like(model.cal.vom)
    for g in groups:
        i, r = cells[g.rows].T
        np.add.at(out, (i, r), term_values(kinds[g.kind], g, eq.x, eq.theta))
    return out


def macro(model: CGEModel, base: Equilibrium, scen: Equilibrium) -> pd.DataFrame:
    """Per region, % changes: real GDP, CPI, terms of trade, trade volumes, factor prices."""
    c = model.cal
    sam = c.sam
    fb, fs = route_flows(model, base), route_flows(model, scen)
    w_exp = c.vxmd * (1 + sam.tx0)
    w_imp = c.cif

    def exp_price(f):
        return (w_exp * f["pfob"]).sum(axis=(0, 2)) / w_exp.sum(axis=(0, 2))

    def imp_price(f):
        return (w_imp * f["pcif"]).sum(axis=(0, 1)) / w_imp.sum(axis=(0, 1))

    def exp_volume(f):
        return (c.vxmd * f["shipped"]).sum(axis=(0, 2))

    def imp_volume(f):
        return (c.cif * f["V"]).sum(axis=(0, 1))

    # Terms of trade are undefined (NaN, an empty cell) for a region with no exports or no
    # imports in the data, not an error.
    with np.errstate(divide="ignore", invalid="ignore"):
        tot_b = exp_price(fb) / imp_price(fb)
        tot_s = exp_price(fs) / imp_price(fs)
    s = model.system
    df = pd.DataFrame(
        {
            "region": sam.regions,
            "gdp_real_pct": _pct(_gdp_volume(model, scen), _gdp_volume(model, base)),
            "cpi_pct": _pct(dense(s, scen.x, "pc", 1.0), dense(s, base.x, "pc", 1.0)),
            "tot_pct": _pct(tot_s, tot_b),
            "export_volume_pct": _pct(exp_volume(fs), exp_volume(fb)),
            "import_volume_pct": _pct(imp_volume(fs), imp_volume(fb)),
        }
    )
    pf_b, pf_s = dense(s, base.x, "pf", np.nan), dense(s, scen.x, "pf", np.nan)
    for k, f in enumerate(sam.factors):
        if sam.factor_kind[f] == "mobile":
            df[f"pf_{f}_pct"] = _pct(pf_s[k], pf_b[k])
    return df


def trade(model: CGEModel, base: Equilibrium, scen: Equilibrium) -> pd.DataFrame:
    """Bilateral exports at the exporter's market prices (py·τ·vxmd·V): baseline, new, % change."""
    c = model.cal
    sam = c.sam
    fb, fs = route_flows(model, base), route_flows(model, scen)
    i, s, r = np.nonzero(c.vxmd > 0)

    def value(f):
        return (f["py"][:, :, None] * c.vxmd * f["shipped"])[i, s, r]

    vb, vs = value(fb), value(fs)
    return pd.DataFrame(
        {
            "commodity": np.array(sam.sectors)[i],
            "exporter": np.array(sam.regions)[s],
            "importer": np.array(sam.regions)[r],
            "baseline_value": vb,
            "value": vs,
            "value_pct": _pct(vs, vb),
            "volume_pct": _pct(fs["V"][i, s, r], fb["V"][i, s, r]),
        }
    )


def output(model: CGEModel, base: Equilibrium, scen: Equilibrium) -> pd.DataFrame:
    """Per region and sector, % changes of output volume (vom·A·Y) and its price py."""
    s, c = model.system, model.cal
    sam = c.sam
    j, r = np.nonzero(c.vom > 0)
    q_b = (s.param("A", base.theta) * dense(s, base.x, "Y"))[j, r]
    q_s = (s.param("A", scen.theta) * dense(s, scen.x, "Y"))[j, r]
    return pd.DataFrame(
        {
            "region": np.array(sam.regions)[r],
            "sector": np.array(sam.sectors)[j],
            "output_pct": _pct(q_s, q_b),
            "price_pct": _pct(dense(s, scen.x, "py", 1.0)[j, r], dense(s, base.x, "py", 1.0)[j, r]),
        }
    )
