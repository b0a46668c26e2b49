"""``python -m provider.runtime``: run one task in this process (the container entrypoint).

::

    python -m provider.runtime --flow-file flow.py --run-id R --step train --task-id 3 \
        [--flow NAME] [--attempt N] [--params-json '{...}'] [--max-num-splits N] \
        [--datastore-root ROOT] [--code-package KEY]

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
processes (:func:`provider.local.items.run_items`), each its own task::

    ... --step train --task-ids 40,41,...,79 --attempt N [--first-attempt F] [--processes P]
        [--process-per-task]

Tasks that committed a manifest in an attempt at or after ``--first-attempt``
(default 0) are not run again. ``--processes`` defaults to ``[airstep]
chunk_processes``, else the step's ``@resources`` cpu.

Exit status 0 when the task (every task of a chunk) succeeded; 1 (with the user's
traceback, or the chunk's failed tasks) when it failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from typing import Any

from provider.datastore.code import unpack_code
from provider.datastore.flowstore import FlowDataStore
from provider.datastore.storage import storage_for
from provider.exceptions import AirstepError
from provider.flow.loader import load_flow_class
from provider.flow.spec import FlowSpec
from provider.runtime.gang import NODE_INDEX_VARS, node_request
from provider.runtime.nodes import LEADER_ENV, run_node
from provider.runtime.run import run_task
from provider.runtime.task import TaskRequest, user_traceback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provider.runtime", description=__doc__)
    parser.add_argument("--flow-file", required=True)
    parser.add_argument("--flow")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--step", required=True)
    parser.add_argument("--task-id", default="0")
    parser.add_argument("--task-ids", help="a chunk: task ids, comma-separated")
    parser.add_argument("--first-attempt", type=int, default=0)
    parser.add_argument("--processes", type=int)
    parser.add_argument(
        "--process-per-task",
        action="store_true",
        help="a chunk: a fresh process for every task",
    )
    parser.add_argument("--attempt", type=int, default=0)
    parser.add_argument("--params-json")
    parser.add_argument("--max-num-splits", type=int, default=100)
    parser.add_argument("--datastore-root")
    parser.add_argument("--code-package")
    parser.add_argument("--node-index", type=int)
    parser.add_argument("--num-nodes", type=int)
    parser.add_argument("--main-addr")
    parser.add_argument("--main-port", type=int)
    args = parser.parse_args(argv)
    try:
        flow_file = args.flow_file
        if args.code_package:
            if not args.flow:
                raise AirstepError("--code-package needs --flow NAME.")
            package_store = FlowDataStore(args.flow, storage_for(args.datastore_root))
            code_dir = unpack_code(
                package_store, args.code_package, tempfile.mkdtemp(prefix="airstep-code-")
            )
            flow_file = os.path.join(code_dir, args.flow_file)
            # the package root is importable, as the DAGs folder is in Airflow's worker
            sys.path.insert(0, code_dir)
        flow_cls = load_flow_class(flow_file, args.flow)
        store = FlowDataStore(flow_cls.__name__, storage_for(args.datastore_root))
        request = TaskRequest(
            run_id=args.run_id,
            step=args.step,
            task_id=args.task_id,
            attempt=args.attempt,
            params=json.loads(args.params_json) if args.params_json else None,
            max_num_splits=args.max_num_splits,
        )
        if args.task_ids:
            _run_chunk(flow_cls, request, store, args)
        elif args.node_index is not None or _platform_node(flow_cls, request.step):
            request = node_request(
                flow_cls,
                request,
                store,
                node_index=args.node_index,
                num_nodes=args.num_nodes,
                main_addr=args.main_addr,
                main_port=args.main_port,
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
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore, args: Any
) -> None:
    """Every task of the chunk, in parallel processes; ItemsFailed when any failed."""
    from provider.local.items import chunk_processes, run_items

    task_ids = [task_id.strip() for task_id in args.task_ids.split(",") if task_id.strip()]
    requests = [replace(request, task_id=task_id, extra_env={}) for task_id in task_ids]
    processes = args.processes or chunk_processes(flow_cls, request.step, remote=True)
    run_items(
        flow_cls,
        requests,
        store,
        processes=processes,
        first_attempt=args.first_attempt,
        reuse_processes=not args.process_per_task,
    )


def _platform_node(flow_cls: type[FlowSpec], step: str) -> bool:
    """A @parallel step on a platform that numbers its nodes runs one node here."""
    graph = flow_cls.graph()
    is_parallel = step in graph and graph[step].is_parallel
    return is_parallel and any(os.environ.get(name) for name in NODE_INDEX_VARS)


if __name__ == "__main__":
    sys.exit(main())
