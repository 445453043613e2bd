"""A term template's value and gradient as CasADi derives them, run as numpy operations
over many instances at once: the solver's backend of ``model/terms.py``.

CasADi differentiates the template once, symbolically (``casadi.jacobian`` of its SX
expression, common subexpressions merged), and lists the operations that compute the value
and the gradient with respect to the template's few variables. That list is read here into a
straight-line program whose every operation is one numpy call over an array of instances.
The operations that read parameters alone (1 − σ, the benchmark tax levels of a route, …)
form the θ stage, run once per θ (:meth:`TemplateProgram.prepare`); an evaluation runs the
rest (:meth:`TemplateProgram.run`): at 41 × 35 a third of a route template's operations.

Why not CasADi's own evaluation of the same list: a CasADi function mapped over instances
pays a call per instance, and its evaluation of the fused model took 54 ms at 41 × 35 where
this takes a few (issue 13, item 5); a CasADi graph over all instances took 45 s and
gigabytes to build at 141 × 65.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import casadi
import numpy as np

from fragcge.model.terms import Kind


def _twice(a: Any, out: np.ndarray | None = None) -> Any:
    return np.multiply(a, 2.0, out=out)


UNARY = {
    casadi.OP_ASSIGN: np.positive,
    casadi.OP_TWICE: _twice,
    casadi.OP_NEG: np.negative,
    casadi.OP_SQ: np.square,
    casadi.OP_SQRT: np.sqrt,
    casadi.OP_INV: np.reciprocal,
    casadi.OP_LOG: np.log,
    casadi.OP_EXP: np.exp,
    casadi.OP_FABS: np.abs,
}
BINARY = {
    casadi.OP_ADD: np.add,
    casadi.OP_SUB: np.subtract,
    casadi.OP_MUL: np.multiply,
    casadi.OP_DIV: np.divide,
    casadi.OP_POW: np.power,
    casadi.OP_CONSTPOW: np.power,
}
"""CasADi's operations and their numpy counterparts (a template may use arithmetic, ``**``,
``ops.log``, ``ops.exp``, ``ops.sqrt``)."""


@dataclass(frozen=True)
class Step:
    """One operation: ``values[out] = function(*(values[a] for a in args))``."""

    function: Any
    out: int
    args: tuple[int, ...]


class TemplateProgram:
    """A template's value and the partial derivatives of it with respect to each of its
    variables (``1 + nx`` outputs), as two straight-line programs over value slots: the θ
    stage on parameters and constants, and the x stage on the variables and what the θ
    stage gives it."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        x = casadi.SX.sym("x", kind.nx)
        p = casadi.SX.sym("p", kind.np)
        expr = kind.f([x[k] for k in range(kind.nx)], [p[k] for k in range(kind.np)], casadi)
        # Dense: a partial that is zero by structure is an output (a constant 0) all the same.
        outputs = casadi.densify(casadi.vertcat(expr, casadi.jacobian(expr, x).T))
        function = casadi.Function(kind.name, [x, p], [casadi.cse(outputs)])
        self.size = function.n_instructions()
        on_x = np.zeros(self.size, dtype=bool)
        # CasADi reuses its work slots; here each operation gets a slot of its own (its
        # number), so the two stages can be split and the θ stage's slots kept.
        latest: dict[int, int] = {}
        self._outputs: list[int] = [-1] * (1 + kind.nx)
        self._variables: list[tuple[int, int]] = []
        self._parameters: list[tuple[int, int]] = []
        self._constants: list[tuple[int, float]] = []
        theta_steps, x_steps = [], []
        for k in range(self.size):
            op = function.instruction_id(k)
            inputs, outputs = function.instruction_input(k), function.instruction_output(k)
            if op == casadi.OP_OUTPUT:
                self._outputs[outputs[1]] = latest[inputs[0]]
                continue
            if op == casadi.OP_INPUT:
                on_x[k] = inputs[0] == 0
                (self._variables if on_x[k] else self._parameters).append((k, inputs[1]))
            elif op == casadi.OP_CONST:
                self._constants.append((k, float(function.instruction_constant(k))))
            elif op in UNARY:
                args = (latest[inputs[0]],)
                on_x[k] = on_x[args[0]]
                (x_steps if on_x[k] else theta_steps).append(Step(UNARY[op], k, args))
            elif op in BINARY:
                args = (latest[inputs[0]], latest[inputs[1]])
                on_x[k] = on_x[args[0]] or on_x[args[1]]
                (x_steps if on_x[k] else theta_steps).append(Step(BINARY[op], k, args))
            else:
                raise ValueError(
                    f"template {kind.name}: CasADi operation {op} has no numpy counterpart "
                    "in model/programs.py (a template may use arithmetic, **, log, exp and sqrt)"
                )
            latest[outputs[0]] = k  # after reading: an operation may overwrite its input
        assert min(self._outputs) >= 0, f"template {kind.name}: an output was not computed"
        self._theta_steps, self._x_steps = theta_steps, x_steps
        read = {a for step in x_steps for a in step.args} | set(self._outputs)
        self._kept = sorted(k for k in read if not on_x[k])
        """Slots of the θ stage the x stage reads (or that are outputs)."""
        last_read = {a: n for n, step in enumerate(x_steps) for a in step.args}
        outputs = set(self._outputs)
        # Slots the x stage no longer needs after each of its steps: freeing them keeps the
        # arrays in use few, and in the processor's cache.
        self._done = [
            tuple(a for a in step.args if last_read[a] == n and on_x[a] and a not in outputs)
            for n, step in enumerate(x_steps)
        ]
        # The step that computes an output writes it in place (its first position among the
        # outputs); the others are copied.
        first = {slot: j for j, slot in reversed(list(enumerate(self._outputs)))}
        self._into = [first.get(step.out) for step in x_steps]
        written = {step.out for step in x_steps}
        self._copied = [
            (j, slot)
            for j, slot in enumerate(self._outputs)
            if slot not in written or first[slot] != j
        ]

    def prepare(self, params: list[np.ndarray]) -> list[Any]:
        """The θ stage at parameters ``params`` (one array over instances per parameter, in
        the order of ``Kind.params``): the values the x stage reads, arrays over instances
        or numbers."""
        values: list[Any] = [None] * self.size
        for slot, number in self._parameters:
            values[slot] = params[number]
        for slot, constant in self._constants:
            values[slot] = constant
        for step in self._theta_steps:
            values[step.out] = step.function(*(values[a] for a in step.args))
        return [values[k] for k in self._kept]

    def run(self, xs: list[np.ndarray], prepared: list[Any], out: list[np.ndarray]) -> None:
        """The x stage at variables ``xs`` (one array over instances each) with ``prepared``
        (:meth:`prepare`'s, for the same instances): writes the value into ``out[0]`` and
        the partial derivative with respect to variable k into ``out[1 + k]``."""
        values: list[Any] = [None] * self.size
        for slot, value in zip(self._kept, prepared, strict=True):
            values[slot] = value
        for slot, number in self._variables:
            values[slot] = xs[number]
        for step, done, into in zip(self._x_steps, self._done, self._into, strict=True):
            args = (values[a] for a in step.args)
            if into is None:
                values[step.out] = step.function(*args)
            else:
                values[step.out] = step.function(*args, out=out[into])
            for slot in done:
                values[slot] = None
        for j, slot in self._copied:
            np.copyto(out[j], values[slot])
