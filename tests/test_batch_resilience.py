"""A batch survives Ctrl-C and a killed worker: no completed run is lost, and rerunning the
same command resumes it, skipping the runs whose scenario hash already has a result.

Every batch here is the real command line in a subprocess. Each scenario (a worker killed,
Ctrl-C with two workers and with one) runs once per module, in a fixture that records what
the command left behind; the tests then check one property each, so that a failure names
the property that broke.
"""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psutil
import pytest

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
KEY = "shock.1.rate"
RATES = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
POLL = 0.05
WAIT = 90.0
"""Seconds allowed for the runs a test waits for before it signals the batch."""
EXIT = 120.0
"""Seconds allowed for a batch to exit."""
TABLES = ("summary.csv", "sweep.csv", "failures.csv")

Snapshot = dict[str, dict[str, bytes]]
"""Run folder name -> file name -> bytes."""


def _write_batch(folder: Path) -> Path:
    path = folder / "rates.toml"
    scenario = (SCENARIOS / "friendshoring.toml").as_posix()
    values = ", ".join(str(rate) for rate in RATES)
    path.write_text(
        f'[batch]\nname = "rates"\nscenario = "{scenario}"\n\n[sweep]\n"{KEY}" = [{values}]\n',
        encoding="utf-8",
    )
    return path


def _command(batch: Path, out: Path, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "fragcge",
        "batch",
        str(batch),
        "--workers",
        str(workers),
        "--out",
        str(out),
    ]


@dataclass
class Session:
    """What one `fragcge batch` command printed and left in its output folder."""

    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    record: dict = field(repr=False)
    saved: dict[str, float] = field(repr=False)
    """Run folder -> swept value, for every run folder with a manifest.json."""
    partial: list[str] = field(repr=False)
    """Run folders (not hidden temporary ones) without a manifest.json."""
    tables: dict[str, bytes] = field(repr=False)

    def describe(self) -> str:
        return f"exit status {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def _run_folders(out: Path) -> list[Path]:
    """The run folders under out/runs, leaving out hidden ones (a run being written)."""
    runs = out / "runs"
    if not runs.is_dir():
        return []
    return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))


def _completed(out: Path) -> list[Path]:
    return [p for p in _run_folders(out) if (p / "manifest.json").is_file()]


def _snapshot(folders: list[Path]) -> Snapshot:
    return {p.name: {f.name: f.read_bytes() for f in sorted(p.iterdir())} for p in folders}


def _reread(out: Path, snapshot: Snapshot) -> Snapshot:
    """The same run folders read again (an empty entry for a folder that is gone)."""
    again: Snapshot = {}
    for name in snapshot:
        folder = out / "runs" / name
        again[name] = (
            {f.name: f.read_bytes() for f in sorted(folder.iterdir())} if folder.is_dir() else {}
        )
    return again


def _changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Runs whose folder lost, gained or changed a file, each with the files concerned."""
    changes = []
    for name, files in before.items():
        now = after.get(name, {})
        if not now:
            changes.append(f"{name[:8]}: folder gone")
        elif now != files:
            diff = sorted(f for f in files.keys() | now.keys() if files.get(f) != now.get(f))
            changes.append(f"{name[:8]}: {', '.join(diff)} changed")
    return changes


def _session(returncode: int, stdout: str, stderr: str, out: Path) -> Session:
    record_path = out / "batch.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    saved = {}
    for folder in _completed(out):
        manifest = json.loads((folder / "manifest.json").read_text())
        saved[folder.name] = manifest["batch"]["overrides"][KEY]
    partial = [p.name for p in _run_folders(out) if not (p / "manifest.json").is_file()]
    tables = {name: (out / name).read_bytes() for name in TABLES if (out / name).is_file()}
    return Session(returncode, stdout, stderr, record, saved, partial, tables)


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the batch process and every process it started (workers, resource tracker)."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    proc.kill()
    psutil.wait_procs(children, timeout=10)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def _started(batch: Path, out: Path, workers: int) -> Iterator[subprocess.Popen]:
    """The batch command running in the background; killed, with its workers, if still
    running when the block ends."""
    proc = subprocess.Popen(
        _command(batch, out, workers),
        cwd=batch.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # SIGINT as from an interactive shell: a test runner started in the background
        # (`cmd &` in a script) ignores SIGINT, the batch would inherit that and run to its end.
        preexec_fn=_default_sigint,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            _kill_tree(proc)
            proc.communicate(timeout=EXIT)


def _run(batch: Path, out: Path, workers: int) -> Session:
    """The batch command run to its end."""
    with _started(batch, out, workers) as proc:
        stdout, stderr = proc.communicate(timeout=EXIT)
    return _session(proc.returncode, stdout, stderr, out)


def _await_runs(proc: subprocess.Popen, out: Path, count: int) -> list[Path]:
    """Wait until at least count run folders have a manifest; their folders."""
    deadline = time.monotonic() + WAIT
    while True:
        done = _completed(out)
        if len(done) >= count:
            return done
        if proc.poll() is not None:
            stdout, stderr = proc.communicate()
            pytest.fail(
                f"the batch exited with status {proc.returncode} before {count} runs were "
                f"saved ({len(_completed(out))} were)\nstdout:\n{stdout}\nstderr:\n{stderr}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"{count} runs not saved within {WAIT:.0f} s ({len(done)} were)")
        time.sleep(POLL)


def _workers(proc: subprocess.Popen) -> list[psutil.Process]:
    """The local pool's worker processes: spawned children of the batch process, without
    multiprocessing's resource tracker."""
    deadline = time.monotonic() + WAIT
    while True:
        found = []
        for child in psutil.Process(proc.pid).children():
            try:
                cmdline = " ".join(child.cmdline())
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            if "spawn_main" in cmdline and "resource_tracker" not in cmdline:
                found.append(child)
        if found:
            return found
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail("no worker process of the batch's local pool was found to kill")
        time.sleep(POLL)


def _table(data: bytes, keys: list[str]) -> pd.DataFrame:
    table = pd.read_csv(io.BytesIO(data), keep_default_na=False)
    return table.sort_values(keys, kind="stable").reset_index(drop=True)


def _swept(session: Session) -> list[float]:
    """The swept values sweep.csv lists."""
    assert "sweep.csv" in session.tables, f"no sweep.csv was written\n{session.describe()}"
    return sorted(set(_table(session.tables["sweep.csv"], [KEY, "region"])[KEY]))


def _assert_matches_reference(session: Session, reference: Session) -> None:
    """sweep.csv and summary.csv equal the uninterrupted batch's up to the solver's
    tolerance (a resumed run may start from another point: the last digit may differ)."""
    for name, keys in (("sweep.csv", [KEY, "region"]), ("summary.csv", ["region"])):
        assert name in session.tables, f"no {name} was written\n{session.describe()}"
        pd.testing.assert_frame_equal(
            _table(session.tables[name], keys),
            _table(reference.tables[name], keys),
            check_exact=False,
            rtol=1e-7,
            atol=1e-6,
            obj=name,
        )


def _assert_counts(
    session: Session, runs: int | None, solved: int, skipped: int, failed: int
) -> None:
    """batch.json's counts (runs left out when None)."""
    record = session.record
    assert record, f"no batch.json was written\n{session.describe()}"
    want = {"solved": solved, "skipped": skipped, "failed": failed}
    if runs is not None:
        want["runs"] = runs
    got = {key: record.get(key) for key in want}
    assert got == want, f"batch.json counts {got}, expected {want}\n{session.describe()}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Session:
    """The same batch, uninterrupted."""
    folder = tmp_path_factory.mktemp("reference")
    session = _run(_write_batch(folder), folder / "out", workers=2)
    assert session.returncode == 0, session.describe()
    assert sorted(session.saved.values()) == list(RATES), session.describe()
    return session


# ---- a worker killed -------------------------------------------------------------------


@dataclass
class Killed:
    before: Snapshot = field(repr=False)
    """Run folders saved before the kill."""
    victim: int
    victim_gone: bool
    first: Session
    after_first: Snapshot = field(repr=False)
    rerun: Session
    after_rerun: Snapshot = field(repr=False)


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> Killed:
    """A 2-worker batch, one of whose worker processes is SIGKILLed once a run is saved;
    then the same command again."""
    folder = tmp_path_factory.mktemp("killed")
    batch, out = _write_batch(folder), folder / "out"
    with _started(batch, out, workers=2) as proc:
        before = _snapshot(_await_runs(proc, out, 1))
        victim = _workers(proc)[0]
        victim.kill()
        gone, _ = psutil.wait_procs([victim], timeout=10)
        stdout, stderr = proc.communicate(timeout=EXIT)
    first = _session(proc.returncode, stdout, stderr, out)
    after_first = _reread(out, before)
    rerun = _run(batch, out, workers=1)
    return Killed(before, victim.pid, bool(gone), first, after_first, rerun, _reread(out, before))


def test_killed_worker_does_not_crash_the_batch(killed) -> None:
    assert killed.victim_gone, f"worker {killed.victim} survived SIGKILL"
    first = killed.first
    assert "Traceback" not in first.stderr, first.describe()
    assert first.returncode in (0, 1), first.describe()


def test_killed_worker_loses_no_completed_run(killed) -> None:
    assert killed.before, "no run was saved before the kill"
    changes = _changed(killed.before, killed.after_first)
    assert not changes, "run folders saved before the kill were touched: " + "; ".join(changes)
    assert not killed.first.partial, f"run folders without a manifest: {killed.first.partial}"


def test_killed_worker_accounts_for_every_run(killed) -> None:
    """Each run is solved, or failed because a worker died; the tables and batch.json say so."""
    first = killed.first
    assert "failures.csv" in first.tables, f"no failures.csv was written\n{first.describe()}"
    failures = pd.read_csv(io.BytesIO(first.tables["failures.csv"]), keep_default_na=False)
    failed = [json.loads(text)[KEY] for text in failures["overrides"]]
    solved = sorted(first.saved.values())
    assert sorted(solved + failed) == list(RATES), (
        f"solved {solved} and failed {failed} are not the batch's runs {list(RATES)}\n"
        + first.describe()
    )
    for message in failures["message"]:
        assert "died" in message, f"a run failed for another reason than a dead worker: {message}"
    assert first.returncode == (1 if failed else 0), first.describe()
    _assert_counts(first, len(RATES), len(solved), 0, len(failed))
    assert first.record["interrupted"] is False
    assert _swept(first) == solved


def test_killed_worker_solved_runs_match_an_uninterrupted_batch(killed, reference) -> None:
    first = killed.first
    if sorted(first.saved.values()) == list(RATES):
        _assert_matches_reference(first, reference)
    else:  # some runs failed: compare the rows of the solved ones
        ref = _table(reference.tables["sweep.csv"], [KEY, "region"])
        ref = ref[ref[KEY].isin(first.saved.values())].reset_index(drop=True)
        got = _table(first.tables["sweep.csv"], [KEY, "region"])
        pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-7, atol=1e-6)


def test_rerun_after_a_killed_worker_resumes(killed) -> None:
    rerun, before = killed.rerun, len(killed.first.saved)
    assert rerun.returncode == 0, rerun.describe()
    assert "Traceback" not in rerun.stderr, rerun.describe()
    _assert_counts(rerun, len(RATES), len(RATES) - before, before, 0)
    assert sorted(rerun.saved.values()) == list(RATES), rerun.describe()
    assert not rerun.partial, f"run folders without a manifest: {rerun.partial}"
    changes = _changed(killed.before, killed.after_rerun)
    assert not changes, "the rerun touched runs saved before the kill: " + "; ".join(changes)


# ---- Ctrl-C ------------------------------------------------------------------------------


@dataclass
class Interrupted:
    workers: int
    before: Snapshot = field(repr=False)
    """Run folders saved when SIGINT was sent."""
    first: Session
    after_first: Snapshot = field(repr=False)
    rerun: Session
    after_rerun: Snapshot = field(repr=False)


@pytest.fixture(scope="module", params=[2, 1], ids=lambda n: f"{n}-workers")
def interrupted(request, tmp_path_factory) -> Interrupted:
    """A batch sent SIGINT (the batch process alone) once two runs are saved; then the same
    command again."""
    workers = request.param
    folder = tmp_path_factory.mktemp(f"interrupted-{workers}")
    batch, out = _write_batch(folder), folder / "out"
    with _started(batch, out, workers) as proc:
        before = _snapshot(_await_runs(proc, out, 2))
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=EXIT)
    first = _session(proc.returncode, stdout, stderr, out)
    after_first = _reread(out, before)
    rerun = _run(batch, out, workers)
    return Interrupted(workers, before, first, after_first, rerun, _reread(out, before))


def test_ctrl_c_exits_130_and_says_how_to_resume(interrupted) -> None:
    first = interrupted.first
    assert "Traceback" not in first.stderr, first.describe()
    assert first.returncode == 130, first.describe()
    lines = [line for line in first.stderr.splitlines() if "interrupted" in line]
    assert lines, f"no 'interrupted' message\n{first.describe()}"
    assert "again" in lines[-1] and "resume" in lines[-1], lines[-1]


def test_ctrl_c_loses_no_completed_run(interrupted) -> None:
    first = interrupted.first
    assert len(interrupted.before) >= 2
    changes = _changed(interrupted.before, interrupted.after_first)
    assert not changes, "run folders saved before Ctrl-C were touched: " + "; ".join(changes)
    assert not first.partial, f"run folders without a manifest: {first.partial}"
    assert first.record.get("interrupted") is True, first.describe()


def test_ctrl_c_tables_list_exactly_the_saved_runs(interrupted) -> None:
    """After Ctrl-C, summary.csv, sweep.csv, batch.json and the message cover exactly the runs
    whose folders are in runs/ when the command has returned."""
    first, saved = interrupted.first, sorted(interrupted.first.saved.values())
    assert _swept(first) == saved, (
        f"sweep.csv lists {_swept(first)}, but runs/ holds the solved runs {saved}\n"
        + first.describe()
    )
    summary = _table(first.tables["summary.csv"], ["region"])
    counted = set(summary["runs"])
    assert counted == ({len(saved)} if saved else set()), (
        f"summary.csv counts {counted} runs; runs/ holds {len(saved)}\n" + first.describe()
    )
    _assert_counts(first, None, len(saved), 0, 0)
    told = re.search(r"interrupted: (\d+) of (\d+) runs are solved and saved", first.stderr)
    assert told, first.describe()
    assert int(told[2]) == len(RATES)
    assert int(told[1]) == len(saved), (
        f"the message says {told[1]} runs solved; runs/ holds {len(saved)}\n" + first.describe()
    )


def test_rerun_after_ctrl_c_resumes(interrupted) -> None:
    rerun, before = interrupted.rerun, len(interrupted.first.saved)
    assert rerun.returncode == 0, rerun.describe()
    assert "Traceback" not in rerun.stderr, rerun.describe()
    _assert_counts(rerun, len(RATES), len(RATES) - before, before, 0)
    assert rerun.record["interrupted"] is False
    assert sorted(rerun.saved.values()) == list(RATES), rerun.describe()
    assert not rerun.partial, f"run folders without a manifest: {rerun.partial}"
    changes = _changed(interrupted.before, interrupted.after_rerun)
    assert not changes, "the rerun touched runs saved before Ctrl-C: " + "; ".join(changes)


def test_resumed_tables_match_an_uninterrupted_batch(interrupted, reference) -> None:
    _assert_matches_reference(interrupted.rerun, reference)


# ---- the batch process killed ------------------------------------------------------------


def _ended(process: psutil.Process) -> bool:
    """Whether process has exited (a zombie has: only its entry waits to be reaped)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_sigkill_of_the_batch_ends_its_workers_and_resource_tracker(tmp_path) -> None:
    """SIGKILL gives the batch no chance to stop its pool: the workers and multiprocessing's
    resource tracker must notice their parent is gone and exit rather than solve on."""
    batch, out = _write_batch(tmp_path), tmp_path / "out"
    with _started(batch, out, workers=2) as proc:
        workers = _workers(proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        proc.wait(timeout=EXIT)
        deadline = time.monotonic() + EXIT
        while not all(_ended(child) for child in children) and time.monotonic() < deadline:
            time.sleep(POLL)
        left = [" ".join(child.cmdline()) for child in children if not _ended(child)]
        for child in children:  # whatever the outcome, nothing outlives the test
            if not _ended(child):
                child.kill()
    assert workers, "no worker process was found"
    assert not left, f"still running {EXIT:.0f} s after the batch was killed: {left}"
