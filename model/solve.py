"""Driving Ipopt (cyipopt) on the square system, with homotopy steps when a shock is too large."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cyipopt
import numpy as np

from fragcge.errors import SolveError
from fragcge.model.evaluator import Evaluator
from fragcge.model.system import System

RESIDUAL_TOL = 1e-8
"""Largest scaled residual accepted as an equilibrium (MODEL.md: benchmark replication)."""

IPOPT_OPTIONS: dict[str, object] = {
    "tol": 1e-10,
    "constr_viol_tol": 1e-10,
    "max_iter": 200,
    "print_level": 0,
    "sb": "yes",
    "hessian_approximation": "exact",
    "mumps_pivot_order": 0,
    "mu_strategy": "adaptive",
}
"""A square system with a constant objective: Newton steps need no Hessian (SOLVER.md item 5),
so the Hessian is declared empty; AMD ordering (mumps_pivot_order=0) per SOLVER.md item 4."""


@dataclass
class SolveResult:
    """Outcome of one Ipopt run (or of a homotopy path of runs)."""

    x: np.ndarray
    status: int
    message: str
    iterations: int
    seconds: float
    max_residual: float
    steps: int = 1
    worst: list[tuple[str, float]] = field(default_factory=list)
    nonpositive: list[tuple[str, float]] = field(default_factory=list)
    solver: str = "ipopt"
    """Which method ran: "ipopt" or "newton" (model/newton.py)."""
    factorizations: int = 0
    """Newton only: LU factorisations of the Jacobian."""
    krylov_iterations: int = 0
    """Newton only: GMRES iterations preconditioned by an earlier factorisation."""

    @property
    def ok(self) -> bool:
        """True when every scaled residual is below RESIDUAL_TOL and every variable is positive.

        The variables carry no bounds (see docs/model.md), so a point with a negative
        activity or income can satisfy the equations; it is not an equilibrium.
        """
        small = np.isfinite(self.max_residual) and self.max_residual < RESIDUAL_TOL
        return bool(small and not self.nonpositive)


Runner = Callable[[System, Evaluator, np.ndarray], SolveResult]
"""One solve at the current parameters from a start: run_ipopt or model/newton.py's run_newton."""

SOLVER_LABELS = {"ipopt": "Ipopt", "newton": "Newton–Krylov"}
"""SolveResult.solver in text."""


class _Problem:
    """The cyipopt problem object: zero objective, the system as equality constraints."""

    def __init__(self, ev: Evaluator) -> None:
        self.ev = ev
        self.rows, self.cols = ev.structure()
        self.iterations = 0

    def objective(self, x):
        return 0.0

    def gradient(self, x):
        return np.zeros_like(x)

    def constraints(self, x):
        return self.ev.residuals(x)

    def jacobianstructure(self):
        return self.rows, self.cols

    def jacobian(self, x):
        return self.ev.jacobian_values(x)

    def hessianstructure(self):
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)

    def hessian(self, x, lagrange, obj_factor):
        return np.zeros(0)

    def intermediate(self, alg_mod, iter_count, *args):
        self.iterations = iter_count
        return True


def run_ipopt(
    system: System, ev: Evaluator, x0: np.ndarray, options: dict[str, object] | None = None
) -> SolveResult:
    """One Ipopt solve of the system at the current parameters, from x0."""
    prob = _Problem(ev)
    n = system.n
    nlp = cyipopt.Problem(
        n=n,
        m=n,
        problem_obj=prob,
        lb=np.full(n, -1e20),
        ub=np.full(n, 1e20),
        cl=np.zeros(n),
        cu=np.zeros(n),
    )
    for key, value in {**IPOPT_OPTIONS, **(options or {})}.items():
        nlp.add_option(key, value)
    t0 = time.perf_counter()
    x, info = nlp.solve(np.asarray(x0, dtype=float))
    seconds = time.perf_counter() - t0
    res = ev.residuals(x)
    worst = worst_residuals(system, res)
    max_res = float(np.max(np.abs(res))) if np.all(np.isfinite(res)) else float("inf")
    msg = info["status_msg"]
    message = msg.decode() if isinstance(msg, bytes) else str(msg)
    labels = system.variable_labels()
    floor = system.lower_bounds()
    nonpositive = [(labels[k], float(x[k])) for k in np.flatnonzero(~(x > floor))[:5]]
    return SolveResult(
        x,
        int(info["status"]),
        message,
        prob.iterations,
        seconds,
        max_res,
        worst=worst,
        nonpositive=nonpositive,
    )


def worst_residuals(system: System, res: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The k largest scaled residuals by equation name."""
    labels = system.labels()
    mag = np.where(np.isfinite(res), np.abs(res), np.inf)
    order = np.argsort(-mag, kind="stable")[:k]
    return [(labels[i], float(res[i])) for i in order]


def solve(
    system: System,
    ev: Evaluator,
    x0: np.ndarray,
    target: dict[str, np.ndarray],
    max_halvings: int = 6,
    options: dict[str, object] | None = None,
    run: Runner | None = None,
) -> SolveResult:
    """Solve at the parameter values `target`, stepping from the current ones if needed.

    The full step is tried first. When Ipopt fails, the change is split in halves from
    the last solved point, down to 1/2^max_halvings of the remaining way; the parameters
    are left at `target` on success. Raises SolveError with status, iterations and the
    largest residuals by name if it still fails. Each step is one ``run`` (default:
    :func:`run_ipopt` with ``options``; model/solver_choice.py picks Newton–Krylov instead).
    """
    # Dispatch point for the solver method (issue 13): the homotopy is the same for every one.
    run = run or (lambda system, ev, x: run_ipopt(system, ev, x, options))
    start = {k: system.param(k).copy() for k in target}
    x, done, step, runs, iters, secs = np.asarray(x0, float), 0.0, 1.0, 0, 0, 0.0
    last: SolveResult | None = None
    while done < 1.0:
        trial = min(1.0, done + step)
        for k, v in target.items():
            system.set_param(k, start[k] + trial * (np.asarray(v) - start[k]))
        last = run(system, ev, x)
        runs, iters, secs = runs + 1, iters + last.iterations, secs + last.seconds
        if last.ok:
            x, done = last.x, trial
            step = min(1.0 - done, 2 * step) if done < 1.0 else step
            continue
        step /= 2
        if step < 2.0**-max_halvings:
            for k in target:
                system.set_param(k, start[k] + done * (np.asarray(target[k]) - start[k]))
            raise SolveError(_failure(last, done, trial, runs))
    assert last is not None
    last.x, last.steps, last.iterations, last.seconds = x, runs, iters, secs
    return last


def _failure(res: SolveResult, done: float, trial: float, runs: int) -> str:
    """What a failed solve says: status, iterations, the share of the shock reached, residuals."""
    worst = "\n".join(f"    {name:<32} {value: .3e}" for name, value in res.worst)
    solver = SOLVER_LABELS[res.solver]
    text = (
        f"No equilibrium was found. {solver}'s last run: status {res.status} ({res.message}), "
        f"{res.iterations} iterations in the last of {runs} attempts.\n"
        f"  The shock was solved up to {done:.1%} of its size; the step to {trial:.1%} failed.\n"
        f"  Largest scaled residual {res.max_residual:.3e}; the worst equations:\n{worst}"
    )
    if res.nonpositive:
        bad = ", ".join(f"{name} = {value:.4g}" for name, value in res.nonpositive)
        text += (
            f"\n  Not positive at {solver}'s last point: {bad}; prices, activities and incomes "
            "must be positive, so this is no equilibrium (a transfer larger than a region's "
            "income, for instance, leaves none)."
        )
    return text
