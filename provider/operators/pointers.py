"""What a task instance shows and hands on: how a foreach's tasks are grouped into mapped task
instances (one each, or chunks), the map index label of a task or a chunk, and the task ids
it pushes to XCom (pointers, never data).

The Airflow side of two limits lives here too: ``[core] max_map_length`` and ``[airstep]
max_map_tasks``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from airflow.sdk.configuration import conf

from provider.datastore.flowstore import path_for, task_id_for
from provider.datastore.records import TaskManifest
from provider.flow.distributed import PARALLEL_VAR
from provider.flow.graph import FlowGraph
from provider.settings import positive_int

if TYPE_CHECKING:
    from provider.flow.spec import FlowSpec

#: how to get past the widest foreach a run may have, named in the too-wide foreach error
SPLIT_LIMIT_FIX = (
    "A foreach is split into at most [airstep] max_map_tasks chunks of at most [core] "
    "max_map_length items each: raise either (AIRFLOW__AIRSTEP__MAX_MAP_TASKS, "
    "AIRFLOW__CORE__MAX_MAP_LENGTH), or give each item a batch of several inputs."
)
#: Airflow stores a rendered map index in a String(250) column
MAX_LABEL = 250


def max_map_length() -> int:
    return conf.getint("core", "max_map_length", fallback=1024)


def max_map_tasks() -> int:
    """The most mapped task instances of one foreach step: ``[airstep] max_map_tasks``, at most
    ``[core] max_map_length``."""
    return min(positive_int("max_map_tasks") or 1, max_map_length())


def foreach_width_limit() -> int:
    """The widest foreach a run may have: every chunk at ``[core] max_map_length`` items."""
    return max_map_tasks() * max_map_length()


def group_task_ids(task_ids: list[str]) -> list[str] | list[list[str]]:
    """What a foreach's tasks are mapped over: the task ids themselves, one task instance each,
    when there are at most :func:`max_map_tasks`; else consecutive chunks of equal size (the
    last one shorter), at most :func:`max_map_tasks` of them, each one task instance."""
    limit = max_map_tasks()
    if len(task_ids) <= limit:
        return task_ids
    size = math.ceil(len(task_ids) / limit)
    return [task_ids[i : i + size] for i in range(0, len(task_ids), size)]


def chunk_label(graph: FlowGraph, step: str, task_ids: Sequence[str]) -> str:
    """The map index label of a chunk: its items' range, e.g. ``items[0:40]`` (with the
    enclosing items, ``sizes[2], rates[0:40]``), else its first and last task ids."""
    names = [graph[split].foreach_var or "" for split in graph.foreach_frames(step)]
    paths = [path_for(task_id, len(names)) for task_id in task_ids]
    if graph[step].is_parallel:  # a chunk of gangs, each named by its node 0
        names, paths = names[:-1], [path[:-1] for path in paths]
    if not names:
        return f"tasks {task_ids[0]} to {task_ids[-1]}"[:MAX_LABEL]
    outer, lasts = paths[0][:-1], [path[-1] for path in paths]
    if all(p[:-1] == outer for p in paths) and lasts == list(range(lasts[0], lasts[-1] + 1)):
        frames = [f"{name}[{index}]" for name, index in zip(names, outer, strict=False)]
        text = ", ".join([*frames, f"{names[-1]}[{lasts[0]}:{lasts[-1] + 1}]"])
    else:
        text = f"{names[-1]}: {len(task_ids)} items, tasks {task_ids[0]} to {task_ids[-1]}"
    return text[:MAX_LABEL]


def foreach_label(manifest: TaskManifest) -> str | None:
    """The foreach item(s) a task ran for, e.g. ``rates[2]=0.03``; None outside a foreach.

    A gang's node index is left out: one Airflow task runs every node of a gang.
    """
    frames = [f for f in manifest.foreach_stack if f.var != PARALLEL_VAR]
    text = ", ".join(f"{f.var}[{f.index}]={f.label}" for f in frames)
    return text[:MAX_LABEL] or None


def xcom_pointer(flow_cls: type[FlowSpec], manifest: TaskManifest) -> str | list[str]:
    """What a step task pushes to XCom: task ids only, so its size never depends on the data.

    The task's own id (``"3.5"``); for a foreach split its children's ids; for the
    split that starts a gang, its node 0's id (``"3.0"``: what the @parallel task
    is mapped over); for a gang (node 0's manifest), every node's id.
    """
    graph = flow_cls.graph()
    depth = graph.foreach_depth(manifest.step)
    path = path_for(manifest.task_id, depth)
    if graph[manifest.step].is_parallel:
        num_nodes = manifest.foreach_stack[-1].num_splits
        return [task_id_for((*path[:-1], i)) for i in range(num_nodes)]
    if manifest.foreach is None:
        return manifest.task_id
    if graph[manifest.step].is_parallel_split:
        return task_id_for((*path, 0))
    children = [task_id_for((*path, i)) for i in range(manifest.foreach.num_splits)]
    # a mapped split's children are grouped by the fanout task that flattens them
    return group_task_ids(children) if depth == 0 else children


def chunk_pointer(flow_cls: type[FlowSpec], manifests: Sequence[TaskManifest]) -> list[str]:
    """What a chunk's task instance pushes to XCom: its tasks' pointers, concatenated (the
    next step of a foreach body is mapped 1:1 over it; a fanout flattens a chunk of splits)."""
    pointer: list[str] = []
    for manifest in manifests:
        own = xcom_pointer(flow_cls, manifest)
        pointer.extend([own] if isinstance(own, str) else own)
    return pointer
