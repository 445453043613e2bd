"""Term templates: every equation of the model is a sum of these terms plus a constant.

A template is a function ``f(x, q, ops)`` of a few variables ``x`` and its parameters by
name ``q`` (:class:`Kind` declares the names; ``q["coef"]`` is always the term's
coefficient). The same function builds the Pyomo expression
(``ops`` = Pyomo's functions, ``x`` = Pyomo variables), the CasADi expression whose value
and gradient the solver's evaluator runs over all instances (``ops`` = casadi;
``model/programs.py``) and the values reports need (numpy arrays). A template may use
arithmetic, ``**`` and ``ops.log``, ``ops.exp`` and ``ops.sqrt``, and no branch on a value.
Writing each equation once, as data, is what keeps the Pyomo model and the evaluator in
step.

Route templates take the margin prices ``pt`` as trailing variables and their cif shares
``theta_t1``… as parameters; ``nm`` (the number of margin services) is fixed per model.
Demand templates (:data:`DEMAND_KINDS`) are generated per shape of the path of nests from an
agent's top price to what it buys (``model/nests.py`` declares the nests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fragcge.model.route_wedges import WEDGES, RouteWedge, benchmark_rates, wedges

Ops = Any


NamedTemplate = Callable[[Sequence[Any], dict[str, Any], Ops], Any]


@dataclass(frozen=True)
class Kind:
    """A term template: its number of variables, its parameters by name (``coef`` first, the
    term's coefficient) and the function ``template(x, q, ops)``, which reads its parameters
    from ``q`` by name.

    The backends call :meth:`f` with the parameters in the order of ``params``; equation
    blocks give them by name (:meth:`columns`), so neither side depends on a position.
    """

    name: str
    nx: int
    params: tuple[str, ...]
    template: NamedTemplate

    @property
    def np(self) -> int:
        """Number of parameters, the coefficient included."""
        return len(self.params)

    def f(self, x: Sequence[Any], p: Sequence[Any], ops: Ops) -> Any:
        """The term at variables x and parameters p (in the order of ``params``)."""
        return self.template(x, dict(zip(self.params, p, strict=True)), ops)

    def columns(self, **named: Any) -> list[Any]:
        """The parameter columns of an equation block's terms, given by name, in the order of
        ``params`` (the coefficient is given apart: ``Terms.add``'s ``coef``)."""
        wanted = self.params[1:]
        if set(named) != set(wanted):
            raise ValueError(f"template {self.name} takes {wanted}, got {tuple(named)}")
        return [named[name] for name in wanted]


def _ces(x, q, ops):
    """θ·((p_k/(P·s))^e − 1)/e with e = 1−σ: a child's term of a CES price index.

    Summed over children (Σθ = 1) this is (Σ θ (p_k/(P·s))^e − 1)/e, the unit-cost equation
    divided by the parent price and by e, so it tends to the Cobb-Douglas form as σ → 1.
    σ is a parameter, not a constant, so that elasticities change without a rebuild.
    """
    e = 1 - q["sigma"]
    return q["coef"] * ((x[0] / (x[1] * q["scale"])) ** e - 1) / e


def _cd(x, q, ops):
    """θ·log(p_k / (P·s)): one child's term of a Cobb-Douglas price index."""
    return q["coef"] * ops.log(x[0] / (x[1] * q["scale"]))


def _lin(x, q, ops):
    """c·v."""
    return q["coef"] * x[0]


def _lin2(x, q, ops):
    """c·u·v."""
    return q["coef"] * x[0] * x[1]


def _msup(x, q, ops):
    """c·YT·pt/py: a region's supply to the global margin pool (Cobb-Douglas)."""
    return q["coef"] * x[0] * x[1] / x[2]


def _supply(x, q, ops):
    """c·(p_f/pc)^η: a factor's supply at its real price (elastic supply)."""
    return q["coef"] * (x[0] / x[1]) ** q["eta"]


def _supply_val(x, q, ops):
    """The same supply times its price p_f (factor income)."""
    return _supply(x, q, ops) * x[0]


DEMANDERS = ("fac", "fin", "fix", "prod")
"""Who demands, in a demand template's name: firms' factors (``fac``) and goods (``prod``),
final agents whose activity is a variable (``fin``) or a parameter in the coefficient
(``fix``, G and I where the closure fixes them)."""
MAX_LEVELS = 6
"""The deepest path of nests a demand template spans."""


def sigma_names(levels: int) -> tuple[str, ...]:
    """The elasticities of a demand path's levels, from the top: sigma1, sigma2, …"""
    return tuple(f"sigma{k + 1}" for k in range(levels))


def demand_name(who: str, levels: int, scaled: bool, value: bool = False) -> str:
    """The demand template of a path of ``levels`` nests, e.g. ``dem_prod1``, ``dem_fac2s_val``
    (``s``: the top price is scaled by productivity; ``_val``: times the leaf's price)."""
    return f"dem_{who}{levels}{'s' if scaled else ''}{'_val' if value else ''}"


def _demand_kind(who: str, levels: int, scaled: bool, value: bool) -> Kind:
    """c·X·Π_l (P_(l−1)/P_l)^σ_l: an agent's compensated demand along a path of nests.

    x = [X, P_0, …, P_levels] (no X for ``fix``: its level is in the coefficient), P_0 the
    price at the top of the path (times the parameter ``scale`` when scaled: py·A for a
    firm) and P_levels the leaf's price; each level's factor is the ratio of a nest's price to
    its child's to the power of the nest's elasticity. ``value`` multiplies by the leaf's
    price (a tax base).
    """
    activity = who != "fix"
    sigmas = sigma_names(levels)

    def demand(x, q, ops):
        prices = x[1:] if activity else x
        v = q["coef"] * x[0] if activity else q["coef"]
        top = prices[0] * q["scale"] if scaled else prices[0]
        for k, sigma in enumerate(sigmas):
            v = v * ((top if k == 0 else prices[k]) / prices[k + 1]) ** q[sigma]
        return v * prices[-1] if value else v

    params = ("coef", "scale", *sigmas) if scaled else ("coef", *sigmas)
    name = demand_name(who, levels, scaled, value)
    return Kind(name, levels + 1 + activity, params, demand)


ROUTE_CONSTANTS = ("coef", "esubm", "theta_fob", "open")
"""The parameters every route template takes first; then each route wedge's level and each
wedge's benchmark rate (:func:`route_param_names`), the cif shares θt of the nm margin
services (``theta_t``), and the template's own (``extra``): TARIFF_EXTRA for the revenue of
cif and delivered wedges, QUOTA_EXTRA for the quota condition."""
TARIFF_EXTRA = ("vxmd",)
"""Then the margins' vtwr, one per margin service: the benchmark cif value of a route."""
QUOTA_EXTRA = ("qshare", "qscale", "qmu")


def route_param_names(nm: int, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A route template's parameter names: :data:`ROUTE_CONSTANTS`, the registered route
    wedges (``route_wedges.WEDGES``), their benchmark rates, the nm margins' cif shares
    ``theta_t1``…, then the template's own ``extra``."""
    return (
        *ROUTE_CONSTANTS,
        *WEDGES,
        *benchmark_rates(),
        *(f"theta_t{k + 1}" for k in range(nm)),
        *extra,
    )


def route_params(q: dict, nm: int, extra: tuple[str, ...] = ()) -> dict:
    """A route template's parameters by name, with the margins' cif shares gathered as the
    list ``theta_t`` and the template's own parameters (named ``extra``) as the list ``extra``."""
    named = dict(q)
    named["theta_t"] = [q[f"theta_t{k + 1}"] for k in range(nm)]
    named["extra"] = [q[name] for name in extra]
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

    tariff_extra = (*TARIFF_EXTRA, *(f"vtwr{k + 1}" for k in range(nm)))
    shapes = {
        "fob_route": (fob_route, 3 + nm, ()),
        "cif_route": (cif_route, 3 + nm, ()),
        "volume_route": (volume_route, 3 + nm, ()),
        "delivered_route": (delivered_route, 3 + nm, ()),
        "ban_route": (ban_route, 3 + nm, ()),
        "ces_route": (ces_route, 2 + nm, ()),
        "cd_route": (cd_route, 2 + nm, ()),
        "vol_route": (vol_route, 3 + nm, ()),
    }
    revenues = {"fob": fob_revenue, "cif": cif_revenue, "delivered": delivered_revenue}
    for wedge in WEDGES.values():
        if wedge.on in revenues:
            extra = () if wedge.on == "fob" else tariff_extra
            shapes[revenue_kind(wedge)] = (revenues[wedge.on](wedge), 3 + nm, extra)
    kinds = {}
    for name, (f, nx, extra) in shapes.items():
        names = route_param_names(nm, extra)
        kinds[name] = Kind(
            name, nx, names, lambda x, q, ops, f=f, e=extra: f(x, route_params(q, nm, e), ops, 0)
        )
        kinds[name + "_q"] = Kind(
            name + "_q",
            nx + 1,
            names,
            lambda x, q, ops, f=f, nx=nx, e=extra: f(x, route_params(q, nm, e), ops, x[nx]),
        )
    kinds["quota_rent_route_q"] = Kind(
        "quota_rent_route_q",
        4 + nm,
        route_param_names(nm),
        lambda x, q, ops: quota_rent_route(x, route_params(q, nm), ops, x[3 + nm]),
    )
    kinds["fb_route_q"] = Kind(
        "fb_route_q",
        4 + nm,
        route_param_names(nm, QUOTA_EXTRA),
        lambda x, q, ops: fb_route(x, route_params(q, nm, QUOTA_EXTRA), ops, x[3 + nm]),
    )
    return kinds


BASIC_KINDS = {
    "ces": Kind("ces", 2, ("coef", "sigma", "scale"), _ces),
    "cd": Kind("cd", 2, ("coef", "sigma", "scale"), _cd),
    "lin": Kind("lin", 1, ("coef",), _lin),
    "lin2": Kind("lin2", 2, ("coef",), _lin2),
    "msup": Kind("msup", 3, ("coef",), _msup),
    "supply": Kind("supply", 2, ("coef", "eta"), _supply),
    "supply_val": Kind("supply_val", 2, ("coef", "eta"), _supply_val),
}
DEMAND_KINDS = {
    kind.name: kind
    for who in DEMANDERS
    for levels in range(MAX_LEVELS + 1)
    for scaled in ((False, True) if levels else (False,))
    for value in (False, True)
    for kind in (_demand_kind(who, levels, scaled, value),)
}
"""Every demand template: per demander, path depth, scaling of the top price and value."""


def all_kinds(nm: int) -> dict[str, Kind]:
    """Every template of a model with nm margin services."""
    return {**BASIC_KINDS, **DEMAND_KINDS, **route_kinds(nm)}
