"""resolve: a loaded scenario checked against its dataset, as the parameters the model solves."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.model.nests import NESTS, Nests
from fragcge.model.shocks import ShockSet
from fragcge.scenarios.apply import apply_shocks
from fragcge.scenarios.elasticities import with_elasticities, with_factor_supply
from fragcge.scenarios.select import Selector
from fragcge.scenarios.spec import Scenario

BENCHMARK_LABEL = "benchmark (no shocks)"


@dataclass(frozen=True, eq=False)
class ResolvedScenario:
    """What the model needs to solve a scenario and its baseline, with labels for reports.

    ``sam`` carries the scenario's elasticities; ``baseline`` is the ShockSet every change is
    measured from, ``shocks`` the scenario's own; ``blocs`` maps each region to its bloc.
    """

    scenario: Scenario
    sam: GlobalSAM
    baseline: ShockSet
    shocks: ShockSet
    blocs: dict[str, str]
    label: str
    baseline_label: str
    shock_labels: tuple[str, ...]
    notes: tuple[str, ...]


def resolve(scenario: Scenario, sam: GlobalSAM, nests: Nests = NESTS) -> ResolvedScenario:
    """Check every name against ``sam`` and build the baseline's and the scenario's shocks;
    the elasticities are the registry's and those ``nests`` declare.

    The baseline chain is applied under this scenario's elasticities, factor supply
    elasticities, closure and imbalance rule, whatever the baseline files say: SCENARIOS.md
    re-solves a baseline whose settings differ with the scenario's, so that the two
    solutions differ by the scenario's own shocks only. Each such override is listed in
    ``notes``. Every file's shocks resolve against that file's
    own [blocs] and [groups].
    """
    sam = with_factor_supply(with_elasticities(sam, scenario, nests), scenario)
    baseline = ShockSet.benchmark(sam)
    for link in scenario.chain[:-1]:
        baseline = apply_shocks(baseline, link, Selector.build(link, sam))
        if np.isfinite(baseline.quota).any():
            raise ScenarioError(
                f"{link.path}: export_quota in a baseline is not supported yet (a quota is a "
                "share of the volume at the scenario's own baseline); move it to the scenario"
            )
    selector = Selector.build(scenario, sam)
    return ResolvedScenario(
        scenario=scenario,
        sam=sam,
        baseline=baseline,
        shocks=apply_shocks(baseline, scenario, selector),
        blocs=selector.bloc_of,
        label=_label(scenario),
        baseline_label=_label(scenario.baseline) if scenario.baseline else BENCHMARK_LABEL,
        shock_labels=tuple(shock.label for shock in scenario.shocks),
        notes=_notes(scenario),
    )


def _label(scenario: Scenario) -> str:
    if scenario.title == scenario.name:
        return scenario.name
    return f"{scenario.name}: {scenario.title}"


def _notes(scenario: Scenario) -> tuple[str, ...]:
    """Where a baseline file's own settings were overridden by this scenario's."""
    notes = []
    for link in scenario.chain[:-1]:
        differ = []
        if link.elasticities != scenario.elasticities:
            differ.append("elasticities")
        if link.factor_supply != scenario.factor_supply:
            differ.append("factor supply")
        if link.closure != scenario.closure:
            differ.append("closure")
        if link.imbalances != scenario.imbalances:
            differ.append("imbalance rule")
        if differ:
            notes.append(
                f"baseline {link.name} ({link.path.name}) is solved with the "
                f"{' and '.join(differ)} of {scenario.name}, not its own"
            )
    return tuple(notes)
