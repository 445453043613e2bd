"""fragcge never loses a user's file: it replaces or deletes only folders it wrote itself.

Every case of issue 8's "data loss" list, in a temporary folder: the target or the current
folder holds a user's files, and after the command every one of them is still there, byte
for byte, with nothing added (no hidden half-written folder either).
"""

from __future__ import annotations

import errno
import os
import pathlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fragcge import output_folder
from fragcge.batch import run_batch
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.cli import main
from fragcge.errors import OutputError, ScenarioError
from fragcge.output_folder import MARKER, claim, locked
from fragcge.reports.report import write_report
from fragcge.reports.result_folders import load_result
from fragcge.results import write_run

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
FRIENDSHORING = SCENARIOS / "friendshoring.toml"
BATCH = (
    f'[batch]\nname = "b"\nscenario = "{FRIENDSHORING.as_posix()}"\n\n'
    '[sweep]\n"shock.1.rate" = [0.3]\n'
)


def _user_files(folder: Path) -> dict[str, bytes]:
    """A user's folder: a thesis, a subfolder with a figure, a hidden file."""
    files = {
        "thesis.tex": b"\\documentclass{article}\n",
        "figures/map.png": bytes(range(256)),
        ".git/HEAD": b"ref: refs/heads/main\n",
    }
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return files


def _contents(folder: Path) -> dict[str, bytes]:
    """Every file under folder, hidden ones included, by relative path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run(shipped_run):
    return shipped_run("friendshoring")


# ---- case 1: --out DIR is a user's folder -----------------------------------------------


def test_solve_out_refuses_a_folder_it_did_not_write(tmp_path, capsys) -> None:
    mydocs = tmp_path / "mydocs"
    mydocs.mkdir()
    files = _user_files(mydocs)
    assert main(["solve", str(FRIENDSHORING), "--out", str(mydocs)]) == 2
    err = capsys.readouterr().err
    assert f"{mydocs} is a folder fragcge did not write" in err and "Traceback" not in err
    assert _contents(mydocs) == files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mydocs"]


def test_solve_out_dot_refuses_the_current_folder(tmp_path, monkeypatch, capsys) -> None:
    files = _user_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["solve", str(FRIENDSHORING), "--out", "."]) == 2
    err = capsys.readouterr().err
    assert "is the current folder" in err and "Traceback" not in err
    assert _contents(tmp_path) == files


def test_write_run_refuses_a_user_folder(run, tmp_path) -> None:
    files = _user_files(tmp_path)
    with pytest.raises(OutputError, match="fragcge did not write"):
        write_run(run, tmp_path / "figures")
    assert _contents(tmp_path) == files


def test_out_that_is_a_file_is_a_named_error(tmp_path, capsys) -> None:
    target = tmp_path / "notes.txt"
    target.write_bytes(b"keep me\n")
    assert main(["solve", str(FRIENDSHORING), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"{target} is a file, not a folder" in err and "Traceback" not in err
    assert _contents(tmp_path) == {"notes.txt": b"keep me\n"}


# ---- case 2: a scenario's name is the folder --------------------------------------------


@pytest.mark.parametrize("name", ["..", "."])
def test_scenario_names_dot_and_dotdot_are_refused(tmp_path, monkeypatch, capsys, name) -> None:
    files = _user_files(tmp_path)
    earlier = tmp_path / "results" / "earlier"
    earlier.mkdir(parents=True)
    (earlier / "welfare.csv").write_bytes(b"region,ev\n")
    files["results/earlier/welfare.csv"] = b"region,ev\n"
    scenario = tmp_path / "dots.toml"
    scenario.write_text(f'[scenario]\nname = "{name}"\ndata = "wiod2011_10x8"\n')
    files["dots.toml"] = scenario.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert main(["solve", "dots.toml"]) == 2
    err = capsys.readouterr().err
    assert "dots.toml" in err and f"{name!r} names the results folder" in err
    assert _contents(tmp_path) == files


def test_batch_name_dotdot_is_refused(tmp_path) -> None:
    batch = tmp_path / "b.toml"
    batch.write_text(f'[batch]\nname = ".."\nscenario = "{FRIENDSHORING.as_posix()}"\n')
    with pytest.raises(ScenarioError, match="'..' names the results folder"):
        run_batch(batch)


# ---- case 3: appendix --out . at a project's root ---------------------------------------


def test_appendix_out_dot_leaves_the_project_alone(tmp_path, monkeypatch, capsys) -> None:
    files = _user_files(tmp_path)
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "mine.toml").write_bytes(b"# my scenario\n")
    (tmp_path / "comparison").mkdir()
    (tmp_path / "comparison" / "notes.md").write_bytes(b"# notes\n")
    files.update({"scenarios/mine.toml": b"# my scenario\n", "comparison/notes.md": b"# notes\n"})
    monkeypatch.chdir(tmp_path)
    assert main(["appendix", str(SCENARIOS / "baseline.toml"), "--out", "."]) == 2
    err = capsys.readouterr().err
    assert "is the current folder" in err and "Traceback" not in err
    assert _contents(tmp_path) == files


def test_appendix_refuses_a_user_folder(tmp_path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    files = _user_files(mine)
    assert main(["appendix", str(SCENARIOS / "baseline.toml"), "--out", str(mine)]) == 2
    assert f"{mine} is a folder fragcge did not write" in capsys.readouterr().err
    assert _contents(mine) == files


# ---- the rule: fragcge's own folders are replaced whole ---------------------------------


def test_a_result_folder_is_replaced_whole_and_only_it(run, tmp_path) -> None:
    out = tmp_path / "out"
    write_run(run, out)
    first = _contents(out)
    (out / "stale.csv").write_bytes(b"from an earlier version\n")
    write_run(run, out)
    assert _contents(out) == first  # replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_result_folder_from_before_markers_is_replaced(run, tmp_path) -> None:
    out = tmp_path / "out"
    write_run(run, out)
    first = _contents(out)
    (out / MARKER).unlink()  # as fragcge wrote results before the marker existed
    write_run(run, out)
    assert _contents(out) == first


def test_full_disk_leaves_the_earlier_result_and_no_half_folder(run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_run(run, out)
    first = _contents(out)
    write_text = pathlib.Path.write_text

    def full_disk(self, *args, **kwargs):
        if self.name == "manifest.json":  # after the tables: a half-written folder exists
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full_disk)
    with pytest.raises(OutputError, match=f"cannot write {out}: No space left on device"):
        write_run(run, out)
    assert _contents(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_rename_into_place_puts_the_earlier_result_back(run, tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_run(run, out)
    first = _contents(out)
    rename = pathlib.Path.rename

    def refused(self, target):
        if Path(target) == out:  # the new folder into place, after the old one moved aside
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(target))
        return rename(self, target)

    monkeypatch.setattr(pathlib.Path, "rename", refused)
    with pytest.raises(OutputError, match=f"cannot write {out}: Input/output error"):
        write_run(run, out)
    assert _contents(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_read_only_parent_is_a_named_error(run, tmp_path, monkeypatch, capsys) -> None:
    # As root (the test container) permissions do not bind: the refusal is simulated where
    # the operating system gives it, creating the temporary folder.
    def refused(prefix, dir):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), dir)

    monkeypatch.setattr(output_folder.tempfile, "mkdtemp", refused)
    out = tmp_path / "readonly" / "out"
    with pytest.raises(OutputError, match=f"cannot write {out}: Permission denied"):
        write_run(run, out)
    assert not out.exists()


def test_stale_temporary_folders_of_dead_writers_are_cleaned(run, tmp_path) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead, live = int(ended.stdout), os.getpid()
    host = output_folder.socket.gethostname()
    stale = tmp_path / f".out.fragcge-tmp-{host}-{dead}-abc"
    busy = tmp_path / f".out.fragcge-tmp-{host}-{live}-def"
    other = tmp_path / f".out.fragcge-tmp-otherhost-{dead}-ghi"
    for folder in (stale, busy, other):
        folder.mkdir()
        (folder / "welfare.csv").write_bytes(b"half\n")
    write_run(run, tmp_path / "out")
    assert not stale.exists()
    assert busy.exists() and other.exists()  # a live writer's, another machine's


def test_report_replaces_its_own_folder_and_refuses_others(run, tmp_path) -> None:
    write_run(run, tmp_path / "result")
    result = load_result(tmp_path / "result")
    mine = tmp_path / "mine"
    mine.mkdir()
    files = _user_files(mine)
    with pytest.raises(OutputError, match="fragcge did not write"):
        write_report([result], mine, ["csv"])
    assert _contents(mine) == files
    report = tmp_path / "report"
    items = write_report([result], report, ["md"])
    assert all(f.is_file() and report in f.parents for item in items for f in item.files)
    (report / "tables" / "old.md").write_bytes(b"stale\n")
    write_report([result], report, ["csv"])
    assert not list(report.glob("tables/*.md"))


def test_write_dataset_refuses_a_user_folder_and_replaces_its_own(tmp_path) -> None:
    files = _user_files(tmp_path)
    with pytest.raises(OutputError, match="fragcge did not write"):
        write_dataset(synthetic_sam(), tmp_path)
    assert _contents(tmp_path) == files
    write_dataset(synthetic_sam(), tmp_path / "data")
    write_dataset(synthetic_sam(seed=3), tmp_path / "data")
    assert load_dataset(tmp_path / "data").digest == _written_digest(tmp_path, seed=3)


def _written_digest(tmp_path: Path, seed: int) -> str:
    write_dataset(synthetic_sam(seed=seed), tmp_path / "fresh")
    return load_dataset(tmp_path / "fresh").digest


def test_batch_refuses_a_user_folder_before_solving(tmp_path) -> None:
    files = _user_files(tmp_path)
    batch = tmp_path / "b.toml"
    batch.write_text(BATCH)
    files["b.toml"] = batch.read_bytes()
    with pytest.raises(OutputError, match="fragcge did not write"):
        run_batch(batch, tmp_path)
    assert _contents(tmp_path) == files


# ---- two batches into one folder ----------------------------------------------------------

HOLDER = """
import sys
import time
from fragcge.output_folder import locked
with locked(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_batch_into_a_locked_folder_names_the_holder(tmp_path) -> None:
    out = claim(tmp_path / "out", "batch")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        batch = tmp_path / "b.toml"
        batch.write_text(BATCH)
        with pytest.raises(
            OutputError,
            match=f"{out} is being written by another fragcge process \\(pid {holder.pid}\\)",
        ):
            run_batch(batch, out)
        assert not (out / "runs").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder died without releasing anything: its lock went with it.
    with locked(out):
        pass


HARD = """[scenario]
name = "hard"
data = "wiod2011_10x8"

[[shock]]
instrument = "transfer"
values = {USA = 1e12}
absorb = "CHN"
"""


def test_two_batch_commands_into_one_folder(tmp_path, capsys) -> None:
    """The second `fragcge batch` into a folder a running batch holds solves nothing."""
    (tmp_path / "hard.toml").write_text(HARD)
    batch = tmp_path / "b.toml"
    batch.write_text(
        '[batch]\nname = "b"\nscenario = "hard.toml"\n\n[sweep]\n"elasticities.esubm.scale" = '
        "[1.0]\n"
    )
    out = tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-m", "fragcge", "batch", str(batch), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock = out / output_folder.LOCK
        deadline = time.monotonic() + 120
        while not (lock.is_file() and lock.read_text().strip() == str(first.pid)):
            assert first.poll() is None, f"the first batch ended with status {first.returncode}"
            assert time.monotonic() < deadline, "the first batch never took the lock"
            time.sleep(0.05)
        assert main(["batch", str(batch), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"{out} is being written by another fragcge process (pid {first.pid})" in err
        assert first.poll() is None  # the first batch goes on
    finally:
        first.kill()
        first.wait()
