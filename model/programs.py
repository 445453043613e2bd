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
        self._on_x: set[int] = set()
        # CasADi reuses its work slots; here each operation gets a slot of its own (its
        # number), so the two stages can be split and the θ stage's slots kept.
        latest: dict[int, int] = {}
        self._outputs: list[int] = [-1] * (1 + kind.nx)
        self._variables: list[tuple[int, int]] = []
        self._parameters: list[tuple[int, int]] = []
        self._constants: list[tuple[int, float]] = []
        self._theta_steps: list[Step] = []
        x_steps: list[Step] = []
        for k in range(self.size):
            op = function.instruction_id(k)
            inputs, outputs = function.instruction_input(k), function.instruction_output(k)
            if op == casadi.OP_OUTPUT:
                self._outputs[outputs[1]] = latest[inputs[0]]
                continue
            if op == casadi.OP_INPUT:
                if inputs[0] == 0:
                    self._on_x.add(k)
                    self._variables.append((k, inputs[1]))
                else:
                    self._parameters.append((k, inputs[1]))
            elif op == casadi.OP_CONST:
                self._constants.append((k, float(function.instruction_constant(k))))
            elif op in UNARY or op in BINARY:
                function_, arity = (UNARY[op], 1) if op in UNARY else (BINARY[op], 2)
                step = Step(function_, k, tuple(latest[a] for a in inputs[:arity]))
                if self._on_x.intersection(step.args):
                    self._on_x.add(k)
                    x_steps.append(step)
                else:
                    self._theta_steps.append(step)
            else:
                raise ValueError(
                    f"template {kind.name}: CasADi operation {op} has no numpy counterpart "
                    "in model/programs.py (a template may use arithmetic, **, log, exp and sqrt)"
                )
            latest[outputs[0]] = k  # after reading: an operation may overwrite its input
        assert min(self._outputs) >= 0, f"template {kind.name}: an output was not computed"
        self._x_steps = self._fold_scalings(x_steps)
        read = {a for step in self._x_steps for a in step.args} | set(self._outputs)
        self._kept = sorted(k for k in read if k not in self._on_x)
        """Slots of the θ stage the x stage reads (or that are outputs)."""
        last_read = {a: n for n, step in enumerate(self._x_steps) for a in step.args}
        ends = set(self._outputs)
        # Slots the x stage no longer needs after each of its steps: freeing them keeps the
        # arrays in use few, and in the processor's cache.
        self._done = [
            tuple(a for a in step.args if last_read[a] == n and a in self._on_x and a not in ends)
            for n, step in enumerate(self._x_steps)
        ]

    def _fold_scalings(self, x_steps: list[Step]) -> list[Step]:
        """The x stage with each chain of multiplications, divisions and negations of one
        value by θ's (py·(1 + t)/(1 + t0)·τ·…) made one multiplication by their product,
        computed in the θ stage, and every division by a θ value a multiplication by its
        reciprocal: a third of a route template's x stage (rounding differs by a unit in
        the last place)."""
        uses: dict[int, int] = {}
        for a in [a for step in x_steps for a in step.args] + self._outputs:
            uses[a] = uses.get(a, 0) + 1
        scaling: dict[int, tuple[int, int]] = {}  # slot = base·factor, factor of θ
        kept: dict[int, Step] = {}
        for step in x_steps:
            scaled = self._as_scaling(step)
            if scaled is None:
                kept[step.out] = step
                continue
            base, factor = scaled
            if base in scaling and uses[base] == 1 and base not in self._outputs:
                del kept[base]
                base, inner = scaling[base]
                factor = self._theta(np.multiply, inner, factor)
            scaling[step.out] = (base, factor)
            kept[step.out] = Step(np.multiply, step.out, (base, factor))
        return list(kept.values())

    def _as_scaling(self, step: Step) -> tuple[int, int] | None:
        """(base, factor) when the step is base·factor, base/θ or −base with factor a θ
        slot (made in the θ stage when it is a reciprocal or −1); else None."""
        if step.function is np.negative:
            return step.args[0], self._theta_constant(-1.0)
        if step.function not in (np.multiply, np.divide):
            return None
        a, b = step.args
        if step.function is np.divide:
            if b in self._on_x:
                return None
            return a, self._theta(np.divide, self._theta_constant(1.0), b)
        if a in self._on_x and b in self._on_x:
            return None
        return (a, b) if a in self._on_x else (b, a)

    def _theta(self, function: Any, *args: int) -> int:
        """A new θ-stage slot: function of θ slots."""
        self._theta_steps.append(Step(function, self.size, args))
        self.size += 1
        return self.size - 1

    def _theta_constant(self, value: float) -> int:
        """A new constant slot."""
        self._constants.append((self.size, value))
        self.size += 1
        return self.size - 1

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
        for step, done in zip(self._x_steps, self._done, strict=True):
            values[step.out] = step.function(*(values[a] for a in step.args))
            for slot in done:
                values[slot] = None
        for target, slot in zip(out, self._outputs, strict=True):
            np.copyto(target, values[slot])
