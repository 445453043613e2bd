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


def dense(system: System, x: np.ndarray, name: str, fill: float = 0.0) -> np.ndarray:
    """A variable block as a dense array over its index space (fill where it does not exist)."""
    b = system.var[name]
    out = np.full(b.pos.shape, fill)
    has = b.pos >= 0
    out[has] = x[b.pos[has]]
    return out


def route_flows(model: CGEModel, eq: Equilibrium) -> dict[str, np.ndarray]:
    """Delivered volumes V[i,s,r], shipped goods, fob and cif price indices on each route.

    ``volume`` is M·(pm/pdel)^σm, the volume of an open route per unit of benchmark flow;
    it and the prices are the route templates of ``model/terms.py`` evaluated on
    ``System.route_groups``, 0 where there is no route.

    On a route being banned (0 < open < 1, an iceberg wedge w = open^(1/(1−σ)) on the way to
    the ban), shipments are open·τ·V and the delivered volume is w^(−σ)·V; both are 0 once
    the route is closed.
    """
    s, c = model.system, model.cal
    kinds = all_kinds(len(s.margin_rows))
    out = {k: np.zeros(c.vxmd.shape) for k in ("volume", "shipped", "pfob", "pcif")}
    templates = {"volume": "volume_route", "shipped": "vol_route", "pfob": "fob_route"}
    templates["pcif"] = "cif_route"
    for g in s.route_groups:
        i, sr, r = s.routes[g.rows].T
        suffix = "_q" if g.kind == "route_q" else ""
        for name, kind in templates.items():
            out[name][i, sr, r] = term_values(kinds[kind + suffix], g, eq.x, eq.theta)
    V = out["volume"]
    sigma = s.esub("esubm", eq.theta)[:, None, None]
    trade_open = s.param("trade_open", eq.theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        delivered = np.where(trade_open < 1, trade_open ** (sigma / (sigma - 1)) * V, V)
    return {**out, "V": delivered, "py": dense(s, eq.x, "py", 1.0)}


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


def welfare(
    model: CGEModel, base: Equilibrium, scen: Equilibrium, blocs: dict[str, str]
) -> pd.DataFrame:
    """Hicksian EV at baseline prices, EV in % of baseline income, with bloc and WORLD rows.

    With G and I fixed (MODEL.md), EV[r] = pc_b·vc·(C_s − C_b). Where the closure lets G or
    I vary, welfare is the regional household's :func:`utility` U and
    EV[r] = e_b·RA0·(U_s − U_b), e its :func:`utility_price`.
    """
    s, c = model.system, model.cal
    regions = c.sam.regions
    ra_b = dense(s, base.x, "RA")
    if model.closure.welfare == "C":
        ev = (
            dense(s, base.x, "pc", 1.0) * c.vfd[0] * (dense(s, scen.x, "C") - dense(s, base.x, "C"))
        )
    else:
        gain = utility(model, scen) - utility(model, base)
        ev = utility_price(model, base) * c.ra0 * gain
    rows = [
        {"region": r, "bloc": blocs.get(r, "nonaligned"), "ev": ev[k], "income": ra_b[k]}
        for k, r in enumerate(regions)
    ]
    df = pd.DataFrame(rows)
    agg = []
    for bloc, g in df.groupby("bloc", sort=True):
        agg.append({"region": bloc, "bloc": bloc, "ev": g.ev.sum(), "income": g.income.sum()})
    agg.append({"region": WORLD, "bloc": WORLD, "ev": df.ev.sum(), "income": df.income.sum()})
    out = pd.concat([df, pd.DataFrame(agg)], ignore_index=True)
    out["ev_pct"] = 100.0 * out.ev / out.income
    return out[["region", "bloc", "ev", "ev_pct"]]


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
