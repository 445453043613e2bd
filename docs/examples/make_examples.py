"""Write the sources of docs/data.md's worked examples that are generated, not typed in.

- ``icio/2020.csv``: a 3-economy, 3-industry table in the OECD ICIO 2023 layout, China and
  Mexico split by processing trade (``icio_frame`` of ``tests/test_import_icio.py``,
  rounded to 3 decimals as a published table is);
- ``gtap3/``: a 3 regions x 3 commodities GTAP 7 database (``basedata.har``, ``sets.har``,
  ``default.prm``) written by ``tests/gtap_data.py`` from ``synthetic_sam(3, 3, seed=3)``;
- ``bad/``: the same database with a two-product activity (``MAKB[S1, S2, R1] = 2.5``),
  which the import refuses.

Run from anywhere: ``python docs/examples/make_examples.py`` (the HAR files need harpy3:
``pip install 'fragcge[gtap]'``). The same inputs give byte-identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "tests"))  # the test helpers that make them

from gtap_data import gtap7_headers, write_gtap  # noqa: E402
from test_import_icio import icio_frame  # noqa: E402

from fragcge.calibration.synthetic import synthetic_sam  # noqa: E402

MULTI_PRODUCT = 2.5
"""What activity S2 of R1 makes of commodity S1 in ``bad/``."""


def write_examples(folder: Path) -> list[Path]:
    """Write ``icio/2020.csv``, ``gtap3/`` and ``bad/`` under ``folder``; the files written."""
    (folder / "icio").mkdir(parents=True, exist_ok=True)
    icio_frame().round(3).to_csv(folder / "icio" / "2020.csv")
    sam = synthetic_sam(3, 3, seed=3)
    write_gtap(folder / "gtap3", gtap7_headers(sam))
    data, sets, parameters = gtap7_headers(sam)
    data["MAKB"]["array"][0, 1, 0] = MULTI_PRODUCT  # MAKB is COMM x ACTS x REG
    write_gtap(folder / "bad", (data, sets, parameters))
    return sorted(p for name in ("icio", "gtap3", "bad") for p in (folder / name).iterdir())


if __name__ == "__main__":
    for path in write_examples(HERE):
        print(f"{path.relative_to(HERE)}  {path.stat().st_size} bytes")
