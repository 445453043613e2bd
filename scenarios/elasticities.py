"""A scenario's [elasticities] and [factor_supply] overrides applied to a dataset, as a new
GlobalSAM."""

from __future__ import annotations

from dataclasses import replace

from fragcge.calibration import factor_supply
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.spec import ScalarElasticity, Scenario


def with_elasticities(sam: GlobalSAM, scenario: Scenario) -> GlobalSAM:
    """``sam`` with the scenario's elasticities, in new arrays; ``sam`` itself is unchanged.

    Each override starts from the dataset's value: ``esubm`` keeps the data's value when
    only ``esubd`` is changed (GTAP's rule of two is a default of the data, not a link).
    """
    changes: dict[str, object] = {}
    for override in scenario.elasticities:
        if isinstance(override, ScalarElasticity):
            changes[override.name] = override.value
            continue
        values = getattr(sam, override.name).astype(float)
        if override.scale is not None:
            values *= override.scale
        for sector, value in override.values.items():
            if sector not in sam.sectors:
                where = scenario.source.where("elasticities", override.name)
                raise unknown(where, "sector", sector, sam.sectors)
            values[sam.sectors.index(sector)] = value
        changes[override.name] = values
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
