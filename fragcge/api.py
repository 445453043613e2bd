"""Solving a scenario end to end: dataset → calibration → model → solves → result tables."""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse.linalg import SuperLU

from fragcge import baseline_store
from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.dataset import dataset_signature, load_dataset
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import OutputError
from fragcge.model import decomposition, report
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.nests import NESTS, Nests, elasticity_pattern
from fragcge.model.newton import NewtonRunner
from fragcge.model.shocks import parameter_names
from fragcge.model.solve import DEFAULT_LIMITS, ProgressLines, Runner, SolveLimits
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import ResolvedScenario, resolve
from fragcge.scenarios.spec import Scenario

BASELINES_KEPT = 4
"""Solved baselines a cache keeps, the most recently used: a sweep shares one baseline."""


@dataclass(frozen=True)
class Baseline:
    """A solved baseline, and for Newton–Krylov the point and θ at which its solve last
    factored J (None: no factors, as with Ipopt): its scenarios' solves start from those
    factors, made again from ``origin`` when they are not kept, so that a scenario's answer
    does not depend on whether its baseline was solved in this process."""

    eq: Equilibrium
    origin: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class ModelCache:
    """Loaded datasets, built models by :func:`model_key`, their most recently used solved
    baselines, and the factors of J of the most recently used one (one set: at 41 x 35
    about 19 M entries)."""

    datasets: dict[tuple, GlobalSAM] = field(default_factory=dict)
    models: dict[str, CGEModel] = field(default_factory=dict)
    baselines: OrderedDict[str, Baseline] = field(default_factory=OrderedDict)
    factors: tuple[str, SuperLU] | None = None
    """(baseline key, SuperLU factors at that baseline's ``origin``)."""


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
    baseline_source: str = "solved"
    """Where the baseline came from: "solved", "memory" (this process's model cache) or
    "disk cache" (:mod:`fragcge.baseline_store`)."""

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
    limits = SolveLimits() if limits is None else limits
    near = start is not None and start.model == key
    base, scen, source = _solve_pair(
        model, resolved, key, cache, start.eq if near else None, limits, progress
    )
    welfare = report.welfare(model, base, scen, resolved.blocs)
    steps = None
    if decompose:
        decomposed = decomposition.decompose_welfare(
            model, base, scen, welfare, limits=limits, progress=progress
        )
        welfare, steps = decomposed.welfare, decomposed.steps
    tables = {
        "welfare": welfare,
        "macro": report.macro(model, base, scen),
        "trade": report.trade(model, base, scen),
        "output": report.output(model, base, scen),
    }
    return SolvedScenario(resolved, model, base, scen, tables, key, near, steps, limits, source)


def _solve_pair(
    model: CGEModel,
    resolved: ResolvedScenario,
    key: str,
    cache: ModelCache,
    start: Equilibrium | None,
    limits: SolveLimits,
    progress: ProgressLines | None,
) -> tuple[Equilibrium, Equilibrium, str]:
    """The baseline (from the caches, or solved and cached), the scenario, solved from
    ``start`` or the baseline, and where the baseline came from. One runner serves both:
    Newton–Krylov's scenario solve starts from the factors of J the baseline's solve ended
    with. The runner, and any factors the scenario made, are freed on return."""
    run = model.solver.path_runner()
    elasticities = model.elasticities_of(resolved.sam)
    bounds = {"limits": limits, "progress": progress, "run": run}
    base, source = _baseline(
        model, resolved, baseline_key(key, elasticities, resolved), cache, elasticities, bounds
    )
    # Quota shares are shares of the baseline's delivered volumes.
    scen = model.solve(
        resolved.shocks,
        x0=base if start is None else start,
        quota_reference=report.route_flows(model, base)["V"],
        elasticities=elasticities,
        **bounds,
    )
    return base, scen, source


def _baseline(
    model: CGEModel,
    resolved: ResolvedScenario,
    key: str,
    cache: ModelCache,
    elasticities: dict[str, np.ndarray],
    bounds: dict[str, object],
) -> tuple[Equilibrium, str]:
    """The baseline equilibrium and where it came from: the model cache ("memory"), the disk
    cache ("disk cache", :mod:`fragcge.baseline_store`), or solved from the benchmark
    (within ``bounds``, :meth:`CGEModel.solve`'s limits, progress and runner; "solved") and
    cached in both. Either way a :class:`NewtonRunner` in ``bounds`` ends up with the factors
    of J at the baseline's ``origin``."""
    run: Runner = bounds["run"]
    source = "memory"
    if key not in cache.baselines:
        stored = _stored(model, resolved, key, elasticities)
        if stored is not None:
            cache.baselines[key], source = stored, "disk cache"
    if key in cache.baselines:
        cache.baselines.move_to_end(key)
        entry = cache.baselines[key]
        if isinstance(run, NewtonRunner) and entry.origin is not None:
            kept = cache.factors[1] if cache.factors and cache.factors[0] == key else None
            run.start_from(model.evaluator, entry.origin, kept)
            cache.factors = (key, run.factors)
    else:
        eq = model.solve(resolved.baseline, elasticities=elasticities, **bounds)
        origin = run.origin if isinstance(run, NewtonRunner) else None
        cache.baselines[key], source = Baseline(eq, origin), "solved"
        cache.factors = None if origin is None else (key, run.factors)
        _store(resolved, key, cache.baselines[key])
    while len(cache.baselines) > BASELINES_KEPT:
        cache.baselines.popitem(last=False)
    return cache.baselines[key].eq, source


def _store_path(resolved: ResolvedScenario, key: str) -> tuple[Path, str] | None:
    """The disk cache entry of a baseline and its key; None without a cache folder, or for
    data that did not come from files (no content hash to key it by)."""
    folder = baseline_store.cache_folder()
    if folder is None or not resolved.sam.digest:
        return None
    entry = baseline_store.entry_key(key)
    return baseline_store.entry_path(folder, entry), entry


def _stored(
    model: CGEModel, resolved: ResolvedScenario, key: str, elasticities: dict[str, np.ndarray]
) -> Baseline | None:
    """The baseline from the disk cache if there is a valid entry for it."""
    where = _store_path(resolved, key)
    if where is None:
        return None
    theta = model.theta_for(resolved.baseline, elasticities=elasticities)
    loaded = baseline_store.load(*where, model, theta)
    return None if loaded is None else Baseline(*loaded)


def _store(resolved: ResolvedScenario, key: str, baseline: Baseline) -> None:
    """Write a solved baseline into the disk cache; a cache that cannot be written is a
    warning naming it, not a failed solve."""
    where = _store_path(resolved, key)
    if where is None:
        return
    try:
        baseline_store.save(*where, baseline.eq, baseline.origin)
    except (OutputError, OSError) as exc:
        warnings.warn(f"the baseline cache was not written: {exc}", stacklevel=2)


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
