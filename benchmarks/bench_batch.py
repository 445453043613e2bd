"""Benchmark: a Monte Carlo over the trade elasticities of friendshoring.toml, on the default data.

Run on demand (not part of the test suite):

    python benchmarks/bench_batch.py                      # 200 draws, 2 local workers
    python benchmarks/bench_batch.py --draws 40 --workers 1 --executor dask
    python benchmarks/bench_batch.py --decomposition      # runs with the welfare decomposition

The batch is scenarios/sensitivity-friendshoring.toml with Monte Carlo draws in place of its
quadrature (seed 2011), without the welfare decomposition unless --decomposition (the batch
file's ``decomposition = true``). Reports the batch's wall time and CPU time (of the batch
command and its workers: on a shared machine the wall time depends on the other jobs), and
the time per run against a cold single solve of the same scenario: in a fresh process
(`fragcge solve`: imports, data, model build, baseline, scenario, welfare decomposition,
tables) and in this process once the imports are done (data, model build, baseline,
scenario, decomposition: the work a batch run repeats, less what its worker reuses), and the
runs' Ipopt iterations.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def _batch_file(folder: Path, draws: int, decomposition: bool) -> Path:
    """sensitivity-friendshoring.toml with `draws` Monte Carlo draws instead of quadrature,
    asking for each run's welfare decomposition when `decomposition`."""
    text = (SCENARIOS / "sensitivity-friendshoring.toml").read_text(encoding="utf-8")
    quadrature = '[uncertainty]\nmethod = "quadrature"\n'
    assert quadrature in text, "the shipped batch file changed: update the benchmark"
    montecarlo = f'[uncertainty]\nmethod = "montecarlo"\ndraws = {draws}\nseed = 2011\n'
    text = text.replace(quadrature, montecarlo).replace(
        'scenario = "friendshoring.toml"', f'scenario = "{(SCENARIOS / "friendshoring.toml")}"'
    )
    if decomposition:
        text = text.replace("[batch]\n", "[batch]\ndecomposition = true\n", 1)
    path = folder / "mc.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _children_cpu() -> float:
    """User and system CPU seconds of the finished child processes and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument("--decomposition", action="store_true", help="decompose each run's welfare")
    args = parser.parse_args()
    fragcge = [sys.executable, "-m", "fragcge"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run(
            [*fragcge, "solve", str(SCENARIOS / "friendshoring.toml"), "--out", tmp + "/cold"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cold = time.perf_counter() - t0
        from fragcge.api import solve_scenario

        solve_scenario(SCENARIOS / "friendshoring.toml")
        t0 = time.perf_counter()
        solve_scenario(SCENARIOS / "friendshoring.toml")
        in_process = time.perf_counter() - t0
        batch = _batch_file(folder, args.draws, args.decomposition)
        command = [*fragcge, "batch", str(batch), "--out", tmp + "/mc"]
        command += ["--workers", str(args.workers), "--executor", args.executor]
        cpu0 = _children_cpu()
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        cpu = _children_cpu() - cpu0
        record = json.loads((folder / "mc" / "batch.json").read_text())
        iterations = []
        for manifest in sorted((folder / "mc" / "runs").glob("*/manifest.json")):
            solver = json.loads(manifest.read_text())["solver"]
            iterations.append(solver["scenario"]["iterations"])
    per_run = wall / record["solved"]
    print(f"cold single solve (fragcge solve friendshoring.toml): {cold:.2f} s")
    print(f"cold single solve in process, imports done (solve_scenario): {in_process:.2f} s")
    print(
        f"Monte Carlo, {args.draws} draws, {args.workers} {args.executor} worker(s): "
        f"{wall:.1f} s wall, {cpu:.1f} s CPU ({record['solved']} solved, "
        f"{record['failed']} failed, decomposition {'on' if args.decomposition else 'off'})"
    )
    print(
        f"per run: {per_run:.3f} s wall, {per_run * args.workers:.3f} s of a worker "
        f"({per_run * args.workers / in_process:.0%} of a cold solve in process)"
    )
    print(
        f"scenario Ipopt iterations per run: mean {sum(iterations) / len(iterations):.2f}, "
        f"max {max(iterations)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
