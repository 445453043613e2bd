"""Running a batch file locally: every run solved and written, then summary tables.

Runs go to ``OUT/runs/<run id>/`` exactly as ``fragcge solve`` writes a scenario, with the
run's place in the batch under the manifest's "batch" key. A run whose manifest exists is
skipped, so rerunning a batch resumes it; a failed run leaves no folder and is retried.
The summary tables are computed from the written welfare tables, so that they are the same
bytes whatever the number of workers and whichever runs were resumed. Workers are spawned
processes, so a script calling run_batch with workers > 1 needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fragcge.api import ModelCache, solve_loaded
from fragcge.errors import FragcgeError
from fragcge.results import FLOAT_FORMAT, write_run
from fragcge.scenarios.batch import Batch, Run, apply_run, expand, load_batch
from fragcge.scenarios.design import summarise
from fragcge.scenarios.spec import Scenario

MEASURES = ("ev", "ev_pct")
STATISTICS = ("mean", "sd", "p5", "p95")

_WORKER_MODELS: ModelCache = {}
"""A worker process's models and baselines, kept across the runs it is given."""


@dataclass(frozen=True)
class Outcome:
    """What became of one run: "solved", "skipped" (already solved) or "failed", and why."""

    run: Run
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

    def count(self, status: str) -> int:
        """How many runs ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)


def run_batch(
    batch_path: str | Path,
    out_dir: str | Path | None = None,
    workers: int = 1,
    on_run: Callable[[Outcome], None] | None = None,
) -> BatchResult:
    """Solve a batch file's runs not yet in out_dir (default results/<name>), then its tables.

    ``on_run`` is called with each run's outcome as it finishes. Raises ScenarioError on a
    bad batch file; a run that fails is recorded in failures.csv and the batch goes on.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    batch = load_batch(batch_path)
    out = Path("results") / batch.name if out_dir is None else Path(out_dir)
    runs = expand(batch)
    outcomes: dict[str, Outcome] = {}

    def finish(outcome: Outcome) -> None:
        outcomes[outcome.run.id] = outcome
        if on_run is not None:
            on_run(outcome)

    todo = []
    for run in runs:
        if (_run_dir(out, run) / "manifest.json").is_file():
            finish(Outcome(run, "skipped", 0.0))
        else:
            todo.append(run)
    if workers == 1 or len(todo) <= 1:
        models: ModelCache = {}
        for run in todo:
            finish(_solve_run(batch.scenario, run, out, models))
    else:
        # spawn, not fork: the parent may hold Ipopt and thread state a fork would copy.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(_solve_in_worker, batch.scenario, run, out) for run in todo]
            for future in as_completed(futures):
                finish(future.result())
    result = BatchResult(batch.name, out, [outcomes[run.id] for run in runs])
    _write_tables(batch, result)
    result.seconds = time.perf_counter() - t0
    _write_record(batch, result, workers)
    return result


def _run_dir(out: Path, run: Run) -> Path:
    return out / "runs" / run.id


def _solve_in_worker(scenario: Scenario, run: Run, out: Path) -> Outcome:
    return _solve_run(scenario, run, out, _WORKER_MODELS)


def _solve_run(scenario: Scenario, run: Run, out: Path, models: ModelCache) -> Outcome:
    """Solve and write one run; a FragcgeError (SolveError included) becomes a failed outcome."""
    t0 = time.perf_counter()
    try:
        solved = solve_loaded(apply_run(scenario, run), models)
    except FragcgeError as exc:
        return Outcome(run, "failed", time.perf_counter() - t0, str(exc))
    place = {
        "id": run.id,
        "overrides": run.overrides,
        "multipliers": run.multipliers,
        "weight": run.weight,
    }
    write_run(solved, _run_dir(out, run), extra={"batch": place})
    return Outcome(run, "solved", time.perf_counter() - t0)


def _write_tables(batch: Batch, result: BatchResult) -> None:
    """summary.csv, failures.csv and, for a sweep without uncertainty, sweep.csv."""
    keys = list(batch.sweep.keys) if batch.sweep else []
    done = [o.run for o in result.outcomes if o.status != "failed"]
    welfare = {run.id: _welfare(result.out, run) for run in done}
    grouped = bool(keys) and batch.uncertainty is not None
    # Monte Carlo draws weigh 1/N each, so summarise's sample statistics (n - 1) fit them;
    # only a quadrature design's weights change the moments.
    quadrature = batch.uncertainty is not None and batch.uncertainty.method == "quadrature"
    groups: dict[tuple[float, ...], list[Run]] = {}
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
                stats = summarise(values, weights)
                row.update({f"{measure}_{s}": getattr(stats, s) for s in STATISTICS})
            rows.append(row)
    columns = [*(keys if grouped else []), "region", "bloc", "runs"]
    columns += [f"{m}_{s}" for m in MEASURES for s in STATISTICS]
    _csv(pd.DataFrame(rows, columns=columns), result.out / "summary.csv")
    if keys and batch.uncertainty is None:
        frames = []
        for run in done:
            frame = welfare[run.id][["region", "bloc", *MEASURES]].copy()
            for key, value in reversed(run.overrides.items()):
                frame.insert(0, key, value)
            frames.append(frame)
        sweep = pd.concat(frames) if frames else pd.DataFrame(columns=[*keys, "region"])
        _csv(sweep.reindex(columns=[*keys, "region", "bloc", *MEASURES]), result.out / "sweep.csv")
    failures = [
        {"id": o.run.id, "overrides": json.dumps(o.run.overrides), "message": o.message}
        for o in result.outcomes
        if o.status == "failed"
    ]
    _csv(
        pd.DataFrame(failures, columns=["id", "overrides", "message"]), result.out / "failures.csv"
    )


def _welfare(out: Path, run: Run) -> pd.DataFrame:
    return pd.read_csv(_run_dir(out, run) / "welfare.csv", keep_default_na=False)


def _csv(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def _write_record(batch: Batch, result: BatchResult, workers: int) -> None:
    record = {
        "name": batch.name,
        "file": str(batch.source.path),
        "text": batch.source.text,
        "sha256": batch.source.sha256,
        "runs": len(result.outcomes),
        "solved": result.count("solved"),
        "skipped": result.count("skipped"),
        "failed": result.count("failed"),
        "workers": workers,
        "seconds": round(result.seconds, 3),
    }
    (result.out / "batch.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
