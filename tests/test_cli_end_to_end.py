"""The command line end to end: solve, rerun, failure, bad input, check, data show."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from fragcge.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DATASET = Path(__file__).resolve().parents[1] / "calibration" / "datasets" / "wiod2011_10x8"


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("run") / "friendshoring"
    return out, _run_ok(["solve", str(SCENARIOS / "friendshoring.toml"), "--out", str(out)])


def _run_ok(argv: list[str]) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(argv)
    assert code == 0, buf.getvalue()
    return buf.getvalue()


def test_solve_prints_welfare_table_and_announces_numeraire(solved) -> None:
    _, text = solved
    assert "numeraire  Laspeyres index of mobile-factor prices" in text
    for region in ("USA", "CHN", "east", "west", "nonaligned", "WORLD"):
        assert region in text
    assert "EV (USD million)" in text and "EV %" in text


def test_the_printed_table_has_real_income_beside_ev(solved) -> None:
    """Each printed row ends with EV % and real income %, welfare.csv's numbers to the
    printed digits."""
    out, text = solved
    assert "real income %" in text
    welfare = pd.read_csv(out / "welfare.csv", keep_default_na=False)
    printed = {
        line.split()[0]: line.split()[-2:]
        for line in text.splitlines()
        if line.split() and line.split()[0] in set(welfare.region)
    }
    assert set(printed) == set(welfare.region)
    for row in welfare.itertuples(index=False):
        assert printed[row.region] == [f"{row.ev_pct:.3f}", f"{row.real_income_pct:.3f}"]
    assert welfare.real_income_pct.abs().max() > 0.1, "a measure that moves"


def test_solve_says_which_dataset_it_used(solved) -> None:
    _, text = solved
    assert "dataset    wiod2011_10x8 (built-in): 10 regions x 8 sectors" in text


def test_check_on_a_folder_names_the_folder(tmp_path) -> None:
    shutil.copytree(DATASET, tmp_path / "copy")
    text = _run_ok(["check", "--data", str(tmp_path / "copy")])
    assert f"dataset    wiod2011_10x8 (folder {(tmp_path / 'copy').resolve()}):" in text


def test_solve_writes_every_table_and_a_manifest(solved) -> None:
    out, _ = solved
    assert sorted(p.name for p in out.iterdir()) == [
        ".fragcge.json",
        "macro.csv",
        "manifest.json",
        "output.csv",
        "trade.csv",
        "welfare.csv",
    ]
    man = json.loads((out / "manifest.json").read_text())
    assert man["closure"]["name"] == "default"
    assert man["numeraire"].startswith("Laspeyres index")
    assert man["dataset"]["name"] == "wiod2011_10x8" and len(man["dataset"]["sha256"]) == 64
    assert man["scenario"]["name"] == "friendshoring" and "ntb" in man["scenario"]["text"]
    assert man["scenario"]["baseline"]["name"] == "balanced-trade"
    for solve in ("baseline", "scenario"):
        assert man["solver"][solve]["status"] == 0
        assert man["solver"][solve]["largest_scaled_residual"] < 1e-8
        assert abs(man["solver"][solve]["walras_dropped_equation_residual"]) < 1e-8
    assert set(man["elasticities"]) >= {"esubd", "esubm", "esubva", "esubp"}
    assert {"pyomo", "cyipopt-wheels", "casadi", "numpy", "pandas"} <= set(man["versions"])


def test_bloc_and_world_rows_add_up(solved) -> None:
    out, _ = solved
    w = pd.read_csv(out / "welfare.csv")
    regions = w[~w.region.isin(["west", "east", "nonaligned", "WORLD"])]
    assert len(regions) == 10
    world = w.set_index("region").loc["WORLD", "ev"]
    assert world == pytest.approx(regions.ev.sum(), abs=1e-5)
    for bloc in ("west", "east", "nonaligned"):
        total = w.set_index("region").loc[bloc, "ev"]
        assert total == pytest.approx(regions[regions.bloc == bloc].ev.sum(), abs=1e-5)


def test_friendshoring_hurts_the_blocs_and_the_world(solved) -> None:
    """The economics: higher trade costs between blocs cost both blocs and the world."""
    out, _ = solved
    w = pd.read_csv(out / "welfare.csv").set_index("region")
    assert w.loc["west", "ev"] < 0 and w.loc["east", "ev"] < 0 and w.loc["WORLD", "ev"] < 0
    t = pd.read_csv(out / "trade.csv")
    between = t[(t.exporter == "CHN") & (t.importer == "USA")]
    assert (between.volume_pct < 0).all()


def test_rerun_writes_byte_identical_tables(solved, tmp_path) -> None:
    out, _ = solved
    again = tmp_path / "again"
    _run_ok(["solve", str(SCENARIOS / "friendshoring.toml"), "--out", str(again)])
    for name in ("welfare.csv", "macro.csv", "trade.csv", "output.csv"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_failed_solve_exits_nonzero_and_writes_nothing(tmp_path, capsys) -> None:
    scenario = tmp_path / "impossible.toml"
    scenario.write_text(
        '[scenario]\nname = "impossible"\ndata = "wiod2011_10x8"\n\n'
        '[[shock]]\ninstrument = "transfer"\nvalues = { KOR = -3000000.0 }\nabsorb = "USA"\n'
    )
    out = tmp_path / "out"
    assert main(["solve", str(scenario), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "No equilibrium was found" in err and "status" in err and "iterations" in err
    assert "Largest scaled residual" in err and "C[KOR]" in err
    assert "No result files were written" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["impossible.toml"]


@pytest.mark.parametrize(
    ("shock", "expected"),
    [
        (
            'instrument = "ntb"\nfrom = "USA"\nto = "XYZ"\nrate = 0.1\n',
            "unknown bloc or region 'XYZ'; allowed: nonaligned, USA",
        ),
        ('instrument = "embargo"\nrate = 0.1\n', "instrument 'embargo'"),
    ],
)
def test_bad_scenario_is_refused_before_solving(tmp_path, capsys, shock, expected) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(f'[scenario]\nname = "bad"\ndata = "wiod2011_10x8"\n\n[[shock]]\n{shock}')
    out = tmp_path / "out"
    assert main(["solve", str(scenario), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and expected in err
    assert not out.exists()


def test_check_passes_on_default_data() -> None:
    text = _run_ok(["check"])
    assert text.count("PASS") == 3 and "FAIL" not in text


def test_check_runs_with_the_solver_asked_for() -> None:
    """`fragcge check --solver newton` runs all three checks with Newton–Krylov and says so;
    the default (auto) keeps Ipopt on the default data."""
    text = _run_ok(["check", "--solver", "newton"])
    assert "solver     Newton–Krylov (asked for: solver = newton)" in text
    assert "Newton–Krylov iterations 0" in text
    assert text.count("PASS") == 3 and "FAIL" not in text
    assert "solver     Ipopt (auto:" in _run_ok(["check"])


def test_check_refuses_a_broken_dataset(tmp_path, capsys) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(DATASET, broken)
    trade = (broken / "trade.csv").read_text().splitlines()
    head, first = trade[0], trade[1].split(",")
    first[-1] = str(float(first[-1]) * 2)
    (broken / "trade.csv").write_text("\n".join([head, ",".join(first), *trade[2:]]) + "\n")
    assert main(["check", "--data", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "domestic market" in err and "import market" in err and "gap" in err


def test_data_show_prints_the_summary() -> None:
    text = _run_ok(["data", "show", "wiod2011_10x8"])
    assert "USA EUR OAD JPN KOR CHN RUS IND OEM ROW" in text
    assert "CC BY 4.0" in text and "Timmer" in text and "WORLD" in text
