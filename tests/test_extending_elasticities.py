"""One registry of elasticities: the dataset contract, the data and the model follow it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.elasticity_registry import (
    NAMES,
    REGISTRY,
    SCALAR_ELASTICITIES,
    SECTOR_ELASTICITIES,
    elasticity,
)
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.schema import FINAL_ELASTICITIES, TABLES
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.model.cge import CGEModel


def test_every_elasticity_is_data_and_a_model_parameter() -> None:
    """Each entry is a GlobalSAM field shaped as declared and a mutable parameter of the model."""
    sam = synthetic_sam(3, 2, seed=1)
    fields = {f.name for f in dataclasses.fields(GlobalSAM)}
    model = CGEModel(calibrate(sam))
    theta = model.system.benchmark_theta
    for e in REGISTRY:
        assert e.name in fields, e.name
        value = np.asarray(getattr(sam, e.name))
        assert value.shape == ((len(sam.sectors),) if e.per_sector else ()), e.name
        np.testing.assert_array_equal(model.system.param(e.name, theta).ravel(), value.ravel())


def test_the_dataset_contract_follows_the_registry() -> None:
    table = TABLES["elasticities"]
    assert tuple(table.values) == SECTOR_ELASTICITIES
    # A per-sector elasticity may be left out exactly when the registry gives a default.
    assert set(table.optional_values) == {
        e.name for e in REGISTRY if e.per_sector and e.default is not None
    }
    assert FINAL_ELASTICITIES == {"esubp": 1.0, "esubg": 1.0, "esubi": 0.0}  # MODEL.md
    assert tuple(FINAL_ELASTICITIES) == SCALAR_ELASTICITIES
    assert set(NAMES) == set(SECTOR_ELASTICITIES) | set(SCALAR_ELASTICITIES)


def test_an_unknown_elasticity_is_named() -> None:
    with pytest.raises(KeyError, match="unknown elasticity 'esubx'; known: esubd, esubm"):
        elasticity("esubx")
    assert elasticity("esubva").per_sector and not elasticity("esubi").per_sector
