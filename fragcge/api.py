"""Solving a scenario end to end: dataset → calibration → model → solves → result tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import load_dataset
from fragcge.model import decomposition, report
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.shocks import PARAMETERS
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import ResolvedScenario, resolve
from fragcge.scenarios.spec import Scenario

ELASTICITIES = ("esubd", "esubm", "esubva", "esubt", "esubc", "esubp", "esubg", "esubi")

ModelCache = dict[str, tuple[CGEModel, Equilibrium]]
"""Built models with their solved baselines, by :func:`model_key`."""


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
    return solve_loaded(load_scenario(Path(path)))


def solve_loaded(scenario: Scenario, model_cache: ModelCache | None = None) -> Run:
    """Solve a loaded scenario and its baseline, reusing a model and baseline from the cache.

    A cached model is one built for the same dataset, closure, elasticities, quota routes and
    baseline shocks, so reuse gives the same numbers as a fresh build: the baseline is the
    same solve and the scenario starts from it either way.
    """
    resolved = resolve(scenario, load_dataset(scenario.data))
    quota = np.isfinite(resolved.shocks.quota)
    key = model_key(resolved, quota)
    cache = {} if model_cache is None else model_cache
    if key not in cache:
        model = CGEModel(calibrate(resolved.sam), closure=scenario.closure, quota=quota)
        base = model.solve(resolved.baseline)
        # Quota shares are shares of the baseline's delivered volumes.
        model.quota_reference = report.route_flows(model, base)["V"]
        cache[key] = (model, base)
    model, base = cache[key]
    scen = model.solve(resolved.shocks, x0=base)
    welfare = report.welfare(model, base, scen, resolved.blocs)
    parts = decomposition.decompose(model, base, scen)
    tables = {
        "welfare": decomposition.add_to_welfare(welfare, parts),
        "macro": report.macro(model, base, scen),
        "trade": report.trade(model, base, scen),
        "output": report.output(model, base, scen),
    }
    return Run(resolved, model, base, scen, tables)


def model_key(resolved: ResolvedScenario, quota: np.ndarray) -> str:
    """sha256 of what a built model and its baseline depend on, beyond the scenario's shocks."""
    sam = resolved.sam
    digest = hashlib.sha256(f"{sam.digest}\0{resolved.scenario.closure}\n".encode())
    for name in ELASTICITIES:
        digest.update(np.ascontiguousarray(getattr(sam, name), dtype=float).tobytes())
    digest.update(np.ascontiguousarray(quota).tobytes())
    for name in PARAMETERS:
        digest.update(np.ascontiguousarray(getattr(resolved.baseline, name), dtype=float).tobytes())
    return digest.hexdigest()
