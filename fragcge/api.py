"""Solving a scenario end to end: dataset → calibration → model → solves → result tables."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import dataset_signature, load_dataset
from fragcge.calibration.sam import GlobalSAM
from fragcge.model import decomposition, report
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.nests import NESTS, Nests, elasticity_pattern
from fragcge.model.shocks import parameter_names
from fragcge.model.solve import DEFAULT_LIMITS, ProgressLines, SolveLimits
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import ResolvedScenario, resolve
from fragcge.scenarios.spec import Scenario

BASELINES_KEPT = 4
"""Solved baselines a cache keeps, the most recently used: a sweep shares one baseline."""


@dataclass
class ModelCache:
    """Loaded datasets, built models by :func:`model_key`, and their most recently used
    solved baselines."""

    datasets: dict[tuple, GlobalSAM] = field(default_factory=dict)
    models: dict[str, CGEModel] = field(default_factory=dict)
    baselines: OrderedDict[str, Equilibrium] = field(default_factory=OrderedDict)


@dataclass(frozen=True)
class Solved:
    """A scenario equilibrium and the key of the model that solved it: a start for similar runs."""

    model: str
    eq: Equilibrium


@dataclass
class SolvedScenario:
    """A solved scenario: the model, the baseline and scenario equilibria, and the result tables."""

    resolved: ResolvedScenario
    model: CGEModel
    base: Equilibrium
    scen: Equilibrium
    tables: dict[str, pd.DataFrame]
    key: str = ""
    """The model's :func:`model_key`."""
    warm: bool = False
    """Whether the scenario was solved from the ``start`` given, not from its baseline."""
    decomposition_steps: int | None = decomposition.DEFAULT_STEPS
    """Solves on the path the welfare decomposition was integrated over (refined when the
    default left a residual above decomposition.RESIDUAL_SHARE of |EV|); None when the
    decomposition was not asked for (welfare has EV, EV % and real income only)."""
    limits: SolveLimits = DEFAULT_LIMITS
    """The bounds every solve of this run was made within."""

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.resolved.scenario.name

    @property
    def solved(self) -> Solved:
        """The scenario's equilibrium, as a start for another run of the same model."""
        return Solved(self.key, self.scen)


def solve_scenario(
    path: str | Path,
    limits: SolveLimits | None = None,
    progress: ProgressLines | None = None,
    solver: str = "auto",
) -> SolvedScenario:
    """Load, validate and solve a scenario file and its baseline; raises on bad input or failure.

    ``limits`` bound each solve (default :class:`SolveLimits`); ``progress`` receives the
    progress lines of a long solve; ``solver`` is "ipopt", "newton" or "auto"
    (model/solver_choice.py).
    """
    return solve_loaded(load_scenario(Path(path)), limits=limits, progress=progress, solver=solver)


def solve_loaded(
    scenario: Scenario,
    cache: ModelCache | None = None,
    start: Solved | None = None,
    limits: SolveLimits | None = None,
    progress: ProgressLines | None = None,
    solver: str = "auto",
    decompose: bool = True,
    nests: Nests = NESTS,
) -> SolvedScenario:
    """Solve a loaded scenario and its baseline, reusing a model and baseline from the cache.

    A cached model is one built for the same dataset, closure, imbalance rule, quota routes
    and elasticity pattern; the elasticities themselves are parameters. The baseline is
    always solved from the benchmark, so a cached one is the same numbers as a fresh one.
    The scenario starts from ``start`` when it was solved by the same model (a nearby run of
    a batch), else from its baseline; either way the answer is the same equilibrium, to the
    solver's tolerance.
    A model solves with the ``solver`` it was built with, which is part of its key.
    ``decompose`` False skips the welfare decomposition (its path of five or more solves):
    the welfare table then has EV, EV % and real income only, the same numbers as with it.
    ``nests`` are the model's nest trees (``model/nests.py``); the scenario must have been
    loaded with the same (``load_scenario(path, nests)``) when it sets an elasticity they
    declare.
    """
    cache = ModelCache() if cache is None else cache
    data = dataset_signature(scenario.data)
    if data not in cache.datasets:
        cache.datasets[data] = load_dataset(scenario.data)
    resolved = resolve(scenario, cache.datasets[data], nests)
    quota = np.isfinite(resolved.shocks.quota)
    key = model_key(resolved, quota, solver, nests)
    if key not in cache.models:
        cache.models[key] = CGEModel(
            calibrate(resolved.sam),
            scenario.closure,
            quota=quota,
            solver=solver,
            imbalances=scenario.imbalances,
            nests=nests,
        )
    model = cache.models[key]
    elasticities = model.elasticities_of(resolved.sam)
    limits = SolveLimits() if limits is None else limits
    bounds = {"limits": limits, "progress": progress}
    base = _baseline(
        model, resolved, baseline_key(key, elasticities, resolved), cache, elasticities, bounds
    )
    near = start is not None and start.model == key
    # Quota shares are shares of the baseline's delivered volumes.
    scen = model.solve(
        resolved.shocks,
        x0=start.eq if near else base,
        quota_reference=report.route_flows(model, base)["V"],
        elasticities=elasticities,
        **bounds,
    )
    welfare = report.welfare(model, base, scen, resolved.blocs)
    steps = None
    if decompose:
        decomposed = decomposition.decompose_welfare(model, base, scen, welfare, **bounds)
        welfare, steps = decomposed.welfare, decomposed.steps
    tables = {
        "welfare": welfare,
        "macro": report.macro(model, base, scen),
        "trade": report.trade(model, base, scen),
        "output": report.output(model, base, scen),
    }
    return SolvedScenario(resolved, model, base, scen, tables, key, near, steps, limits)


def _baseline(
    model: CGEModel,
    resolved: ResolvedScenario,
    key: str,
    cache: ModelCache,
    elasticities: dict[str, np.ndarray],
    bounds: dict[str, object],
) -> Equilibrium:
    """The baseline equilibrium from the cache, or solved from the benchmark (within
    ``bounds``, :meth:`CGEModel.solve`'s limits and progress) and cached."""
    if key in cache.baselines:
        cache.baselines.move_to_end(key)
    else:
        cache.baselines[key] = model.solve(resolved.baseline, elasticities=elasticities, **bounds)
        while len(cache.baselines) > BASELINES_KEPT:
            cache.baselines.popitem(last=False)
    return cache.baselines[key]


def model_key(
    resolved: ResolvedScenario, quota: np.ndarray, solver: str = "auto", nests: Nests = NESTS
) -> str:
    """sha256 of what a built model's equations depend on, beyond its mutable parameters, and
    of the solver method asked for."""
    sam = resolved.sam
    scenario = resolved.scenario
    text = f"{sam.digest}\0{scenario.closure}\0{scenario.imbalances}\0{solver}\n"
    digest = hashlib.sha256(text.encode())
    if nests != NESTS:
        # The built-in trees leave the key as it was; others (frozen records) by their repr.
        digest.update(repr(nests).encode())
    digest.update(elasticity_pattern(sam, nests))
    digest.update(np.ascontiguousarray(quota).tobytes())
    return digest.hexdigest()


def baseline_key(
    model: str, elasticities: dict[str, np.ndarray], resolved: ResolvedScenario
) -> str:
    """sha256 of what a baseline depends on: the model, the ``elasticities`` it solves with
    (:meth:`CGEModel.elasticities_of`: substitution, nest-declared and factor supply), the
    baseline shocks."""
    digest = hashlib.sha256(model.encode())
    for name in elasticities:
        digest.update(np.ascontiguousarray(elasticities[name], dtype=float).tobytes())
    for name in parameter_names():
        digest.update(np.ascontiguousarray(resolved.baseline.level(name), dtype=float).tobytes())
    return digest.hexdigest()
