"""The ``wiod`` importer: a table in the WIOD 2013-release layout read by
:mod:`fragcge.calibration.mrio` (``intermediate``, ``final_demand``, ``gross_output``).

The table's quirks are resolved at its own resolution (rules of
:mod:`fragcge.calibration.mrio_quirks`, each listed in the README's notes), before the
import pipeline aggregates it. Per-industry elasticities come from ``--elasticities``
(default: the WIOD 2011 industries' GTAP values shipped in ``calibration/maps/wiod2011``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fragcge.calibration.build_default_data import FULL_TABLE_MAPS, read_elasticities
from fragcge.calibration.importers import Imported, Importer
from fragcge.calibration.mrio import read_mrio, table_path
from fragcge.calibration.mrio_flows import benchmark_flows, flows_sam
from fragcge.calibration.mrio_quirks import quirk_summary, resolve_quirks

WIOD_ELASTICITIES = FULL_TABLE_MAPS / "elasticities.csv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--elasticities CSV``: per-industry values (sector, esubd, ..., source)."""
    parser.add_argument(
        "--elasticities",
        type=Path,
        default=WIOD_ELASTICITIES,
        help="per-industry elasticities CSV (default: GTAP values for the WIOD 2011 industries)",
    )


def read_wiod(source: Path, options: argparse.Namespace) -> Imported:
    """The WIOD-layout table in folder ``source`` as a GlobalSAM, quirks resolved."""
    resolved, quirks = resolve_quirks(
        read_mrio(source), str(table_path(Path(source), "intermediate"))
    )
    elasticities = read_elasticities(options.elasticities, resolved.sectors)
    sam = flows_sam(
        benchmark_flows(resolved),
        elasticities,
        source.name,
        meta={
            "title": f"{source.name}, imported from the WIOD layout",
            "source": f"table folder {source.name} in the WIOD 2013-release layout",
        },
    )
    notes = [f"quirk resolved: {line}" for line in quirk_summary(quirks)]
    notes.append(f"per-industry elasticities from {Path(options.elasticities).name}")
    return Imported(sam=sam, notes=tuple(notes))


IMPORTER = Importer(
    kind="wiod",
    summary="a world input-output table in the WIOD 2013-release layout (CSV folder)",
    add_arguments=add_arguments,
    read=read_wiod,
)
