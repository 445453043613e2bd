"""Reading result folders written by `fragcge solve`, refusing incomplete ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fragcge.errors import ReportError
from fragcge.model.decomposition import COMPONENTS, RELIABLE

TABLES = {
    "welfare": ("region", "bloc", "ev", "ev_pct"),
    "trade": ("commodity", "exporter", "importer", "baseline_value", "value"),
    "output": ("region", "sector", "output_pct"),
}
"""The tables a report reads and the columns it needs from each."""

WORLD = "WORLD"
NONALIGNED = "nonaligned"


@dataclass(frozen=True)
class Result:
    """One solved scenario as read back from its folder."""

    path: Path
    manifest: dict
    welfare: pd.DataFrame
    trade: pd.DataFrame
    output: pd.DataFrame

    @property
    def name(self) -> str:
        """The scenario's name."""
        return str(self.manifest["scenario"]["name"])

    @property
    def title(self) -> str:
        """The scenario's title, or its name when it has none."""
        return str(self.manifest["scenario"].get("title") or self.name)

    @property
    def blocs(self) -> dict[str, str]:
        """Region → bloc, in the dataset's region order."""
        return dict(self.manifest["blocs"])

    @property
    def regions(self) -> list[str]:
        """The dataset's regions."""
        return list(self.manifest["dataset"]["regions"])

    @property
    def sectors(self) -> list[str]:
        """The dataset's sectors."""
        return list(self.manifest["dataset"]["sectors"])

    @property
    def unit(self) -> str:
        """The dataset's value unit."""
        return str(self.manifest["dataset"].get("unit") or "value")

    @property
    def decomposition(self) -> list[str]:
        """Welfare decomposition columns of welfare.csv, in file order; empty when absent.
        (Other measures beside EV, such as real_income_pct, are not part of it.)"""
        return [c for c in self.welfare.columns if c in (*COMPONENTS, "residual")]

    @property
    def unreliable(self) -> list[str]:
        """Welfare rows whose decomposition welfare.csv marks unreliable; none if unmarked."""
        if RELIABLE not in self.welfare.columns:
            return []
        reliable = self.welfare[RELIABLE].map(lambda v: str(v).lower() == "true")
        return list(self.welfare.region[~reliable])


def load_result(path: str | Path) -> Result:
    """Read manifest.json and the tables of a result folder; raises ReportError if incomplete."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path}: not a result folder (run `fragcge solve` to make one)")
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise ReportError(f"{path}: no manifest.json, so not a result folder of `fragcge solve`")
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{manifest_file}: not valid JSON ({exc})") from exc
    for key in ("scenario", "dataset", "blocs"):
        if key not in manifest:
            raise ReportError(f"{manifest_file}: has no '{key}' entry")
    tables = {name: _read_table(path / f"{name}.csv", cols) for name, cols in TABLES.items()}
    return Result(path, manifest, **tables)


def _read_table(file: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not file.is_file():
        raise ReportError(f"{file.parent}: {file.name} is missing; solve the scenario again")
    # Codes such as "NA" must stay strings, not become NaN.
    df = pd.read_csv(file, keep_default_na=False, na_values=[""])
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ReportError(f"{file}: missing column(s) {', '.join(missing)}")
    return df


def check_comparable(results: list[Result]) -> None:
    """Results compared side by side must share regions and sectors and have distinct names."""
    first = results[0]
    names = [r.name for r in results]
    for r in results[1:]:
        if r.regions != first.regions or r.sectors != first.sectors:
            raise ReportError(
                f"{r.path}: its regions and sectors differ from those of {first.path}; "
                "only results on the same dataset can be compared"
            )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ReportError(f"scenario name(s) given twice: {', '.join(dupes)}")
