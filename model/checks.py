"""The theory checks every model must pass: benchmark replication, homogeneity, Walras' law."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.shocks import ShockSet
from fragcge.model.solve import RESIDUAL_TOL
from fragcge.model.system import VALUES

NUMERAIRE_SCALE = 2.5


@dataclass(frozen=True)
class Check:
    """One check's outcome with the number it is judged on."""

    name: str
    passed: bool
    value: float
    detail: str


def check_shock(model: CGEModel) -> ShockSet:
    """A test shock touching every mechanism: +10% iceberg costs on all international routes,
    +5 tariff points on the first region's imports, +2 export-tax points on the last
    region's exports, +5% productivity in the first sector, −5% of every endowment in the
    last region, and transfers halved.

    (Moderate, so that every closure has an equilibrium: with sector-specific factors,
    removing the whole US deficit at once leaves no positive consumption somewhere.)
    """
    bench = ShockSet.benchmark(model.cal.sam)
    tm, tx = bench.tm.copy(), bench.tx.copy()
    tm[:, :, 0] += 0.05
    tx[:, -1, :] += 0.02
    A, endow, endow_s = bench.A.copy(), bench.endow.copy(), bench.endow_s.copy()
    A[0] = 1.05
    endow[:, -1] = 0.95
    endow_s[:, :, -1] = 0.95
    return replace(
        bench,
        tau=np.where(model.cal.vxmd > 0, 1.1, 1.0),
        tm=tm,
        tx=tx,
        vb=0.5 * bench.vb,
        A=A,
        endow=endow,
        endow_s=endow_s,
    )


def replication(model: CGEModel) -> Check:
    """At the benchmark every scaled residual is < 1e-8 and the model's solver (Ipopt or
    Newton–Krylov) stops after 0–1 iterations."""
    theta = model.theta_for(ShockSet.benchmark(model.cal.sam))
    x0 = model.benchmark()
    worst = float(np.max(np.abs(model.residuals(x0, theta))))
    res = model.solver.run(model.system, model.evaluator, x0, theta, None, None)
    ok = worst < RESIDUAL_TOL and res.ok and res.iterations <= 1
    return Check(
        "benchmark replication",
        ok,
        worst,
        f"largest scaled residual {worst:.2e}, {model.solver.label} iterations {res.iterations}",
    )


def homogeneity(model: CGEModel, shocks: ShockSet, solved: Equilibrium | None = None) -> Check:
    """Numeraire ×2.5: prices and incomes ×2.5, quantities unchanged (to 1e-8, relative).
    ``solved``, the equilibrium at ``shocks`` if already solved, saves solving it again."""
    s = model.system
    # The checks measure Walras' law themselves: a solve must not refuse a point over it.
    one = model.solve(shocks, walras_tol=np.inf) if solved is None else solved
    scaled = model.solve(shocks, x0=one, extra={"pnum": NUMERAIRE_SCALE}, walras_tol=np.inf)
    factor = np.ones(s.n)
    for name, _ in s.pairs:
        if name in s.prices or name in VALUES:
            b = s.var[name]
            factor[b.offset : b.offset + b.size] = NUMERAIRE_SCALE
    expected = one.x * factor
    # Relative to the value, or absolute for values near zero such as a slack quota's wedge.
    dev = float(np.max(np.abs(scaled.x - expected) / np.maximum(np.abs(expected), 1.0)))
    return Check(
        "homogeneity",
        dev < RESIDUAL_TOL,
        dev,
        f"numeraire x{NUMERAIRE_SCALE}: largest relative deviation from prices x{NUMERAIRE_SCALE}, "
        f"quantities x1 is {dev:.2e}",
    )


def walras(model: CGEModel, shocks: ShockSet, solved: Equilibrium | None = None) -> Check:
    """At a shocked solution, the dropped market equation holds (< 1e-8 scaled).
    ``solved``, the equilibrium at ``shocks`` if already solved, saves solving it again."""
    eq = model.solve(shocks, walras_tol=np.inf) if solved is None else solved
    block, _, _ = model.system.dropped
    label = model.system.dropped_label()
    return Check(
        "Walras' law",
        abs(eq.walras) < RESIDUAL_TOL,
        abs(eq.walras),
        f"dropped equation {label} ({block}) residual {eq.walras:.2e} after the check shock",
    )


def run_checks(model: CGEModel) -> list[Check]:
    """Replication, homogeneity and Walras' law, in order, with the model's solver; the
    check shock is solved once for the last two."""
    shocks = check_shock(model)
    first = replication(model)
    solved = model.solve(shocks, walras_tol=np.inf)
    return [first, homogeneity(model, shocks, solved), walras(model, shocks, solved)]
