"""``StepOperator``: run one task of a flow inside the Airflow worker.

The operator is a thin adapter. :class:`~provider.operators.base.StepOperatorMixin`
turns Airflow's identity of a task instance into a
:class:`~provider.runtime.task.TaskRequest`; this operator calls the same
:func:`~provider.runtime.run.run_task` with it that the local executor and the
step containers call. Artifacts go to the datastore; the XCom return value is a
pointer only (task ids), never data.

A @parallel step is one task that runs every node of its gang here
(:func:`~provider.runtime.gang.run_gang`, through ``run_task``); its
``flow_task_id`` is the gang's node 0.

``ForeachFanoutOperator`` is the small helper task that a nested foreach needs:
it concatenates the child task ids of every task of a mapped foreach split into
one flat list that the inner foreach body is mapped over.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from provider.exceptions import ForeachError, ForeachTooWide
from provider.operators.base import StepOperatorMixin
from provider.operators.pointers import (
    SPLIT_LIMIT_FIX,
    foreach_width_limit,
    group_task_ids,
    max_map_tasks,
)
from provider.operators.secrets import airflow_handoff, masked_secrets
from provider.processes.spawn import run_command
from provider.runtime.chunk import chunk_processes, collect_items, run_items
from provider.runtime.command import RuntimeCommand
from provider.runtime.run import run_task
from provider.settings import flag

if TYPE_CHECKING:
    from airflow.sdk import Context

    from provider.datastore.flowstore import FlowDataStore
    from provider.flow.spec import FlowSpec
    from provider.runtime.request import TaskRequest


class StepOperator(StepOperatorMixin, BaseOperator):
    """Run one step of a flow in this worker, through the airstep runtime.

    The task's artifacts are written to the datastore (``[airstep] datastore_root``,
    else ``$AIRSTEP_DATASTORE_ROOT``, else ``~/.airstep``). The return value, pushed
    to XCom, is a pointer: the task's own airstep task id (``"3.5"``), or for a
    foreach split the list of its children's task ids (``["3.0", "3.1"]``).

    :param flow_cls: the :class:`~provider.FlowSpec` subclass the step belongs to.
    :param step_name: the name of the step to run.
    :param flow_task_id: the airstep task id to run: the foreach index path,
        ``"0"`` outside any foreach. Mapped steps receive it from their upstream's
        XCom; a chunk of a wide foreach receives a list of task ids, and runs each as
        its own task (:mod:`provider.runtime.chunk`). (templated)
    """

    template_fields: Sequence[str] = ("flow_task_id",)
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        flow_cls: type[FlowSpec],
        step_name: str,
        flow_task_id: str | list[str] = "0",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_cls = flow_cls
        self.step_name = step_name
        self.flow_task_id = flow_task_id

    def execute(self, context: Context) -> str | list[str]:
        # @secrets: read here, once, through Airflow's secrets backends, each value masked in
        # the task log before the task or any process it starts can print it
        node = self.flow_cls.graph()[self.step_name]
        with masked_secrets(node):
            if self.chunk() is not None:
                return self._execute_chunk(context)
            request = self.start_task(context)
            # a gang's nodes started as new processes (this one runs threads) read @secrets
            # themselves: its Airflow sources, read here, under Airflow's own variable names
            handoff = airflow_handoff(node) if node.is_parallel else {}
            try:
                with _environment(handoff):
                    manifest = run_task(self.flow_cls, request, self.datastore())
            except ForeachTooWide as exc:  # the runtime gives the numbers; Airflow's fix is ours
                raise ForeachError(f"{exc} {SPLIT_LIMIT_FIX}") from None
        return self.finish_task(context, manifest)

    def _execute_chunk(self, context: Context) -> list[str]:
        """Run every task of the chunk as a process of its own, a few at once. Forked from
        this process when it runs no other thread; else from a fresh ``python -m
        provider.runtime`` (forking a process with threads could deadlock a child)."""
        requests, first_attempt = self.start_items(context)
        store = self.datastore()
        processes = chunk_processes(self.flow_cls, self.step_name, remote=False)
        fork = threading.active_count() == 1
        env = dict(requests[0].extra_env)
        self.log.info(
            "Step %s: a chunk of %d task(s) (%s), %d at once, %s.",
            self.step_name,
            len(requests),
            context["label"],  # type: ignore[typeddict-item]
            processes,
            "forked from this process" if fork else "from a new python -m provider.runtime",
        )
        if fork:  # the forked processes take the @secrets values execute read
            with _environment(env):
                manifests = run_items(
                    self.flow_cls,
                    requests,
                    store,
                    processes=processes,
                    first_attempt=first_attempt,
                    reuse_processes=not flag("process_per_task"),
                )
        else:
            # a new process reads @secrets itself: the Airflow sources are read here through
            # Airflow, and found there under Airflow's own variable names, as in a container
            env.update(airflow_handoff(self.flow_cls.graph()[self.step_name]))
            _run_chunk_process(self.flow_cls, requests, store, processes, first_attempt, env)
            manifests = collect_items(self.flow_cls, requests, store, first_attempt)
        return self.finish_items(context, manifests)


def _run_chunk_process(
    flow_cls: type[FlowSpec],
    requests: list[TaskRequest],
    store: FlowDataStore,
    processes: int,
    first_attempt: int,
    env: dict[str, str],
) -> None:
    """The chunk run by ``python -m provider.runtime --task-ids ...``, its output this task's;
    ``env`` is added to its environment."""
    first = requests[0]
    argv = (
        RuntimeCommand.for_request(
            first,
            flow=flow_cls.__name__,
            flow_file=os.path.abspath(inspect.getfile(flow_cls)),
            datastore_root=store.root,
        )
        .chunk(
            [r.task_id for r in requests],
            first_attempt=first_attempt,
            processes=processes,
            process_per_task=flag("process_per_task"),
        )
        .to_argv(sys.executable)
    )
    run_command(argv, {**os.environ, **env})  # its items' outcomes are read afterwards


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` in this process's environment (what forked processes inherit) while inside."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ForeachFanoutOperator(BaseOperator):
    """Flatten the child task ids of a mapped foreach split into one list.

    Airflow does not flatten when a mapped task maps over another mapped task's
    lists, so the inner body of a nested foreach is mapped over this task's
    output instead. The lists are concatenated in map-index order, which is the
    order of the split's own task ids.

    :param split_step: the foreach step whose children are collected (for messages).
    :param child_lists: the split's XCom output: one list of task ids per split
        task. (templated)
    """

    template_fields: Sequence[str] = ("child_lists",)
    ui_color = "#f4f4f4"

    def __init__(self, *, split_step: str, child_lists: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.split_step = split_step
        self.child_lists = child_lists

    def execute(self, context: Context) -> list[str] | list[list[str]]:
        lists = list(self.child_lists[:])  # one request, in map-index order
        flat = [task_id for ids in lists for task_id in ids]
        limit = foreach_width_limit()
        if len(flat) > limit:
            raise ForeachError(
                f"Foreach in step *{self.split_step}* yielded {len(flat)} child steps in total "
                f"(over its {len(lists)} tasks), more than the maximum of {limit}. "
                f"{SPLIT_LIMIT_FIX}"
            )
        grouped = group_task_ids(flat)
        if len(grouped) < len(flat):
            self.log.info(
                "%d task ids in %d chunks of up to %d ([airstep] max_map_tasks is %d).",
                len(flat),
                len(grouped),
                len(grouped[0]),
                max_map_tasks(),
            )
        return grouped
