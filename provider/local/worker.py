"""A task in its own process: ``os.fork`` from the already-warm parent.

The parent has imported the flow, cloudpickle and zstd once; a forked child
starts in about a millisecond and runs :func:`provider.runtime.run.run_task`
directly, with its stdout and stderr on pipes the parent reads. The child leads a
process group of its own and dies with the run (:mod:`provider.local.process_groups`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from provider.datastore.flowstore import FlowDataStore
from provider.exceptions import TaskCrashed
from provider.local.process_groups import adopt_task_group, enter_task_group
from provider.runtime.logs import MAX_LOG_BYTES, text_stream
from provider.runtime.run import run_task
from provider.runtime.task import TaskRequest, user_traceback


@dataclass
class Worker:
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
    def name(self) -> str:
        return f"{self.step}/{self.task_id}"

    @property
    def ending(self) -> str:
        """How the task process ended, as a sentence."""
        return TaskCrashed.cause(self.status or 0)


def fork_task(
    flow_cls: Any,
    request: TaskRequest,
    store: FlowDataStore,
    gpus: list[int],
    inherited_fds: list[int],
) -> Worker:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    run_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # the task process
        code = 1
        try:
            enter_task_group(run_pid)
            for fd in [out_r, err_r, *inherited_fds]:
                os.close(fd)
            # a background process group cannot read the terminal: stdin is empty instead
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.close(devnull)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.close(out_w)
            os.close(err_w)
            # print reaches the pipes whatever sys.stdout was (a notebook's, pytest's)
            sys.stdout, sys.stderr = text_stream(1), text_stream(2)
            # the terminal's Ctrl-C reaches the run process only, which stops the tasks;
            # the step and the programs it starts get Python's usual SIGINT behaviour
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if gpus:
                request.extra_env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
            run_task(flow_cls, request, store)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            sys.stderr.write(user_traceback(exc))
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
    return Worker(
        pid,
        request.step,
        request.task_id,
        request.attempt,
        {out_r: "out", err_r: "err"},
        gpus,
        captured=request.capture_output,
    )
