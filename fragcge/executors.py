"""Where a batch's runs are solved: this process, local worker processes, or a Dask cluster.

Each executor submits a function with its arguments, waits for the first of a set of
futures to finish, and closes; the local pool can also be restarted after one of its
processes died. Dask is imported only when asked for: it is an optional extra.

Every worker keeps a state across the tasks it is given (the batch's models and baselines),
made by the executor's ``make_state`` when the worker starts: by :class:`Inline` for this
process, by the pool's initializer in each local process, by a WorkerPlugin on each Dask
worker. A task ``fn(*args)`` runs as ``fn(state, *args)`` with its worker's state.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from fragcge.errors import FragcgeError

DASK_EXTRA = "pip install 'fragcge[dask]'"


MakeState = Callable[[], Any]
"""What makes a worker's state when the worker starts (e.g. an empty model cache)."""


class Executor(Protocol):
    """What the batch needs of an executor; ``submit(fn, *args)`` runs fn(state, *args)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def wait(self, futures: Iterable[Any]) -> set[Any]: ...

    def restart(self) -> None: ...

    def close(self, cancel: bool = False) -> None: ...


class Inline:
    """One worker: the tasks run in this process, one per wait, in the order submitted, with
    the state this executor holds."""

    def __init__(self, make_state: MakeState) -> None:
        self.queue: dict[Future, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
        self.state = make_state()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue fn(state, *args); it runs when a wait reaches it."""
        future: Future = Future()
        self.queue[future] = (fn, args)
        return future

    def wait(self, futures: Iterable[Future]) -> set[Future]:
        """Run the first queued task among futures; its future, finished."""
        future = next(f for f in futures if f in self.queue)
        fn, args = self.queue.pop(future)
        try:
            future.set_result(fn(self.state, *args))
        except Exception as exc:
            future.set_exception(exc)
        return {future}

    def restart(self) -> None:
        """Nothing to restart: a crash here ends the batch itself."""

    def close(self, cancel: bool = False) -> None:
        """Drop the tasks not run."""
        self.queue.clear()


class Processes:
    """Local worker processes, spawned (not forked: the parent may hold Ipopt and threads)."""

    def __init__(self, workers: int, make_state: MakeState) -> None:
        self.workers = workers
        self.make_state = make_state
        self.pool = self._new()

    def _new(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_start_process,
            initargs=(os.getpid(), self.make_state),
        )

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Queue fn(state, *args) for the next free worker."""
        return self.pool.submit(_with_process_state, fn, *args)

    def wait(self, futures: Iterable[Future]) -> set[Future]:
        """The futures finished once the first of them is."""
        return wait(list(futures), return_when=FIRST_COMPLETED).done

    def restart(self) -> None:
        """A fresh pool after a worker died: the old one refuses new tasks."""
        if getattr(self.pool, "_broken", False):
            # The pool has stopped its other workers already; waiting only reaps them.
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = self._new()

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down; on cancel, stop the workers too, mid-run: a run folder appears
        whole or not at all, and Ctrl-C should not wait for every queued run to finish."""
        if cancel:
            # Python 3.14 has ProcessPoolExecutor.terminate_workers; before it, the processes.
            processes = list((getattr(self.pool, "_processes", None) or {}).values())
            for process in processes:
                process.kill()
            for process in processes:
                process.join()
            # A worker killed while it sent a result leaves half a message in the pool's
            # result pipe, and the pool's manager thread would wait for the rest for ever,
            # since this process holds the pipe's write end too: closing that end, now that
            # no worker is left, gives the thread end-of-file and lets the pool shut down.
            writer = getattr(getattr(self.pool, "_result_queue", None), "_writer", None)
            if writer is not None:
                writer.close()
        self.pool.shutdown(wait=True, cancel_futures=cancel)


_process_state: Any = None
"""A local worker process's state: the slot the pool's initializer fills, read by its tasks."""


def _start_process(parent: int, make_state: MakeState) -> None:
    """The pool's initializer: end with the batch process, and make this worker's state."""
    global _process_state
    end_with_parent(parent)
    _process_state = make_state()


def _with_process_state(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(_process_state, *args)


PR_SET_PDEATHSIG = 1
"""prctl option: the signal a process receives when its parent thread ends (linux/prctl.h)."""


PARENT_POLL = 0.5
"""Seconds between a worker's checks that the batch process that started it still runs."""


def end_with_parent(parent: int) -> None:
    """In a worker process: end it when the process ``parent`` ends, even by SIGKILL, which
    gives the pool no chance to stop its workers (they would go on solving queued runs).

    Linux ends it from the kernel (PR_SET_PDEATHSIG); elsewhere, and should that be
    unavailable, a daemon thread polls the parent's pid. The multiprocessing resource
    tracker exits by itself once the parent and every worker have closed its pipe.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent ended before the line above
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)


class Dask:
    """A Dask distributed cluster: one at ``scheduler`` (tcp://host:port) or a LocalCluster."""

    def __init__(self, workers: int, scheduler: str | None, make_state: MakeState) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise FragcgeError(
                f"the dask executor needs Dask distributed, an optional extra: {DASK_EXTRA}"
            ) from None
        self.cluster = None
        self.submitted: set[Any] = set()
        """Futures not yet seen finished: Dask keeps a result while a future refers to it."""
        if scheduler is None:
            # One thread per worker: a solve holds its process's Ipopt; loopback only, and no
            # dashboard, which would need bokeh and a port.
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        try:
            self.client = Client(self.cluster if scheduler is None else scheduler, timeout=30)
        except OSError as exc:
            raise FragcgeError(f"no Dask scheduler answered at {scheduler}: {exc}") from None
        from fragcge import dask_state

        # Each worker, present or joining later, makes its state when the plugin is set up.
        self.client.register_plugin(dask_state.WorkerState(make_state), name=dask_state.PLUGIN_NAME)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Send fn(state, *args) to the cluster; pure=False: every run is solved, none
        deduplicated."""
        from fragcge.dask_state import with_worker_state

        future = self.client.submit(with_worker_state, fn, *args, pure=False)
        self.submitted.add(future)
        return future

    def wait(self, futures: Iterable[Any]) -> set[Any]:
        """The futures finished once the first of them is."""
        from distributed import wait as dask_wait

        done = set(dask_wait(list(futures), return_when="FIRST_COMPLETED").done)
        self.submitted -= done
        return done

    def restart(self) -> None:
        """Dask reschedules a dead worker's tasks itself."""

    def close(self, cancel: bool = False) -> None:
        """Disconnect, and stop the LocalCluster if this executor started it. On cancel, the
        tasks not started are dropped; Dask does not stop a running task, so on a cluster of
        someone else's, runs being solved still finish and write their folders."""
        if cancel:
            self.client.cancel(list(self.submitted))
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(
    name: str, workers: int, scheduler: str | None, make_state: MakeState
) -> Executor:
    """The executor a batch asked for: local (inline for one worker) or dask, each worker with
    its state made by ``make_state``."""
    if name == "dask" or scheduler is not None:
        return Dask(workers, scheduler, make_state)
    return Inline(make_state) if workers == 1 else Processes(workers, make_state)
