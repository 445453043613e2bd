"""The solver's backend (model/programs.py) against CasADi's own evaluation of the same
derivation: every term template, its value and its partial derivatives at random points,
with the θ stage run once and the x stage at several points; and a template using an
operation the backend lacks is refused by name."""

from __future__ import annotations

import casadi
import numpy as np
import pytest

from fragcge.model.programs import TemplateProgram
from fragcge.model.terms import Kind, all_kinds

INSTANCES = 50


def _casadi_reference(kind: Kind, x: np.ndarray, params: np.ndarray):
    """Value and partials of each instance (column), by CasADi's SX evaluation of the same
    derivation (so that the operations, and their rounding, are the same)."""
    xs = casadi.SX.sym("x", kind.nx)
    ps = casadi.SX.sym("p", kind.np)
    expr = kind.f([xs[k] for k in range(kind.nx)], [ps[k] for k in range(kind.np)], casadi)
    derived = casadi.cse(casadi.densify(casadi.vertcat(expr, casadi.jacobian(expr, xs).T)))
    out = np.array(casadi.Function("f", [xs, ps], [derived]).map(x.shape[1])(x, params))
    return out[0], out[1:]


def _program(program: TemplateProgram, x: np.ndarray, prepared: list):
    out = [np.full(x.shape[1], np.nan) for _ in range(1 + x.shape[0])]
    program.run(list(x), prepared, out)
    return out[0], np.array(out[1:]).reshape(x.shape)


def _close(got, expected, what: str) -> None:
    """Equal to rounding: numpy's vectorised powers differ from the C library's CasADi calls
    by a few units in the last place, and a demand's partial multiplies five of them."""
    scale = np.maximum(1.0, np.abs(expected))
    worst = float(np.max(np.abs(got - expected) / scale))
    assert worst < 1e-13, f"{what}: differs from CasADi by {worst:.2e} (relative)"


@pytest.mark.parametrize("nm", [0, 2])
def test_every_template_gives_casadis_value_and_partials(nm: int) -> None:
    """Positive variables and parameters in economic ranges: shares, rates and scales in
    (0.2, 1.8), σ in (1.1, 3), so that no σ is 1; the x stage at three points from one θ
    stage."""
    kinds = all_kinds(nm)
    rng = np.random.default_rng(nm)
    for name, kind in kinds.items():
        low = [1.1 if p.startswith(("sigma", "esub")) else 0.2 for p in kind.params]
        high = [3.0 if p.startswith(("sigma", "esub")) else 1.8 for p in kind.params]
        params = rng.uniform(low, high, (INSTANCES, kind.np)).T
        program = TemplateProgram(kind)
        prepared = program.prepare(list(params))
        for _ in range(3):
            x = rng.uniform(0.5, 1.5, (kind.nx, INSTANCES))
            value, partials = _program(program, x, prepared)
            ref_value, ref_partials = _casadi_reference(kind, x, params)
            _close(value, ref_value, f"{name}: value")
            _close(partials, ref_partials, f"{name}: partials")
    assert len(kinds) > 40  # the templates were found


def test_a_partial_zero_by_structure_is_written_as_zero() -> None:
    """A template that does not depend on one of its variables still writes its partial."""
    kind = Kind("half", 2, ("coef",), lambda x, q, ops: q["coef"] * ops.sqrt(x[0]) + 1.0)
    program = TemplateProgram(kind)
    x = np.array([[4.0, 9.0], [1.0, 2.0]])
    value, partials = _program(program, x, program.prepare([np.array([2.0, 3.0])]))
    np.testing.assert_allclose(value, [5.0, 10.0], rtol=1e-15)
    np.testing.assert_allclose(partials, [[0.5, 0.5], [0.0, 0.0]], rtol=1e-15)


def test_every_operation_a_template_may_use() -> None:
    """Arithmetic (with numbers and parameters on either side), powers of a variable, of a
    parameter and of a number, log, exp and sqrt."""
    kind = Kind(
        "every",
        2,
        ("coef", "a"),
        lambda x, q, ops: (
            q["coef"] * x[0] / x[1]
            - (2.0 - x[1]) * q["a"]
            + 1.0 / x[0]
            + x[0] ** q["a"]
            + x[1] ** 2
            + x[0] ** x[1]
            + q["a"] ** x[0]
            + 2.0 ** x[1]
            - ops.log(x[0]) * ops.exp(x[1] / 3)
            + ops.sqrt(x[0] * x[1])
            + ops.log(q["a"]) * -x[1]
        ),
    )
    rng = np.random.default_rng(7)
    params = rng.uniform(0.3, 2.0, (INSTANCES, 2)).T
    x = rng.uniform(0.3, 2.5, (2, INSTANCES))
    program = TemplateProgram(kind)
    value, partials = _program(program, x, program.prepare(list(params)))
    ref_value, ref_partials = _casadi_reference(kind, x, params)
    _close(value, ref_value, "value")
    _close(partials, ref_partials, "partials")


def test_an_operation_without_a_numpy_counterpart_is_refused_by_name() -> None:
    kind = Kind("wave", 1, ("coef",), lambda x, q, ops: q["coef"] * ops.sin(x[0]))
    with pytest.raises(ValueError, match="template wave: CasADi operation"):
        TemplateProgram(kind)
