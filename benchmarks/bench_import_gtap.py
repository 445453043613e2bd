"""Benchmark: import a GTAP-size database (141 regions x 65 commodities, GTAP 7+ layout).

Run on demand (not part of the test suite):

    python benchmarks/bench_import_gtap.py                 # 141 x 65
    python benchmarks/bench_import_gtap.py --regions 30 --commodities 20

Writes a random database that satisfies GTAP's identities (three margin commodities, two
mobile factors and land specific to the first twelve commodities, every tax) into a
temporary folder as basedata.har, sets.har and default.prm, then times reading and
checking the HAR files, and the whole import with aggregation to 10 x 8 by map files
(`fragcge data import gtap SOURCE --regions MAP --sectors MAP`: read, aggregate, write the
dataset folder, load it back through validation); `--full` also times the import at full
resolution. Reports seconds and peak memory (the process's maximum resident set size, from
getrusage).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gtap_data import gtap7_headers, write_gtap  # noqa: E402

from fragcge.calibration.gtap import IMPORTER, SOURCE_RTOL, read_gtap  # noqa: E402
from fragcge.calibration.importers import import_dataset  # noqa: E402
from fragcge.calibration.sam import GlobalSAM  # noqa: E402


def random_gtap_sam(n_r: int, n: int, seed: int = 0) -> GlobalSAM:
    """A random world economy whose identities hold exactly, built in one pass.

    Output targets are drawn first; inputs are shares of them, imports follow from the
    agents' import demand, exports from the import sources, and domestic final demand is
    what output leaves over, so every market clears and value added closes zero profit.
    """
    rng = np.random.default_rng(seed)
    n_m, n_a = 3, 3
    vom = rng.uniform(100, 200, (n, n_r))
    to0 = rng.uniform(-0.02, 0.06, (n, n_r))
    tdf0 = rng.uniform(0, 0.1, (n, n + n_a, n_r))
    tif0 = rng.uniform(0, 0.1, (n, n + n_a, n_r))
    # Intermediates at basic prices: 15% domestic and 12% imported of each sector's output.
    dom = rng.dirichlet(np.ones(n), (n_r, n)).transpose(2, 1, 0) * 0.15 * vom[None]
    imp_firms = rng.dirichlet(np.ones(n), (n_r, n)).transpose(2, 1, 0) * 0.12 * vom[None]
    imp_final = rng.uniform(2, 8, (n, n_a, n_r))
    imp_basic = np.concatenate([imp_firms, imp_final], axis=1)
    vim = imp_basic.sum(axis=1)
    source = rng.uniform(0.2, 1, (n, n_r, n_r)) * (1 - np.eye(n_r))
    source /= source.sum(axis=1, keepdims=True)
    tx0 = rng.uniform(-0.02, 0.05, (n, n_r, n_r)) * (1 - np.eye(n_r))
    tm0 = rng.uniform(0, 0.2, (n, n_r, n_r)) * (1 - np.eye(n_r))
    markup = rng.uniform(0.005, 0.02, (n_m, n, n_r, n_r)) * (1 - np.eye(n_r))
    vims = vim[:, None, :] * source
    vxmd = vims / ((1 + tm0) * (1 + markup.sum(axis=0)) * (1 + tx0))
    vtwr = markup * (vxmd * (1 + tx0))[None]
    margins = np.arange(n - n_m, n)
    # Each region supplies the margin pool in proportion to its output of the service.
    vst = vom[margins] / vom[margins].sum(axis=1, keepdims=True) * vtwr.sum(axis=(1, 2, 3))[:, None]
    left = vom - dom.sum(axis=1) - vxmd.sum(axis=2)
    left[margins] -= vst
    if not (left > 0).all():
        raise RuntimeError("no room for domestic final demand; try another seed")
    dom_final = left[:, None, :] * rng.dirichlet(np.ones(n_a), (n, n_r)).transpose(0, 2, 1)
    dom_basic = np.concatenate([dom, dom_final], axis=1)
    vdfm, vifm = dom_basic * (1 + tdf0), imp_basic * (1 + tif0)
    value_added = vom * (1 - to0) - (vdfm + vifm)[:, :n].sum(axis=0)
    uses_land = np.arange(n) < 12
    split = rng.dirichlet(np.ones(3), (n, n_r)).transpose(2, 0, 1)
    split[2, ~uses_land] = 0
    split /= split.sum(axis=0)
    vfm = split * value_added[None]
    sectors = tuple(f"c{k:02d}" for k in range(n))
    esubd = rng.uniform(1.5, 5, n)
    return GlobalSAM(
        name="bench",
        regions=tuple(f"r{k:03d}" for k in range(n_r)),
        sectors=sectors,
        factors=("lab", "cap", "lnd"),
        factor_kind={"lab": "mobile", "cap": "mobile", "lnd": "specific"},
        margins=sectors[n - n_m :],
        vfm=vfm,
        vdfm=vdfm,
        vifm=vifm,
        vxmd=vxmd,
        vtwr=vtwr,
        vst=vst,
        to0=to0,
        tf0=rng.uniform(0, 0.2, vfm.shape) * (vfm > 0),
        tdf0=tdf0,
        tif0=tif0,
        tx0=tx0,
        tm0=tm0,
        esubd=esubd,
        esubm=2 * esubd,
        esubva=rng.uniform(0.2, 1.5, n),
        esubt=np.zeros(n),
        esubc=np.zeros(n),
    )


def write_maps(folder: Path, sam: GlobalSAM, n_regions: int, n_sectors: int) -> tuple[Path, Path]:
    """Region and sector map files (code,group) into contiguous blocks of about equal size."""
    paths = []
    for what, codes, groups in (
        ("regions", sam.regions, n_regions),
        ("sectors", sam.sectors, n_sectors),
    ):
        block = -(-len(codes) // groups)
        lines = ["code,group"] + [f"{c},{what[0].upper()}{k // block}" for k, c in enumerate(codes)]
        path = folder / f"{what}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=141)
    parser.add_argument("--commodities", type=int, default=65)
    parser.add_argument("--full", action="store_true", help="also import without maps")
    parser.add_argument("--to", type=int, nargs=2, default=(10, 8), metavar=("REGIONS", "SECTORS"))
    args = parser.parse_args()
    options = argparse.Namespace(rtol=SOURCE_RTOL)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        sam = random_gtap_sam(args.regions, args.commodities)
        source = write_gtap(folder / "gtap", gtap7_headers(sam))
        written = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in source.iterdir()) / 1e6
        print(
            f"database   {args.regions} regions x {args.commodities} commodities, "
            f"{size:.1f} MB of HAR files, written in {written:.1f} s"
        )
        t0 = time.perf_counter()
        read_gtap(source)
        read = time.perf_counter() - t0
        regions, sectors = write_maps(folder, sam, *args.to)
        t0 = time.perf_counter()
        aggregated = import_dataset(IMPORTER, source, folder / "agg", options, regions, sectors)
        agg = time.perf_counter() - t0
        print(
            f"import     read + check {read:.1f} s; import + aggregation to "
            f"{len(aggregated.regions)} x {len(aggregated.sectors)} with map files "
            f"(read, aggregate, write, load and validate) {agg:.1f} s"
        )
        if args.full:
            t0 = time.perf_counter()
            import_dataset(IMPORTER, source, folder / "full", options, None, None)
            full = time.perf_counter() - t0
            print(f"import     at full resolution (read, write, load, validate) {full:.1f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory     peak resident set {peak:.0f} MB (whole process, generation included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
