"""Run a chunk: many tasks of one step, each its own flow task, in parallel processes.

Under Airflow a foreach wider than ``[airstep] max_map_tasks`` maps one task
instance per *chunk* of items rather than one per item (see :mod:`provider.dag`).
The chunk's task instance (in the worker, a pod or a Batch job) hands its task
ids to :func:`run_items`, which runs each one as the local executor does: a
forked process (:class:`~provider.processes.pool.TaskProcesses`) calling
:func:`~provider.runtime.run.run_task`, at most ``processes`` at once, output
prefixed with the task; a process runs more of the chunk's tasks one after another
until one fails or changes it (:mod:`provider.processes.spawn`). So every item keeps its
own task id, artifacts, log, attempts and ``@catch``.

A failing item does not stop the others: the chunk fails once every item has
ended (:class:`~provider.exceptions.ItemsFailed`, naming each failed task and
why). The chunk's retry runs the same task ids again with the next attempt
number; an item that already committed its manifest in an attempt at or after
``first_attempt`` is not run again, so a retry re-runs only what failed. A task
instance that was cleared starts a new series of tries (Airflow's first try of it
is ``max_tries - retries + 1``), and then every item runs again. An item's attempt
counts only its own attempts in the series: an item that never started in an earlier try
(its task instance was killed first) runs as the series' first attempt, not as the try's,
so a killed try does not use up an item's retries nor make its first run ``@catch``'s
fallback.

SIGTERM (Airflow stopping the task, a pod being deleted, a spot reclaim) stops
every item's process group with SIGTERM, so their termination hooks run, then
SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import TaskManifest
from provider.decorators.resolve import step_gpus, step_resources
from provider.exceptions import ItemsFailed
from provider.flow.spec import FlowSpec
from provider.processes.crashes import process_ended
from provider.processes.gpus import GpuBudget, local_gpu_count
from provider.processes.groups import reaping_orphans
from provider.processes.pool import TaskProcesses
from provider.runtime.request import TaskRequest
from provider.runtime.run import process_runner
from provider.runtime.termination import failing_on_sigterm
from provider.settings import positive_int

#: seconds between looks at the running items' output and ends: short right after a task
#: started or ended (most tasks of a wide foreach are short), doubling up to the longest
POLL_SECONDS = (0.002, 0.05)


@dataclass(frozen=True)
class ItemFailure:
    """One item of a chunk that did not succeed."""

    task_id: str
    message: str


def chunk_processes(flow_cls: type[FlowSpec], step: str, *, remote: bool) -> int:
    """How many items of a chunk of ``step`` run at once: ``[airstep] chunk_processes``, else
    the CPUs this process may use (in a container, the step's @resources cpu, since a
    container sees the machine's CPUs); fewer when each item needs GPUs.

    A container's cpu is what the step asks for (``@resources`` merged with the compute
    decorator it carries), not where :func:`~provider.decorators.placement.step_placement`
    would put it now: the container reads no airflow.cfg."""
    node = flow_cls.graph()[step]
    count = positive_int("chunk_processes")
    if count is None:
        if remote:
            count = max(1, int(float(step_resources(node).cpu)))
        else:
            count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
            count = max(1, count or os.cpu_count() or 1)
    gpus = step_gpus(node)
    if gpus:
        count = min(count, max(1, local_gpu_count() // gpus))
    return count


def run_items(
    flow_cls: type[FlowSpec],
    requests: Sequence[TaskRequest],
    store: FlowDataStore,
    *,
    processes: int,
    first_attempt: int = 0,
    reuse_processes: bool = True,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> list[TaskManifest]:
    """Run every task of ``requests`` (one step, one attempt number) and return their
    manifests in the same order, or raise :class:`ItemsFailed` once all have ended.
    ``reuse_processes``: a process may run more of the tasks (False: one process each).

    A task whose manifest was committed by an attempt at or after ``first_attempt`` is
    not run again. Forks: call it from a process without other threads.
    """
    out, err = out or sys.stdout, err or sys.stderr
    manifests: dict[str, TaskManifest] = {}
    pending: deque[TaskRequest] = deque()
    for request in requests:
        done = store.read_manifest(request.run_id, request.step, request.task_id)
        if done is not None and done.attempt >= first_attempt:
            manifests[request.task_id] = done
        else:
            pending.append(_own_attempt(store, request, first_attempt))
    if not pending:
        return [manifests[r.task_id] for r in requests]

    def say(message: str) -> None:
        err.write(message + "\n")
        err.flush()

    first = requests[0]
    if len(manifests):
        say(
            f"Step {first.step}: {len(manifests)} of {len(requests)} task(s) already succeeded "
            f"in this run; running the other {len(pending)}."
        )
    gpus_each = step_gpus(flow_cls.graph()[first.step])
    budget = GpuBudget(local_gpu_count() if gpus_each else 0)
    tasks = TaskProcesses(out, err, say, process_runner(flow_cls, store), flow_cls)
    with (
        reaping_orphans(),
        failing_on_sigterm(
            f"Step *{first.step}* was asked to stop (SIGTERM) while running a chunk of "
            f"{len(requests)} task(s); the running ones were stopped. A retry runs the ones that "
            "did not finish."
        ),
    ):
        try:
            poll = POLL_SECONDS[0]
            while pending or tasks.running:
                while pending:
                    if tasks.run_on_idle(pending[0]):
                        pending.popleft()
                        continue
                    if len(tasks.running) >= max(1, processes):
                        break
                    gpus = budget.take(gpus_each)
                    if gpus is None:
                        if tasks.running:
                            break
                        gpus = budget.take(len(budget.free)) or []  # short of GPUs: all there are
                    # a process may run more of the chunk's tasks (not one handed GPUs)
                    reusable = reuse_processes and not gpus
                    tasks.start(pending.popleft(), gpus, reusable)
                tasks.retire_idle()
                tasks.pump(poll)
                ended = tasks.reap()
                for worker in ended:
                    budget.give_back(worker.gpus)
                    process_ended(store, first.run_id, worker)
                poll = POLL_SECONDS[0] if ended else min(2 * poll, POLL_SECONDS[1])
        finally:
            for worker in tasks.stop_all(f"Step {first.step} stopped"):
                with contextlib.suppress(Exception):  # the datastore may be what failed
                    process_ended(store, first.run_id, worker)
    return collect_items(flow_cls, requests, store, first_attempt)


def collect_items(
    flow_cls: type[FlowSpec],
    requests: Sequence[TaskRequest],
    store: FlowDataStore,
    first_attempt: int = 0,
) -> list[TaskManifest]:
    """The manifests of a chunk's tasks, in order, once they have run (here, in another
    process or in a container); :class:`ItemsFailed` naming each task that did not succeed."""
    manifests, failures = [], []
    for request in requests:
        manifest = store.read_manifest(request.run_id, request.step, request.task_id)
        if manifest is not None and manifest.attempt >= first_attempt:
            manifests.append(manifest)
        else:
            failures.append(ItemFailure(request.task_id, _why(store, request, first_attempt)))
    if failures:
        raise ItemsFailed(_failure_message(flow_cls, requests[0], requests, failures))
    return manifests


def _own_attempt(store: FlowDataStore, request: TaskRequest, first_attempt: int) -> TaskRequest:
    """The request with the task's own next attempt of this series of tries: the one after
    its last attempt that started since ``first_attempt``, else ``first_attempt``."""
    started = _started(store, request, first_attempt, below=request.attempt)
    attempt = started[-1] + 1 if started else first_attempt
    return request if attempt == request.attempt else dataclasses.replace(request, attempt=attempt)


def _started(
    store: FlowDataStore, request: TaskRequest, first_attempt: int, *, below: int
) -> list[int]:
    """The task's attempts in ``[first_attempt, below)`` that started (have a record)."""
    if below <= first_attempt:
        return []
    found = store.attempts(request.run_id, request.step, request.task_id)
    return [a for a in found if first_attempt <= a < below]


def _why(store: FlowDataStore, request: TaskRequest, first_attempt: int) -> str:
    started = _started(store, request, first_attempt, below=request.attempt + 1)
    if not started:
        return "it did not run (its task instance stopped first)"
    attempt = started[-1]
    record = store.read_attempt(request.run_id, request.step, request.task_id, attempt)
    if record is None:
        return "it did not run (its task instance stopped first)"
    if record.exception:
        return f"{record.exception}: {record.message}"
    return f"its attempt {attempt} is {record.status!r} and committed no manifest"


def _failure_message(
    flow_cls: type[FlowSpec],
    first: TaskRequest,
    requests: Sequence[TaskRequest],
    failures: list[ItemFailure],
) -> str:
    pathspec = f"{flow_cls.__name__}/{first.run_id}/{first.step}"
    shown = "; ".join(f"task {f.task_id}: {f.message}" for f in failures[:5])
    more = f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
    return (
        f"Step *{first.step}* of run {pathspec.rsplit('/', 1)[0]}: {len(failures)} of the "
        f"{len(requests)} task(s) of this chunk failed (attempt {first.attempt}) - {shown}{more}. "
        f"The other tasks succeeded and keep their results; each failed task's log is "
        f"`Task('{pathspec}/<task id>').stdout`. A retry of this task instance (@retry on the "
        "step) runs only the failed tasks; clearing it runs every task of the chunk again."
    )
