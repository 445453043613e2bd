"""A scenario's [elasticities] and [factor_supply] overrides applied to a dataset, as a new
GlobalSAM."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fragcge.calibration import factor_supply
from fragcge.calibration.elasticity_registry import REGISTRY
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.model.nests import NESTS, Nests, elasticity_values, model_elasticities
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.spec import ScalarElasticity, Scenario


def with_elasticities(sam: GlobalSAM, scenario: Scenario, nests: Nests = NESTS) -> GlobalSAM:
    """``sam`` with the scenario's elasticities, in new arrays; ``sam`` itself is unchanged.

    Each override starts from the dataset's value (a nest's elasticity, which no dataset
    carries, from its declared default): ``esubm`` keeps the data's value when only
    ``esubd`` is changed (GTAP's rule of two is a default of the data, not a link). The
    registry's go to their GlobalSAM fields, those ``nests`` declare to
    ``sam.nest_elasticities``.
    """
    declared = {e.name: e for e in model_elasticities(nests)}
    changes: dict[str, object] = {}
    by_nests = dict(sam.nest_elasticities)
    for override in scenario.elasticities:
        where = scenario.source.where("elasticities", override.name)
        if override.name not in declared:
            raise unknown(where, "elasticity", override.name, declared)
        entry = declared[override.name]
        if isinstance(override, ScalarElasticity):
            value: object = override.value
        else:
            values = elasticity_values(sam, entry).astype(float)
            if override.scale is not None:
                values *= override.scale
            for sector, number in override.values.items():
                if sector not in sam.sectors:
                    raise unknown(where, "sector", sector, sam.sectors)
                values[sam.sectors.index(sector)] = number
            value = values
        if entry in REGISTRY:
            changes[override.name] = value
        else:
            by_nests[override.name] = np.atleast_1d(np.asarray(value, dtype=float))
            changes["nest_elasticities"] = by_nests
    return replace(sam, **changes) if changes else sam


def with_factor_supply(sam: GlobalSAM, scenario: Scenario) -> GlobalSAM:
    """``sam`` with the scenario's [factor_supply] settings over the dataset's eta (a new
    array); an error naming the line of a factor or region the dataset does not have."""
    if not scenario.factor_supply:
        return sam
    eta, problems = factor_supply.apply(sam.eta, scenario.factor_supply, sam.factors, sam.regions)
    if problems:
        first = problems[0]
        where = scenario.source.where(first.table, first.key)
        raise ScenarioError(f"{where}: {first.message} (dataset {sam.name})")
    return replace(sam, eta=eta)
