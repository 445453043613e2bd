"""Residuals and sparse Jacobian of the square system, compiled with CasADi, no ASL.

Each term template becomes one small CasADi SX function of its own variables and
parameters, returning its value and its gradient, mapped over all its instances; residual
rows are sums of terms, so the residual is a scatter-add of the mapped values and the
Jacobian a scatter of the mapped gradients into a fixed sparsity pattern. All templates
and both scatters (constant sparse 0/1 matrices) are fused into one CasADi MX function of
x, the constant terms and each template's parameter matrix, returning F and J's values: an
evaluation is one call, and F with J costs little more than J alone (a template's value
and gradient share their powers and logarithms). :meth:`EvaluatorAt.residuals` keeps the
J it computed for a :meth:`EvaluatorAt.jacobian_values` at the same point: solvers ask for
J where they accepted a point after evaluating F there. The call goes through CasADi's
zero-copy buffers, made once per model: converting numpy vectors of millions of entries to
CasADi matrices and back, and allocating work memory, cost more than the evaluation
(issue 13, item 5). One function rather than separate F and J ones halves the work memory
(at 60 × 40, 34 M doubles against 73 M); parameters are inputs, not slices of one vector,
which would be copied. Setting up costs one function per template (about twenty) and an
MX graph of a few nodes per template, whatever the model size (MX is kept: expanding to SX
is at most 1.4 times faster to call at 41 × 35 but takes 9 s and 1.6 GB to build).
Parameters are arguments: :meth:`Evaluator.at` builds the parameter matrices of one θ, and
a new scenario reuses everything else.
"""

from __future__ import annotations

import casadi
import numpy as np
import scipy.sparse as sp

from fragcge.model.system import System
from fragcge.model.terms import Kind, all_kinds


class Evaluator:
    """The compiled system and the Jacobian's pattern; :meth:`at` evaluates F(x) and its
    Jacobian at given parameters (rows 0..n−1 the square system, row n the dropped market).
    Its evaluations share one CasADi work buffer: not for concurrent use from several
    threads (a batch's workers are processes, each with its own models)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.n = system.n
        kinds = all_kinds(len(system.margin_rows))
        self._const = [g for g in system.groups if g.kind == "const"]
        self._groups = [g for g in system.groups if g.kind != "const"]
        n = self.n
        rows_all = np.concatenate([np.repeat(g.rows, g.x.shape[1]) for g in self._groups])
        cols_all = np.concatenate([g.x.ravel() for g in self._groups])
        uniq, slot = np.unique(rows_all * n + cols_all, return_inverse=True)
        self.jac_rows = (uniq // n).astype(np.int64)
        self.jac_cols = (uniq % n).astype(np.int64)
        self._square = self.jac_rows < n

        # Inputs: x, the constant terms by row (n + 1), each group's (np × count) parameters.
        x = casadi.MX.sym("x", n)
        const = casadi.MX.sym("const", n + 1)
        params, values, gradients = [], [], []
        for k, g in enumerate(self._groups):
            kind, count = kinds[g.kind], len(g.rows)
            pg = casadi.MX.sym(f"p{k}", kind.np, count)
            xg = casadi.reshape(x[g.x.ravel().tolist()], kind.nx, count)
            value, gradient = _compile(kind, count)(xg, pg)
            params.append(pg)
            values.append(casadi.vec(value))
            gradients.append(casadi.vec(gradient))
        term_rows = np.concatenate([g.rows for g in self._groups])
        to_rows = _ones(term_rows, np.arange(term_rows.size), (n + 1, term_rows.size))
        # Entries of the square system only, in the order of (jac_rows, jac_cols).
        square_pos = np.cumsum(self._square) - 1
        kept = np.flatnonzero(self._square[slot])
        to_entries = _ones(square_pos[slot[kept]], kept, (self.nnz, slot.size))
        fj = casadi.Function(
            "FJ",
            [x, const, *params],
            [
                const + casadi.mtimes(to_rows, casadi.vertcat(*values)),
                casadi.mtimes(to_entries, casadi.vertcat(*gradients)),
            ],
        )
        # Work memory for a call, made once: allocating it takes longer than a call.
        self._fj = fj.buffer()

    @property
    def nnz(self) -> int:
        """Structural non-zeros of the square system's Jacobian."""
        return int(self._square.sum())

    def structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each structural non-zero of the square Jacobian."""
        return self.jac_rows[self._square], self.jac_cols[self._square]

    def at(self, theta: np.ndarray) -> EvaluatorAt:
        """The residuals and Jacobian at parameters θ."""
        return EvaluatorAt(self, theta)


class EvaluatorAt:
    """F(x) and its Jacobian at one θ, whose parameter matrices are computed once."""

    def __init__(self, ev: Evaluator, theta: np.ndarray) -> None:
        self.ev = ev
        self.theta = theta
        const = np.zeros(ev.n + 1)
        for g in ev._const:
            np.add.at(const, g.rows, g.coefficients(theta))
        # Column-major, as CasADi reads a matrix.
        self._inputs = [const] + [g.param_matrix(theta).ravel(order="F") for g in ev._groups]
        self._kept: tuple[np.ndarray, np.ndarray] | None = None

    def residuals(self, x: np.ndarray, include_dropped: bool = False) -> np.ndarray:
        """Scaled residuals of every equation (and of the dropped market when asked). The
        Jacobian's values at x, computed in the same pass, are kept for a
        :meth:`jacobian_values` at the same x."""
        x = np.array(x, dtype=float)  # a copy: the kept J is J at these values
        if x.shape != (self.ev.n,):
            raise ValueError(f"x has shape {x.shape}, expected ({self.ev.n},)")
        out, values = np.empty(self.ev.n + 1), np.empty(self.ev.nnz)
        buffer, evaluate = self.ev._fj
        buffer.set_arg(0, memoryview(x))
        for k, data in enumerate(self._inputs, start=1):
            buffer.set_arg(k, memoryview(data))
        buffer.set_res(0, memoryview(out))
        buffer.set_res(1, memoryview(values))
        evaluate()
        self._kept = (x, values)
        return out if include_dropped else out[: self.ev.n]

    def jacobian_values(self, x: np.ndarray) -> np.ndarray:
        """Values of the square system's Jacobian in the order of (jac_rows, jac_cols)."""
        if self._kept is None or not np.array_equal(self._kept[0], x):
            self.residuals(x)
        assert self._kept is not None
        values, self._kept = self._kept[1], None
        return values


def _compile(kind: Kind, count: int) -> casadi.Function:
    """The template's value and gradient (two outputs) as a CasADi function mapped over
    count instances."""
    x = casadi.SX.sym("x", kind.nx)
    p = casadi.SX.sym("p", kind.np)
    expr = kind.f([x[k] for k in range(kind.nx)], [p[k] for k in range(kind.np)], casadi)
    fg = casadi.Function(kind.name, [x, p], [expr, casadi.jacobian(expr, x).T])
    return fg.map(count)


def _ones(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> casadi.DM:
    """The 0/1 matrix (as a CasADi sparse matrix) that adds column k into row rows[k]."""
    m = sp.csc_matrix((np.ones(rows.size), (rows, cols)), shape=shape)
    m.sum_duplicates()
    pattern = casadi.Sparsity(shape[0], shape[1], m.indptr.tolist(), m.indices.tolist())
    return casadi.DM(pattern, m.data)
