"""A task's processes end with the task, and every task ends with its run.

Each task process leads a process group of its own (:func:`enter_task_group`, in
the forked child), so the run can signal the task and everything the step started
at once, as Metaflow does. The kernel SIGKILLs a task when the run process dies,
however it dies (``kill -9`` included), through the parent-death signal. While a
run lasts its process is a child subreaper: processes a task leaves behind become
its children, so it can stop them and reap them instead of leaving zombies.

Linux only (``prctl``); elsewhere a task still gets its process group, and the
rest does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from provider.processes.proc import group_members

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37


def _libc_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up once here (every task process calls it right after the
    fork, where a fresh lookup costs a quarter of a bare fork)."""
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True).prctl


_PRCTL = _libc_prctl()
_ZERO = ctypes.c_ulong(0)
_SIGKILL = ctypes.c_ulong(signal.SIGKILL)


def _prctl(option: int, arg: int | ctypes.c_int | ctypes.c_ulong) -> bool:
    if _PRCTL is None:
        return False
    if isinstance(arg, ctypes.c_int):
        value: Any = ctypes.byref(arg)
    else:
        value = arg if isinstance(arg, ctypes.c_ulong) else ctypes.c_ulong(arg)
    return _PRCTL(option, value, _ZERO, _ZERO, _ZERO) == 0


def enter_task_group(run_pid: int, death_signal: int = signal.SIGKILL) -> None:
    """In the forked task process: lead a new process group, and get ``death_signal`` when
    the run dies (SIGKILL: die with it; SIGTERM: stop, and take the group along)."""
    os.setpgid(0, 0)
    _prctl(_PR_SET_PDEATHSIG, _SIGKILL if death_signal == signal.SIGKILL else death_signal)
    if os.getppid() != run_pid:  # the run died before the signal was armed
        os._exit(1)


def adopt_task_group(pid: int) -> None:
    """In the run process, right after the fork: the same ``setpgid`` as the child's, so
    the group exists before either side goes on, whichever runs first."""
    with contextlib.suppress(OSError):  # the child already did it, or has already ended
        os.setpgid(pid, pid)


@contextlib.contextmanager
def reaping_orphans() -> Iterator[None]:
    """Make this process the reaper of its tasks' orphans while the block runs."""
    was = ctypes.c_int(0)
    _prctl(_PR_GET_CHILD_SUBREAPER, was)
    if not was.value:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        if not was.value:
            _prctl(_PR_SET_CHILD_SUBREAPER, 0)


def reap(pgid: int) -> int | None:
    """Reap the ended children in process group ``pgid``; return the leader's exit code
    (negative: the signal that killed it) if it was among them, else None."""
    code = None
    while True:
        try:
            pid, status = os.waitpid(-pgid, os.WNOHANG)
        except ChildProcessError:  # none left in the group; the leader may never have led it
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(pgid, os.WNOHANG)
                if pid == pgid:
                    code = os.waitstatus_to_exitcode(status)
            return code
        if pid == 0:
            return code
        if pid == pgid:
            code = os.waitstatus_to_exitcode(status)


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_exists(pgid: int) -> bool:
    """Whether any process (a zombie included) is in group ``pgid``: one system call."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(leaders: list[int], grace: float, say: Callable[[str], None]) -> dict[int, int]:
    """Stop every task process group: SIGTERM, then SIGKILL what is left after ``grace``
    seconds, or at once on a second Ctrl-C. Return the exit codes of the leaders reaped."""
    codes: dict[int, int] = {}

    def reap_all() -> set[int]:
        for pgid in leaders:
            code = reap(pgid)
            if code is not None:
                codes[pgid] = code
        return set(group_members(set(leaders)))

    for pgid in leaders:
        signal_group(pgid, signal.SIGTERM)
    try:
        _wait_until_gone(reap_all, grace)
    except KeyboardInterrupt:
        say("Interrupted again: killing every task process now.")
    finally:
        with _sigint_ignored():  # a third Ctrl-C must not leave the kill half done
            _wait_until_gone(reap_all, grace, kill=True)
            reap_all()
    return codes


def _wait_until_gone(left: Callable[[], set[int]], seconds: float, kill: bool = False) -> None:
    deadline = time.monotonic() + seconds
    while (groups := left()) and time.monotonic() < deadline:
        if kill:
            for pgid in groups:
                signal_group(pgid, signal.SIGKILL)
        time.sleep(0.02)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
