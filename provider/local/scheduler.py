"""The local debug executor: run a whole flow on this machine, one process per task.

Ready tasks start as forked processes, at most ``max_workers`` at once, and GPUs
are handed out as a budget (disjoint ``CUDA_VISIBLE_DEVICES``). Output is
streamed line by line with a prefix naming the task. A failed task is retried as
its ``@retry`` says; when it has no attempts left the run stops scheduling,
lets running tasks finish, reports the failure and raises :class:`RunFailed`.
``resume`` reuses every task of an earlier run that succeeded and whose inputs
were reused too, and re-runs the rest.
A @parallel step's gang is one worker (one of ``max_workers``) running all its nodes at
once (:mod:`provider.runtime.gang`); it is queued, retried and reused as a whole.
"""

from __future__ import annotations

import heapq
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from dataclasses import replace
from typing import Any, TextIO

from provider.datastore.flowstore import FlowDataStore, path_for, task_id_for
from provider.datastore.records import AttemptRecord, RunRecord, TaskManifest
from provider.decorators.resolve import retry_delay_seconds, step_gpus, step_retries
from provider.exceptions import ResourceError, RunFailed
from provider.flow.spec import FlowSpec
from provider.local.worker import Worker, fork_task
from provider.runtime.gang import split_node_logs
from provider.runtime.task import TaskRequest
from provider.runtime.topology import Path, child_paths, input_tasks, unit_paths

#: seconds between progress lines on a terminal
PROGRESS_EVERY = float(os.environ.get("AIRSTEP_PROGRESS_SECONDS", "2"))
#: how a local run raises the limit that ForeachTooWide names
SPLIT_LIMIT_FIX = "Raise it with --max-num-splits."


def local_gpu_count() -> int:
    """Local GPUs: ``$AIRSTEP_LOCAL_GPUS``, else ``$CUDA_VISIBLE_DEVICES``, else nvidia-smi."""
    if os.environ.get("AIRSTEP_LOCAL_GPUS"):
        return int(os.environ["AIRSTEP_LOCAL_GPUS"])
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
            return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            return 0
    return 0


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
        origin_run_id: str | None = None,
        resume_step: str | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.flow_cls = flow_cls
        self.graph = flow_cls.graph()
        self.store = store or FlowDataStore(flow_cls.__name__)
        self.run_id = run_id or new_run_id()
        self.params = params or {}
        self.max_workers = max(1, max_workers)
        self.max_num_splits = max_num_splits
        self.origin_run_id = origin_run_id
        self.resume_step = resume_step
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.free_gpus = list(range(local_gpu_count()))
        self.gpu_count = len(self.free_gpus)
        self._check_gpus()
        self.ready: deque[tuple[str, Path, int]] = deque()
        self.delayed: list[tuple[float, str, Path, int]] = []
        self.running: dict[int, Worker] = {}
        self.done: set[tuple[str, Path]] = set()
        self.cloned: set[tuple[str, Path]] = set()
        self.splits: dict[tuple[str, Path], int] = {}
        self.scheduled: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.failure: tuple[Worker, AttemptRecord | None] | None = None
        self.selector = selectors.DefaultSelector()

    def _check_gpus(self) -> None:
        have = len(self.free_gpus)
        for node in self.graph:
            want = step_gpus(node)
            if want > have:
                raise ResourceError(
                    f"Step *{node.name}* asks for {want} GPU(s) but this machine has {have}; "
                    "run the flow where GPUs exist (Airflow with @kubernetes or @batch), or "
                    "lower gpu= for local runs (AIRSTEP_LOCAL_GPUS overrides the count)."
                )

    # -- main loop ----------------------------------------------------------------------------
    def run(self) -> str:
        """Run the flow to the end; return the run id or raise :class:`RunFailed`."""
        self.store.write_run(
            RunRecord(
                flow=self.flow_cls.__name__,
                run_id=self.run_id,
                created_at=time.time(),
                status="running",
                origin_run_id=self.origin_run_id,
                executor="local",
            )
        )
        self._say(f"Workflow starting (run-id {self.run_id}).")
        self._enqueue("start", ())
        last_progress = time.monotonic()
        try:
            while self.running or (self.failure is None and (self.ready or self.delayed)):
                if self.failure is None:
                    self._promote_delayed()
                    self._launch()
                self._pump(timeout=self._poll_timeout())
                self._reap()
                if self.err.isatty() and time.monotonic() - last_progress > PROGRESS_EVERY:
                    last_progress = time.monotonic()
                    self._progress()
        except KeyboardInterrupt:
            self._stop_all()
            self._finish("interrupted")
            raise
        if self.failure is not None:
            self._finish("failed")
            raise RunFailed(self._failure_report())
        self._finish("ok")
        self._say(f"Done! Run {self.flow_cls.__name__}/{self.run_id} succeeded.")
        return self.run_id

    def _poll_timeout(self) -> float:
        if self.running:
            return 0.05
        if self.delayed and not self.ready:
            return max(0.0, min(1.0, self.delayed[0][0] - time.time()))
        return 0.0

    def _finish(self, status: str) -> None:
        self.store.update_run(self.run_id, status=status, finished_at=time.time())

    # -- scheduling ---------------------------------------------------------------------------
    def _enqueue(self, step: str, path: Path, attempt: int = 0, delay: float = 0) -> None:
        if attempt == 0:
            self.scheduled[step] += 1
        if delay > 0:
            heapq.heappush(self.delayed, (time.time() + delay, step, path, attempt))
        else:
            self.ready.append((step, path, attempt))

    def _promote_delayed(self) -> None:
        now = time.time()
        while self.delayed and self.delayed[0][0] <= now:
            _, step, path, attempt = heapq.heappop(self.delayed)
            self.ready.append((step, path, attempt))

    def _launch(self) -> None:
        waiting: deque[tuple[str, Path, int]] = deque()
        while self.ready and len(self.running) < self.max_workers and self.failure is None:
            step, path, attempt = self.ready.popleft()
            if attempt == 0 and self._try_clone(step, path):
                continue
            want = step_gpus(self.graph[step]) * len(self._unit(step, path))
            want = min(want, self.gpu_count)  # a gang short of GPUs gets them all and says so
            if want > len(self.free_gpus):
                waiting.append((step, path, attempt))
                continue
            gpus, self.free_gpus = self.free_gpus[:want], self.free_gpus[want:]
            request = TaskRequest(
                run_id=self.run_id,
                step=step,
                task_id=task_id_for(path),
                attempt=attempt,
                params=self.params if step == "start" else None,
                max_num_splits=self.max_num_splits,
                origin_run_id=self.origin_run_id,
            )
            open_fds = [fd for w in self.running.values() for fd in w.fds]
            worker = fork_task(self.flow_cls, request, self.store, gpus, open_fds)
            self.running[worker.pid] = worker
            for fd in worker.fds:
                self.selector.register(fd, selectors.EVENT_READ, worker)
        self.ready.extendleft(reversed(waiting))

    def _try_clone(self, step: str, path: Path) -> bool:
        """On resume: reuse the origin run's task if it succeeded and its inputs were reused."""
        if self.origin_run_id is None or step == self.resume_step:
            return False
        inputs = [] if step == "start" else self._inputs(step, path)
        if not all(i in self.cloned for i in inputs):
            return False
        unit = self._unit(step, path)
        found = [self.store.read_manifest(self.origin_run_id, step, task_id_for(p)) for p in unit]
        if None in found:
            return False
        for task_path, manifest in zip(unit, found, strict=True):
            assert manifest is not None
            manifest = replace(manifest, run_id=self.run_id, cloned_from=self.origin_run_id)
            self.store.commit_task(manifest)
            self.cloned.add((step, task_path))
            self._say(f"[{step}/{manifest.task_id}] reused from run {self.origin_run_id}")
            self._completed(step, task_path, manifest)
        return True

    def _unit(self, step: str, path: Path) -> list[Path]:
        return unit_paths(self.graph, step, path, lambda s, p: self.splits[(s, p)])

    def _inputs(self, step: str, path: Path) -> list[tuple[str, Path]]:
        return input_tasks(self.graph, step, path, lambda s, p: self.splits[(s, p)])

    def _completed(self, step: str, path: Path, manifest: TaskManifest) -> None:
        self.done.add((step, path))
        self.finished[step] += 1
        width = None
        if manifest.foreach is not None:
            width = manifest.foreach.num_splits
            self.splits[(step, path)] = width
        for child, child_path in child_paths(self.graph, step, path, width):
            if self.graph[child].is_parallel and child_path[-1] != 0:
                self.scheduled[child] += 1  # a gang starts as one unit, from its node 0
                continue
            if self.graph[child].is_join:
                try:
                    inputs = self._inputs(child, child_path)
                except KeyError:  # the foreach it joins has not reported its width yet
                    continue
                if not all(i in self.done for i in inputs):
                    continue
            self._enqueue(child, child_path)

    # -- processes ----------------------------------------------------------------------------
    def _pump(self, timeout: float) -> None:
        if not self.selector.get_map():
            if timeout:
                time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout):
            worker: Worker = key.data
            fd = key.fd
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self.selector.unregister(fd)
                os.close(fd)
                tail = worker.partial.pop(fd, b"")
                if tail:
                    self._emit(worker, fd, tail)
                del worker.fds[fd]
                continue
            data = worker.partial.pop(fd, b"") + chunk
            *lines, rest = data.split(b"\n")
            if rest:
                worker.partial[fd] = rest
            for line in lines:
                self._emit(worker, fd, line)

    def _emit(self, worker: Worker, fd: int, line: bytes) -> None:
        worker.log.append(line + b"\n")
        stream = self.out if worker.fds.get(fd) == "out" else self.err
        text = line.decode("utf-8", errors="replace")
        stream.write(f"[{worker.name} (pid {worker.pid})] {text}\n")
        stream.flush()

    def _reap(self) -> None:
        for pid, worker in list(self.running.items()):
            if worker.status is None:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
                worker.status = os.waitstatus_to_exitcode(status)
            if worker.fds:
                continue  # drain its output first
            del self.running[pid]
            self.free_gpus.extend(worker.gpus)
            self._task_ended(worker)

    def _task_ended(self, worker: Worker) -> None:
        store, run_id = self.store, self.run_id
        store.storage.put_bytes(
            store.log_key(run_id, worker.step, worker.task_id, worker.attempt), b"".join(worker.log)
        )
        path = path_for(worker.task_id, self.graph.foreach_depth(worker.step))
        if self.graph[worker.step].is_parallel and self._gang_ended(worker, path):
            return
        manifest = store.read_manifest(run_id, worker.step, worker.task_id)
        if worker.status == 0 and manifest is not None:
            self._completed(worker.step, path, manifest)
            return
        record = store.read_attempt(run_id, worker.step, worker.task_id, worker.attempt)
        node = self.graph[worker.step]
        retries = step_retries(node)
        if worker.attempt < retries and self.failure is None:
            delay = retry_delay_seconds(node)
            self._say(
                f"[{worker.name}] attempt {worker.attempt + 1} of {retries + 1} failed; "
                f"retrying in {delay:g} s."
            )
            self._enqueue(worker.step, path, worker.attempt + 1, delay=delay)
            return
        if self.failure is None:
            self.failure = (worker, record)
            if self.running:
                self._say(
                    f"[{worker.name}] failed; no new tasks will start, waiting for "
                    f"{len(self.running)} running task(s)."
                )

    def _gang_ended(self, worker: Worker, path: Path) -> bool:
        """Keep each node's own output (node 0's log has them all); True if every node succeeded."""
        unit = self._unit(worker.step, path)
        logs = split_node_logs(b"".join(worker.log), len(unit))
        for p, log in list(zip(unit, logs, strict=True))[1:]:
            key = self.store.log_key(self.run_id, worker.step, task_id_for(p), worker.attempt)
            self.store.storage.put_bytes(key, log)
        tasks = [
            (p, self.store.read_manifest(self.run_id, worker.step, task_id_for(p))) for p in unit
        ]
        if worker.status != 0 or any(manifest is None for _, manifest in tasks):
            return False
        for task_path, manifest in tasks:
            assert manifest is not None
            self._completed(worker.step, task_path, manifest)
        return True

    def _stop_all(self) -> None:
        for pid in self.running:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + 5
        for pid in list(self.running):
            while time.time() < deadline:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.05)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        self.running.clear()
        self._say("Run interrupted: all task processes were stopped.")

    # -- reporting ----------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        self.err.write(message + "\n")
        self.err.flush()

    def _progress(self) -> None:
        parts = [
            f"{step} {self.finished[step]}/{self.scheduled[step]}"
            for step in self.graph.sorted_steps
            if self.scheduled[step]
        ]
        self._say("Progress: " + ", ".join(parts) + f" ({len(self.running)} running)")

    def _failure_report(self) -> str:
        assert self.failure is not None
        worker, record = self.failure
        pathspec = f"{self.flow_cls.__name__}/{self.run_id}/{worker.step}/{worker.task_id}"
        attempts = worker.attempt + 1
        if record and record.traceback:
            cause = record.traceback.rstrip()
            if record.exception == "ForeachTooWide":
                cause += " " + SPLIT_LIMIT_FIX
        elif worker.status is not None and worker.status < 0:
            cause = f"The task process was killed by signal {-worker.status}."
        else:
            cause = f"The task process exited with status {worker.status}."
        return (
            f"Step *{worker.step}* failed in task {pathspec} after {attempts} attempt(s):\n"
            f"{cause}\n"
            f"Fix the step, then continue with: resume --origin-run-id {self.run_id}"
        )
