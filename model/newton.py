"""Newton–Krylov on the square system F(x) = 0: one sparse LU of J serves many steps.

(Above model/preconditioners.REGIONS_ABOVE unknowns, what is factored is not J but its
regional and trade blocks, and every step is a GMRES solve preconditioned by them; the
rest of this description holds for both.)

Ipopt takes plain Newton steps on this system but factors the 2n × 2n KKT matrix [[0, Jᵀ],
[J, 0]] every iteration; at 41 × 35 that factorisation is the whole cost (issue 13). Here J
itself is factored with SuperLU and the factors are kept: later steps solve J(x_k) dx =
−F(x_k) by GMRES preconditioned with the old factors, which converges in a few iterations
while J moves little. J is factored again only when that stalls: GMRES does not converge
within ``krylov_cycles`` restarts of ``max_krylov`` iterations, or the step found cannot
reduce ‖F‖. A run may start from the factors of an earlier run of the same system
(:class:`NewtonRunner` keeps them from one run to the next, as along the welfare
decomposition's path of warm-started solves): its first steps are then GMRES steps, and the
same rule factors J again only when they stall. Each step is cut back until the point stays
above the variables' floor (prices, activities and incomes positive:
:meth:`System.lower_bounds`) and ‖F‖₂ falls by the Armijo condition. The iteration and
wall-time bounds are checked before each step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, gmres

from fragcge.model.evaluator import Evaluator, EvaluatorAt
from fragcge.model.preconditioners import (
    ORDERING,
    Factors,
    RegionalBlocks,
    choose_preconditioner,
    factorize,
)
from fragcge.model.solve import SolveResult, Tick, nonpositive_variables, worst_residuals
from fragcge.model.system import System

Factorize = Callable[[sp.csc_matrix], Factors]
"""Factors of J (exact) or of an approximation of it: model/preconditioners.py."""

SUCCESS, ITERATION_LIMIT, TIME_LIMIT, LINE_SEARCH_FAILED, SINGULAR, NOT_FINITE = 0, 1, 2, 3, 4, 5
KRYLOV_STALLED = 6
STATUS_MESSAGES = {
    SUCCESS: "converged: every scaled residual below the tolerance",
    ITERATION_LIMIT: "iteration limit reached",
    TIME_LIMIT: "wall-time limit reached",
    LINE_SEARCH_FAILED: "no step along a fresh Newton direction reduces the residual norm",
    SINGULAR: "the Jacobian is singular",
    NOT_FINITE: "the residual is not finite at the starting point",
    KRYLOV_STALLED: "GMRES does not converge even on freshly factored regional blocks of J",
}


@dataclass(frozen=True)
class NewtonOptions:
    """Tolerances and bounds of :func:`newton_krylov`."""

    tol: float = 1e-11
    """Stop when the largest absolute residual is below this (Ipopt's runs stop near 1e-10;
    quadratic convergence gets below it in the same step)."""
    max_iter: int = 50
    max_seconds: float = 3600.0
    max_krylov: int = 20
    """GMRES's restart length with old factors as preconditioner."""
    krylov_cycles: int = 3
    """GMRES restarts before the old factors are replaced by a fresh factorisation. GMRES
    stops a cycle on its estimate of the preconditioned residual; the true one is then
    checked, and with one cycle only it would often fail by a little (measured at 10 × 8)."""
    armijo: float = 1e-4
    """Sufficient decrease: accept a step t when ‖F(x + t dx)‖ ≤ (1 − armijo t) ‖F(x)‖."""
    min_step: float = 2.0**-30
    ordering: str = ORDERING
    preconditioner: str = "auto"
    """What is factored: "lu" (J), "regions" (J's regional blocks), "regions-trade" (those
    and J's trade blocks) or "auto" (by size; model/preconditioners.py). Read by
    :func:`run_newton`; :func:`newton_krylov` is given the factorisation itself."""
    block_krylov: int = 60
    """GMRES's restart length with regional-block factors, which never make the step exact."""
    block_cycles: int = 5
    """GMRES restarts with regional-block factors before they are replaced."""


@dataclass
class NewtonResult:
    """What :func:`newton_krylov` did: the last point and counts of the work."""

    x: np.ndarray
    status: int = SUCCESS
    iterations: int = 0
    factorizations: int = 0
    krylov_iterations: int = 0
    seconds: float = 0.0
    factors: Factors | None = None
    """The last factorisation used (fresh or the one given to start with), for a next run."""
    factored_at: np.ndarray | None = None
    """The point whose Jacobian ``factors`` are, when this run made them (None: the ones
    given to start with)."""

    @property
    def converged(self) -> bool:
        """True when the residual tolerance was met."""
        return self.status == SUCCESS

    @property
    def message(self) -> str:
        """The status in words."""
        return STATUS_MESSAGES[self.status]


def newton_krylov(
    residual: Callable[[np.ndarray], np.ndarray],
    jacobian: Callable[[np.ndarray], sp.csc_matrix],
    x0: np.ndarray,
    floor: np.ndarray | None = None,
    options: NewtonOptions | None = None,
    tick: Tick | None = None,
    factors: Factors | None = None,
    factor: Factorize | None = None,
) -> NewtonResult:
    """Solve residual(x) = 0 from x0, every iterate staying strictly above floor;
    ``tick(iteration, largest residual)`` is called before each step. ``factor`` makes the
    factors of J that precondition the steps (default: SuperLU of J, with the options'
    ordering); exact factors give the step directly, others by GMRES. ``factors``, of J at
    another point with the same sparsity, precondition the first steps instead of a fresh
    factorisation (refactored when GMRES stalls on them); the result's ``factors`` are the
    last ones used.

    Never raises on a failed solve: the result's status says why it stopped.
    """
    opt = options or NewtonOptions()
    t0 = time.perf_counter()
    out = NewtonResult(np.array(x0, dtype=float))
    floor = np.full(out.x.size, -np.inf) if floor is None else floor
    f = residual(out.x)
    lu = factors
    first = 1.0

    def stop(status: int) -> NewtonResult:
        out.status, out.seconds, out.factors = status, time.perf_counter() - t0, lu
        return out

    if not np.all(np.isfinite(f)):
        return stop(NOT_FINITE)
    while np.max(np.abs(f), initial=0.0) > opt.tol:
        if out.iterations >= opt.max_iter:
            return stop(ITERATION_LIMIT)
        if time.perf_counter() - t0 > opt.max_seconds:
            return stop(TIME_LIMIT)
        if tick is not None:
            tick(out.iterations, float(np.max(np.abs(f))))
        jac = jacobian(out.x)
        norm = float(np.linalg.norm(f))
        step = None
        if lu is not None:
            dx = _preconditioned_step(jac, f, lu, norm, opt, out)
            if dx is not None:
                step = _line_search(residual, out.x, f, norm, dx, floor, opt, first)
        if step is None:
            try:
                lu = factorize(jac, opt.ordering) if factor is None else factor(jac)
            except RuntimeError:  # SuperLU: "Factor is exactly singular"
                return stop(SINGULAR)
            out.factorizations += 1
            out.factored_at = out.x.copy()
            dx = lu.solve(-f) if lu.exact else _preconditioned_step(jac, f, lu, norm, opt, out)
            if dx is None:
                return stop(KRYLOV_STALLED)
            step = _line_search(residual, out.x, f, norm, dx, floor, opt, first)
            if step is None:
                return stop(LINE_SEARCH_FAILED)
        out.x, f, t = step
        # Damped steps come in runs: the next search starts at twice this step, not at 1.
        first = min(1.0, 2 * t)
        out.iterations += 1
    return stop(SUCCESS)


def _preconditioned_step(
    jac: sp.csc_matrix,
    f: np.ndarray,
    lu: Factors,
    norm: float,
    opt: NewtonOptions,
    out: NewtonResult,
) -> np.ndarray | None:
    """GMRES for J dx = −F preconditioned by factors of J (old ones) or of its regional
    blocks; None when it stalls."""
    iterations = 0

    def count(_):
        nonlocal iterations
        iterations += 1

    # Inexact Newton: a relative accuracy that tightens as ‖F‖ falls keeps the quadratic
    # convergence of the last steps (Eisenstat and Walker's forcing term, in its simplest form).
    rtol = min(1e-3, norm)
    n = f.size
    precondition = LinearOperator((n, n), matvec=lu.solve, dtype=float)
    dx, info = gmres(
        jac,
        -f,
        rtol=rtol,
        atol=0.0,
        restart=opt.max_krylov if lu.exact else opt.block_krylov,
        maxiter=opt.krylov_cycles if lu.exact else opt.block_cycles,
        M=precondition,
        callback=count,
        callback_type="pr_norm",
    )
    out.krylov_iterations += iterations
    return dx if info == 0 and np.all(np.isfinite(dx)) else None


def _line_search(
    residual: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    f: np.ndarray,
    norm: float,
    dx: np.ndarray,
    floor: np.ndarray,
    opt: NewtonOptions,
    first: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The first of t = first, first/2, first/4, … that keeps x + t·dx above floor and
    reduces ‖F‖, with that point, its residuals and t.

    Steps are straight, x + t·dx. Moving positive variables geometrically, x·exp(t·dx/x),
    took the 80 × 50 two-bloc scenario in 9 iterations instead of 15, but was not kept: a
    price can then never reach its floor, so the search never cuts a step that slides it
    towards 0, and on a small synthetic model with τ = 0.6 Newton ended, all scaled
    residuals small, at a point where the numeraire's factor price was 1e-45 and the
    dropped market did not clear (Walras −7e34); a variable whose solution is small
    converges only linearly too.
    """
    if not np.all(np.isfinite(dx)):
        return None
    t = first
    while t >= opt.min_step:
        trial = x + t * dx
        if np.all(trial > floor):
            g = residual(trial)
            with np.errstate(over="ignore"):  # far from the solution ‖F‖ may overflow
                trial_norm = np.linalg.norm(g)
            if np.all(np.isfinite(g)) and trial_norm <= (1 - opt.armijo * t) * norm:
                return trial, g, t
        t /= 2
    return None


class JacobianMatrix:
    """The evaluator's Jacobian values at θ as a CSC matrix (the evaluator numbers the
    pattern column by column)."""

    def __init__(self, at: EvaluatorAt) -> None:
        rows, cols = at.ev.structure()
        n = at.ev.n
        self.indices = rows.astype(np.int32)
        self.indptr = np.searchsorted(cols, np.arange(n + 1)).astype(np.int32)
        self.shape = (n, n)
        self.at = at

    def __call__(self, x: np.ndarray) -> sp.csc_matrix:
        values = self.at.jacobian_values(x)
        return sp.csc_matrix((values, self.indices, self.indptr), shape=self.shape)


def run_newton(
    system: System,
    ev: Evaluator,
    x0: np.ndarray,
    theta: np.ndarray,
    options: dict[str, object] | None = None,
    tick: Tick | None = None,
    *,
    preconditioner: str = "auto",
) -> SolveResult:
    """One Newton–Krylov solve of the system at parameters θ, from x0, with a fresh
    factorisation of J or of its regional blocks (``preconditioner``: "lu", "regions" or
    "auto", by size: model/preconditioners.py).

    The counterpart of :func:`fragcge.model.solve.run_ipopt` (a ``Runner``): the same
    residuals, the same positivity rule and the same SolveResult, so the homotopy above it
    cannot tell them apart. Of ``options`` it reads the homotopy's ``max_wall_time`` (the
    run's time bound); the options it ran with, the preconditioner chosen among them, are
    recorded on the result.
    """
    return _run(system, ev, x0, theta, options, tick, None, preconditioner)[0]


class NewtonRunner:
    """A ``Runner`` (model/solve.py) for the runs of one model that hands the last
    factorisation of J of each run to the next as its GMRES preconditioner.

    The runs of a model share J's sparsity, and along a path of warm-started solves (the
    welfare decomposition's, or a baseline then its scenario) each starts near the last one,
    so the old factors precondition well and the fresh factorisation (seconds at 41 × 35)
    is skipped until GMRES stalls on them. The answer is the same equilibrium to the
    tolerance: only the linear solves differ. State: ``factors``, the evaluator whose
    Jacobian they factor (factors of another evaluator's J are not used) and ``origin``,
    the point and θ they were made at, from which :meth:`start_from` makes the same factors
    again, so that a solve's answer depends on where its factors come from, not on which
    solves ran before in the process. The factors take memory (about 19 M entries at
    41 × 35) as long as the runner lives. One per sequence of solves
    (:meth:`fragcge.model.solver_choice.SolverChoice.path_runner`); not for concurrent use.
    """

    def __init__(self, preconditioner: str = "auto") -> None:
        self.preconditioner = preconditioner
        self.factors: Factors | None = None
        self.evaluator: Evaluator | None = None
        self.origin: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(
        self,
        system: System,
        ev: Evaluator,
        x0: np.ndarray,
        theta: np.ndarray,
        options: dict[str, object] | None = None,
        tick: Tick | None = None,
    ) -> SolveResult:
        """One Newton–Krylov solve, as :func:`run_newton`, from the kept factors."""
        kept = self.factors if self.evaluator is ev else None
        result, self.factors, factored_at = _run(
            system, ev, x0, theta, options, tick, kept, self.preconditioner
        )
        if factored_at is not None:
            self.origin = (factored_at, theta)
        if self.factors is None:
            self.evaluator, self.origin = None, None
        else:
            self.evaluator = ev
        return result

    def start_from(
        self, ev: Evaluator, origin: tuple[np.ndarray, np.ndarray], factors: Factors | None
    ) -> None:
        """Keep the factors of ev's J at ``origin`` (x, θ): ``factors`` when given (they must
        be those), else made afresh by this runner's preconditioner (the same numbers:
        SuperLU is deterministic)."""
        if factors is None:
            x, theta = origin
            _, factor = _factorizer(ev.system, self.preconditioner)
            jac = JacobianMatrix(ev.at(theta))(x)
            factors = factorize(jac, NewtonOptions().ordering) if factor is None else factor(jac)
        self.factors, self.evaluator, self.origin = factors, ev, origin


def _factorizer(system: System, preconditioner: str) -> tuple[str, Factorize | None]:
    """The preconditioner ``preconditioner`` means for ``system`` (:func:`choose_preconditioner`)
    and what makes its factors: None for SuperLU of J, else the regional (and trade) blocks."""
    chosen = choose_preconditioner(preconditioner, system.n)
    if chosen == "lu":
        return chosen, None
    return chosen, RegionalBlocks(system, trade=chosen == "regions-trade")


def _run(
    system: System,
    ev: Evaluator,
    x0: np.ndarray,
    theta: np.ndarray,
    options: dict[str, object] | None,
    tick: Tick | None,
    factors: Factors | None,
    preconditioner: str,
) -> tuple[SolveResult, Factors | None, np.ndarray | None]:
    """run_newton's work, starting from ``factors`` if given; also the last factors and
    the point they were made at if this run made them."""
    at = ev.at(theta)
    wall = (options or {}).get("max_wall_time")
    chosen, factor = _factorizer(system, preconditioner)
    opt = NewtonOptions(preconditioner=chosen)
    if wall is not None:
        opt = replace(opt, max_seconds=float(wall))
    floor = system.lower_bounds()
    out = newton_krylov(at.residuals, JacobianMatrix(at), x0, floor, opt, tick, factors, factor)
    res = at.residuals(out.x)
    max_res = float(np.max(np.abs(res))) if np.all(np.isfinite(res)) else float("inf")
    result = SolveResult(
        out.x,
        out.status,
        out.message,
        out.iterations,
        out.seconds,
        max_res,
        worst=worst_residuals(system, res),
        nonpositive=nonpositive_variables(system, out.x),
        options=dict(vars(opt)),
        theta=theta,
        solver="newton",
        factorizations=out.factorizations,
        krylov_iterations=out.krylov_iterations,
    )
    return result, out.factors, out.factored_at
