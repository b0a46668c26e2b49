"""The running task processes of a local run, a chunk or a gang: started by fork, their output
streamed, their ends reaped.

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

from provider.processes.groups import group_exists, reap, signal_group, stop_groups
from provider.processes.proc import group_members
from provider.processes.spawn import (
    Request,
    Runner,
    TaskProcess,
    fork_task,
    hand_over,
    spawn_task,
)

#: seconds the processes a step left running get between SIGTERM and SIGKILL
LEFTOVER_GRACE = 1.0
#: seconds to keep reading an ended task's output held open by a process outside its group
OUTPUT_GRACE = 3.0
#: seconds stopped tasks get between SIGTERM and SIGKILL (Ctrl-C, or the run failing)
STOP_GRACE = 5.0


#: tasks one reusable process runs at most (what a step leaks stays bounded)
TASKS_PER_PROCESS = 256


class TaskProcesses:
    """The task processes of one flow: each calls ``run`` for its tasks (``watched``: the flow
    class, which a reused process checks is unchanged between tasks)."""

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        say: Callable[[str], None],
        run: Runner,
        watched: Any = None,
        label: Callable[[TaskProcess], str] | None = None,
        death_signal: int = signal.SIGKILL,
    ) -> None:
        self.out = out
        self.err = err
        self.say = say
        self.run = run
        self.watched = watched
        #: the prefix of a process's lines: ``step/task (pid N)`` unless told otherwise
        self.label = label or (lambda process: f"{process.name} (pid {process.pid})")
        #: what a forked process gets when this one dies (SIGTERM lets it stop its own group)
        self.death_signal = death_signal
        #: the task processes, by pid: each runs a task, or (reusable) waits for one
        self.running: dict[int, TaskProcess] = {}
        self.selector = selectors.DefaultSelector()
        #: reusable processes waiting for a task, by step
        self.idle: dict[str, list[TaskProcess]] = {}
        #: tasks that reusable processes reported ended, not yet returned by reap()
        self.ended: list[TaskProcess] = []

    def start(self, request: Request, gpus: list[int], reusable: bool = False) -> TaskProcess:
        """Fork a process for ``request`` (``reusable``: it may run more tasks of its step)."""
        open_fds = [fd for w in self.running.values() for fd in w.open_fds]
        return self._add(
            fork_task(self.run, request, gpus, open_fds, reusable, self.watched, self.death_signal)
        )

    def spawn(self, argv: list[str], env: dict[str, str], request: Request) -> TaskProcess:
        """Start ``argv`` as the process of ``request`` (from a parent with other threads)."""
        return self._add(spawn_task(argv, env, request))

    def signal_all(self, signum: int) -> None:
        """Send ``signum`` to the process group of every task process still running."""
        for pid, worker in self.running.items():
            if worker.status is None:
                signal_group(pid, signum)

    def _add(self, worker: TaskProcess) -> TaskProcess:
        self.running[worker.pid] = worker
        for fd in worker.fds:
            self.selector.register(fd, selectors.EVENT_READ, worker)
        if worker.channel is not None:
            self.selector.register(worker.channel.ends, selectors.EVENT_READ, worker)
        return worker

    @property
    def busy(self) -> int:
        """How many task processes run a task now."""
        return sum(not w.idle for w in self.running.values())

    def has_idle(self, step: str) -> bool:
        """Whether a reusable process of ``step`` waits for a task."""
        return bool(self.idle.get(step))

    def run_on_idle(self, request: Request) -> bool:
        """Hand ``request`` to a process of its step waiting for a task; False if none
        waits, or the one that did ended meanwhile (it is reaped quietly): start one."""
        waiting = self.idle.get(request.step)
        if not waiting:
            return False
        try:
            hand_over(waiting.pop(), request)
        except OSError:
            return False
        return True

    def retire_idle(self) -> None:
        """Let every process waiting for a task end (no task of its step is ready)."""
        for waiting in self.idle.values():
            for worker in waiting:
                self._stop_serving(worker)
        self.idle.clear()

    def _stop_serving(self, worker: TaskProcess) -> None:
        if worker.channel is not None and worker.channel.requests >= 0:
            os.close(worker.channel.requests)  # it reads the end of its requests and exits
            worker.channel.requests = -1

    def _task_reported(self, worker: TaskProcess) -> None:
        """A reusable process said its task succeeded: read what the task wrote, then
        record the task as ended; the process waits for its next task."""
        assert worker.channel is not None
        try:
            said = os.read(worker.channel.ends, 64)
        except BlockingIOError:
            return
        if not said:  # the process ended: reap() tells how
            self.selector.unregister(worker.channel.ends)
            os.close(worker.channel.ends)
            worker.channel.ends = -1
            return
        for fd in list(worker.fds):
            self._drain(worker, fd)
            if tail := worker.partial.pop(fd, b""):
                self._emit(worker, fd, tail)
        self.ended.append(worker.task_ended(time.monotonic()))
        if worker.tasks_run + 1 < TASKS_PER_PROCESS:
            self.idle.setdefault(worker.step, []).append(worker)
        else:
            self._stop_serving(worker)

    def _drain(self, worker: TaskProcess, fd: int) -> None:
        """Read and echo what ``fd`` holds now (its writer flushed before saying it ended)."""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(fd, 65536):
                self._received(worker, fd, chunk)

    # -- output -------------------------------------------------------------------------------
    def pump(self, timeout: float) -> None:
        if not self.selector.get_map():
            if timeout:
                time.sleep(timeout)
            return
        for key, _ in self.selector.select(timeout):
            worker: TaskProcess = key.data
            fd = key.fd
            if worker.channel is not None and fd == worker.channel.ends:
                self._task_reported(worker)
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                self._close(worker, fd)
                continue
            self._received(worker, fd, chunk)

    def _received(self, worker: TaskProcess, fd: int, chunk: bytes) -> None:
        worker.keep(_stream(worker, fd), chunk)
        data = worker.partial.pop(fd, b"") + chunk
        *lines, rest = data.split(b"\n")
        if rest:
            worker.partial[fd] = rest
        for line in lines:
            self._emit(worker, fd, line)

    def _emit(self, worker: TaskProcess, fd: int, line: bytes) -> None:
        stream = self.out if worker.fds.get(fd) == "out" else self.err
        text = line.decode("utf-8", errors="replace")
        stream.write(f"[{self.label(worker)}] {text}\n")
        stream.flush()

    def _close(self, worker: TaskProcess, fd: int) -> None:
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
    def reap(self) -> list[TaskProcess]:
        """The tasks that ended since the last call (their output read to the end)."""
        now = time.monotonic()
        ended, self.ended = self.ended, []
        for pid, worker in list(self.running.items()):
            code = reap(pid)  # the task process, and orphans it left in its group
            if worker.status is None:
                if code is None:
                    continue
                if worker.channel is not None and not worker.idle and worker.channel.ends >= 0:
                    self._task_reported(worker)  # it may have said its task ended, then died
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
            self._forget(worker)
            if not worker.idle:  # else it ended between tasks: no task ended with it
                ended.append(worker)
        return ended

    def _forget(self, worker: TaskProcess) -> None:
        del self.running[worker.pid]
        if worker.channel is not None:
            self._stop_serving(worker)
            if worker.channel.ends >= 0:
                self.selector.unregister(worker.channel.ends)
                os.close(worker.channel.ends)
                worker.channel.ends = -1
            with contextlib.suppress(ValueError):
                self.idle.get(worker.step, []).remove(worker)

    def _stop_leftovers(self, worker: TaskProcess) -> None:
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

    def stop_all(self, what: str) -> list[TaskProcess]:
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
            self._forget(worker)
        self.say(f"{what}: all task processes were stopped.")
        return [w for w in stopped if not w.idle]


def _stream(worker: TaskProcess, fd: int) -> str:
    return "stdout" if worker.fds[fd] == "out" else "stderr"
