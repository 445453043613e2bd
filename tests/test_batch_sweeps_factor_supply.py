"""A batch sweeps or draws the factor supply elasticity eta like a scenario key: each eta gives
the equilibrium of the scenario file written with that eta in its [factor_supply] table, a
region's own line still wins over a swept all-region value, and a bad key or value is named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.api import solve_loaded, solve_scenario
from fragcge.batch import run_batch, run_dir
from fragcge.calibration.dataset import write_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import ScenarioError
from fragcge.scenarios.batch_file import apply_run, expand, load_batch

SCENARIO = """[scenario]
name = "eta"
data = "tiny"
imbalances = "income-share"

[factor_supply]
cap = 0.3
[factor_supply.R3]
lab = 0.2

[[shock]]
instrument = "ntb"
between = ["R1", "R2"]
rate = 0.3
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """3 regions (lab, cap mobile; res specific), no taxes or margins, and SCENARIO."""
    folder = tmp_path_factory.mktemp("eta-sweep")
    write_dataset(synthetic_sam(3, 2, taxes=False, margins=False, seed=0), folder / "tiny")
    (folder / "scenario.toml").write_text(SCENARIO)
    return folder


def _batch(folder: Path, name: str, sweep: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'[batch]\nname = "{name}"\nscenario = "scenario.toml"\n\n[sweep]\n{sweep}')
    return path


def _scenario_with(folder: Path, name: str, lines: str) -> Path:
    """SCENARIO with its [factor_supply] table as ``lines``: the file a user would write."""
    head, rest = SCENARIO.split("[factor_supply]\n")
    path = folder / f"{name}.toml"
    path.write_text(head + f"[factor_supply]\n{lines}\n" + rest[rest.index("[[shock]]") :])
    return path


SWEPT = {
    # sweep value -> the [factor_supply] table of the scenario with that eta
    0.0: "cap = 0.3\n[factor_supply.R3]\nlab = 0.2",
    0.8: "cap = 0.3\nlab = 0.8\n[factor_supply.R3]\nlab = 0.2",
}


def test_a_swept_eta_is_the_scenario_written_with_that_eta(folder: Path) -> None:
    """Each run's equilibrium (solved in process) is the hand-written scenario's to 1e-10,
    and the batch's welfare tables are that scenario's; eta moves the equilibrium."""
    path = _batch(folder, "lab", '"factor_supply.lab" = [0.0, 0.8]')
    batch = load_batch(path)
    runs = expand(batch)
    out = folder / "out"
    result = run_batch(path, out, workers=1)
    assert [o.status for o in result.outcomes] == ["solved"] * 2
    solved = {}
    for run in runs:
        eta = run.overrides["factor_supply.lab"]
        swept = solve_loaded(apply_run(batch.scenario, run), decompose=False)
        written = solve_scenario(_scenario_with(folder, f"written-{eta:g}", SWEPT[eta]))
        np.testing.assert_array_equal(swept.resolved.sam.eta, written.resolved.sam.eta)
        np.testing.assert_allclose(swept.scen.x, written.scen.x, rtol=0, atol=1e-10)
        table = pd.read_csv(run_dir(out, run) / "welfare.csv")
        expected = written.tables["welfare"][table.columns]
        np.testing.assert_allclose(
            table[["ev", "real_income_pct"]], expected[["ev", "real_income_pct"]], atol=1e-6
        )
        solved[eta] = written
    lab = list(solved[0.0].resolved.sam.factors).index("lab")
    # R3's own line wins over the swept all-region value, as in the file.
    assert solved[0.8].resolved.sam.eta[lab].tolist() == [0.8, 0.8, 0.2]
    assert solved[0.0].resolved.sam.eta[lab].tolist() == [0.0, 0.0, 0.2]
    gap = np.abs(solved[0.8].tables["welfare"].ev - solved[0.0].tables["welfare"].ev).max()
    assert gap > 1e-3, "eta changes the equilibrium"


def test_a_region_key_sweeps_one_region(folder: Path) -> None:
    batch = load_batch(_batch(folder, "r3", '"factor_supply.R3.lab" = [1.5]'))
    (run,) = expand(batch)
    scenario = apply_run(batch.scenario, run)
    written = _scenario_with(folder, "r3-written", "cap = 0.3\n[factor_supply.R3]\nlab = 1.5")
    swept = solve_loaded(scenario, decompose=False)
    expected = solve_scenario(written)
    np.testing.assert_array_equal(swept.resolved.sam.eta, expected.resolved.sam.eta)
    np.testing.assert_allclose(swept.scen.x, expected.scen.x, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("sweep", "fragments"),
    [
        (
            '"factor_supply.land" = [0.5]',
            ["unknown sweep key 'factor_supply.land'", "factor_supply.lab"],
        ),
        ('"factor_supply.R9.lab" = [0.5]', ["unknown sweep key 'factor_supply.R9.lab'"]),
        (
            '"factor_supply.lab" = [0.5, -0.1]',
            ["factor_supply.lab", "-0.1", "must be a finite number >= 0"],
        ),
    ],
)
def test_a_bad_factor_supply_sweep_is_named(folder: Path, sweep: str, fragments) -> None:
    with pytest.raises(ScenarioError) as err:
        load_batch(_batch(folder, "bad", sweep))
    message = str(err.value)
    assert "bad.toml:" in message and "[sweep]" in message
    for fragment in fragments:
        assert fragment in message


UNCERTAIN_LAB = """[uncertainty]
method = "montecarlo"
draws = 3
seed = 4

[uncertainty.factor_supply.lab]
distribution = "uniform"
lower = 0.1
upper = 0.9
"""


def test_a_drawn_eta_is_the_scenario_written_with_that_eta(folder: Path) -> None:
    """An uncertain eta draws the [factor_supply] line's value itself: each draw gives the
    equilibrium of the scenario written with it (1e-10), and runs.csv lists the draws under
    the sweep key's name."""
    path = folder / "drawn.toml"
    path.write_text(f'[batch]\nname = "drawn"\nscenario = "scenario.toml"\n\n{UNCERTAIN_LAB}')
    batch = load_batch(path)
    runs = expand(batch)
    draws = [run.multipliers["factor_supply.lab"] for run in runs]
    assert len(set(draws)) == 3 and all(0.1 <= d <= 0.9 for d in draws)
    for run, eta in zip(runs[:2], draws, strict=False):
        swept = solve_loaded(apply_run(batch.scenario, run), decompose=False)
        lines = f"cap = 0.3\nlab = {eta!r}\n[factor_supply.R3]\nlab = 0.2"
        written = solve_scenario(_scenario_with(folder, "drawn-written", lines))
        np.testing.assert_array_equal(swept.resolved.sam.eta, written.resolved.sam.eta)
        np.testing.assert_allclose(swept.scen.x, written.scen.x, rtol=0, atol=1e-10)
    out = folder / "drawn-out"
    result = run_batch(path, out, workers=1)
    assert [o.status for o in result.outcomes] == ["solved"] * 3
    table = pd.read_csv(out / "runs.csv")
    by_run = table.groupby("id")["factor_supply.lab"].first()
    assert by_run.to_dict() == pytest.approx(
        {run.id: eta for run, eta in zip(runs, draws, strict=True)}
    )


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            UNCERTAIN_LAB.replace("factor_supply.lab]", "factor_supply.land]"),
            ["unknown factor or region 'land'", "lab, cap, res, R1, R2, R3"],
        ),
        (
            UNCERTAIN_LAB.replace("factor_supply.lab]", "factor_supply.R3.land]"),
            ["unknown factor 'land'"],
        ),
        (UNCERTAIN_LAB + 'scope = "scale"\n', ["unknown scope 'scale'", "allowed: value"]),
        (UNCERTAIN_LAB.replace("lower = 0.1", "lower = -0.1"), ["0 <= lower < upper"]),
        (
            '[sweep]\n"factor_supply.lab" = [0.2]\n' + UNCERTAIN_LAB,
            ["factor_supply.lab is both swept and uncertain"],
        ),
    ],
)
def test_a_bad_uncertain_eta_is_named(folder: Path, text: str, fragments) -> None:
    path = folder / "bad-drawn.toml"
    path.write_text(f'[batch]\nname = "bad"\nscenario = "scenario.toml"\n\n{text}')
    with pytest.raises(ScenarioError) as err:
        load_batch(path)
    message = str(err.value)
    assert "bad-drawn.toml:" in message
    for fragment in fragments:
        assert fragment in message, message
