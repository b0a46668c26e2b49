"""Which tasks feed a task, and which follow it: the rules every executor shares.

A task is a step at a foreach index path. Along an edge ``u -> v`` the path
grows by one index when ``u`` is a foreach, shrinks by one when ``v`` joins a
foreach, and stays the same otherwise.

A switch runs one of its cases, so a step where cases meet has *alternative*
inputs: of the tasks that could feed it, exactly one ran. Its inputs come in
*slots* (one per branch of a join, one per item of a foreach join, one for any
other step), each slot a list of alternatives; outside switches every slot has
one task.
"""

from __future__ import annotations

from collections.abc import Callable

from provider.flow.graph import FlowGraph

Path = tuple[int, ...]
Task = tuple[str, Path]


def input_slots(
    graph: FlowGraph, step: str, path: Path, num_splits: Callable[[str, Path], int]
) -> list[list[Task]]:
    """The tasks that may feed ``step`` at ``path``: one slot per input, each slot the tasks of
    which exactly one runs. ``num_splits(split_step, path)`` gives the width of a foreach that
    already ran."""
    node = graph[step]
    parents = list(dict.fromkeys(node.in_funcs))
    if node.is_join and node.split_parent and graph[node.split_parent].is_foreach:
        width = num_splits(node.split_parent, path)
        return [[(p, path + (i,)) for p in parents] for i in range(width)]

    def at(parent: str) -> Task:
        return parent, path[:-1] if graph[parent].is_foreach else path

    if node.is_join:  # a branch join: one slot per branch of its split
        slots: dict[str | None, list[Task]] = {}
        for parent in parents:
            slots.setdefault(graph[parent].split_branch, []).append(at(parent))
        return list(slots.values())
    return [[at(p) for p in parents]] if parents else []


def input_tasks(
    graph: FlowGraph,
    step: str,
    path: Path,
    num_splits: Callable[[str, Path], int],
    choose: Callable[[list[Task]], Task] | None = None,
) -> list[Task]:
    """The ``(step, path)`` of each task whose output ``step`` at ``path`` reads.

    ``choose(alternatives)`` names the one that ran where cases of a switch meet; it is
    not called outside switches.
    """
    found = []
    for slot in input_slots(graph, step, path, num_splits):
        if len(slot) == 1:
            found.append(slot[0])
        else:
            if choose is None:
                raise ValueError(f"step {step} has alternative inputs {slot}: pass choose=")
            found.append(choose(slot))
    return found


def child_paths(
    graph: FlowGraph, step: str, path: Path, width: int | None, chosen: str | None = None
) -> list[tuple[str, Path]]:
    """The ``(step, path)`` of the tasks that follow a finished task (before join readiness).

    ``chosen`` is the case a switch took (its manifest's ``chosen``): only that step follows.
    """
    node = graph[step]
    children = []
    targets = [chosen] if node.is_switch and chosen is not None else node.next_steps
    for child in targets:
        if node.is_foreach:
            assert width is not None
            children.extend((child, path + (i,)) for i in range(width))
        elif graph[child].is_join and graph[graph[child].split_parent or ""].is_foreach:
            children.append((child, path[:-1]))
        else:
            children.append((child, path))
    return children


def on_chosen_path(
    graph: FlowGraph,
    step: str,
    path: Path,
    num_splits: Callable[[str, Path], int],
    chosen_by: Callable[[str, Path], str | None],
) -> bool:
    """Whether the cases that this run's switches chose lead to ``step`` at ``path``.

    ``chosen_by(switch, path)`` gives the step a switch's task chose (None if it has no
    task). Only switches are read: a step is on the chosen path when one of its inputs is
    and, if that input is a switch, it chose this step; a join is when its split is. So a
    task left in the datastore by an earlier try of the run, on a case now not chosen,
    never counts.
    """
    memo: dict[Task, bool] = {}

    def on_path(name: str, at: Path) -> bool:
        if (name, at) not in memo:
            node = graph[name]
            if name == "start":
                found = True
            elif node.is_join:
                found = on_path(node.split_parent or "", at)
            else:
                (slot,) = input_slots(graph, name, at, num_splits)
                found = any(
                    on_path(parent, parent_at)
                    and (not graph[parent].is_switch or chosen_by(parent, parent_at) == name)
                    for parent, parent_at in slot
                )
            memo[name, at] = found
        return memo[name, at]

    return on_path(step, path)


def unit_paths(
    graph: FlowGraph, step: str, path: Path, num_splits: Callable[[str, Path], int]
) -> list[Path]:
    """The tasks one launch of ``step`` at ``path`` runs: that task, or for a @parallel step
    every node of the gang whose node 0 is at ``path``."""
    node = graph[step]
    if not node.is_parallel:
        return [path]
    return [(*path[:-1], i) for i in range(num_splits(node.in_funcs[0], path[:-1]))]
