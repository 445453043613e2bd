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

from fragcge.api import solve_loaded
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.calibration.elasticity_registry import Elasticity
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import ScenarioError
from fragcge.model import checks, numpy_terms
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.decomposition import decompose_welfare
from fragcge.model.nests import FIRMS, NESTS, Factors, Goods, Nest
from fragcge.model.report import dense, welfare
from fragcge.model.shocks import ShockSet
from fragcge.results import manifest
from fragcge.scenarios.load import load_scenario

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


# --- A scenario sets a nest-declared elasticity; the manifest records every elasticity ---

SCENARIO = """[scenario]
name = "ke"
data = "./ke"

[[shock]]
instrument = "ntb"
between = ["R1", "R2"]
rate = 0.3

[[shock]]
instrument = "endowment"
factor = "all"
regions = ["R3"]
rate = -0.1
"""
OVERRIDES = {
    "esubke = { S1 = 0.9, S3 = 2.0 }": lambda default: np.array([0.9, default[1], 2.0]),
    "esubke = { scale = 2.0 }": lambda default: 2.0 * default,
}
"""A scenario's [elasticities] line and the esubke it gives, from the declared default."""


@pytest.fixture(scope="module")
def ke_folder(tmp_path_factory) -> Path:
    """The two-level economy as a dataset folder ``ke`` beside the scenario files."""
    folder = tmp_path_factory.mktemp("nest-scenarios")
    write_dataset(economy("two-levels"), folder / "ke")
    return folder


def write_scenario(folder: Path, name: str, elasticities: str = "") -> Path:
    path = folder / f"{name}.toml"
    table = f"\n[elasticities]\n{elasticities}\n" if elasticities else ""
    path.write_text(SCENARIO.replace('"ke"\n', f'"{name}"\n', 1) + table)
    return path


@pytest.mark.parametrize("line", list(OVERRIDES))
def test_a_scenario_sets_a_nest_declared_elasticity_as_a_solve_does(ke_folder, line) -> None:
    """The scenario's esubke (set per sector, or scaled) gives the equilibrium of
    CGEModel.solve(elasticities={"esubke": …}) on a model built apart, and the manifest
    records it with every other elasticity the model used."""
    name = "set" if "scale" not in line else "scaled"
    path = write_scenario(ke_folder, name, line)
    run = solve_loaded(load_scenario(path, KE_NESTS), nests=KE_NESTS)
    model = CGEModel(calibrate(load_dataset(ke_folder / "ke")), nests=KE_NESTS)
    esubke = OVERRIDES[line](np.full(3, ESUBKE.default))
    values = model.elasticities_of(model.cal.sam) | {"esubke": esubke}
    expected = model.solve(trade_shock(model.cal.sam), elasticities=values)
    assert expected.result.ok
    np.testing.assert_allclose(run.scen.x, expected.x, rtol=0, atol=1e-10)
    default = model.solve(trade_shock(model.cal.sam))
    assert np.abs(default.x - expected.x).max() > 1e-6, "esubke changes the equilibrium"
    recorded = manifest(run)["elasticities"]
    assert recorded["esubke"] == dict(zip(("S1", "S2", "S3"), esubke.tolist(), strict=True))
    assert recorded["esubva"] == dict(
        zip(("S1", "S2", "S3"), model.cal.sam.esubva.tolist(), strict=True)
    )
    assert recorded["esubp"] == model.cal.sam.esubp


def test_the_manifest_records_a_nest_elasticity_at_its_default(ke_folder) -> None:
    path = write_scenario(ke_folder, "default")
    run = solve_loaded(load_scenario(path, KE_NESTS), nests=KE_NESTS, decompose=False)
    assert manifest(run)["elasticities"]["esubke"] == {"S1": 0.4, "S2": 0.4, "S3": 0.4}


@pytest.mark.parametrize(
    ("nests", "line", "fragments"),
    [
        (NESTS, "esubke = { scale = 2.0 }", ["unknown elasticity 'esubke'", "esubd, esubm"]),
        (KE_NESTS, "esubkee = { scale = 2.0 }", ["'esubkee'", "did you mean 'esubke'"]),
        (KE_NESTS, "esubke = 0.5", ["expected { scale = x }", "{ SECTOR = value, ... }"]),
        (KE_NESTS, "esubke = { S1 = -1.0 }", ["esubke S1", "must be >= 0"]),
    ],
)
def test_a_bad_nest_elasticity_in_a_scenario_is_named(ke_folder, nests, line, fragments) -> None:
    """Unknown to the model's nests (listing the valid names), or of the wrong form."""
    path = write_scenario(ke_folder, "bad", line)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, nests)
    message = str(err.value)
    assert "bad.toml:17: [elasticities] esub" in message
    for fragment in fragments:
        assert fragment in message
