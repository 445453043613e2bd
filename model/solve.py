"""Driving Ipopt (cyipopt) on the square system, with homotopy steps when a shock is too large."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cyipopt
import numpy as np

from fragcge import interrupt
from fragcge.errors import SolveError
from fragcge.model.evaluator import Evaluator, EvaluatorAt
from fragcge.model.system import System

RESIDUAL_TOL = 1e-8
"""Largest scaled residual accepted as an equilibrium (MODEL.md: benchmark replication)."""

IPOPT_OPTIONS: dict[str, object] = {
    "tol": 1e-10,
    "constr_viol_tol": 1e-10,
    "max_iter": 200,
    "print_level": 0,
    "sb": "yes",
    "mumps_pivot_order": 0,
    "mu_strategy": "adaptive",
}
"""AMD ordering (mumps_pivot_order=0) per SOLVER.md item 4. The Hessian is not an option here:
see HESSIAN."""

HESSIAN = (
    "zero: the Hessian of the Lagrangian is declared empty (Ipopt's hessian_approximation is "
    "its default 'exact', given no entries); for a square system with a constant objective "
    "Newton's steps do not depend on it"
)
"""What Ipopt uses as the Hessian, for manifests (SOLVER.md item 5)."""

WALL_TIME_STATUS = -5
"""Ipopt's Maximum_WallTime_Exceeded (cyipopt's table of messages predates it)."""

PROGRESS_AFTER = 2.0
"""Seconds a solve runs before it reports progress, and then between two reports."""


@dataclass(frozen=True)
class SolveLimits:
    """Bounds that make a solve that cannot succeed stop, with its diagnosis, in bounded time.

    Recorded in every manifest. The defaults are far above what a solve on data of GTAP's
    size needs, and far below "forever".
    """

    max_wall_time: float = 120.0
    """Seconds one Ipopt run may take (Ipopt's max_wall_time option)."""
    max_halvings: int = 6
    """A failed step is halved down to 1/2^max_halvings of the remaining way, then the solve
    gives up."""
    time_budget: float = 300.0
    """Seconds one solve (its whole path of Ipopt runs) may take; the last run gets what is left."""

    def __post_init__(self) -> None:
        for name in ("max_wall_time", "time_budget"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"solver limit {name} = {value!r} must be a number of seconds > 0")
        if self.max_halvings < 0:
            raise ValueError(f"solver limit max_halvings = {self.max_halvings} must be >= 0")

    def record(self) -> dict[str, float | int]:
        """The limits as the manifest lists them."""
        return {
            "max_wall_time": self.max_wall_time,
            "max_halvings": self.max_halvings,
            "time_budget": self.time_budget,
        }


DEFAULT_LIMITS = SolveLimits()
"""The bounds of a solve unless the caller gives others."""

ProgressLines = Callable[[str], None]
"""Where a long solve's progress lines go (the command line prints them on stderr)."""


class _Ticker:
    """Reports a long solve's progress: the share of the shock being tried, Ipopt's iteration
    and constraint violation, every PROGRESS_AFTER seconds once the solve has taken that long."""

    def __init__(self, progress: ProgressLines) -> None:
        self.progress = progress
        self.start = time.perf_counter()
        self.last = self.start
        self.trial = 1.0

    def __call__(self, iteration: int, violation: float) -> None:
        now = time.perf_counter()
        if now - self.last >= PROGRESS_AFTER:
            self.last = now
            self.progress(
                f"solving    {self.trial:.1%} of the shock, Ipopt iteration {iteration}, "
                f"largest violation {violation:.1e}, {now - self.start:.0f} s"
            )


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
    options: dict[str, object] = field(default_factory=dict)
    """The options Ipopt ran with: IPOPT_OPTIONS and the caller's."""
    theta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """The parameters the run (the last of a path) solved at."""
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


Tick = Callable[[int, float], None]
"""Called at each iteration of a run with the iteration and the largest constraint violation."""

Runner = Callable[
    [System, Evaluator, np.ndarray, np.ndarray, dict[str, object] | None, Tick | None],
    SolveResult,
]
"""One solve at parameters θ from a start: :func:`run_ipopt` or model/newton.py's
``run_newton``, called as run(system, ev, x0, theta, options, tick)."""

SOLVER_LABELS = {"ipopt": "Ipopt", "newton": "Newton–Krylov"}
"""SolveResult.solver in text."""


class _Problem:
    """The cyipopt problem object: zero objective, the system as equality constraints."""

    def __init__(self, ev: EvaluatorAt, tick: Tick | None = None) -> None:
        self.ev = ev
        self.rows, self.cols = ev.ev.structure()
        self.iterations = 0
        self.tick = tick

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

    def intermediate(self, alg_mod, iter_count, obj_value, inf_pr, *args):
        self.iterations = iter_count
        if self.tick is not None:
            self.tick(iter_count, inf_pr)
        return not interrupt.requested()  # False makes Ipopt return at once


def run_ipopt(
    system: System,
    ev: Evaluator,
    x0: np.ndarray,
    theta: np.ndarray,
    options: dict[str, object] | None = None,
    tick: Tick | None = None,
) -> SolveResult:
    """One Ipopt solve of the system at parameters θ, from x0; ``tick(iteration, violation)``
    is called at each iteration."""
    at = ev.at(theta)
    prob = _Problem(at, tick)
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
    used = {**IPOPT_OPTIONS, **(options or {})}
    for key, value in used.items():
        nlp.add_option(key, value)
    t0 = time.perf_counter()
    with interrupt.deferred():
        x, info = nlp.solve(np.asarray(x0, dtype=float))
    seconds = time.perf_counter() - t0
    res = at.residuals(x)
    worst = worst_residuals(system, res)
    max_res = float(np.max(np.abs(res))) if np.all(np.isfinite(res)) else float("inf")
    msg = info["status_msg"]
    message = msg.decode() if isinstance(msg, bytes) else str(msg)
    if int(info["status"]) == WALL_TIME_STATUS:
        message = f"stopped at its max_wall_time of {used['max_wall_time']:g} s"
    nonpositive = nonpositive_variables(system, x)
    return SolveResult(
        x,
        int(info["status"]),
        message,
        prob.iterations,
        seconds,
        max_res,
        worst=worst,
        nonpositive=nonpositive,
        options=used,
        theta=theta,
    )


def nonpositive_variables(system: System, x: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The first k variables at or below their floor (System.lower_bounds), by name."""
    below = np.flatnonzero(~(x > system.lower_bounds()))[:k]
    return [(system.variable_label(int(i)), float(x[i])) for i in below]


def worst_residuals(system: System, res: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """The k largest scaled residuals by equation name."""
    mag = np.where(np.isfinite(res), np.abs(res), np.inf)
    order = np.argsort(-mag, kind="stable")[:k]
    return [(system.label(int(i)), float(res[i])) for i in order]


def solve(
    system: System,
    ev: Evaluator,
    x0: np.ndarray,
    theta0: np.ndarray,
    target: np.ndarray,
    limits: SolveLimits = DEFAULT_LIMITS,
    options: dict[str, object] | None = None,
    progress: ProgressLines | None = None,
    run: Runner | None = None,
    guess: np.ndarray | None = None,
) -> SolveResult:
    """Solve at parameters ``target``, stepping from ``theta0`` (those of x0) if needed.

    The full step is tried first. When Ipopt fails, the change is split in halves from
    the last solved point, down to 1/2^max_halvings of the remaining way; the result carries
    the θ it solved at (``target``). Each Ipopt run stops at ``limits.max_wall_time`` and
    the whole path at ``limits.time_budget``. Raises SolveError with status, iterations, the
    share of the shock reached, why it stopped and the largest residuals by name if it still
    fails. ``progress`` receives a progress line every few seconds of a long solve. Each step
    is one ``run`` (default :func:`run_ipopt`; or Newton–Krylov: model/solver_choice.py);
    the homotopy is the same for every method. ``guess`` (a point near the answer, not an
    equilibrium at any θ) starts the full step instead of x0; the smaller steps, if it
    fails, start from x0, which solves ``theta0``.
    """
    run = run_ipopt if run is None else run
    x, done, step, runs, iters, secs = np.asarray(x0, float), 0.0, 1.0, 0, 0, 0.0
    last: SolveResult | None = None
    ticker = _Ticker(progress) if progress is not None else None
    began = time.perf_counter()
    while done < 1.0:
        trial = min(1.0, done + step)
        left = limits.time_budget - (time.perf_counter() - began)
        # Ipopt wants a positive bound; a run started with no time left stops at once.
        wall = max(min(limits.max_wall_time, left), 0.01)
        if ticker is not None:
            ticker.trial = trial
        theta = theta0 + trial * (target - theta0)
        start = guess if guess is not None and runs == 0 else x
        last = run(system, ev, start, theta, {**(options or {}), "max_wall_time": wall}, ticker)
        runs, iters, secs = runs + 1, iters + last.iterations, secs + last.seconds
        if last.ok:
            x, done = last.x, trial
            step = min(1.0 - done, 2 * step) if done < 1.0 else step
            continue
        step /= 2
        spent = time.perf_counter() - began
        out_of_time = spent >= limits.time_budget
        if step < 2.0**-limits.max_halvings or out_of_time:
            why = (
                f"the time budget of {limits.time_budget:g} s for one solve was used up "
                f"({spent:.0f} s)"
                if out_of_time
                else f"the step was halved {limits.max_halvings} times (max_halvings) and "
                "still failed"
            )
            raise SolveError(_failure(last, done, trial, runs, why, limits))
    assert last is not None
    last.x, last.steps, last.iterations, last.seconds = x, runs, iters, secs
    return last


def _failure(
    res: SolveResult, done: float, trial: float, runs: int, why: str, limits: SolveLimits
) -> str:
    """What a failed solve says: status, iterations, the share of the shock reached, why it
    stopped, residuals."""
    worst = "\n".join(f"    {name:<32} {value: .3e}" for name, value in res.worst)
    solver = SOLVER_LABELS[res.solver]
    # A run can converge to a point with a negative price or activity: say so first, since
    # the solver's own status then reads as a success.
    ended = " at a point that is not an equilibrium (see below)" if res.nonpositive else ""
    text = (
        f"No equilibrium was found: {solver}'s last run ended{ended} with status {res.status} "
        f"({res.message}), "
        f"{res.iterations} iterations in the last of {runs} attempts.\n"
        f"  The shock was solved up to {done:.1%} of its size; the step to {trial:.1%} failed.\n"
        f"  Gave up because {why}; solver limits: max_wall_time {limits.max_wall_time:g} s "
        f"per run, max_halvings {limits.max_halvings}, time_budget "
        f"{limits.time_budget:g} s.\n"
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
