"""A step's ``@timeout``: the one clock for user code, in every executor.

:func:`step_deadline` raises :class:`~provider.exceptions.StepTimeout` in the step at
the deadline, fails the attempt even when the step swallows it, and (through a
watchdog thread) stops the step's child processes when the step is blocked in one.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from provider.exceptions import StepTimeout
from provider.flow.graph import StepNode
from provider.processes.proc import descendants, kill_all

#: seconds a step gets past its @timeout to end on its own before its child processes are killed
TIMEOUT_GRACE = 2.0


@contextlib.contextmanager
def step_deadline(node: StepNode) -> Iterator[None]:
    """The step's @timeout, the one clock for user code: StepTimeout at the deadline, and the
    attempt fails with it even when the step catches it. A step blocked in a child process
    (``os.system`` does not return to Python until its child ends) has that child killed once
    the grace is over; after that, StepTimeout is raised again each grace period until the
    step ends. A caller's own alarm (Airflow's execution_timeout, which falls later) is paused
    meanwhile, then armed with what it has left."""
    deco = node.decorators.get("timeout")
    if deco is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    seconds = deco.total_seconds
    message = (
        f"Step *{node.name}* timed out after {seconds:g} s (its @timeout); raise the "
        "@timeout or make the step faster."
    )
    deadline = time.monotonic() + seconds
    watch = _Watchdog(deadline)
    expired = False

    def expire(signum: int, frame: Any) -> None:
        nonlocal expired
        expired = True
        if not watch.step_ended:
            raise StepTimeout(message)

    watch.start()
    previous = signal.signal(signal.SIGALRM, expire)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    began = time.monotonic()
    try:
        yield
    except Exception as exc:
        watch.step_ended = True
        if (expired or time.monotonic() >= deadline) and not isinstance(exc, StepTimeout):
            raise StepTimeout(message) from exc
        raise
    else:
        watch.step_ended = True
        if expired or time.monotonic() >= deadline:
            raise StepTimeout(message)  # the step caught it, or it came in the last instant
    finally:
        watch.stop()  # it sends no signal once this returns
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            left = max(outer - (time.monotonic() - began), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


class _Watchdog:
    """Past the deadline and its grace: kill the step's child processes, so a call blocked on
    one returns, and raise StepTimeout in the step again (SIGALRM); each grace period until the
    step ends.

    A low-level thread, waiting on a lock of its own: a process the step forks inherits no
    lock another thread holds, and ``threading.active_count()``, which parallel_map reads
    to choose between forking and spawning its workers, does not count it.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.step_ended = False
        self._main = threading.get_ident()
        self._stop = _thread.allocate_lock()
        self._stopped = _thread.allocate_lock()

    def start(self) -> None:
        self._stop.acquire()
        self._stopped.acquire()
        _thread.start_new_thread(self._watch, ())

    def stop(self) -> None:
        self.step_ended = True
        self._stop.release()
        self._stopped.acquire()  # the thread has ended

    def _watch(self) -> None:
        try:
            wait = self.deadline + TIMEOUT_GRACE - time.monotonic()
            while not self._stop.acquire(timeout=max(wait, 0.0)):
                kill_all(descendants(os.getpid()))
                if not self.step_ended:
                    signal.pthread_kill(self._main, signal.SIGALRM)
                wait = TIMEOUT_GRACE
        finally:
            self._stopped.release()
