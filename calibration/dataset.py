"""Dataset folders of DATA.md: finding one, reading it into a validated GlobalSAM, writing one.

Reading checks the files as it goes (columns, codes, numbers, signs, duplicate keys) and
reports every failure of every file at once; only a dataset that passes is assembled and
handed to :func:`fragcge.calibration.validate.validate` for MODEL.md's identities.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration import factor_supply
from fragcge.calibration.elasticity_registry import REGISTRY, SECTOR_ELASTICITIES
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.schema import (
    ELASTICITY,
    FINAL_AGENT_NAMES,
    FINAL_ELASTICITIES,
    META_KEYS,
    REPORTS,
    SOURCES,
    TABLES,
    TOML,
    TOML_KEYS,
)
from fragcge.calibration.tables import (
    EXTENSIONS,
    folder_files,
    read_table,
    table_file,
    write_table,
)
from fragcge.calibration.validate import Problems, check_sets, validate
from fragcge.errors import DatasetError
from fragcge.output_folder import replacing
from fragcge.textfile import read_utf8

DATASETS = Path(__file__).parent / "datasets"
"""The embedded datasets, one folder each."""

DENSE_ARRAYS = 500
"""Arrays of route (sectors × regions²) plus purchase (sectors × agents × regions) size that
a solve and its decomposition hold at their peak: measured with tracemalloc on synthetic
data of 20 and 40 regions × 8 sectors (470 and 500; native memory of CasADi and MUMPS
comes on top)."""
MAX_DENSE_GIB = 16.0
"""The most memory a dataset's dimensions may ask for; checked when dataset.toml is read."""


def builtin_datasets() -> tuple[str, ...]:
    """Names of the datasets shipped in ``calibration/datasets``."""
    if not DATASETS.is_dir():
        return ()
    return tuple(sorted(p.name for p in DATASETS.iterdir() if (p / TOML).is_file()))


def dataset_origin(sam: GlobalSAM) -> str:
    """Where a loaded dataset came from, for the user: ``built-in`` or its folder."""
    if sam.path is None:
        return "built in memory"
    return "built-in" if sam.path.parent == DATASETS.resolve() else f"folder {sam.path}"


def load_dataset(name_or_path: str | Path) -> GlobalSAM:
    """The validated benchmark in a built-in dataset (by name) or a dataset folder (by path).

    A built-in name (a str) wins over a folder of the same name in the working directory;
    pass a Path, or write ``./name``, for the folder (a scenario file refuses the ambiguity,
    ``scenarios/load.py``). Raises DatasetError naming every failure found.
    """
    sam = read_dataset(name_or_path)
    validate(sam)
    return sam


def read_dataset(name_or_path: str | Path) -> GlobalSAM:
    """A dataset checked like :func:`load_dataset` except for MODEL.md's identities.

    Files, columns, codes, numbers and signs are checked; the identities are not, so that
    a dataset that breaks them can be read in order to be balanced (``fragcge data balance``).
    """
    folder = _resolve(name_or_path)
    problems = Problems(str(folder))
    header = _read_header(folder, problems)
    if header is None:
        problems.raise_if_any()
    codes = header.codes()
    paths = {}
    frames: dict[str, pd.DataFrame | None] = {}
    for table in TABLES.values():
        path = table_file(folder, table, problems)
        if path is not None:
            paths[table.name] = path
            frames[table.name] = read_table(path, table, codes, problems)
    for path in folder_files(folder):
        if path.suffix in EXTENSIONS and path.stem not in TABLES and path.name not in REPORTS:
            problems.add(
                f"{path.name}: not a table of the dataset contract (a misspelt name?); "
                f"tables: {', '.join(TABLES)}"
            )
    elasticities = frames.get("elasticities")
    if elasticities is not None:
        missing = [j for j in header.sectors if j not in set(elasticities["sector"])]
        if missing:
            problems.add(f"{paths['elasticities'].name}: no row for sector(s) {', '.join(missing)}")
    problems.raise_if_any("; identities not checked until these are fixed")
    sam = _assemble(header, frames, folder.resolve(), _digest([folder / TOML, *paths.values()]))
    validate(sam, identities=False)
    return sam


def dataset_signature(name_or_path: str | Path) -> tuple:
    """The dataset's folder with each file's name, size and modification time: while it is
    unchanged, a loaded dataset may be reused (a batch's runs load one dataset many times)."""
    folder = _resolve(name_or_path).resolve()
    return (str(folder), tuple(_file_signature(p) for p in folder_files(folder)))


def _file_signature(path: Path) -> tuple[str, int, int]:
    """A file's name, size and modification time; -1 for a file that cannot be stat'ed (a
    dangling symbolic link: :func:`load_dataset` is where it is reported)."""
    try:
        stat = path.stat()
    except OSError:
        return (path.name, -1, -1)
    return (path.name, stat.st_size, stat.st_mtime_ns)


def write_dataset(sam: GlobalSAM, folder: Path) -> None:
    """Write ``sam`` as a dataset folder, replacing at once a dataset folder fragcge wrote
    there (OutputError, before anything is written, for anything else).

    Deterministic: rows in the dataset's code order, cells that are zero left out, floats
    written so that they read back exactly. Not validated here: :func:`load_dataset` is
    where a dataset is judged.
    """
    with replacing(Path(folder), "dataset") as tmp:
        write_dataset_files(sam, tmp)


def write_dataset_files(sam: GlobalSAM, folder: Path) -> None:
    """Write ``sam``'s dataset.toml and tables into ``folder``, a new folder of the caller's
    (the temporary folder of :func:`fragcge.output_folder.replacing`)."""
    (folder / TOML).write_text(_toml(sam), encoding="utf-8")
    for name, rows in _table_rows(sam).items():
        if rows or TABLES[name].required:
            write_table(folder, TABLES[name], rows)


@dataclass(frozen=True)
class _Header:
    """What dataset.toml declares."""

    name: str
    regions: dict[str, str]
    sectors: dict[str, str]
    factor_kind: dict[str, str]
    groups: dict[str, tuple[str, ...]]
    final_elasticities: dict[str, float]
    meta: dict[str, object]
    eta: np.ndarray
    """[factor_supply]: factor supply elasticities [f, r]."""

    def codes(self) -> dict[str, tuple[str, ...]]:
        """Allowed codes of each kind of key column."""
        sectors = tuple(self.sectors)
        return {
            "region": tuple(self.regions),
            "sector": sectors,
            "factor": tuple(self.factor_kind),
            "source": SOURCES,
            "final agent": FINAL_AGENT_NAMES,
            "agent": sectors + FINAL_AGENT_NAMES,
        }


def _resolve(name_or_path: str | Path) -> Path:
    builtin = builtin_datasets()
    if isinstance(name_or_path, str) and name_or_path in builtin:
        return DATASETS / name_or_path
    folder = Path(name_or_path)
    if not folder.is_dir():
        raise DatasetError(
            f"no dataset {str(name_or_path)!r}: not a folder, nor a built-in dataset "
            f"(built-in: {', '.join(builtin) or 'none'})"
        )
    return folder


def _read_header(folder: Path, problems: Problems) -> _Header | None:
    """dataset.toml's content, or None if its codes are unusable (reasons recorded)."""
    path = folder / TOML
    if path.is_symlink() and not path.exists():
        problems.add(f"{TOML}: a symbolic link to {os.readlink(path)}, which does not exist")
        return None
    if not path.is_file():
        problems.add(f"{TOML}: missing from {folder}; every dataset folder needs one (DATA.md)")
        return None
    try:
        doc = tomllib.loads(read_utf8(path)[1])
    except (OSError, ValueError) as error:
        problems.add(f"{TOML}: cannot be read as TOML ({error})")
        return None
    unknown = [k for k in doc if k not in TOML_KEYS]
    if unknown:
        problems.add(
            f"{TOML}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(TOML_KEYS)}"
        )
    regions, sectors, factors = (
        _code_table(doc, k, problems) for k in ("regions", "sectors", "factors")
    )
    if regions is None or sectors is None or factors is None:
        return None
    if not _fits(len(regions), len(sectors), problems):
        return None
    check_sets(tuple(regions), tuple(sectors), tuple(factors), factors, problems)
    name = doc.get("name", folder.name)
    if not isinstance(name, str):
        problems.add(f"{TOML}: name = {name!r} must be a string")
    return _Header(
        name=str(name),
        regions=regions,
        sectors=sectors,
        factor_kind=factors,
        groups=_groups(doc.get("groups", {}), regions, sectors, problems),
        final_elasticities=_final_elasticities(doc.get("elasticities", {}), problems),
        meta=_meta(doc, problems),
        eta=_factor_supply(doc.get(factor_supply.TABLE, {}), regions, factors, problems),
    )


def _factor_supply(
    doc: object, regions: dict[str, str], factors: dict[str, str], problems: Problems
) -> np.ndarray:
    """[factor_supply]: eta[f, r], 0 (a fixed supply) where the table says nothing."""
    settings, found = factor_supply.parse(doc)
    codes = tuple(factors), tuple(regions)
    eta, unknown = factor_supply.apply(np.zeros(tuple(map(len, codes))), settings, *codes)
    for message in found + unknown:
        problems.add(f"{TOML}: {message}")
    return eta


def _dense_gib(n_regions: int, n_sectors: int) -> float:
    """GiB a solve with its decomposition holds for this many regions and sectors, about."""
    cells = n_sectors * n_regions**2 + n_sectors * (n_sectors + 3) * n_regions
    return DENSE_ARRAYS * 8 * cells / 2**30


def _fits(n_regions: int, n_sectors: int, problems: Problems) -> bool:
    """Whether a solve for this many regions and sectors fits under MAX_DENSE_GIB; if not,
    say why before anything that size is allocated."""
    gib = _dense_gib(n_regions, n_sectors)
    if gib <= MAX_DENSE_GIB:
        return True
    problems.add(
        f"{TOML}: {n_regions:,} regions × {n_sectors:,} sectors needs ~{gib:,.0f} GiB for the "
        f"arrays a solve holds (about {DENSE_ARRAYS} arrays of sectors × regions² routes plus "
        f"sectors × agents × regions purchases, 8 bytes a cell); limit {MAX_DENSE_GIB:g} GiB "
        f"(GTAP's 141 regions × 65 sectors needs ~{_dense_gib(141, 65):.0f})"
    )
    return False


def _code_table(doc: dict, key: str, problems: Problems) -> dict[str, str] | None:
    """A [regions], [sectors] or [factors] table: code = "text"."""
    table = doc.get(key)
    if not isinstance(table, dict) or not table:
        problems.add(f'{TOML}: needs a non-empty [{key}] table of code = "..." lines')
        return None
    bad = [k for k, v in table.items() if not isinstance(v, str)]
    if bad:
        problems.add(f"{TOML}: [{key}] value(s) of {', '.join(bad)} must be strings")
        return None
    return dict(table)


def _groups(
    doc: object, regions: dict[str, str], sectors: dict[str, str], problems: Problems
) -> dict[str, tuple[str, ...]]:
    """[groups]: each a list of region codes or of sector codes, named apart from both."""
    if not isinstance(doc, dict):
        problems.add(f"{TOML}: [groups] must be a table of name = [codes]")
        return {}
    groups = {}
    for name, members in doc.items():
        if not (isinstance(members, list) and all(isinstance(m, str) for m in members)):
            problems.add(f"{TOML}: [groups] {name} must be a list of code strings")
            continue
        if name in regions or name in sectors:
            problems.add(f"{TOML}: [groups] {name} is also a region or sector code")
        of_regions = all(m in regions for m in members)
        if not (of_regions or all(m in sectors for m in members)):
            kind, allowed = (
                ("region", regions) if members and members[0] in regions else ("sector", sectors)
            )
            bad = [m for m in members if m not in allowed]
            problems.add(
                f"{TOML}: [groups] {name} mixes unknown or other codes {', '.join(bad)} into "
                f"a group of {kind}s; allowed: {', '.join(allowed)}"
            )
        repeated = sorted({m for m in members if members.count(m) > 1})
        if repeated:
            problems.add(f"{TOML}: [groups] {name} lists {', '.join(repeated)} more than once")
        groups[name] = tuple(members)
    return groups


def _final_elasticities(doc: object, problems: Problems) -> dict[str, float]:
    """esubp, esubg, esubi from [elasticities], with MODEL.md's defaults."""
    if not isinstance(doc, dict):
        problems.add(f"{TOML}: [elasticities] must be a table of esubp, esubg, esubi")
        return dict(FINAL_ELASTICITIES)
    values = dict(FINAL_ELASTICITIES)
    for key, value in doc.items():
        if key not in FINAL_ELASTICITIES:
            problems.add(
                f"{TOML}: [elasticities] {key} is unknown; allowed: "
                f"{', '.join(FINAL_ELASTICITIES)} (per-sector elasticities go in elasticities.csv)"
            )
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.add(f"{TOML}: [elasticities] {key} = {value!r} must be a number")
        elif not (math.isfinite(value) and value >= 0):
            problems.add(f"{TOML}: [elasticities] {key} = {value!r}: {ELASTICITY.text}")
        else:
            values[key] = float(value)
    return values


def _meta(doc: dict, problems: Problems) -> dict[str, object]:
    """title, year, unit, source, licence and citation, as far as given."""
    meta = {k: doc[k] for k in META_KEYS if k in doc}
    for key, value in meta.items():
        wanted = int if key == "year" else str
        if isinstance(value, bool) or not isinstance(value, wanted):
            problems.add(
                f"{TOML}: {key} = {value!r} must be {'an integer' if key == 'year' else 'a string'}"
            )
    return meta


def _digest(files: list[Path]) -> str:
    """sha256 over the dataset's files, sorted by name: each name, its length, its bytes."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _assemble(
    header: _Header, frames: dict[str, pd.DataFrame | None], folder: Path, digest: str
) -> GlobalSAM:
    """Dense arrays in GTAP axis order from the checked tables."""
    regions, sectors = tuple(header.regions), tuple(header.sectors)
    factors = tuple(header.factor_kind)
    used_as_margin = set()
    for table in ("margins", "margin_supply"):
        if frames.get(table) is not None:
            used_as_margin |= set(frames[table]["margin"])
    margins = tuple(j for j in sectors if j in used_as_margin)
    # The buying sector is an agent; sectors come first on the agent axis g.
    frames = {**frames, "intermediate": frames["intermediate"].rename(columns={"sector": "agent"})}
    region, sector = _positions(regions), _positions(sectors)
    at = {
        "region": region,
        "exporter": region,
        "importer": region,
        "sector": sector,
        "commodity": sector,
        "factor": _positions(factors),
        "margin": _positions(margins),
        "agent": _positions(sectors + FINAL_AGENT_NAMES),
    }

    def dense(
        table: str, axes: tuple[str, ...], column: str, source: str | None = None
    ) -> np.ndarray:
        """The table's ``column`` spread over ``axes``; cells absent from the table are zero."""
        out = np.zeros(tuple(len(at[a]) for a in axes))
        frame = frames.get(table)
        if frame is None:
            return out
        if source is not None:
            frame = frame[frame["source"] == source]
        index = tuple(frame[a].map(at[a]).to_numpy(dtype=int) for a in axes)
        out[index] = frame[column].to_numpy(dtype=float)
        return out

    purchase = ("commodity", "agent", "region")
    bought = {
        source: dense("intermediate", purchase, "value", source)
        + dense("final_demand", purchase, "value", source)
        for source in SOURCES
    }
    route = ("commodity", "exporter", "importer")
    esub = frames["elasticities"]
    per_sector: dict[str, np.ndarray] = {}
    for e in REGISTRY:
        if not e.per_sector:
            continue
        given = e.name in esub or e.default is None
        per_sector[e.name] = (
            dense("elasticities", ("sector",), e.name)
            if given
            else e.default_values(per_sector, len(sectors))
        )
    return GlobalSAM(
        name=header.name,
        regions=regions,
        sectors=sectors,
        factors=factors,
        factor_kind=dict(header.factor_kind),
        margins=margins,
        vfm=dense("factor_payments", ("factor", "sector", "region"), "value"),
        vdfm=bought["domestic"],
        vifm=bought["imported"],
        vxmd=dense("trade", route, "value"),
        vtwr=dense("margins", ("margin", *route), "value"),
        vst=dense("margin_supply", ("margin", "region"), "value"),
        to0=dense("output_taxes", ("sector", "region"), "rate"),
        tf0=dense("factor_taxes", ("factor", "sector", "region"), "rate"),
        tdf0=dense("purchase_taxes", purchase, "rate", "domestic"),
        tif0=dense("purchase_taxes", purchase, "rate", "imported"),
        tx0=dense("trade_wedges", route, "export_tax"),
        tm0=dense("trade_wedges", route, "tariff"),
        **per_sector,
        **header.final_elasticities,
        region_names=dict(header.regions),
        sector_names=dict(header.sectors),
        groups=dict(header.groups),
        meta=dict(header.meta),
        path=folder,
        digest=digest,
        eta=header.eta,
    )


def _positions(codes: tuple[str, ...]) -> dict[str, int]:
    return {code: k for k, code in enumerate(codes)}


def _toml(sam: GlobalSAM) -> str:
    """dataset.toml for ``sam``."""
    lines = [f"name = {_toml_value(sam.name)}"]
    lines += [f"{k} = {_toml_value(sam.meta[k])}" for k in META_KEYS if k in sam.meta]
    sections = {
        "regions": {r: sam.region_names.get(r, r) for r in sam.regions},
        "sectors": {j: sam.sector_names.get(j, j) for j in sam.sectors},
        "factors": {f: sam.factor_kind[f] for f in sam.factors},
        "groups": {g: list(members) for g, members in sam.groups.items()},
        "elasticities": {e: float(getattr(sam, e)) for e in FINAL_ELASTICITIES},
    }
    supply = factor_supply.toml_tables(sam.eta, sam.factors, sam.regions)
    sections[factor_supply.TABLE] = {k: v for k, v in supply.items() if not isinstance(v, dict)}
    for region, values in supply.items():
        if isinstance(values, dict):
            sections[f"{factor_supply.TABLE}.{_toml_key(region)}"] = values
    for section, entries in sections.items():
        if entries:
            lines += ["", f"[{section}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value: object) -> str:
    """A TOML literal: strings quoted and escaped, floats by repr (exact), lists of these."""
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda c: f"\\u{ord(c.group()):04x}", escaped) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(value))
    return str(value)


def _table_rows(sam: GlobalSAM) -> dict[str, list[tuple[object, ...]]]:
    """Every table's rows: codes then values, one row per cell where a value is non-zero."""
    n = len(sam.sectors)
    regions, sectors = sam.regions, sam.sectors
    agents = sectors + FINAL_AGENT_NAMES
    # Axes reordered to the tables' column order, so rows come out sorted by their codes.
    purchases = np.stack([sam.vdfm, sam.vifm], axis=-1).transpose(2, 1, 0, 3)  # [r, g, i, src]
    rates = np.stack([sam.tdf0, sam.tif0], axis=-1).transpose(2, 1, 0, 3)
    route = (sectors, regions, regions)
    esub = np.stack([getattr(sam, name) for name in SECTOR_ELASTICITIES], axis=-1)
    return {
        "factor_payments": _cells([sam.vfm.transpose(2, 0, 1)], (regions, sam.factors, sectors)),
        "intermediate": _cells([purchases[:, :n]], (regions, sectors, sectors, SOURCES)),
        "final_demand": _cells([purchases[:, n:]], (regions, FINAL_AGENT_NAMES, sectors, SOURCES)),
        "trade": _cells([sam.vxmd], route),
        "trade_wedges": _cells([sam.tx0, sam.tm0], route),
        "output_taxes": _cells([sam.to0.T], (regions, sectors)),
        "purchase_taxes": _cells([rates], (regions, agents, sectors, SOURCES)),
        "factor_taxes": _cells([sam.tf0.transpose(2, 0, 1)], (regions, sam.factors, sectors)),
        "margins": _cells([sam.vtwr], (sam.margins, *route)),
        "margin_supply": _cells([sam.vst.T], (regions, sam.margins)),
        "elasticities": [(j, *map(float, esub[k])) for k, j in enumerate(sectors)],
    }


def _cells(
    values: list[np.ndarray], codes: tuple[tuple[str, ...], ...]
) -> list[tuple[object, ...]]:
    """(codes..., values...) for each cell where any of ``values`` is non-zero."""
    stacked = np.stack(values)
    rows = []
    for index in zip(*np.nonzero((stacked != 0).any(axis=0)), strict=True):
        keys = (axis[k] for axis, k in zip(codes, index, strict=True))
        rows.append((*keys, *(float(v) for v in stacked[(slice(None), *index)])))
    return rows
