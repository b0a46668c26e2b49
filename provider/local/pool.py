"""The task processes of a local run: started by fork, their output streamed, their ends reaped.

Output is read line by line from each task's pipes and echoed with a prefix naming
the task. A task has ended when its process has, not when its pipes close: a
process the step started in the background may hold them open. What the step left
running in the task's process group is named and stopped (SIGTERM, then SIGKILL),
and output still held open by a process outside the group stops being read after
a few seconds, so nothing a step leaves behind holds the run.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from collections.abc import Callable
from typing import Any, TextIO

from provider.datastore.flowstore import FlowDataStore
from provider.local.process_groups import group_exists, reap, signal_group, stop_groups
from provider.local.worker import Worker, fork_task
from provider.runtime.processes import group_members
from provider.runtime.task import TaskRequest

#: seconds the processes a step left running get between SIGTERM and SIGKILL
LEFTOVER_GRACE = 1.0
#: seconds to keep reading an ended task's output held open by a process outside its group
OUTPUT_GRACE = 3.0
#: seconds stopped tasks get between SIGTERM and SIGKILL (Ctrl-C, or the run failing)
STOP_GRACE = 5.0


class TaskProcesses:
    def __init__(self, out: TextIO, err: TextIO, say: Callable[[str], None]) -> None:
        self.out = out
        self.err = err
        self.say = say
        self.running: dict[int, Worker] = {}
        self.selector = selectors.DefaultSelector()

    def start(
        self, flow_cls: Any, request: TaskRequest, store: FlowDataStore, gpus: list[int]
    ) -> Worker:
        open_fds = [fd for w in self.running.values() for fd in w.fds]
        worker = fork_task(flow_cls, request, store, gpus, open_fds)
        self.running[worker.pid] = worker
        for fd in worker.fds:
            self.selector.register(fd, selectors.EVENT_READ, worker)
        return worker

    # -- output -------------------------------------------------------------------------------
    def pump(self, timeout: float) -> None:
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
                self._close(worker, fd)
                continue
            worker.keep(_stream(worker, fd), chunk)
            data = worker.partial.pop(fd, b"") + chunk
            *lines, rest = data.split(b"\n")
            if rest:
                worker.partial[fd] = rest
            for line in lines:
                self._emit(worker, fd, line)

    def _emit(self, worker: Worker, fd: int, line: bytes) -> None:
        stream = self.out if worker.fds.get(fd) == "out" else self.err
        text = line.decode("utf-8", errors="replace")
        stream.write(f"[{worker.name} (pid {worker.pid})] {text}\n")
        stream.flush()

    def _close(self, worker: Worker, fd: int) -> None:
        """Stop reading one of a task's pipes, after what is left in it."""
        with contextlib.suppress(OSError):  # BlockingIOError: nothing more for now
            for _ in range(16):  # bounded: a process outside the group may still be writing
                if not (chunk := os.read(fd, 65536)):
                    break
                worker.keep(_stream(worker, fd), chunk)
                worker.partial[fd] = worker.partial.get(fd, b"") + chunk
        if tail := worker.partial.pop(fd, b""):
            for line in tail.removesuffix(b"\n").split(b"\n"):
                self._emit(worker, fd, line)
        self.selector.unregister(fd)
        os.close(fd)
        del worker.fds[fd]

    # -- ends ---------------------------------------------------------------------------------
    def reap(self) -> list[Worker]:
        """The tasks that ended since the last call (their output read to the end)."""
        now = time.monotonic()
        ended = []
        for pid, worker in list(self.running.items()):
            code = reap(pid)  # the task process, and orphans it left in its group
            if worker.status is None:
                if code is None:
                    continue
                worker.status, worker.ended_at = code, now
                self._stop_leftovers(worker)
            assert worker.ended_at is not None
            if worker.kill_leftovers_at is not None and now >= worker.kill_leftovers_at:
                signal_group(pid, signal.SIGKILL)
                worker.kill_leftovers_at = None
            if worker.fds and now - worker.ended_at < OUTPUT_GRACE:
                continue  # drain its output first
            for fd in list(worker.fds):
                self._close(worker, fd)
            del self.running[pid]
            ended.append(worker)
        return ended

    def _stop_leftovers(self, worker: Worker) -> None:
        """The step returned but left processes running: name them, then stop them."""
        if not group_exists(worker.pid):
            return
        pids = group_members({worker.pid}).get(worker.pid)
        if not pids:
            return
        self.say(
            f"[{worker.name}] the step left {len(pids)} process(es) running (pid "
            f"{', '.join(map(str, pids))}); stopping them."
        )
        signal_group(worker.pid, signal.SIGTERM)
        worker.kill_leftovers_at = time.monotonic() + LEFTOVER_GRACE

    def stop_all(self, what: str) -> list[Worker]:
        """Stop every task process group (a second Ctrl-C kills them at once); return the
        tasks stopped, their output read."""
        if not self.running:
            return []
        self.say(
            f"{what}: stopping {len(self.running)} task process(es) (Ctrl-C again kills them "
            "at once)."
        )
        codes = stop_groups(list(self.running), STOP_GRACE, self.say)
        stopped = list(self.running.values())
        for worker in stopped:
            if worker.status is None:
                worker.status = codes.get(worker.pid, -signal.SIGKILL)
            for fd in list(worker.fds):
                self._close(worker, fd)
        self.running.clear()
        self.say(f"{what}: all task processes were stopped.")
        return stopped


def _stream(worker: Worker, fd: int) -> str:
    return "stdout" if worker.fds[fd] == "out" else "stderr"
