"""``run_task``: what every executor calls to run one task of a flow.

The local executor's task processes, the in-worker Airflow operator and the
container entrypoint all call it. A task is one process's work
(:func:`provider.runtime.task.run_task_here`), except for a @parallel step, whose
task is a gang: its nodes start together (:func:`provider.runtime.gang.run_gang`),
each running its own task through ``run_task_here``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import TaskManifest
from provider.flow.spec import FlowSpec
from provider.runtime.gang import run_gang
from provider.runtime.request import TaskRequest
from provider.runtime.task import run_task_here, step_of, user_traceback


def run_task(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore | None = None
) -> TaskManifest:
    """Run the task and return its manifest (also committed to the datastore); for a
    @parallel step without ``request.node``, the whole gang (the manifest is node 0's)."""
    store = store or FlowDataStore(flow_cls.__name__)
    if step_of(flow_cls, request).is_parallel and request.node is None:
        return run_gang(flow_cls, request, store)
    return run_task_here(flow_cls, request, store)


def process_runner(
    flow_cls: type[FlowSpec], store: FlowDataStore
) -> Callable[[TaskRequest], tuple[int, bool]]:
    """What a task process of :mod:`provider.processes` calls for each task it is handed:
    :func:`run_task`, as the exit code its process would have and whether the process must
    run no further task (the task failed, or ``@catch`` caught a failure of the step)."""

    def run(request: TaskRequest) -> tuple[int, bool]:
        try:
            manifest = run_task(flow_cls, request, store)
        except SystemExit as exc:
            return (exc.code if isinstance(exc.code, int) else 1), True
        except BaseException as exc:
            sys.stderr.write(user_traceback(exc))
            return 1, True
        return 0, manifest.caught is not None

    return run
