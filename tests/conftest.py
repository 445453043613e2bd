"""Fixtures shared by the test files: the shipped scenarios, each solved once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fragcge.api import ModelCache, SolvedScenario, solve_loaded
from fragcge.baseline_store import CACHE_ENV
from fragcge.scenarios.load import load_scenario

SHIPPED_SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="session", autouse=True)
def baseline_cache_folder(tmp_path_factory) -> Path:
    """Solved baselines go to a folder of this session, never to the user's cache (worker
    processes inherit the variable)."""
    folder = tmp_path_factory.mktemp("fragcge-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        yield folder


@pytest.fixture(scope="session")
def shipped_run() -> Callable[[str], SolvedScenario]:
    """The solved run of a shipped scenario by name (``shipped_run("friendshoring")``), solved
    on first use and shared by every test of the session: tests read it, none may change it.

    One model cache serves them all, as in a batch: scenarios on the same data and closure
    share the model and the solved baseline (the same numbers as a fresh solve's).
    """
    cache = ModelCache()
    runs: dict[str, SolvedScenario] = {}

    def get(name: str) -> SolvedScenario:
        if name not in runs:
            runs[name] = solve_loaded(load_scenario(SHIPPED_SCENARIOS / f"{name}.toml"), cache)
        return runs[name]

    return get
