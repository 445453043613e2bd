"""Executors give each task the state of the worker that runs it, made once per worker by the
executor's make_state (the batch's model cache), not kept in a module global."""

from __future__ import annotations

import os

from fragcge.executors import Inline, Processes


def _remember(state: list, item: int) -> tuple[int, list]:
    """A task that adds to its worker's state and returns what the state holds then."""
    state.append(item)
    return os.getpid(), list(state)


def _run(executor, items: list[int]) -> list[tuple[int, list]]:
    out = []
    try:
        for item in items:
            (future,) = executor.wait([executor.submit(_remember, item)])
            out.append(future.result())
    finally:
        executor.close()
    return out


def test_inline_tasks_share_the_state_it_holds() -> None:
    inline = Inline(list)
    results = _run(inline, [1, 2, 3])
    assert [state for _, state in results] == [[1], [1, 2], [1, 2, 3]]
    assert inline.state == [1, 2, 3]


def test_each_worker_process_makes_its_state_once_and_keeps_it() -> None:
    results = _run(Processes(1, list), [1, 2, 3])
    (pid,) = {pid for pid, _ in results}
    assert pid != os.getpid()
    assert [state for _, state in results] == [[1], [1, 2], [1, 2, 3]]
