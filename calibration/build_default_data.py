"""Build a dataset folder from the WIOD 2011 world table: import, aggregate, resolve, write.

    python -m fragcge.calibration.build_default_data [--wiod DIR] [--maps DIR --out DIR]

Defaults: the WIOD table shipped in ``calibration/sources/wiod2011``; without ``--maps``, every
embedded WIOD dataset is rebuilt (``calibration/datasets/wiod2011_10x8`` from the maps in
``calibration/maps/wiod2011_10x8``, ``calibration/datasets/wiod2011_41x35`` from
``calibration/maps/wiod2011``). A maps folder holds ``meta.toml`` (name, title,
region and sector names, groups, final-demand elasticities) and the map files
``regions.csv`` (``region,wiod_country``) and ``sectors.csv`` (``sector,wiod_industry``);
a missing map file maps every code to itself, which is how ``calibration/maps/wiod2011``
gives the full table. Elasticities: a maps folder's own ``elasticities.csv`` (per sector,
with a ``source`` column) if it has one, as ``wiod2011`` does; otherwise the per-industry
values of ``wiod2011/elasticities.csv`` aggregated GTAPAgg's way, weighted by the full
table's world flows (:func:`weighted_elasticities`), with the weights in the README.

The table is aggregated first (plain sums), then its quirks are resolved by the rules of
:mod:`fragcge.calibration.mrio_quirks`; every rule that fires is printed. Output is
deterministic: sorted rows, shortest round-trip floats, ``\\n`` line ends.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

import pandas as pd

from fragcge.calibration.aggregate import (
    REGION_COLUMNS,
    SECTOR_COLUMNS,
    CodeMap,
    aggregate,
    identity_map,
    read_map,
)
from fragcge.calibration.elasticity_weights import (
    ELASTICITIES,
    aggregate_elasticities,
    elasticity_weights,
    weight_table,
    weights_section,
)
from fragcge.calibration.mrio import MRIO, read_mrio
from fragcge.calibration.mrio_flows import benchmark_flows, dataset_tables, flows_sam
from fragcge.calibration.mrio_quirks import Quirk, quirk_summary, resolve_quirks
from fragcge.calibration.schema import FINAL_ELASTICITIES
from fragcge.errors import DatasetError, FragcgeError
from fragcge.output_folder import replacing

CALIBRATION = Path(__file__).resolve().parent
DEFAULT_WIOD = CALIBRATION / "sources" / "wiod2011"
MAPS = CALIBRATION / "maps"
DEFAULT_MAPS = MAPS / "wiod2011_10x8"
FULL_TABLE_MAPS = MAPS / "wiod2011"
INDUSTRY_ELASTICITIES = FULL_TABLE_MAPS / "elasticities.csv"
"""Per-WIOD-industry elasticities: the one source of every WIOD dataset's elasticities."""
DEFAULT_OUT = CALIBRATION / "datasets" / "wiod2011_10x8"
FULL_TABLE_OUT = CALIBRATION / "datasets" / "wiod2011_41x35"
EMBEDDED = ((DEFAULT_MAPS, DEFAULT_OUT), (FULL_TABLE_MAPS, FULL_TABLE_OUT))
"""Each embedded WIOD dataset with the maps folder it is built from."""

WIOD_2011 = {
    "year": 2011,
    "unit": "USD million",
    "source": (
        "World Input-Output Database (WIOD), 2013 release: world input-output table for 2011, "
        "current prices; aggregated and its quirks resolved by fragcge (see README.md)"
    ),
    "licence": "CC BY 4.0",
    "citation": (
        "Timmer, M. P., Dietzenbacher, E., Los, B., Stehrer, R. and de Vries, G. J. (2015), "
        '"An Illustrated User Guide to the World Input-Output Database: the Case of Global '
        'Automotive Production", Review of International Economics 23: 575-605'
    ),
}
README_CASES = 200
"""Up to this many quirk cases are listed one by one in the README."""
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def build_dataset(
    wiod_dir: Path,
    maps_dir: Path | None = None,
    out_dir: Path = DEFAULT_OUT,
    name: str | None = None,
) -> list[Quirk]:
    """Write the dataset folder ``out_dir`` (replacing a dataset folder fragcge wrote there);
    ``maps_dir=None`` keeps the full 41 x 35 table."""
    maps_dir = Path(maps_dir) if maps_dir is not None else FULL_TABLE_MAPS
    table = read_mrio(Path(wiod_dir))
    regions, sectors = code_maps(maps_dir, table)
    resolved, quirks = resolve_quirks(aggregate(table, regions, sectors))
    meta = read_meta(maps_dir / "meta.toml", resolved)
    own = maps_dir / "elasticities.csv"
    if own.is_file():
        elasticities, weights = read_elasticities(own, resolved.sectors), None
    else:
        elasticities, weights = weighted_elasticities(table, sectors)
    tables = dataset_tables(benchmark_flows(resolved))
    tables["elasticities"] = elasticities[["sector", *ELASTICITIES]]
    name = name or meta["name"]
    text = readme(meta, name, maps_dir, quirks, elasticities)
    if weights is not None:
        text += weights_section(weights)
    with replacing(Path(out_dir), "dataset") as tmp:
        for table_name, frame in tables.items():
            write_table(frame, tmp / f"{table_name}.csv")
        write_text(tmp / "dataset.toml", dataset_toml(meta, name))
        write_text(tmp / "README.md", text)
    return quirks


def weighted_elasticities(table: MRIO, sectors: CodeMap) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-sector elasticities of the aggregate sectors, the GTAPAgg way, and their weights.

    The per-industry values of INDUSTRY_ELASTICITIES are averaged over each aggregate's
    industries, weighted by the world flows of the full table (its quirks resolved at
    full resolution): esubd by use, esubm by imports, esubva by value added.
    """
    resolved, _ = resolve_quirks(table)
    values = read_elasticities(INDUSTRY_ELASTICITIES, resolved.sectors)
    full = flows_sam(benchmark_flows(resolved), values, "wiod2011")
    by_industry = values.set_index("sector")[list(ELASTICITIES)]
    weights = elasticity_weights(full)
    aggregated = aggregate_elasticities(by_industry, weights, sectors).reset_index()
    table = weight_table(by_industry, weights, sectors)
    members = table.groupby("group", sort=False)["code"].agg(" ".join)
    aggregated["source"] = [
        f"GTAPAgg value-weighted mean of WIOD industries {members[j]} (values: "
        "calibration/maps/wiod2011/elasticities.csv; weights: the WIOD 2011 table)"
        for j in aggregated["sector"]
    ]
    return aggregated.sort_values("sector").reset_index(drop=True), table


def code_maps(maps_dir: Path, table: MRIO) -> tuple[CodeMap, CodeMap]:
    """Region and sector maps of a maps folder; a missing file is the identity map."""
    region_file, sector_file = maps_dir / "regions.csv", maps_dir / "sectors.csv"
    regions = (
        read_map(region_file, REGION_COLUMNS)
        if region_file.is_file()
        else identity_map(table.regions)
    )
    sectors = (
        read_map(sector_file, SECTOR_COLUMNS)
        if sector_file.is_file()
        else identity_map(table.sectors)
    )
    return regions, sectors


def read_meta(path: Path, table: MRIO) -> dict:
    """Names and settings of ``meta.toml``, checked against the aggregated table's codes."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing (name, title, regions, sectors of the dataset)")
    with path.open("rb") as handle:
        meta = tomllib.load(handle)
    for key in ("name", "title", "regions", "sectors"):
        if key not in meta:
            raise DatasetError(f"{path}: missing key {key}")
    for key, codes in (("regions", table.regions), ("sectors", table.sectors)):
        missing = [c for c in codes if c not in meta[key]]
        extra = [c for c in meta[key] if c not in codes]
        if missing or extra:
            raise DatasetError(
                f"{path}: [{key}] must name each aggregate once; missing "
                f"{', '.join(missing) or 'none'}, unknown {', '.join(extra) or 'none'}"
            )
    known = set(table.regions) | set(table.sectors)
    for group, members in meta.get("groups", {}).items():
        unknown = [m for m in members if m not in known]
        if unknown:
            raise DatasetError(f"{path}: group {group} names unknown code(s) {', '.join(unknown)}")
    unknown = [k for k in meta.get("elasticities", {}) if k not in FINAL_ELASTICITIES]
    if unknown:
        raise DatasetError(f"{path}: [elasticities] {', '.join(unknown)} unknown")
    return meta


def read_elasticities(path: Path, sectors: tuple[str, ...]) -> pd.DataFrame:
    """Per-sector elasticities with their source, one row for each sector of the table."""
    frame = pd.read_csv(path, dtype={"sector": str})
    missing = [c for c in ("sector", *ELASTICITIES, "source") if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}")
    absent = [s for s in sectors if s not in set(frame["sector"])]
    extra = sorted(set(frame["sector"]).difference(sectors))
    if absent or extra or frame["sector"].duplicated().any():
        raise DatasetError(
            f"{path}: one row per sector needed; missing {', '.join(absent) or 'none'}, "
            f"unknown {', '.join(extra) or 'none'}"
        )
    values = frame[list(ELASTICITIES)].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any() or (values < 0).any().any():
        raise DatasetError(f"{path}: elasticities must be numbers >= 0")
    frame[list(ELASTICITIES)] = values.astype(float)
    return frame.sort_values("sector").reset_index(drop=True)


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """CSV with shortest round-trip floats and ``\\n`` line ends."""
    frame.to_csv(path, index=False, lineterminator="\n", float_format=lambda v: repr(float(v)))


def write_text(path: Path, text: str) -> None:
    """UTF-8 text with ``\\n`` line ends on every platform."""
    path.write_text(text, encoding="utf-8", newline="\n")


def dataset_toml(meta: dict, name: str) -> str:
    """``dataset.toml`` of DATA.md: identity, source, codes with names, groups, elasticities."""
    head = {"name": name, "title": meta["title"], **WIOD_2011}
    lines = [f"{key} = {toml_value(value)}" for key, value in head.items()]
    tables = {
        "regions": meta["regions"],
        "sectors": meta["sectors"],
        "factors": {"va": "mobile"},
        "groups": meta.get("groups", {}),
        "elasticities": {**FINAL_ELASTICITIES, **meta.get("elasticities", {})},
    }
    for table, entries in tables.items():
        lines += ["", f"[{table}]"]
        lines += [f"{toml_key(key)} = {toml_value(value)}" for key, value in entries.items()]
    return "\n".join(lines) + "\n"


def toml_key(key: str) -> str:
    """A TOML key, quoted unless bare."""
    return key if BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def toml_value(value: object) -> str:
    """A TOML string, integer, float or list of those (JSON string escapes are valid TOML)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or not isinstance(value, int | float | list):
        raise TypeError(f"no TOML form for {value!r}")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def readme(
    meta: dict, name: str, maps_dir: Path, quirks: list[Quirk], elasticities: pd.DataFrame
) -> str:
    """The dataset's README: attribution, CC BY 4.0 notice, every change made to the source."""
    maps_dir = maps_dir.resolve()
    maps = f"calibration/maps/{maps_dir.name}" if maps_dir.parent == MAPS else maps_dir.name
    n_r, n_s = len(meta["regions"]), len(meta["sectors"])
    summary = "\n".join(f"- {line}" for line in quirk_summary(quirks))
    cases = (
        "\n".join(f"- {q}" for q in quirks) or "- none"
        if len(quirks) <= README_CASES
        else f"{len(quirks)} cases, too many to list here; the build prints each one."
    )
    rows = "\n".join(
        f"| {r['sector']} | "
        + " | ".join(f"{r[e]:g}" for e in ELASTICITIES)
        + f" | {r['source']} |"
        for r in elasticities.to_dict("records")
    )
    final = {**FINAL_ELASTICITIES, **meta.get("elasticities", {})}
    final_text = ", ".join(f"{e} = {value:g}" for e, value in final.items())
    columns = " | ".join(ELASTICITIES)
    return f"""# {name}: {meta["title"]}

Generated by `python -m fragcge.calibration.build_default_data` from the maps in
`{maps}`; do not edit by hand, change the maps and rebuild.
{n_r} regions x {n_s} sectors, values in USD million of 2011, one mobile factor `va`
(value added), no taxes, no international margins. Tables follow fragcge's dataset
contract (DATA.md).

## Source, attribution and licence

Source: World Input-Output Database (WIOD), 2013 release, world input-output table for
2011 in current prices (files `intermediate`, `final_demand`, `gross_output`). Cite:

{WIOD_2011["citation"]}.

WIOD is licensed under the Creative Commons Attribution 4.0 International licence
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). This dataset is adapted from
it, is distributed under CC BY 4.0 as well, and is not endorsed by the WIOD authors. It
is provided as is, without warranty of any kind. The changes made are listed below.

## Changes made to the source

1. Aggregation: countries and industries summed by `regions.csv` and `sectors.csv`
   (plain sums, no balancing; a missing map file keeps the source codes). Aggregation
   comes first, so a quirk of a single WIOD industry can vanish inside its aggregate.
2. Zero output: an industry with zero gross output loses any remaining uses and inputs.
3. Output: the row total of uses replaces the published gross output where they differ.
4. Final demand: HH + NPISH become household, GOV government, GFCF + INV (inventory
   changes) investment. Where net investment in a (supplier, buyer region) cell is
   negative, household demand for the same supplier in the same region absorbs it, down
   to zero at most; any rest is dropped (a draw-down of inventories counted as output,
   so the supplier's output rises by it).
5. Value added: output minus intermediate inputs, one mobile factor `va`; a negative
   value added is added to investment demand of the industry's own region for its own
   output (value added becomes zero).
6. Layout: domestic purchases are those from the buyer's own region, imported purchases
   the sum over all other regions; bilateral trade is every flow (intermediate and
   final) between two different regions. Zero cells are omitted.
7. Elasticities (not part of WIOD) were added; see below.

## Quirks resolved in this build

{summary}

Every case:

{cases}

## Elasticities

Final demand: {final_text}.

| sector | {columns} | source |
|---|{"---|" * len(ELASTICITIES)}---|
{rows}
"""


def main(argv: list[str] | None = None) -> int:
    """Command line: build the dataset(s) and print every quirk rule that fired."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wiod", type=Path, default=DEFAULT_WIOD, help="WIOD table folder")
    parser.add_argument("--maps", type=Path, help="maps folder (default: every embedded dataset)")
    parser.add_argument("--out", type=Path, help="dataset folder to write (with --maps)")
    args = parser.parse_args(argv)
    if (args.maps is None) != (args.out is None):
        parser.error("--maps and --out go together; give both or neither")
    if not args.wiod.is_dir():
        parser.error(f"WIOD table folder {args.wiod} not found; pass --wiod DIR")
    builds = EMBEDDED if args.maps is None else ((args.maps, args.out),)
    for maps_dir, out_dir in builds:
        try:
            quirks = build_dataset(args.wiod, maps_dir, out_dir)
        except FragcgeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"wrote {out_dir}")
        print("quirks resolved (rules in fragcge.calibration.mrio_quirks):")
        for line in quirk_summary(quirks):
            print(f"  {line}")
        for quirk in quirks:
            print(f"    {quirk}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
