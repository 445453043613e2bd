"""Running a risk file: each world solved and rebenchmarked, every (world, event) pair solved
through the batch runner, then risk.csv, breakeven.csv, states.csv and figures.

Every EV is measured from one reference: the first world's equilibrium, at its prices. A
world's static EV compares its equilibrium with the reference on the original dataset (the
worlds share dataset, closure, imbalance rule, elasticities and factor supply, so one welfare
index measures both). An
event is solved on the world's rebenchmarked dataset (:func:`fragcge.rebenchmark.rebenchmark`,
written to ``OUT/worlds/<world>/`` by :func:`fragcge.from_result.write_rebenchmarked`) with
the horizon's elasticities; its EV there, ev', is in the world's prices, and the welfare
index is homothetic, so (docs/risk.md)

    EV(world, event) = EV(world) + (w_ref / w_world)·ev'

with w the cost of a unit of the welfare index (:func:`fragcge.model.report.welfare_weight`)
at the reference and at the world's equilibrium: the chained EV of
:func:`fragcge.rebenchmark.chained_ev`, read from the event's written welfare table. The
tables are computed from the runs on disk, so a resumed risk run writes the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.api import ModelCache, solve_loaded
from fragcge.batch import EXECUTORS, Outcome, run_dir, solve_runs
from fragcge.calibration.dataset import load_dataset
from fragcge.errors import FragcgeError
from fragcge.from_result import write_rebenchmarked
from fragcge.model.report import dense, welfare_index, welfare_weight
from fragcge.output_folder import claim, locked, write_file
from fragcge.reports.risk_figures import risk_figures
from fragcge.results import FLOAT_FORMAT, versions
from fragcge.risk_tables import Measured, risk_tables
from fragcge.scenarios.batch_file import BatchRun
from fragcge.scenarios.provenance import scenario_record
from fragcge.scenarios.resolve import resolve
from fragcge.scenarios.risk_file import RiskFile, State, load_risk
from fragcge.scenarios.spec import BilateralTable, Scenario


@dataclass
class WorldOutcome:
    """A world's solve: "solved" or "failed" (and why); when solved, the sha256 of its
    rebenchmarked dataset, its static EV from the reference and the price ratio
    w_ref/w_world that converts its events' EVs, per region."""

    name: str
    status: str
    seconds: float
    message: str = ""
    digest: str = ""
    ev: np.ndarray | None = None
    rate: np.ndarray | None = None


@dataclass(frozen=True)
class Reference:
    """The first world's equilibrium, which every EV is measured from: its regions, the cost
    of its welfare index E_ref (EV = E_ref·(c − 1)) and its income (EV % is of it)."""

    regions: tuple[str, ...]
    spending: np.ndarray
    income: np.ndarray


@dataclass
class RiskResult:
    """What a risk run did: the worlds, the event runs' outcomes, the tables it wrote."""

    name: str
    out: Path
    worlds: list[WorldOutcome] = field(default_factory=list)
    runs: list[BatchRun] = field(default_factory=list)
    """Every (world, state) run but no disruption, world by world, states in file order."""
    outcomes: list[Outcome] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, status: str) -> int:
        """How many event runs ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)


class RiskInterrupted(KeyboardInterrupt):
    """Ctrl-C while the events were solved, raised once the tables of the solved runs are
    written."""

    def __init__(self, result: RiskResult) -> None:
        super().__init__(f"risk {result.name} interrupted")
        self.result = result


def runs_count(risk: RiskFile) -> int:
    """Event runs a risk file asks for: every world times every state but no disruption."""
    return len(risk.worlds) * (len(risk.states()) - 1)


def run_risk(
    path: str | Path,
    out_dir: str | Path | None = None,
    workers: int = 1,
    on_run: Callable[[Outcome], None] | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    on_world: Callable[[WorldOutcome], None] | None = None,
) -> RiskResult:
    """Solve a risk file's worlds and (world, event) runs not yet in out_dir (default
    results/<name>), then write its tables; ``on_world`` and ``on_run`` see each outcome.

    ScenarioError on a bad risk file, before anything is solved or written. A world or run
    that fails is recorded (failures.csv) and its cells are left empty in the tables. On
    Ctrl-C while events are solved the tables are written from the runs on disk and
    RiskInterrupted is raised; during the worlds' solves nothing is written but them.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    t0 = time.perf_counter()
    risk = load_risk(path)
    _check_names(risk)
    out = claim(Path("results") / risk.name if out_dir is None else Path(out_dir), "risk")
    with locked(out):
        result = RiskResult(risk.name, out)
        result.worlds, reference = _solve_worlds(risk, out, on_world)
        runs, scenarios, unsolvable = _event_runs(risk, result.worlds, out)
        result.runs = runs
        not_run = {
            run.id: Outcome(run, "failed", 0.0, unsolvable[run.id])
            for run in runs
            if run.id in unsolvable
        }
        for outcome in not_run.values():
            if on_run is not None:
                on_run(outcome)
        solved, result.interrupted = solve_runs(
            [run for run in runs if run.id in scenarios],
            lambda run: scenarios[run.id],
            out,
            False,
            workers,
            on_run,
            executor,
            scheduler,
        )
        by_id = {**not_run, **{o.run.id: o for o in solved}}
        result.outcomes = [by_id[run.id] for run in runs if run.id in by_id]
        result.tables = _tables(risk, result, reference)
        _write(risk, result, workers, executor if scheduler is None else scheduler, t0)
    if result.interrupted:
        raise RiskInterrupted(result)
    return result


def _check_names(risk: RiskFile) -> None:
    """Each world's and event's names (blocs, regions, sectors) and values against the
    worlds' dataset, before anything is solved: an unknown bloc is an error naming the file
    and line."""
    reference = risk.worlds[0].scenario
    sam = load_dataset(reference.data)
    for world in risk.worlds:
        resolve(world.scenario, sam)
    for state in risk.states():
        if len(state.events) == 1:
            resolve(risk.event_scenario(state, reference.data, risk.worlds[0].name), sam)


def _solve_worlds(
    risk: RiskFile, out: Path, on_world: Callable[[WorldOutcome], None] | None
) -> tuple[list[WorldOutcome], Reference | None]:
    """Solve each world, write its rebenchmarked dataset to OUT/worlds/<name>/, and measure
    its welfare from the first world's equilibrium (None when that one failed). Worlds are
    solved again on every run (a few solves): the same inputs write the same dataset, so the
    event runs on it are found solved."""
    cache = ModelCache()
    outcomes: list[WorldOutcome] = []
    first = None
    reference = None
    for k, world in enumerate(risk.worlds):
        t0 = time.perf_counter()
        try:
            run = solve_loaded(world.scenario, cache, decompose=False)
            digest = write_rebenchmarked(run, out / "worlds" / world.name).digest
        except FragcgeError as exc:
            outcome = WorldOutcome(world.name, "failed", time.perf_counter() - t0, str(exc))
        else:
            outcome = WorldOutcome(world.name, "solved", time.perf_counter() - t0, digest=digest)
            if k == 0:
                first = run
                weight = welfare_weight(run.model, run.scen)
                reference = Reference(
                    run.model.cal.sam.regions,
                    weight * welfare_index(run.model, run.scen),
                    dense(run.model.system, run.scen.x, "RA"),
                )
            if first is not None:
                # Both indices are relative to the original benchmark: one dataset, one index.
                weight = welfare_weight(first.model, first.scen)
                gain = welfare_index(run.model, run.scen) - welfare_index(first.model, first.scen)
                outcome.ev = weight * gain
                outcome.rate = weight / welfare_weight(run.model, run.scen)
        outcomes.append(outcome)
        if on_world is not None:
            on_world(outcome)
    return outcomes, reference


def _event_runs(
    risk: RiskFile, worlds: list[WorldOutcome], out: Path
) -> tuple[list[BatchRun], dict[str, Scenario], dict[str, str]]:
    """Every (world, state) run but no disruption, in world then state order; the scenario of
    each run that can be solved, and why each other one cannot (its world, or the
    reference, was not solved)."""
    runs: list[BatchRun] = []
    scenarios: dict[str, Scenario] = {}
    unsolvable: dict[str, str] = {}
    for world, outcome in zip(risk.worlds, worlds, strict=True):
        for state in risk.states()[1:]:
            run = BatchRun(
                _run_id(risk, world.name, outcome.digest, state),
                {},
                {},
                1.0,
                label=f"{world.name} / {state.name}",
            )
            runs.append(run)
            if outcome.status != "solved":
                unsolvable[run.id] = f"world {world.name} was not solved: {outcome.message}"
            elif outcome.ev is None:
                unsolvable[run.id] = (
                    f"the first world, {risk.worlds[0].name}, which every EV is measured from, "
                    "was not solved"
                )
            else:
                folder = out / "worlds" / world.name
                scenarios[run.id] = risk.event_scenario(state, folder, world.name)
    return runs, scenarios, unsolvable


def _run_id(risk: RiskFile, world: str, digest: str, state: State) -> str:
    """sha256 of the world's name and what a run's equilibrium depends on: the world's
    rebenchmarked dataset (its sha256 ``digest``), the events' shock tables (and the files
    they read), blocs, groups and horizon; not the probabilities or γ, so that changing
    those solves nothing again."""
    tables = [
        {"shocks": list(risk.events[j].tables), "files": _file_hashes(risk, j)}
        for j in state.events
    ]
    payload = {
        "world": world,
        "dataset": digest,
        "events": tables,
        "blocs": risk.blocs,
        "groups": risk.groups,
        "horizon": asdict(risk.horizon),
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _file_hashes(risk: RiskFile, event: int) -> list[str]:
    return [s.table.sha256 for s in risk.events[event].shocks if isinstance(s, BilateralTable)]


def _tables(
    risk: RiskFile, result: RiskResult, reference: Reference | None
) -> dict[str, pd.DataFrame]:
    """The tables of :mod:`fragcge.risk_tables` and failures.csv."""
    if reference is None:
        measured = Measured(risk, (), np.zeros(0), np.zeros(0), [])
    else:
        evs = _state_evs(risk, result, reference)
        measured = Measured(risk, reference.regions, reference.spending, reference.income, evs)
    return {**risk_tables(measured), "failures": _failures(result)}


def _state_evs(
    risk: RiskFile, result: RiskResult, reference: Reference
) -> list[list[np.ndarray | None]]:
    """EV from the reference of each region, by world and state; None where not solved."""
    states = risk.states()
    outcomes = {o.run.id: o for o in result.outcomes}
    evs: list[list[np.ndarray | None]] = []
    runs = iter(result.runs)
    for world in result.worlds:
        row: list[np.ndarray | None] = [world.ev]
        for _ in states[1:]:
            run = next(runs)
            outcome = outcomes.get(run.id)
            if world.ev is None or outcome is None or outcome.status == "failed":
                row.append(None)
                continue
            table = pd.read_csv(run_dir(result.out, run) / "welfare.csv", keep_default_na=False)
            table = table.set_index("region").loc[list(reference.regions)]
            row.append(world.ev + world.rate * table["ev"].to_numpy(float))
        evs.append(row)
    return evs


def _failures(result: RiskResult) -> pd.DataFrame:
    """Worlds not solved (no state) and runs that failed or were not run, with the reason."""
    rows = [
        {"world": w.name, "state": "", "id": "", "message": w.message}
        for w in result.worlds
        if w.status == "failed"
    ]
    for outcome in result.outcomes:
        if outcome.status == "failed":
            world, state = outcome.run.label.split(" / ")
            rows.append(
                {"world": world, "state": state, "id": outcome.run.id, "message": outcome.message}
            )
    return pd.DataFrame(rows, columns=["world", "state", "id", "message"])


def _csv(table: pd.DataFrame, path: Path) -> None:
    write_file(path, table.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))


def _write(risk: RiskFile, result: RiskResult, workers: int, executor: str, t0: float) -> None:
    """The tables, the figures (unless interrupted) and risk.json, each file atomically."""
    for name, table in result.tables.items():
        _csv(table, result.out / f"{name}.csv")
    if not result.interrupted and not result.tables["risk"].empty:
        risk_figures(
            result.out, result.tables["risk"], result.tables["breakeven"], risk.worlds[0].name
        )
    result.seconds = time.perf_counter() - t0
    record = {
        "name": risk.name,
        "file": str(risk.source.path),
        "text": risk.source.text,
        "sha256": risk.source.sha256,
        "risk_aversion": risk.risk_aversion,
        "events": "independent" if risk.independent else "exclusive",
        "horizon": asdict(risk.horizon),
        "reference": risk.worlds[0].name,
        "worlds": [
            {
                "name": world.name,
                "scenario": scenario_record(world.scenario),
                "status": outcome.status,
                "message": outcome.message,
                "dataset_sha256": outcome.digest,
            }
            for world, outcome in zip(risk.worlds, result.worlds, strict=True)
        ],
        "runs": len(result.outcomes),
        "solved": result.count("solved"),
        "skipped": result.count("skipped"),
        "failed": result.count("failed"),
        "workers": workers,
        "executor": executor,
        "interrupted": result.interrupted,
        "seconds": round(result.seconds, 3),
        "versions": versions(),
    }
    write_file(result.out / "risk.json", json.dumps(record, indent=2) + "\n")
