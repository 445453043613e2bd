"""The route wedges: every model parameter an instrument puts between exporter and importer.

A route wedge is a mutable parameter over the routes [i, s, r] (exporter s, importer r),
declared once here by what it acts on, who receives its revenue and the welfare column of
that revenue. The ShockSet's route levels (:mod:`fragcge.model.shocks`), the route
templates' parameters and prices (:mod:`fragcge.model.terms`), their parameter columns
(``equations.route_params``), the revenue terms of regional income (``equations.inc_RA``)
and the welfare decomposition's route wedges (:mod:`fragcge.model.decomposition`) are all
made from :data:`WEDGES`. How the wedges of each kind stack (docs/model.md, "Route wedges"):

- ``fob``, on the exporter's price: the rates add, with the quota wedge ρ,
  pfob = py·(1 + Σ t + ρ)/(1 + Σ t0); each collects t·py·vxmd per unit shipped;
- ``cif``, on the importer's cif value: the rates add, a factor (1 + Σ t)/(1 + Σ t0) on the
  delivered price; each collects t·cif value per unit shipped;
- ``delivered``, on the cif value with every cif wedge (and the delivered wedges declared
  before it) included: each multiplies the delivered price by (1 + t)/(1 + t0) and collects
  t times that base per unit shipped;
- ``iceberg``, a multiplier τ of the goods shipped per unit delivered: no revenue, the goods
  are lost in transit.

An instrument of the scenario language (``scenarios/instruments.py``) names the wedges it
changes among its ``parameters``. A new wedge is one :func:`register` call (a plug-in or a
test: :func:`registered`); a model built afterwards has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from fragcge.calibration.sam import GlobalSAM

KINDS = ("fob", "cif", "delivered", "iceberg")
"""What a route wedge acts on, in the order they build the delivered price."""
OWNERS = ("exporter", "importer")
CALIBRATED = {"fob": "tx0", "cif": "tm0"}
"""The route rates of the data the calibration prices in (tx0 in the fob value, tm0 in the
delivered price), by the kind of wedge that may carry them as its benchmark."""
"""Whose regional income a wedge's revenue or rent is."""


@dataclass(frozen=True)
class RouteWedge:
    """A mutable route parameter [i, s, r] and its place in the route's prices.

    ``name`` is the model parameter (the θ block and the ShockSet level, GTAP's name where
    GTAP has one); ``on`` one of :data:`KINDS`; ``owner`` the region whose income collects
    its revenue (None for an iceberg wedge); ``component`` the welfare.csv column
    (``decomposition.COMPONENTS``) its revenue, or for an iceberg wedge its goods lost,
    falls in; ``benchmark`` the GlobalSAM field of its rate in the data (None: no rate in
    the data, 0; an iceberg wedge is 1 in the benchmark).
    """

    name: str
    on: str
    owner: str | None
    component: str
    meaning: str
    benchmark: str | None = None

    def benchmark_level(self, sam: GlobalSAM) -> np.ndarray:
        """The wedge's level in the benchmark, dense over [i, s, r]."""
        if self.benchmark is not None:
            return np.array(getattr(sam, self.benchmark), dtype=float)
        return np.full(sam.vxmd.shape, 1.0 if self.on == "iceberg" else 0.0)


WEDGES: dict[str, RouteWedge] = {}
"""The route wedges by name, in the order they stack (see the module's docstring)."""


def register(wedge: RouteWedge) -> None:
    """Add ``wedge``; its name must be new and its kind, owner and benchmark consistent."""
    if wedge.name in WEDGES:
        raise ValueError(f"route wedge {wedge.name!r} is already registered")
    if wedge.on not in KINDS:
        raise ValueError(f"route wedge {wedge.name!r}: on = {wedge.on!r}, expected one of {KINDS}")
    if (wedge.owner is None) != (wedge.on == "iceberg"):
        raise ValueError(
            f"route wedge {wedge.name!r}: an iceberg wedge has no owner, any other has one of "
            f"{OWNERS}; got on = {wedge.on!r}, owner = {wedge.owner!r}"
        )
    if wedge.owner is not None and wedge.owner not in OWNERS:
        raise ValueError(f"route wedge {wedge.name!r}: owner {wedge.owner!r} is not in {OWNERS}")
    if wedge.benchmark is not None and (
        CALIBRATED.get(wedge.on) != wedge.benchmark or wedge.benchmark in benchmark_rates()
    ):
        raise ValueError(
            f"route wedge {wedge.name!r}: benchmark = {wedge.benchmark!r}, but the calibration "
            f"(fob and cif values, theta_fob) prices only {CALIBRATED} in the data, each for "
            "one wedge: a new wedge has no rate in the data (benchmark = None)"
        )
    WEDGES[wedge.name] = wedge


@contextmanager
def registered(wedge: RouteWedge) -> Iterator[RouteWedge]:
    """``wedge`` registered for the duration of a with block (for tests and plug-ins)."""
    register(wedge)
    try:
        yield wedge
    finally:
        del WEDGES[wedge.name]


def wedges(on: str) -> tuple[RouteWedge, ...]:
    """The registered wedges acting on ``on``, in the order they stack."""
    return tuple(w for w in WEDGES.values() if w.on == on)


def benchmark_rates() -> tuple[str, ...]:
    """The GlobalSAM fields of the wedges' benchmark rates (tx0, tm0): route constants."""
    return tuple(w.benchmark for w in WEDGES.values() if w.benchmark is not None)


for _wedge in (
    RouteWedge(
        "tx",
        "fob",
        "exporter",
        "alloc",
        "export tax rate on the exporter's price (absolute rate)",
        benchmark="tx0",
    ),
    RouteWedge(
        "tm",
        "cif",
        "importer",
        "alloc",
        "import tariff rate on the cif value (absolute rate)",
        benchmark="tm0",
    ),
    RouteWedge(
        "tn",
        "delivered",
        "importer",
        "rents",
        "tariff equivalent of a non-tariff barrier whose rent goes to the importer",
    ),
    RouteWedge(
        "tau",
        "iceberg",
        None,
        "iceberg",
        "iceberg trade cost relative to the benchmark: goods shipped per unit delivered",
    ),
):
    register(_wedge)
