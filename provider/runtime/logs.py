"""Keep a task attempt's output in the datastore, wherever the task runs.

:func:`task_log` captures the process's stdout and stderr at the file-descriptor
level while an attempt runs: file descriptors 1 and 2 are pointed at pipes, and
a small forked *tee* process copies every chunk to the original descriptor (so
the terminal, Airflow's task log, the pod's log or CloudWatch still show it) and
to a spool file. Output of ``print``, of child processes and of C extensions is
kept alike. When the attempt ends, also when it fails, the kept output (stdout
and stderr interleaved as they arrived) is stored in one put at
:meth:`~provider.datastore.flowstore.FlowDataStore.log_key`, where
``Task.stdout`` reads it.

Why a process and not a thread: the step's process stays single-threaded, so
code that forks only when it has no other threads (``parallel_map``, data
loaders) still forks. The tee process only reads, writes and selects; it ignores
SIGINT and SIGTERM so that a step stopping on a signal can still write, and it
ends when no process writes to its pipes any more.

The runtime is the one writer of a task's log for every executor: the local
executor only prefixes and shows the lines it reads from the task's pipes.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import NoReturn, TextIO

from provider.datastore.flowstore import FlowDataStore

#: the most output kept per attempt; beyond it the oldest output is dropped
MAX_LOG_BYTES = 32 * 1024 * 1024
#: how long to wait, after the step, for output still in the pipes (a child process the
#: step left running keeps a pipe open; its later output is shown but not kept)
DRAIN_SECONDS = 2.0
_CHUNK = 65536


class TaskLog:
    """The output of one attempt while it runs; :meth:`note` adds text for the log alone."""

    def __init__(self) -> None:
        self.notes: list[bytes] = []

    def note(self, text: str) -> None:
        """Keep ``text`` in the stored log without showing it (e.g. a traceback that the
        caller prints after the attempt)."""
        self.notes.append(text.encode("utf-8", errors="replace"))


#: the tee processes of the attempts under way in this process
_TEES: set[int] = set()


def log_processes() -> frozenset[int]:
    """The processes that keep this process's output (a timeout must not stop them)."""
    return frozenset(_TEES)


@contextlib.contextmanager
def task_log(
    store: FlowDataStore, run_id: str, step: str, task_id: str, attempt: int
) -> Iterator[TaskLog]:
    """Capture the attempt's stdout and stderr, then store them, also when the attempt fails."""
    log = TaskLog()
    streams = (sys.stdout, sys.stderr)
    _flush(streams)
    spool, spool_path = tempfile.mkstemp(prefix="airstep-log-")
    os.unlink(spool_path)  # read back through the descriptor; nothing is left behind
    saved = [_dup(1), _dup(2)]
    pipes = [os.pipe(), os.pipe()]
    tee = os.fork()
    if tee == 0:
        _tee([r for r, _ in pipes], saved, spool)
    _TEES.add(tee)
    for fd, (read_end, write_end) in zip((1, 2), pipes, strict=True):
        os.dup2(write_end, fd)
        os.close(write_end)
        os.close(read_end)
    sys.stdout, sys.stderr = _text_stream(1), _text_stream(2)
    try:
        yield log
    finally:
        _flush((sys.stdout, sys.stderr))
        sys.stdout, sys.stderr = streams
        for fd, old in zip((1, 2), saved, strict=True):
            if old is None:
                os.close(fd)
            else:
                os.dup2(old, fd)
                os.close(old)
        _wait(tee, DRAIN_SECONDS)
        _TEES.discard(tee)
        data = _tail(spool, MAX_LOG_BYTES) + b"".join(log.notes)
        os.close(spool)
        key = store.log_key(run_id, step, task_id, attempt)
        try:
            store.storage.put_bytes(key, data)
        except Exception as exc:  # noqa: BLE001 - the step's own outcome matters more
            print(
                f"airstep: the output of task {store.flow_name}/{run_id}/{step}/{task_id} "
                f"(attempt {attempt}) could not be stored at {store.root}/{key}: {exc}",
                file=sys.stderr,
            )


def _tee(sources: list[int], targets: list[int | None], spool: int) -> NoReturn:
    """The tee process: copy each pipe to its old target and to the spool, until both end."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _close_all_but({*sources, *(t for t in targets if t is not None), spool})
        copies = dict(zip(sources, targets, strict=True))
        while copies:
            ready, _, _ = select.select(list(copies), [], [])
            for source in ready:
                try:
                    chunk = os.read(source, _CHUNK)
                except OSError:
                    chunk = b""
                if not chunk:
                    del copies[source]
                    continue
                _write_all(spool, chunk)
                target = copies[source]
                if target is not None and not _write_all(target, chunk):
                    copies[source] = None  # the old target is gone; keep the output still
    finally:
        os._exit(0)


def _close_all_but(keep: set[int]) -> None:
    """Close every descriptor the tee does not use (a socket it held would look open)."""
    low = 0
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def _dup(fd: int) -> int | None:
    """A copy of ``fd`` to restore later; None when the process was started without it (the
    number is then taken by /dev/null, so that no pipe end gets it)."""
    try:
        return os.dup(fd)
    except OSError:
        null = os.open(os.devnull, os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        return None


def _write_all(fd: int, data: bytes) -> bool:
    """Write everything; False once the descriptor is gone."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        return False
    return True


def _wait(pid: int, seconds: float) -> None:
    """Reap the tee once its pipes have ended. A process the step left running keeps them
    open: after ``seconds`` the tee is stopped, so the attempt ends and leaves nothing of
    its own behind (what the step left is its executor's to stop)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # reaped already (SIGCHLD ignored, or the step's own wait)
            return
        if done:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return
        time.sleep(0.002)


def _tail(fd: int, limit: int) -> bytes:
    """The spool's last ``limit`` bytes, with a note of what was dropped before them."""
    size = os.fstat(fd).st_size
    start = max(0, size - limit)
    parts = []
    offset = start
    while offset < size and (chunk := os.pread(fd, min(size - offset, 1 << 20), offset)):
        parts.append(chunk)
        offset += len(chunk)
    head = f"[airstep: the first {start} bytes of output were dropped]\n".encode() if start else b""
    return head + b"".join(parts)


def _flush(streams: tuple[TextIO, TextIO]) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()


def _text_stream(fd: int) -> TextIO:
    """A text stream on a descriptor, so ``print`` reaches it whatever ``sys.stdout`` was."""
    binary = open(fd, "wb", buffering=0, closefd=False)  # noqa: SIM115 - lives with the capture
    return io.TextIOWrapper(
        binary, encoding="utf-8", errors="replace", line_buffering=True, write_through=True
    )
