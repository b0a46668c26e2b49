"""Which tasks feed a task: the one rule every executor shares.

A task is a step at a foreach index path. Along an edge ``u -> v`` the path
grows by one index when ``u`` is a foreach, shrinks by one when ``v`` joins a
foreach, and stays the same otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from provider.flow.graph import FlowGraph

Path = tuple[int, ...]


def input_tasks(
    graph: FlowGraph, step: str, path: Path, num_splits: Callable[[str, Path], int]
) -> list[tuple[str, Path]]:
    """The ``(step, path)`` of each task whose output ``step`` at ``path`` reads.

    ``num_splits(split_step, path)`` gives the width of a foreach that already ran.
    """
    node = graph[step]
    if node.is_join and node.split_parent and graph[node.split_parent].is_foreach:
        (parent,) = node.in_funcs
        return [(parent, path + (i,)) for i in range(num_splits(node.split_parent, path))]
    inputs = []
    for parent in dict.fromkeys(node.in_funcs):
        inputs.append((parent, path[:-1] if graph[parent].is_foreach else path))
    return inputs


def child_paths(
    graph: FlowGraph, step: str, path: Path, width: int | None
) -> list[tuple[str, Path]]:
    """The ``(step, path)`` of the tasks that follow a finished task (before join readiness)."""
    node = graph[step]
    children = []
    for child in node.out_funcs:
        if node.is_foreach:
            assert width is not None
            children.extend((child, path + (i,)) for i in range(width))
        elif graph[child].is_join and graph[graph[child].split_parent or ""].is_foreach:
            children.append((child, path[:-1]))
        else:
            children.append((child, path))
    return children


def unit_paths(
    graph: FlowGraph, step: str, path: Path, num_splits: Callable[[str, Path], int]
) -> list[Path]:
    """The tasks one launch of ``step`` at ``path`` runs: that task, or for a @parallel step
    every node of the gang whose node 0 is at ``path``."""
    node = graph[step]
    if not node.is_parallel:
        return [path]
    return [(*path[:-1], i) for i in range(num_splits(node.in_funcs[0], path[:-1]))]
