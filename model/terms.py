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

from fragcge.model.route_wedges import WEDGES, RouteWedge, benchmark_rates, wedges

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


ROUTE_CONSTANTS = ("coef", "esubm", "theta_fob", "open")
"""The parameters every route template takes first; then each route wedge's level and each
wedge's benchmark rate (:func:`route_param_names`), the cif shares θt of the nm margin
services (``theta_t``), and the template's own (``extra``): TARIFF_EXTRA for the revenue of
cif and delivered wedges, QUOTA_EXTRA for the quota condition."""
TARIFF_EXTRA = ("vxmd",)
"""Then the margins' vtwr, one per margin service: the benchmark cif value of a route."""
QUOTA_EXTRA = ("qshare", "qscale", "qmu")


def route_param_names() -> tuple[str, ...]:
    """The named parameters of every route template, in order: :data:`ROUTE_CONSTANTS`,
    the registered route wedges (``route_wedges.WEDGES``), their benchmark rates."""
    return (*ROUTE_CONSTANTS, *WEDGES, *benchmark_rates())


def route_params(p, nm: int, names: tuple[str, ...] | None = None) -> dict:
    """A route template's positional parameters p by name (:func:`route_param_names`, or
    ``names``), with the margins' cif shares as ``theta_t`` and the template's own
    parameters as ``extra``."""
    names = route_param_names() if names is None else names
    named = dict(zip(names, p, strict=False))
    first = len(names)
    named["theta_t"] = [p[first + k] for k in range(nm)]
    named["extra"] = list(p[first + nm :])
    return named


def _ad_valorem(q: dict, on: str, extra=0):
    """(1 + Σ t + extra) and (1 + Σ t0) of the wedges on ``on`` whose rates add (fob, cif);
    the second is None where none has a benchmark rate."""
    level, base = 1, None
    for wedge in wedges(on):
        level = level + q[wedge.name]
        if wedge.benchmark is not None:
            base = (1 if base is None else base) + q[wedge.benchmark]
    return level + extra, base


def fob_price(py, q: dict, rho=0):
    """py·(1 + Σ t_fob + ρ)/(1 + Σ t0_fob): the exporter's price of a route's good at the
    border, relative to benchmark; q are the route's parameters by name
    (:func:`route_params`); ρ is the export-tax equivalent of a binding export quota (a
    variable on quota routes). The fob wedges are the export taxes tx and any registered
    on "fob"."""
    level, base = _ad_valorem(q, "fob", rho)
    return py * level if base is None else py * level / base


def cif_price(py, pt, q: dict, rho=0):
    """θfob·pfob + Σ θt·pt: a route's cif price relative to benchmark."""
    world = q["theta_fob"] * fob_price(py, q, rho)
    for share, price in zip(q["theta_t"], pt, strict=True):
        world = world + share * price
    return world


def iceberg(q: dict):
    """τ: goods shipped per unit delivered, the product of the iceberg wedges."""
    factors = [q[wedge.name] for wedge in wedges("iceberg")]
    out = factors[0]
    for factor in factors[1:]:
        out = out * factor
    return out


def delivered_price(py, pt, q: dict, rho=0):
    """τ·cif·(1 + Σ t_cif)/(1 + Σ t0_cif)·Π (1 + t_del)/(1 + t0_del): a route's delivered
    price relative to benchmark. The cif wedges are the tariffs tm (their rates add), the
    delivered wedges multiply on top in their order, e.g. tn, the tariff equivalent of a
    non-tariff barrier whose rent goes to the importer (0 in the data)."""
    price = iceberg(q) * cif_price(py, pt, q, rho)
    level, base = _ad_valorem(q, "cif")
    price = price * level if base is None else price * level / base
    for wedge in wedges("delivered"):
        price = price * (1 + q[wedge.name])
        if wedge.benchmark is not None:
            price = price / (1 + q[wedge.benchmark])
    return price


def revenue_kind(wedge: RouteWedge) -> str:
    """The template of a route wedge's revenue (its owner's income term)."""
    return f"revenue_{wedge.name}_route"


def route_kinds(nm: int) -> dict[str, Kind]:
    """Templates on a trade route (i, s → r), for a model with nm margin services and the
    route wedges registered now.

    ``open`` is 1, or 0 on a banned route: the route's CES term and every flow on it
    vanish, with the other shares left as they are (the σ → ∞ price limit). Values between
    are the same economy with an iceberg wedge w = open^(1/(1−σ)) on the route, so a ban can
    be reached in steps: shipments, and the taxes and rents on them, scale by open.

    Every template has a quota variant, named with ``_q``, whose last variable is the quota
    wedge ρ of the route; ``fb_route_q`` is the quota's complementarity condition and
    ``quota_rent_route_q`` the rent ρ·py·vxmd per unit shipped, the exporter's.
    """
    names = route_param_names()

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
        """py·(1 + Σ t_fob)·vxmd + Σ pt·vtwr: cif value of a benchmark unit (TARIFF_EXTRA,
        vtwr)."""
        vxmd, *vtwr = q["extra"]
        value = x[2] * _ad_valorem(q, "fob")[0] * vxmd
        for k in range(nm):
            value = value + x[3 + k] * vtwr[k]
        return value

    def vol_route(x, q, ops, rho):
        """c·open·τ·V: goods or margins shipped on the route."""
        return q["coef"] * q["open"] * iceberg(q) * volume(x, q, rho)

    def fob_revenue(wedge):
        def revenue(x, q, ops, rho):
            """c·t·py·open·τ·V: the revenue of a fob wedge (vxmd in c)."""
            rate = q["coef"] * q[wedge.name] * x[2]
            return rate * q["open"] * iceberg(q) * volume(x, q, rho)

        return revenue

    def cif_revenue(wedge):
        def revenue(x, q, ops, rho):
            """c·t·open·τ·V·(py·(1 + Σ t_fob)·vxmd + Σ pt·vtwr): a cif wedge's revenue."""
            shipped = volume(x, q, rho)
            return q["coef"] * q[wedge.name] * q["open"] * iceberg(q) * shipped * cif_value(x, q)

        return revenue

    def delivered_revenue(wedge):
        def revenue(x, q, ops, rho):
            """c·t·(1 + Σ t_cif)·Π(1 + t_del before it)·open·τ·V·cif value: the revenue or
            rent of a delivered wedge, on the cif value with the wedges before it."""
            base = _ad_valorem(q, "cif")[0]
            for before in wedges("delivered"):
                if before.name == wedge.name:
                    break
                base = base * (1 + q[before.name])
            shipped = q["open"] * iceberg(q) * volume(x, q, rho)
            return q["coef"] * q[wedge.name] * base * shipped * cif_value(x, q)

        return revenue

    def quota_rent_route(x, q, ops, rho):
        """c·ρ·py·open·τ·V: the exporter's quota rent (vxmd in c)."""
        return q["coef"] * rho * x[2] * q["open"] * iceberg(q) * volume(x, q, rho)

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

    # A route on its way to a ban (0 < open < 1) carries the iceberg wedge w = open^(1/(1−σm)):
    # its CES term open·(pdel/pm)^(1−σm) is (w·pdel/pm)^(1−σm). The two templates below are
    # what follows from w, for reports and the welfare decomposition (in no equation).

    def delivered_route(x, q, ops, rho):
        """D = w^(−σm)·V = open^(σm/(σm−1))·V: the delivered volume the importer's CES sees
        (V on an open route, 0 on a closed one)."""
        return q["open"] ** (q["esubm"] / (q["esubm"] - 1)) * volume(x, q, rho)

    def ban_route(x, q, ops, rho):
        """τ·V/(1−σm) = D·τ·dw/d(open): the change of the goods shipped per unit delivered,
        κ = τ·w, times D, per unit of d(open) (σm ≠ 1: a ban needs σm > 1)."""
        return iceberg(q) * volume(x, q, rho) / (1 - q["esubm"])

    base = len(names) + nm
    with_value = base + len(TARIFF_EXTRA) + nm
    shapes = {
        "fob_route": (fob_route, 3 + nm, base),
        "cif_route": (cif_route, 3 + nm, base),
        "volume_route": (volume_route, 3 + nm, base),
        "delivered_route": (delivered_route, 3 + nm, base),
        "ban_route": (ban_route, 3 + nm, base),
        "ces_route": (ces_route, 2 + nm, base),
        "cd_route": (cd_route, 2 + nm, base),
        "vol_route": (vol_route, 3 + nm, base),
    }
    revenues = {"fob": fob_revenue, "cif": cif_revenue, "delivered": delivered_revenue}
    for wedge in WEDGES.values():
        if wedge.on in revenues:
            n_p = base if wedge.on == "fob" else with_value
            shapes[revenue_kind(wedge)] = (revenues[wedge.on](wedge), 3 + nm, n_p)
    kinds = {}
    for name, (f, nx, n_p) in shapes.items():
        kinds[name] = Kind(
            name, nx, n_p, lambda x, p, ops, f=f: f(x, route_params(p, nm, names), ops, 0)
        )
        kinds[name + "_q"] = Kind(
            name + "_q",
            nx + 1,
            n_p,
            lambda x, p, ops, f=f, nx=nx: f(x, route_params(p, nm, names), ops, x[nx]),
        )
    kinds["quota_rent_route_q"] = Kind(
        "quota_rent_route_q",
        4 + nm,
        base,
        lambda x, p, ops: quota_rent_route(x, route_params(p, nm, names), ops, x[3 + nm]),
    )
    kinds["fb_route_q"] = Kind(
        "fb_route_q",
        4 + nm,
        base + len(QUOTA_EXTRA),
        lambda x, p, ops: fb_route(x, route_params(p, nm, names), ops, x[3 + nm]),
    )
    return kinds


BASIC_KINDS = {
    "ces": Kind("ces", 2, 3, _ces),
    "cd": Kind("cd", 2, 3, _cd),
    "lin": Kind("lin", 1, 1, _lin),
    "lin2": Kind("lin2", 2, 1, _lin2),
    "msup": Kind("msup", 3, 1, _msup),
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
