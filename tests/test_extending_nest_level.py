"""A nest level added as data: a capital-energy sub-nest of value added, declared only here.

The worked example of docs/extending.md, "Adding a nest level": value added becomes a CES of
labour and a capital-energy bundle (``pke``, its own elasticity ``esubke``), on synthetic
data whose factors are labour, capital and energy (energy specific to some sectors). The
benchmark replicates, homogeneity and Walras' law hold, and with ``esubke`` equal to
``esubva`` the equilibrium is the one of the model without the sub-nest (a CES nest whose
elasticity is its parent's is no nest at all), which a different ``esubke`` is not.
docs/extending.md quotes the declaration.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyomo.environ as pyo
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.elasticity_registry import Elasticity
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model import checks, numpy_terms
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.decomposition import decompose_welfare
from fragcge.model.nests import FIRMS, NESTS, Factors, Goods, Nest
from fragcge.model.report import dense, welfare
from fragcge.model.shocks import ShockSet

DOCS = Path(__file__).resolve().parents[1] / "docs"

# --- the worked example of docs/extending.md, "Adding a nest level" (quoted verbatim) ---
ESUBKE = Elasticity(
    "esubke",
    "capital vs energy, within value added",
    True,
    "def_pke: the capital-energy bundle of value added",
    0.4,
)
VALUE_ADDED = Nest(
    "pva",
    "esubva",
    (
        Factors(("lab",)),
        Nest("pke", "esubke", (Factors(("cap", "ene")),), meaning="capital-energy"),
    ),
    meaning="value added",
)
KE_NESTS = replace(
    NESTS,
    firms=replace(
        FIRMS,
        root=Nest(
            "py",
            "esubt",
            (VALUE_ADDED, Nest("pint", "esubc", (Goods(),), merges=True)),
            meaning="production",
        ),
    ),
    elasticities=(ESUBKE,),
)
# --- end of the example ---

PATTERNS = {"two-levels": None, "leontief": 0.0}
"""The data's esubt and esubc (None: synthetic_sam's, 0: Leontief above value added)."""


def economy(pattern: str):
    """Synthetic data with labour, capital and energy (specific to every other sector)."""
    sam = synthetic_sam(3, 3, factors=("lab", "cap", "ene"), specific=("ene",), seed=5)
    if PATTERNS[pattern] is not None:
        n = len(sam.sectors)
        sam = replace(sam, esubt=np.full(n, 0.0), esubc=np.full(n, 0.0))
    return sam


@pytest.fixture(scope="module", params=list(PATTERNS))
def models(request) -> tuple[CGEModel, CGEModel]:
    """The model with the capital-energy nest and the model without it, on the same data."""
    cal = calibrate(economy(request.param))
    return CGEModel(cal, nests=KE_NESTS), CGEModel(cal)


def trade_shock(sam) -> ShockSet:
    """+30% iceberg costs between R1 and R2 and −10% of R3's endowments."""
    bench = ShockSet.benchmark(sam)
    tau = bench.tau.copy()
    tau[:, 0, 1] = tau[:, 1, 0] = 1.3
    endow, endow_s = bench.endow.copy(), bench.endow_s.copy()
    endow[:, 2], endow_s[:, :, 2] = 0.9, 0.9
    return replace(bench, tau=tau, endow=endow, endow_s=endow_s)


def test_the_sub_nest_has_its_price_and_its_shares(models) -> None:
    """pke exists where capital or energy is paid; its shares are the data's value shares."""
    ke, _ = models
    sam = ke.cal.sam
    pke = ke.system.var["pke"]
    assert pke.size == np.count_nonzero(ke.cal.vom > 0)
    shares = ke.system.nest_shares["firms"]
    f = {name: k for k, name in enumerate(sam.factors)}
    capital_energy = sam.vfm[f["cap"]] + sam.vfm[f["ene"]]
    value_added = sam.vfm.sum(axis=0)
    np.testing.assert_allclose(shares.share["pke"], capital_energy / value_added, rtol=1e-15)
    within = shares.leaf_share["factor"]
    np.testing.assert_allclose(within[f["cap"]], sam.vfm[f["cap"]] / capital_energy, rtol=1e-15)
    np.testing.assert_allclose(within[f["lab"]], sam.vfm[f["lab"]] / value_added, rtol=1e-15)


def test_the_benchmark_replicates_with_the_sub_nest(models) -> None:
    ke, _ = models
    check = checks.replication(ke)
    assert check.passed, check.detail
    assert check.value < 1e-12


def test_homogeneity_and_walras_hold_with_the_sub_nest(models) -> None:
    ke, _ = models
    shock = checks.check_shock(ke)
    for check in (checks.homogeneity(ke, shock), checks.walras(ke, shock)):
        assert check.passed, check.detail


def solved(model: CGEModel, elasticities=None) -> Equilibrium:
    eq = model.solve(trade_shock(model.cal.sam), elasticities=elasticities)
    assert eq.result.ok
    return eq


def largest_gap(with_nest: CGEModel, a: Equilibrium, without: CGEModel, b: Equilibrium) -> float:
    """The largest relative difference of any variable of the model without the sub-nest."""
    gap = 0.0
    for name, _ in without.system.pairs:
        va, vb = dense(with_nest.system, a.x, name), dense(without.system, b.x, name)
        gap = max(gap, float(np.max(np.abs(va - vb) / np.maximum(np.abs(vb), 1.0), initial=0)))
    return gap


def test_with_esubke_equal_to_esubva_the_equilibrium_is_the_one_without_the_sub_nest(
    models,
) -> None:
    """A CES of a CES with the same elasticity is one CES over all the children, with the
    products of the shares: the models are the same economy, to 1e-9."""
    ke, flat = models
    sam = ke.cal.sam
    same = solved(ke, {"esubke": np.asarray(sam.esubva, dtype=float)})
    reference = solved(flat)
    assert largest_gap(ke, same, flat, reference) < 1e-9
    assert np.abs(dense(ke.system, same.x, "pke") - 1).max() > 1e-4, "the shock moves pke"


def test_a_different_esubke_changes_the_equilibrium(models) -> None:
    """At its default (0.4, not the data's esubva) the sub-nest is a different technology."""
    ke, flat = models
    assert not np.allclose(ke.system.elasticity_values["esubke"], ke.cal.sam.esubva)
    assert largest_gap(ke, solved(ke), flat, solved(flat)) > 1e-6


def test_the_backends_and_the_decomposition_follow_the_sub_nest(models) -> None:
    """Pyomo's constraints (def_pke among them) and the numpy templates give the evaluator's
    residuals off equilibrium; the welfare decomposition of a shock adds up to EV."""
    ke, _ = models
    rng = np.random.default_rng(3)
    x = ke.benchmark() * rng.uniform(0.9, 1.1, ke.system.n)
    theta = ke.theta_for(trade_shock(ke.cal.sam))
    expected = ke.evaluator.at(theta).residuals(x, include_dropped=True)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(numpy_terms.residuals(ke.system, x, theta), expected, atol=1e-12)
    pm = ke.pyomo_model()
    pm.load(x, theta)
    body = np.array([pyo.value(c.body) for c in pm.equations])
    np.testing.assert_allclose(body, expected[: ke.system.n], rtol=1e-12, atol=1e-12)
    assert any(label.startswith("def_pke[") for label in ke.system.labels())
    base, scen = ke.solve(ShockSet.benchmark(ke.cal.sam)), solved(ke)
    table = decompose_welfare(ke, base, scen, welfare(ke, base, scen, {})).welfare
    assert np.abs(table["ev"]).min() > 1e-3
    # The residual is EV minus the components (taxed factor demands through pke among
    # them): 6e-6 of |EV| at most here, 1.5e-5 on the shipped friend-shoring scenario.
    assert (np.abs(table["residual"]) < 1e-3 * np.abs(table["ev"])).all()


def test_extending_md_quotes_the_example() -> None:
    """The guide's code is this file's declaration, so the test keeps the guide true."""
    guide = (DOCS / "extending.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    source = Path(__file__).read_text(encoding="utf-8")
    example = source.split("(quoted verbatim) ---\n")[1].split("# --- end of")[0].strip()
    assert any(block.strip() == example for block in blocks)
