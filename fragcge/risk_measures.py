"""Expected welfare, certainty equivalents and break-even probabilities over disruption states.

Welfare in state s is real consumption relative to the reference, c_s = U_s/U_ref, and
EV_s = E_ref·(c_s − 1) with E_ref the reference's spending on its welfare index. The
certainty equivalent of CRRA utility u(c) = c^(1−γ)/(1−γ) (log c at γ = 1) is the power
mean of the c_s with exponent 1 − γ; γ = 0 gives the expected EV, and it falls as γ rises
(Jensen). Expected welfare is linear in each event's probability, so the break-even
probability of two worlds solves a linear equation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

NEVER = "never"
ALWAYS = "always"


def state_probabilities(
    states: Sequence[tuple[int, ...]], probabilities: Sequence[float], independent: bool
) -> np.ndarray:
    """Each state's probability: exclusive events, 1 − Σp for no disruption (the empty state)
    and p_j for event j alone; independent events, Π p_j over the events in the state times
    Π (1 − p_j) over those not."""
    out = np.empty(len(states))
    for k, events in enumerate(states):
        if independent:
            out[k] = math.prod(p if j in events else 1.0 - p for j, p in enumerate(probabilities))
        elif events:
            (j,) = events
            out[k] = probabilities[j]
        else:
            out[k] = 1.0 - math.fsum(probabilities)
    return out


def expected(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_s w_s·values[s] over the first axis (states)."""
    return np.tensordot(weights, values, axes=1)


def certainty_equivalent(ratios: np.ndarray, weights: np.ndarray, gamma: float) -> np.ndarray:
    """The CRRA certainty equivalent of real consumption ``ratios`` [state, ...] (each > 0)
    with state probabilities ``weights``: (Σ w c^(1−γ))^(1/(1−γ)), exp(Σ w log c) at γ = 1."""
    if np.any(ratios <= 0):
        raise ValueError("real consumption must be positive in every state")
    if gamma == 1.0:
        return np.exp(expected(np.log(ratios), weights))
    power = 1.0 - gamma
    return expected(ratios**power, weights) ** (1.0 / power)


def probability_range(
    event: int, probabilities: Sequence[float], independent: bool
) -> tuple[float, float]:
    """The probabilities ``event`` may take with the others' held: [0, 1] for independent
    events, [0, 1 − Σ others] for exclusive ones."""
    if independent:
        return 0.0, 1.0
    others = math.fsum(p for j, p in enumerate(probabilities) if j != event)
    return 0.0, max(0.0, 1.0 - others)


def with_probability(probabilities: Sequence[float], event: int, p: float) -> list[float]:
    """``probabilities`` with ``event``'s set to ``p``."""
    out = list(probabilities)
    out[event] = p
    return out


def breakeven(gap_low: float, gap_high: float, low: float, high: float) -> float | str:
    """Where a gap linear in the probability (alternative − first world's expected welfare,
    ``gap_low`` at ``low`` and ``gap_high`` at ``high``) is zero: the probability; "always"
    when the alternative is at least as good over the whole range, "never" when worse."""
    if min(gap_low, gap_high) >= 0:
        return ALWAYS
    if max(gap_low, gap_high) < 0:
        return NEVER
    return low + (high - low) * gap_low / (gap_low - gap_high)
