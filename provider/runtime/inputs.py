"""What a task starts from: inherited artifacts, its foreach stack and, for a join, its inputs.

The first stage of running a task. ``start`` resolves the run's parameters and
stores them (with the flow's class constants) as its first artifacts; a linear
step inherits its parent's artifacts; a join inherits only parameters and
constants and reads the rest lazily from :class:`~provider.flow.join_inputs.Inputs`;
the first step of a foreach body gets one more frame on its foreach stack.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass

from provider.datastore.flowstore import FlowDataStore, TaskRecord, task_id_for
from provider.datastore.records import ArtifactEntry, ForeachFrame
from provider.exceptions import DataStoreError
from provider.flow.graph import FlowGraph, StepNode
from provider.flow.join_inputs import Inputs, InputTask
from provider.flow.spec import FlowSpec, flow_constants
from provider.runtime.request import TaskRequest
from provider.runtime.topology import Path, input_tasks, on_chosen_path
from provider.runtime.values import is_picklable, save_value


@dataclass
class TaskInputs:
    """Everything a task reads before its step runs."""

    #: artifacts the task starts with, by name
    inherited: dict[str, ArtifactEntry]
    foreach_stack: list[ForeachFrame]
    #: a join's inputs (None for other steps)
    join_inputs: Inputs | None = None


def resolve_inputs(
    flow_cls: type[FlowSpec],
    graph: FlowGraph,
    node: StepNode,
    path: Path,
    request: TaskRequest,
    store: FlowDataStore,
) -> TaskInputs:
    if node.name == "start":
        return TaskInputs(start_parameters(flow_cls, request, store), [])
    num_splits = _num_splits(store, request.run_id)
    records = [
        store.task(request.run_id, step, task_id_for(p))
        for step, p in input_tasks(
            graph,
            node.name,
            path,
            num_splits,
            _the_one_that_ran(graph, node.name, store, request.run_id),
        )
    ]
    if node.is_join:
        return _join_inputs(flow_cls, graph, node, records)
    (record,) = records
    parent = record.manifest
    stack = list(parent.foreach_stack)
    if parent.foreach is not None:
        split, index = parent.foreach, path[-1]
        try:
            sha, label = store.foreach_item(split, index)
        except DataStoreError as exc:
            reader = store.task_key(request.run_id, node.name, request.task_id).pathspec
            what = f"item {index} of *{split.var}* (a page of the foreach's item list)"
            raise store.unreadable(exc, request.run_id, reader, what, origin=record.step) from None
        stack.append(
            ForeachFrame(
                step=record.step,
                var=split.var,
                index=index,
                num_splits=split.num_splits,
                sha=sha,
                label=label,
            )
        )
    return TaskInputs(dict(parent.artifacts), stack)


def _join_inputs(
    flow_cls: type[FlowSpec], graph: FlowGraph, node: StepNode, records: list[TaskRecord]
) -> TaskInputs:
    """A join carries over parameters and constants only; it reads the rest from its inputs."""
    first = records[0].manifest
    carried = [*flow_cls.parameters(), *flow_constants(flow_cls)]
    inherited = {n: first.artifacts[n] for n in carried if n in first.artifacts}
    stack = list(first.foreach_stack)
    if graph[node.split_parent or ""].is_foreach:
        stack.pop()
    inputs = Inputs([InputTask(r, r.load_item) for r in records])
    return TaskInputs(inherited, stack, inputs)


def start_parameters(
    flow_cls: type[FlowSpec], request: TaskRequest, store: FlowDataStore
) -> dict[str, ArtifactEntry]:
    """Resolve the run's parameters, record them on the run, and store them as artifacts."""
    raw = request.params or {}
    base_dir = os.path.dirname(os.path.abspath(inspect.getfile(flow_cls)))
    values = {}
    for attr, param in flow_cls.parameters().items():
        given = raw.get(param.name)
        values[attr] = param.resolve(given, base_dir=base_dir, confined=request.confine_files)
    store.ensure_run(request.run_id, origin_run_id=request.origin_run_id)
    store.update_run(
        request.run_id,
        parameters={
            k: v if isinstance(v, str | int | float | bool | None) else repr(v)
            for k, v in values.items()
        },
    )
    constants = {k: v for k, v in flow_constants(flow_cls).items() if is_picklable(v)}
    return {attr: save_value(store, value) for attr, value in {**constants, **values}.items()}


def _the_one_that_ran(
    graph: FlowGraph, step: str, store: FlowDataStore, run_id: str
) -> Callable[[list[tuple[str, Path]]], tuple[str, Path]]:
    """Where cases of a switch meet: the input on the cases this run's switches chose (never
    a task an earlier try of the run left on a case now not chosen)."""
    chosen: dict[tuple[str, Path], str | None] = {}

    def chosen_by(switch: str, path: Path) -> str | None:
        if (switch, path) not in chosen:
            manifest = store.read_manifest(run_id, switch, task_id_for(path))
            chosen[switch, path] = manifest.chosen if manifest else None
        return chosen[switch, path]

    def choose(alternatives: list[tuple[str, Path]]) -> tuple[str, Path]:
        for parent, path in alternatives:
            if on_chosen_path(graph, parent, path, _num_splits(store, run_id), chosen_by) and (
                not graph[parent].is_switch or chosen_by(parent, path) == step
            ):
                return parent, path
        names = " or ".join(f"{s}/{task_id_for(p)}" for s, p in alternatives)
        raise DataStoreError(
            f"Step *{step}* of run {run_id} reads {names}, but no switch of the run chose "
            "any of them; the run's switches must have run before it."
        )

    return choose


def _num_splits(store: FlowDataStore, run_id: str) -> Callable[[str, Path], int]:
    def lookup(split_step: str, path: Path) -> int:
        split = store.task(run_id, split_step, task_id_for(path)).manifest.foreach
        if split is None:
            raise ValueError(f"Task {split_step}/{task_id_for(path)} is not a foreach split.")
        return split.num_splits

    return lookup
