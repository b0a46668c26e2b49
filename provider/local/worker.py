"""A task in its own process: ``os.fork`` from the already-warm parent.

The parent has imported the flow, cloudpickle and zstd once; a forked child
starts in about a millisecond and runs :func:`provider.runtime.task.run_task`
directly, with its stdout and stderr on pipes the parent reads.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from provider.datastore.flowstore import FlowDataStore
from provider.runtime.task import TaskRequest, run_task, user_traceback


@dataclass
class Worker:
    pid: int
    step: str
    task_id: str
    attempt: int
    fds: dict[int, str]  # fd -> "out" | "err"
    gpus: list[int] = field(default_factory=list)
    partial: dict[int, bytes] = field(default_factory=dict)
    log: list[bytes] = field(default_factory=list)
    status: int | None = None

    @property
    def name(self) -> str:
        return f"{self.step}/{self.task_id}"


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
    pid = os.fork()
    if pid == 0:  # the task process
        code = 1
        try:
            for fd in [out_r, err_r, *inherited_fds]:
                os.close(fd)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.close(out_w)
            os.close(err_w)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us on Ctrl-C
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
    os.close(out_w)
    os.close(err_w)
    os.set_blocking(out_r, False)
    os.set_blocking(err_r, False)
    return Worker(
        pid, request.step, request.task_id, request.attempt, {out_r: "out", err_r: "err"}, gpus
    )
