"""The graph rules of switches: which steps a run may take together, and bad switches.

A step's *guard* says which choices of the switches before it lead to it: a list of
alternatives, each mapping switches to the cases (first steps of their arms) taken,
so ``({"pick": {"a"}}, {"pick": {"b"}, "size": {"big"}})`` reads "pick chose a, or
pick chose b and size chose big". ``({},)`` is *always*. Two steps whose guards
cannot hold together never both run in one task path, so they may meet at a step
that is not a join; where all cases of a switch meet again, it drops out.
"""

from __future__ import annotations

from collections.abc import Callable

from provider.exceptions import GraphError
from provider.flow.parse import StepNode

Choice = dict[str, frozenset[str]]
Guard = tuple[Choice, ...]
ALWAYS: Guard = ({},)


def branch_into(parent: StepNode, child: str) -> str | None:
    """The branch ``child`` is on when reached from ``parent``."""
    return child if parent.is_split or parent.is_foreach else parent.split_branch


def guard_into(nodes: dict[str, StepNode], parent: StepNode, child: str) -> Guard:
    """The choices that lead to ``child`` through ``parent``."""
    if not parent.is_switch:
        return parent.guard
    return simplify(nodes, [{**choice, parent.name: frozenset({child})} for choice in parent.guard])


def either(nodes: dict[str, StepNode], guards: list[Guard]) -> Guard:
    """The choices under which any one of ``guards`` holds (where cases meet)."""
    return simplify(nodes, [choice for guard in guards for choice in guard])


def exclusive(steps: list[str], guards: dict[str, Guard]) -> bool:
    """No run reaches two of ``steps``: no choices lead to both of any two."""
    for i, one in enumerate(steps):
        for other in steps[i + 1 :]:
            for a in guards[one]:
                for b in guards[other]:
                    if not any(s in b and not (a[s] & b[s]) for s in a):
                        return False
    return True


def simplify(nodes: dict[str, StepNode], choices: list[Choice]) -> Guard:
    """The same condition, shortest: a switch with all its cases allowed drops out, a choice
    implied by another goes, and two that differ in one switch's cases become one."""

    def whole(choice: Choice) -> Choice:
        return {s: c for s, c in choice.items() if c != set(nodes[s].next_steps)}

    found = [whole(c) for c in choices]
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(found):
            for j, b in enumerate(found):
                if i == j:
                    continue
                if all(s in b and b[s] <= a[s] for s in a):  # b implies a: b adds nothing
                    del found[j]
                    changed = True
                    break
                differ = [s for s in a if a[s] != b.get(s)]
                if a.keys() == b.keys() and len(differ) == 1:
                    (s,) = differ
                    found[i] = whole({**a, s: a[s] | b[s]})
                    del found[j]
                    changed = True
                    break
            if changed:
                break
    return tuple(found)


def check_switches(nodes: dict[str, StepNode], fail: Callable[[str], GraphError]) -> None:
    """Refuse a case that moves straight to a join, a join that loops, and @catch."""
    for node in nodes.values():
        if not node.is_switch:
            continue
        cases = ", ".join(f"{k!r}: self.{v}" for k, v in node.switch_cases.items())
        for target in node.next_steps:
            if nodes[target].is_join:
                raise fail(
                    f"the switch at step *{node.name}* ({{{cases}}}) moves straight to join "
                    f"step *{target}*, which would wait for the cases not taken; put a step "
                    f"between them on that case."
                )
        if node.is_recursive and node.is_join:
            raise fail(
                f"step *{node.name}* is a join and a switch that moves back to itself; a "
                f"join runs once per split: loop in a step after the join instead."
            )
        if "catch" in node.decorators:
            raise fail(
                f"step *{node.name}* has @catch, but it is a switch: when its step fails "
                f"there is no value of *{node.condition}* to choose a case with; remove "
                f"@catch (use @retry), or catch the error inside the step and set "
                f"self.{node.condition} yourself."
            )
