"""Solving a scenario end to end: dataset → calibration → model → solves → result tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.model import report
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
    model = CGEModel(calibrate(resolved.sam), closure=scenario.closure)
    base = model.solve(resolved.baseline)
    scen = model.solve(resolved.shocks, x0=base.x)
    tables = {
        "welfare": report.welfare(model, base, scen, resolved.blocs),
        "macro": report.macro(model, base, scen),
        "trade": report.trade(model, base, scen),
        "output": report.output(model, base, scen),
    }
    return Run(resolved, model, base, scen, tables)
