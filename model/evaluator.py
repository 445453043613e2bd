"""Residuals and sparse Jacobian of the square system, from the term templates.

Each template's value and gradient, as CasADi derives them once per template, run as numpy
operations over all its instances, in chunks (``model/programs.py``; the operations on
parameters alone once per θ). Residual rows are sums of terms, so F is a scatter-add of
the values (``np.bincount``) and the Jacobian a scatter-add of the partial derivatives into
a fixed sparsity pattern, numbered once per model. The pattern is in column-major (CSC)
order, the order SuperLU and the Krylov solver take, so a Newton step uses the values as
they come.

Until issue 13's last round this module evaluated one fused CasADi function of all
templates: 54 ms for F and J at 41 × 35 against 8.7 ms here, and 45 s of set-up at
141 × 65 against 8 s (benchmarks/bench_scale.py reports both at each size).

An evaluation gives F and J together (J costs a few times F, and a solver asks for J at
every point it accepts), and :class:`EvaluatorAt` keeps the last one: asking again for F or
J at the same point, as a solver's final check or the Walras check after it does, costs
nothing. :meth:`Evaluator.at` keeps the parameters of the last θ it was asked for.
Parameters are arguments: :meth:`Evaluator.at` builds the parameter matrices of one θ, and
a new scenario reuses everything else.
"""

from __future__ import annotations

import numpy as np

from fragcge.model.programs import TemplateProgram
from fragcge.model.system import System
from fragcge.model.terms import all_kinds

CHUNK = 8192
"""Instances of a template evaluated together: a few dozen arrays of this many doubles fit
in a processor's cache, and the Python overhead per chunk stays small."""


class Evaluator:
    """The system's templates and the Jacobian's pattern; :meth:`at` evaluates F(x) and its
    Jacobian at given parameters (rows 0..n−1 the square system, row n the dropped market).
    Not for concurrent use from several threads: it keeps its last evaluation (a batch's
    workers are processes, each with its own models)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.n = n = system.n
        kinds = all_kinds(len(system.margin_rows))
        self._const = [g for g in system.groups if g.kind == "const"]
        self._groups = [g for g in system.groups if g.kind != "const"]
        programs = {name: TemplateProgram(kinds[name]) for name in {g.kind for g in self._groups}}
        self._programs = [programs[g.kind] for g in self._groups]
        # Each group's variables by template position, contiguous for the gathers.
        self._variables = [np.ascontiguousarray(g.x.T) for g in self._groups]
        self._term_rows = np.concatenate([g.rows for g in self._groups]).astype(np.intp)
        # One Jacobian entry per (group, variable, instance), in that order; rows run to n
        # (the dropped market), numbered column-major.
        rows = np.concatenate([np.tile(g.rows, g.x.shape[1]) for g in self._groups])
        cols = np.concatenate([v.ravel() for v in self._variables])
        uniq, slot = np.unique(cols.astype(np.int64) * (n + 1) + rows, return_inverse=True)
        self.jac_rows = (uniq % (n + 1)).astype(np.int64)
        self.jac_cols = (uniq // (n + 1)).astype(np.int64)
        self._square = self.jac_rows < n
        self.nnz = int(self._square.sum())
        # Entries of the dropped row go to one extra slot, cut off after the scatter.
        position = np.where(self._square, np.cumsum(self._square) - 1, self.nnz)
        self._slots = position[slot].astype(np.intp)
        self._last_at: EvaluatorAt | None = None
        # Work arrays of an evaluation, made once: a fresh array of millions of entries
        # costs its page faults at every evaluation.
        self._work = (np.empty(self._term_rows.size), np.empty(self._slots.size))

    def structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each structural non-zero of the square Jacobian, column by
        column (CSC order), rows ascending within a column."""
        return self.jac_rows[self._square], self.jac_cols[self._square]

    def at(self, theta: np.ndarray) -> EvaluatorAt:
        """The residuals and Jacobian at parameters θ (the last θ's are kept)."""
        kept = self._last_at
        if kept is None or not np.array_equal(kept.theta, theta):
            kept = self._last_at = EvaluatorAt(self, theta)
        return kept

    def evaluate(self, x: np.ndarray, at: EvaluatorAt) -> tuple[np.ndarray, np.ndarray]:
        """F(x) with the dropped market last, and J's values in :meth:`structure`'s order."""
        values, partials = self._work
        t = e = 0
        # Trial points of a line search may leave a template's domain: the NaN or inf is
        # the answer (solvers reject such points), not a warning.
        with np.errstate(all="ignore"):
            for program, variables, prepared in zip(
                self._programs, self._variables, at.prepared, strict=True
            ):
                nx, count = variables.shape
                # In chunks whose arrays stay in the processor's cache: over all instances
                # at once each operation streams its arrays through memory (at 80 x 50
                # twice as slow).
                for lo in range(0, count, CHUNK):
                    hi = min(lo + CHUNK, count)
                    xs = [x[variables[k, lo:hi]] for k in range(nx)]
                    chunk = [v[lo:hi] if isinstance(v, np.ndarray) else v for v in prepared]
                    out = [values[t + lo : t + hi]]
                    out += [partials[e + k * count + lo : e + k * count + hi] for k in range(nx)]
                    program.run(xs, chunk, out)
                t += count
                e += nx * count
        residuals = at.const + np.bincount(self._term_rows, values, self.n + 1)
        jacobian = np.bincount(self._slots, partials, self.nnz + 1)[: self.nnz]
        return residuals, jacobian


class EvaluatorAt:
    """F(x) and its Jacobian at one θ, whose parameter matrices are computed once; keeps its
    last evaluation."""

    def __init__(self, ev: Evaluator, theta: np.ndarray) -> None:
        self.ev = ev
        self.theta = np.array(theta, dtype=float)
        self.const = np.zeros(ev.n + 1)
        for g in ev._const:
            np.add.at(self.const, g.rows, g.coefficients(theta))
        # Each template's θ stage (model/programs.py): what its evaluations read of θ.
        self.prepared = [
            program.prepare(list(g.param_matrix(theta)))
            for program, g in zip(ev._programs, ev._groups, strict=True)
        ]
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _evaluated(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._last is None or not np.array_equal(self._last[0], x):
            x = np.array(x, dtype=float)  # a copy: the kept values are those at these values
            if x.shape != (self.ev.n,):
                raise ValueError(f"x has shape {x.shape}, expected ({self.ev.n},)")
            self._last = (x, *self.ev.evaluate(x, self))
        return self._last[1], self._last[2]

    def residuals(self, x: np.ndarray, include_dropped: bool = False) -> np.ndarray:
        """Scaled residuals of every equation (and of the dropped market when asked)."""
        residuals = self._evaluated(x)[0]
        return residuals.copy() if include_dropped else residuals[: self.ev.n].copy()

    def jacobian_values(self, x: np.ndarray) -> np.ndarray:
        """Values of the square system's Jacobian in the order of :meth:`Evaluator.structure`."""
        return self._evaluated(x)[1].copy()
