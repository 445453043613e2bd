"""Matrix balancing: RAS, GRAS and least squares, for tables with given totals and for SAMs.

Two problems. ``gras``/``ras`` find the matrix closest to a prior with given row and column
totals (the input-output updating problem; Miller & Blair 2009, section 7.4; Junius &
Oosterhaven 2003 and Lenzen, Wood & Gallego 2007 for negative cells). ``balance_square``
finds the square matrix closest to a prior whose every row total equals the column total
of the same account, with the totals themselves unknown (a SAM). Its RAS/GRAS solution has
one multiplier ``d`` per account: a positive cell (row k, column l) becomes ``x·d_k/d_l`` and
a negative one ``x·d_l/d_k``, which is the minimum of the GRAS information loss subject to
the balances; it is found by Newton's method on the convex dual, whose Hessian is a graph
Laplacian (solved by conjugate gradients). Least squares minimises ``Σ (x − x0)² / |x0|``
with Ipopt (cyipopt), keeps each cell's sign and can hold chosen row totals at their prior
values. Structural zeros stay zero in every method.
"""

from __future__ import annotations

from collections.abc import Sequence

import cyipopt
import numpy as np

from fragcge.errors import DatasetError

METHODS = ("ras", "gras", "least-squares")
TOTALS_TOL = 1e-11
"""RAS/GRAS with given totals stop when every row total is met to this fraction of the largest
total."""
TOL = 1e-10
"""SAM balances are met to this fraction of each account's total: what Newton's method reaches
in floating point (each gap is a difference of sums about 1e-16 accurate relative to the
account), and four orders of magnitude below validation's tolerance (``validate.RTOL``)."""
MAX_ITER = 500
DIVERGED = 20.0
"""A cell scaled down by more than e^20 (about 2e-9) is being driven to zero: the multipliers
diverge because no balanced SAM keeps that cell non-zero."""


def ras(prior: np.ndarray, row_totals: np.ndarray, col_totals: np.ndarray) -> np.ndarray:
    """``diag(r) prior diag(s)`` with the given row and column totals (prior >= 0)."""
    prior = np.asarray(prior, dtype=float)
    if (prior < 0).any():
        raise DatasetError(
            f"RAS needs a non-negative matrix; {int((prior < 0).sum())} cell(s) are negative: "
            "use GRAS"
        )
    return gras(prior, row_totals, col_totals)


def gras(prior: np.ndarray, row_totals: np.ndarray, col_totals: np.ndarray) -> np.ndarray:
    """GRAS: positive cells scaled by ``r_i s_j``, negative ones by ``1 / (r_i s_j)``.

    Each half step solves every row (then column) exactly for its multiplier, the positive
    root of ``r² p − r u − n = 0`` (Lenzen, Wood & Gallego 2007, eq. 9).
    """
    prior = np.asarray(prior, dtype=float)
    u, v = np.asarray(row_totals, dtype=float), np.asarray(col_totals, dtype=float)
    if prior.shape != (len(u), len(v)):
        raise DatasetError(
            f"GRAS: a {prior.shape} matrix with {len(u)} row and {len(v)} column totals"
        )
    scale = max(np.abs(u).max(initial=0.0), np.abs(v).max(initial=0.0), 1e-300)
    if abs(u.sum() - v.sum()) > 1e-9 * scale * max(len(u), len(v)):
        raise DatasetError(
            f"GRAS: row totals sum to {u.sum():.10g} but column totals to {v.sum():.10g}; "
            "no matrix has both"
        )
    p, n = np.maximum(prior, 0.0), np.maximum(-prior, 0.0)
    _check_reachable(p, n, u, "row")
    _check_reachable(p.T, n.T, v, "column")
    r, s = np.ones(len(u)), np.ones(len(v))
    for _ in range(MAX_ITER * 20):
        r = _multiplier(p @ s, n @ (1 / s), u)
        s = _multiplier(p.T @ r, n.T @ (1 / r), v)
        x = r[:, None] * p * s[None, :] - n / r[:, None] / s[None, :]
        if np.abs(x.sum(axis=1) - u).max(initial=0.0) <= TOTALS_TOL * scale:
            return x
    raise DatasetError(
        f"GRAS did not converge in {MAX_ITER * 20} iterations: the totals are not reachable "
        "from this matrix's pattern of zeros and signs"
    )


def _check_reachable(p: np.ndarray, n: np.ndarray, totals: np.ndarray, what: str) -> None:
    """A row with no cells of the total's sign can never reach it."""
    for k, total in enumerate(totals):
        if (total > 0 and not p[k].any()) or (total < 0 and not n[k].any()):
            raise DatasetError(
                f"cannot balance: {what} {k + 1} has a total of {total:.10g} but no "
                f"{'positive' if total > 0 else 'negative'} cell to carry it"
            )


def _multiplier(pos: np.ndarray, neg: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """The r > 0 with ``r pos − neg / r = total`` for each line."""
    with np.errstate(divide="ignore", invalid="ignore"):
        root = (totals + np.sqrt(totals**2 + 4 * pos * neg)) / (2 * pos)
        only_negative = -neg / totals
    out = np.where(pos > 0, root, np.where(neg > 0, only_negative, 1.0))
    return np.where(np.isfinite(out) & (out > 0), out, 1.0)


def balance_square(
    size: int,
    rows: np.ndarray,
    cols: np.ndarray,
    prior: np.ndarray,
    method: str,
    names: Sequence[str],
    fixed: np.ndarray | None = None,
) -> np.ndarray:
    """Cell values, closest to ``prior`` by ``method``, with every account's row total equal
    to its column total. ``fixed``: accounts whose row total stays at its prior value
    (least squares only). Raises DatasetError naming an account that cannot balance."""
    if method not in METHODS:
        raise DatasetError(f"unknown balancing method {method!r}; methods: {', '.join(METHODS)}")
    prior = np.asarray(prior, dtype=float)
    fixed = np.zeros(size, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    if fixed.any() and method != "least-squares":
        raise DatasetError(f"{method} cannot hold totals fixed; use --method least-squares")
    if method == "ras" and (prior < 0).any():
        k = int(np.argmax(prior < 0))
        raise DatasetError(
            f"RAS needs non-negative cells; {int((prior < 0).sum())} are negative, e.g. the "
            f"payment from {names[cols[k]]} to {names[rows[k]]} = {prior[k]:.10g}: use gras"
        )
    off = rows != cols  # a diagonal cell is on both sides of its account's balance
    _check_square_reachable(size, rows[off], cols[off], prior[off], names)
    if method == "least-squares":
        values = _least_squares(size, rows[off], cols[off], prior[off], names, fixed)
    else:
        values = _similarity_gras(size, rows[off], cols[off], prior[off], names)
    out = prior.copy()
    out[off] = values
    return out


def _check_square_reachable(
    size: int, rows: np.ndarray, cols: np.ndarray, prior: np.ndarray, names: Sequence[str]
) -> None:
    """An account whose cells can only move one of its two totals cannot balance."""
    up = _up(size, rows, cols, np.abs(prior), prior > 0)
    down = _up(size, cols, rows, np.abs(prior), prior > 0)
    receipts = np.bincount(rows, prior, size)
    payments = np.bincount(cols, prior, size)
    for k in np.nonzero((up > 0) != (down > 0))[0]:
        raise DatasetError(
            f"cannot balance account {names[k]}: its receipts are {receipts[k]:.10g} and its "
            f"payments {payments[k]:.10g}, and the only non-zero cells are on one side "
            "(a structurally zero row or column with a positive total); add the missing "
            "cells or remove the others"
        )


def _up(
    size: int, rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, positive: np.ndarray
) -> np.ndarray:
    """Per account, the weight of cells that rise with its multiplier: positive cells in its
    row, negative ones in its column."""
    return np.bincount(rows, weight * positive, size) + np.bincount(cols, weight * ~positive, size)


def _similarity_gras(
    size: int, rows: np.ndarray, cols: np.ndarray, prior: np.ndarray, names: Sequence[str]
) -> np.ndarray:
    """Newton on the dual ``F(μ) = Σ |x0| exp(±(μ_row − μ_col))``; its gradient is receipts
    minus payments, so its minimum is the balanced SAM."""
    sign = np.sign(prior)
    weight = np.abs(prior)
    mu = np.zeros(size)
    scale = np.maximum(np.bincount(rows, weight, size), np.bincount(cols, weight, size))
    scale = np.maximum(scale, 1e-12 * scale.max(initial=1.0))

    def at(m: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        magnitude = weight * np.exp(np.clip(sign * (m[rows] - m[cols]), -700, 700))
        values = sign * magnitude
        gap = np.bincount(rows, values, size) - np.bincount(cols, values, size)
        return float(magnitude.sum()), gap, magnitude

    value, gap, magnitude = at(mu)
    steps = 0
    while steps < MAX_ITER and (np.abs(gap) > TOL * scale).any():
        steps += 1
        step = _newton_step(size, rows, cols, magnitude, -gap)
        # Near the minimum F cannot fall by more than its own rounding (its decrease is of
        # the order of gap²): there a step is accepted when it shrinks the largest gap.
        flat = -float(gap @ step) <= 1e-12 * value
        t = 1.0
        while t > 1e-12:
            trial_value, trial_gap, trial_magnitude = at(mu + t * step)
            if trial_value <= value + 1e-4 * t * float(gap @ step):
                break
            if flat and np.abs(trial_gap / scale).max() < np.abs(gap / scale).max():
                break
            t /= 2
        mu = mu + t * step
        value, gap, magnitude = trial_value, trial_gap, trial_magnitude
    # Where no balanced SAM has the cells' pattern, F's infimum lies at infinity: the
    # multipliers run off and some cell's value tends to zero, slowly enough that its
    # account's gap can pass the tolerance first. A cell scaled so far down is a refusal.
    log_change = sign * (mu[rows] - mu[cols])
    if log_change.min(initial=0.0) < -DIVERGED:
        k = int(np.argmin(log_change))
        raise DatasetError(
            f"cannot balance: the multipliers diverge after {steps} Newton steps: the payment "
            f"from {names[cols[k]]} to {names[rows[k]]} ({prior[k]:.10g}) is being driven to "
            f"zero (scaled by {np.exp(log_change[k]):.3g}); no balanced SAM keeps it with the "
            "other cells' pattern of zeros and signs (no chain of payments returns what it "
            "carries): add the missing cells or remove this one"
        )
    if (np.abs(gap) <= TOL * scale).all():
        return sign * magnitude
    worst = int(np.argmax(np.abs(gap) / scale))
    raise DatasetError(
        f"balancing by GRAS stopped short: account {names[worst]} is off by {gap[worst]:.6g} "
        f"({abs(gap[worst]) / scale[worst]:.3g} of its total, tolerance {TOL:g}) after "
        f"{MAX_ITER} Newton steps with finite multipliers, a numerical failure rather than a "
        "property of the data; --method least-squares may still balance it"
    )


def _newton_step(
    size: int, rows: np.ndarray, cols: np.ndarray, weight: np.ndarray, rhs: np.ndarray
) -> np.ndarray:
    """Solve ``L step = rhs`` for the weighted graph Laplacian L of the SAM's cells.

    L is singular along constant steps (the same multiplier everywhere changes nothing): a
    ridge at 1e-12 of its diagonal picks the shortest step. Conjugate gradients with L
    applied cell by cell (Jacobi preconditioner): memory in proportion to the cells, where
    a dense L would grow as the square of the accounts.
    """
    diagonal = np.bincount(rows, weight, size) + np.bincount(cols, weight, size)
    ridge = 1e-12 * diagonal.max(initial=1.0)

    def apply(v: np.ndarray) -> np.ndarray:
        flow = weight * (v[rows] - v[cols])
        return np.bincount(rows, flow, size) - np.bincount(cols, flow, size) + ridge * v

    inverse = 1 / (diagonal + ridge)
    step = np.zeros(size)
    residual = rhs.copy()
    z = inverse * residual
    direction = z.copy()
    rz = residual @ z
    target = 1e-10 * np.linalg.norm(rhs)
    for _ in range(10 * size):
        if np.linalg.norm(residual) <= target:
            break
        applied = apply(direction)
        alpha = rz / (direction @ applied)
        step += alpha * direction
        residual -= alpha * applied
        z = inverse * residual
        rz, previous = residual @ z, rz
        direction = z + (rz / previous) * direction
    return step


class _LeastSquares:
    """Ipopt's view of min Σ |x0| (y − 1)² subject to linear equalities ``J y = c``, with
    x = x0·y; ``J`` is given by its non-zero entries (con, var, value)."""

    def __init__(
        self, con: np.ndarray, var: np.ndarray, entry: np.ndarray, m: int, prior: np.ndarray
    ) -> None:
        self.con, self.var, self.entry, self.m = con, var, entry, m
        self.weight = np.abs(prior) / np.abs(prior).mean()

    def objective(self, y: np.ndarray) -> float:
        return float((self.weight * (y - 1) ** 2).sum())

    def gradient(self, y: np.ndarray) -> np.ndarray:
        return 2 * self.weight * (y - 1)

    def constraints(self, y: np.ndarray) -> np.ndarray:
        return np.bincount(self.con, self.entry * y[self.var], self.m)

    def jacobian(self, y: np.ndarray) -> np.ndarray:
        return self.entry

    def jacobianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        return self.con, self.var

    def hessianstructure(self) -> tuple[np.ndarray, np.ndarray]:
        k = np.arange(len(self.weight))
        return k, k

    def hessian(self, y: np.ndarray, lagrange: np.ndarray, obj_factor: float) -> np.ndarray:
        return obj_factor * 2 * self.weight


def _least_squares(
    size: int,
    rows: np.ndarray,
    cols: np.ndarray,
    prior: np.ndarray,
    names: Sequence[str],
    fixed: np.ndarray,
) -> np.ndarray:
    """Ipopt on the relative changes y = x / x0 >= 0, each balance scaled by its account."""
    n = len(prior)
    cell = np.arange(n)
    receipts = np.bincount(rows, prior, size)
    scale = np.maximum(np.abs(receipts), np.abs(np.bincount(cols, prior, size)))
    scale = np.maximum(scale, 1e-12 * scale.max(initial=1.0))
    # Σ_k balance_k = 0 identically: the last account with cells follows from the others.
    balanced = np.zeros(size, dtype=bool)
    balanced[rows] = balanced[cols] = True
    balanced[np.nonzero(balanced)[0][-1]] = False
    held = np.nonzero(fixed)[0]
    con_of = np.full(size, -1)
    con_of[balanced] = np.arange(balanced.sum())
    held_of = np.full(size, -1)
    held_of[held] = balanced.sum() + np.arange(len(held))
    parts = [
        (con_of[rows], cell, prior / scale[rows]),
        (con_of[cols], cell, -prior / scale[cols]),
        (held_of[rows], cell, prior / scale[rows]),
    ]
    con = np.concatenate([c[c >= 0] for c, _, _ in parts])
    var = np.concatenate([v[c >= 0] for c, v, _ in parts])
    entry = np.concatenate([e[c >= 0] for c, _, e in parts])
    target = np.concatenate([np.zeros(balanced.sum()), receipts[held] / scale[held]])
    objective = _LeastSquares(con, var, entry, len(target), prior)
    problem = cyipopt.Problem(
        n=n,
        m=len(target),
        problem_obj=objective,
        lb=np.zeros(n),
        ub=np.full(n, 1e20),
        cl=target,
        cu=target,
    )
    for option, value in (
        ("print_level", 0),
        ("sb", "yes"),
        ("tol", 1e-12),
        ("constr_viol_tol", 1e-13),
        ("hessian_constant", "yes"),
        ("jac_c_constant", "yes"),
        ("jac_d_constant", "yes"),
        ("mu_strategy", "adaptive"),
    ):
        problem.add_option(option, value)
    y, info = problem.solve(np.ones(n))
    gap = np.abs(objective.constraints(y) - target)
    if info["status"] not in (0, 1) or gap.max(initial=0.0) > 1e-9:
        where = np.concatenate([np.nonzero(balanced)[0], held])
        worst = names[where[int(np.argmax(gap))]] if len(gap) else "none"
        raise DatasetError(
            f"least squares found no balanced SAM (Ipopt: {info['status_msg'].decode()}; "
            f"largest scaled gap {gap.max(initial=0.0):.3g}, at account {worst}); the fixed "
            "totals and the cells' signs may leave no solution"
        )
    return prior * y
