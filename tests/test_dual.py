"""Forward-mode derivatives (model/dual.py) against CasADi's automatic differentiation, an
independent implementation: every operator rule, and every term template of the model, its
value and its partial derivatives at random points, to rounding."""

from __future__ import annotations

import casadi
import numpy as np
import pytest

from fragcge.model.dual import Dual, DualOps
from fragcge.model.terms import all_kinds

INSTANCES = 50


def _casadi_reference(f, nx: int, x: np.ndarray, params: list[np.ndarray]):
    """Values and partials of f at each instance (column of x), by CasADi's SX AD."""
    xs = casadi.SX.sym("x", nx)
    ps = casadi.SX.sym("p", len(params))
    expr = f([xs[k] for k in range(nx)], [ps[k] for k in range(len(params))], casadi)
    fn = casadi.Function("f", [xs, ps], [expr, casadi.jacobian(expr, xs)])
    value, jac = fn.map(x.shape[1])(x, np.array(params).reshape(len(params), -1))
    return np.array(value).ravel(), np.array(jac).reshape(x.shape[1], nx).T


def _dual(f, nx: int, x: np.ndarray, params: list[np.ndarray]):
    term = Dual.of(f([Dual.variable(x[k], k) for k in range(nx)], params, DualOps))
    partials = np.array([np.broadcast_to(term.partial(k), x.shape[1]) for k in range(nx)])
    return np.broadcast_to(term.value, x.shape[1]), partials


def _close(got, expected, what: str) -> None:
    scale = np.maximum(1.0, np.abs(expected))
    worst = float(np.max(np.abs(got - expected) / scale))
    assert worst < 1e-13, f"{what}: differs from CasADi by {worst:.2e} (relative)"


RULES = {
    "a + b": lambda x, p, ops: x[0] + x[1] + p[0] + 2.0,
    "reflected + −": lambda x, p, ops: p[0] - x[0] + (3.0 - x[1]) + (p[1] + x[0]),
    "a · b": lambda x, p, ops: x[0] * x[1] * p[0] * 0.5,
    "reflected ·": lambda x, p, ops: p[0] * x[0] + 2.0 * x[1],
    "a / b": lambda x, p, ops: x[0] / x[1] / p[0],
    "reflected /": lambda x, p, ops: p[0] / x[0] + 1.0 / x[1],
    "−a": lambda x, p, ops: -x[0] * x[1],
    "a ^ constant": lambda x, p, ops: x[0] ** p[0] + x[1] ** 2,
    "a ^ b": lambda x, p, ops: x[0] ** x[1],
    "constant ^ b": lambda x, p, ops: p[1] ** x[0] + 2.0 ** x[1],
    "log, exp, sqrt": lambda x, p, ops: ops.log(x[0]) * ops.exp(x[1] / 3) + ops.sqrt(x[0] * x[1]),
    "functions of constants": lambda x, p, ops: x[0] * ops.log(p[1]) + ops.sqrt(p[1]) * x[1],
    "a variable used twice": lambda x, p, ops: (x[0] - x[1]) * (x[0] + p[0]) / (x[0] * x[0]),
}


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_gives_casadis_value_and_partials(rule: str) -> None:
    rng = np.random.default_rng(abs(hash(rule)) % 2**32)
    x = rng.uniform(0.3, 2.5, (2, INSTANCES))
    params = [rng.uniform(0.2, 1.8, INSTANCES), rng.uniform(1.1, 3.0, INSTANCES)]
    value, partials = _dual(RULES[rule], 2, x, params)
    ref_value, ref_partials = _casadi_reference(RULES[rule], 2, x, params)
    _close(value, ref_value, f"{rule}: value")
    _close(partials, ref_partials, f"{rule}: partials")


@pytest.mark.parametrize("nm", [0, 2])
def test_every_template_gives_casadis_value_and_partials(nm: int) -> None:
    """Every template, with positive variables and parameters in economic ranges: shares,
    rates and scales in (0.2, 1.8), σ in (1.1, 3), so that no σ is 1."""
    kinds = all_kinds(nm)
    rng = np.random.default_rng(nm)
    for name, kind in kinds.items():
        x = rng.uniform(0.5, 1.5, (kind.nx, INSTANCES))
        params = []
        for param in kind.params:
            low, high = (1.1, 3.0) if param.startswith(("sigma", "esub")) else (0.2, 1.8)
            params.append(rng.uniform(low, high, INSTANCES))
        value, partials = _dual(kind.f, kind.nx, x, params)
        ref_value, ref_partials = _casadi_reference(kind.f, kind.nx, x, params)
        _close(value, ref_value, f"{name}: value")
        _close(partials, ref_partials, f"{name}: partials")
    assert len(kinds) > 40  # the templates were found
