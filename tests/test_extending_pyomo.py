"""Pyomo as the modeller's door: Vars and Constraints a user adds to the Pyomo model are
converted to CasADi and solved with the built-in equations by the same driver.

The worked example of docs/extending.md, a fixed real wage written by hand in Pyomo on the
default closure, must give the built-in real-wage closure's solution; an addition that
leaves the system non-square, or an inequality, gets a named error.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyomo.environ as pyo
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import FragcgeError
from fragcge.model.cge import CGEModel
from fragcge.model.checks import check_shock
from fragcge.model.pyomo_extension import ExtendedEquilibrium, Extension
from fragcge.model.pyomo_model import PyomoModel
from fragcge.model.report import dense
from fragcge.model.shocks import ShockSet
from fragcge.model.system import PAIRS, Numeraire

TOL = 1e-9


def _sam():
    """Mobile and sector-specific factors, so that a fixed real wage leaves an equilibrium."""
    sam = synthetic_sam(4, 3, seed=11)
    n = len(sam.sectors)
    return dataclasses.replace(sam, esubt=np.full(n, 0.4), esubc=np.full(n, 0.6))


def fix_real_wage(model: CGEModel) -> PyomoModel:
    """docs/extending.md's example: the real-wage closure written by hand in Pyomo.

    Employment of each mobile factor becomes a variable (the built-in closure's L; the
    default model has an empty Var L already, hence another name), its price is tied to the
    consumer price (pf = pc), and the two equations that use the endowment, the factor
    market and regional income, are replaced by versions with the employed endowment.
    """
    pm = model.pyomo_model()
    m, cal = pm.model, model.cal
    sam = cal.sam
    mobile = list(m.pf.keys())
    m.employment = pyo.Var(mobile, initialize=1.0)
    m.real_wage = pyo.Constraint(mobile, rule=lambda m, f, r: m.pf[f, r] == m.pc[r])

    # The factor market clears the employed endowment: add (L − 1)·endow to supply.
    markets = [k for k in mobile if m.mkt_pf[k].active]
    m.mkt_pf_employed = pyo.Constraint(
        markets,
        rule=lambda m, f, r: m.mkt_pf[f, r].body + (m.employment[f, r] - 1) * m.endow[f, r] == 0,
    )
    for k in markets:
        m.mkt_pf[k].deactivate()

    # Income counts the wages of the employed only: inc_RA has −evom/ra0·endow·pf per factor.
    def income(m, r):
        k = sam.regions.index(r)
        lost = sum(
            cal.evom[sam.factors.index(f), k]
            / cal.ra0[k]
            * m.endow[f, s]
            * m.pf[f, s]
            * (m.employment[f, s] - 1)
            for f, s in mobile
            if s == r
        )
        return m.inc_RA[r].body - lost == 0

    m.inc_RA_employed = pyo.Constraint(list(m.RA.keys()), rule=income)
    m.inc_RA.deactivate()
    return pm


@pytest.fixture(scope="module")
def built_in():
    """The built-in real-wage closure at the closure tests' shock."""
    model = CGEModel(calibrate(_sam()), closure="real-wage")
    return model, model.solve(check_shock(model))


def test_a_real_wage_written_in_pyomo_gives_the_built_in_closures_solution(built_in) -> None:
    rw, expected = built_in
    model = CGEModel(calibrate(_sam()))
    ext = Extension(model, fix_real_wage(model))
    got = ext.solve(check_shock(model))
    assert got.result.ok
    for name, _ in PAIRS:
        if name == "L":
            continue
        a, b = dense(model.system, got.x, name), dense(rw.system, expected.x, name)
        assert np.allclose(a, b, rtol=TOL, atol=TOL), name
    employment = dense(rw.system, expected.x, "L", np.nan)
    sam = model.cal.sam
    for f, r in model.pyomo_model().model.employment:
        want = employment[sam.factors.index(f), sam.regions.index(r)]
        assert abs(got.added[f"employment[{f},{r}]"] - want) < TOL * max(1.0, abs(want))
    assert max(abs(v - 1) for v in got.added.values()) > 1e-3  # the shock moved employment


def test_an_added_variable_without_its_equation_is_a_named_error() -> None:
    model = CGEModel(calibrate(_sam()))
    pm = model.pyomo_model()
    pm.model.wage_gap = pyo.Var(initialize=0.0)
    with pytest.raises(FragcgeError, match=r"not square: \d+ free variables.*wage_gap"):
        Extension(model, pm)


def test_a_deactivated_equation_without_its_replacement_is_a_named_error() -> None:
    model = CGEModel(calibrate(_sam()))
    pm = model.pyomo_model()
    pm.model.inc_RA.deactivate()
    with pytest.raises(FragcgeError, match=r"not square.*deactivated built-in.*inc_RA"):
        Extension(model, pm)


def test_an_inequality_is_a_named_error() -> None:
    model = CGEModel(calibrate(_sam()))
    pm = model.pyomo_model()
    m = pm.model
    m.markup = pyo.Var(initialize=0.0)
    m.cap = pyo.Constraint(expr=m.markup <= 2)
    with pytest.raises(FragcgeError, match=r"added constraint cap is an inequality"):
        Extension(model, pm)


def test_a_replaced_numeraire_gives_the_built_in_consumer_price_numeraire() -> None:
    """Replacing the factor-price numeraire by pc[r] = 1 in Pyomo gives the equilibrium of the
    model built with that numeraire (which drops another market: Walras' law)."""
    cal = calibrate(_sam())
    region = cal.sam.regions[-1]
    cpi = CGEModel(cal, numeraire=Numeraire("cpi", region))
    expected = cpi.solve(check_shock(cpi))
    model = CGEModel(cal)
    m = model.pyomo_model().model
    m.numeraire.deactivate()
    m.cpi_numeraire = pyo.Constraint(expr=m.pc[region] == m.pnum)
    got = Extension(model, model.pyomo_model()).solve(check_shock(model))
    assert np.allclose(got.x, expected.x, rtol=TOL, atol=TOL)


def test_every_built_in_equation_walked_into_casadi_gives_the_evaluators_solution() -> None:
    """Every template's Pyomo expression (CES, Cobb-Douglas, Leontief, routes, margins, the
    numeraire) goes through the expression walker: replaced by copies of themselves, the
    equations give the compiled evaluator's equilibrium."""
    model = CGEModel(calibrate(_sam()))
    shock = check_shock(model)
    expected = model.solve(shock)
    pm = model.pyomo_model()
    rows = range(len(pm.equations))
    pm.model.copies = pyo.Constraint(rows, rule=lambda m, k: pm.equations[k].body == 0)
    for equation in pm.equations:
        equation.deactivate()
    got = Extension(model, pm).solve(shock)
    assert np.allclose(got.x, expected.x, rtol=TOL, atol=TOL)


def _half_way(model: CGEModel):
    """check_shock's parameters half way from the benchmark."""
    bench, shock = ShockSet.benchmark(model.cal.sam), check_shock(model)
    names = ("tau", "tm", "tx", "vb", "A", "endow", "endow_s")
    return dataclasses.replace(
        shock, **{k: (getattr(bench, k) + getattr(shock, k)) / 2 for k in names}
    )


def test_a_warm_start_gives_the_same_answer_in_fewer_iterations(built_in) -> None:
    """Started from its own solution half way to the shock, the extension reaches the
    benchmark start's answer (to 1e-9) in fewer Ipopt iterations; started from there again,
    it stays."""
    model = CGEModel(calibrate(_sam()))
    ext = Extension(model, fix_real_wage(model))
    shock = check_shock(model)
    cold = ext.solve(shock)
    half = ext.solve(_half_way(model))
    warm = ext.solve(shock, x0=half)
    assert warm.result.ok and np.max(np.abs(half.x - cold.x)) > 1e-3
    assert np.allclose(warm.x, cold.x, rtol=TOL, atol=TOL)
    for name, value in cold.added.items():
        assert abs(warm.added[name] - value) < TOL * max(1.0, abs(value))
    assert warm.result.iterations < cold.result.iterations
    again = ext.solve(shock, x0=warm)
    assert np.allclose(again.x, cold.x, rtol=TOL, atol=TOL)
    assert again.result.iterations <= 1


def test_a_warm_start_from_the_built_in_models_equilibrium_converges(built_in) -> None:
    """From the default closure's solution of the shock (the added employment at its Pyomo
    value 1), the hand-written real wage still gives the built-in real-wage closure's."""
    rw, expected = built_in
    model = CGEModel(calibrate(_sam()))
    ext = Extension(model, fix_real_wage(model))
    shock = check_shock(model)
    default = model.solve(shock)
    assert np.max(np.abs(default.x - model.benchmark())) > 1e-3
    got = ext.solve(shock, x0=default)
    assert got.result.ok
    for name, _ in PAIRS:
        if name != "L":
            a, b = dense(model.system, got.x, name), dense(rw.system, expected.x, name)
            assert np.allclose(a, b, rtol=TOL, atol=TOL), name


def test_a_start_from_another_extension_is_a_named_error() -> None:
    model = CGEModel(calibrate(_sam()))
    ext = Extension(model, fix_real_wage(model))
    other = ExtendedEquilibrium(model.benchmark(), {}, None, model.system.benchmark_theta)
    with pytest.raises(FragcgeError, match=r"another extension.*employment\["):
        ext.solve(check_shock(model), x0=other)
