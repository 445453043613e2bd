"""Which method solves a model: Ipopt (the reference) or Newton–Krylov (large models).

Both solve the same square system to the same tolerance and the homotopy above them is the
same (model/solve.py); they differ in linear algebra only. Ipopt factors the 2n × 2n KKT
matrix every iteration, Newton–Krylov factors J (n × n) once and reuses it, which pays
above a few thousand unknowns (benchmarks/bench_scale.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from fragcge.model.newton import NewtonRunner, run_newton
from fragcge.model.solve import SOLVER_LABELS, Runner, run_ipopt

METHODS = ("ipopt", "newton", "auto")
"""What a user may ask for; "auto" chooses by the model's size."""

NEWTON_ABOVE = 5000
"""Unknowns above which "auto" chooses Newton–Krylov. Measured (benchmarks/bench_scale.py,
wall seconds on a loaded machine, baseline and scenario): Newton–Krylov is faster at every
size, but at 10 × 8 (1,323 unknowns) both take under 0.3 s and Ipopt, the reference, stays;
at synthetic 20 × 15 (6,760) Ipopt takes 3.5 s and 3.3 s, Newton–Krylov 1.0 s and 1.8 s; at
41 × 35 (54,280) Ipopt 168 s and 101 s, Newton–Krylov 10.3 s and 9.9 s."""


@dataclass(frozen=True)
class SolverChoice:
    """The method chosen, why, and the function that runs one solve with it."""

    method: str
    reason: str
    run: Runner
    reuse_factors: bool = True
    """Whether a Newton–Krylov path of solves starts each solve from the factors of J of the
    one before it (:meth:`path_runner`); False factors afresh in every solve (benchmarks)."""

    def path_runner(self) -> Runner:
        """A runner for one sequence of solves of the model, each starting near the last (the
        welfare decomposition's path): for Newton–Krylov a new :class:`NewtonRunner`, which
        hands each solve's factors of J to the next as its preconditioner and frees them
        with the sequence; otherwise (Ipopt has nothing to keep) ``run``."""
        return NewtonRunner() if self.method == "newton" and self.reuse_factors else self.run

    @property
    def label(self) -> str:
        """The method's name in text: Ipopt or Newton–Krylov."""
        return SOLVER_LABELS[self.method]


def choose_solver(method: str, n: int) -> SolverChoice:
    """The solver for a model of n unknowns when the user asks for ``method``."""
    if method not in METHODS:
        raise ValueError(f"unknown solver {method!r}: expected one of {', '.join(METHODS)}")
    if method == "ipopt":
        return SolverChoice("ipopt", "asked for: solver = ipopt", run_ipopt)
    if method == "newton":
        return SolverChoice("newton", "asked for: solver = newton", run_newton)
    if n > NEWTON_ABOVE:
        reason = f"auto: {n} unknowns > {NEWTON_ABOVE}, where Newton–Krylov is faster"
        return SolverChoice("newton", reason, run_newton)
    reason = f"auto: {n} unknowns ≤ {NEWTON_ABOVE}, Ipopt (the reference solver)"
    return SolverChoice("ipopt", reason, run_ipopt)
