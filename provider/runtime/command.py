"""The command line of ``python -m provider.runtime``: one typed record, built and read here.

Whoever starts a task process elsewhere (a chunk in the worker, a pod, a Batch job, a node
of a gang) builds a :class:`RuntimeCommand` and passes :meth:`RuntimeCommand.to_argv`;
the entrypoint reads it back with :meth:`RuntimeCommand.from_argv`. Every value is passed
as ``--option=value``, in one argument, so a value that starts with ``-`` (an Airflow run id
such as ``-x1``) is never read as an option.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from provider.flow.distributed import GangNode
from provider.runtime.request import DEFAULT_MAX_NUM_SPLITS, TaskRequest


@dataclass(frozen=True)
class RuntimeCommand:
    """What a task process is asked to do: which task (or chunk, or gang node) of which flow,
    with which code and datastore."""

    flow_file: str
    run_id: str
    step: str
    #: the flow's class name (needed with ``code_package``, whose flow file it names)
    flow: str | None = None
    task_id: str = "0"
    attempt: int = 0
    params: dict[str, Any] | None = None
    max_num_splits: int = DEFAULT_MAX_NUM_SPLITS
    datastore_root: str | None = None
    code_package: str | None = None
    #: a chunk: its task ids (then ``task_id`` is unused)
    task_ids: tuple[str, ...] = ()
    first_attempt: int = 0
    processes: int | None = None
    process_per_task: bool = False
    #: a gang's node (see :mod:`provider.runtime.gang`)
    node_index: int | None = None
    num_nodes: int | None = None
    main_addr: str | None = None
    main_port: int | None = None

    @classmethod
    def for_request(
        cls,
        request: TaskRequest,
        *,
        flow: str,
        flow_file: str,
        datastore_root: str | None,
        code_package: str | None = None,
    ) -> RuntimeCommand:
        """The command that runs ``request`` elsewhere: what every launcher starts from."""
        return cls(
            flow_file=flow_file,
            flow=flow,
            code_package=code_package,
            datastore_root=datastore_root,
            run_id=request.run_id,
            step=request.step,
            task_id=request.task_id,
            attempt=request.attempt,
            params=request.params,
            max_num_splits=request.max_num_splits,
        )

    def chunk(
        self,
        task_ids: Sequence[str],
        *,
        first_attempt: int,
        processes: int,
        process_per_task: bool,
    ) -> RuntimeCommand:
        """This command for a chunk of tasks of its step, run ``processes`` at once."""
        return replace(
            self,
            task_ids=tuple(task_ids),
            first_attempt=first_attempt,
            processes=processes,
            process_per_task=process_per_task,
        )

    def node(
        self,
        node: GangNode | None = None,
        *,
        num_nodes: int | None = None,
        main_addr: str | None = None,
        main_port: int | None = None,
    ) -> RuntimeCommand:
        """This command for a node of a gang: ``node`` (its index, size and main) when known
        here, else what every node shares: the gang's size, and the main node's address and
        port when the launcher knows them (the platform numbers the nodes)."""
        if node is None:
            return replace(self, num_nodes=num_nodes, main_addr=main_addr, main_port=main_port)
        return replace(
            self,
            task_id=node.control_task_id,
            node_index=node.index,
            num_nodes=node.num_nodes,
            main_addr=node.main_addr,
            main_port=node.main_port,
        )

    def request(self) -> TaskRequest:
        """The task this command asks for (of a chunk, the first; of a node, node 0's id)."""
        return TaskRequest(
            run_id=self.run_id,
            step=self.step,
            task_id=self.task_ids[0] if self.task_ids else self.task_id,
            attempt=self.attempt,
            params=self.params,
            max_num_splits=self.max_num_splits,
        )

    def to_argv(self, python: str = "python") -> list[str]:
        """``[python, "-m", "provider.runtime", "--flow-file=...", ...]``."""
        argv = [python, "-m", "provider.runtime"]
        for name, value in self._options():
            if value is True:
                argv.append(f"--{name}")
            elif value is not None and value is not False:
                argv.append(f"--{name}={value}")
        return argv

    def _options(self) -> list[tuple[str, Any]]:
        return [
            ("flow-file", self.flow_file),
            ("flow", self.flow),
            ("code-package", self.code_package),
            ("datastore-root", self.datastore_root),
            ("run-id", self.run_id),
            ("step", self.step),
            ("task-ids", ",".join(self.task_ids) if self.task_ids else None),
            ("task-id", None if self.task_ids else self.task_id),
            ("attempt", self.attempt),
            ("first-attempt", self.first_attempt if self.task_ids else None),
            ("processes", self.processes),
            ("process-per-task", self.process_per_task),
            ("max-num-splits", self.max_num_splits),
            ("params-json", None if self.params is None else json.dumps(self.params)),
            ("node-index", self.node_index),
            ("num-nodes", self.num_nodes),
            ("main-addr", self.main_addr),
            ("main-port", self.main_port),
        ]

    @classmethod
    def from_argv(
        cls, argv: Sequence[str] | None = None, description: str | None = None
    ) -> RuntimeCommand:
        """The command in ``argv`` (default ``sys.argv[1:]``); ``description`` is ``--help``'s."""
        args = _parser(description).parse_args(argv)
        return cls(
            flow_file=args.flow_file,
            run_id=args.run_id,
            step=args.step,
            flow=args.flow,
            task_id=args.task_id,
            attempt=args.attempt,
            params=json.loads(args.params_json) if args.params_json else None,
            max_num_splits=args.max_num_splits,
            datastore_root=args.datastore_root,
            code_package=args.code_package,
            task_ids=tuple(t.strip() for t in (args.task_ids or "").split(",") if t.strip()),
            first_attempt=args.first_attempt,
            processes=args.processes,
            process_per_task=args.process_per_task,
            node_index=args.node_index,
            num_nodes=args.num_nodes,
            main_addr=args.main_addr,
            main_port=args.main_port,
        )


def _parser(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provider.runtime",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--flow-file", required=True)
    parser.add_argument("--flow")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--step", required=True)
    parser.add_argument("--task-id", default="0")
    parser.add_argument("--task-ids", help="a chunk: task ids, comma-separated")
    parser.add_argument("--first-attempt", type=int, default=0)
    parser.add_argument("--processes", type=int)
    parser.add_argument(
        "--process-per-task", action="store_true", help="a chunk: a fresh process for every task"
    )
    parser.add_argument("--attempt", type=int, default=0)
    parser.add_argument("--params-json")
    parser.add_argument("--max-num-splits", type=int, default=DEFAULT_MAX_NUM_SPLITS)
    parser.add_argument("--datastore-root")
    parser.add_argument("--code-package")
    parser.add_argument("--node-index", type=int)
    parser.add_argument("--num-nodes", type=int)
    parser.add_argument("--main-addr")
    parser.add_argument("--main-port", type=int)
    return parser
