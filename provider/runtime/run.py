"""``run_task``: what every executor calls to run one task of a flow.

The local executor's task processes, the in-worker Airflow operator and the
container entrypoint all call it. A task is one process's work
(:func:`provider.runtime.task.run_one_task`), except for a @parallel step, whose
task is a gang: its nodes start together (:func:`provider.runtime.gang.run_gang`),
each running its own task through ``run_one_task``.
"""

from __future__ import annotations

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import TaskManifest
from provider.flow.spec import FlowSpec
from provider.runtime.gang import run_gang
from provider.runtime.request import TaskRequest
from provider.runtime.task import run_one_task, step_of


def run_task(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore | None = None
) -> TaskManifest:
    """Run the task and return its manifest (also committed to the datastore); for a
    @parallel step without ``request.node``, the whole gang (the manifest is node 0's)."""
    store = store or FlowDataStore(flow_cls.__name__)
    if step_of(flow_cls, request).is_parallel and request.node is None:
        return run_gang(flow_cls, request, store)
    return run_one_task(flow_cls, request, store)
