"""Which tasks feed a task, and which tasks follow it: the rule every executor shares."""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable

import pytest
from helpers import FLOWS, run_flow

from provider import Flow, FlowSpec, step
from provider.flow.graph import FlowGraph
from provider.flow.loader import load_flow_class
from provider.runtime.topology import Path, child_paths, input_tasks


class BranchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class ForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.body2)

    @step
    def body2(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class NestedFlow(FlowSpec):
    """A nested foreach whose inner body is two steps, and a branch inside the outer one."""

    @step
    def start(self):
        self.outer = [0, 1]
        self.next(self.per_outer, foreach="outer")

    @step
    def per_outer(self):
        self.inner = ["a", "b", "c"]
        self.next(self.per_inner, foreach="inner")

    @step
    def per_inner(self):
        self.next(self.per_inner_2)

    @step
    def per_inner_2(self):
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.next(self.left, self.right)

    @step
    def left(self):
        self.next(self.sides)

    @step
    def right(self):
        self.next(self.sides)

    @step
    def sides(self, inputs):
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def widths(table: dict[tuple[str, Path], int]) -> Callable[[str, Path], int]:
    """``num_splits`` from a table; a question it has no answer for fails the test."""
    return lambda split, path: table[(split, path)]


# -- branch joins ---------------------------------------------------------------------------


def test_branch_join_reads_every_branch_at_the_same_path():
    graph = BranchFlow.graph()
    assert child_paths(graph, "start", (), None) == [("a", ()), ("b", ())]
    assert child_paths(graph, "a", (), None) == [("join", ())]
    assert input_tasks(graph, "join", (), widths({})) == [("a", ()), ("b", ())]
    assert input_tasks(graph, "a", (), widths({})) == [("start", ())]
    assert child_paths(graph, "end", (), None) == []


# -- foreach --------------------------------------------------------------------------------


def test_a_foreach_adds_one_index_and_its_join_removes_it():
    graph = ForeachFlow.graph()
    assert child_paths(graph, "start", (), 3) == [("body", (0,)), ("body", (1,)), ("body", (2,))]
    assert input_tasks(graph, "body", (2,), widths({})) == [("start", ())]
    # a multi-step body keeps the index until the join
    assert child_paths(graph, "body", (2,), None) == [("body2", (2,))]
    assert input_tasks(graph, "body2", (2,), widths({})) == [("body", (2,))]
    assert child_paths(graph, "body2", (2,), None) == [("join", ())]
    # the join reads the last body step of every index the foreach produced
    assert input_tasks(graph, "join", (), widths({("start", ()): 3})) == [
        ("body2", (0,)),
        ("body2", (1,)),
        ("body2", (2,)),
    ]


def test_the_join_asks_the_width_of_the_foreach_it_closes():
    graph = ForeachFlow.graph()
    asked = []

    def num_splits(split: str, path: Path) -> int:
        asked.append((split, path))
        return 2

    assert input_tasks(graph, "join", (), num_splits) == [("body2", (0,)), ("body2", (1,))]
    assert asked == [("start", ())]


def test_a_foreach_of_width_zero_has_no_children_and_its_join_no_inputs():
    graph = ForeachFlow.graph()
    assert child_paths(graph, "start", (), 0) == []
    assert input_tasks(graph, "join", (), widths({("start", ()): 0})) == []


# -- nested foreach, a branch inside a foreach ---------------------------------------------


def test_nested_foreach_paths_grow_and_shrink_one_index_per_level():
    graph = NestedFlow.graph()
    assert child_paths(graph, "per_outer", (1,), 3) == [
        ("per_inner", (1, 0)),
        ("per_inner", (1, 1)),
        ("per_inner", (1, 2)),
    ]
    assert input_tasks(graph, "per_inner", (1, 2), widths({})) == [("per_outer", (1,))]
    assert child_paths(graph, "per_inner_2", (1, 2), None) == [("inner_join", (1,))]
    # the inner join of outer item 1 asks the width of *that* item's inner foreach
    table = {("per_outer", (0,)): 1, ("per_outer", (1,)): 3}
    assert input_tasks(graph, "inner_join", (1,), widths(table)) == [
        ("per_inner_2", (1, 0)),
        ("per_inner_2", (1, 1)),
        ("per_inner_2", (1, 2)),
    ]
    assert input_tasks(graph, "inner_join", (0,), widths(table)) == [("per_inner_2", (0, 0))]
    assert input_tasks(graph, "outer_join", (), widths({("start", ()): 2})) == [
        ("sides", (0,)),
        ("sides", (1,)),
    ]


def test_a_branch_inside_a_foreach_keeps_the_foreach_index():
    graph = NestedFlow.graph()
    assert child_paths(graph, "inner_join", (1,), None) == [("left", (1,)), ("right", (1,))]
    assert input_tasks(graph, "left", (1,), widths({})) == [("inner_join", (1,))]
    assert input_tasks(graph, "sides", (1,), widths({})) == [("left", (1,)), ("right", (1,))]
    assert child_paths(graph, "sides", (1,), None) == [("outer_join", ())]


# -- every task of a run ----------------------------------------------------------------------


def all_tasks(graph: FlowGraph, width: Callable[[str, Path], int]) -> set[tuple[str, Path]]:
    """Every task of a run, found the way a scheduler finds them: from start, by child_paths."""
    seen = {("start", ())}
    todo = deque(seen)
    while todo:
        step_name, path = todo.popleft()
        split_width = width(step_name, path) if graph[step_name].is_foreach else None
        for child in child_paths(graph, step_name, path, split_width):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


@pytest.mark.parametrize("flow", [BranchFlow, ForeachFlow, NestedFlow])
def test_inputs_and_children_agree_on_every_task_of_a_run(flow):
    graph = flow.graph()

    def width(split: str, path: Path) -> int:
        return 2 + sum(path)  # a different width for every foreach task

    tasks = all_tasks(graph, width)
    assert {s for s, _ in tasks} == set(graph.nodes)

    def children(task: tuple[str, Path]) -> list[tuple[str, Path]]:
        foreach = graph[task[0]].is_foreach
        return child_paths(graph, *task, width(*task) if foreach else None)

    for task in tasks - {("start", ())}:
        inputs = input_tasks(graph, *task, width)
        assert inputs and set(inputs) <= tasks, task
        for parent in inputs:  # each input lists this task among its children...
            assert task in children(parent)
    for task in tasks:  # ...and each child lists this task among its inputs
        for child in children(task):
            assert task in input_tasks(graph, *child, width)


def test_the_tasks_of_a_real_run_are_those_the_rule_gives(datastore, monkeypatch):
    """tests/flows/shapes_flow.py: a nested foreach, a two-step body, a branch inside."""
    monkeypatch.setenv("AIRSTEP_IN_TASK", "1")  # what the loader sets; undone after the test
    monkeypatch.setattr(sys, "path", list(sys.path))
    graph = load_flow_class(str(FLOWS / "shapes_flow.py")).graph()
    proc = run_flow("shapes_flow.py", "run", "--width", "2")
    assert proc.returncode == 0, proc.stderr
    run = Flow("ShapesFlow").latest_run

    def path_of(step_name: str, task_id: str) -> Path:  # task ids are index paths
        return tuple(int(i) for i in task_id.split(".")) if graph.foreach_depth(step_name) else ()

    ran = {(s.id, path_of(s.id, t.id)) for s in run for t in s}
    # --width 2 outer items, each with the two inner items ["a", "b"]
    assert ran == all_tasks(graph, lambda split, path: 2)
    assert len(ran) == 1 + 2 + 4 + 4 + 2 + 2 + 2 + 2 + 1 + 1
