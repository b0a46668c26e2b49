"""An attempt whose process died before it could record how it ended: recorded here, once.

A task records its own end (its manifest, or a failed attempt with the exception). A
process killed by a signal, the out-of-memory killer or ``os._exit`` cannot: whoever
watched it (the local executor, a chunk, a gang, or the next attempt of the task) calls
:func:`process_ended` (or :func:`record_crash`), which turns an attempt still "running"
into a failed one with the cause and stores what the process printed before it died.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import AttemptRecord
from provider.exceptions import TaskCrashed
from provider.processes.spawn import TaskProcess


def record_crash(
    store: FlowDataStore,
    run_id: str,
    step: str,
    task_id: str,
    attempt: int,
    cause: str,
    *,
    pid: int | None = None,
    started_at: float | None = None,
) -> bool:
    """Record the attempt as failed (:class:`TaskCrashed`, ``cause``) unless it recorded its
    own end; True if this wrote the record."""
    record = store.read_attempt(run_id, step, task_id, attempt)
    if record is not None and record.status != "running":
        return False
    now = time.time()
    if record is None:
        record = AttemptRecord("failed", started_at or now, pid=pid)
    failed = replace(
        record,
        status="failed",
        finished_at=now,
        pid=pid if pid is not None else record.pid,
        exception=TaskCrashed.__name__,
        message=cause,
    )
    store.write_attempt(run_id, step, task_id, attempt, failed)
    return True


def keep_output(
    store: FlowDataStore,
    run_id: str,
    process: TaskProcess,
    *,
    over_own: bool = False,
    on_error: Callable[[str, str, Exception], None] | None = None,
) -> None:
    """Store what the task's process printed, per stream, where the task keeps its output;
    a copy the task stored itself is kept unless ``over_own``. A stream that cannot be
    stored raises, or goes to ``on_error(stream, key, error)``."""
    for stream in process.output:
        data = process.kept(stream)
        key = store.log_key(run_id, process.step, process.task_id, process.attempt, stream)
        if not data or not (over_own or not store.storage.exists(key)):
            continue
        try:
            store.storage.put_bytes(key, data)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(stream, key, exc)


def process_ended(
    store: FlowDataStore,
    run_id: str,
    process: TaskProcess,
    *,
    on_error: Callable[[str, str, Exception], None] | None = None,
) -> None:
    """A task process ended: keep what it printed unless its task kept it (the task was told
    to leave that to its parent, or it died first), and if it died before recording how its
    attempt ended, record the attempt as failed with what ended the process."""
    if not process.captured or process.status != 0:
        keep_output(store, run_id, process, over_own=not process.captured, on_error=on_error)
    if process.status == 0:
        return
    record_crash(
        store,
        run_id,
        process.step,
        process.task_id,
        process.attempt,
        process.ending,
        pid=process.pid,
        started_at=process.started_at,
    )
