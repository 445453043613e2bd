"""Residuals and sparse Jacobian of the square system, compiled with CasADi, no ASL.

Each term template becomes one small CasADi SX function of its own variables and
parameters, mapped over all its instances; residual rows are sums of terms, so the
residual is a scatter-add of the mapped values and the Jacobian a scatter of the mapped
gradients into a fixed sparsity pattern. Setting up costs one function per template
(about twenty), whatever the model size. Parameters are an argument: :meth:`Evaluator.at`
builds the parameter matrices of one θ, and a new scenario reuses everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import casadi
import numpy as np

from fragcge.model.structure import TermGroup
from fragcge.model.system import System
from fragcge.model.terms import Kind, all_kinds


@dataclass
class _Compiled:
    group: TermGroup
    f: casadi.Function
    jac: casadi.Function
    jac_slot: np.ndarray  # position of each Jacobian entry in the merged pattern


class Evaluator:
    """The compiled templates and the Jacobian's pattern of a system; :meth:`at` evaluates
    F(x) and its Jacobian at given parameters (rows 0..n−1 the square system, row n the
    dropped market)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.n = system.n
        kinds = all_kinds(len(system.margin_rows))
        self._const = [g for g in system.groups if g.kind == "const"]
        self._compiled: list[_Compiled] = []
        rows, cols = [], []
        for g in system.groups:
            if g.kind == "const":
                continue
            f, jac = _compile(kinds[g.kind], len(g.rows))
            rows.append(np.repeat(g.rows, g.x.shape[1]))
            cols.append(g.x.ravel())
            self._compiled.append(_Compiled(g, f, jac, np.empty(0, dtype=np.int64)))
        rows_all = np.concatenate(rows)
        cols_all = np.concatenate(cols)
        key = rows_all * self.n + cols_all
        uniq, inverse = np.unique(key, return_inverse=True)
        self.jac_rows = (uniq // self.n).astype(np.int64)
        self.jac_cols = (uniq % self.n).astype(np.int64)
        start = 0
        for c in self._compiled:
            size = c.group.x.size
            c.jac_slot = inverse[start : start + size]
            start += size
        self.nnz_all = len(uniq)
        self._square = self.jac_rows < self.n

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
        self._p = [c.group.param_matrix(theta) for c in ev._compiled]
        const = np.zeros(ev.n + 1)
        for g in ev._const:
            np.add.at(const, g.rows, g.coefficients(theta))
        self._const_value = const

    def residuals(self, x: np.ndarray, include_dropped: bool = False) -> np.ndarray:
        """Scaled residuals of every equation (and of the dropped market when asked)."""
        ev = self.ev
        out = self._const_value.copy()
        for c, p in zip(ev._compiled, self._p, strict=True):
            vals = np.asarray(c.f(x[c.group.x].T, p)).ravel()
            out += np.bincount(c.group.rows, weights=vals, minlength=ev.n + 1)
        return out if include_dropped else out[: ev.n]

    def jacobian_values(self, x: np.ndarray) -> np.ndarray:
        """Values of the square system's Jacobian in the order of (jac_rows, jac_cols)."""
        ev = self.ev
        out = np.zeros(ev.nnz_all)
        for c, p in zip(ev._compiled, self._p, strict=True):
            vals = np.asarray(c.jac(x[c.group.x].T, p)).T.ravel()
            out += np.bincount(c.jac_slot, weights=vals, minlength=ev.nnz_all)
        return out[ev._square]


def _compile(kind: Kind, count: int) -> tuple[casadi.Function, casadi.Function]:
    """The template's value and gradient as CasADi functions mapped over count instances."""
    x = casadi.SX.sym("x", kind.nx)
    p = casadi.SX.sym("p", kind.np)
    expr = kind.f([x[k] for k in range(kind.nx)], [p[k] for k in range(kind.np)], casadi)
    f = casadi.Function(kind.name, [x, p], [expr])
    jac = casadi.Function(kind.name + "_jac", [x, p], [casadi.jacobian(expr, x).T])
    return f.map(count), jac.map(count)
