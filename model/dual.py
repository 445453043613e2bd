"""Forward-mode derivatives of a term template over all its instances at once, in numpy.

The solver's backend of ``model/terms.py``: a template called with :class:`Dual` variables
(and :class:`DualOps` as its math functions) returns each instance's value together with its
partial derivatives with respect to the template's few variables, with one numpy operation
per operation of the template, whatever the number of instances. A template has at most a
dozen variables and a few dozen operations, so carrying the partial derivatives along costs
a small multiple of the value, and the whole Jacobian of the model is a scatter of them
(``model/evaluator.py``).

Why not CasADi's automatic differentiation, which computes the same numbers: a CasADi
function mapped over instances pays a call per instance; at 41 × 35 the mapped templates
took 49 ms for F and J where this takes a few (issue 13, item 5), and a CasADi graph over
all instances took minutes and gigabytes to build at 141 × 65.

The rules are CasADi's (d(a^b)/da = b·a^(b−1), d(a/b)/db = −(a/b)/b, …), so the
derivatives agree with its and with Pyomo's to rounding (``tests/test_evaluator.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Partials = dict[int, Any]
"""Partial derivatives by variable number; a value is an array over instances or a scalar."""


class Dual:
    """Values of an expression at every instance and its partial derivatives with respect to
    the template's variables (absent: zero). Constants in an expression are numbers or
    numpy arrays over instances."""

    __slots__ = ("value", "partials")
    # numpy must not broadcast a Dual as an object: ndarray ⊕ Dual calls Dual's reflected
    # operator.
    __array_ufunc__ = None

    def __init__(self, value: Any, partials: Partials) -> None:
        self.value = value
        self.partials = partials

    @staticmethod
    def variable(value: np.ndarray, number: int) -> Dual:
        """The template's variable ``number``, with value ``value`` at each instance."""
        return Dual(value, {number: 1.0})

    @staticmethod
    def of(term: Any) -> Dual:
        """term as a Dual: a template that depends on no variable returns a constant."""
        return term if isinstance(term, Dual) else Dual(term, {})

    def partial(self, number: int) -> Any:
        """∂/∂(variable ``number``) (0.0 where the expression does not depend on it)."""
        return self.partials.get(number, 0.0)

    def __add__(self, other: Any) -> Dual:
        if not isinstance(other, Dual):
            return Dual(self.value + other, self.partials)
        return Dual(self.value + other.value, _combine(self.partials, 1.0, other.partials, 1.0))

    __radd__ = __add__

    def __neg__(self) -> Dual:
        return Dual(-self.value, _scale(self.partials, -1.0))

    def __sub__(self, other: Any) -> Dual:
        if not isinstance(other, Dual):
            return Dual(self.value - other, self.partials)
        return Dual(self.value - other.value, _combine(self.partials, 1.0, other.partials, -1.0))

    def __rsub__(self, other: Any) -> Dual:
        return Dual(other - self.value, _scale(self.partials, -1.0))

    def __mul__(self, other: Any) -> Dual:
        if not isinstance(other, Dual):
            return Dual(self.value * other, _scale(self.partials, other))
        return Dual(
            self.value * other.value,
            _combine(self.partials, other.value, other.partials, self.value),
        )

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Dual:
        if not isinstance(other, Dual):
            return Dual(self.value / other, {k: d / other for k, d in self.partials.items()})
        value = self.value / other.value
        inverse = 1.0 / other.value
        return Dual(value, _combine(self.partials, inverse, other.partials, -value * inverse))

    def __rtruediv__(self, other: Any) -> Dual:
        value = other / self.value
        return Dual(value, _scale(self.partials, -value / self.value))

    def __pow__(self, other: Any) -> Dual:
        if not isinstance(other, Dual):
            value = self.value**other
            return Dual(value, _scale(self.partials, other * self.value ** (other - 1)))
        value = self.value**other.value
        return Dual(
            value,
            _combine(
                self.partials,
                other.value * self.value ** (other.value - 1),
                other.partials,
                np.log(self.value) * value,
            ),
        )

    def __rpow__(self, other: Any) -> Dual:
        value = other**self.value
        return Dual(value, _scale(self.partials, np.log(other) * value))


class DualOps:
    """The math functions the templates call, for numbers, arrays and :class:`Dual`."""

    @staticmethod
    def log(a: Any) -> Any:
        if not isinstance(a, Dual):
            return np.log(a)
        return Dual(np.log(a.value), _scale(a.partials, 1.0 / a.value))

    @staticmethod
    def exp(a: Any) -> Any:
        if not isinstance(a, Dual):
            return np.exp(a)
        value = np.exp(a.value)
        return Dual(value, _scale(a.partials, value))

    @staticmethod
    def sqrt(a: Any) -> Any:
        if not isinstance(a, Dual):
            return np.sqrt(a)
        value = np.sqrt(a.value)
        return Dual(value, _scale(a.partials, 0.5 / value))


def _scale(partials: Partials, factor: Any) -> Partials:
    return {k: d * factor for k, d in partials.items()}


def _combine(a: Partials, fa: Any, b: Partials, fb: Any) -> Partials:
    """fa·a + fb·b, variable by variable."""
    out = {k: d * fa for k, d in a.items()}
    for k, d in b.items():
        out[k] = out[k] + d * fb if k in out else d * fb
    return out
