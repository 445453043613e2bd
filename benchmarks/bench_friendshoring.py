"""Benchmark: friend-shoring on the default 10×8 data and on the full 41×35 WIOD table.

Run on demand (not part of the test suite):

    python benchmarks/bench_friendshoring.py              # default data, wiod2011_10x8
    python benchmarks/bench_friendshoring.py --full       # 41 × 35, the named wiod2011_41x35

Reports the time of each stage (dataset, calibration, model build, evaluator set-up,
baseline and scenario solves), the model's size, Ipopt's iterations and the peak memory
of the process. The full-table scenario is the shipped friendshoring.toml with its blocs
written in WIOD countries: West = USA, the EU members, GBR, CAN, AUS, TWN, JPN, KOR;
East = CHN, RUS; the rest non-aligned.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EAST = ("CHN", "RUS")
NONALIGNED = ("IND", "BRA", "MEX", "IDN", "TUR", "RoW")


def _full_scenarios(folder: Path) -> Path:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the 41 × 35 WIOD table")
    parser.add_argument(
        "--pyomo", action="store_true", help="also build the Pyomo model (a solve never needs it)"
    )
    args = parser.parse_args()

    t = {"start": time.perf_counter()}
    from fragcge.calibration.calibrate import calibrate
    from fragcge.calibration.dataset import load_dataset
    from fragcge.model.cge import CGEModel
    from fragcge.scenarios.load import load_scenario
    from fragcge.scenarios.resolve import resolve

    t["imports"] = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.full:
            path = _full_scenarios(Path(tmp))
        else:
            path = ROOT / "scenarios" / "friendshoring.toml"
        t["dataset built"] = time.perf_counter()
        scenario = load_scenario(path)
        sam = load_dataset(scenario.data)
        resolved = resolve(scenario, sam)
        t["dataset and scenario loaded"] = time.perf_counter()
        cal = calibrate(resolved.sam)
        t["calibrated"] = time.perf_counter()
        model = CGEModel(cal)
        t["model built"] = time.perf_counter()
        base = model.solve(resolved.baseline)
        t["baseline solved"] = time.perf_counter()
        scen = model.solve(resolved.shocks, x0=base)
        t["scenario solved"] = time.perf_counter()
        if args.pyomo:
            model.pyomo_model(scen)
            t["Pyomo model built"] = time.perf_counter()

    print(f"dataset        {sam.name}: {len(sam.regions)} regions x {len(sam.sectors)} sectors")
    print(
        f"model          {model.system.n} variables/equations, "
        f"{model.evaluator.nnz} Jacobian non-zeros"
    )
    keys = list(t)
    for a, b in zip(keys, keys[1:], strict=False):
        print(f"  {b:<30} {t[b] - t[a]:8.2f} s")
    for stage, seconds in model.timings.items():
        print(f"    of which {stage:<19} {seconds:8.2f} s")
    for label, eq in (("baseline", base), ("scenario", scen)):
        r = eq.result
        print(
            f"{label:<14} {r.iterations} iterations in {r.steps} Ipopt run(s), "
            f"{r.seconds:.2f} s in Ipopt, largest residual {r.max_residual:.1e}, "
            f"Walras {eq.walras:.1e}"
        )
    print(f"total          {t[keys[-1]] - t['start']:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory    {peak:.0f} MB (max RSS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
