"""Benchmark: import and aggregation time.

Run on demand (not part of the test suite):

    python benchmarks/bench_import.py [--wiod DIR] [--repeat N]

Two cases, each timed by stage (best of N):

- the full WIOD 2011 table (41 x 35) through the MRIO pipeline, `fragcge data import
  wiod`: read and resolve its quirks, aggregate (identity maps, and the 10 x 8 maps),
  write the folder and validate it by reading it back;
- ``aggregate_sam`` on a synthetic GTAP-size SAM, 141 regions x 65 sectors with every
  tax, margins and a specific factor, to 10 x 8. ``synthetic_sam`` cannot draw a world
  that size in reasonable time (it builds a dense Jacobian of every market), so the SAM
  is 47 copies of a synthetic 3 x 65 world side by side: an exact benchmark of the full
  size (dense arrays, as a GTAP database's), with no trade between the copies.

Prints the peak memory of the process too.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from fragcge.calibration.aggregate import CodeMap, read_map
from fragcge.calibration.aggregate_sam import aggregate_sam
from fragcge.calibration.build_default_data import DEFAULT_MAPS, DEFAULT_WIOD
from fragcge.calibration.importers import IMPORTERS, import_dataset
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.calibration.validate import validate
from fragcge.calibration.wiod_source import WIOD_ELASTICITIES

RESOLUTION_FIELDS = ("vfm", "vdfm", "vifm", "vst", "to0", "tf0", "tdf0", "tif0")
"""GlobalSAM arrays whose last axis is the region."""
ROUTE_FIELDS = ("vxmd", "vtwr", "tx0", "tm0")
"""GlobalSAM arrays whose last two axes are exporter and importer."""


def best(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    """The shortest of ``repeat`` timings of ``work()``, and its last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - t0)
    return min(times), result


def wiod_case(wiod: Path, repeat: int) -> None:
    importer = IMPORTERS["wiod"]
    options = argparse.Namespace(elasticities=WIOD_ELASTICITIES)
    seconds, imported = best(repeat, lambda: importer.read(wiod, options))
    print(f"wiod 41x35  read + quirks + GlobalSAM      {seconds:7.2f} s")
    sam = imported.sam
    regions = read_map(DEFAULT_MAPS / "regions.csv")
    sectors = read_map(DEFAULT_MAPS / "sectors.csv")
    seconds, _ = best(repeat, lambda: aggregate_sam(sam, None, None))
    print(f"wiod 41x35  aggregate_sam, identity maps  {seconds:7.2f} s")
    seconds, _ = best(repeat, lambda: aggregate_sam(sam, regions, sectors))
    print(f"wiod 41x35  aggregate_sam to 10x8         {seconds:7.2f} s")
    for label, maps in (("41x35", (None, None)), ("10x8 ", DEFAULT_MAPS)):
        with tempfile.TemporaryDirectory() as tmp:
            counter = iter(range(repeat))

            def run(maps=maps, tmp=tmp, counter=counter) -> object:
                out = Path(tmp) / f"run{next(counter)}"
                files = (
                    (None, None)
                    if maps == (None, None)
                    else (
                        maps / "regions.csv",
                        maps / "sectors.csv",
                    )
                )
                return import_dataset(importer, wiod, out, options, *files)

            seconds, _ = best(repeat, run)
        print(f"wiod {label}  whole import (read..validate)  {seconds:7.2f} s")


def side_by_side(world: GlobalSAM, copies: int) -> GlobalSAM:
    """``copies`` of ``world`` with their own region codes and no trade between them."""
    n = len(world.regions)
    blocks = np.eye(copies)

    def regions_last(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a] * copies, axis=-1)

    def routes(a: np.ndarray) -> np.ndarray:
        # a[..., r, s] -> out[..., (c, r), (d, s)] = a[..., r, s] where c == d
        out = np.einsum("...rs,cd->...crds", a, blocks)
        return out.reshape(*a.shape[:-2], copies * n, copies * n)

    fields = {f: regions_last(getattr(world, f)) for f in RESOLUTION_FIELDS}
    fields |= {f: routes(getattr(world, f)) for f in ROUTE_FIELDS}
    return replace(
        world,
        regions=tuple(f"{r}_{c}" for c in range(copies) for r in world.regions),
        region_names={},
        **fields,
    )


def synthetic_case(repeat: int) -> None:
    t0 = time.perf_counter()
    sam = side_by_side(synthetic_sam(3, 65, seed=1), 47)
    validate(sam)
    print(f"synthetic   141x65 SAM made and validated  {time.perf_counter() - t0:7.2f} s")
    regions = CodeMap("regions", {r: f"G{k % 10}" for k, r in enumerate(sam.regions)})
    sectors = CodeMap("sectors", {j: f"S{k % 8}" for k, j in enumerate(sam.sectors)})
    seconds, (aggregated, _) = best(repeat, lambda: aggregate_sam(sam, regions, sectors))
    print(f"synthetic   aggregate_sam 141x65 -> 10x8   {seconds:7.2f} s")
    t0 = time.perf_counter()
    validate(aggregated)
    print(f"synthetic   validate the 10x8 result       {time.perf_counter() - t0:7.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wiod", type=Path, default=DEFAULT_WIOD, help="WIOD table folder")
    parser.add_argument("--repeat", type=int, default=3, help="timings per stage (best kept)")
    args = parser.parse_args(argv)
    if not args.wiod.is_dir():
        parser.error(f"WIOD table folder {args.wiod} not found; pass --wiod DIR")
    wiod_case(args.wiod, args.repeat)
    synthetic_case(args.repeat)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
