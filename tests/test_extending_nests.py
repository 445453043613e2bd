"""The nest declaration (model/nests.py) is what the model follows, and it is checked.

The default trees' shares are the data's value shares, computed here from the flows; each
nest's elasticity is a registry entry that says it applies there; a declaration that names
an unknown factor, puts a good in two nests or leaves a bought good out is refused with the
tree and the name; a nest may hold goods as well as factors (an energy good in value added)
and the model with it still replicates and obeys Walras' law and homogeneity; and templates
take their parameters by name.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.elasticity_registry import REGISTRY, SECTOR_ELASTICITIES, elasticity
from fragcge.calibration.elasticity_weights import WEIGHT_BASIS, elasticity_weights
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model import checks
from fragcge.model.cge import CGEModel
from fragcge.model.nests import FIRMS, HOUSEHOLD, NESTS, Factors, Goods, Nest, calibrate_nests
from fragcge.model.system import pairs
from fragcge.model.terms import BASIC_KINDS, DEMAND_KINDS


@pytest.fixture(scope="module")
def sam():
    return synthetic_sam(3, 3, final_agents=("hh", "gov", "inv"), seed=2)


def test_default_shares_are_the_data_value_shares(sam) -> None:
    """θva = va/(va + int), θf = vfm/va, θa = purchases/bundle (MODEL.md), from the flows."""
    n = len(sam.sectors)
    shares = calibrate_nests(calibrate(sam))
    va = sam.vfm.sum(axis=0)
    purchases = sam.vdfm + sam.vifm
    intermediate = purchases[:, :n].sum(axis=0)
    firms = shares["firms"]
    np.testing.assert_allclose(firms.share["pva"], va / (va + intermediate), rtol=1e-15)
    np.testing.assert_allclose(firms.share["pint"], intermediate / (va + intermediate), rtol=1e-15)
    np.testing.assert_allclose(firms.leaf_share["factor"], sam.vfm / va, rtol=1e-15)
    np.testing.assert_allclose(firms.leaf_share["good"], purchases[:, :n] / intermediate)
    for k, agent in enumerate(("hh", "gov", "inv")):
        bundle = purchases[:, n + k].sum(axis=0)
        np.testing.assert_allclose(
            shares[agent].leaf_share["good"], purchases[:, n + k] / bundle, rtol=1e-15
        )


def test_each_nest_elasticity_is_a_registry_entry_that_applies_there() -> None:
    """The registry's 'applies' names the equation of the nest that declares the elasticity."""
    equations = dict(pairs(NESTS))
    for tree in NESTS.trees():
        for node in tree.root.nests():
            where = equations[tree.equation] if node is tree.root else f"def_{node.price}"
            assert elasticity(node.sigma).applies.startswith(f"{where}:"), node.sigma
    assert elasticity(NESTS.armington).applies.startswith("def_pa:")


def test_every_default_of_a_per_sector_elasticity_can_be_applied() -> None:
    """A number, or a rule on an elasticity read before it (the loader reads in order)."""
    known = {}
    for e in REGISTRY:
        if not e.per_sector:
            continue
        if e.default is not None:
            assert e.rule is None or e.rule[0] in known, e.name
            values = e.default_values(known, 3)
            assert values.shape == (3,)
        known[e.name] = np.arange(1.0, 4.0)
    assert np.array_equal(elasticity("esubm").default_values(known, 3), 2 * known["esubd"])


def test_the_aggregation_weights_cover_the_registry(sam) -> None:
    assert tuple(WEIGHT_BASIS) == SECTOR_ELASTICITIES
    assert tuple(elasticity_weights(sam).columns) == SECTOR_ELASTICITIES


def firms_with(value_added: Nest, intermediate: Nest | None = None):
    """NESTS with the firms' value added (and intermediate nest) replaced."""
    pint = intermediate or Nest("pint", "esubc", (Goods(),), merges=True)
    root = Nest("py", "esubt", (value_added, pint))
    return replace(NESTS, firms=replace(FIRMS, root=root))


@pytest.mark.parametrize(
    ("value_added", "intermediate", "message"),
    [
        (Nest("pva", "esubva", (Factors(("lab", "oil")),)), None, "'oil' is not a factor"),
        (
            Nest("pva", "esubva", (Factors(), Goods(("S1",)))),
            Nest("pint", "esubc", (Goods(("S1", "S2", "S3")),)),
            "'S1' is in two nests",
        ),
        (
            Nest("pva", "esubva", (Factors(),)),
            Nest("pint", "esubc", (Goods(("S1", "S2")),)),
            "good(s) S3 are bought in the data but in no nest",
        ),
        (
            Nest("pva", "esubva", (Factors(), Goods())),
            None,
            "the goods left over go to one nest, not pva, pint",
        ),
        (
            Nest("pva", "esubva", (Factors(("lab",)), Nest("pke", "esubkx", (Factors(),)))),
            None,
            "elasticity 'esubkx' is neither in the registry nor in Nests.elasticities",
        ),
    ],
)
def test_a_bad_declaration_is_refused_with_its_tree_and_name(
    sam, value_added, intermediate, message
) -> None:
    with pytest.raises(ValueError, match=r"nest tree of firms: .*") as refused:
        CGEModel(calibrate(sam), nests=firms_with(value_added, intermediate))
    assert message in str(refused.value)


def test_a_nest_price_must_be_a_new_variable(sam) -> None:
    clash = firms_with(Nest("pc", "esubva", (Factors(),)))
    with pytest.raises(ValueError, match="nest price.s. pc name another variable of the model"):
        CGEModel(calibrate(sam), nests=clash)


def test_a_good_in_value_added_replicates_and_obeys_walras_and_homogeneity(sam) -> None:
    """Energy-in-value-added: good S1 moves from the intermediate bundle into a
    capital-energy nest of value added, with its own price pke and the esubva elasticity."""
    ke = Nest("pke", "esubc", (Factors(("cap",)), Goods(("S1",))))
    nests = firms_with(Nest("pva", "esubva", (Factors(("lab", "res")), ke)))
    model = CGEModel(calibrate(sam), nests=nests)
    assert model.system.var["pke"].size > 0
    shares = model.system.nest_shares["firms"]
    n = len(sam.sectors)
    energy = (sam.vdfm + sam.vifm)[0, :n]
    capital = sam.vfm[sam.factors.index("cap")]
    np.testing.assert_allclose(shares.value["pke"], capital + energy, rtol=1e-15)
    replication = checks.replication(model)
    assert replication.passed, replication.detail
    shock = checks.check_shock(model)
    for check in (checks.homogeneity(model, shock), checks.walras(model, shock)):
        assert check.passed, check.detail


def test_a_sub_nest_of_household_consumption_replicates_and_obeys_walras(sam) -> None:
    """A final agent's tree takes inner nests too: goods S1 and S2 in a nest of pc, with the
    investment elasticity (any registry scalar), one price per region."""
    inner = Nest("pcx", "esubi", (Goods(("S1", "S2")),))
    household = replace(HOUSEHOLD, root=Nest("pc", "esubp", (inner, Goods())))
    nests = replace(NESTS, final=(household, *NESTS.final[1:]))
    model = CGEModel(calibrate(sam), nests=nests)
    assert model.system.var["pcx"].axes == ("r",)
    assert model.system.var["pcx"].size == len(sam.regions)
    shares = model.system.nest_shares["hh"].share["pcx"]
    n = len(sam.sectors)
    bought = (sam.vdfm + sam.vifm)[:, n]
    np.testing.assert_allclose(shares, bought[:2].sum(axis=0) / bought.sum(axis=0), rtol=1e-15)
    replication = checks.replication(model)
    assert replication.passed, replication.detail
    shock = checks.check_shock(model)
    for check in (checks.homogeneity(model, shock), checks.walras(model, shock)):
        assert check.passed, check.detail


def test_templates_take_their_parameters_by_name() -> None:
    ces = BASIC_KINDS["ces"]
    assert ces.params == ("coef", "sigma", "scale")
    assert ces.columns(scale="s", sigma="σ") == ["σ", "s"]
    with pytest.raises(ValueError, match=r"template ces takes \('sigma', 'scale'\)"):
        ces.columns(sigma="σ")
    demand = DEMAND_KINDS["dem_prod3s"]
    assert demand.params == ("coef", "scale", "sigma1", "sigma2", "sigma3")
    # c·Y·(py·A/pint)^σ1·(pint/pa)^σ2·(pa/p_i)^σ3 at Y = 2, py = 1, pint = 2, pa = 4, p_i = 1
    value = demand.f([2.0, 1.0, 2.0, 4.0, 1.0], [3.0, 4.0, 0.5, 2.0, 1.0], np)
    assert value == pytest.approx(3.0 * 2.0 * (4.0 / 2.0) ** 0.5 * (2.0 / 4.0) ** 2.0 * 4.0)
