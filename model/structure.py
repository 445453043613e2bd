"""Sparse bookkeeping of the square system: variable blocks, parameters and equation terms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from fragcge.calibration.calibrate import Calibration
    from fragcge.model.nests import Nests, TreeShares


@dataclass
class Block:
    """A family of variables or equations over a sparse index set of a dense index space.

    ``pos`` maps a dense index (e.g. ``[j, r]``) to the global position, −1 where the
    member does not exist (a zero benchmark flow); ``members`` lists the dense indices
    in global order.
    """

    name: str
    axes: tuple[str, ...]
    pos: np.ndarray
    members: np.ndarray
    offset: int

    @property
    def size(self) -> int:
        """Number of members."""
        return len(self.members)


def make_block(name: str, axes: tuple[str, ...], mask: np.ndarray, offset: int) -> Block:
    """A block over the True cells of mask, numbered from offset in C order."""
    members = np.argwhere(mask)
    pos = np.full(mask.shape, -1, dtype=np.int64)
    pos[tuple(members.T)] = offset + np.arange(len(members))
    return Block(name, axes, pos, members, offset)


@dataclass
class Params:
    """The parameter vector θ: constants and mutable scenario parameters.

    Mutable parameters are named arrays over a dense index space; their entries in θ
    are refreshed from scenario values before a solve, and the Pyomo model holds them
    as mutable Params.
    """

    values: list[np.ndarray] = field(default_factory=list)
    size: int = 0
    mutable: dict[str, Block] = field(default_factory=dict)
    _const_cache: dict[float, int] = field(default_factory=dict)

    def const(self, values: np.ndarray | float, n: int | None = None) -> np.ndarray:
        """Positions in θ of constant values (scalars are shared: elasticities repeat)."""
        if np.isscalar(values):
            v = float(values)
            if v not in self._const_cache:
                self._const_cache[v] = self._append(np.array([v]))[0]
            return np.full(n if n is not None else 1, self._const_cache[v], dtype=np.int64)
        return self._append(np.asarray(values, dtype=float).ravel())

    def add_mutable(self, name: str, axes: tuple[str, ...], initial: np.ndarray) -> Block:
        """Register a mutable parameter over all cells of a dense array, at its initial values."""
        mask = np.ones(initial.shape, dtype=bool)
        block = make_block(name, axes, mask, self.size)
        self._append(np.asarray(initial, dtype=float).ravel())
        self.mutable[name] = block
        return block

    def _append(self, v: np.ndarray) -> np.ndarray:
        idx = self.size + np.arange(len(v), dtype=np.int64)
        self.values.append(v)
        self.size += len(v)
        return idx

    def vector(self) -> np.ndarray:
        """θ as one array."""
        return np.concatenate(self.values) if self.values else np.zeros(0)


@dataclass
class TermGroup:
    """All instances of one template: equation rows, variable positions, parameter positions.

    The coefficient of each instance (its template's first parameter, ``coef``) is
    ``coef · Π θ[coef_params]`` (−1 = none), so a coefficient can scale with mutable
    parameters such as a tariff rate.
    """

    kind: str
    rows: np.ndarray
    x: np.ndarray
    p: np.ndarray
    coef: np.ndarray
    coef_params: np.ndarray

    def coefficients(self, theta: np.ndarray) -> np.ndarray:
        """The coefficient ``coef`` of each instance: coef × Π θ[coef_params]."""
        coef = self.coef.copy()
        for k in range(self.coef_params.shape[1]):
            idx = self.coef_params[:, k]
            has = idx >= 0
            coef[has] *= theta[idx[has]]
        return coef

    def param_matrix(self, theta: np.ndarray) -> np.ndarray:
        """Parameters of every instance as an (np × instances) matrix in the order of its
        template's ``Kind.params``, the coefficient first."""
        return np.vstack([self.coefficients(theta)[None, :], theta[self.p].T])


class Terms:
    """Collects equation terms by template while the equation blocks are written."""

    def __init__(self) -> None:
        self._parts: dict[str, list[tuple[np.ndarray, ...]]] = {}

    def add(
        self,
        kind: str,
        rows: np.ndarray,
        x: list[np.ndarray],
        p: list[np.ndarray],
        coef: np.ndarray | float,
        coef_params: list[np.ndarray] | None = None,
    ) -> None:
        """Add instances of a template; x and p are columns of positions, one entry per instance."""
        rows = np.asarray(rows, dtype=np.int64)
        n = len(rows)
        if n == 0:
            return
        cols = [np.broadcast_to(np.asarray(c, dtype=np.int64), (n,)) for c in x]
        pcols = [np.broadcast_to(np.asarray(c, dtype=np.int64), (n,)) for c in p]
        xs = np.stack(cols, axis=1) if cols else np.zeros((n, 0), dtype=np.int64)
        ps = np.stack(pcols, axis=1) if pcols else np.zeros((n, 0), dtype=np.int64)
        cp = coef_params or []
        cps = [np.broadcast_to(np.asarray(c, dtype=np.int64), (n,)) for c in cp]
        cps += [np.full(n, -1, dtype=np.int64)] * (2 - len(cps))
        coefs = np.broadcast_to(np.asarray(coef, dtype=float), (n,)).copy()
        self._parts.setdefault(kind, []).append((rows, xs, ps, coefs, np.stack(cps, axis=1)))

    def move_rows(self, moves: dict[int, int]) -> None:
        """Give the terms of each row ``old`` the row ``moves[old]``, all at once."""
        for parts in self._parts.values():
            for part in parts:
                rows = part[0]
                was = {old: rows == old for old in moves}
                for old, new in moves.items():
                    rows[was[old]] = new

    def groups(self) -> list[TermGroup]:
        """One TermGroup per template, instances in the order added."""
        out = []
        for kind in sorted(self._parts):
            parts = self._parts[kind]
            out.append(TermGroup(kind, *(np.concatenate([q[k] for q in parts]) for k in range(5))))
        return out


class EquationSpace(Protocol):
    """What the equation blocks read and write while a System is built.

    Declared here, below both ``equations`` and ``system``, so that the equations do not
    import the System that imports them.
    """

    cal: Calibration
    var: dict[str, Block]
    params: Params
    terms: Terms
    routes: np.ndarray
    """Trade routes (i, s, r) with a non-zero benchmark flow."""
    margin_rows: list[int]
    """Margins with a non-zero benchmark supply."""
    nests: Nests
    """Every agent's nest tree."""
    nest_shares: dict[str, TreeShares]
    """The trees calibrated on the data, by agent."""
    elasticity_values: dict[str, np.ndarray]
    """The data's elasticities by name (at least 1-d)."""
