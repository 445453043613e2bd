"""Aggregate a multi-regional input-output table by map files: plain sums, no balancing.

A map file is a CSV with a ``code`` column (the source code) and a ``group`` column (the
aggregate it belongs to), in any order, other columns ignored; the WIOD maps' older
spelling ``region,wiod_country`` / ``sector,wiod_industry`` (aggregate first) is read too.
Every code of the table must be mapped exactly once, and the map may name no code the
table lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration.mrio import MRIO
from fragcge.errors import DatasetError

REGION_COLUMNS = ("region", "wiod_country")
SECTOR_COLUMNS = ("sector", "wiod_industry")
MAP_COLUMNS = ("group", "code")
"""The map file columns of issue 9: the aggregate (group) and the source code."""


@dataclass(frozen=True)
class CodeMap:
    """The aggregate each source code belongs to; ``source`` names the map file."""

    source: str
    parent: dict[str, str]

    @property
    def aggregates(self) -> tuple[str, ...]:
        """Aggregate codes in order of first appearance in the map."""
        return tuple(dict.fromkeys(self.parent.values()))


def read_map(path: Path, columns: tuple[str, str] | None = None) -> CodeMap:
    """Read a map file with columns ``code,group``, or else ``columns`` = (aggregate, source),
    or else the WIOD maps' REGION_COLUMNS or SECTOR_COLUMNS."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise DatasetError(f"{path}: map file not found") from None
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: cannot be read as a CSV map file ({error})") from None
    known = [c for c in (MAP_COLUMNS, columns, REGION_COLUMNS, SECTOR_COLUMNS) if c]
    found = [c for c in known if set(c) <= set(frame.columns)]
    if not found:
        raise DatasetError(
            f"{path}: a map file needs the columns code,group; found {', '.join(frame.columns)}"
        )
    group, code = found[0]
    parent: dict[str, str] = {}
    for line, (agg, source) in enumerate(zip(frame[group], frame[code], strict=True), start=2):
        agg, source = agg.strip(), source.strip()
        if not agg or not source:
            raise DatasetError(f"{path}: line {line}: blank {code} or {group}")
        if source in parent:
            raise DatasetError(
                f"{path}: {code} {source} is mapped twice "
                f"(to {parent[source]} and, on line {line}, to {agg})"
            )
        parent[source] = agg
    if not parent:
        raise DatasetError(f"{path}: the map file has no rows")
    return CodeMap(source=str(path), parent=parent)


def identity_map(codes: Iterable[str]) -> CodeMap:
    """Map every code to itself: the table at its own resolution."""
    return CodeMap(source="identity map", parent={code: code for code in codes})


def membership(code_map: CodeMap, codes: tuple[str, ...], what: str) -> np.ndarray:
    """0/1 matrix [aggregate, code]; every code mapped once, the map names no other code."""
    unmapped = [code for code in codes if code not in code_map.parent]
    if unmapped:
        raise DatasetError(f"{code_map.source}: {what} {', '.join(unmapped)} not mapped")
    unknown = sorted(set(code_map.parent).difference(codes))
    if unknown:
        raise DatasetError(
            f"{code_map.source}: {what} {', '.join(unknown)} not in the table being aggregated"
        )
    aggregates = code_map.aggregates
    matrix = np.zeros((len(aggregates), len(codes)))
    for column, code in enumerate(codes):
        matrix[aggregates.index(code_map.parent[code]), column] = 1.0
    return matrix


def aggregate(mrio: MRIO, regions: CodeMap, sectors: CodeMap) -> MRIO:
    """Sum the table's flows and output over the codes mapped to each aggregate."""
    r = membership(regions, mrio.regions, "region")
    s = membership(sectors, mrio.sectors, "sector")
    # z_agg[A, I, B, J] = Σ_{a∈A, i∈I, b∈B, j∈J} z[a, i, b, j]
    return MRIO(
        regions=regions.aggregates,
        sectors=sectors.aggregates,
        categories=mrio.categories,
        z=np.einsum("Aa,Ii,aibj,Bb,Jj->AIBJ", r, s, mrio.z, r, s, optimize=True),
        f=np.einsum("Aa,Ii,aibk,Bb->AIBk", r, s, mrio.f, r, optimize=True),
        x=np.einsum("Aa,Ii,ai->AI", r, s, mrio.x),
    )
