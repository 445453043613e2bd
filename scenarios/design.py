"""Sampling designs for elasticity uncertainty: Monte Carlo draws, Stroud quadrature, summaries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DISTRIBUTIONS = ("uniform", "triangular", "normal")
"""Distributions an uncertain parameter may follow; "normal" is truncated to its bounds."""

MIN_NORMAL_MASS = 1e-6
"""Smallest share of a normal's mass its bounds may keep: rejection sampling needs ~1/mass draws."""


@dataclass(frozen=True)
class Distribution:
    """A bounded distribution: uniform, triangular (mode) or truncated normal (mean, sd)."""

    kind: str
    lower: float
    upper: float
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None

    def moments(self) -> tuple[float, float]:
        """Mean and variance of the distribution, truncation included."""
        a, b = self.lower, self.upper
        if self.kind == "uniform":
            return (a + b) / 2, (b - a) ** 2 / 12
        if self.kind == "triangular":
            c = self.mode
            return (a + b + c) / 3, (a * a + b * b + c * c - a * b - a * c - b * c) / 18
        alpha, beta = (a - self.mean) / self.sd, (b - self.mean) / self.sd
        mass = _normal_cdf(beta) - _normal_cdf(alpha)
        shift = (_normal_pdf(alpha) - _normal_pdf(beta)) / mass
        spread = (alpha * _normal_pdf(alpha) - beta * _normal_pdf(beta)) / mass
        return self.mean + self.sd * shift, self.sd**2 * (1 + spread - shift**2)

    def normal_mass(self) -> float:
        """Share of the untruncated normal's mass inside the bounds."""
        alpha, beta = (self.lower - self.mean) / self.sd, (self.upper - self.mean) / self.sd
        return _normal_cdf(beta) - _normal_cdf(alpha)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent draws from ``rng``."""
        if self.kind == "uniform":
            return rng.uniform(self.lower, self.upper, size)
        if self.kind == "triangular":
            return rng.triangular(self.lower, self.mode, self.upper, size)
        # numpy has no normal inverse CDF; rejection keeps the draws a deterministic function
        # of the seed, at an expected cost of 1/mass normal draws per kept one.
        kept: list[np.ndarray] = []
        count = 0
        while count < size:
            batch = rng.normal(self.mean, self.sd, 2 * (size - count) + 16)
            inside = batch[(batch >= self.lower) & (batch <= self.upper)]
            kept.append(inside)
            count += inside.size
        return np.concatenate(kept)[:size]


def stroud_points(n: int) -> np.ndarray:
    """Stroud's (1957) degree-3 design: 2n points in n dimensions, zero mean, identity covariance.

    Row j (1..2n) has x[2r-1] = √2 cos((2r-1)jπ/n), x[2r] = √2 sin((2r-1)jπ/n) for
    r = 1..⌊n/2⌋, and x[n] = (-1)^j when n is odd; every point has weight 1/(2n).
    """
    if n < 1:
        raise ValueError(f"a design needs at least one parameter, got {n}")
    j = np.arange(1, 2 * n + 1)[:, None]
    points = np.empty((2 * n, n))
    for r in range(1, n // 2 + 1):
        angle = (2 * r - 1) * j[:, 0] * math.pi / n
        points[:, 2 * r - 2] = math.sqrt(2) * np.cos(angle)
        points[:, 2 * r - 1] = math.sqrt(2) * np.sin(angle)
    if n % 2:
        points[:, n - 1] = (-1.0) ** j[:, 0]
    # cos and sin of multiples of π leave ~1e-16 where the exact value is 0.
    points[np.abs(points) < 1e-12] = 0.0
    return points


def quadrature(distributions: Sequence[Distribution]) -> tuple[np.ndarray, np.ndarray]:
    """DeVuyst–Preckel (1997) points (2N × N) and weights matching each mean and variance."""
    moments = np.array([d.moments() for d in distributions])
    mean, sd = moments[:, 0], np.sqrt(moments[:, 1])
    points = mean + stroud_points(len(distributions)) * sd
    return points, np.full(len(points), 1 / len(points))


def monte_carlo(
    distributions: Sequence[Distribution], draws: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``draws`` independent draws (draws × N), each of weight 1/draws; the same for a seed."""
    rng = np.random.default_rng(seed)
    columns = [d.sample(rng, draws) for d in distributions]
    return np.column_stack(columns), np.full(draws, 1 / draws)


@dataclass(frozen=True)
class Summary:
    """Mean, standard deviation and 5th and 95th percentiles of one result across runs."""

    mean: float
    sd: float
    p5: float
    p95: float


def summarise(values: Sequence[float], weights: Sequence[float] | None = None) -> Summary:
    """Summary of Monte Carlo results (``weights`` None) or of a weighted quadrature design.

    Monte Carlo: the sample mean, the sample sd (n - 1) and numpy's linear percentiles.
    Weighted: the moments the design integrates (weights normalised to 1), and percentiles
    interpolated between points placed at the midpoints of their cumulative weight, clamped
    to the smallest and largest value; with 2N points these are coarse, as any design is.
    """
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values to summarise")
    if weights is None:
        sd = float(x.std(ddof=1)) if x.size > 1 else 0.0
        p5, p95 = np.percentile(x, [5, 95])
        return Summary(float(x.mean()), sd, float(p5), float(p95))
    w = np.asarray(weights, dtype=float)
    if w.shape != x.shape or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be one non-negative number per value, not all zero")
    w = w / w.sum()
    mean = float(w @ x)
    sd = math.sqrt(max(float(w @ (x - mean) ** 2), 0.0))
    order = np.argsort(x, kind="stable")
    centres = np.cumsum(w[order]) - w[order] / 2
    p5, p95 = np.interp([0.05, 0.95], centres, x[order])
    return Summary(mean, sd, float(p5), float(p95))


def _normal_pdf(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))
