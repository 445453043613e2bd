"""Ctrl-C stops every command promptly: exit status 130, one line, no traceback, no result.

Each command runs as the real command line in a subprocess, through a small launcher that
announces on stderr when the step under test begins (Ipopt about to run, or the command's
main step); SIGINT is sent once that line is read, never after a guessed delay. The solves
interrupted here are ones that take minutes (a transfer of 1e12 to one region), so a prompt
exit shows the interrupt, not the end of the solve.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fragcge.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
STOP = 20.0
"""Seconds allowed between SIGINT and the exit: the goal is one or two; the hard solve runs
for minutes."""
START = 120.0
"""Seconds allowed for a command to reach the step under test."""
IPOPT = "fragcge.model.solve:run_ipopt"
"""Its second call: the hard scenario's solve (the first solves the benchmark baseline)."""

LAUNCHER = """
import sys, time
import {module} as target
from fragcge.cli import main

original = target.{function}
calls = []

def announced(*args, **kwargs):
    calls.append(1)
    if len(calls) == {call}:
        print("test: step begins", file=sys.stderr, flush=True)
    if {block}:
        while True:  # a step that takes long: Ctrl-C must end it
            time.sleep(0.05)
    return original(*args, **kwargs)

target.{function} = announced
sys.exit(main(sys.argv[1:]))
"""

HARD = """[scenario]
name = "hard"
title = "A transfer no equilibrium absorbs: Ipopt runs for minutes"
data = "wiod2011_10x8"

[[shock]]
instrument = "transfer"
values = {USA = 1e12}
absorb = "CHN"
"""


def _interrupt(
    folder: Path, target: str, argv: list[str], call: int = 1, block: bool = False
) -> tuple[int, str, float]:
    """Run fragcge argv in folder, announce the call-th call of target (module:function),
    made to last for ever if block, and send SIGINT once it is announced; the exit status,
    stderr and the seconds from SIGINT to exit."""
    module, function = target.split(":")
    launcher = folder / "launch.py"
    text = LAUNCHER.format(module=module, function=function, call=call, block=block)
    launcher.write_text(text)
    proc = subprocess.Popen(
        [sys.executable, str(launcher), *argv],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from an interactive shell, whatever the test runner's own SIGINT disposition
        # (ignored when it was started in the background by a script).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = []
        deadline = time.monotonic() + START
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if line == "test: step begins\n" or not line:
                break
        if lines[-1] != "test: step begins\n":
            proc.kill()
            pytest.fail(f"the command never reached {target}:\n{''.join(lines)}")
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=STOP * 6)
        return proc.returncode, "".join(lines[:-1]) + err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _assert_stopped(code: int, err: str, seconds: float) -> None:
    assert code == 130, f"exit status {code}\n{err}"
    assert "Traceback" not in err, err
    said = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(said) == 1, err
    assert seconds < STOP, f"stopped {seconds:.1f} s after SIGINT\n{err}"


def _no_folder_but(folder: Path, expected: set[str]) -> None:
    """Nothing in folder (hidden temporary folders included) besides the expected names."""
    left = {p.name for p in folder.iterdir()} - expected
    assert not left, f"left behind: {sorted(left)}"


def test_ctrl_c_during_ipopt_stops_solve(tmp_path) -> None:
    (tmp_path / "hard.toml").write_text(HARD)
    argv = ["solve", "hard.toml", "--out", "out"]
    code, err, seconds = _interrupt(tmp_path, IPOPT, argv, call=2)
    _assert_stopped(code, err, seconds)
    _no_folder_but(tmp_path, {"hard.toml", "launch.py"})


def test_ctrl_c_during_ipopt_stops_appendix(tmp_path) -> None:
    (tmp_path / "hard.toml").write_text(HARD)
    argv = ["appendix", "hard.toml", "--out", "appendix"]
    code, err, seconds = _interrupt(tmp_path, IPOPT, argv, call=2)
    _assert_stopped(code, err, seconds)
    results = tmp_path / "appendix" / "results"
    assert not results.exists() or not any(results.iterdir()), sorted(results.iterdir())


def test_ctrl_c_during_ipopt_stops_a_one_worker_batch(tmp_path) -> None:
    (tmp_path / "hard.toml").write_text(HARD)
    (tmp_path / "b.toml").write_text(
        '[batch]\nname = "b"\nscenario = "hard.toml"\n\n'
        '[sweep]\n"elasticities.esubm.scale" = [1.0]\n'
    )
    argv = ["batch", "b.toml", "--out", "out"]
    code, err, seconds = _interrupt(tmp_path, IPOPT, argv, call=2)
    _assert_stopped(code, err, seconds)
    runs = tmp_path / "out" / "runs"
    assert not runs.exists() or not any(runs.iterdir()), sorted(runs.iterdir())


@pytest.mark.parametrize(
    ("target", "argv"),
    [
        ("fragcge.model.checks:run_checks", ["check"]),
        ("fragcge.calibration.summary:summary", ["data", "show", "wiod2011_10x8"]),
        ("fragcge.reports.result_folders:load_result", ["report", "result", "--out", "report"]),
    ],
    ids=["check", "data-show", "report"],
)
def test_ctrl_c_stops_other_commands_with_one_line(tmp_path, target, argv) -> None:
    """Ctrl-C in the main step of a command that does not solve a scenario."""
    if argv[0] == "report":
        (tmp_path / "result").mkdir()  # never read: the step under test is entered first
    code, err, seconds = _interrupt(tmp_path, target, argv, block=True)
    _assert_stopped(code, err, seconds)
    assert not (tmp_path / "report").exists()


def test_the_command_line_sets_up_ctrl_c_before_it_imports_the_solver() -> None:
    """Until main() has installed its handler, Ctrl-C prints Python's traceback; the command
    line module must therefore load none of the heavy libraries (seconds of imports) itself."""
    heavy = ("casadi", "cyipopt", "numpy", "pandas", "pyomo", "scipy", "matplotlib")
    code = (
        "import sys, fragcge.cli\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_ctrl_c_while_from_result_writes_its_dataset(tmp_path) -> None:
    """Ctrl-C once the dataset's temporary folder holds its tables (its README is being
    written): exit 130, no dataset folder and no temporary folder left."""
    shutil.copy(SCENARIOS / "baseline.toml", tmp_path)
    assert main(["solve", str(tmp_path / "baseline.toml"), "--out", str(tmp_path / "result")]) == 0
    argv = ["data", "from-result", "result", "--out", "new"]
    code, err, seconds = _interrupt(tmp_path, "fragcge.from_result:readme", argv, block=True)
    _assert_stopped(code, err, seconds)
    _no_folder_but(tmp_path, {"baseline.toml", "launch.py", "result"})


RISK = """[risk]
name = "r"

[[world]]
name = "one"
scenario = "baseline.toml"

[[event]]
name = "quota"
probability = 0.1

[[event.shock]]
instrument = "ntb"
from = "CHN"
to = "JPN"
rate = 0.1
"""


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("fragcge.from_result:readme", {"risk.toml", "baseline.toml", "launch.py", "out"}),
        ("fragcge.batch:_solve_task", {"risk.toml", "baseline.toml", "launch.py", "out"}),
    ],
    ids=["writing-a-world", "solving-an-event"],
)
def test_ctrl_c_stops_risk(tmp_path, target, expected) -> None:
    """Ctrl-C while a world's dataset is written (no world folder is left) or while an
    event is solved in the command's process (the tables of the runs solved are written)."""
    shutil.copy(SCENARIOS / "baseline.toml", tmp_path)
    (tmp_path / "risk.toml").write_text(RISK)
    argv = ["risk", "risk.toml", "--out", "out"]
    code, err, seconds = _interrupt(tmp_path, target, argv, block=True)
    _assert_stopped(code, err, seconds)
    _no_folder_but(tmp_path, expected)
    out = tmp_path / "out"
    if target.endswith("readme"):
        worlds = out / "worlds"
        assert not worlds.exists() or not any(worlds.iterdir()), sorted(worlds.iterdir())
        assert not (out / "risk.csv").exists()
    else:
        assert (out / "worlds" / "one" / "dataset.toml").is_file()
        assert (out / "risk.csv").is_file() and (out / "failures.csv").is_file()
        runs = out / "runs"
        assert not runs.exists() or not any(runs.iterdir()), sorted(runs.iterdir())
