"""Benchmark: Ipopt against Newton–Krylov as the model grows (issue 13).

Run on demand, one at a time, under a memory cap on a shared machine:

    prlimit --as=$((8*1024**3)) python benchmarks/bench_scale.py 10x8
    prlimit --as=$((8*1024**3)) python benchmarks/bench_scale.py 41x35
    prlimit --as=$((8*1024**3)) python benchmarks/bench_scale.py 41x35 --orderings
    prlimit --as=$((20*1024**3)) python benchmarks/bench_scale.py 80x50 --solver newton
    prlimit --as=$((20*1024**3)) python benchmarks/bench_scale.py 141x65 --solver newton

(Ipopt's MUMPS asks for 22.5 GB at 80 × 50: Newton–Krylov only there; README "Large
models" has the numbers.) ``--preconditioner lu|regions|regions-trade`` overrides
Newton–Krylov's choice by size (model/preconditioners.py).

Each size solves the balanced-trade baseline from the benchmark, then the friend-shoring
scenario (iceberg trade costs +30% between two blocs) from that baseline, once with each
solver, each in a fresh process so that the peak memory (max RSS) is the solver's own.
10x8 is wiod2011_10x8 with the shipped friendshoring.toml; 41x35 the embedded
wiod2011_41x35 with the scenario of benchmarks/bench_friendshoring.py --full; any other
size R x S (80x50, 141x65, or a small one such as 20x15) is synthetic_sam(R, S, seed=0)
with the first half of the regions as one bloc.

Printed per solver and solve: unknowns, Jacobian non-zeros, set-up seconds (synthetic
data, calibration, model build: system and evaluator), the largest residual at the
benchmark (replication), iterations, homotopy steps, factorisations (Newton), GMRES
iterations, seconds per iteration, evaluations of F and J with their wall seconds and share
of the solve's wall time, seconds in the solver and of the whole solve (wall) and
CPU seconds of the solve (all threads: on a shared machine the wall time depends on the
load, the CPU time much less), largest residual and Walras check; for Newton the entries
of the preconditioner's factors and the seconds one factorisation takes; the process's
peak memory (max RSS, resource.getrusage). ``--orderings`` instead factors the Jacobian
at the scenario's first point with each SuperLU column ordering (preconditioners.ORDERINGS).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import evaluations as evaluations_counted  # beside this script: its folder is first on sys.path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETUP: dict[str, float] = {}
"""Seconds of this process's set-up: synthetic data, model build (system, evaluator)."""
TIME_LIMIT = 3600.0
"""Seconds each solve may take here (fragcge solve's default is 300): the large sizes are
measured, not cut off."""
WIOD = ("10x8", "41x35")
"""Sizes with an embedded WIOD dataset; any other RxS is synthetic_sam(R, S, seed=0)."""


def _size(text: str) -> str:
    if not re.fullmatch(r"[0-9]+x[0-9]+", text):
        raise argparse.ArgumentTypeError(f"expected REGIONSxSECTORS such as 41x35, got {text!r}")
    return text


def _scenario(size: str, folder: Path) -> Path:
    """The friend-shoring scenario file (with its balanced-trade baseline) at this size."""
    if size == "10x8":
        return ROOT / "scenarios" / "friendshoring.toml"
    if size == "41x35":
        from bench_friendshoring import full_scenarios

        return full_scenarios(folder)
    from fragcge.calibration.dataset import write_dataset
    from fragcge.calibration.synthetic import synthetic_sam

    n_regions, n_sectors = (int(k) for k in size.split("x"))
    t0 = time.perf_counter()
    sam = synthetic_sam(n_regions, n_sectors, seed=0)
    SETUP["synthetic_data_seconds"] = round(time.perf_counter() - t0, 2)
    print(f"synthetic data {SETUP['synthetic_data_seconds']} s", file=sys.stderr)
    write_dataset(sam, folder / "data")
    half = n_regions // 2
    west, east = list(sam.regions[:half]), list(sam.regions[half:])
    (folder / "balanced-trade.toml").write_text(
        '[scenario]\nname = "balanced-trade"\ndata = "./data"\n\n'
        '[[shock]]\ninstrument = "transfer"\nbalanced = true\n'
    )
    scenario = folder / "friendshoring.toml"
    scenario.write_text(
        '[scenario]\nname = "friendshoring"\ndata = "./data"\nbaseline = "balanced-trade"\n\n'
        f"[blocs]\nwest = {json.dumps(west)}\neast = {json.dumps(east)}\n\n"
        '[[shock]]\ninstrument = "ntb"\nbetween = ["west", "east"]\nrate = 0.30\n'
    )
    return scenario


def _model(size: str, folder: Path, solver: str, preconditioner: str = "auto"):
    from fragcge.calibration.calibrate import calibrate
    from fragcge.calibration.dataset import load_dataset
    from fragcge.model.cge import CGEModel
    from fragcge.model.newton import run_newton
    from fragcge.scenarios.load import load_scenario
    from fragcge.scenarios.resolve import resolve

    scenario = load_scenario(_scenario(size, folder))
    resolved = resolve(scenario, load_dataset(scenario.data))
    t0 = time.perf_counter()
    cal = calibrate(resolved.sam)
    SETUP["calibrate_seconds"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    model = CGEModel(cal, solver=solver)
    SETUP["model_build_seconds"] = round(time.perf_counter() - t0, 2)
    SETUP.update({f"build_{k}_seconds": round(v, 2) for k, v in model.timings.items()})
    print(f"model build    {SETUP['model_build_seconds']} s", file=sys.stderr)
    if solver == "newton":
        run = partial(run_newton, preconditioner=preconditioner)
        model.solver = replace(model.solver, run=run)
    return model, resolved


def run_one(
    size: str,
    solver: str,
    save: Path | None = None,
    preconditioner: str = "auto",
    time_limit: float = TIME_LIMIT,
) -> dict:
    """Baseline and scenario solves with one solver, in this process, each within
    ``time_limit`` seconds; with ``save``, the two equilibria are written there as
    SOLVER-baseline.npy and SOLVER-scenario.npy."""
    from fragcge.model.preconditioners import choose_preconditioner
    from fragcge.model.solve import SolveLimits

    limits = SolveLimits(max_wall_time=time_limit, time_budget=time_limit)

    with tempfile.TemporaryDirectory() as tmp:
        model, resolved = _model(size, Path(tmp), solver, preconditioner)
        out = {"size": size, "solver": solver, "unknowns": model.system.n}
        out["jacobian_nonzeros"] = model.evaluator.nnz
        if solver == "newton":
            out["preconditioner"] = choose_preconditioner(preconditioner, model.system.n)
        out.update(SETUP)
        at = model.evaluator.at(model.system.benchmark_theta)
        out["replication_residual"] = float(np.max(np.abs(at.residuals(model.system.start()))))
        evaluations_counted.count()
        cpu, wall = [time.process_time()], [time.perf_counter()]
        evaluations = [dict(evaluations_counted.TOTAL)]
        base = model.solve(resolved.baseline, limits=limits)
        cpu.append(time.process_time())
        wall.append(time.perf_counter())
        evaluations.append(dict(evaluations_counted.TOTAL))
        scen = model.solve(resolved.shocks, x0=base, limits=limits)
        cpu.append(time.process_time())
        wall.append(time.perf_counter())
        evaluations.append(dict(evaluations_counted.TOTAL))
    for k, (label, eq) in enumerate((("baseline", base), ("scenario", scen))):
        if save is not None:
            np.save(save / f"{solver}-{label}.npy", eq.x)
        r = eq.result
        evaluated = evaluations[k + 1]["seconds"] - evaluations[k]["seconds"]
        out[label] = {
            "wall_seconds": round(wall[k + 1] - wall[k], 2),
            "evaluations": evaluations[k + 1]["calls"] - evaluations[k]["calls"],
            "evaluation_seconds": round(evaluated, 2),
            "evaluation_share": round(evaluated / (wall[k + 1] - wall[k]), 3),
            "cpu_seconds": round(cpu[k + 1] - cpu[k], 2),
            "iterations": r.iterations,
            "homotopy_steps": r.steps,
            "factorizations": r.factorizations,
            "krylov_iterations": r.krylov_iterations,
            "seconds": round(r.seconds, 2),
            "seconds_per_iteration": round(r.seconds / max(r.iterations, 1), 3),
            "largest_scaled_residual": r.max_residual,
            "walras": eq.walras,
        }
    if solver == "newton":
        entries, seconds = _one_factorization(model, scen, out["preconditioner"])
        out["factor_entries"], out["factor_seconds"] = entries, seconds
    out["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def _one_factorization(model, eq, preconditioner: str) -> tuple[int, float]:
    """Entries of the factors the preconditioner makes of the Jacobian at an equilibrium
    (L + U of J, or of its regional and trade blocks), and seconds taken."""
    from fragcge.model.newton import JacobianMatrix
    from fragcge.model.preconditioners import RegionalBlocks, factorize

    jac = JacobianMatrix(model.evaluator.at(eq.theta))(eq.x)
    trade = preconditioner == "regions-trade"
    factor = factorize if preconditioner == "lu" else RegionalBlocks(model.system, trade=trade)
    t0 = time.perf_counter()
    factors = factor(jac)
    return factors.entries, round(time.perf_counter() - t0, 3)


def orderings(size: str) -> list[dict]:
    """Factor the Jacobian at the balanced-trade baseline with each SuperLU column ordering
    (NATURAL only at small sizes: at 10 x 8 it has 4 times COLAMD's fill already)."""
    from fragcge.model.newton import JacobianMatrix
    from fragcge.model.preconditioners import ORDERINGS, factorize

    with tempfile.TemporaryDirectory() as tmp:
        model, resolved = _model(size, Path(tmp), "newton")
        base = model.solve(resolved.baseline)
        theta = model.theta_for(resolved.shocks)
        jac = JacobianMatrix(model.evaluator.at(theta))(base.x)
    rows = []
    for ordering in ORDERINGS:
        if ordering == "NATURAL" and jac.shape[0] > 10_000:
            continue
        t0 = time.perf_counter()
        try:
            lu = factorize(jac, ordering)
        except (RuntimeError, MemoryError) as exc:
            rows.append({"ordering": ordering, "error": str(exc)})
            continue
        rows.append(
            {
                "ordering": ordering,
                "seconds": round(time.perf_counter() - t0, 3),
                "factor_entries": lu.entries,
            }
        )
        del lu
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=_size, help="10x8, 41x35 (WIOD) or RxS (synthetic)")
    parser.add_argument("--solver", choices=("ipopt", "newton", "both"), default="both")
    parser.add_argument("--orderings", action="store_true", help="compare SuperLU orderings")
    parser.add_argument(
        "--preconditioner",
        choices=("auto", "lu", "regions", "regions-trade"),
        default="auto",
        help="Newton–Krylov's factors: of J (lu), of its regional and trade blocks (regions)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line (internal)")
    parser.add_argument(
        "--save",
        type=Path,
        help="folder to write each solver's equilibria in, and compare them (largest "
        "difference relative to max(1, |x|), as tests/test_solver_newton_vs_ipopt.py measures)",
    )
    parser.add_argument(
        "--time-limit", type=float, default=TIME_LIMIT, help="seconds each solve may take"
    )
    args = parser.parse_args()
    if args.orderings:
        for row in orderings(args.size):
            print(json.dumps(row))
        return 0
    if args.solver != "both":
        result = run_one(args.size, args.solver, args.save, args.preconditioner, args.time_limit)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    for solver in ("ipopt", "newton"):
        # A fresh process per solver: max RSS is then that solver's peak, not the larger one's.
        cmd = [sys.executable, __file__, args.size, "--solver", solver, "--json"]
        cmd += ["--preconditioner", args.preconditioner, "--time-limit", str(args.time_limit)]
        cmd += ["--save", str(args.save)] if args.save else []
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{solver}: failed\n{done.stderr}", file=sys.stderr)
            continue
        print(json.dumps(json.loads(done.stdout.splitlines()[-1]), indent=2))
    if args.save:
        for label in ("baseline", "scenario"):
            a, b = (np.load(args.save / f"{s}-{label}.npy") for s in ("ipopt", "newton"))
            difference = np.max(np.abs(a - b) / np.maximum(1.0, np.abs(a)))
            print(f"{label}: Ipopt and Newton–Krylov differ by {difference:.1e} at most")
    return 0


if __name__ == "__main__":
    sys.exit(main())
