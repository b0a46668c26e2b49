"""A task in its own process: ``os.fork`` from the already-warm parent.

The parent has imported the flow, cloudpickle and zstd once; a forked child
starts in about a millisecond and calls the function it is given (the runtime's
:func:`provider.runtime.run.process_runner`: it runs the task), with its stdout and
stderr on pipes the parent reads. The child leads a process group of its own and
dies with its parent (:mod:`provider.processes.groups`).

A process started for a task of a foreach body may run more tasks of the same step,
one after another (``reusable``): a fork costs several times what a trivial task
does, since every page the child touches is copied then. After each task it reports
the task's end on a pipe and reads the next request from another. It takes no
further task, and ends as a process per task would, once a task failed (an
exception, ``sys.exit``, a crash, a failure ``@catch`` caught) or changed the process:
its environment, working directory, ``sys.path``, standard streams, a name bound in the
flow's module or class, a thread or child process left running. Like a fork, each next
task gets ``random`` reseeded. A failing or crashing task so ends its own process only, and
the next task of the step starts from a fresh fork.
"""

from __future__ import annotations

import os
import pickle
import random
import signal
import struct
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from provider.exceptions import TaskCrashed
from provider.processes.groups import adopt_task_group, enter_task_group
from provider.processes.streams import MAX_LOG_BYTES, text_stream


class Request(Protocol):
    """What a task process is handed: which task (the runtime's ``TaskRequest``)."""

    step: str
    task_id: str
    attempt: int
    extra_env: dict[str, str]
    capture_output: bool


#: what a task process calls for each task it runs: the exit code its process would have,
#: and whether the process must run no further task (the task failed, or ``@catch`` caught)
Runner = Callable[[Any], tuple[int, bool]]


@dataclass
class TaskProcess:
    pid: int
    step: str
    task_id: str
    attempt: int
    fds: dict[int, str]  # fd -> "out" | "err"
    gpus: list[int] = field(default_factory=list)
    partial: dict[int, bytes] = field(default_factory=dict)
    #: whether the task keeps its own output (else the executor stores ``output``)
    captured: bool = True
    #: what the task wrote to stdout and stderr, by stream: the last MAX_LOG_BYTES of each
    output: dict[str, deque[bytes]] = field(
        default_factory=lambda: {"stdout": deque(), "stderr": deque()}
    )
    _sizes: Counter[str] = field(default_factory=Counter)
    _dropped: Counter[str] = field(default_factory=Counter)
    #: exit code once the task process ended (negative: the signal that killed it)
    status: int | None = None
    started_at: float = field(default_factory=time.time)
    #: ``time.monotonic()`` when the task process ended
    ended_at: float | None = None
    #: when to SIGKILL what the step left running (it got SIGTERM first)
    kill_leftovers_at: float | None = None
    #: a reusable process's pipes (None: the process runs one task)
    channel: Channel | None = None
    #: a reusable process that ended its task and waits for the next one
    idle: bool = False
    #: tasks handed over to this process after its first
    tasks_run: int = 0

    def keep(self, stream: str, chunk: bytes) -> None:
        """Keep a chunk of the task's ``stream``, dropping the oldest beyond MAX_LOG_BYTES."""
        chunks = self.output[stream]
        chunks.append(chunk)
        self._sizes[stream] += len(chunk)
        while self._sizes[stream] > MAX_LOG_BYTES and len(chunks) > 1:
            dropped = len(chunks.popleft())
            self._sizes[stream] -= dropped
            self._dropped[stream] += dropped

    def kept(self, stream: str) -> bytes:
        """What the task wrote to ``stream`` (its last MAX_LOG_BYTES, saying what was dropped)."""
        data = b"".join(self.output[stream])
        if dropped := self._dropped[stream]:
            data = f"[airstep: the first {dropped} bytes of output were dropped]\n".encode() + data
        return data

    @property
    def open_fds(self) -> list[int]:
        """The run process's ends of this process's pipes (a later fork closes them)."""
        fds = list(self.fds)
        if self.channel is not None:
            fds += [fd for fd in (self.channel.requests, self.channel.ends) if fd >= 0]
        return fds

    def task_ended(self, now: float) -> TaskProcess:
        """A reusable process reported its task's success: that task as a record of its
        own (its output read to the end), while this process waits for its next task."""
        ended = TaskProcess(
            self.pid,
            self.step,
            self.task_id,
            self.attempt,
            {},
            self.gpus,
            captured=self.captured,
            output=self.output,
            _sizes=self._sizes,
            _dropped=self._dropped,
            status=0,
            started_at=self.started_at,
            ended_at=now,
        )
        self.output = {"stdout": deque(), "stderr": deque()}
        self._sizes, self._dropped = Counter(), Counter()
        self.idle = True
        return ended

    @property
    def name(self) -> str:
        return f"{self.step}/{self.task_id}"

    @property
    def ending(self) -> str:
        """How the task process ended, as a sentence."""
        return TaskCrashed.cause(self.status or 0)


@dataclass
class Channel:
    """The pipes of a reusable task process: the run process writes requests to
    ``requests`` and reads one byte from ``ends`` for each task that ended and succeeded."""

    requests: int
    ends: int


def fork_task(
    run: Runner,
    request: Request,
    gpus: list[int],
    inherited_fds: list[int],
    reusable: bool = False,
    watched: Any = None,
    death_signal: int = signal.SIGKILL,
) -> TaskProcess:
    """Fork a process that calls ``run(request)``; ``reusable``: then more requests handed
    over, while the process stays as it was (``watched``: the flow class, whose module's and
    class's names a task must not rebind). ``death_signal`` reaches it if this process dies."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    if reusable:
        requests_r, requests_w = os.pipe()
        ends_r, ends_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    run_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # the task process
        code = 1
        try:
            enter_task_group(run_pid, death_signal)
            parent_ends = [requests_w, ends_r] if reusable else []
            for fd in [out_r, err_r, *parent_ends, *inherited_fds]:
                os.close(fd)
            # a background process group cannot read the terminal: stdin is empty instead
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.close(out_w)
            os.close(err_w)
            # print reaches the pipes whatever sys.stdout was (a notebook's, pytest's); the
            # streams replaced stay referenced: one that owns fd 1 or 2 (as Airflow's task
            # process's may) would close the task's pipe if it were collected
            replaced = (sys.stdout, sys.stderr)  # noqa: F841
            sys.stdout, sys.stderr = text_stream(1), text_stream(2)
            # the terminal's Ctrl-C reaches the run process only, which stops the tasks;
            # the step and the programs it starts get Python's usual SIGINT behaviour
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if gpus:
                request.extra_env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
            code = _serve(run, request, watched, Channel(requests_r, ends_w) if reusable else None)
        except BaseException as exc:  # the process itself failed, around its tasks
            sys.stderr.write("".join(traceback.format_exception(exc)))
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    adopt_task_group(pid)
    os.close(out_w)
    os.close(err_w)
    os.set_blocking(out_r, False)
    os.set_blocking(err_r, False)
    channel = None
    if reusable:
        os.close(requests_r)
        os.close(ends_w)
        os.set_blocking(ends_r, False)
        channel = Channel(requests_w, ends_r)
    return TaskProcess(
        pid,
        request.step,
        request.task_id,
        request.attempt,
        {out_r: "out", err_r: "err"},
        gpus,
        captured=request.capture_output,
        channel=channel,
    )


def spawn_task(argv: list[str], env: dict[str, str], request: Request) -> TaskProcess:
    """Start ``argv`` (a ``python -m provider.runtime`` command) as the task's process: for a
    parent that runs other threads, where a fork could deadlock the child. Like a forked task
    it leads its own process group, with its stdin empty and its output on pipes; it is not
    told when its parent dies (the command can be: :data:`provider.runtime.nodes.LEADER_ENV`)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_w, 1),
                (os.POSIX_SPAWN_DUP2, err_w, 2),
            ],
            setpgroup=0,
            setsigdef=(signal.SIGTERM, signal.SIGINT),
        )
    finally:
        os.close(out_w)
        os.close(err_w)
    os.set_blocking(out_r, False)
    os.set_blocking(err_r, False)
    return TaskProcess(
        pid,
        request.step,
        request.task_id,
        request.attempt,
        {out_r: "out", err_r: "err"},
        captured=request.capture_output,
    )


def run_command(argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` (a chunk's ``python -m provider.runtime``, which starts its own task
    processes) to its end, with this process's output and an empty stdin; return its exit
    code. An exception here (the task being stopped) stops it with SIGTERM, which stops its
    tasks, and waits for it."""
    pid = os.posix_spawn(
        argv[0],
        argv,
        env,
        file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],
        setsigdef=(signal.SIGTERM, signal.SIGINT),
    )
    try:
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        raise
    return os.waitstatus_to_exitcode(status)


def hand_over(worker: TaskProcess, request: Request) -> None:
    """Send the next task of its step to an idle reusable task process."""
    assert worker.channel is not None and worker.idle
    data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    os.write(worker.channel.requests, _LENGTH.pack(len(data)) + data)
    worker.task_id, worker.attempt = request.task_id, request.attempt
    worker.started_at, worker.tasks_run, worker.idle = time.time(), worker.tasks_run + 1, False


_LENGTH = struct.Struct("<I")


def _serve(run: Runner, request: Request, watched: Any, channel: Channel | None) -> int:
    """Run the task; in a reusable process, then the next ones sent, until one fails or
    changes the process, or no more come. Return the process's exit code."""
    before: tuple[Any, ...] = ()
    if channel is not None:
        try:
            before = _process_state(watched)
        except Exception:  # noqa: BLE001 - e.g. no working directory: run one task
            channel = None
    while True:
        code, last = run(request)
        if code != 0 or last or channel is None:
            return code
        if not _unchanged(watched, before):
            return code
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(channel.ends, b"+")
        next_request = _receive(channel.requests)
        if next_request is None:
            return 0
        request = next_request
        random.seed()  # as a fork does: each task draws its own numbers


def _receive(fd: int) -> Any:
    """The next request from the run process; None once it sends no more."""
    head = _read_exactly(fd, _LENGTH.size)
    if head is None:
        return None
    data = _read_exactly(fd, _LENGTH.unpack(head)[0])
    return None if data is None else pickle.loads(data)


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _unchanged(watched: Any, before: tuple[Any, ...]) -> bool:
    """Whether the process is as it was before its first task, for the next one."""
    try:
        return _alone() and _process_state(watched) == before
    except Exception:  # noqa: BLE001 - e.g. the step removed the working directory
        return False


def _process_state(flow_cls: Any) -> tuple[Any, ...]:
    """What a task could change in its process that a later task would see: the
    environment, the working directory, ``sys.path``, the standard streams, the names
    bound in the flow's module and class (by identity: a value mutated in place is not
    seen)."""
    if flow_cls is None:
        return (dict(os.environ), os.getcwd(), list(sys.path), (id(sys.stdout), id(sys.stderr)))
    module = sys.modules.get(flow_cls.__module__)
    names = {k: id(v) for k, v in vars(module).items()} if module is not None else {}
    return (
        dict(os.environ),
        os.getcwd(),
        list(sys.path),
        (id(sys.stdout), id(sys.stderr)),
        names,
        # airstep caches what it derives from the class on the class, as _airstep_*
        {k: id(v) for k, v in vars(flow_cls).items() if not k.startswith("_airstep")},
    )


def _alone() -> bool:
    """Whether this process runs nothing but itself: one thread, no child process."""
    if threading.active_count() > 1:
        return False
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False
