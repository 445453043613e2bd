"""A Dask worker's state across the tasks it is given, made by a WorkerPlugin at setup.

Its own module because it imports Dask distributed, an optional extra: only the Dask
executor (:mod:`fragcge.executors`) imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed import WorkerPlugin, get_worker

PLUGIN_NAME = "fragcge-worker-state"
"""The name the plugin is registered under on every worker."""


class WorkerState(WorkerPlugin):
    """Makes the worker's state with ``make_state`` when the worker sets the plugin up
    (workers joining later included)."""

    def __init__(self, make_state: Callable[[], Any]) -> None:
        self.make_state = make_state
        self.state: Any = None

    def setup(self, worker: Any) -> None:
        self.state = self.make_state()


def with_worker_state(fn: Callable[..., Any], *args: Any) -> Any:
    """fn(state, *args) with the state of the worker this task runs on."""
    return fn(get_worker().plugins[PLUGIN_NAME].state, *args)
