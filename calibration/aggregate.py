"""Aggregate a multi-regional input-output table by map files: plain sums, no balancing.

A map file is a CSV with two columns, the aggregate code and the source code, e.g.
``region,wiod_country`` or ``sector,wiod_industry``. Every code of the table must be
mapped exactly once, and the map may name no code the table lacks.
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


@dataclass(frozen=True)
class CodeMap:
    """The aggregate each source code belongs to; ``source`` names the map file."""

    source: str
    parent: dict[str, str]

    @property
    def aggregates(self) -> tuple[str, ...]:
        """Aggregate codes in order of first appearance in the map."""
        return tuple(dict.fromkeys(self.parent.values()))


def read_map(path: Path, columns: tuple[str, str]) -> CodeMap:
    """Read a map file whose ``columns`` are (aggregate code, source code)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
    parent: dict[str, str] = {}
    for line, (agg, code) in enumerate(
        zip(frame[columns[0]], frame[columns[1]], strict=True), start=2
    ):
        agg, code = agg.strip(), code.strip()
        if not agg or not code:
            raise DatasetError(f"{path}: line {line}: blank {columns[0]} or {columns[1]}")
        if code in parent:
            raise DatasetError(
                f"{path}: {columns[1]} {code} is mapped twice (to {parent[code]} and {agg})"
            )
        parent[code] = agg
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
