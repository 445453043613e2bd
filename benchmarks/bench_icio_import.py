"""Benchmark: `fragcge data import icio` on a synthetic table of the 2023 release's size.

Run on demand (not part of the test suite):

    python benchmarks/bench_icio_import.py                  # 77 economies x 45 industries
    python benchmarks/bench_icio_import.py --economies 20

The table has the release's shape: every economy's 45 industries, China and Mexico split
into CN1/CN2 and MX1/MX2 (so 79 row blocks at full size), six final-demand columns per
economy, TLS/VA/OUT rows, each column balanced. Reports the CSV's size and the wall time
of the import at full resolution and aggregated to 10 regions by a --regions map (read,
merge, quirk rules, aggregation, write, load back and validate). The random numbers are
seeded, so runs compare.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.icio import FINAL_CATEGORIES, IMPORTER
from fragcge.calibration.importers import import_dataset

INDUSTRIES = (
    "A01_02 A03 B05_06 B07_08 B09 C10T12 C13T15 C16 C17_18 C19 C20 C21 C22 C23 C24 C25 C26 "
    "C27 C28 C29 C30 C31T33 D E F G H49 H50 H51 H52 H53 I J58T60 J61 J62_63 K L M N O P Q R "
    "S T"
).split()


def synthetic_icio(path: Path, n_economies: int) -> None:
    """A balanced table of ``n_economies`` (CHN and MEX among them, split) in the layout."""
    rng = np.random.default_rng(2023)
    economies = ["CHN", "MEX"] + [f"E{k:02d}" for k in range(n_economies - 2)]
    parts = ["CN1", "CN2", "MX1", "MX2"] + economies[2:]
    labels = [f"{p}_{i}" for p in parts for i in INDUSTRIES]
    final = [f"{e}_{k}" for e in economies for k in FINAL_CATEGORIES]
    z = rng.uniform(0.0, 1.0, (len(labels), len(labels)))
    f = rng.uniform(5.0, 50.0, (len(labels), len(final)))
    output = z.sum(axis=1) + f.sum(axis=1)
    taxes = 0.02 * output
    frame = pd.DataFrame(np.hstack([z, f]), index=labels, columns=labels + final)
    frame.loc["TLS"] = np.concatenate([taxes, np.zeros(len(final))])
    frame.loc["VA"] = np.concatenate([output - z.sum(axis=0) - taxes, np.zeros(len(final))])
    frame.loc["OUT"] = np.concatenate([output, np.zeros(len(final))])
    frame.index.name = "V1"
    frame.to_csv(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--economies", type=int, default=77)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "2020.csv"
        synthetic_icio(source, args.economies)
        size = source.stat().st_size / 1e6
        print(f"table: {args.economies} economies x {len(INDUSTRIES)} industries, {size:.0f} MB")
        options = argparse.Namespace(elasticities=None)
        t0 = time.perf_counter()
        sam = import_dataset(IMPORTER, source, folder / "full", options, None, None)
        print(
            f"import, full resolution ({sam.shape[0]} x {sam.shape[1]}): "
            f"{time.perf_counter() - t0:.1f} s"
        )
        regions = folder / "regions.csv"
        codes = list(sam.regions)
        groups = [f"G{k % 10}" for k in range(len(codes))]
        pd.DataFrame({"code": codes, "group": groups}).to_csv(regions, index=False)
        t0 = time.perf_counter()
        sam = import_dataset(IMPORTER, source, folder / "agg", options, regions, None)
        print(
            f"import, aggregated to {sam.shape[0]} x {sam.shape[1]}: "
            f"{time.perf_counter() - t0:.1f} s"
        )


if __name__ == "__main__":
    main()
