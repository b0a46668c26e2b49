"""Keep a task attempt's output in the datastore, wherever the task runs.

:func:`task_log` captures the process's stdout and stderr at the file-descriptor
level while an attempt runs: file descriptors 1 and 2 are pointed at pipes, and
a thread per pipe copies every chunk to the original descriptor (so the terminal,
Airflow's task log, the pod's log or CloudWatch still show it) and keeps it.
Output of ``print``, of child processes and of C extensions is kept alike. When
the attempt ends, also when it fails, the kept output (stdout and stderr
interleaved as they arrived) is stored in one put at
:meth:`~provider.datastore.flowstore.FlowDataStore.log_key`, where
``Task.stdout`` reads it.

The runtime is the one writer of a task's log for every executor: the local
executor only prefixes and shows the lines it reads from the task's pipes.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from typing import TextIO

from provider.datastore.flowstore import FlowDataStore

#: the most output kept per attempt; beyond it the oldest output is dropped
MAX_LOG_BYTES = 32 * 1024 * 1024
#: how long to wait, after the step, for output still in the pipes (a child process the
#: step left running keeps a pipe open; its later output is shown but not kept)
DRAIN_SECONDS = 2.0


class _Kept:
    """Output chunks in arrival order, at most :data:`MAX_LOG_BYTES` of the newest."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.dropped = 0
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self.lock:
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size > MAX_LOG_BYTES and len(self.chunks) > 1:
                old = self.chunks.popleft()
                self.size -= len(old)
                self.dropped += len(old)

    def data(self) -> bytes:
        with self.lock:
            head = b""
            if self.dropped:
                head = f"[airstep: the first {self.dropped} bytes of output were dropped]\n"
                head = head.encode()
            return head + b"".join(self.chunks)


class _Tee:
    """Points one file descriptor at a pipe; a thread copies the pipe to the old target."""

    def __init__(self, fd: int, kept: _Kept) -> None:
        self.fd = fd
        self.kept = kept
        try:
            self.saved: int | None = os.dup(fd)
        except OSError:  # a process started without this descriptor: keep, pass nothing on
            self.saved = None
            null = os.open(os.devnull, os.O_WRONLY)  # takes the free number, not the pipe
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        self.read_end = read_end
        self.thread = threading.Thread(target=self._copy, name=f"airstep-tee-{fd}", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        passing = self.saved is not None
        while chunk := _read(self.read_end):
            self.kept.add(chunk)
            if passing:
                passing = _write_all(self.saved, chunk)  # type: ignore[arg-type]
        # this thread owns both ends: it may outlive finish() while a child holds the pipe
        os.close(self.read_end)
        if self.saved is not None:
            os.close(self.saved)

    def restore(self) -> None:
        """Give the descriptor its old target back; the pipe ends when no process writes to it."""
        if self.saved is None:
            os.close(self.fd)
        else:
            os.dup2(self.saved, self.fd)

    def finish(self, deadline: float) -> None:
        self.thread.join(timeout=deadline)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def _write_all(fd: int, data: bytes) -> bool:
    """Pass output on; False once the old target is gone (the output is still kept)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        return False
    return True


def _text_stream(fd: int) -> TextIO:
    """A text stream on a descriptor, so ``print`` reaches it whatever ``sys.stdout`` was."""
    binary = open(fd, "wb", buffering=0, closefd=False)  # noqa: SIM115 - lives as long as the tee
    return io.TextIOWrapper(
        binary, encoding="utf-8", errors="replace", line_buffering=True, write_through=True
    )


class TaskLog:
    """The output of one attempt while it runs; :meth:`note` adds text for the log alone."""

    def __init__(self) -> None:
        self.kept = _Kept()

    def note(self, text: str) -> None:
        """Keep ``text`` in the stored log without showing it (e.g. a traceback that the
        caller prints after the attempt)."""
        self.kept.add(text.encode("utf-8", errors="replace"))

    def data(self) -> bytes:
        return self.kept.data()


@contextlib.contextmanager
def task_log(
    store: FlowDataStore, run_id: str, step: str, task_id: str, attempt: int
) -> Iterator[TaskLog]:
    """Capture the attempt's stdout and stderr, then store them, also when the attempt fails."""
    log = TaskLog()
    streams = (sys.stdout, sys.stderr)
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()
    tees = [_Tee(1, log.kept), _Tee(2, log.kept)]
    sys.stdout, sys.stderr = _text_stream(1), _text_stream(2)
    try:
        yield log
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = streams
        for tee in tees:
            tee.restore()
        for tee in tees:
            tee.finish(DRAIN_SECONDS)
        key = store.log_key(run_id, step, task_id, attempt)
        try:
            store.storage.put_bytes(key, log.data())
        except Exception as exc:  # noqa: BLE001 - the step's own outcome matters more
            print(
                f"airstep: the output of task {store.flow_name}/{run_id}/{step}/{task_id} "
                f"(attempt {attempt}) could not be stored at {store.root}/{key}: {exc}",
                file=sys.stderr,
            )
