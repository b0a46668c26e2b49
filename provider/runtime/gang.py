"""The nodes of a @parallel step: started together, stopped together.

A gang is the tasks ``<path>.0`` ... ``<path>.<N-1>`` of a @parallel step, N being
what its split recorded; node 0 is the main (control) node and its task id
stands for the gang. Every in-process executor runs a gang here:
:func:`~provider.runtime.run.run_task`, given a @parallel step and no node,
calls :func:`run_gang` (the local executor's forked worker, the Airflow worker,
a step container that runs a whole gang).

* The N nodes start at once on 127.0.0.1, with a free port as ``MASTER_PORT``.
  Each is its own process group, forked from this warm process; when this
  process runs other threads (forking could then deadlock a child), each is
  started with ``posix_spawn`` as ``python -m provider.runtime ... --node-index I``,
  the command a remote node runs.
* Their output is relayed line by line, prefixed ``[node I]``.
* When a node fails (non-zero exit status or a signal), every other node's
  process group gets SIGTERM (termination hooks run), then SIGKILL after
  :data:`GRACE_SECONDS`; :class:`~provider.exceptions.GangFailed` names the node,
  its task and its exit status, and node 0's attempt record says the same, with
  the failing node's traceback.
* Nothing outlives the gang: a node's process group is killed when the node
  ends; SIGTERM or an exception here (Airflow's execution timeout) stops every
  node; a node whose gang process dies stops its own process group. (The
  processes are :mod:`provider.runtime.nodes`.)

Nodes on other machines (pods, AWS Batch nodes) each run ``python -m
provider.runtime --node-index I ...``: :func:`node_request` works out the node
from those arguments or from the platform's variables.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace

from provider.datastore.flowstore import FlowDataStore, path_for, task_id_for
from provider.datastore.records import AttemptRecord, TaskManifest
from provider.decorators.resolve import step_gpus
from provider.exceptions import GangFailed, ResourceError, StepError
from provider.flow.distributed import DEFAULT_MAIN_PORT, GangNode
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.spec import FlowSpec
from provider.processes.crashes import record_crash
from provider.runtime.nodes import NodeProcess, NodeProcesses, describe, say
from provider.runtime.task import TaskRequest
from provider.runtime.termination import failing_on_sigterm

#: where each platform says which node this is, how many there are, and where the main is
NODE_INDEX_VARS = ("JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_NODE_INDEX")
NUM_NODES_VARS = ("AWS_BATCH_JOB_NUM_NODES",)
MAIN_ADDR_VARS = ("AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS",)


def run_gang(flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore) -> TaskManifest:
    """Run every node of the gang ``request.task_id`` (node 0's id); return node 0's manifest."""
    graph = flow_cls.graph()
    step = graph[request.step]
    path = _control_path(graph, step, request.task_id)
    num_nodes = gang_size(graph, step, store, request.run_id, path)
    port = free_port()
    devices = _node_devices(step, request.extra_env.get("CUDA_VISIBLE_DEVICES"), num_nodes)
    requests = [
        replace(
            request,
            task_id=task_id_for((*path[:-1], index)),
            node=GangNode(index, num_nodes, "127.0.0.1", port, request.task_id),
            extra_env={**request.extra_env, **devices[index]},
        )
        for index in range(num_nodes)
    ]
    started = time.time()
    gang = NodeProcesses(flow_cls, store, fork=threading.active_count() == 1)
    started_as = "forked" if gang.fork else "each a new python -m provider.runtime"
    say(f"Gang of step {step.name}: {num_nodes} node(s), {started_as}; main 127.0.0.1:{port}.")
    with failing_on_sigterm(
        f"Step *{step.name}* was asked to stop (SIGTERM); every node of its gang was "
        "stopped. Add @retry to run it again."
    ):
        try:
            for node_request in requests:
                gang.launch(node_request)
            failed = gang.wait()
        finally:
            gang.stop()
            _record_killed(store, requests, gang.nodes)
    if failed is not None:
        error, traceback = _failure(store, step, requests[failed.index], failed.status)
        store.write_attempt(
            request.run_id,
            step.name,
            request.task_id,
            request.attempt,
            AttemptRecord(
                "failed",
                started,
                finished_at=time.time(),
                pid=os.getpid(),
                exception=type(error).__name__,
                message=str(error),
                traceback=f"{traceback}{error}\n",
            ),
        )
        raise error
    manifests = [store.read_manifest(r.run_id, r.step, r.task_id) for r in requests]
    for index, manifest in enumerate(manifests):
        if manifest is None:
            raise GangFailed(
                f"Step *{step.name}*: node {index} (task {requests[index].task_id}) exited with "
                f"status 0 but recorded no result in {store.root}; check that every node "
                "writes to the same datastore."
            )
    assert manifests[0] is not None
    return manifests[0]


def node_request(
    flow_cls: type[FlowSpec],
    request: TaskRequest,
    store: FlowDataStore,
    *,
    node_index: int | None = None,
    num_nodes: int | None = None,
    main_addr: str | None = None,
    main_port: int | None = None,
    environ: Mapping[str, str] = os.environ,
) -> TaskRequest:
    """The request of one node of the gang ``request.task_id``, which runs on its own machine.

    Each value is the argument when given, else the platform's: the node index from
    ``JOB_COMPLETION_INDEX`` (a Kubernetes Indexed Job) or ``AWS_BATCH_JOB_NODE_INDEX``;
    the node count from ``AWS_BATCH_JOB_NUM_NODES`` (it must match the split's record,
    which is used when neither says); the main address from
    ``AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS``, or this machine's address on
    node 0; the port 29500 by default.
    """
    graph = flow_cls.graph()
    step = graph[request.step]
    if not step.is_parallel:
        raise StepError(
            f"Step *{step.name}* was started as a node of a gang, but it has no @parallel; "
            "run it without --node-index and --num-nodes."
        )
    path = _control_path(graph, step, request.task_id)
    size = gang_size(graph, step, store, request.run_id, path)
    index = node_index if node_index is not None else _platform_int(environ, NODE_INDEX_VARS)
    if index is None:
        raise StepError(
            f"Step *{step.name}* runs as a gang, but nothing says which node this is; give "
            f"--node-index, or set {' or '.join(NODE_INDEX_VARS)}."
        )
    given = num_nodes if num_nodes is not None else _platform_int(environ, NUM_NODES_VARS)
    if given is not None and given != size:
        raise StepError(
            f"Step *{step.name}* was started on {given} nodes, but step *{step.in_funcs[0]}* "
            f"asked for num_parallel={size}; start the gang with {size} nodes."
        )
    if not 0 <= index < size:
        raise StepError(
            f"Node index {index} is out of range for step *{step.name}*, whose gang has "
            f"{size} node(s) (0 to {size - 1})."
        )
    addr = main_addr or next((environ[v] for v in MAIN_ADDR_VARS if environ.get(v)), None)
    if addr is None and index == 0:
        addr = socket.gethostbyname(socket.gethostname())
    if addr is None:
        raise StepError(
            f"Node {index} of step *{step.name}* does not know where the main node is; give "
            f"--main-addr (the address of node 0)."
        )
    node = GangNode(index, size, addr, main_port or DEFAULT_MAIN_PORT, request.task_id)
    return replace(request, task_id=task_id_for((*path[:-1], index)), node=node)


def gang_size(
    graph: FlowGraph, step: StepNode, store: FlowDataStore, run_id: str, path: tuple[int, ...]
) -> int:
    """How many nodes the split before ``step`` asked for (the task at ``path`` is node 0)."""
    split = store.task(run_id, step.in_funcs[0], task_id_for(path[:-1])).manifest.foreach
    if split is None:
        raise StepError(f"Step *{step.in_funcs[0]}* recorded no gang for step *{step.name}*.")
    return split.num_splits


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# -- helpers ----------------------------------------------------------------------------------
def _control_path(graph: FlowGraph, step: StepNode, task_id: str) -> tuple[int, ...]:
    path = path_for(task_id, graph.foreach_depth(step.name))
    if path[-1] != 0:
        raise StepError(
            f"Task {task_id!r} of step *{step.name}* is node {path[-1]}, but a gang is started "
            f"by the id of its node 0, {task_id_for((*path[:-1], 0))!r}."
        )
    return path


def _node_devices(step: StepNode, visible: str | None, num_nodes: int) -> list[dict[str, str]]:
    """Each node's share of the GPUs the gang was given (``@resources(gpu=k)`` is per node)."""
    per_node = step_gpus(step)
    if visible is None or per_node == 0:
        return [{} for _ in range(num_nodes)]
    devices = [d.strip() for d in visible.split(",") if d.strip()]
    if len(devices) < per_node * num_nodes:
        raise ResourceError(
            f"Step *{step.name}* asks for {per_node} GPU(s) on each of its {num_nodes} nodes, "
            f"but {len(devices)} are available here; use fewer nodes or GPUs per node, or run "
            "the step where there are more GPUs."
        )
    return [
        {"CUDA_VISIBLE_DEVICES": ",".join(devices[i * per_node : (i + 1) * per_node])}
        for i in range(num_nodes)
    ]


def _failure(
    store: FlowDataStore, step: StepNode, request: TaskRequest, status: int | None
) -> tuple[GangFailed, str]:
    """The gang's error, naming the node that failed first, and that node's traceback."""
    assert request.node is not None
    record = store.read_attempt(request.run_id, step.name, request.task_id, request.attempt)
    cause = ""
    if record is not None and record.status == "failed" and record.exception:
        cause = f" ({record.exception}: {record.message})"
    error = GangFailed(
        f"Step *{step.name}* failed: node {request.node.index} of {request.node.num_nodes} "
        f"(task {store.flow_name}/{request.run_id}/{step.name}/{request.task_id}) "
        f"{describe(status)}{cause}; the other nodes were stopped."
    )
    return error, ((record.traceback or "") if record is not None else "")


def _record_killed(
    store: FlowDataStore, requests: list[TaskRequest], nodes: list[NodeProcess]
) -> None:
    """A node killed by a signal could not record how its attempt ended: record it here."""
    for node in nodes:
        if node.status is None or node.status >= 0:
            continue
        request = requests[node.index]
        cause = f"Node {node.index} of step *{request.step}* {describe(node.status)}."
        record_crash(store, request.run_id, request.step, request.task_id, request.attempt, cause)


def _platform_int(environ: Mapping[str, str], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise StepError(f"${name} is {value!r}, which is not a whole number.") from None
    return None
