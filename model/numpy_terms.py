"""The term templates evaluated with numpy, for reports and the welfare decomposition.

The third backend of ``model/terms.py`` beside the solver's (``evaluator.py``, values with
derivatives) and Pyomo (``pyomo_model.py``, for modellers): the same template functions,
called with numpy arrays holding all instances at once, so that a quantity a report needs
(a route's volume, its delivered price) is computed by the statement of the economics the
equations use, not by a second statement of it.
"""

from __future__ import annotations

import numpy as np

from fragcge.model.structure import TermGroup
from fragcge.model.system import System
from fragcge.model.terms import Kind, all_kinds


class NumpyOps:
    """The math functions the templates call, from numpy (elementwise over instances)."""

    log = staticmethod(np.log)
    exp = staticmethod(np.exp)
    sqrt = staticmethod(np.sqrt)


def term_values(kind: Kind, group: TermGroup, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The value of every instance of a template's group at point x and parameters θ."""
    xs = [x[group.x[:, k]] for k in range(kind.nx)]
    return kind.f(xs, list(group.param_matrix(theta)), NumpyOps)


def residuals(system: System, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Scaled residuals of every equation, the dropped market last (row n), from the
    templates in numpy: the evaluator's numbers, without derivatives."""
    kinds = all_kinds(len(system.margin_rows))
    out = np.zeros(system.n + 1)
    for g in system.groups:
        values = (
            g.coefficients(theta) if g.kind == "const" else term_values(kinds[g.kind], g, x, theta)
        )
        np.add.at(out, g.rows, values)
    return out
