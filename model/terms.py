"""Term templates: every equation of the model is a sum of these terms plus a constant.

A template is a function ``f(x, p, ops)`` of a few variables ``x`` and parameters ``p``;
``p[0]`` is always the term's coefficient. The same function builds the Pyomo expression
(``ops`` = Pyomo's functions, ``x`` = Pyomo variables) and the CasADi function the
evaluator maps over all instances of the template (``ops`` = casadi). Writing each
equation once, as data, is what keeps the Pyomo model and the evaluator in step.

Route templates take the margin prices ``pt`` as trailing variables and their cif shares
``θt`` as trailing parameters; ``nm`` (the number of margin services) is fixed per model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Ops = Any
Template = Callable[[Sequence[Any], Sequence[Any], Ops], Any]


@dataclass(frozen=True)
class Kind:
    """A term template with its number of variables and parameters."""

    name: str
    nx: int
    np: int
    f: Template


def _ces(x, p, ops):
    """θ·((p_k/(P·s))^e − 1)/e with e = 1−σ: a child's term of a CES price index, p = [θ, σ, s].

    Summed over children (Σθ = 1) this is (Σ θ (p_k/(P·s))^e − 1)/e, the unit-cost equation
    divided by the parent price and by e, so it tends to the Cobb-Douglas form as σ → 1.
    σ is a parameter, not a constant, so that elasticities change without a rebuild.
    """
    e = 1 - p[1]
    return p[0] * ((x[0] / (x[1] * p[2])) ** e - 1) / e


def _cd(x, p, ops):
    """θ·log(p_k / (P·s)): one child's term of a Cobb-Douglas price index."""
    return p[0] * ops.log(x[0] / (x[1] * p[2]))


def _lin(x, p, ops):
    """c·v."""
    return p[0] * x[0]


def _lin2(x, p, ops):
    """c·u·v."""
    return p[0] * x[0] * x[1]


def _msup(x, p, ops):
    """c·YT·pt/py: a region's supply to the global margin pool (Cobb-Douglas)."""
    return p[0] * x[0] * x[1] / x[2]


def _supply(x, p, ops):
    """c·(p_f/pc)^η: a factor's supply at its real price (elastic supply), p = [c, η]."""
    return p[0] * (x[0] / x[1]) ** p[1]


def _supply_val(x, p, ops):
    """The same supply times its price p_f (factor income)."""
    return _supply(x, p, ops) * x[0]


def _dem_prod(x, p, ops):
    """c·Y·(py·A/pint)^σt·(pint/pa)^σc·(pa/p_i)^σd: a firm's demand for a domestic/imported good."""
    y, py, pint, pa, pi = x
    return p[0] * y * (py * p[1] / pint) ** p[2] * (pint / pa) ** p[3] * (pa / pi) ** p[4]


def _dem_prod_val(x, p, ops):
    """The same demand times its price p_i (purchase tax base)."""
    return _dem_prod(x, p, ops) * x[4]


def _dem_prod_flat(x, p, ops):
    """c·Y·(py·A/pa)^σ·(pa/p_i)^σd: a firm's demand when esubt = esubc = σ (one CES nest)."""
    y, py, pa, pi = x
    return p[0] * y * (py * p[1] / pa) ** p[2] * (pa / pi) ** p[3]


def _dem_prod_flat_val(x, p, ops):
    """The same demand times its price p_i."""
    return _dem_prod_flat(x, p, ops) * x[3]


def _dem_prod_leo(x, p, ops):
    """c·Y·(pa/p_i)^σd: a firm's demand when esubt = esubc = 0 (Leontief above the Armington nest).

    A separate template rather than zero exponents, so that the Jacobian has no structural
    entries for py and pint: they would couple every sector of a region in the KKT matrix.
    """
    y, pa, pi = x
    return p[0] * y * (pa / pi) ** p[1]


def _dem_prod_leo_val(x, p, ops):
    """The same demand times its price p_i."""
    return _dem_prod_leo(x, p, ops) * x[2]


def _dem_fac_leo(x, p, ops):
    """c·Y·(pva/pf)^σva: a firm's factor demand when esubt = 0."""
    y, pva, pf = x
    return p[0] * y * (pva / pf) ** p[1]


def _dem_fac_leo_val(x, p, ops):
    """The same factor demand times its price."""
    return _dem_fac_leo(x, p, ops) * x[2]


def _dem_fac(x, p, ops):
    """c·Y·(py·A/pva)^σt·(pva/pf)^σva: a firm's demand for a factor."""
    y, py, pva, pf = x
    return p[0] * y * (py * p[1] / pva) ** p[2] * (pva / pf) ** p[3]


def _dem_fac_val(x, p, ops):
    """The same factor demand times its price (factor tax base)."""
    return _dem_fac(x, p, ops) * x[3]


def _dem_fin(x, p, ops):
    """c·Q·(P/pa)^σf·(pa/p_i)^σd: a final agent's demand, Q its activity and P its price index."""
    q, pf, pa, pi = x
    return p[0] * q * (pf / pa) ** p[1] * (pa / pi) ** p[2]


def _dem_fin_val(x, p, ops):
    """The same final demand times its price p_i."""
    return _dem_fin(x, p, ops) * x[3]


def _dem_fix(x, p, ops):
    """c·(P/pa)^σf·(pa/p_i)^σd: demand of a final agent whose activity is a parameter (in c)."""
    pf, pa, pi = x
    return p[0] * (pf / pa) ** p[1] * (pa / pi) ** p[2]


def _dem_fix_val(x, p, ops):
    """The same demand times its price p_i."""
    return _dem_fix(x, p, ops) * x[2]


ROUTE_PARAMS = ("coef", "esubm", "tau", "tx", "tm", "theta_fob", "tx0", "tm0", "tn", "open")
"""The parameters every route template takes, in this order; the cif shares θt of the nm
margin services follow (``theta_t``), then the template's own (``extra``): TARIFF_EXTRA for
tariff revenue and rents, QUOTA_EXTRA for the quota condition."""
TARIFF_EXTRA = ("vxmd",)
"""Then the margins' vtwr, one per margin service: the benchmark cif value of a route."""
QUOTA_EXTRA = ("qshare", "qscale", "qmu")


def route_params(p, nm: int) -> dict:
    """A route template's positional parameters p by name (ROUTE_PARAMS), with the margins'
    cif shares as ``theta_t`` and the template's own parameters as ``extra``."""
    named = dict(zip(ROUTE_PARAMS, p, strict=False))
    first = len(ROUTE_PARAMS)
    named["theta_t"] = [p[first + k] for k in range(nm)]
    named["extra"] = list(p[first + nm :])
    return named


def fob_price(py, q: dict, rho=0):
    """py·(1+tx+ρ)/(1+tx0): the exporter's price of a route's good at the border, relative to
    benchmark; q are the route's parameters by name (:func:`route_params`); ρ is the
    export-tax equivalent of a binding export quota (a variable on quota routes)."""
    return py * (1 + q["tx"] + rho) / (1 + q["tx0"])


def cif_price(py, pt, q: dict, rho=0):
    """θfob·py·(1+tx+ρ)/(1+tx0) + Σ θt·pt: a route's cif price relative to benchmark."""
    world = q["theta_fob"] * fob_price(py, q, rho)
    for share, price in zip(q["theta_t"], pt, strict=True):
        world = world + share * price
    return world


def delivered_price(py, pt, q: dict, rho=0):
    """τ·cif·(1+tm)/(1+tm0)·(1+tn): a route's delivered price relative to benchmark; tn is the
    tariff-equivalent of a non-tariff barrier whose rent goes to the importer (0 in the data)."""
    return q["tau"] * cif_price(py, pt, q, rho) * (1 + q["tm"]) / (1 + q["tm0"]) * (1 + q["tn"])


def route_kinds(nm: int) -> dict[str, Kind]:
    """Templates on a trade route (i, s → r), for a model with nm margin services.

    ``open`` is 1, or 0 on a banned route: the route's CES term and every flow on it
    vanish, with the other shares left as they are (the σ → ∞ price limit). Values between
    are the same economy with an iceberg wedge w = open^(1/(1−σ)) on the route, so a ban can
    be reached in steps: shipments, and the taxes and rents on them, scale by open.

    Every template has a quota variant, named with ``_q``, whose last variable is the quota
    wedge ρ of the route; ``fb_route_q`` is the quota's complementarity condition.
    """

    def ces_route(x, q, ops, rho):
        """θ_s·(open·(pdel/pm)^e − 1)/e, e = 1−σm: one source's term of the import price index."""
        e = 1 - q["esubm"]
        pdel = delivered_price(x[1], x[2 : 2 + nm], q, rho)
        return q["coef"] * (q["open"] * (pdel / x[0]) ** e - 1) / e

    def cd_route(x, q, ops, rho):
        """θ_s·log(pdel/pm): the Cobb-Douglas import price index (a ban needs esubm > 1)."""
        return q["coef"] * ops.log(delivered_price(x[1], x[2 : 2 + nm], q, rho) / x[0])

    def volume(x, q, rho):
        """V = M·(pm/pdel)^σm: the delivered volume per unit of benchmark flow (route open)."""
        m, pm, py = x[0], x[1], x[2]
        return m * (pm / delivered_price(py, x[3 : 3 + nm], q, rho)) ** q["esubm"]

    def cif_value(x, q):
        """py·(1+tx)·vxmd + Σ pt·vtwr: cif value of a benchmark unit (TARIFF_EXTRA, vtwr)."""
        vxmd, *vtwr = q["extra"]
        value = x[2] * (1 + q["tx"]) * vxmd
        for k in range(nm):
            value = value + x[3 + k] * vtwr[k]
        return value

    def vol_route(x, q, ops, rho):
        """c·open·τ·V: goods or margins shipped on the route."""
        return q["coef"] * q["open"] * q["tau"] * volume(x, q, rho)

    def tariff_route(x, q, ops, rho):
        """c·tm·open·τ·V·(py·(1+tx)·vxmd + Σ pt·vtwr): tariff revenue of the importer."""
        shipped = volume(x, q, rho)
        return q["coef"] * q["tm"] * q["open"] * q["tau"] * shipped * cif_value(x, q)

    def rent_route(x, q, ops, rho):
        """c·tn·(1+tm)·open·τ·V·(py·(1+tx)·vxmd + Σ pt·vtwr): the importer's barrier rent."""
        shipped = q["open"] * q["tau"] * volume(x, q, rho)
        return q["coef"] * q["tn"] * (1 + q["tm"]) * shipped * cif_value(x, q)

    def xtax_route(x, q, ops, rho):
        """c·(tx + ρ)·py·open·τ·V: export tax revenue and quota rent of the exporter."""
        rate = q["coef"] * (q["tx"] + rho) * x[2]
        return rate * q["open"] * q["tau"] * volume(x, q, rho)

    def fb_route(x, q, ops, rho):
        """ρ + b − sqrt(ρ² + b² + μ), b = share − V/V_b: ρ ≥ 0 ⊥ cap − V ≥ 0, smoothed.

        QUOTA_EXTRA = [share, V_b, μ]; the cap on the delivered volume is share·V_b.
        """
        share, scale, mu = q["extra"]
        b = share - volume(x, q, rho) / scale
        return rho + b - ops.sqrt(rho**2 + b**2 + mu)

    def fob_route(x, q, ops, rho):
        """The route's fob price (a quantity for reports, in no equation)."""
        return fob_price(x[2], q, rho)

    def cif_route(x, q, ops, rho):
        """The route's cif price (a quantity for reports, in no equation)."""
        return cif_price(x[2], x[3 : 3 + nm], q, rho)

    def volume_route(x, q, ops, rho):
        """V, the route's delivered volume per unit of benchmark flow (for reports)."""
        return volume(x, q, rho)

    base = len(ROUTE_PARAMS) + nm
    shapes = {
        "fob_route": (fob_route, 3 + nm, base),
        "cif_route": (cif_route, 3 + nm, base),
        "volume_route": (volume_route, 3 + nm, base),
        "ces_route": (ces_route, 2 + nm, base),
        "cd_route": (cd_route, 2 + nm, base),
        "vol_route": (vol_route, 3 + nm, base),
        "tariff_route": (tariff_route, 3 + nm, base + len(TARIFF_EXTRA) + nm),
        "rent_route": (rent_route, 3 + nm, base + len(TARIFF_EXTRA) + nm),
        "xtax_route": (xtax_route, 3 + nm, base),
    }
    kinds = {}
    for name, (f, nx, n_p) in shapes.items():
        kinds[name] = Kind(name, nx, n_p, lambda x, p, ops, f=f: f(x, route_params(p, nm), ops, 0))
        kinds[name + "_q"] = Kind(
            name + "_q",
            nx + 1,
            n_p,
            lambda x, p, ops, f=f, nx=nx: f(x, route_params(p, nm), ops, x[nx]),
        )
    kinds["fb_route_q"] = Kind(
        "fb_route_q",
        4 + nm,
        base + len(QUOTA_EXTRA),
        lambda x, p, ops: fb_route(x, route_params(p, nm), ops, x[3 + nm]),
    )
    return kinds


BASIC_KINDS = {
    "ces": Kind("ces", 2, 3, _ces),
    "cd": Kind("cd", 2, 3, _cd),
    "lin": Kind("lin", 1, 1, _lin),
    "lin2": Kind("lin2", 2, 1, _lin2),
    "msup": Kind("msup", 3, 1, _msup),
    "supply": Kind("supply", 2, 2, _supply),
    "supply_val": Kind("supply_val", 2, 2, _supply_val),
    "dem_prod": Kind("dem_prod", 5, 5, _dem_prod),
    "dem_prod_val": Kind("dem_prod_val", 5, 5, _dem_prod_val),
    "dem_prod_flat": Kind("dem_prod_flat", 4, 4, _dem_prod_flat),
    "dem_prod_flat_val": Kind("dem_prod_flat_val", 4, 4, _dem_prod_flat_val),
    "dem_prod_leo": Kind("dem_prod_leo", 3, 2, _dem_prod_leo),
    "dem_prod_leo_val": Kind("dem_prod_leo_val", 3, 2, _dem_prod_leo_val),
    "dem_fac": Kind("dem_fac", 4, 4, _dem_fac),
    "dem_fac_leo": Kind("dem_fac_leo", 3, 2, _dem_fac_leo),
    "dem_fac_leo_val": Kind("dem_fac_leo_val", 3, 2, _dem_fac_leo_val),
    "dem_fac_val": Kind("dem_fac_val", 4, 4, _dem_fac_val),
    "dem_fin": Kind("dem_fin", 4, 3, _dem_fin),
    "dem_fin_val": Kind("dem_fin_val", 4, 3, _dem_fin_val),
    "dem_fix": Kind("dem_fix", 3, 3, _dem_fix),
    "dem_fix_val": Kind("dem_fix_val", 3, 3, _dem_fix_val),
}


def all_kinds(nm: int) -> dict[str, Kind]:
    """Every template of a model with nm margin services."""
    return {**BASIC_KINDS, **route_kinds(nm)}
