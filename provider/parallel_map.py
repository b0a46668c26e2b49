"""Map a function over items in forked worker processes (Metaflow-compatible API).

``parallel_map(func, items)`` returns ``[func(x) for x in items]`` computed by up to
``max_parallel`` (default ``os.cpu_count()``) worker processes;
``parallel_imap_unordered`` yields the same results in completion order.

Design
------
* Process management is ``multiprocessing.Pool`` with the *fork* start method. ``func``
  and the materialised items are registered in the module global ``_JOBS`` before the
  pool forks, so workers inherit them: ``func`` is never pickled (lambdas, closures and
  local functions work) and a task is only ``(job, start, stop)``, an index range
  chunked like ``Pool.map`` (about four chunks per worker).
* A chunk's results go back as one blob: stdlib ``pickle``, else ``cloudpickle``
  (instances of local classes, lambdas inside results, ...).
* A failing worker reports the item index, the exception (pickled if possible, else its
  type and message) and the formatted traceback. The parent terminates the pool at once
  (running items are killed, queued ones never start) and re-raises the original
  exception type with a note naming the item and the worker traceback as ``__cause__``.
* Workers reset SIGTERM to its default, so a handler inherited from the step process
  cannot keep them alive through ``Pool.terminate`` (which would hang the caller).
* A worker that dies outright (OOM kill, segfault, ``os._exit``) would make a plain Pool
  wait forever: it quietly replaces the worker and the chunk is lost. The initializer
  counts worker starts; more starts than workers means one died, and the parent raises
  ``RuntimeError`` instead of hanging.
* Forking a process that runs other threads can deadlock the child (a lock held by
  another thread at the fork, e.g. on stdout, is never released). So when the caller
  has other threads (``dag.test()``'s in-process API, a spot-notice poller, ...), the
  workers are *spawned* instead: ``func`` goes to them cloudpickled once, through the
  initializer, and each chunk carries its own cloudpickled items.
* Fewer than two items, ``max_parallel=1``, a daemonic caller (may not have children) or
  no fork support: the work runs in-process, with the same error note.
* Results travel through the pool's pipes, so no temporary files are written; ``dir``
  is accepted for Metaflow compatibility and unused.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import cloudpickle

__all__ = ["parallel_map", "parallel_imap_unordered"]

T = TypeVar("T")
R = TypeVar("R")

_JOBS: dict[int, tuple[Callable[[Any], Any], list[Any]]] = {}
_job_ids = itertools.count()
_POLL_SECONDS = 0.2  # how often the parent checks for dead workers while waiting


class _RemoteTraceback(Exception):
    """A worker's formatted traceback, attached as ``__cause__`` of the re-raised error."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


def _dumps(obj: Any) -> bytes:
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _attempt(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


def _add_item_note(exc: BaseException, index: int, item: Any) -> None:
    text = _attempt(repr, item) or "<unrepresentable>"
    if len(text) > 200:
        text = text[:197] + "..."
    exc.add_note(f"parallel_map: item {index} ({text}) failed")


def _encode_error(exc: BaseException) -> tuple[bytes | None, bytes | None, str, str]:
    tb = "".join(traceback.format_exception(exc))
    return _attempt(_dumps, exc), _attempt(_dumps, type(exc)), str(exc), tb


def _decode_error(payload: tuple[bytes | None, bytes | None, str, str]) -> BaseException:
    blob, kind, message, tb = payload
    exc = _attempt(pickle.loads, blob) if blob is not None else None
    if not isinstance(exc, BaseException) and kind is not None:
        # The exception itself would not round-trip (e.g. a custom __init__ signature):
        # rebuild an instance of the same type without calling __init__.
        cls = _attempt(pickle.loads, kind)
        exc = _attempt(cls.__new__, cls, message) if isinstance(cls, type) else None
        if isinstance(exc, BaseException):
            exc.args = (message,)
    if not isinstance(exc, BaseException):
        exc = RuntimeError(tb.strip().splitlines()[-1])
    exc.__cause__ = _RemoteTraceback(tb)
    return exc


def _init_worker(starts: Any, shipped: bytes | None = None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if shipped is not None:  # a spawned worker: the function comes by pickle
        _JOBS.update(cloudpickle.loads(shipped))
    with starts.get_lock():
        starts.value += 1


def _run_chunk(task: tuple[int, int, int, bytes | None]) -> tuple[str, int, Any]:
    job, start, stop, shipped_items = task
    func, items = _JOBS[job]
    if shipped_items is not None:
        chunk = cloudpickle.loads(shipped_items)
        items = {start + i: item for i, item in enumerate(chunk)}
    results = []
    index = start
    try:
        for index in range(start, stop):
            results.append(func(items[index]))
    except BaseException as exc:  # also SystemExit: a lost task would hang the pool
        return "err", index, _encode_error(exc)
    try:
        return "ok", start, _dumps(results)
    except Exception as exc:
        for offset, result in enumerate(results):  # name the unpicklable result
            try:
                _dumps(result)
            except Exception as item_exc:
                return "err", start + offset, _encode_error(item_exc)
        return "err", start, _encode_error(exc)


def _in_process(func: Callable[[Any], Any], items: list[Any]) -> Iterator[tuple[int, list]]:
    for index, item in enumerate(items):
        try:
            result = func(item)
        except Exception as exc:
            _add_item_note(exc, index, item)
            raise
        yield index, [result]


def _forked(
    func: Callable[[Any], Any], items: list[Any], workers: int
) -> Iterator[tuple[int, list]]:
    n = len(items)
    chunk, extra = divmod(n, workers * 4)
    chunk += bool(extra)
    job = next(_job_ids)
    bounds = [(start, min(start + chunk, n)) for start in range(0, n, chunk)]
    _JOBS[job] = (func, items)
    if threading.active_count() == 1:
        ctx, shipped = mp.get_context("fork"), None
        tasks = [(job, start, stop, None) for start, stop in bounds]
    else:  # forking a threaded process may deadlock the child: spawn clean workers
        ctx, shipped = mp.get_context("spawn"), cloudpickle.dumps({job: (func, None)})
        tasks = [(job, a, b, cloudpickle.dumps(items[a:b])) for a, b in bounds]
    starts = ctx.Value("i", 0)
    try:
        with ctx.Pool(workers, _init_worker, (starts, shipped)) as pool:  # __exit__ terminates
            results = pool.imap_unordered(_run_chunk, tasks)
            for _ in tasks:
                while True:
                    try:
                        status, index, payload = results.next(timeout=_POLL_SECONDS)
                        break
                    except mp.TimeoutError:
                        if starts.value > workers:
                            raise RuntimeError(
                                "parallel_map: a worker process died unexpectedly "
                                "(killed or crashed); its items were lost"
                            ) from None
                if status == "err":
                    exc = _decode_error(payload)
                    _add_item_note(exc, index, items[index])
                    raise exc
                yield index, pickle.loads(payload)
    finally:
        _JOBS.pop(job, None)


def _run(
    func: Callable[[Any], Any], iterable: Iterable[Any], max_parallel: int | None
) -> Iterator[tuple[int, list]]:
    if max_parallel is not None and max_parallel < 1:
        raise ValueError(f"max_parallel must be >= 1, got {max_parallel}")
    items = list(iterable)
    workers = min(max_parallel or os.cpu_count() or 1, len(items))
    if workers <= 1 or mp.current_process().daemon or "fork" not in mp.get_all_start_methods():
        return _in_process(func, items)
    return _forked(func, items, workers)


def parallel_map(
    func: Callable[[T], R],
    iterable: Iterable[T],
    max_parallel: int | None = None,
    dir: str | None = None,
) -> list[R]:
    """Return ``[func(x) for x in iterable]``, computed in up to ``max_parallel`` forked
    processes. The first failure stops all workers and is re-raised with its type kept."""
    items = list(iterable)
    results: list[Any] = [None] * len(items)
    for start, chunk in _run(func, items, max_parallel):
        results[start : start + len(chunk)] = chunk
    return results


def parallel_imap_unordered(
    func: Callable[[T], R],
    iterable: Iterable[T],
    max_parallel: int | None = None,
    dir: str | None = None,
) -> Iterator[R]:
    """Yield ``func(x)`` for every item, in completion order (like ``parallel_map``)."""
    for _, chunk in _run(func, iterable, max_parallel):
        yield from chunk
