"""A solved scenario's equilibrium as a new benchmark dataset, and EVs chained through it.

:func:`rebenchmark` turns the scenario equilibrium of a run into a :class:`GlobalSAM` whose
benchmark *is* that equilibrium: every flow is its value at the equilibrium's prices and
volumes, so that in the new dataset every price and activity level is 1 again. Solving the
empty scenario on it changes nothing, and a later shock hits the new world's demand and cost
shares, not the original benchmark's.

What becomes of each part of the run (docs/data.md, "A solved equilibrium as a dataset"):

- purchases, factor payments, trade, transport margins and margin supplies are the report
  quantities of ``model/report.py`` (the equations' own templates) times their prices;
- iceberg costs (``ntb``) are in the flows: ``vxmd`` and ``vtwr`` are what is shipped,
  ``τ·V`` of the benchmark flow, so the new τ is 1 and a later ``ntb`` multiplies it;
- a banned route (``export_ban``) carries no flow, so it is no route of the new dataset;
- the tariff becomes ``(1 + tm)·(1 + tn) − 1`` (every cif wedge's rate added, times each
  delivered wedge's ``1 + t``: ``model/route_wedges.py``): the importer's barrier rent
  ``tn`` of ``ntb_rent`` is a tariff equivalent, with the same price wedge and revenue;
- the export tax becomes ``tx + ρ`` (every fob wedge's rate added): a binding export quota
  becomes its export-tax equivalent, its rent the exporter's revenue, and from then on a
  tax, not a cap;
- productivity and endowment shocks are in the output and factor values; an employment rate
  ``L < 1`` (closure ``real-wage``) makes the employed factor the new endowment;
- the transfers ``vb`` are derived from the accounts (expenditure − income), which at the
  equilibrium equal the solved transfers times the numeraire level;
- the other tax rates are the benchmark's (no instrument changes them); the elasticities are
  the run's (the scenario's own overrides included).

:func:`chained_ev` reads the welfare of a later run on the rebenchmarked world in the
original world's reference prices (see its docstring).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from fragcge.api import SolvedScenario
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import FragcgeError
from fragcge.model.report import (
    dense,
    factor_demands,
    factor_prices,
    margin_supplies,
    purchases,
    route_flows,
    welfare_index,
    welfare_rows,
    welfare_weight,
)
from fragcge.model.route_wedges import RouteWedge, wedges


def rebenchmark(run: SolvedScenario) -> GlobalSAM:
    """The scenario equilibrium of ``run`` as a dataset whose benchmark it is (module doc).

    Values are in the run's dataset unit at the equilibrium's prices (the numeraire's level
    fixed as in the run); rates and elasticities are those the run solved with. The dataset
    is not validated here: :func:`fragcge.calibration.dataset.load_dataset` judges it once
    written, and its identities hold to the solve's tolerance.
    """
    model, eq = run.model, run.scen
    sam = run.resolved.sam
    s = model.system
    py = dense(s, eq.x, "py", 1.0)  # [i, r]
    pm = dense(s, eq.x, "pm", 1.0)  # [i, r]
    pt = dense(s, eq.x, "pt", 1.0)  # [m]
    domestic = py[:, None, :] * (1.0 + sam.tdf0) * purchases(model, eq, "py")
    imported = pm[:, None, :] * (1.0 + sam.tif0) * purchases(model, eq, "pm")
    factors = factor_prices(model, eq) * (1.0 + sam.tf0) * factor_demands(model, eq)
    flows = route_flows(model, eq)
    shipped = flows["shipped"]  # open·τ·V per unit of the benchmark flow
    vxmd = py[:, :, None] * sam.vxmd * shipped
    vtwr = pt[:, None, None, None] * sam.vtwr * shipped[None]
    tx0, tm0 = _ad_valorem_equivalents(run)
    margins = sam.margin_index
    vst = (py * margin_supplies(model, eq))[margins, :]
    return dataclasses.replace(
        sam,
        name=run.name,
        vfm=factors,
        vdfm=domestic,
        vifm=imported,
        vxmd=vxmd,
        vtwr=vtwr,
        vst=vst,
        tx0=tx0,
        tm0=tm0,
        meta={**sam.meta, "title": f"{run.resolved.label}: the solved equilibrium of {sam.name}"},
        path=None,
        digest="",
    )


def _ad_valorem_equivalents(run: SolvedScenario) -> tuple[np.ndarray, np.ndarray]:
    """The run's route wedges (``model/route_wedges.py``) as the new dataset's two benchmark
    rates: the fob wedges' rates and the quota wedge ρ added into the export tax; the cif
    wedges' rates added, times each delivered wedge's (1 + t), into the tariff. Iceberg
    wedges are in the flows. A wedge whose revenue goes to another owner than the rate it
    would become (exporter for the export tax, importer for the tariff) has no equivalent."""
    s, theta = run.model.system, run.scen.theta
    tx0 = dense(s, run.scen.x, "rho", 0.0)
    for wedge in wedges("fob"):
        _check_owner(wedge, "exporter")
        tx0 = tx0 + s.param(wedge.name, theta)
    level = 1.0  # of the importer's price over the cif value
    for wedge in wedges("cif"):
        _check_owner(wedge, "importer")
        level = level + s.param(wedge.name, theta)
    for wedge in wedges("delivered"):
        _check_owner(wedge, "importer")
        level = level * (1.0 + s.param(wedge.name, theta))
    return tx0, level - 1.0


def _check_owner(wedge: RouteWedge, owner: str) -> None:
    if wedge.owner != owner:
        raise FragcgeError(
            f"route wedge {wedge.name!r} ({wedge.on}, revenue to the {wedge.owner}) has no "
            f"benchmark rate in a dataset: its revenue would go to the {owner}"
        )


def utility_ratio(run: SolvedScenario) -> np.ndarray:
    """U_s/U_b of each region: the run's welfare index (C, or the regional utility U) at its
    scenario over that at its baseline (:func:`fragcge.model.report.welfare_index`)."""
    return welfare_index(run.model, run.scen) / welfare_index(run.model, run.base)


def chained_ev(
    world: SolvedScenario, later: SolvedScenario, blocs: dict[str, str] | None = None
) -> pd.DataFrame:
    """EV of ``later``, a run on ``rebenchmark(world)``, in ``world``'s baseline prices.

    Welfare indices are homothetic, and the rebenchmarked dataset holds the same preferences
    calibrated at the world's equilibrium, so an index on it is the original index over the
    world's: U_later/U_0 = (U_later/U_world)·(U_world/U_0). The EV of ``later`` (its
    scenario against its own baseline) measured from ``world``'s baseline b, at b's prices:

        ev[r] = w_b·U_world·(U'_later,s − U'_later,b)

    with w_b the cost of a unit of the index at b's prices (pc·vc, or e·RA0 for U;
    :func:`fragcge.model.report.welfare_weight`), U_world the world's index relative to the
    original benchmark, U' the later run's, relative to the world. It is the difference of
    the two EVs measured from b: a later run from the world itself (no baseline) gives
    EV(world + later) − EV(world), both from b, to the solver's tolerance wherever the shocks
    compose exactly (docs/data.md); the EV of the later state from b is EV(world) plus this.
    A table like welfare.csv: ``region``, ``bloc``, ``ev`` (the dataset's unit) and ``ev_pct``
    (of b's income), a row per bloc of ``blocs`` (default: the later run's) and WORLD.

    Where the reference is the world's own equilibrium rather than its baseline (the first
    world of a risk file, say), nothing needs chaining: the later run's welfare table is
    already its EV from the world, at the world's prices.

    Refused when the runs measure welfare by the regional utility U (closures ``gov-share``
    and ``savings``): U's exponents are the benchmark's expenditure shares, and the world's
    shares make another function, so the product above would not hold.
    """
    for run in (world, later):
        if run.model.closure.welfare != "C":
            raise FragcgeError(
                f"scenario {run.name} measures welfare by the regional utility U (closure "
                f"{run.model.closure.name}); its exponents are the benchmark's spending shares, "
                "which a rebenchmarked world changes, so EVs cannot be chained through it: use "
                "a closure with welfare C (default, short-run, real-wage)"
            )
    regions = world.model.cal.sam.regions
    if later.model.cal.sam.regions != regions:
        raise FragcgeError(
            f"scenario {later.name} is solved on regions {', '.join(later.model.cal.sam.regions)}, "
            f"not those of {world.name} ({', '.join(regions)}): it is not a run on the "
            f"rebenchmarked {world.name}"
        )
    level = welfare_weight(world.model, world.base) * welfare_index(world.model, world.scen)
    gain = welfare_index(later.model, later.scen) - welfare_index(later.model, later.base)
    income = dense(world.model.system, world.base.x, "RA")
    blocs = later.resolved.blocs if blocs is None else blocs
    return welfare_rows(regions, blocs, level * gain, income)
