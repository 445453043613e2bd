"""The model a user drives: build once per dataset and closure, then solve shock after shock."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fragcge.calibration.calibrate import Calibration
from fragcge.calibration.sam import GlobalSAM
from fragcge.model.closures import Closure, close, get_closure
from fragcge.model.equations import ELASTICITIES, elasticity_pattern
from fragcge.model.evaluator import Evaluator
from fragcge.model.pyomo_model import build_pyomo
from fragcge.model.shocks import PARAMETERS, ShockSet
from fragcge.model.solve import SolveResult, solve
from fragcge.model.solver_choice import choose_solver
from fragcge.model.system import Numeraire, System


@dataclass
class Equilibrium:
    """A solved point: variable values with the solve's diagnostics and the parameters used."""

    x: np.ndarray
    result: SolveResult
    walras: float
    theta: np.ndarray


class CGEModel:
    """Pyomo model, evaluator and solver of MODEL.md for one calibrated dataset and closure.

    Scenario parameters and elasticities are mutable: :meth:`solve` takes a ShockSet, loads
    it and the elasticities of :meth:`set_elasticities` into the Pyomo model's mutable Params
    and the evaluator, and warm-starts from a given point; nothing is rebuilt between
    scenarios, nor for new elasticities with the same :func:`elasticity_pattern`.
    """

    def __init__(
        self,
        cal: Calibration,
        closure: str = "default",
        numeraire: Numeraire | None = None,
        pyomo: bool = True,
        quota: np.ndarray | None = None,
        solver: str = "auto",
    ) -> None:
        self.closure: Closure = get_closure(closure)
        self.cal = close(cal, self.closure)
        t0 = time.perf_counter()
        self.system = System(self.cal, numeraire, self.closure, quota)
        t1 = time.perf_counter()
        self.pyomo = build_pyomo(self.system) if pyomo else None
        t2 = time.perf_counter()
        self.evaluator = Evaluator(self.system)
        t3 = time.perf_counter()
        self.timings = {"system": t1 - t0, "pyomo": t2 - t1, "evaluator": t3 - t2}
        self.solver = choose_solver(solver, self.system.n)
        """Ipopt or Newton–Krylov, by ``solver`` ("ipopt", "newton", "auto": by size)."""
        self.pattern = elasticity_pattern(self.cal.sam)
        self.elasticities = {k: self.system.param(k).copy() for k in ELASTICITIES}
        """The elasticities every solve moves to: the data's until :meth:`set_elasticities`."""
        self._benchmark_theta = self.system.theta.copy()
        self.quota_reference = np.ones_like(self.cal.vxmd)
        """Delivered volumes V[i,r,s] that export quota shares refer to: the benchmark's (1)
        until the caller sets the baseline's."""

    @property
    def numeraire(self) -> Numeraire:
        """The fixed price level."""
        return self.system.numeraire

    def describe_numeraire(self) -> str:
        """The numeraire in words, as this model's closure makes it."""
        return self.numeraire.describe(mobile=self.system.var["pf"].size > 0)

    def benchmark(self) -> np.ndarray:
        """The calibrated benchmark point."""
        return self.system.start()

    def set_elasticities(self, sam: GlobalSAM) -> None:
        """Solve from now on with sam's elasticities, which must fit this model's equations.

        Raises ValueError where sam puts σ = 1 or 0, or esubt = esubc, elsewhere than the
        data did: those cells have a different functional form and need a model of their own.
        """
        if elasticity_pattern(sam) != self.pattern:
            raise ValueError(
                "these elasticities need other equations (σ = 1 or 0, or esubt = esubc, in "
                "other cells than the model was built with): build a model for them"
            )
        self.elasticities = {
            k: np.atleast_1d(np.asarray(getattr(sam, k), dtype=float)) for k in ELASTICITIES
        }

    def solve(
        self,
        shocks: ShockSet,
        x0: np.ndarray | Equilibrium | None = None,
        extra: dict[str, np.ndarray] | None = None,
    ) -> Equilibrium:
        """Solve at the scenario's parameter levels from x0 (default: the benchmark).

        From an Equilibrium, the parameters start at its own too, and from the benchmark at
        the benchmark's (with the target elasticities: the benchmark is an equilibrium for
        any), so that should the full step fail, the path of smaller steps (and so the answer)
        does not depend on what the model solved before. The path moves the elasticities too,
        so an equilibrium at other elasticities is a valid start. Export quotas cap a route's
        delivered volume at a share of :attr:`quota_reference`.
        """
        if isinstance(x0, Equilibrium):
            self.system.theta[:] = x0.theta
            x0 = x0.x
        elif x0 is None:
            self.system.theta[:] = self._benchmark_theta
            for k, v in self.elasticities.items():
                self.system.set_param(k, v)
        target = {k: np.asarray(getattr(shocks, k), dtype=float) for k in PARAMETERS}
        target.update(self.elasticities)
        target["qshare"] = self.system.quota_share(shocks)
        target["qscale"] = self.quota_reference
        target.update(extra or {})
        x0 = self.benchmark() if x0 is None else x0
        result = solve(self.system, self.evaluator, x0, target, run=self.solver.run)
        self._sync_pyomo(result.x)
        walras = float(self.evaluator.residuals(result.x, include_dropped=True)[-1])
        return Equilibrium(result.x, result, walras, self.system.theta.copy())

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """Scaled residuals of the square system at x and the current parameters."""
        return self.evaluator.residuals(x)

    def _sync_pyomo(self, x: np.ndarray) -> None:
        """Copy the solution and the parameters into the Pyomo model's Vars and Params."""
        if self.pyomo is not None:
            self.pyomo.load(x, self.system.theta)
