"""``python -m provider.runtime``: run one task in this process (the container entrypoint).

::

    python -m provider.runtime --flow-file=flow.py --run-id=R --step=train --task-id=3 \
        [--flow=NAME] [--attempt=N] [--params-json='{...}'] [--max-num-splits=N] \
        [--datastore-root=ROOT] [--code-package=KEY]

Its command line is one record, :class:`~provider.runtime.command.RuntimeCommand`, which
every launcher builds; values are passed as ``--option=value`` (a run id may start with ``-``).

With ``--code-package`` (a key in the datastore, made by
:func:`provider.datastore.code.upload_code`), the flow's folder is unpacked into
a temporary directory first and ``--flow-file`` is relative to it; ``--flow``
then names the flow, since its datastore holds the package.

A @parallel step: ``--task-id`` is the id of the gang's node 0 (``0``, ``3.0``).
Without a node index the whole gang runs here, as local processes. With one,
this process is that node of a gang whose nodes run on separate machines::

    ... --step train --task-id 0 [--node-index I] [--num-nodes N] \
        [--main-addr ADDR] [--main-port 29500]

The node index defaults to ``$JOB_COMPLETION_INDEX`` (a Kubernetes Indexed Job)
or ``$AWS_BATCH_JOB_NODE_INDEX``; the node count to ``$AWS_BATCH_JOB_NUM_NODES``
(checked against the split's record, which is used when nothing says); the main
address to ``$AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS``, or this machine's
address on node 0. Each node's step gets ``MASTER_ADDR``, ``MASTER_PORT``,
``WORLD_SIZE``, ``NODE_RANK`` and torchrun's ``PET_*`` variables.

A chunk (many foreach items of one step, one Airflow task instance): ``--task-ids``
lists them, comma-separated, instead of ``--task-id``; they run as parallel
processes (:func:`provider.runtime.chunk.run_items`), each its own task::

    ... --step train --task-ids 40,41,...,79 --attempt N [--first-attempt F] [--processes P]
        [--process-per-task]

Tasks that committed a manifest in an attempt at or after ``--first-attempt``
(default 0) are not run again. ``--processes`` defaults to ``[airstep]
chunk_processes``, else the step's ``@resources`` cpu.

Exit status 0 when the task (every task of a chunk) succeeded; 1 (with the user's
traceback, or the chunk's failed tasks) when it failed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import replace

from provider.datastore.code import unpack_code
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.ids import check_run_id
from provider.datastore.storage import storage_for
from provider.exceptions import AirstepError
from provider.flow.loader import load_flow_class
from provider.flow.spec import FlowSpec
from provider.runtime.command import RuntimeCommand
from provider.runtime.gang import NODE_INDEX_VARS, node_request
from provider.runtime.nodes import LEADER_ENV, run_node
from provider.runtime.run import run_task
from provider.runtime.task import TaskRequest, user_traceback


def main(argv: list[str] | None = None) -> int:
    command = RuntimeCommand.from_argv(argv, description=__doc__)
    try:
        flow_file = command.flow_file
        if command.code_package:
            if not command.flow:
                raise AirstepError("--code-package needs --flow NAME.")
            package_store = FlowDataStore(command.flow, storage_for(command.datastore_root))
            code_dir = unpack_code(
                package_store, command.code_package, tempfile.mkdtemp(prefix="airstep-code-")
            )
            flow_file = os.path.join(code_dir, command.flow_file)
            # the package root is importable, as the DAGs folder is in Airflow's worker
            sys.path.insert(0, code_dir)
        flow_cls = load_flow_class(flow_file, command.flow)
        store = FlowDataStore(flow_cls.__name__, storage_for(command.datastore_root))
        check_run_id(command.run_id, flow_cls.__name__)
        request = command.request()
        if command.task_ids:
            _run_chunk(flow_cls, request, store, command)
        elif command.node_index is not None or _platform_node(flow_cls, request.step):
            request = node_request(
                flow_cls,
                request,
                store,
                node_index=command.node_index,
                num_nodes=command.num_nodes,
                main_addr=command.main_addr,
                main_port=command.main_port,
            )
            leader = os.environ.get(LEADER_ENV)
            run_node(flow_cls, request, store, leader_pid=int(leader) if leader else None)
        else:
            run_task(flow_cls, request, store)
    except Exception as exc:
        sys.stderr.write(user_traceback(exc))
        return 1
    return 0


def _run_chunk(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore, command: RuntimeCommand
) -> None:
    """Every task of the chunk, in parallel processes; ItemsFailed when any failed."""
    from provider.runtime.chunk import chunk_processes, run_items

    requests = [replace(request, task_id=task_id, extra_env={}) for task_id in command.task_ids]
    processes = command.processes or chunk_processes(flow_cls, request.step, remote=True)
    run_items(
        flow_cls,
        requests,
        store,
        processes=processes,
        first_attempt=command.first_attempt,
        reuse_processes=not command.process_per_task,
    )


def _platform_node(flow_cls: type[FlowSpec], step: str) -> bool:
    """A @parallel step on a platform that numbers its nodes runs one node here."""
    graph = flow_cls.graph()
    is_parallel = step in graph and graph[step].is_parallel
    return is_parallel and any(os.environ.get(name) for name in NODE_INDEX_VARS)


if __name__ == "__main__":
    sys.exit(main())
