"""The model a user drives: build once per dataset and closure, then solve shock after shock."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fragcge.calibration.calibrate import Calibration
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import SolveError
from fragcge.model.closures import Closure, close, get_closure, with_imbalances
from fragcge.model.evaluator import Evaluator
from fragcge.model.nests import (
    NESTS,
    Nests,
    elasticity_pattern,
    elasticity_values,
    model_elasticities,
)
from fragcge.model.shocks import ShockSet
from fragcge.model.solve import (
    DEFAULT_LIMITS,
    ProgressLines,
    Runner,
    SolveLimits,
    SolveResult,
    solve,
)
from fragcge.model.solver_choice import choose_solver
from fragcge.model.system import Numeraire, System

if TYPE_CHECKING:
    from fragcge.model.pyomo_model import PyomoModel


@dataclass
class Equilibrium:
    """A solved point: variable values with the solve's diagnostics and the parameters used."""

    x: np.ndarray
    result: SolveResult
    walras: float
    theta: np.ndarray


WALRAS_TOL = 1e-6
"""Largest scaled residual of the dropped market accepted after a solve. Walras' law makes
it clear when the other markets do (the solves measured end near 1e-12); a solve that ends
with every other equation holding and this one off stopped where a price is 0, so that
p·z = 0 with z ≠ 0 (a Newton search sliding a price to 0 ended so, with 1e34)."""


class CGEModel:
    """Evaluator and solver of MODEL.md for one calibrated dataset and closure; its Pyomo model
    on demand (:meth:`pyomo_model`).

    Scenario parameters and elasticities are arguments: :meth:`solve` takes a ShockSet and
    elasticities (:meth:`elasticities_of`), makes θ of them (:meth:`theta_for`) and
    warm-starts from a given equilibrium; nothing is rebuilt between scenarios, nor for new
    elasticities with the same :func:`elasticity_pattern`.
    """

    def __init__(
        self,
        cal: Calibration,
        closure: str = "default",
        numeraire: Numeraire | None = None,
        quota: np.ndarray | None = None,
        solver: str = "auto",
        imbalances: str = "fixed",
        nests: Nests = NESTS,
    ) -> None:
        self.closure: Closure = with_imbalances(get_closure(closure), imbalances)
        self.cal = close(cal, self.closure)
        t0 = time.perf_counter()
        self.system = System(self.cal, numeraire, self.closure, quota, nests)
        t1 = time.perf_counter()
        self.evaluator = Evaluator(self.system)
        t2 = time.perf_counter()
        self.timings = {"system": t1 - t0, "evaluator": t2 - t1}
        self._pyomo: PyomoModel | None = None
        self.nests = nests
        """Every agent's nest tree (``model/nests.py``)."""
        self.pattern = elasticity_pattern(self.cal.sam, nests)
        self.solver = choose_solver(solver, self.system.n)
        """Ipopt or Newton–Krylov, by ``solver`` ("ipopt", "newton", "auto": by size)."""

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

    def elasticities_of(self, sam: GlobalSAM) -> dict[str, np.ndarray]:
        """sam's elasticities by name, for :meth:`solve`: the substitution elasticities (the
        registry's and those the nests declare) and the factor supply elasticities eta, whose
        zeros and ones :func:`elasticity_pattern` records (the benchmark is an equilibrium at
        any of their values); they must fit this model's equations.

        Raises ValueError where sam puts σ = 1 or 0, esubt = esubc, or eta = 0 elsewhere
        than the data did: those cells have a different functional form and need a model of
        their own.
        """
        if elasticity_pattern(sam, self.nests) != self.pattern:
            raise ValueError(
                "these elasticities need other equations (σ = 1 or 0, esubt = esubc, or a "
                "factor supply elasticity 0, in other cells than the model was built with): "
                "build a model for them"
            )
        values = {e.name: elasticity_values(sam, e) for e in model_elasticities(self.nests)}
        return values | {"eta": np.atleast_1d(np.asarray(sam.eta, dtype=float))}

    def solve(
        self,
        shocks: ShockSet,
        x0: Equilibrium | None = None,
        extra: dict[str, np.ndarray] | None = None,
        quota_reference: np.ndarray | None = None,
        elasticities: dict[str, np.ndarray] | None = None,
        limits: SolveLimits = DEFAULT_LIMITS,
        progress: ProgressLines | None = None,
        run: Runner | None = None,
        walras_tol: float = WALRAS_TOL,
    ) -> Equilibrium:
        """Solve at the parameters :meth:`theta_for` gives, from x0 (default: the benchmark),
        within ``limits``; ``progress`` receives the progress lines of a long solve. ``run``
        is the solver's runner (default the model's :attr:`solver`'s ``run``; a
        ``solver.path_runner()`` shared by several solves hands Newton–Krylov's factors of J
        from one to the next). Raises SolveError when the dropped market's scaled residual
        is above ``walras_tol`` (:data:`WALRAS_TOL`; the Walras check passes inf to measure
        it itself).

        The parameters start at x0's own, and from the benchmark at the benchmark's (with the
        target elasticities: the benchmark is an equilibrium for any), so that should the full
        step fail, the path of smaller steps (and so the answer) depends on the arguments
        only. The path moves the elasticities too, so an equilibrium at other elasticities is
        a valid start. The Equilibrium carries the θ it solved at.
        """
        target = self.theta_for(shocks, extra, quota_reference, elasticities)
        if x0 is None:
            names = [*(e.name for e in model_elasticities(self.nests)), "eta"]
            at_target = {name: self.system.param(name, target) for name in names}
            start = self.system.with_params(self.system.benchmark_theta, at_target)
            x = self.benchmark()
        else:
            start, x = x0.theta, x0.x
        result = solve(
            self.system,
            self.evaluator,
            x,
            start,
            target,
            limits,
            progress=progress,
            run=self.solver.run if run is None else run,
        )
        walras = float(
            self.evaluator.at(result.theta).residuals(result.x, include_dropped=True)[-1]
        )
        if not abs(walras) <= walras_tol:
            raise SolveError(
                f"the solve ended where every equation holds but the market left out of the "
                f"system, {self.system.dropped_label()}, does not clear (scaled residual "
                f"{walras:.1e}; Walras' law makes it clear at an equilibrium): a price has "
                f"gone to zero or the model does not add up. Smallest variable: "
                f"{self.system.variable_label(int(np.argmin(result.x)))} = "
                f"{float(np.min(result.x)):.3g}."
            )
        return Equilibrium(result.x, result, walras, result.theta)

    def theta_for(
        self,
        shocks: ShockSet,
        extra: dict[str, np.ndarray] | None = None,
        quota_reference: np.ndarray | None = None,
        elasticities: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """θ of a scenario: the benchmark's with the shocks, the elasticities (default: the
        data's) and the ``extra`` parameters by name (e.g. ``Gbar``).

        Export quotas cap a route's delivered volume V[i,r,s] at a share of
        ``quota_reference`` (default: the benchmark's, 1; a scenario passes its baseline's).
        """
        values = self.system.shock_params(shocks)
        values.update(elasticities or {})
        values["qscale"] = (
            np.ones_like(self.cal.vxmd) if quota_reference is None else quota_reference
        )
        values.update(extra or {})
        return self.system.with_params(self.system.benchmark_theta, values)

    def residuals(self, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Scaled residuals of the square system at x and parameters θ."""
        return self.evaluator.at(theta).residuals(x)

    def pyomo_model(self, at: Equilibrium | None = None) -> PyomoModel:
        """The Pyomo model of this system, its Vars and mutable Params set to an equilibrium's
        values (default: the benchmark point and parameters).

        Built on the first call (it takes longer than a solve, which never needs it) and kept;
        each call sets the values again. Pyomo itself is imported only then.
        """
        if self._pyomo is None:
            from fragcge.model.pyomo_model import build_pyomo

            t0 = time.perf_counter()
            self._pyomo = build_pyomo(self.system)
            self.timings["pyomo"] = time.perf_counter() - t0
        if at is None:
            self._pyomo.load(self.benchmark(), self.system.benchmark_theta)
        else:
            self._pyomo.load(at.x, at.theta)
        return self._pyomo
