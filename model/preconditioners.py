"""What preconditions the Newton step J dx = −F: one LU of J, or LUs of its regional blocks.

The global LU (SuperLU of J) makes the step exact and, kept, preconditions GMRES for later
steps; its fill grows with the coupling of every region-sector to every region by trade
(n^2.4–3, issue 13), so at 80 × 50 one factorisation takes minutes and gigabytes, and at
141 × 65 it is the wall. Most unknowns are a region's own prices and quantities, paired
with that region's equations: J restricted to the entries that link a region to itself is
block diagonal (one block per region, one for the world's margin pools), its LU fills only
within blocks, and its cost grows with the number of regions. Those factors precondition
GMRES on the whole J well (trade links are weaker than domestic ones), and a sweep that
also factors each good's trade block (its supply prices, import prices and volumes in
every region) better still; the step is then never exact and always a GMRES solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import SuperLU, splu

from fragcge.model.system import System

ORDERINGS = ("COLAMD", "MMD_AT_PLUS_A", "MMD_ATA", "NATURAL")
"""SuperLU's column orderings; benchmarks/bench_scale.py --orderings measures them."""

ORDERING = "COLAMD"
"""The default, by measurement (benchmarks/bench_scale.py 41x35 --orderings, J at the
balanced-trade baseline, on a loaded machine): COLAMD factors in 17 s with 19.0 M entries,
MMD_AT_PLUS_A in 68 s with 13.5 M, MMD_ATA in 145 s with 16.4 M. Fewer entries do not make
up for the slower factorisation: the factors are applied a few dozen times per solve."""

BLOCK_ORDERING = "MMD_AT_PLUS_A"
"""The ordering of the regional and trade blocks, by measurement (synthetic 41 × 35, J at the
benchmark, all regional blocks as one matrix): MMD_AT_PLUS_A 0.99 M entries in 1.2 s,
COLAMD 60.8 M in 33.5 s. Each equation is paired with its own unknown, so J's diagonal is
structurally non-zero and a minimum-degree ordering of J + Jᵀ finds each block's
structure: its purchases' prices pa[i, g] are eliminated first, leaving only its dense
sector-level core."""

PRECONDITIONERS = ("lu", "regions", "regions-trade")
""""lu": SuperLU of J; "regions": SuperLU of J's regional blocks; "regions-trade": those and
J's trade blocks by good, in a Schwarz sweep (:class:`RegionalBlocks`)."""

REGIONS_ABOVE = 30_000
"""Unknowns above which "auto" preconditions with the regional and trade blocks
("regions-trade"); below, with the global LU. Measured (CPU seconds of the balanced-trade
baseline + the two-bloc +30% iceberg scenario, benchmarks/bench_scale.py and synthetic
economies, see docs/model.md): synthetic 20 × 15 (6,760 unknowns) LU 1.55, regions-trade
1.34; synthetic 30 × 20 (15,869) LU 7.8, regions-trade 9.9; wiod2011_41x35 (54,280) LU
11.0 + 11.3, regions-trade 7.3 + 7.8, with 0.75 M factor entries against 19.0 M; at 80 × 50
(207,301) one global LU takes minutes and gigabytes (the baseline did not finish within a
solve's 300 s)."""


@dataclass
class LU:
    """SuperLU factors of J (exact) or of an approximation of it (its regional blocks)."""

    lu: SuperLU
    exact: bool
    """True when :meth:`solve` applies J⁻¹ for the J factored (up to rounding)."""

    @property
    def entries(self) -> int:
        """Entries stored in L and U, a measure of the factors' memory."""
        return int(self.lu.L.nnz + self.lu.U.nnz)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """The factored matrix's inverse applied to rhs."""
        return self.lu.solve(rhs)


def factorize(jac: sp.csc_matrix, ordering: str = ORDERING) -> LU:
    """SuperLU factors of jac with the given column ordering (scipy.sparse.linalg.splu)."""
    return LU(splu(jac, permc_spec=ordering), exact=True)


def region_of_unknowns(system: System) -> np.ndarray:
    """The region of each unknown (and of its paired equation): the importing or using
    region of a variable indexed by region (its last region index), −1 for the world's
    margin pools (YT, pt), which belong to no region."""
    out = np.full(system.n, -1, dtype=np.int64)
    for block in system.var.values():
        axes = [k for k, a in enumerate(block.axes) if a in ("r", "s")]
        if axes and block.size:
            out[block.offset : block.offset + block.size] = block.members[:, axes[-1]]
    return out


TRADE = ("py", "pm", "M")
"""The unknowns through which regions trade: supply prices (in other regions' import price
indices and tariff revenue), import prices and volumes (in other regions' export demand)."""


def good_of_trade_unknowns(system: System) -> np.ndarray:
    """The good of each unknown of :data:`TRADE`, −1 for every other unknown."""
    out = np.full(system.n, -1, dtype=np.int64)
    for name in TRADE:
        block = system.var[name]
        out[block.offset : block.offset + block.size] = block.members[:, 0]
    return out


def _same_group(jac: sp.csc_matrix, group: np.ndarray) -> sp.csc_matrix:
    """jac with every entry dropped whose row and column are in different groups."""
    cols = np.repeat(np.arange(jac.shape[1]), np.diff(jac.indptr))
    keep = group[jac.indices] == group[cols]
    # Copies of the index arrays: eliminate_zeros works in place and jac is used after.
    data = np.where(keep, jac.data, 0.0)
    local = sp.csc_matrix((data, jac.indices.copy(), jac.indptr.copy()), jac.shape)
    local.eliminate_zeros()
    return local


@dataclass
class RegionsAndTrade:
    """Regional blocks of J and, per good, its trade block, applied one after the other.

    The regional blocks hold each region's input-output and income links, the trade blocks
    each good's links between regions (supply prices, import prices and volumes), which
    the regional blocks leave out. One application is a symmetric multiplicative Schwarz
    sweep: regions, trade, regions, with the residual updated by J (the J factored) in
    between. It costs two solves with the regional factors, one with the trade factors and
    two products with J, and takes fewer GMRES iterations than the regional blocks alone.
    """

    jac: sp.csc_matrix
    regions: SuperLU
    trade: SuperLU
    trade_unknowns: np.ndarray
    exact: bool = False

    @property
    def entries(self) -> int:
        """Entries of the two factorisations' L and U."""
        return sum(int(lu.L.nnz + lu.U.nnz) for lu in (self.regions, self.trade))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """The sweep's approximation of J⁻¹ rhs."""
        y = self.regions.solve(rhs)
        t = self.trade_unknowns
        y[t] += self.trade.solve((rhs - self.jac @ y)[t])
        return y + self.regions.solve(rhs - self.jac @ y)


Factors = LU | RegionsAndTrade
"""What a preconditioner makes of J: ``exact``, ``entries`` and ``solve``."""


class RegionalBlocks:
    """Makes factors of the regional blocks of a Jacobian of ``system`` (:class:`LU`, not
    exact) or, with ``trade``, :class:`RegionsAndTrade` factors."""

    def __init__(self, system: System, ordering: str = BLOCK_ORDERING, trade: bool = False) -> None:
        self.region = region_of_unknowns(system)
        good = good_of_trade_unknowns(system)
        self.trade_unknowns = np.flatnonzero(good >= 0) if trade else None
        self.good = good[good >= 0]
        self.ordering = ordering

    def __call__(self, jac: sp.csc_matrix) -> Factors:
        """SuperLU factors of jac's regional blocks (and of its trade blocks by good)."""
        regions = splu(_same_group(jac, self.region), permc_spec=self.ordering)
        t = self.trade_unknowns
        if t is None:
            return LU(regions, exact=False)
        trade = splu(_same_group(jac[t][:, t].tocsc(), self.good), permc_spec=self.ordering)
        return RegionsAndTrade(jac, regions, trade, t)


def choose_preconditioner(name: str, n: int) -> str:
    """The preconditioner for a system of n unknowns when ``name`` is asked for ("auto": by
    :data:`REGIONS_ABOVE`)."""
    if name == "auto":
        return "regions-trade" if n > REGIONS_ABOVE else "lu"
    if name not in PRECONDITIONERS:
        raise ValueError(
            f"unknown preconditioner {name!r}: expected one of {', '.join(PRECONDITIONERS)}, auto"
        )
    return name
