"""Residuals and sparse Jacobian of the square system, compiled with CasADi, no ASL.

Each term template becomes one small CasADi SX function of its own variables and
parameters, mapped over all its instances; residual rows are sums of terms, so the
residual is a scatter-add of the mapped values and the Jacobian a scatter of the mapped
gradients into a fixed sparsity pattern. All templates and both scatters (constant sparse
0/1 matrices) are fused into one CasADi MX function for F and one for F with the
Jacobian's values, each of x and of one parameter vector, so an evaluation is one call. The calls go
through CasADi's zero-copy buffers: converting a numpy vector of millions of entries to a
CasADi matrix and back costs more than the evaluation (issue 13, item 5). Setting up costs
one function per template (about twenty) and two MX graphs of a few nodes per template,
whatever the model size (MX is kept: expanding to SX is at most 1.4 times faster to call
at 41 × 35 but takes 9 s and 1.6 GB to build). Parameters are an argument:
:meth:`Evaluator.at` builds the parameter vector of one θ, and a new scenario reuses
everything else.
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
    Its evaluations share one set of CasADi work buffers: not for concurrent use from
    several threads (a batch's workers are processes, each with its own models)."""

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

        # Parameter vector: the constant terms by row (n + 1), then each group's (np × count)
        # parameter matrix in column-major order.
        x = casadi.MX.sym("x", n)
        sizes = [(g.p.shape[1] + 1) * len(g.rows) for g in self._groups]
        p = casadi.MX.sym("p", n + 1 + sum(sizes))
        values, values_fj, gradients, offset = [], [], [], n + 1
        for g, size in zip(self._groups, sizes, strict=True):
            kind, count = kinds[g.kind], len(g.rows)
            f, fg = _compile(kind, count)
            xg = casadi.reshape(x[g.x.ravel().tolist()], kind.nx, count)
            pg = casadi.reshape(p[offset : offset + size], kind.np, count)
            offset += size
            values.append(casadi.vec(f(xg, pg)))
            both = fg(xg, pg)
            values_fj.append(casadi.vec(both[0, :]))
            gradients.append(casadi.vec(both[1:, :]))
        term_rows = np.concatenate([g.rows for g in self._groups])
        to_rows = _ones(term_rows, np.arange(term_rows.size), (n + 1, term_rows.size))
        # Entries of the square system only, in the order of (jac_rows, jac_cols).
        square_pos = np.cumsum(self._square) - 1
        kept = np.flatnonzero(self._square[slot])
        to_entries = _ones(square_pos[slot[kept]], kept, (self.nnz, slot.size))
        self._f = casadi.Function(
            "F", [x, p], [p[: n + 1] + casadi.mtimes(to_rows, casadi.vertcat(*values))]
        )
        # F and J in one pass over the terms: each template's value and gradient share their
        # powers and logarithms, so this costs little more than J alone.
        self._fj = casadi.Function(
            "FJ",
            [x, p],
            [
                p[: n + 1] + casadi.mtimes(to_rows, casadi.vertcat(*values_fj)),
                casadi.mtimes(to_entries, casadi.vertcat(*gradients)),
            ],
        )
        # Work memory for one call of each, made once: allocating it takes longer than a call.
        self._f_buffer = self._f.buffer()
        self._fj_buffer = self._fj.buffer()

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
    """F(x) and its Jacobian at one θ, whose parameter vector is computed once."""

    def __init__(self, ev: Evaluator, theta: np.ndarray) -> None:
        self.ev = ev
        self.theta = theta
        const = np.zeros(ev.n + 1)
        for g in ev._const:
            np.add.at(const, g.rows, g.coefficients(theta))
        matrices = [g.param_matrix(theta).ravel(order="F") for g in ev._groups]
        self._p = np.concatenate([const, *matrices])
        self._kept: np.ndarray | None = None
        self._kept_at: np.ndarray | None = None

    def residuals(self, x: np.ndarray, include_dropped: bool = False) -> np.ndarray:
        """Scaled residuals of every equation (and of the dropped market when asked)."""
        x = self._point(x)
        out = np.empty(self.ev.n + 1)
        buffer, evaluate = self.ev._f_buffer
        buffer.set_arg(0, memoryview(x))
        buffer.set_arg(1, memoryview(self._p))
        buffer.set_res(0, memoryview(out))
        evaluate()
        return out if include_dropped else out[: self.ev.n]

    def residuals_then_jacobian(self, x: np.ndarray) -> np.ndarray:
        """The square system's residuals at x, as :meth:`residuals`, with the Jacobian's
        values computed in the same pass and kept for a :meth:`jacobian_values` at the same
        x: a solver asks for J where it accepted a point after evaluating F there, and the
        pass costs little more than J alone. The numbers are those of the two separate
        calls, bit for bit."""
        x = self._point(x)
        residuals, self._kept = self._both(x)
        self._kept_at = x.copy()
        return residuals[: self.ev.n]

    def jacobian_values(self, x: np.ndarray) -> np.ndarray:
        """Values of the square system's Jacobian in the order of (jac_rows, jac_cols)."""
        x = self._point(x)
        if self._kept is not None and np.array_equal(self._kept_at, x):
            values, self._kept, self._kept_at = self._kept, None, None
            return values
        return self._both(x)[1]

    def _point(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=float)
        if x.shape != (self.ev.n,):
            raise ValueError(f"x has shape {x.shape}, expected ({self.ev.n},)")
        return x

    def _both(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        residuals, values = np.empty(self.ev.n + 1), np.empty(self.ev.nnz)
        buffer, evaluate = self.ev._fj_buffer
        buffer.set_arg(0, memoryview(x))
        buffer.set_arg(1, memoryview(self._p))
        buffer.set_res(0, memoryview(residuals))
        buffer.set_res(1, memoryview(values))
        evaluate()
        return residuals, values


def _compile(kind: Kind, count: int) -> tuple[casadi.Function, casadi.Function]:
    """The template's value, and its value stacked on its gradient, as CasADi functions
    mapped over count instances."""
    x = casadi.SX.sym("x", kind.nx)
    p = casadi.SX.sym("p", kind.np)
    expr = kind.f([x[k] for k in range(kind.nx)], [p[k] for k in range(kind.np)], casadi)
    f = casadi.Function(kind.name, [x, p], [expr])
    fg = casadi.Function(
        kind.name + "_fg", [x, p], [casadi.vertcat(expr, casadi.jacobian(expr, x).T)]
    )
    return f.map(count), fg.map(count)


def _ones(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> casadi.DM:
    """The 0/1 matrix (as a CasADi sparse matrix) that adds column k into row rows[k]."""
    m = sp.csc_matrix((np.ones(rows.size), (rows, cols)), shape=shape)
    m.sum_duplicates()
    pattern = casadi.Sparsity(shape[0], shape[1], m.indptr.tolist(), m.indices.tolist())
    return casadi.DM(pattern, m.data)
