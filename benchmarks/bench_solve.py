"""Benchmark: the whole `fragcge solve` of the friend-shoring scenario, as a user runs it.

Run on demand, one at a time, under a memory cap on a shared machine:

    python benchmarks/bench_solve.py                                   # 10 x 8
    prlimit --as=$((8*1024**3)) python benchmarks/bench_solve.py --full  # 41 x 35

Each size runs `python -m fragcge solve` in a fresh process twice with an empty baseline
cache folder of its own (FRAGCGE_CACHE_DIR): first with the cache empty (the balanced-trade
baseline is solved and written), then with it filled (the baseline is read); both solve the
scenario and its welfare decomposition and write the result folder. Printed per run: wall
seconds, CPU seconds (user + system of the process: on a shared machine the wall time
depends on the other jobs, the CPU time much less), peak memory (max RSS) and the solver
line the command printed; then whether the two runs wrote byte-identical tables. 10 x 8 is
the shipped friendshoring.toml on wiod2011_10x8 (Ipopt); --full the same scenario on the
embedded wiod2011_41x35 (benchmarks/bench_friendshoring.py's full_scenarios; Newton–Krylov
by the automatic choice).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("welfare.csv", "macro.csv", "trade.csv", "output.csv")


def _run(scenario: Path, out: Path, cache: Path) -> dict[str, object]:
    """One `fragcge solve` in a fresh process: wall and CPU seconds, peak memory, output."""
    env = {**os.environ, "FRAGCGE_CACHE_DIR": str(cache)}
    cmd = [sys.executable, "-m", "fragcge", "solve", str(scenario), "--out", str(out)]
    t0 = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = process.communicate()
    # communicate() has reaped the child; its resource usage is in RUSAGE_CHILDREN.
    wall = time.perf_counter() - t0
    if process.returncode:
        raise SystemExit(f"fragcge solve failed ({process.returncode}):\n{stderr.decode()}")
    text = stdout.decode()
    return {
        "wall": wall,
        "solved": next(line for line in text.splitlines() if line.startswith("solved")),
    }


def main() -> int:
    import resource

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the 41 × 35 WIOD table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.full:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from bench_friendshoring import full_scenarios

            scenario = full_scenarios(folder)
        else:
            scenario = ROOT / "scenarios" / "friendshoring.toml"
        outs = []
        for label in ("cache empty", "cache filled"):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = folder / label.replace(" ", "-")
            run = _run(scenario, out, folder / "cache")
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            # ru_maxrss of children is the largest of any child so far: the runs go from
            # the larger (cache empty) to the smaller, so the first is that run's own.
            peak = after.ru_maxrss / 1024
            print(
                f"{label:<13} {run['wall']:6.1f} s wall, {cpu:6.1f} s CPU, peak memory "
                f"{peak:.0f} MB (max RSS so far)\n              {run['solved']}"
            )
            outs.append(out)
        same = all((outs[0] / t).read_bytes() == (outs[1] / t).read_bytes() for t in TABLES)
        print(f"tables byte-identical with and without the cache: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
