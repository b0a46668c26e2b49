"""The step graph of a flow, read from the source of its steps, and its validation.

The graph is read statically: each step's last statement must be
``self.next(...)`` (except ``end``), so the shape of a flow is known before
anything runs. Validation walks the steps in topological order and tracks the
*split stack* of every step: the splits (branch or foreach) that enclose it.
A join pops one split; ``end`` must be reached with an empty stack. The stack
also gives each step its *foreach depth*, which fixes the shape of its task ids.

A *switch* (``self.next({"a": self.a, "b": self.b}, condition="choice")``) takes one
of its transitions, so it pushes no split: its arms may meet again at any step
(a *merge*, not a join), or at a join of an enclosing split. Each step's *guard*
records which switch arms lead to it; steps reached from several steps that are
not a join must be on arms no run takes together. A switch may name itself (a
*recursive switch*: the step runs again until another case is chosen); no other
step may move back.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from provider.exceptions import GraphError
from provider.flow.parameters import Parameter
from provider.flow.parse import StepNode, parse_step
from provider.flow.switch import (
    ALWAYS,
    branch_into,
    check_switches,
    either,
    exclusive,
    guard_into,
)

# names a step may not take: they are FlowSpec's own attributes
RESERVED_NAMES = frozenset(
    {"next", "input", "index", "foreach_stack", "merge_artifacts", "graph", "parameters", "to_dag"}
)


class FlowGraph:
    """All steps of a flow class, validated."""

    def __init__(self, flow_cls: type) -> None:
        self.flow_name = flow_cls.__name__
        self._flow_cls = flow_cls
        self.nodes: dict[str, StepNode] = {}
        for name in dir(flow_cls):
            func = getattr(flow_cls, name, None)
            if callable(func) and getattr(func, "is_step", False):
                self.nodes[name] = parse_step(self.flow_name, name, func)
        self._validate()
        self.sorted_steps: list[str] = self._topological_order()

    def __getitem__(self, name: str) -> StepNode:
        return self.nodes[name]

    def __iter__(self) -> Iterator[StepNode]:
        return (self.nodes[n] for n in self.sorted_steps)

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    # -- foreach structure ------------------------------------------------------------------
    def foreach_depth(self, name: str) -> int:
        """How many foreach splits enclose the step: the length of its task index path."""
        return sum(1 for s in self.nodes[name].split_stack if self.nodes[s].is_foreach)

    def foreach_frames(self, name: str) -> list[str]:
        """The foreach steps enclosing the step, outermost first."""
        return [s for s in self.nodes[name].split_stack if self.nodes[s].is_foreach]

    # -- validation -----------------------------------------------------------------------
    def _fail(self, message: str) -> GraphError:
        return GraphError(f"Flow *{self.flow_name}*: {message}")

    def _validate(self) -> None:
        nodes = self.nodes
        for required, example in (("start", "def start(self)"), ("end", "def end(self)")):
            if required not in nodes:
                raise self._fail(
                    f"there is no step named *{required}*; every flow has `@step {example}`."
                )
        for node in nodes.values():
            if node.name in RESERVED_NAMES:
                raise self._fail(
                    f"step *{node.name}* has the name of a FlowSpec attribute; rename the step."
                )
            if node.name == "end":
                if node.has_next:
                    raise self._fail(
                        "step *end* calls self.next(); the flow stops at end, remove the call."
                    )
            elif not node.has_next:
                raise self._fail(
                    f"step *{node.name}* does not end with self.next(...); add a transition "
                    f"such as `self.next(self.end)` as its last line."
                )
            for target in node.out_funcs:
                if target not in nodes:
                    close = difflib.get_close_matches(target, list(nodes), n=1)
                    hint = f"did you mean *{close[0]}*?" if close else "define it with @step."
                    other = getattr(self._flow_cls, target, None)
                    if isinstance(other, Parameter):
                        hint = (
                            f"*{target}* is a Parameter, which replaces a step of the same "
                            f"name; rename one of them."
                        )
                    elif callable(other) and target not in RESERVED_NAMES:
                        hint = f"*{target}* is not a step; put @step above `def {target}`."
                    raise self._fail(
                        f"step *{node.name}* moves to unknown step *{target}* in self.next(); "
                        f"{hint}"
                    )
                if target == "start":
                    raise self._fail(
                        f"step *{node.name}* moves to *start*; start can only be the first step."
                    )
                if node.is_switch and target == node.name:
                    continue  # a recursive switch runs again inside its own task
                nodes[target].in_funcs.append(node.name)
            if (
                node.is_foreach
                and not node.is_parallel_split  # its target is checked in _validate_gangs
                and nodes[node.out_funcs[0]].is_join
                and len(node.out_funcs) == 1
            ):
                raise self._fail(
                    f"the foreach at step *{node.name}* moves straight to join step "
                    f"*{node.out_funcs[0]}*; put at least one step in between to run per item."
                )
            if node.is_foreach and len(node.out_funcs) != 1:
                raise self._fail(
                    f"step *{node.name}* uses foreach with {len(node.out_funcs)} steps; a "
                    f"foreach moves to exactly one step, e.g. "
                    f"self.next(self.{node.out_funcs[0]}, foreach={node.foreach_var!r})."
                )
            kinds = [d for d in ("kubernetes", "batch") if d in node.decorators]
            if len(kinds) > 1:
                raise self._fail(
                    f"step *{node.name}* has both @kubernetes and @batch; a step runs in one "
                    f"place: keep one of them."
                )
        if nodes["start"].is_join:
            raise self._fail("step *start* takes `inputs`, but it cannot be a join; remove it.")
        unreachable = sorted(set(nodes) - self._reachable())
        if unreachable:
            raise self._fail(
                f"step *{unreachable[0]}* cannot be reached from start; add it to a "
                f"self.next() call or delete it."
            )
        self._validate_gangs()
        check_switches(self.nodes, self._fail)
        self._assign_split_stacks()

    def _validate_gangs(self) -> None:
        """``num_parallel`` reaches one @parallel step, which a join follows."""
        nodes = self.nodes
        for node in nodes.values():
            if node.is_parallel_split:
                target = nodes[node.out_funcs[0]]
                if not target.is_parallel:
                    raise self._fail(
                        f"step *{node.name}* starts step *{target.name}* with num_parallel, but "
                        f"*{target.name}* has no @parallel; put @parallel above @step on "
                        f"*{target.name}*."
                    )
            if not node.is_parallel:
                continue
            starts = [p for p in dict.fromkeys(node.in_funcs) if not nodes[p].is_parallel_split]
            if starts or not node.in_funcs:
                where = f"is reached from *{starts[0]}*" if starts else "is the first step"
                raise self._fail(
                    f"step *{node.name}* has @parallel but {where} without num_parallel; start it "
                    f"with self.next(self.{node.name}, num_parallel=N) in the step before it, or "
                    f"remove @parallel."
                )
            after = nodes[node.out_funcs[0]] if node.out_funcs else None
            if node.is_join or after is None or not after.is_join or len(node.out_funcs) > 1:
                raise self._fail(
                    f"step *{node.name}* has @parallel, so it takes (self) and moves to one join "
                    f"step that receives one input per node, e.g. self.next(self.join) with "
                    f"`def join(self, inputs)`."
                )
            if "catch" in node.decorators:
                raise self._fail(
                    f"step *{node.name}* has both @catch and @parallel; a gang cannot carry on "
                    f"without some of its nodes: remove @catch (use @retry to run the gang again)."
                )

    def _reachable(self, roots: tuple[str, ...] | list[str] = ("start",)) -> set[str]:
        seen, todo = set(), list(roots)
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.nodes[name].out_funcs)
        return seen

    def _topological_order(self) -> list[str]:
        indegree = {n: len(set(node.in_funcs)) for n, node in self.nodes.items()}
        ready, order = ["start"], []
        while ready:
            name = ready.pop(0)
            order.append(name)
            for target in dict.fromkeys(self.nodes[name].next_steps):
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
        if len(order) != len(self.nodes):
            stuck = sorted(n for n in self.nodes if n not in order)
            cycle = [n for n in stuck if n in self._reachable(self.nodes[n].out_funcs)]
            source, target = self._back_edge()
            looped = f"the steps {', '.join(cycle)} form" if len(cycle) > 1 else "it forms"
            raise self._fail(
                f"step *{source}* moves back to *{target}*, so {looped} a cycle; a flow must "
                f"not loop back to an earlier step. To repeat a step until a condition holds, "
                f"let a switch name its own step, e.g. "
                f"self.next({{'again': self.{target}, 'done': self.end}}, condition='state') "
                f"in *{target}*."
            )
        return order

    def _back_edge(self) -> tuple[str, str]:
        """The first transition (depth first from start) to a step on the current path."""
        path: list[str] = []
        done: set[str] = set()

        def visit(name: str) -> tuple[str, str] | None:
            path.append(name)
            for target in self.nodes[name].next_steps:
                if target in path:
                    return name, target
                if target not in done:
                    found = visit(target)
                    if found:
                        return found
            path.pop()
            done.add(name)
            return None

        found = visit("start")
        assert found is not None
        return found

    def _assign_split_stacks(self) -> None:
        nodes = self.nodes
        joins_of: dict[str, set[str]] = {}
        #: joins reached from several steps of one branch that can all run
        shared: list[tuple[str, str, list[str]]] = []
        for name in self._topological_order():
            node = nodes[name]
            incoming: dict[str, tuple[str, ...]] = {}
            for parent in dict.fromkeys(node.in_funcs):
                p = nodes[parent]
                incoming[parent] = p.split_stack + ((parent,) if p.is_split or p.is_foreach else ())
            if name == "start":
                continue
            branches = {p: branch_into(nodes[p], name) for p in incoming}
            guards = {p: guard_into(nodes, nodes[p], name) for p in incoming}
            if node.is_join:
                popped = {stack[-1] if stack else None for stack in incoming.values()}
                if None in popped:
                    raise self._fail(
                        f"step *{name}* takes `inputs` but no branch or foreach comes before "
                        f"it to join; remove `inputs`, or split the flow before it."
                    )
                if len(popped) > 1:
                    detail = ", ".join(f"{p} (split at *{s[-1]}*)" for p, s in incoming.items())
                    raise self._fail(
                        f"join step *{name}* receives steps from different splits: {detail}; "
                        f"join each split in its own join step."
                    )
                split = popped.pop()
                assert split is not None
                stacks = {stack[:-1] for stack in incoming.values()}
                node.split_stack = stacks.pop()
                node.split_parent = split
                node.split_branch = nodes[split].split_branch
                node.guard = nodes[split].guard
                joins_of.setdefault(split, set()).add(name)
                for branch in dict.fromkeys(branches.values()):
                    alike = [p for p in incoming if branches[p] == branch]
                    if len(alike) > 1 and not exclusive(alike, guards):
                        shared.append((name, split, alike))
            else:
                if len(incoming) > 1 and (
                    len(set(incoming.values())) > 1 or not exclusive(list(incoming), guards)
                ):
                    raise self._fail(
                        f"step *{name}* is reached from {', '.join(incoming)}, which can all run, "
                        f"so it must be a join: declare it as `def {name}(self, inputs)`. (Steps "
                        f"reached only through different cases of a switch need no join.)"
                    )
                node.split_stack = next(iter(incoming.values()))
                node.split_branch = next(iter(branches.values()))
                node.guard = either(nodes, list(guards.values()))
        for split, joins in joins_of.items():
            if len(joins) > 1:
                raise self._fail(
                    f"the split at *{split}* is closed by several joins "
                    f"({', '.join(sorted(joins))}); all its branches must meet in one join."
                )
            nodes[split].matching_join = joins.pop()
        for name, split, alike in shared:
            kind = "foreach" if nodes[split].is_foreach else "branch"
            raise self._fail(
                f"join step *{name}* closes the {kind} of *{split}* but is reached from "
                f"{', '.join(alike)}, which can all run; "
                f"{'a foreach body' if kind == 'foreach' else 'a branch'} ends in one step "
                f"before its join (or in one of the cases of a switch)."
            )
        for name, node in nodes.items():
            if (node.is_split or node.is_foreach) and node.matching_join is None:
                raise self._fail(
                    f"the {'foreach' if node.is_foreach else 'branch'} that starts at step "
                    f"*{name}* is never joined; add a join step `def join(self, inputs)` "
                    f"where its {'tasks' if node.is_foreach else 'branches'} meet."
                )
        if nodes["end"].split_stack:
            raise self._fail(
                f"step *end* is reached inside the split at *{nodes['end'].split_stack[-1]}*; "
                f"join the split before end."
            )
        for name, node in nodes.items():
            if node.is_split and not node.is_foreach:
                join = nodes[node.matching_join or ""]
                reached = {nodes[p].split_branch for p in join.in_funcs}
                if len(join.in_funcs) < 2 or reached != set(node.out_funcs):
                    raise self._fail(
                        f"the branch at *{name}* meets in join *{join.name}* from one step only; "
                        f"every branch must reach the join."
                    )

    # -- switches -------------------------------------------------------------------------
    def may_skip(self, name: str) -> bool:
        """Whether a run may pass the step by: it is on a case of a switch, or several cases
        meet at it."""
        node = self.nodes[name]
        return any(n.guard != ALWAYS for n in [node, *(self.nodes[p] for p in node.in_funcs)])

    def describe(self) -> str:
        """The graph in words (``python flow.py show``)."""
        lines = []
        for node in self:
            doc = f"\n    {node.doc}" if node.doc else ""
            decos = " ".join(repr(d) for d in node.decorators.values())
            head = f"Step *{node.name}*" + (f"  {decos}" if decos else "")
            if node.name == "end":
                move = "ends the flow"
            elif node.is_parallel_split:
                move = f"=> {node.out_funcs[0]} on num_parallel={node.num_parallel} nodes"
            elif node.is_foreach:
                move = f"=> {node.out_funcs[0]} for each item of {node.foreach_var!r}"
            elif node.is_switch:
                cases = "\n".join(
                    f"       {value!r}: {target}" + (" (again)" if target == node.name else "")
                    for value, target in node.switch_cases.items()
                )
                move = f"=> one of, by the value of {node.condition!r}:\n{cases}"
            else:
                move = "=> " + ", ".join(node.out_funcs)
            lines.append(f"{head}{doc}\n    {move}")
        return "\n\n".join(lines)
