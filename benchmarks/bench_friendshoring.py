"""Benchmark: friend-shoring on the default 10×8 data and on the full 41×35 WIOD table.

Run on demand (not part of the test suite):

    python benchmarks/bench_friendshoring.py              # default data, wiod2011_10x8
    python benchmarks/bench_friendshoring.py --full       # 41 × 35, the named wiod2011_41x35
    python benchmarks/bench_friendshoring.py --full --decomposition [--fresh-factors]

Reports the wall and CPU time of each stage (dataset, calibration, model build, evaluator
set-up, baseline and scenario solves), the model's size, the solver's iterations and the
peak memory of the process; with --decomposition also the welfare decomposition's path of
solves, and with --fresh-factors every Newton–Krylov solve of the decomposition's path
factors J afresh instead of starting from the previous solve's factors (model/newton.py
NewtonRunner), to measure what reuse saves; without it the scenario's solve starts from the
baseline's factors, as in ``fragcge solve``. The full-table scenario is the shipped
friendshoring.toml with its blocs written in WIOD countries: West = USA, the EU members,
GBR, CAN, AUS, TWN, JPN, KOR; East = CHN, RUS; the rest non-aligned.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import evaluations  # beside this script: its folder is first on sys.path

ROOT = Path(__file__).resolve().parents[1]
EAST = ("CHN", "RUS")
NONALIGNED = ("IND", "BRA", "MEX", "IDN", "TUR", "RoW")


def full_scenarios(folder: Path) -> Path:
    """The friend-shoring scenario pair on the embedded 41×35 dataset, written in folder."""
    from fragcge.calibration.dataset import load_dataset

    regions = load_dataset("wiod2011_41x35").regions
    west = [r for r in regions if r not in EAST + NONALIGNED]
    (folder / "balanced-trade.toml").write_text(
        '[scenario]\nname = "balanced-trade"\ndata = "wiod2011_41x35"\n\n'
        '[[shock]]\ninstrument = "transfer"\nbalanced = true\n'
    )
    scenario = folder / "friendshoring.toml"
    scenario.write_text(
        '[scenario]\nname = "friendshoring"\ndata = "wiod2011_41x35"\n'
        'baseline = "balanced-trade"\n\n[blocs]\n'
        f"west = {west!r}\neast = {list(EAST)!r}\n\n"
        '[[shock]]\ninstrument = "ntb"\nbetween = ["west", "east"]\nrate = 0.30\n'.replace("'", '"')
    )
    return scenario


def _clocks() -> tuple[float, float]:
    """Wall and CPU seconds of this process: on a shared machine the wall time depends on the
    other jobs."""
    return time.perf_counter(), time.process_time()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the 41 × 35 WIOD table")
    parser.add_argument(
        "--pyomo", action="store_true", help="also build the Pyomo model (a solve never needs it)"
    )
    parser.add_argument(
        "--decomposition", action="store_true", help="also time the welfare decomposition"
    )
    parser.add_argument(
        "--fresh-factors",
        action="store_true",
        help="Newton–Krylov: factor J afresh in every solve (the scenario's and the "
        "decomposition's path's) instead of starting from the previous solve's factors",
    )
    args = parser.parse_args()

    t = {"start": _clocks()}
    from fragcge.calibration.calibrate import calibrate
    from fragcge.calibration.dataset import load_dataset
    from fragcge.model import report
    from fragcge.model.cge import CGEModel
    from fragcge.model.decomposition import decompose_welfare
    from fragcge.scenarios.load import load_scenario
    from fragcge.scenarios.resolve import resolve

    t["imports"] = _clocks()
    evaluations.count()
    counted = {"imports": dict(evaluations.TOTAL)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.full:
            path = full_scenarios(Path(tmp))
        else:
            path = ROOT / "scenarios" / "friendshoring.toml"
        t["dataset built"] = _clocks()
        counted["dataset built"] = dict(evaluations.TOTAL)
        scenario = load_scenario(path)
        sam = load_dataset(scenario.data)
        resolved = resolve(scenario, sam)
        t["dataset and scenario loaded"] = _clocks()
        counted["dataset and scenario loaded"] = dict(evaluations.TOTAL)
        cal = calibrate(resolved.sam)
        t["calibrated"] = _clocks()
        counted["calibrated"] = dict(evaluations.TOTAL)
        model = CGEModel(cal)
        if args.fresh_factors:
            model.solver = replace(model.solver, reuse_factors=False)
        t["model built"] = _clocks()
        counted["model built"] = dict(evaluations.TOTAL)
        # As fragcge.api.solve_loaded: one runner for the pair, so that Newton–Krylov's
        # scenario solve starts from the baseline's factors of J.
        run = model.solver.path_runner()
        base = model.solve(resolved.baseline, run=run)
        t["baseline solved"] = _clocks()
        counted["baseline solved"] = dict(evaluations.TOTAL)
        scen = model.solve(resolved.shocks, x0=base, run=run)
        t["scenario solved"] = _clocks()
        counted["scenario solved"] = dict(evaluations.TOTAL)
        del run  # its factors: the decomposition's path has its own
        if args.decomposition:
            welfare = report.welfare(model, base, scen, resolved.blocs)
            steps = decompose_welfare(model, base, scen, welfare).steps
            t[f"decomposition ({steps} steps)"] = _clocks()
        counted[f"decomposition ({steps} steps)"] = dict(evaluations.TOTAL)
        if args.pyomo:
            model.pyomo_model(scen)
            t["Pyomo model built"] = _clocks()
        counted["Pyomo model built"] = dict(evaluations.TOTAL)

    print(f"dataset        {sam.name}: {len(sam.regions)} regions x {len(sam.sectors)} sectors")
    print(
        f"model          {model.system.n} variables/equations, "
        f"{model.evaluator.nnz} Jacobian non-zeros"
    )
    keys = list(t)
    for a, b in zip(keys, keys[1:], strict=False):
        wall, cpu = t[b][0] - t[a][0], t[b][1] - t[a][1]
        line = f"  {b:<30} {wall:8.2f} s ({cpu:.2f} s CPU)"
        if a in counted and b in counted and counted[b]["calls"] > counted[a]["calls"]:
            line += f"; {evaluations.between(counted[a], counted[b], wall)}"
        print(line)
    for stage, seconds in model.timings.items():
        print(f"    of which {stage:<19} {seconds:8.2f} s")
    for label, eq in (("baseline", base), ("scenario", scen)):
        r = eq.result
        print(
            f"{label:<14} {r.iterations} iterations in {r.steps} {r.solver} run(s), "
            f"{r.seconds:.2f} s in the solver, largest residual {r.max_residual:.1e}, "
            f"Walras {eq.walras:.1e}"
            + (f", {r.factorizations} factorisation(s)" if r.solver == "newton" else "")
        )
    wall, cpu = t[keys[-1]][0] - t["start"][0], t[keys[-1]][1] - t["start"][1]
    solving = t[keys[-1]][0] - t["model built"][0]
    print(f"total          {wall:.2f} s ({cpu:.2f} s CPU)")
    print(
        f"solves         {solving:.2f} s from the model built on; "
        f"{evaluations.between(counted['model built'], counted[keys[-1]], solving)}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory    {peak:.0f} MB (max RSS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
