"""A solve that cannot succeed stops with its diagnosis within its limits, a long solve says
how far it is, and the limits a result was solved under are in its manifest."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.cli import main
from fragcge.errors import SolveError
from fragcge.model import solve as solve_module
from fragcge.model.cge import CGEModel
from fragcge.model.shocks import ShockSet
from fragcge.model.solve import SolveLimits, solve

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
# No equilibrium exists: USA receives a transfer a million times its income. Without bounds
# this ran for more than 500 s.
HOPELESS = (
    '[scenario]\nname = "hopeless"\ndata = "wiod2011_10x8"\n\n'
    '[[shock]]\ninstrument = "transfer"\nvalues = { USA = 1e12 }\nabsorb = "CHN"\n'
)


def _model_and_target() -> tuple[CGEModel, np.ndarray, np.ndarray]:
    """A synthetic model, its benchmark θ and the θ of a shock one Ipopt iteration cannot
    solve."""
    sam = synthetic_sam(4, 3, seed=8)
    model = CGEModel(calibrate(sam))
    routes = sam.vxmd > 0
    bench = ShockSet.benchmark(sam)
    shock = replace(bench, tau=np.where(routes, 1.6, 1.0), tm=np.where(routes, 0.2, bench.tm))
    return model, model.theta_for(bench), model.theta_for(shock)


def test_hopeless_solve_stops_at_its_time_limit_and_writes_nothing(tmp_path, capsys) -> None:
    scenario = tmp_path / "hopeless.toml"
    scenario.write_text(HOPELESS)
    out = tmp_path / "out"
    assert main(["solve", str(scenario), "--out", str(out), "--time-limit", "0.001"]) == 1
    err = capsys.readouterr().err
    assert "No equilibrium was found" in err
    assert "The shock was solved up to 0.0% of its size; the step to 100.0% failed" in err
    assert "Gave up because the time budget of 0.001 s for one solve was used up" in err
    assert "max_wall_time 0.001 s per run, max_halvings 6, time_budget 0.001 s" in err
    assert "stopped at its max_wall_time" in err
    assert "inc_RA[USA]" in err or "inc_RA[CHN]" in err
    assert "No result files were written" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["hopeless.toml"]


def test_time_budget_ends_the_step_halving() -> None:
    """With no time left after the first failed run, no smaller step is tried."""
    model, theta0, target = _model_and_target()
    runs = []
    original = solve_module.run_ipopt

    def counted(*args, **kwargs):
        runs.append(1)
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solve_module, "run_ipopt", counted)
        with pytest.raises(SolveError, match="time budget of 1e-09 s for one solve was used up"):
            solve(
                model.system,
                model.evaluator,
                model.benchmark(),
                theta0,
                target,
                SolveLimits(time_budget=1e-9),
                options={"max_iter": 1},
            )
    assert len(runs) == 1


def test_step_halving_ends_at_max_halvings() -> None:
    model, theta0, target = _model_and_target()
    with pytest.raises(SolveError) as raised:
        solve(
            model.system,
            model.evaluator,
            model.benchmark(),
            theta0,
            target,
            SolveLimits(max_halvings=2),
            options={"max_iter": 1},
        )
    message = str(raised.value)
    assert "the step was halved 2 times (max_halvings) and still failed" in message
    assert "in the last of 3 attempts" in message  # steps of 1, 1/2, 1/4, all failing


@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan")])
def test_limits_must_be_positive_seconds(value: float) -> None:
    with pytest.raises(ValueError, match="must be a number of seconds > 0"):
        SolveLimits(time_budget=value)


def test_long_solve_reports_progress_and_short_one_does_not(monkeypatch) -> None:
    model, theta0, target = _model_and_target()
    lines: list[str] = []
    monkeypatch.setattr(solve_module, "PROGRESS_AFTER", 0.0)
    solve(model.system, model.evaluator, model.benchmark(), theta0, target, progress=lines.append)
    assert lines and all(" of the shock, Ipopt iteration " in line for line in lines)
    assert "largest violation" in lines[0] and lines[0].startswith("solving    100.0%")
    model, theta0, target = _model_and_target()
    quiet: list[str] = []
    monkeypatch.setattr(solve_module, "PROGRESS_AFTER", 1e9)
    solve(model.system, model.evaluator, model.benchmark(), theta0, target, progress=quiet.append)
    assert quiet == []


def test_bad_time_limit_on_the_command_line_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["solve", str(SCENARIOS / "friendshoring.toml"), "--time-limit", "0"])
    assert stop.value.code == 2
    assert "expected a number of seconds > 0, got '0'" in capsys.readouterr().err


def test_manifest_records_the_limits_the_run_was_solved_under(tmp_path) -> None:
    out = tmp_path / "out"
    argv = ["solve", str(SCENARIOS / "friendshoring.toml"), "--out", str(out)]
    assert main([*argv, "--time-limit", "100"]) == 0
    limits = json.loads((out / "manifest.json").read_text())["solver"]["limits"]
    assert limits == {"max_wall_time": 100.0, "max_halvings": 6, "time_budget": 100.0}
