"""The disk cache of solved baselines (fragcge/baseline_store.py): where it lives, that a
baseline from it gives the same tables as a solved one, and that a corrupt or wrong entry
is never trusted but solved again and rewritten."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fragcge import baseline_store
from fragcge.api import ModelCache, solve_loaded
from fragcge.baseline_store import CACHE_ENV, cache_folder
from fragcge.cli import main
from fragcge.scenarios.load import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """An empty cache folder of this test."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _entries(folder: Path) -> list[Path]:
    return sorted((folder / "baselines").glob("*.npz"))


def test_the_cache_folder_is_the_variable_or_xdg_or_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_folder() == tmp_path / "mine"
    monkeypatch.setenv(CACHE_ENV, "")
    assert cache_folder() is None
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "fragcge"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder() == tmp_path / "home" / ".cache" / "fragcge"


@pytest.mark.parametrize("solver", ["ipopt", "newton"])
def test_a_baseline_from_the_cache_gives_the_tables_of_a_solved_one(folder, solver) -> None:
    """Two processes' worth of solves (a new ModelCache each): the first solves the
    balanced-trade baseline and writes it, the second reads it, and every table is the
    same to the last bit; with Newton–Krylov the scenario's solve starts from the same
    factors either way (made again from where the baseline's solve made them)."""
    scenario = load_scenario(SCENARIOS / "friendshoring.toml")
    first = solve_loaded(scenario, ModelCache(), solver=solver)
    assert first.baseline_source == "solved" and len(_entries(folder)) == 1
    again = solve_loaded(scenario, ModelCache(), solver=solver)
    assert again.baseline_source == "disk cache"
    assert np.array_equal(again.base.x, first.base.x)
    assert np.array_equal(again.scen.x, first.scen.x)
    for name, table in first.tables.items():
        assert again.tables[name].equals(table), name
    if solver == "newton":
        assert again.scen.result.factorizations == first.scen.result.factorizations == 0
    # The same cache in memory: no disk read.
    cache = ModelCache()
    solve_loaded(scenario, cache, solver=solver, decompose=False)
    assert solve_loaded(scenario, cache, solver=solver, decompose=False).baseline_source == (
        "memory"
    )


def test_the_manifest_and_the_command_say_where_the_baseline_came_from(folder, tmp_path) -> None:
    scenario = str(SCENARIOS / "friendshoring-strategic.toml")
    sources = []
    for out in (tmp_path / "a", tmp_path / "b"):
        assert main(["solve", scenario, "--out", str(out)]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        sources.append(manifest["solver"]["baseline"]["source"])
        assert (out / "welfare.csv").read_bytes() == (tmp_path / "a" / "welfare.csv").read_bytes()
    assert sources == ["solved", "disk cache"]


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncated", "moved point", "other key"],
)
def test_a_bad_entry_is_ignored_solved_again_and_rewritten(folder, damage) -> None:
    scenario = load_scenario(SCENARIOS / "friendshoring.toml")
    first = solve_loaded(scenario, ModelCache(), decompose=False)
    (entry,) = _entries(folder)
    if damage == "garbage":
        entry.write_bytes(b"not a numpy file")
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-100])
    else:
        with np.load(entry) as stored:
            arrays = {name: stored[name] for name in stored.files}
        if damage == "moved point":
            # Still a valid file with the right key: only the residuals show it is wrong.
            arrays["x"] = arrays["x"] * 1.01
        else:
            record = json.loads(str(arrays["record"]))
            record["key"] = "0" * 64
            arrays["record"] = np.array(json.dumps(record))
        np.savez_compressed(entry, **arrays)
    damaged = entry.read_bytes()
    again = solve_loaded(scenario, ModelCache(), decompose=False)
    assert again.baseline_source == "solved"
    assert np.array_equal(again.base.x, first.base.x)
    assert entry.read_bytes() != damaged, "the entry is rewritten"
    # ... and read back by the next solve.
    assert solve_loaded(scenario, ModelCache(), decompose=False).baseline_source == "disk cache"


def test_what_the_baseline_depends_on_changes_the_key(folder) -> None:
    """Other elasticities (a batch's draw) and another closure are other baselines."""
    scenario = load_scenario(SCENARIOS / "friendshoring.toml")
    solve_loaded(scenario, ModelCache(), decompose=False)
    other = replace(scenario, closure="savings")
    assert solve_loaded(other, ModelCache(), decompose=False).baseline_source == "solved"
    assert len(_entries(folder)) == 2
    assert baseline_store.entry_key("a") != baseline_store.entry_key("b")


def test_an_unwritable_cache_warns_and_the_solve_goes_on(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    scenario = load_scenario(SCENARIOS / "friendshoring.toml")
    with pytest.warns(UserWarning, match="baseline cache was not written"):
        run = solve_loaded(scenario, ModelCache(), decompose=False)
    assert run.baseline_source == "solved" and blocker.read_text().startswith("a file")


def test_the_least_recently_used_entries_beyond_the_limit_go(folder, monkeypatch) -> None:
    """Writing an entry beyond MAX_ENTRIES deletes the oldest; a read counts as a use, and
    files not named as entries are left alone."""
    monkeypatch.setattr(baseline_store, "MAX_ENTRIES", 2)
    scenario = load_scenario(SCENARIOS / "friendshoring.toml")
    mine = folder / "baselines" / "notes.txt"
    runs = [replace(scenario, closure=c) for c in ("default", "savings", "gov-share")]
    solve_loaded(runs[0], ModelCache(), decompose=False)
    (first,) = _entries(folder)
    mine.write_text("not an entry")
    os.utime(mine, ns=(1, 1))
    solve_loaded(runs[1], ModelCache(), decompose=False)
    (second,) = set(_entries(folder)) - {first}
    os.utime(first, ns=(10**9, 10**9))
    os.utime(second, ns=(2 * 10**9, 2 * 10**9))
    # Reading the first makes it the most recently used.
    assert solve_loaded(runs[0], ModelCache(), decompose=False).baseline_source == "disk cache"
    solve_loaded(runs[2], ModelCache(), decompose=False)
    left = _entries(folder)
    assert len(left) == 2 and first in left and second not in left
    assert mine.read_text() == "not an entry"
