"""Running a batch: workers, resume, reuse against a cold solve, failures, the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge import schedule
from fragcge.batch import BatchResult, run_batch
from fragcge.cli import main
from fragcge.errors import ScenarioError
from fragcge.model.decomposition import COMPONENTS, RELIABLE

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
TABLES = ("summary.csv", "sweep.csv", "failures.csv")


def _write_batch(folder: Path, scenario: Path, sweep: str, name: str = "rates") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'[batch]\nname = "{name}"\nscenario = "{scenario.as_posix()}"\n\n[sweep]\n{sweep}\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module", autouse=True)
def two_strands():
    """Cut 4-run batches into 2 strands of 2, so that runs are warm-started from a neighbour
    and two workers solve side by side (the cut is made in this process, not in workers)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schedule, "PARALLEL_STRANDS", 2)
        yield


@pytest.fixture(scope="module")
def rates(tmp_path_factory) -> tuple[Path, Path, BatchResult]:
    """The friendshoring sweep over 0.1, 0.2, 0.3, 0.4, solved in process."""
    folder = tmp_path_factory.mktemp("rates")
    batch = _write_batch(
        folder, SCENARIOS / "friendshoring.toml", '"shock.1.rate" = [0.1, 0.2, 0.3, 0.4]'
    )
    out = folder / "serial"
    return batch, out, run_batch(batch, out, workers=1)


def _tables(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in TABLES}


def test_the_batch_is_cut_in_two_strands_of_neighbours(rates) -> None:
    _, _, result = rates
    strands = schedule.Schedule([o.run for o in result.outcomes]).strands
    assert [[r.overrides["shock.1.rate"] for r in s] for s in strands] == [[0.1, 0.2], [0.3, 0.4]]


def test_workers_give_byte_identical_tables(rates, tmp_path) -> None:
    batch, serial, result = rates
    assert [o.status for o in result.outcomes] == ["solved"] * 4
    parallel = run_batch(batch, tmp_path / "parallel", workers=2)
    assert [o.status for o in parallel.outcomes] == ["solved"] * 4
    assert _tables(tmp_path / "parallel") == _tables(serial)


def test_rerun_skips_every_run_and_rewrites_the_same_tables(rates) -> None:
    batch, out, _ = rates
    before = _tables(out)
    again = run_batch(batch, out, workers=1)
    assert [o.status for o in again.outcomes] == ["skipped"] * 4
    assert _tables(out) == before
    record = json.loads((out / "batch.json").read_text())
    assert (record["runs"], record["solved"], record["skipped"], record["failed"]) == (4, 0, 4, 0)
    assert record["text"] == batch.read_text()


def test_each_run_is_written_with_its_place_in_the_batch(rates) -> None:
    _, out, result = rates
    for outcome in result.outcomes:
        manifest = json.loads((out / "runs" / outcome.run.id / "manifest.json").read_text())
        assert manifest["batch"]["id"] == outcome.run.id
        assert manifest["batch"]["overrides"] == outcome.run.overrides
        assert manifest["batch"]["weight"] == 1.0
    # Two strands of two: each second run starts from its strand's first.
    starts = {}
    for outcome in result.outcomes:
        manifest = json.loads((out / "runs" / outcome.run.id / "manifest.json").read_text())
        starts[outcome.run.overrides["shock.1.rate"]] = manifest["batch"]["started_from"]
    ids = {o.run.overrides["shock.1.rate"]: o.run.id for o in result.outcomes}
    assert starts == {0.1: "baseline", 0.2: ids[0.1], 0.3: "baseline", 0.4: ids[0.3]}


def test_world_ev_falls_with_the_rate_and_matches_a_cold_solve(rates, tmp_path) -> None:
    _, out, _ = rates
    sweep = pd.read_csv(out / "sweep.csv", keep_default_na=False)
    world = sweep[sweep.region == "WORLD"].sort_values("shock.1.rate")
    assert list(world["shock.1.rate"]) == [0.1, 0.2, 0.3, 0.4]
    assert world.ev.is_monotonic_decreasing and world.ev.iloc[0] < 0
    assert main(["solve", str(SCENARIOS / "friendshoring.toml"), "--out", str(tmp_path)]) == 0
    cold = pd.read_csv(tmp_path / "welfare.csv", keep_default_na=False).set_index("region")
    # 0.3 heads its strand (from the baseline); 0.4 starts from the 0.3 equilibrium.
    swept = sweep[sweep["shock.1.rate"] == 0.3].set_index("region")
    assert list(swept.index) == list(cold.index)
    assert (swept.ev - cold.ev).abs().max() < 1e-6
    warm = sweep[sweep["shock.1.rate"] == 0.4].set_index("region")
    text = (SCENARIOS / "friendshoring.toml").read_text()
    assert "rate = 0.30\n" in text
    (tmp_path / "f40.toml").write_text(text.replace("rate = 0.30\n", "rate = 0.40\n"))
    shutil.copy(SCENARIOS / "balanced-trade.toml", tmp_path)
    assert main(["solve", str(tmp_path / "f40.toml"), "--out", str(tmp_path / "40")]) == 0
    cold40 = pd.read_csv(tmp_path / "40" / "welfare.csv", keep_default_na=False)
    # Different starting points: the two may round one unit apart in ev's 6th decimal.
    assert (warm.ev - cold40.set_index("region").ev).abs().max() <= 1.5e-6
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False).set_index("region")
    assert summary.loc["WORLD", "runs"] == 4
    assert summary.loc["WORLD", "ev_mean"] == pytest.approx(world.ev.mean(), abs=1e-5)


def test_a_failing_run_is_recorded_and_the_others_solve(tmp_path, capsys) -> None:
    scenario = tmp_path / "tariffs.toml"
    scenario.write_text(
        '[scenario]\nname = "tariffs"\ndata = "wiod2011_10x8"\n\n'
        '[[shock]]\ninstrument = "tariff"\nbetween = ["USA", "CHN"]\nsectors = "all"\n'
        "rate = 0.05\n",
        encoding="utf-8",
    )
    # A cut of 150 points leaves 1 + tm <= 0 on every route: refused when the run resolves.
    batch = _write_batch(tmp_path, scenario, '"shock.1.rate" = [0.05, -1.5]', "cuts")
    out = tmp_path / "out"
    assert main(["batch", str(batch), "--out", str(out)]) == 1
    failures = pd.read_csv(out / "failures.csv")
    assert len(failures) == 1
    assert json.loads(failures.overrides[0]) == {"shock.1.rate": -1.5}
    assert "must stay > 0" in failures.message[0]
    sweep = pd.read_csv(out / "sweep.csv", keep_default_na=False)
    assert set(sweep["shock.1.rate"]) == {0.05}
    captured = capsys.readouterr()
    # Not a terminal: one plain progress line per run on stderr, the summary on stdout.
    lines = captured.err.splitlines()
    assert any("shock.1.rate=0.05 solved" in line and "[" in line for line in lines)
    assert any("shock.1.rate=-1.5 failed" in line and "must stay > 0" in line for line in lines)
    assert "1 solved, 0 skipped, 1 failed" in captured.out.splitlines()[-1]
    record = json.loads((out / "batch.json").read_text())
    assert (record["solved"], record["failed"]) == (1, 1)


def test_a_bad_batch_file_exits_2(tmp_path, capsys) -> None:
    batch = _write_batch(tmp_path, SCENARIOS / "friendshoring.toml", '"shock.9.rate" = [0.1]')
    assert main(["batch", str(batch), "--out", str(tmp_path / "out")]) == 2
    assert "shock.9.rate" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_dask_local_cluster_gives_byte_identical_tables(rates, tmp_path) -> None:
    batch, serial, _ = rates
    result = run_batch(batch, tmp_path / "dask", workers=2, executor="dask")
    assert [o.status for o in result.outcomes] == ["solved"] * 4
    assert _tables(tmp_path / "dask") == _tables(serial)
    record = json.loads((tmp_path / "dask" / "batch.json").read_text())
    assert record["executor"] == "dask"


def test_a_running_dask_scheduler_takes_the_runs(rates, tmp_path) -> None:
    """--scheduler tcp://HOST:PORT: the runs go to a cluster someone else started."""
    from distributed import LocalCluster

    batch, serial, _ = rates
    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        code = main(
            ["batch", str(batch), "--out", str(tmp_path / "remote"), "--scheduler", address]
        )
    assert code == 0
    assert _tables(tmp_path / "remote") == _tables(serial)
    assert json.loads((tmp_path / "remote" / "batch.json").read_text())["executor"] == address


@pytest.mark.parametrize(("executor", "workers"), [("local", 1), ("local", 2), ("dask", 2)])
def test_the_decomposition_is_computed_only_when_the_batch_file_asks(
    tmp_path, executor: str, workers: int
) -> None:
    """Default: welfare.csv has EV, EV % and real income only and the manifest says why; with
    decomposition = true (rerun into the same folder) the runs written without it are solved
    again, with the components, and the same EV to the last digit. Each executor honours
    both settings (in this process, in worker processes, on Dask workers)."""
    sweep = '"shock.1.rate" = [0.1, 0.2]'
    plain = _write_batch(tmp_path, SCENARIOS / "friendshoring.toml", sweep, "plain")
    out = tmp_path / "out"
    first = run_batch(plain, out, workers=workers, executor=executor)
    assert [o.status for o in first.outcomes] == ["solved"] * 2
    runs = sorted((out / "runs").iterdir())
    without = {run.name: pd.read_csv(run / "welfare.csv", keep_default_na=False) for run in runs}
    for run in runs:
        assert list(without[run.name].columns) == [
            "region",
            "bloc",
            "ev",
            "ev_pct",
            "real_income_pct",
        ]
        record = json.loads((run / "manifest.json").read_text())["welfare_decomposition"]
        assert record["computed"] is False
        assert "decomposition = true" in record["why"]
    before = _tables(out)

    text = plain.read_text().replace('scenario = "', 'decomposition = true\nscenario = "')
    asked = tmp_path / "asked.toml"
    asked.write_text(text.replace('name = "plain"', 'name = "asked"'))
    result = run_batch(asked, out, workers=workers, executor=executor)
    assert [o.status for o in result.outcomes] == ["solved"] * 2
    for run in runs:
        welfare = pd.read_csv(run / "welfare.csv", keep_default_na=False)
        for column in (*COMPONENTS, "residual", RELIABLE):
            assert column in welfare.columns
        # Components computed, not left empty, and within 1% of |EV| (reliable).
        assert welfare[list(COMPONENTS)].notna().all().all()
        assert (welfare[list(COMPONENTS)].abs().sum(axis=1) > 0).all()
        assert welfare[RELIABLE].astype(str).str.lower().eq("true").all()
        assert welfare.ev.tolist() == without[run.name].ev.tolist()
        assert welfare.ev_pct.tolist() == without[run.name].ev_pct.tolist()
        record = json.loads((run / "manifest.json").read_text())["welfare_decomposition"]
        assert record["computed"] is True and record["steps"] >= 6
    # The summary tables are of EV and real income alone: the same bytes either way.
    assert _tables(out) == before
    again = run_batch(asked, out)
    assert [o.status for o in again.outcomes] == ["skipped"] * 2


def test_decomposition_must_be_true_or_false(tmp_path) -> None:
    batch = _write_batch(tmp_path, SCENARIOS / "friendshoring.toml", '"shock.1.rate" = [0.1]')
    batch.write_text(batch.read_text().replace("[batch]\n", '[batch]\ndecomposition = "yes"\n'))
    with pytest.raises(ScenarioError, match=r"rates\.toml.*decomposition.*true or false"):
        run_batch(batch, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_batch_solver_flag_reaches_every_run_and_is_recorded(rates, tmp_path) -> None:
    """`fragcge batch --solver newton`: every run's manifest says Newton–Krylov solved it
    because it was asked for, batch.json records the flag, and the sweep's EV is Ipopt's
    (the in-process batch of the fixture, solved with the default: Ipopt at 10 x 8)."""
    batch, serial, _ = rates
    out = tmp_path / "newton"
    assert main(["batch", str(batch), "--out", str(out), "--solver", "newton"]) == 0
    assert json.loads((out / "batch.json").read_text())["solver"] == "newton"
    assert json.loads((serial / "batch.json").read_text())["solver"] == "auto"
    manifests = sorted(out.glob("runs/*/manifest.json")) or sorted(out.glob("*/manifest.json"))
    assert len(manifests) == 4
    for path in manifests:
        solver = json.loads(path.read_text())["solver"]
        assert solver["method"] == "newton" and "asked for" in solver["why"]
        assert solver["baseline"]["method"] == solver["scenario"]["method"] == "newton"
    newton = pd.read_csv(out / "sweep.csv", keep_default_na=False)
    ipopt = pd.read_csv(serial / "sweep.csv", keep_default_na=False)
    assert newton.drop(columns=["ev", "ev_pct"]).equals(ipopt.drop(columns=["ev", "ev_pct"]))
    # The two solvers agree to 1e-8 relative (issue 13); EV is written to 6 decimals.
    np.testing.assert_allclose(newton.ev, ipopt.ev, rtol=1e-8, atol=1e-6)
