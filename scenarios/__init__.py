"""The scenario language: TOML files → frozen Scenario → the parameter levels the model solves.

``load_scenario`` checks syntax and keys; ``resolve`` checks codes against a dataset and
builds the baseline's and the scenario's ShockSet. The shipped scenarios sit in this folder.
"""

from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.messages import ScenarioWarning
from fragcge.scenarios.provenance import chain_sha256, scenario_record
from fragcge.scenarios.resolve import ResolvedScenario, resolve
from fragcge.scenarios.spec import Scenario

__all__ = [
    "ResolvedScenario",
    "Scenario",
    "ScenarioWarning",
    "chain_sha256",
    "load_scenario",
    "resolve",
    "scenario_record",
]
