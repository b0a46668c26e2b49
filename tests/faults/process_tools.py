"""Helpers for the fault tests on processes: flows written to files, runs started the way a
user starts them, and checks that no process and no temp file is left behind."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path


def write_flow(folder: Path, name: str, source: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


class RunProcess:
    """``python flow.py ARGS`` with its output (stdout and stderr together) read by a thread."""

    def __init__(self, flow: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(flow), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.pid = self.proc.pid
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 30) -> list[re.Match[str]]:
        """The first ``count`` matches of ``pattern`` in the output, waiting for them."""
        found = [m for line in self.lines if (m := re.search(pattern, line))]
        deadline = time.monotonic() + timeout
        while len(found) < count:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                line = ""
            if not line:  # None: the output ended; "": the time is up
                if line is None:
                    self._queue.put(None)  # for wait()
                raise AssertionError(
                    f"{pattern!r} seen {len(found)} of {count} times; output:\n{self.output}"
                )
            self.lines.append(line)
            if m := re.search(pattern, line):
                found.append(m)
        return found[:count]

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def is_gone(pid: int) -> bool:
    """The process has ended: it does not exist, or is a zombie (only its exit status is
    left, for a parent to collect; this machine's init may never collect it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    """The pids still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if not is_gone(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_if_running(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid``, from /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(name))
    return found


def temp_files(root: Path) -> list[Path]:
    """Temp files of datastore writes under ``root``: spooled blobs and ``.tmp-*`` files."""
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name.startswith((".tmp-", ".blob-"))
    )
