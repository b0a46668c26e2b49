"""The graph rules of switches: which steps a run may take together, and bad switches.

A step's *guard* maps each switch that decides whether it runs to the cases (the
first steps of its arms) it is reached through. Two steps whose guards give the
same switch disjoint cases never both run in one task path, so they may meet at a
step that is not a join. Merging guards over-approximates (a switch on one side
only is dropped), so a flow is refused rather than ever run twice into one step.
"""

from __future__ import annotations

from collections.abc import Callable

from provider.exceptions import GraphError
from provider.flow.parse import StepNode

Guard = dict[str, frozenset[str]]


def branch_into(parent: StepNode, child: str) -> str | None:
    """The branch ``child`` is on when reached from ``parent``."""
    return child if parent.is_split or parent.is_foreach else parent.split_branch


def guard_into(parent: StepNode, child: str) -> Guard:
    """The switch cases that lead to ``child`` through ``parent``."""
    guard = dict(parent.guard)
    if parent.is_switch:
        guard[parent.name] = frozenset({child})
    return guard


def exclusive(steps: list[str], guards: dict[str, Guard]) -> bool:
    """No run reaches two of ``steps``: each pair is on different cases of some switch."""
    for i, one in enumerate(steps):
        for other in steps[i + 1 :]:
            a, b = guards[one], guards[other]
            if not any(s in b and not (a[s] & b[s]) for s in a):
                return False
    return True


def either(nodes: dict[str, StepNode], guards: list[Guard]) -> Guard:
    """What is known to hold when any one of ``guards`` holds (where cases meet)."""
    first, *rest = guards
    merged = {}
    for switch, cases in first.items():
        if all(switch in g for g in rest):
            union = cases.union(*(g[switch] for g in rest))
            if union != set(nodes[switch].next_steps):
                merged[switch] = frozenset(union)
    return merged


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
