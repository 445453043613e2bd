"""Running a batch file: every run solved and written, then summary tables and figures.

Runs go to ``OUT/runs/<run id>/`` exactly as ``fragcge solve`` writes a scenario (each
folder appears whole, or not at all), with the run's place in the batch under the
manifest's "batch" key. A run whose manifest exists is skipped, so rerunning a batch
resumes it (unless the batch file now asks for the welfare decomposition and the run was
written without it); a failed run leaves no folder and is retried. Each run's welfare is
decomposed only when the batch file says ``decomposition = true``. Runs are solved in the strands of
:mod:`fragcge.schedule`, each from the nearest solved run of its strand, so the tables are
the same bytes whatever the executor and the number of workers. (A resumed batch's remaining
runs may start from other points than they would have; they reach the same equilibria to
the solver's tolerance.) The summary tables are computed from the written welfare tables.

Executors: ``local`` (this process for one worker, else spawned processes: a script calling
run_batch with workers > 1 needs the usual ``if __name__ == "__main__":`` guard) and
``dask`` (a Dask scheduler at ``scheduler``, or a LocalCluster of ``workers`` processes).
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fragcge import interrupt
from fragcge.api import ModelCache, Solved, solve_loaded
from fragcge.errors import FragcgeError
from fragcge.executors import Executor, make_executor
from fragcge.model.report import REAL_INCOME
from fragcge.output_folder import claim, locked, write_file
from fragcge.reports.batch_figures import batch_figures
from fragcge.results import FLOAT_FORMAT, write_run
from fragcge.scenarios.batch_file import (
    Batch,
    BatchRun,
    apply_run,
    expand,
    load_batch,
    parameter_column,
)
from fragcge.scenarios.design import summarise
from fragcge.scenarios.spec import Scenario
from fragcge.schedule import Schedule

MEASURES = ("ev", "ev_pct", REAL_INCOME)
"""welfare.csv's measures the batch tables summarise and list per run."""
STATISTICS = ("mean", "sd", "p5", "p95")
EXECUTORS = ("local", "dask")
ATTEMPTS = 2
"""Tries of a run whose worker process died under it (killed, out of memory): a second
death fails the run rather than every worker in turn."""


@dataclass(frozen=True)
class Outcome:
    """What became of one run: "solved", "skipped" (already solved) or "failed", and why."""

    run: BatchRun
    status: str
    seconds: float
    message: str = ""


@dataclass
class BatchResult:
    """The outcomes of a batch's runs, in the batch's order (not the order they finished)."""

    name: str
    out: Path
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, status: str) -> int:
        """How many runs ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch, raised once the solved runs' tables are written."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__(f"batch {result.name} interrupted")
        self.result = result


def run_batch(
    batch_path: str | Path,
    out_dir: str | Path | None = None,
    workers: int = 1,
    on_run: Callable[[Outcome], None] | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    solver: str = "auto",
) -> BatchResult:
    """Solve a batch file's runs not yet in out_dir (default results/<name>), then its tables.

    Every run is solved with ``solver`` ("ipopt", "newton" or "auto": by the model's size;
    model/solver_choice.py); each run's manifest and batch.json record it.

    ``on_run`` is called with each run's outcome as it finishes (skipped runs first). Raises
    ScenarioError on a bad batch file; a run that fails is recorded in failures.csv and the
    batch goes on. On Ctrl-C the workers are stopped, the tables are written from the runs
    on disk, and BatchInterrupted (a KeyboardInterrupt) is raised with the result.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    t0 = time.perf_counter()
    batch = load_batch(batch_path)
    out = claim(Path("results") / batch.name if out_dir is None else Path(out_dir), "batch")
    with locked(out):
        return _run_batch(batch, out, workers, on_run, executor, scheduler, solver, t0)


def _run_batch(
    batch: Batch,
    out: Path,
    workers: int,
    on_run: Callable[[Outcome], None] | None,
    executor: str,
    scheduler: str | None,
    solver: str,
    t0: float,
) -> BatchResult:
    """run_batch's work once the output folder is claimed and locked."""
    runs = expand(batch)
    outcomes, interrupted = solve_runs(
        runs,
        lambda run: apply_run(batch.scenario, run),
        out,
        batch.decomposition,
        workers,
        on_run,
        executor,
        scheduler,
        solver,
    )
    result = BatchResult(batch.name, out, outcomes)
    result.interrupted = interrupted
    _write_tables(batch, result)
    result.seconds = time.perf_counter() - t0
    where = executor if scheduler is None else scheduler
    _write_record(batch, result, len(runs), workers, where, solver)
    if interrupted:
        raise BatchInterrupted(result)
    return result


def solve_runs(
    runs: list[BatchRun],
    scenario_of: Callable[[BatchRun], Scenario],
    out: Path,
    decomposition: bool,
    workers: int,
    on_run: Callable[[Outcome], None] | None,
    executor: str,
    scheduler: str | None,
    solver: str = "auto",
) -> tuple[list[Outcome], bool]:
    """Solve and write into ``out/runs/`` the runs not solved there yet, each the scenario
    ``scenario_of(run)`` solved with ``solver``, in the strands of :mod:`fragcge.schedule` on
    the executor asked for.

    The outcomes, in the order of ``runs`` (a run with none was not reached: Ctrl-C), and
    whether the runs were interrupted; the caller writes its tables from the runs on disk
    and raises on an interruption. ``on_run`` is called with each outcome as it comes.
    """
    outcomes: dict[str, Outcome] = {}

    def finish(outcome: Outcome) -> None:
        outcomes[outcome.run.id] = outcome
        if on_run is not None:
            on_run(outcome)

    for run in runs:
        if _done(out, run, decomposition):
            finish(Outcome(run, "skipped", 0.0))
    schedule = Schedule(runs)
    todo = [[run for run in strand if run.id not in outcomes] for strand in schedule.strands]
    todo = [strand for strand in todo if strand]
    interrupted = False
    if todo:
        with interrupt.caught():
            pool = None
            try:
                # Each worker keeps its models and baselines across the runs it is given.
                pool = make_executor(executor, workers, scheduler, ModelCache)
                _solve_strands(
                    pool, scenario_of, decomposition, out, todo, schedule, finish, solver
                )
            except KeyboardInterrupt:
                interrupted = True
            finally:
                if pool is not None:
                    pool.close(cancel=interrupted)
    for run in runs:
        # A worker may have written a run whose outcome it could not send before it stopped, or
        # that was given up for a dead worker (Dask's KilledWorker) while it still ran: with
        # every worker stopped, a run folder on disk is a solved run.
        known = outcomes.get(run.id)
        if (known is None or known.status == "failed") and (
            run_dir(out, run) / "manifest.json"
        ).is_file():
            outcomes[run.id] = Outcome(run, "solved", 0.0)
    return [outcomes[run.id] for run in runs if run.id in outcomes], interrupted


def _solve_strands(
    pool: Executor,
    scenario_of: Callable[[BatchRun], Scenario],
    decomposition: bool,
    out: Path,
    strands: list[list[BatchRun]],
    schedule: Schedule,
    finish: Callable[[Outcome], None],
    solver: str,
) -> None:
    """Solve each strand's runs in order, strands side by side, one run per strand at a time."""
    solved: list[list[tuple[BatchRun, Solved]]] = [[] for _ in strands]
    position = [0] * len(strands)
    attempts: dict[str, int] = {}
    pending: dict[object, int] = {}

    def submit(k: int) -> None:
        run = strands[k][position[k]]
        near = schedule.nearest(run, [r for r, _ in solved[k]])
        start = next((s for r, s in solved[k] if r is near), None)
        attempts[run.id] = attempts.get(run.id, 0) + 1
        started = None if near is None else near.id
        task = (scenario_of(run), decomposition, solver, run, out, start, started)
        pending[pool.submit(_solve_task, *task)] = k

    def advance(k: int) -> None:
        position[k] += 1
        if position[k] < len(strands[k]):
            submit(k)
        else:
            solved[k].clear()

    for k in range(len(strands)):
        submit(k)
    while pending:
        for future in pool.wait(pending):
            k = pending.pop(future)
            run = strands[k][position[k]]
            try:
                outcome, state = future.result()
            except BrokenProcessPool:
                # Reaps the broken pool's workers first: one may still be writing this run.
                pool.restart()
                if (run_dir(out, run) / "manifest.json").is_file():
                    # Written before its worker died: done, not to be solved (and written) again.
                    outcome, state = Outcome(run, "solved", 0.0), None
                elif attempts[run.id] < ATTEMPTS:
                    submit(k)
                    continue
                outcome, state = Outcome(run, "failed", 0.0, _DIED), None
            except Exception as exc:
                if interrupt.requested():
                    raise KeyboardInterrupt from exc
                # Dask gives up on a run whose workers keep dying with KilledWorker.
                died = type(exc).__name__ == "KilledWorker"
                outcome, state = (
                    Outcome(run, "failed", 0.0, _DIED if died else _unexpected(exc)),
                    None,
                )
            if state is not None:
                solved[k].append((run, state))
            finish(outcome)
            advance(k)


_DIED = (
    "worker processes died while this run was queued or being solved (killed, or out of "
    "memory), more often than a run is retried; nothing was written for it"
)


def _unexpected(exc: BaseException) -> str:
    """A failure that is not the model's: the exception's type, message and where it arose."""
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    place = f" ({where[0].filename}:{where[0].lineno})" if where else ""
    return f"internal error {type(exc).__name__}: {exc}{place}"


def run_dir(out: Path, run: BatchRun) -> Path:
    """Where run is written in the batch folder ``out``."""
    return out / "runs" / run.id


def _done(out: Path, run: BatchRun, decomposition: bool) -> bool:
    """Whether ``run`` is on disk as the batch asks for it: written (its manifest exists),
    and with the welfare decomposition when ``decomposition``."""
    path = run_dir(out, run) / "manifest.json"
    if not path.is_file():
        return False
    if not decomposition:
        return True
    record = json.loads(path.read_text(encoding="utf-8")).get("welfare_decomposition", {})
    # Runs written before the decomposition became optional carry no "computed": they have it.
    return record.get("computed", True)


def _solve_task(
    models: ModelCache,
    scenario: Scenario,
    decomposition: bool,
    solver: str,
    run: BatchRun,
    out: Path,
    start: Solved | None,
    started: str | None,
) -> tuple[Outcome, Solved | None]:
    """Solve and write one run, ``scenario``, in a worker with its ``models`` and ``solver``,
    from ``start`` (the equilibrium of run ``started``) or its baseline, with the welfare
    decomposition when ``decomposition``; a FragcgeError (SolveError too) is a failed run."""
    t0 = time.perf_counter()
    try:
        solved = solve_loaded(scenario, models, start, solver=solver, decompose=decomposition)
    except FragcgeError as exc:
        return Outcome(run, "failed", time.perf_counter() - t0, str(exc)), None
    place = {
        "id": run.id,
        "overrides": run.overrides,
        "multipliers": run.multipliers,
        "weight": run.weight,
        # The point the scenario solve started from: the run's baseline, or a nearby run.
        "started_from": started if solved.warm else "baseline",
        **({"label": run.label} if run.label else {}),
    }
    write_run(solved, run_dir(out, run), extra={"batch": place})
    return Outcome(run, "solved", time.perf_counter() - t0), solved.solved


def _write_tables(batch: Batch, result: BatchResult) -> None:
    """summary.csv and failures.csv; sweep.csv for a sweep without uncertainty, runs.csv for
    an uncertain batch (every run's EV per region, with its multipliers and weight); figures
    unless the batch was interrupted."""
    keys = list(batch.sweep.keys) if batch.sweep else []
    done = [o.run for o in result.outcomes if o.status != "failed"]
    welfare = {run.id: _welfare(result.out, run) for run in done}
    grouped = bool(keys) and batch.uncertainty is not None
    # Monte Carlo draws weigh 1/N each, so summarise's sample statistics (n - 1) fit them;
    # only a quadrature design's weights change the moments.
    quadrature = batch.uncertainty is not None and batch.uncertainty.method == "quadrature"
    groups: dict[tuple[float, ...], list[BatchRun]] = {}
    for run in done:
        groups.setdefault(tuple(run.overrides.values()) if grouped else (), []).append(run)
    rows = []
    for point, members in groups.items():
        weights = [run.weight for run in members] if quadrature else None
        first = welfare[members[0].id]
        for k, (region, bloc) in enumerate(zip(first.region, first.bloc, strict=True)):
            row: dict[str, object] = dict(zip(keys, point, strict=True)) if grouped else {}
            row.update(region=region, bloc=bloc, runs=len(members))
            for measure in MEASURES:
                values = [float(welfare[run.id][measure].iloc[k]) for run in members]
                if any(math.isnan(v) for v in values):  # a run written before the measure
                    row.update({f"{measure}_{s}": math.nan for s in STATISTICS})
                    continue
                stats = summarise(values, weights)
                row.update({f"{measure}_{s}": getattr(stats, s) for s in STATISTICS})
            rows.append(row)
    columns = [*(keys if grouped else []), "region", "bloc", "runs"]
    columns += [f"{m}_{s}" for m in MEASURES for s in STATISTICS]
    _csv(pd.DataFrame(rows, columns=columns), result.out / "summary.csv")
    if keys and batch.uncertainty is None:
        sweep = _per_run(done, welfare, lambda run: run.overrides, keys)
        _csv(sweep, result.out / "sweep.csv")
    if batch.uncertainty is not None:

        def place(run: BatchRun) -> dict[str, object]:
            scales = {parameter_column(name): m for name, m in run.multipliers.items()}
            return {"id": run.id, "weight": run.weight, **run.overrides, **scales}

        scales = [parameter_column(name) for name in batch.uncertainty.parameters]
        table = _per_run(done, welfare, place, ["id", "weight", *keys, *scales])
        _csv(table, result.out / "runs.csv")
    failures = [
        {"id": o.run.id, "overrides": json.dumps(o.run.overrides), "message": o.message}
        for o in result.outcomes
        if o.status == "failed"
    ]
    _csv(
        pd.DataFrame(failures, columns=["id", "overrides", "message"]), result.out / "failures.csv"
    )
    if not result.interrupted:  # drawing takes seconds; Ctrl-C should not wait for it
        batch_figures(result.out, keys, batch.uncertainty is not None, weighted=quadrature)


def _per_run(
    runs: list[BatchRun],
    welfare: dict[str, pd.DataFrame],
    place: Callable[[BatchRun], dict[str, object]],
    columns: list[str],
) -> pd.DataFrame:
    """Each run's welfare rows (region, bloc, EV measures) after the columns place(run) gives."""
    frames = []
    for run in runs:
        frame = welfare[run.id][["region", "bloc", *MEASURES]].copy()
        for column, value in reversed(place(run).items()):
            frame.insert(0, column, value)
        frames.append(frame)
    table = pd.concat(frames) if frames else pd.DataFrame()
    return table.reindex(columns=[*columns, "region", "bloc", *MEASURES])


def _welfare(out: Path, run: BatchRun) -> pd.DataFrame:
    """A run's welfare.csv; a measure it was written without (a run of a resumed batch solved
    before real_income_pct existed) is a column of NaN, an empty cell in the tables."""
    welfare = pd.read_csv(run_dir(out, run) / "welfare.csv", keep_default_na=False)
    for measure in MEASURES:
        if measure not in welfare.columns:
            welfare[measure] = math.nan
    return welfare


def _csv(table: pd.DataFrame, path: Path) -> None:
    write_file(path, table.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n"))


def _write_record(
    batch: Batch, result: BatchResult, runs: int, workers: int, executor: str, solver: str
) -> None:
    record = {
        "name": batch.name,
        "file": str(batch.source.path),
        "text": batch.source.text,
        "sha256": batch.source.sha256,
        "runs": runs,
        "solved": result.count("solved"),
        "skipped": result.count("skipped"),
        "failed": result.count("failed"),
        "workers": workers,
        "executor": executor,
        "solver": solver,
        "interrupted": result.interrupted,
        "seconds": round(result.seconds, 3),
    }
    write_file(result.out / "batch.json", json.dumps(record, indent=2) + "\n")
