"""Solving a scenario end to end: dataset → calibration → model → solves → result tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.model import decomposition, report
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import ResolvedScenario, resolve


@dataclass
class Run:
    """A solved scenario: the model, the baseline and scenario equilibria, and the result tables."""

    resolved: ResolvedScenario
    model: CGEModel
    base: Equilibrium
    scen: Equilibrium
    tables: dict[str, pd.DataFrame]

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.resolved.scenario.name


def solve_scenario(path: str | Path) -> Run:
    """Load, validate and solve a scenario file and its baseline; raises on bad input or failure."""
    scenario = load_scenario(Path(path))
    sam = load_dataset(scenario.data)
    resolved = resolve(scenario, sam)
    quota = np.isfinite(resolved.shocks.quota)
    model = CGEModel(calibrate(resolved.sam), closure=scenario.closure, quota=quota)
    base = model.solve(resolved.baseline)
    # Quota shares are shares of the baseline's delivered volumes.
    model.quota_reference = report.route_flows(model, base)["V"]
    scen = model.solve(resolved.shocks, x0=base.x)
    welfare = report.welfare(model, base, scen, resolved.blocs)
    parts = decomposition.decompose(model, base, scen)
    tables = {
        "welfare": decomposition.add_to_welfare(welfare, parts),
        "macro": report.macro(model, base, scen),
        "trade": report.trade(model, base, scen),
        "output": report.output(model, base, scen),
    }
    return Run(resolved, model, base, scen, tables)
