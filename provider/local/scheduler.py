"""The local debug executor: run a whole flow on this machine, each task in a process.

Ready tasks start as forked processes, at most ``max_workers`` at once (a foreach
body's process runs more tasks of its step until one fails or changes it, see
:mod:`provider.processes.spawn`; ``reuse_processes=False`` forks for every task), and GPUs
are handed out as a budget (disjoint ``CUDA_VISIBLE_DEVICES``). Output is
streamed line by line with a prefix naming the task, and stored when the task
ends, stdout and stderr apart (also what a killed task printed last). A join
starts once a counter of its finished inputs reaches their number, so a foreach
of N items costs O(N) to schedule; on a terminal one progress line every few
seconds says how far each step is, how many tasks run and failed, and the rate.
A failed task is retried as its ``@retry`` says; when it has no attempts left the
run stops scheduling, lets running tasks finish, reports the failure and raises
:class:`RunFailed`.
``resume`` reuses every task of an earlier run that succeeded and whose inputs
were reused too, and re-runs the rest.
A @parallel step's gang is one worker (one of ``max_workers``) running all its nodes at
once (:mod:`provider.runtime.gang`); it is queued, retried and reused as a whole.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections import Counter, deque
from typing import Any, TextIO

from provider.datastore.flowstore import (
    MANIFEST,
    FlowDataStore,
    path_for,
    task_id_for,
)
from provider.datastore.ids import check_run_id
from provider.datastore.records import AttemptRecord
from provider.datastore.storage import remove_stale_temp_files
from provider.decorators.resolve import (
    catch_refusal,
    is_fallback_attempt,
    step_attempts,
    step_gpus,
    step_retries,
)
from provider.exceptions import DataStoreError, RunFailed, TaskCrashed
from provider.flow.spec import FlowSpec
from provider.local.report import failure_report, progress_line
from provider.local.resume import ResumedTasks
from provider.local.run_record import create_local_run, datastore_failure, finish_run, writing
from provider.processes.crashes import process_ended
from provider.processes.gpus import GpuBudget
from provider.processes.groups import reaping_orphans
from provider.processes.liveness import refuse_live_origin
from provider.processes.pool import TaskProcesses
from provider.processes.spawn import TaskProcess
from provider.runtime.run import process_runner
from provider.runtime.task import TaskRequest
from provider.runtime.topology import Path, child_paths, input_tasks, unit_paths
from provider.settings import flag, seconds

#: seconds between progress lines on a terminal
PROGRESS_EVERY = seconds("progress_seconds")


def new_run_id() -> str:
    return str(time.time_ns() // 1000)


class LocalRun:
    def __init__(
        self,
        flow_cls: type[FlowSpec],
        *,
        store: FlowDataStore | None = None,
        run_id: str | None = None,
        params: dict[str, Any] | None = None,
        max_workers: int = 16,
        max_num_splits: int = 100,
        reuse_processes: bool | None = None,
        origin_run_id: str | None = None,
        resume_step: str | None = None,
        tags: tuple[str, ...] = (),
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.flow_cls = flow_cls
        self.graph = flow_cls.graph()
        self.store = store or FlowDataStore(flow_cls.__name__)
        self.run_id = check_run_id(run_id or new_run_id(), flow_cls.__name__)
        self.params = params or {}
        self.max_workers = max(1, max_workers)
        self.max_num_splits = max_num_splits
        #: a foreach body's task process may run more of its tasks (see provider.processes.spawn);
        #: by default unless ``[airstep] process_per_task`` says otherwise
        if reuse_processes is None:
            reuse_processes = not flag("process_per_task")
        self.reuse_processes = reuse_processes
        self.origin_run_id = origin_run_id
        self.tags = tags
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.gpus = GpuBudget.for_graph(self.graph)
        self.ready: deque[tuple[str, Path, int]] = deque()
        self.tasks = TaskProcesses(
            self.out, self.err, self._say, process_runner(flow_cls, self.store), flow_cls
        )
        #: tasks that finished (where switch cases meet, it tells which case ran)
        self.done: set[tuple[str, Path]] = set()
        self.resumed = ResumedTasks(self.store, self.run_id, origin_run_id, resume_step, self._say)
        self.splits: dict[tuple[str, Path], int] = {}
        #: a join's inputs done so far, and how many it waits for (counted, not scanned:
        #: a join over N inputs costs O(1) per input that ends)
        self.arrived: Counter[tuple[str, Path]] = Counter()
        self.needed: dict[tuple[str, Path], int] = {}
        self.scheduled: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.failure: tuple[TaskProcess, AttemptRecord | None] | None = None
        #: attempts that failed, and when the run started (for the progress line)
        self.failed = 0
        self.started = time.monotonic()

    @property
    def running(self) -> dict[int, TaskProcess]:
        """The task processes running now, by pid."""
        return self.tasks.running

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> str:
        """Run the flow to the end; return the run id or raise :class:`RunFailed`."""
        if self.origin_run_id is not None:
            refuse_live_origin(self.store, self.origin_run_id)
        create_local_run(self.store, self.flow_cls, self.run_id, self.origin_run_id, self.tags)
        remove_stale_temp_files(self.store.storage, self.store.flow_name)
        tempfile.gettempdir()  # found once here, not again in every task process
        self._say(f"Workflow starting (run-id {self.run_id}).")
        self._enqueue("start", ())
        with reaping_orphans(), self.store.keeping_reads():
            try:
                self._loop()
            except KeyboardInterrupt:
                self._stop_all("Run interrupted")
                self._finish("interrupted")
                raise
            except DataStoreError as exc:
                self._stop_all("Run stopped")
                raise RunFailed(datastore_failure(self.store, self.run_id, exc)) from None
            except BaseException:
                self._stop_all("Run stopped")
                with contextlib.suppress(Exception):
                    self._finish("failed")
                raise
        if self.failure is not None:
            self._finish("failed")
            raise RunFailed(self._failure_report())
        self._finish("ok")
        self._say(f"Done! Run {self.flow_cls.__name__}/{self.run_id} succeeded.")
        return self.run_id

    def _loop(self) -> None:
        last_progress = time.monotonic()
        while self.running or (self.failure is None and self.ready):
            if self.failure is None:
                self._launch()
            self.tasks.retire_idle()  # processes no ready task of their step is waiting for
            self.tasks.pump(timeout=0.05 if self.running else 0.0)
            for worker in self.tasks.reap():
                self.gpus.give_back(worker.gpus)
                self._task_ended(worker)
            if self.err.isatty() and time.monotonic() - last_progress > PROGRESS_EVERY:
                last_progress = time.monotonic()
                self._progress()

    def _finish(self, status: str) -> None:
        finish_run(self.store, self.run_id, status)

    # -- scheduling ---------------------------------------------------------------------------
    def _enqueue(self, step: str, path: Path, attempt: int = 0) -> None:
        if attempt == 0:
            self.scheduled[step] += 1
        self.ready.append((step, path, attempt))

    def _launch(self) -> None:
        waiting: deque[tuple[str, Path, int]] = deque()
        while self.ready and self.failure is None:
            step, path, attempt = self.ready[0]
            if len(self.running) >= self.max_workers and not self.tasks.has_idle(step):
                break
            self.ready.popleft()
            if attempt == 0 and self._try_clone(step, path):
                continue
            request = self._request(step, path, attempt)
            if self.tasks.run_on_idle(request):
                continue
            if len(self.running) >= self.max_workers:  # the idle process had ended
                self.ready.appendleft((step, path, attempt))
                break
            want = step_gpus(self.graph[step]) * len(self._unit(step, path))
            want = min(want, self.gpus.count)  # a gang short of GPUs gets them all and says so
            gpus = self.gpus.take(want)
            if gpus is None:
                waiting.append((step, path, attempt))
                continue
            self.tasks.start(request, gpus, self._reusable(step))
        self.ready.extendleft(reversed(waiting))

    def _request(self, step: str, path: Path, attempt: int) -> TaskRequest:
        return TaskRequest(
            run_id=self.run_id,
            step=step,
            task_id=task_id_for(path),
            attempt=attempt,
            params=self.params if step == "start" else None,
            confine_files=False,  # the parameters are the user's own
            max_num_splits=self.max_num_splits,
            origin_run_id=self.origin_run_id,
            # this process reads the task's output and stores it (a gang's nodes keep
            # their own: they share the gang's pipes)
            capture_output=self.graph[step].is_parallel,
        )

    def _reusable(self, step: str) -> bool:
        """Whether a process started for a task of ``step`` may run more of its tasks: in
        a foreach body, but not for a gang, nor for a step that is handed GPUs (its
        devices are fixed when the process starts)."""
        node = self.graph[step]
        return (
            self.reuse_processes
            and self.graph.foreach_depth(step) > 0
            and not node.is_parallel
            and not step_gpus(node)
        )

    def _try_clone(self, step: str, path: Path) -> bool:
        """On resume: reuse the origin run's task if it succeeded and its inputs were reused."""
        if not self.resumed.may_reuse(step):
            return False
        inputs = [] if step == "start" else self._inputs(step, path)
        clones = self.resumed.reuse(step, inputs, self._unit(step, path))
        for task_path, manifest in clones or ():
            width = manifest.foreach and manifest.foreach.num_splits
            self._completed(step, task_path, width, manifest.chosen)
        return clones is not None

    def _unit(self, step: str, path: Path) -> list[Path]:
        return unit_paths(self.graph, step, path, lambda s, p: self.splits[(s, p)])

    def _inputs(self, step: str, path: Path) -> list[tuple[str, Path]]:
        """The tasks feeding a task; where switch cases meet, the one that finished."""
        return input_tasks(
            self.graph,
            step,
            path,
            lambda s, p: self.splits[(s, p)],
            lambda alternatives: next((t for t in alternatives if t in self.done), alternatives[0]),
        )

    def _finished(self, step: str, task_id: str) -> bool:
        """Whether the task committed its manifest (its process exiting 0 is not enough)."""
        prefix = self.store.task_prefix(self.run_id, step, task_id)
        return self.store.storage.exists(f"{prefix}/{MANIFEST}")

    def _completed(
        self, step: str, path: Path, width: int | None, chosen: str | None = None
    ) -> None:
        """``width``: a foreach's or gang's number of tasks; ``chosen``: a switch's case."""
        self.done.add((step, path))
        self.finished[step] += 1
        if width is not None:
            self.splits[(step, path)] = width
        for child, child_path in child_paths(self.graph, step, path, width, chosen):
            if self.graph[child].is_parallel and child_path[-1] != 0:
                self.scheduled[child] += 1  # a gang starts as one unit, from its node 0
                continue
            if self.graph[child].is_join:
                join = (child, child_path)
                self.arrived[join] += 1
                if join not in self.needed:
                    try:
                        self.needed[join] = len(self._inputs(child, child_path))
                    except KeyError:  # the foreach it joins has not reported its width yet
                        continue
                if self.arrived[join] != self.needed[join]:
                    continue
            self._enqueue(child, child_path)

    # -- ends of tasks ------------------------------------------------------------------------
    def _task_ended(self, worker: TaskProcess) -> None:
        store, run_id = self.store, self.run_id
        self._store_attempt_end(worker)
        path = path_for(worker.task_id, self.graph.foreach_depth(worker.step))
        if self.graph[worker.step].is_parallel and self._gang_ended(worker, path):
            return
        if worker.status == 0 and self._finished(worker.step, worker.task_id):
            width = chosen = None
            node = self.graph[worker.step]
            # a split's width, a switch's case: in the manifest (read only for those)
            if node.is_foreach or node.is_parallel_split or node.is_switch:
                manifest = store.read_manifest(run_id, worker.step, worker.task_id)
                width = manifest.foreach.num_splits if manifest and manifest.foreach else None
                chosen = manifest.chosen if manifest else None
            self._completed(worker.step, path, width, chosen)
            return
        self.failed += 1
        record = store.read_attempt(run_id, worker.step, worker.task_id, worker.attempt)
        node = self.graph[worker.step]
        regular = step_retries(node) + 1
        if worker.attempt + 1 < step_attempts(node) and self.failure is None:
            failed = f"[{worker.name}] attempt {worker.attempt + 1} of {regular} failed"
            if is_fallback_attempt(node, worker.attempt + 1):
                self._say(f"{failed}; @catch records why and the flow carries on.")
                self._enqueue(worker.step, path, worker.attempt + 1)
                return
            # at once, as Metaflow's local runtime does: minutes_between_retries is for
            # Airflow (the task's retry_delay), where a retry may wait for capacity
            self._say(f"{failed}; retrying now.")
            self._enqueue(worker.step, path, worker.attempt + 1)
            return
        refusal = catch_refusal(node)
        if refusal and record is not None and record.exception == TaskCrashed.__name__:
            self._say(f"[{worker.name}] {refusal}")  # the task could not say it: it died
        if self.failure is None:
            self.failure = (worker, record)
            if self.running:
                self._say(
                    f"[{worker.name}] failed; no new tasks will start, waiting for "
                    f"{self.tasks.busy} running task(s)."
                )

    def _gang_ended(self, worker: TaskProcess, path: Path) -> bool:
        """True if every node of the gang succeeded (each node stored its own output)."""
        unit = self._unit(worker.step, path)
        tasks = [
            (p, self.store.read_manifest(self.run_id, worker.step, task_id_for(p))) for p in unit
        ]
        if worker.status != 0 or any(manifest is None for _, manifest in tasks):
            return False
        for task_path, manifest in tasks:
            assert manifest is not None
            self._completed(
                worker.step,
                task_path,
                manifest.foreach and manifest.foreach.num_splits,
                manifest.chosen,
            )
        return True

    def _store_attempt_end(self, worker: TaskProcess) -> None:
        """Store the task's output, unless it stored it itself; and if its process died
        before recording how the attempt ended (killed), record it as failed with what
        killed it. A log that cannot be stored is reported: the task's outcome matters more."""
        pathspec = self._pathspec(worker.step, worker.task_id)

        def not_stored(stream: str, key: str, exc: Exception) -> None:
            self._say(
                f"airstep: the {stream} of task {pathspec} (attempt {worker.attempt}) could "
                f"not be stored at {self.store.root}/{key}: {exc}"
            )

        where = self.store.task_prefix(self.run_id, worker.step, worker.task_id)
        with writing(
            self.store, f"The record of attempt {worker.attempt} of task {pathspec}", where
        ):
            process_ended(self.store, self.run_id, worker, on_error=not_stored)

    def _stop_all(self, what: str) -> None:
        for worker in self.tasks.stop_all(what):
            with contextlib.suppress(Exception):  # the datastore may be what failed
                self._store_attempt_end(worker)

    # -- reporting ----------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        self.err.write(message + "\n")
        self.err.flush()

    def _progress(self) -> None:
        rate = sum(self.finished.values()) / max(time.monotonic() - self.started, 1e-9)
        self._say(
            progress_line(
                self.graph, self.finished, self.scheduled, self.tasks.busy, self.failed, rate
            )
        )

    def _pathspec(self, step: str, task_id: str) -> str:
        return self.store.task_key(self.run_id, step, task_id).pathspec

    def _failure_report(self) -> str:
        assert self.failure is not None
        worker, record = self.failure
        return failure_report(
            self._pathspec(worker.step, worker.task_id), self.run_id, worker, record
        )
