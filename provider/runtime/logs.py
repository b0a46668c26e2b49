"""Keep a task attempt's output in the datastore, wherever the task runs.

:func:`task_log` captures the process's stdout and stderr at the file-descriptor
level while an attempt runs: file descriptors 1 and 2 are pointed at pipes, and
a small *tee* thread copies every chunk to the original descriptor (so
the terminal, Airflow's task log, the pod's log or CloudWatch still show it) and
to a spool file of its stream (made when the stream first has output). Output of
``print``, of child processes and of C extensions is kept alike. When the attempt
ends, also when it fails, each stream's kept output is stored in one put at
:meth:`~provider.datastore.flowstore.FlowDataStore.log_key`, where ``Task.stdout``
and ``Task.stderr`` read it; a stream without output stores nothing.

The tee is a low-level thread (``_thread``), not a ``threading.Thread``, and no
process: starting it costs microseconds, signals still reach the step's main
thread, and ``threading.active_count()`` does not count it, so code that forks
only when it has no other threads (``parallel_map``, data loaders) still forks.
It only selects, reads and writes, holding no lock a forked child could inherit,
and it ends when no process writes to its pipes any more.

An executor that reads the task's output itself says so
(``TaskRequest.capture_output=False``) and stores it, each stream apart: the local
executor does, since it reads the task's pipes to show the lines anyway, and then
also keeps what a task wrote just before its process was killed.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import select
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

from provider.datastore.flowstore import FlowDataStore
from provider.processes.streams import MAX_LOG_BYTES, text_stream

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


@contextlib.contextmanager
def task_log(
    store: FlowDataStore, run_id: str, step: str, task_id: str, attempt: int
) -> Iterator[TaskLog]:
    """Capture the attempt's stdout and stderr, then store them, also when the attempt fails."""
    log = TaskLog()
    streams = (sys.stdout, sys.stderr)
    _flush(streams)
    saved = [_dup(1), _dup(2)]
    pipes = [os.pipe(), os.pipe()]
    tee = _Tee([r for r, _ in pipes], saved)
    for fd, (_, write_end) in zip((1, 2), pipes, strict=True):
        os.dup2(write_end, fd)
        os.close(write_end)
    sys.stdout, sys.stderr = text_stream(1), text_stream(2)
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
        tee.finish(DRAIN_SECONDS)
        for old in saved:
            if old is not None:
                os.close(old)
        kept = {"stdout": tee.kept(pipes[0][0]), "stderr": tee.kept(pipes[1][0])}
        kept["stderr"] += b"".join(log.notes)
        for stream, data in kept.items():
            if data:  # a silent stream stores nothing (Task.stdout reads "")
                _store(store, run_id, step, task_id, attempt, stream, data)


def _store(
    store: FlowDataStore,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int,
    stream: str,
    data: bytes,
) -> None:
    key = store.log_key(run_id, step, task_id, attempt, stream)
    try:
        store.storage.put_bytes(key, data)
    except Exception as exc:  # noqa: BLE001 - the step's own outcome matters more
        print(
            f"airstep: the {stream} of task {store.flow_name}/{run_id}/{step}/{task_id} "
            f"(attempt {attempt}) could not be stored at {store.root}/{key}: {exc}",
            file=sys.stderr,
        )


class _Tee:
    """Copies each pipe to its old target and to a spool of its own, on a low-level thread,
    until every writer has closed the pipe (or :meth:`finish` gives up waiting for one)."""

    def __init__(self, sources: list[int], targets: list[int | None]) -> None:
        self._copies = dict(zip(sources, targets, strict=True))
        self._spools: dict[int, int] = {}
        self._stop_r, self._stop_w = os.pipe()
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, ())

    def finish(self, seconds: float) -> None:
        """Wait for the copying to end; after ``seconds`` (a process the step left running
        still holds a pipe) stop it, so the attempt ends and leaves nothing of its own."""
        if not self._done.acquire(timeout=seconds):
            os.write(self._stop_w, b"x")
            self._done.acquire()
        os.close(self._stop_w)

    def kept(self, source: int) -> bytes:
        """What came through ``source`` (its last MAX_LOG_BYTES); call after :meth:`finish`."""
        spool = self._spools.pop(source, None)
        if spool is None:
            return b""
        try:
            return _tail(spool, MAX_LOG_BYTES)
        finally:
            os.close(spool)

    def _run(self) -> None:
        copies = self._copies
        try:
            while copies:
                ready, _, _ = select.select([*copies, self._stop_r], [], [])
                if self._stop_r in ready:
                    break
                for source in ready:
                    try:
                        chunk = os.read(source, _CHUNK)
                    except OSError:
                        chunk = b""
                    if not chunk:
                        os.close(source)
                        del copies[source]
                        continue
                    if source not in self._spools:
                        self._spools[source] = _spool_file()
                    _write_all(self._spools[source], chunk)
                    target = copies[source]
                    if target is not None and not _write_all(target, chunk):
                        copies[source] = None  # the old target is gone; keep the output still
        finally:
            for source in copies:
                os.close(source)
            os.close(self._stop_r)
            self._done.release()


def _spool_file() -> int:
    """An unnamed temporary file, read back through its descriptor: nothing is left behind."""
    folder = tempfile.gettempdir()
    with contextlib.suppress(OSError, AttributeError):  # O_TMPFILE: Linux, where supported
        return os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o600)
    fd, path = tempfile.mkstemp(prefix="airstep-log-", dir=folder)
    os.unlink(path)
    return fd


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
