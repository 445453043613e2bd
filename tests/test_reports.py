"""Reports and the appendix: tables against the CSVs they come from, formats, figures, reruns."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from fragcge.cli import main
from fragcge.errors import ReportError
from fragcge.output_folder import claim
from fragcge.reports import figures, tables
from fragcge.reports.appendix import build_appendix
from fragcge.reports.formats import SUFFIX, markdown, write_table
from fragcge.reports.result_folders import load_result
from fragcge.results import write_run

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
PARTS = ("tot", "alloc", "iceberg", "rents", "endowment", "transfers")


@pytest.fixture(scope="module")
def solved(tmp_path_factory, shipped_run) -> dict[str, Path]:
    """Result folders of two scenarios, one with a made-up welfare decomposition, one without."""
    root = tmp_path_factory.mktemp("results")
    out = {}
    for name in ("friendshoring", "tariff-war"):
        out[name] = root / name
        write_run(shipped_run(name), out[name])
    out["decomposed"] = root / "decomposed"
    shutil.copytree(out["friendshoring"], out["decomposed"])
    w = pd.read_csv(out["decomposed"] / "welfare.csv")
    for k, part in enumerate(PARTS):
        w[part] = w.ev * (0.5 - 0.1 * k)
    w["residual"] = w.ev - w[list(PARTS)].sum(axis=1)
    w.to_csv(out["decomposed"] / "welfare.csv", index=False, float_format="%.6f")
    out["plain"] = root / "plain"
    shutil.copytree(out["friendshoring"], out["plain"])
    w = pd.read_csv(out["plain"] / "welfare.csv")
    w.drop(columns=[*PARTS, "residual"]).to_csv(out["plain"] / "welfare.csv", index=False)
    return out


@pytest.fixture(scope="module")
def reported(solved, tmp_path_factory) -> dict[str, Path]:
    """Reports made once through the command line: one scenario, two side by side, decomposed."""
    root = tmp_path_factory.mktemp("reports")
    return {
        "single": _report([solved["friendshoring"]], root / "single"),
        "pair": _report([solved["friendshoring"], solved["tariff-war"]], root / "pair"),
        "decomposed": _report([solved["decomposed"]], root / "decomposed", "md"),
    }


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _report(dirs: list[Path], out: Path, fmt: str = "csv") -> Path:
    code, _, err = _cli(["report", *map(str, dirs), "--format", fmt, "--out", str(out)])
    assert code == 0, err
    return out


def test_welfare_table_equals_welfare_csv_sorted_by_bloc_then_ev(solved, reported) -> None:
    out = reported["single"]
    table = pd.read_csv(out / "tables" / "welfare.csv", keep_default_na=False)
    source = pd.read_csv(solved["friendshoring"] / "welfare.csv").set_index("region")
    assert table.friendshoring.tolist() == pytest.approx(source.loc[table.region, "ev_pct"])
    assert table.bloc.tolist() == source.loc[table.region, "bloc"].tolist()
    regions = table.iloc[:10]
    assert regions.bloc.tolist() == ["west"] * 5 + ["east"] * 2 + ["nonaligned"] * 3
    for _, group in regions.groupby("bloc"):
        assert group.friendshoring.is_monotonic_decreasing
    assert table.region.iloc[10:].tolist() == ["west", "east", "nonaligned", "WORLD"]


def test_real_income_table_equals_welfare_csv_beside_ev(solved, reported) -> None:
    """Real income has its table, on the EV table's rows, with welfare.csv's numbers."""
    out = reported["pair"]
    ev = pd.read_csv(out / "tables" / "welfare.csv", keep_default_na=False)
    real = pd.read_csv(out / "tables" / "welfare_real_income.csv", keep_default_na=False)
    assert real.region.tolist() == ev.region.tolist()
    for name in ("friendshoring", "tariff-war"):
        source = pd.read_csv(solved[name] / "welfare.csv").set_index("region")
        shown = real[real[name] != ""]
        assert len(shown) >= 11  # every region and WORLD; foreign blocs are n/a
        expected = source.loc[shown.region, "real_income_pct"].to_numpy()
        assert shown[name].astype(float).to_numpy() == pytest.approx(expected, abs=5e-4)


def test_a_result_written_before_real_income_still_reports(solved, tmp_path) -> None:
    """A welfare.csv without real_income_pct (fragcge before issue 11): the report has no
    real income table for it alone, and n/a beside a newer result, with a note."""
    old = tmp_path / "old"
    shutil.copytree(solved["tariff-war"], old)
    w = pd.read_csv(old / "welfare.csv", keep_default_na=False)
    w.drop(columns=["real_income_pct"]).to_csv(old / "welfare.csv", index=False)
    alone = _report([old], tmp_path / "alone")
    assert (alone / "tables" / "welfare.csv").is_file()
    assert not (alone / "tables" / "welfare_real_income.csv").exists()
    pair = _report([solved["friendshoring"], old], tmp_path / "pair", "md")
    text = (pair / "tables" / "welfare_real_income.md").read_text()
    assert "n/a for tariff-war: written by a fragcge without this column" in text
    rows = [line for line in text.splitlines() if line.startswith("| CHN ")]
    assert len(rows) == 1 and rows[0].rstrip(" |").endswith("n/a")


def test_bloc_trade_table_equals_sums_over_trade_csv(solved, reported) -> None:
    """Recomputed here from trade.csv and the manifest's blocs, with plain sums."""
    folder = solved["friendshoring"]
    blocs = json.loads((folder / "manifest.json").read_text())["blocs"]
    base, new = defaultdict(float), defaultdict(float)
    with open(folder / "trade.csv", newline="") as f:
        for row in csv.DictReader(f):
            key = (blocs[row["exporter"]], blocs[row["importer"]])
            base[key] += float(row["baseline_value"])
            new[key] += float(row["value"])
    table = pd.read_csv(reported["single"] / "tables" / "bloc_trade.csv")
    assert len(table) == 9
    for row in table.itertuples(index=False):
        key = (row.exporter_bloc, row.importer_bloc)
        assert row.friendshoring == pytest.approx(100 * (new[key] / base[key] - 1), abs=1e-6)
    west_east = table.set_index(["exporter_bloc", "importer_bloc"]).loc[("west", "east")]
    assert west_east.friendshoring < -30


def test_output_table_equals_output_csv(solved, reported) -> None:
    table = pd.read_csv(reported["single"] / "tables" / "output.csv").set_index(
        ["region", "sector"]
    )
    source = pd.read_csv(solved["friendshoring"] / "output.csv").set_index(["region", "sector"])
    assert len(table) == len(source) == 80
    assert table.friendshoring.to_numpy() == pytest.approx(source.loc[table.index, "output_pct"])


def test_several_results_side_by_side_with_the_first_ones_blocs(solved, reported) -> None:
    out = reported["pair"]
    welfare = pd.read_csv(out / "tables" / "welfare.csv", keep_default_na=False).set_index("region")
    assert list(welfare.columns) == ["bloc", "friendshoring", "tariff-war"]
    war = pd.read_csv(solved["tariff-war"] / "welfare.csv").set_index("region")
    assert float(welfare.loc["CHN", "tariff-war"]) == pytest.approx(war.loc["CHN", "ev_pct"])
    assert float(welfare.loc["WORLD", "tariff-war"]) == pytest.approx(war.loc["WORLD", "ev_pct"])
    # tariff-war has no west or east bloc: its bloc rows are left blank, not invented.
    assert welfare.loc["west", "tariff-war"] == "" and welfare.loc["west", "friendshoring"] != ""
    trade = pd.read_csv(out / "tables" / "bloc_trade.csv")
    assert list(trade.columns) == ["exporter_bloc", "importer_bloc", "friendshoring", "tariff-war"]
    assert trade["tariff-war"].notna().all()


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [("md", "| region | bloc | friendshoring |"), ("latex", r"\toprule"), ("csv", "region,bloc,")],
)
def test_every_format_writes_every_table(solved, tmp_path, fmt, marker) -> None:
    written = [
        write_table(t, tmp_path, fmt)
        for t in tables.all_tables([load_result(solved["decomposed"])])
    ]
    stems = (
        "welfare",
        "welfare_ev",
        "welfare_real_income",
        "welfare_decomposition_friendshoring",
        "bloc_trade",
        "output",
    )
    assert [p.name for p in written] == [f"{s}{SUFFIX[fmt]}" for s in stems]
    assert all(p.stat().st_size > 100 for p in written)
    assert marker in written[0].read_text()


def test_latex_escapes_and_uses_true_minus_signs(solved) -> None:
    from fragcge.reports.formats import latex

    text = latex(tables.bloc_trade([load_result(solved["friendshoring"])]))
    assert r"exporter\_bloc" in text and r"\%" in text and "$-$" in text


def test_figures_are_non_empty_png_and_pdf(reported) -> None:
    out = reported["pair"]
    files = sorted(p.name for p in (out / "figures").iterdir())
    stems = ("bloc_trade", "output", "welfare", "welfare_decomposition")
    assert files == sorted(f"{s}.{ext}" for s in stems for ext in ("pdf", "png"))
    for stem in stems:
        png, pdf = (
            (out / "figures" / f"{stem}.png").read_bytes(),
            (out / "figures" / f"{stem}.pdf").read_bytes(),
        )
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        assert pdf.startswith(b"%PDF") and len(pdf) > 5_000


def test_decomposition_shown_only_when_welfare_csv_has_it(solved, reported) -> None:
    result = load_result(solved["decomposed"])
    assert result.decomposition == [*PARTS, "residual"]
    assert tables.decomposition(load_result(solved["plain"])) is None
    assert figures.decomposition([load_result(solved["plain"])]) is None
    out = reported["decomposed"]
    assert (out / "figures" / "welfare_decomposition.png").stat().st_size > 10_000
    text = (out / "tables" / "welfare_decomposition_friendshoring.md").read_text()
    assert "| region | bloc | ev | tot | alloc |" in text and "residual |" in text
    table = tables.decomposition(result).frame.set_index("region")
    assert table.loc["CHN", "tot"] == pytest.approx(0.5 * table.loc["CHN", "ev"])


def test_rounded_zero_prints_without_sign() -> None:
    frame = pd.DataFrame({"region": ["A"], "s": [-0.0004]})
    text = markdown(tables.Table("t", "c", frame, labels=1, decimals=3))
    assert "| A | 0.000 |" in text


def test_appendix_reruns_byte_identical(solved, tmp_path) -> None:
    files = [SCENARIOS / "friendshoring.toml", SCENARIOS / "tariff-war.toml"]
    out = claim(tmp_path / "appendix", "appendix")
    for name in ("friendshoring", "tariff-war"):
        shutil.copytree(solved[name], out / "results" / name)
    first = build_appendix(files, out, log=lambda _: None)
    assert [e.solved for e in first] == [False, False]
    index = (out / "index.md").read_text()
    for name in ("friendshoring", "tariff-war"):
        assert f"## {name}" in index and f"scenarios/{name}/tables/welfare.tex" in index
    assert "## Comparison" in index and "comparison/figures/output.pdf" in index
    snapshot = _tables_and_index(out)
    # 6 tables per scenario (with its decomposition); the comparison's 5 and one decomposition
    # per scenario; 3 formats each; and the index
    assert len(snapshot) == 2 * 6 * 3 + (5 + 2) * 3 + 1

    # The report of a scenario no longer listed, as an earlier run would have left it.
    shutil.copytree(out / "scenarios" / "tariff-war", out / "scenarios" / "stale")
    second = build_appendix(files, out, log=lambda _: None)
    assert [e.solved for e in second] == [False, False]
    assert _tables_and_index(out) == snapshot
    assert not (out / "scenarios" / "stale").exists()


def _tables_and_index(out: Path) -> dict[str, bytes]:
    files = [out / "index.md", *out.glob("*/*/tables/*"), *out.glob("comparison/tables/*")]
    return {f.relative_to(out).as_posix(): f.read_bytes() for f in files}


def test_appendix_solves_a_result_of_another_scenario_version(solved, tmp_path) -> None:
    out = claim(tmp_path / "a", "appendix")
    shutil.copytree(solved["tariff-war"], out / "results" / "tariff-war")
    manifest = out / "results" / "tariff-war" / "manifest.json"
    record = json.loads(manifest.read_text())
    record["scenario"]["chain_sha256"] = "0" * 64
    manifest.write_text(json.dumps(record))
    code, text, err = _cli(["appendix", str(SCENARIOS / "tariff-war.toml"), "--out", str(out)])
    assert code == 0, err
    assert "solved     tariff-war" in text and (out / "index.md").is_file()
    assert json.loads(manifest.read_text())["scenario"]["chain_sha256"] != "0" * 64
    assert not (out / "comparison").exists()


def test_bad_result_folders_are_refused_by_name(solved, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _cli(["report", str(empty), "--out", str(tmp_path / "r")])
    assert code == 2 and f"{empty}: no manifest.json" in err
    assert not (tmp_path / "r").exists()

    partial = tmp_path / "partial"
    shutil.copytree(solved["tariff-war"], partial)
    (partial / "output.csv").unlink()
    with pytest.raises(ReportError, match="partial: output.csv is missing"):
        load_result(partial)

    (partial / "output.csv").write_text("region,sector\nUSA,AGF\n")
    with pytest.raises(ReportError, match=r"output.csv: missing column\(s\) output_pct"):
        load_result(partial)

    with pytest.raises(ReportError, match="not a result folder"):
        load_result(tmp_path / "nowhere")


def test_results_on_different_data_or_with_one_name_twice_are_refused(solved, tmp_path) -> None:
    other = tmp_path / "other"
    shutil.copytree(solved["tariff-war"], other)
    record = json.loads((other / "manifest.json").read_text())
    record["dataset"]["regions"] = record["dataset"]["regions"][::-1]
    (other / "manifest.json").write_text(json.dumps(record))
    out = ["--out", str(tmp_path / "r")]
    code, _, err = _cli(["report", str(solved["friendshoring"]), str(other), *out])
    assert code == 2 and "only results on the same dataset can be compared" in err
    code, _, err = _cli(["report", str(solved["tariff-war"]), str(solved["tariff-war"]), *out])
    assert code == 2 and "given twice: tariff-war" in err
    assert not (tmp_path / "r").exists()


def test_trade_is_grouped_by_region_when_the_first_result_has_no_blocs(solved) -> None:
    """tariff-war puts every region in one group: a 1×1 table would say nothing."""
    war = load_result(solved["tariff-war"])
    table = tables.bloc_trade([war]).frame
    assert list(table.columns[:2]) == ["exporter_region", "importer_region"]
    assert len(table) == 10 * 9 and not (table.exporter_region == table.importer_region).any()
    row = table.set_index(["exporter_region", "importer_region"]).loc[("USA", "CHN")]
    t = war.trade[(war.trade.exporter == "USA") & (war.trade.importer == "CHN")]
    expected = 100 * (t.value.sum() / t.baseline_value.sum() - 1)
    assert row["tariff-war"] == pytest.approx(expected) and expected < -30
