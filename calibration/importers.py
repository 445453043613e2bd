"""Importing a dataset from another format: the registry of importers and the pipeline.

``fragcge data import KIND SOURCE --out DIR [--regions MAP] [--sectors MAP]`` runs
:func:`import_dataset`: the kind's importer reads SOURCE into a GlobalSAM at the source's
resolution, :func:`fragcge.calibration.aggregate_sam.aggregate_sam` aggregates it by the
maps, and the dataset folder is written beside DIR under a temporary name, loaded back
through :func:`fragcge.calibration.dataset.load_dataset` (which validates it) and only then
renamed to DIR (:func:`fragcge.output_folder.replacing`). A failure at any step leaves
nothing behind.

Each importer lives in its own module, which defines ``IMPORTER = Importer(...)``;
``IMPORTERS`` lists them by kind. It is built on first use (PEP 562), because those
modules import :class:`Importer` and :class:`Imported` from here.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from fragcge.calibration import accounts
from fragcge.calibration.aggregate import CodeMap, read_map
from fragcge.calibration.aggregate_sam import aggregate_sam, dropped_groups
from fragcge.calibration.dataset import load_dataset, write_dataset_files
from fragcge.calibration.elasticity_weights import weights_section
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.validate import validate
from fragcge.output_folder import check_target, replacing

README = "README.md"


@dataclass(frozen=True)
class Imported:
    """What an importer hands to the pipeline: the dataset at SOURCE resolution."""

    sam: GlobalSAM
    """Flows, tax rates, per-source-sector elasticities, region and sector names."""
    notes: tuple[str, ...] = ()
    """Lines for the written README: substitutes used, what was merged, dropped or
    re-classified, and why (e.g. "CDE private demand → Cobb-Douglas")."""


@dataclass(frozen=True)
class Importer:
    """One kind of source: its name, its --help line, its options and its reader."""

    kind: str
    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    read: Callable[[Path, argparse.Namespace], Imported]
    """SOURCE → Imported; raises DatasetError naming the file and what is wrong."""


IMPORTER_MODULES = ("wiod_source", "gtap", "icio", "pymrio_source", "gravity", "sam_accounts")
"""Modules of ``fragcge.calibration`` that define an IMPORTER, in --help order."""


def __getattr__(name: str) -> dict[str, Importer]:
    """``IMPORTERS``: every importer by kind, imported from IMPORTER_MODULES on first use."""
    if name != "IMPORTERS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    modules = [importlib.import_module(f"fragcge.calibration.{m}") for m in IMPORTER_MODULES]
    registry = {module.IMPORTER.kind: module.IMPORTER for module in modules}
    globals()["IMPORTERS"] = registry
    return registry


def import_dataset(
    importer: Importer,
    source: Path,
    out: Path,
    options: argparse.Namespace,
    regions: Path | None,
    sectors: Path | None,
) -> GlobalSAM:
    """Read SOURCE, aggregate it by the map files, write the dataset folder OUT, return it.

    OUT may be absent, empty or a dataset folder fragcge wrote (which is replaced whole);
    anything else is refused before the source is read. The folder is complete and valid
    when it appears (:func:`fragcge.output_folder.replacing`).
    """
    out = Path(out)
    check_target(out, "dataset")
    region_map = read_map(regions) if regions is not None else None
    sector_map = read_map(sectors) if sectors is not None else None
    imported = importer.read(Path(source), options)
    sam, weights = aggregate_sam(imported.sam, region_map, sector_map)
    sam = replace(sam, name=out.name)
    validate(sam)  # before anything is written; errors name the arrays' cells and codes
    notes = list(imported.notes)
    notes += [
        f"group {g} dropped: its members split an aggregate of the maps"
        for g in dropped_groups(imported.sam, sam)
    ]
    text = readme(importer, Path(source), imported.sam, sam, notes, region_map, sector_map)
    with replacing(out, "dataset") as tmp:
        write_dataset_files(sam, tmp)
        (tmp / README).write_text(text + weights_section(weights), encoding="utf-8")
        loaded = load_dataset(tmp)
    return replace(loaded, path=out.resolve())


def readme(
    importer: Importer,
    source: Path,
    original: GlobalSAM,
    sam: GlobalSAM,
    notes: list[str],
    regions: CodeMap | None,
    sectors: CodeMap | None,
) -> str:
    """The imported dataset's README: source, notes, maps, totals (weights appended)."""
    unit = sam.meta.get("unit", "the source's unit")
    lines = [
        f"# {sam.name}",
        "",
        f"Written by `fragcge data import {importer.kind} {source.name}`; do not edit by hand,",
        "change the source or the maps and import again.",
        f"{len(sam.regions)} regions x {len(sam.sectors)} sectors, from "
        f"{len(original.regions)} x {len(original.sectors)} in the source; values in {unit}.",
        "",
        "## Source",
        "",
        f"- kind: `{importer.kind}`, {importer.summary}",
        f"- file: {source.name}",
    ]
    described = ("source", "licence", "citation")
    lines += [f"- {key}: {sam.meta[key]}" for key in described if key in sam.meta]
    lines += ["", "## Notes", ""]
    lines += [f"- {note}" for note in notes] or ["- none"]
    lines += ["", "## Aggregation maps", ""]
    for what, code_map in (("regions", regions), ("sectors", sectors)):
        if code_map is None:
            lines.append(f"- {what}: kept as in the source (no map)")
            continue
        lines.append(f"- {what}: {Path(code_map.source).name}")
        for group in code_map.aggregates:
            members = [c for c, g in code_map.parent.items() if g == group]
            lines.append(f"  - {group}: {' '.join(members)}")
    lines += ["", "## Totals", "", "| account | source | dataset |", "|---|---|---|"]
    after = totals(sam)
    for account, value in totals(original).items():
        lines.append(f"| {account} | {value:.6g} | {after[account]:.6g} |")
    return "\n".join(lines) + "\n"


def totals(sam: GlobalSAM) -> dict[str, float]:
    """World totals that aggregation keeps (trade falls by what becomes domestic)."""
    return {
        "gross output Σ vom": float(accounts.vom(sam).sum()),
        "value added Σ vfm": float(sam.vfm.sum()),
        "final demand": float(accounts.final_demand(sam).sum()),
        "international trade Σ vxmd": float(sam.vxmd.sum()),
        "tax revenue": float(accounts.tax_revenue(sam).sum()),
    }
