"""Benchmark replication, homogeneity and Walras' law on the default data and on a dataset
with every tax, transport margins, mobile and specific factors and non-zero transfers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model.cge import CGEModel
from fragcge.model.checks import check_shock, homogeneity, replication, run_checks, walras
from fragcge.model.solve import RESIDUAL_TOL


@pytest.fixture(scope="module")
def default_model() -> CGEModel:
    return CGEModel(calibrate(load_dataset("wiod2011_10x8")))


def _rich_sam(seed: int):
    sam = synthetic_sam(4, 4, seed=seed)
    # Non-zero upper-nest elasticities, so every demand template is exercised.
    n = len(sam.sectors)
    return dataclasses.replace(sam, esubt=np.full(n, 0.4), esubc=np.full(n, 0.6), esubp=0.8)


@pytest.fixture(scope="module", params=[0, 1, 2])
def rich_model(request) -> CGEModel:
    sam = _rich_sam(request.param)
    assert len(sam.margins) and len(sam.specific) and len(sam.mobile) > 1
    for rate in ("to0", "tf0", "tdf0", "tif0", "tx0", "tm0"):
        assert np.any(getattr(sam, rate) != 0), rate
    return CGEModel(calibrate(sam))


def test_benchmark_replicates_default_data(default_model: CGEModel) -> None:
    check = replication(default_model)
    assert check.passed, check.detail
    assert check.value < 1e-12


def test_benchmark_replicates_with_taxes_margins_and_specific_factors(rich_model) -> None:
    check = replication(rich_model)
    assert check.passed, check.detail


def test_homogeneous_of_degree_zero_default_data(default_model: CGEModel) -> None:
    check = homogeneity(default_model, check_shock(default_model))
    assert check.passed, check.detail


def test_homogeneous_of_degree_zero_with_taxes_and_margins(rich_model) -> None:
    check = homogeneity(rich_model, check_shock(rich_model))
    assert check.passed, check.detail


def test_walras_law_holds_after_a_shock_default_data(default_model: CGEModel) -> None:
    check = walras(default_model, check_shock(default_model))
    assert check.passed, check.detail


def test_walras_law_holds_with_taxes_and_margins(rich_model) -> None:
    check = walras(rich_model, check_shock(rich_model))
    assert check.passed, check.detail


def test_walras_law_whichever_numeraire() -> None:
    from fragcge.model.system import Numeraire

    sam = _rich_sam(3)
    model = CGEModel(calibrate(sam), numeraire=Numeraire("pc", sam.regions[1]))
    assert model.system.dropped_label() == f"mkt_pc[{sam.regions[1]}]"
    eq = model.solve(check_shock(model))
    assert abs(eq.walras) < RESIDUAL_TOL


def test_check_shock_moves_the_economy(rich_model) -> None:
    """The checks are only meaningful if the shock changes prices and quantities."""
    eq = rich_model.solve(check_shock(rich_model))
    assert np.max(np.abs(eq.x / rich_model.benchmark() - 1)) > 1e-2


def test_a_broken_benchmark_is_caught() -> None:
    """Replication fails if a benchmark quantity is off: the check can fail.

    (A share error is invisible at the benchmark, where every price is 1: that is what the
    independent reference test with taxes and a shock is for.)
    """
    sam = _rich_sam(4)
    cal = calibrate(sam)
    dd0 = cal.dd0.copy()
    dd0[0, 0, 0] *= 1.01
    model = CGEModel(dataclasses.replace(cal, dd0=dd0))
    check = replication(model)
    assert not check.passed and check.value > 1e-4


def test_run_checks_order_and_names(default_model: CGEModel) -> None:
    names = [c.name for c in run_checks(default_model)]
    assert names == ["benchmark replication", "homogeneity", "Walras' law"]


def test_walras_check_catches_a_leak_in_income(monkeypatch) -> None:
    """Drop tariff revenue from income: the dropped market no longer clears. The check can fail."""
    from fragcge.model.route_wedges import WEDGES
    from fragcge.model.structure import Terms
    from fragcge.model.terms import revenue_kind

    add = Terms.add

    def without_tariff_revenue(self, kind, *args, **kwargs):
        if kind != revenue_kind(WEDGES["tm"]):
            add(self, kind, *args, **kwargs)

    monkeypatch.setattr(Terms, "add", without_tariff_revenue)
    model = CGEModel(calibrate(synthetic_sam(3, 3, seed=5)))
    check = walras(model, check_shock(model))
    assert not check.passed and check.value > 1e-4
