"""Processes on this machine, read from Linux's ``/proc``: descendants, groups, liveness.

The runtime stops the child processes of a step that outlived its ``@timeout``,
the process pool stops what a task left running in its process group, and the
client tells a run or attempt whose process died from one still running
(:mod:`provider.processes.liveness`). Where
there is no ``/proc`` (macOS) nothing is found, and a recorded process that
exists counts as running.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass

#: seconds of disagreement allowed between a record's clock and a process's start time
_CLOCK_SLACK = 2.0


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    #: one letter, as ``ps`` shows it: "R" running, "S" sleeping, "Z" zombie (ended, not reaped)
    state: str
    ppid: int
    pgid: int
    #: clock ticks after boot
    start_ticks: int


def process_info(pid: int) -> ProcessInfo | None:
    """What ``/proc/<pid>/stat`` says; None when the process (or ``/proc``) does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    # the command name may hold spaces and parentheses: the fields follow the last ")"
    fields = data[data.rindex(")") + 2 :].split()
    return ProcessInfo(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[19]))


def all_processes() -> list[ProcessInfo]:
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for name in names:
        if name.isdigit() and (info := process_info(int(name))) is not None:
            found.append(info)
    return found


def descendants(pid: int) -> list[int]:
    """Live processes below ``pid``: its children, their children, and so on."""
    children: dict[int, list[int]] = {}
    for info in all_processes():
        if info.state != "Z":
            children.setdefault(info.ppid, []).append(info.pid)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def group_members(pgids: set[int]) -> dict[int, list[int]]:
    """The live (not zombie) processes of each process group in ``pgids`` that has any."""
    members: dict[int, list[int]] = {}
    for info in all_processes():
        if info.pgid in pgids and info.state != "Z":
            members.setdefault(info.pgid, []).append(info.pid)
    return {pgid: sorted(pids) for pgid, pids in members.items()}


def kill_all(pids: list[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def is_running(pid: int, started_by: float | None = None) -> bool:
    """Whether process ``pid`` runs (a zombie has ended).

    With ``started_by`` (when a record of the process was written, ``time.time()``),
    a process that started after it is another one that got the same pid: not running.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    info = process_info(pid)
    if info is None:
        return True  # no /proc to say more: the pid exists
    if info.state in ("Z", "X"):
        return False
    if started_by is not None:
        boot = _boot_time()
        if boot is not None:
            started = boot + info.start_ticks / os.sysconf("SC_CLK_TCK")
            return started <= started_by + _CLOCK_SLACK
    return True


def this_host() -> str:
    return socket.gethostname()


def recorded_process_gone(host: str | None, pid: int | None, since: float) -> bool:
    """Whether the process a record names (``pid`` on ``host``, alive at ``since``) has ended.

    Only a process on this host can be checked: one elsewhere, or a record that names
    none, is not known to be gone.
    """
    if host is None or pid is None or host != this_host():
        return False
    return not is_running(pid, started_by=since)


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None
