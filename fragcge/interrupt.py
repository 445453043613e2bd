"""Ctrl-C (SIGINT) that stops fragcge promptly, even while Ipopt runs.

Python raises KeyboardInterrupt at the next line of Python code after the signal; inside
Ipopt that is one of the model's callbacks, and cyipopt and CasADi turn an exception there
into a failed evaluation that Ipopt steps around, so Ctrl-C went unnoticed. Here the
signal is also noted in a flag: :func:`requested` tells code that can stop cleanly (the
solver's intermediate callback makes Ipopt return), and while a :func:`deferred` block
runs the handler only notes it, and KeyboardInterrupt is raised when the block ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = {"seen": False, "deferring": 0}


def requested() -> bool:
    """Whether Ctrl-C was pressed since the outermost :func:`caught` block began."""
    return bool(_state["seen"])


def _handle(signum: int, frame: object) -> None:
    _state["seen"] = True
    if not _state["deferring"]:
        raise KeyboardInterrupt


@contextmanager
def caught() -> Iterator[None]:
    """Note Ctrl-C in the flag :func:`requested` reads, and raise KeyboardInterrupt as Python
    does. Only in the main thread, and only over Python's own handler (a program that set
    its own keeps it); blocks nest."""
    install = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if not install:
        yield
        return
    _state["seen"] = False
    previous = signal.signal(signal.SIGINT, _handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def deferred() -> Iterator[None]:
    """Around C code that swallows exceptions raised in its Python callbacks (Ipopt): Ctrl-C
    only sets the flag, and KeyboardInterrupt is raised when the block ends."""
    with caught():
        _state["deferring"] += 1
        try:
            yield
        except Exception as exc:
            # The C code may have turned the interrupt into an error of its own.
            if requested() and _state["deferring"] == 1:
                raise KeyboardInterrupt from exc
            raise
        finally:
            _state["deferring"] -= 1
        if requested() and not _state["deferring"]:
            raise KeyboardInterrupt
