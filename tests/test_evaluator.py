"""The evaluator's analytic Jacobian and the Pyomo model's constraints, at a random point.

The point is off the benchmark and off any equilibrium (every variable perturbed by up to
±10%), the parameters carry a trade shock, and the dataset has every tax, margins, mobile
and specific factors and non-unit, non-zero elasticities in every nest (esubt, esubc = 0.5,
esubp = 0.7), so that no term degenerates to Leontief or Cobb-Douglas.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model import numpy_terms
from fragcge.model.cge import CGEModel
from fragcge.model.evaluator import EvaluatorAt
from fragcge.model.newton import JacobianMatrix
from fragcge.model.shocks import ShockSet

LABEL = re.compile(r"^(\w+)\[(.*)\]$")


@pytest.fixture(
    scope="module",
    params=[(3, 3, 5, "fixed"), (4, 3, 6, "fixed"), (3, 3, 7, "income-share")],
    ids=lambda p: f"{p[0]}x{p[1]}-{p[3]}",
)
def setup(request) -> tuple[CGEModel, np.ndarray, np.ndarray]:
    """A model, a random point x around the benchmark, and parameters θ with a shock; the
    income-share case has elastic factor supplies too (eta between 0.2 and 2, one 0)."""
    n_regions, n_sectors, seed, imbalances = request.param
    sam = synthetic_sam(n_regions, n_sectors, seed=seed)
    sam = replace(sam, esubt=np.full(n_sectors, 0.5), esubc=np.full(n_sectors, 0.5), esubp=0.7)
    rng = np.random.default_rng(seed)
    if imbalances == "income-share":
        eta = rng.uniform(0.2, 2.0, sam.eta.shape)
        eta[0, 0] = 0.0
        sam = replace(sam, eta=eta)
    bench = ShockSet.benchmark(sam)
    routes = sam.vxmd > 0
    quota = routes & (rng.random(routes.shape) < 0.3)
    model = CGEModel(calibrate(sam), quota=quota, imbalances=imbalances)
    shocks = replace(
        bench,
        tau=np.where(routes, rng.uniform(0.9, 1.2, routes.shape), 1.0),
        tm=np.where(routes, sam.tm0 + rng.uniform(0.0, 0.2, routes.shape), sam.tm0),
        tx=np.where(routes, sam.tx0 + rng.uniform(-0.05, 0.05, routes.shape), sam.tx0),
        vb=bench.vb + np.linspace(-1.0, 1.0, n_regions),
        A=rng.uniform(0.9, 1.1, bench.A.shape),
        endow=rng.uniform(0.9, 1.1, bench.endow.shape),
        endow_s=rng.uniform(0.9, 1.1, bench.endow_s.shape),
        tn=np.where(routes, rng.uniform(0.0, 0.2, routes.shape), 0.0),
        trade_open=np.where(routes, rng.uniform(0.5, 1.0, routes.shape), 1.0),
        quota=np.where(quota, rng.uniform(0.6, 1.2, routes.shape), np.inf),
    )
    theta = model.theta_for(shocks)
    x = model.benchmark() * rng.uniform(0.9, 1.1, model.system.n)
    rho = model.system.var["rho"]
    assert rho.size > 0
    x[rho.offset : rho.offset + rho.size] = rng.uniform(0.0, 0.1, rho.size)
    return model, x, theta


def _finite_differences(model: CGEModel, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Central differences of the square system's residuals, column by column."""
    ev, n = model.evaluator.at(theta), model.system.n
    jac = np.zeros((n, n))
    for k in range(n):
        h = 1e-6 * max(1.0, abs(x[k]))
        up, down = x.copy(), x.copy()
        up[k] += h
        down[k] -= h
        jac[:, k] = (ev.residuals(up) - ev.residuals(down)) / (up[k] - down[k])
    return jac


def test_jacobian_matches_finite_differences(setup) -> None:
    model, x, theta = setup
    ev, n = model.evaluator, model.system.n
    rows, cols = ev.structure()
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == len(rows), "duplicates"
    assert rows.min() >= 0 and rows.max() < n and cols.max() < n
    analytic = np.zeros((n, n))
    analytic[rows, cols] = ev.at(theta).jacobian_values(x)
    numeric = _finite_differences(model, x, theta)
    # Relative to the size of each row's entries (rows are scaled equations).
    scale = np.maximum(np.abs(numeric).max(axis=1, keepdims=True), 1e-3)
    err = np.abs(analytic - numeric) / scale
    worst = np.unravel_index(np.argmax(err), err.shape)
    labels, names = model.system.labels(), model.system.variable_labels()
    assert err.max() < 1e-6, (
        f"d {labels[worst[0]]} / d {names[worst[1]]}: analytic {analytic[worst]:.10g}, "
        f"finite differences {numeric[worst]:.10g}"
    )
    # Nothing outside the declared structure moves.
    outside = np.ones((n, n), dtype=bool)
    outside[rows, cols] = False
    assert np.abs(numeric[outside]).max(initial=0.0) < 1e-8


def _constraint(m: pyo.ConcreteModel, label: str):
    """The Pyomo constraint of a row label such as 'mkt_py[S1,R2]' or 'numeraire'."""
    if label == "numeraire":
        return m.numeraire
    name, index = LABEL.match(label).groups()
    keys = tuple(index.split(","))
    return getattr(m, name)[keys[0] if len(keys) == 1 else keys]


def test_pyomo_constraints_equal_evaluator_residuals(setup) -> None:
    model, x, theta = setup
    system, pm = model.system, model.pyomo_model()
    pm.load(x, theta)
    m = pm.model
    expected = model.evaluator.at(theta).residuals(x, include_dropped=True)
    labels = system.labels()
    assert len(labels) == system.n
    active = list(m.component_data_objects(pyo.Constraint, active=True))
    assert len(active) == system.n
    assert len(list(m.component_data_objects(pyo.Var))) == system.n
    body = np.empty(system.n)
    for row, label in enumerate(labels):
        c = _constraint(m, label)
        assert c.active, label
        assert c.equality and pyo.value(c.upper) == 0.0, label
        body[row] = pyo.value(c.body)
    diff = np.abs(body - expected[: system.n]) / np.maximum(1.0, np.abs(expected[: system.n]))
    worst = int(np.argmax(diff))
    assert diff.max() < 1e-12, (
        f"{labels[worst]}: Pyomo {body[worst]:.15g}, evaluator {expected[worst]:.15g}"
    )
    # The dropped market: the evaluator keeps its residual in row n, Pyomo in walras_check.
    assert pyo.value(m.walras_check) == pytest.approx(expected[system.n], rel=1e-12, abs=1e-12)
    assert not _constraint(m, system.dropped_label()).active


def test_numpy_templates_equal_evaluator_residuals(setup) -> None:
    """The numpy backend of the templates (reports, decomposition) gives every row the
    CasADi evaluator gives, the dropped market included: one statement of the economics."""
    model, x, theta = setup
    expected = model.evaluator.at(theta).residuals(x, include_dropped=True)
    got = numpy_terms.residuals(model.system, x, theta)
    assert np.max(np.abs(expected)) > 1e-2, "the point should be off equilibrium"
    diff = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    worst = int(np.argmax(diff))
    labels = [*model.system.labels(), "dropped market"]
    assert diff.max() < 1e-12, (
        f"{labels[worst]}: numpy {got[worst]:.15g}, CasADi {expected[worst]:.15g}"
    )


def test_deactivated_dropped_market_is_the_market_equation(setup) -> None:
    model, x, theta = setup
    system, pm = model.system, model.pyomo_model()
    pm.load(x, theta)
    dropped = _constraint(pm.model, system.dropped_label())
    expected = model.evaluator.at(theta).residuals(x, include_dropped=True)[system.n]
    assert pyo.value(dropped.body) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_jacobian_equals_pyomo_derivatives(setup) -> None:
    """The fused evaluator's Jacobian is, entry by entry and to rounding, the derivative
    Pyomo's own automatic differentiation takes of each row's expression: the scatter of the
    templates' gradients into the pattern loses or misplaces no term."""
    from pyomo.core.expr.calculus.derivatives import Modes, differentiate

    model, x, theta = setup
    system, pm = model.system, model.pyomo_model()
    pm.load(x, theta)
    rows, cols = model.evaluator.structure()
    got = np.zeros((system.n, system.n))
    got[rows, cols] = model.evaluator.at(theta).jacobian_values(x)
    column = {id(v): k for k, v in enumerate(pm.vars)}
    expected = np.zeros_like(got)
    for row, eq in enumerate(pm.equations):
        derivatives = differentiate(eq.body, wrt_list=pm.vars, mode=Modes.reverse_numeric)
        for v, d in zip(pm.vars, derivatives, strict=True):
            expected[row, column[id(v)]] = d
    assert np.abs(expected).max() > 1.0
    diff = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    labels, names = system.labels(), system.variable_labels()
    assert diff.max() < 1e-12, (
        f"d {labels[worst[0]]} / d {names[worst[1]]}: evaluator {got[worst]:.15g}, "
        f"Pyomo {expected[worst]:.15g}"
    )


def test_the_kept_evaluation_is_a_fresh_one_bit_for_bit(setup, monkeypatch) -> None:
    """An EvaluatorAt keeps its last evaluation (F and J at one point, Evaluator.at the last
    θ): asking again at the same point evaluates nothing and gives the numbers of a fresh
    evaluation; another point, or the same array changed in place, gets its own."""
    model, x, theta = setup
    ev = model.evaluator
    fresh = EvaluatorAt(ev, theta)
    fresh_f, fresh_j = fresh.residuals(x, include_dropped=True), fresh.jacobian_values(x)
    at = ev.at(theta)
    assert ev.at(theta.copy()) is at
    f = at.residuals(x, include_dropped=True)
    calls = []
    evaluate = ev.evaluate
    monkeypatch.setattr(ev, "evaluate", lambda *a: calls.append(1) or evaluate(*a))
    assert np.array_equal(at.residuals(x.copy()), fresh_f[: model.system.n])
    assert np.array_equal(at.jacobian_values(x.copy()), fresh_j)
    assert np.array_equal(f, fresh_f) and not calls
    # What a caller does with the arrays it got does not reach the kept ones.
    at.jacobian_values(x)[:] = 0.0
    assert np.array_equal(at.jacobian_values(x), fresh_j) and not calls
    moved = x * 1.01
    got = at.jacobian_values(moved)
    assert len(calls) == 1
    assert np.array_equal(got, EvaluatorAt(ev, theta).jacobian_values(moved))
    assert not np.array_equal(got, fresh_j)
    # The kept values are those at the values x had: changing the caller's array is seen.
    point = x.copy()
    at.residuals(point)
    point *= 1.01
    assert np.array_equal(at.jacobian_values(point), EvaluatorAt(ev, theta).jacobian_values(moved))
    # Another θ gets its own parameters.
    other = theta * 1.001
    assert ev.at(other) is not at
    assert not np.array_equal(ev.at(other).residuals(x), fresh_f[: model.system.n])


def test_the_pattern_is_numbered_column_by_column(setup) -> None:
    """Newton–Krylov reads J's values as a CSC matrix as they come (newton.JacobianMatrix):
    the structure must be sorted by column, then row, without repeats."""
    model, x, theta = setup
    rows, cols = model.evaluator.structure()
    key = cols * model.system.n + rows
    assert np.all(np.diff(key) > 0)
    dense = JacobianMatrix(model.evaluator.at(theta))(x).toarray()
    expected = np.zeros_like(dense)
    expected[rows, cols] = model.evaluator.at(theta).jacobian_values(x)
    assert np.array_equal(dense, expected)


def test_one_row_or_variable_is_named_as_in_the_full_lists(setup) -> None:
    """A solve names its worst rows and any non-positive variable one at a time
    (System.label, System.variable_label): the same names as the full lists."""
    model, _, _ = setup
    system = model.system
    assert [system.label(k) for k in range(system.n)] == system.labels()
    assert [system.variable_label(k) for k in range(system.n)] == system.variable_labels()
    assert system.label(system.dropped[2]) == "numeraire"
    with pytest.raises(IndexError, match="outside"):
        system.variable_label(system.n)
