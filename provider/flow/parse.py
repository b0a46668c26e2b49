"""One step of a flow, read from its source: its transitions and its decorators.

:func:`parse_step` reads the step's last statement, ``self.next(...)``, with the
``ast`` module, so the graph is known before anything runs; :class:`StepNode`
holds what it found, and :class:`~provider.flow.graph.FlowGraph` links the nodes.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provider.exceptions import GraphError
from provider.flow.distributed import PARALLEL_VAR, max_num_parallel, num_parallel_problem


@dataclass
class StepNode:
    """One step: its transitions, its place among splits and joins, its decorators."""

    name: str
    func: Callable[..., Any]
    out_funcs: list[str] = field(default_factory=list)
    in_funcs: list[str] = field(default_factory=list)
    foreach_var: str | None = None
    is_join: bool = False
    has_next: bool = False
    #: enclosing splits, outermost first (names of split or foreach steps)
    split_stack: tuple[str, ...] = ()
    #: for a join: the split step it closes; for a split: its join
    split_parent: str | None = None
    matching_join: str | None = None
    decorators: dict[str, Any] = field(default_factory=dict)
    doc: str = ""
    #: ``num_parallel=`` of a gang's split: an int literal, or the source of the expression
    #: (checked when it runs); the split is then a foreach over the node indices
    num_parallel: int | str | None = None
    #: a switch (``self.next({"a": self.x, ...}, condition="choice")``): the artifact whose
    #: value picks the branch, and each value's step, in the order written
    condition: str | None = None
    switch_cases: dict[Any, str] = field(default_factory=dict)
    #: filled in by the graph: for a step inside a branch, the branch it is on (the first
    #: step after the split); the switch choices that lead to it
    #: (:mod:`provider.flow.switch`)
    split_branch: str | None = None
    guard: tuple[dict[str, frozenset[str]], ...] = ({},)

    @property
    def is_switch(self) -> bool:
        """Takes exactly one of its transitions, chosen by an artifact's value."""
        return self.condition is not None

    @property
    def is_recursive(self) -> bool:
        """A switch that may move back to itself: it runs again until another case is chosen."""
        return self.is_switch and self.name in self.out_funcs

    @property
    def next_steps(self) -> list[str]:
        """The steps that may run after this one (a recursive switch's own name left out)."""
        return [s for s in self.out_funcs if s != self.name or not self.is_switch]

    @property
    def is_foreach(self) -> bool:
        return self.foreach_var is not None

    @property
    def is_parallel_split(self) -> bool:
        """Starts a gang: ``self.next(self.train, num_parallel=N)``."""
        return self.num_parallel is not None

    @property
    def is_parallel(self) -> bool:
        """Runs as a gang of nodes: the step has ``@parallel``."""
        return "parallel" in self.decorators

    @property
    def is_split(self) -> bool:
        """A branch: several different steps run in parallel."""
        return len(self.out_funcs) > 1 and not self.is_switch

    @property
    def type(self) -> str:
        if self.name == "end":
            return "end"
        if self.is_join:
            return "join"
        if self.is_foreach:
            return "foreach"
        if self.is_switch:
            return "switch"
        if self.is_split:
            return "split"
        return "start" if self.name == "start" else "linear"


def parse_step(flow_name: str, name: str, func: Callable[..., Any]) -> StepNode:
    def fail(message: str) -> GraphError:
        return GraphError(f"Flow *{flow_name}*: step *{name}* {message}")

    params = list(inspect.signature(func).parameters)
    if len(params) not in (1, 2):
        raise fail(
            f"has the arguments ({', '.join(params)}); a step takes (self), or (self, inputs) "
            f"for a join."
        )
    node = StepNode(
        name=name,
        func=func,
        is_join=len(params) == 2,
        decorators={d.name: d for d in getattr(func, "decorators", [])},
        doc=inspect.cleandoc(func.__doc__ or "").split("\n\n")[0],
    )
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        raise fail("has no readable source; define steps in a .py file.") from None
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        # a multi-line string less indented than the method defeats dedent: parse the
        # method as the body of a block instead (indentation inside strings is ignored)
        try:
            tree = ast.parse("if True:\n" + source)
        except SyntaxError:
            raise fail("has source that cannot be parsed; define steps in a .py file.") from None
    fdef = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    calls = [
        n
        for n in ast.walk(fdef)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "next"
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "self"
    ]
    if not calls:
        return node
    last = fdef.body[-1]
    if len(calls) > 1 or not (isinstance(last, ast.Expr) and last.value is calls[0]):
        raise fail(
            "must call self.next() exactly once, as its last statement; for a choice between "
            "steps, use a switch: self.next({'a': self.a, 'b': self.b}, condition='choice')."
        )
    call = calls[0]
    node.has_next = True
    if any(k.arg == "condition" for k in call.keywords) or any(
        isinstance(a, ast.Dict) for a in call.args
    ):
        _parse_switch(node, call, fail)
        return node
    for arg in call.args:
        if not (
            isinstance(arg, ast.Attribute)
            and isinstance(arg.value, ast.Name)
            and arg.value.id == "self"
        ):
            raise fail(
                f"passes {ast.unparse(arg)!r} to self.next(); pass steps as self.<step_name>."
            )
        node.out_funcs.append(arg.attr)
    if not node.out_funcs:
        raise fail("calls self.next() with no step; name the next step, e.g. self.next(self.end).")
    if len(set(node.out_funcs)) != len(node.out_funcs):
        raise fail("names the same step twice in self.next(); name each step once.")
    for keyword in call.keywords:
        if keyword.arg == "foreach":
            if not (
                isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, str)
            ):
                raise fail(
                    f"gives foreach={ast.unparse(keyword.value)}; foreach takes the *name* of an "
                    f"artifact as a string, e.g. foreach='items'."
                )
            node.foreach_var = keyword.value.value
            if not node.foreach_var.isidentifier():
                raise fail(f"gives foreach={node.foreach_var!r}, which is not an artifact name.")
        elif keyword.arg == "num_parallel":
            node.num_parallel = _num_parallel(keyword.value, fail)
            node.foreach_var = PARALLEL_VAR
        else:
            raise fail(
                f"passes an unknown argument {keyword.arg}= to self.next(); it accepts "
                f"foreach='artifact_name', num_parallel=N or condition='artifact_name'."
            )
    if node.num_parallel is not None and any(k.arg == "foreach" for k in call.keywords):
        raise fail(
            "gives both foreach= and num_parallel= to self.next(); a step starts either a "
            "foreach or a gang of nodes: keep one of them."
        )
    if node.num_parallel is not None and len(node.out_funcs) != 1:
        raise fail(
            f"starts {len(node.out_funcs)} steps with num_parallel; a gang runs exactly one "
            f"@parallel step, e.g. self.next(self.{node.out_funcs[0]}, num_parallel=4)."
        )
    return node


def _parse_switch(node: StepNode, call: ast.Call, fail: Callable[[str], GraphError]) -> None:
    """``self.next({"a": self.a, "b": self.b}, condition="choice")``: read, never evaluated."""
    example = "self.next({'a': self.a, 'b': self.b}, condition='choice')"
    given = ast.unparse(call)
    cases = call.args[0] if len(call.args) == 1 else None
    if not isinstance(cases, ast.Dict):
        raise fail(
            f"calls {given}; a switch passes one dict from values to steps and the name of "
            f"the artifact that picks one, e.g. {example}."
        )
    for keyword in call.keywords:
        if keyword.arg != "condition":
            raise fail(
                f"passes {keyword.arg}= to a switch ({given}); a switch takes only "
                f"condition='artifact_name', e.g. {example}."
            )
    condition = next((k.value for k in call.keywords if k.arg == "condition"), None)
    if condition is None:
        raise fail(
            f"passes a dict to self.next() without condition= ({given}); name the artifact "
            f"whose value picks the step, e.g. {example}."
        )
    if not (isinstance(condition, ast.Constant) and isinstance(condition.value, str)):
        raise fail(
            f"gives condition={ast.unparse(condition)}; condition takes the *name* of an "
            f"artifact as a string, e.g. condition='choice'."
        )
    if not condition.value.isidentifier():
        raise fail(f"gives condition={condition.value!r}, which is not an artifact name.")
    if len(cases.keys) < 2:
        raise fail(
            f"gives a switch with {len(cases.keys)} case(s) ({given}); a switch chooses "
            f"between at least two cases, e.g. {example}."
        )
    for key, value in zip(cases.keys, cases.values, strict=True):
        if not (
            isinstance(key, ast.Constant)
            and isinstance(key.value, str | int)
            and not isinstance(key.value, bool)
        ):
            shown = "**" + ast.unparse(value) if key is None else ast.unparse(key)
            raise fail(
                f"uses {shown} as a case of its switch; cases are written as string or integer "
                f"literals, e.g. {example}."
            )
        if not (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id == "self"
        ):
            raise fail(
                f"maps case {key.value!r} of its switch to {ast.unparse(value)}; map each case "
                f"to a step, as self.<step_name>."
            )
        if key.value in node.switch_cases:
            raise fail(f"names case {key.value!r} twice in its switch; give each case once.")
        node.switch_cases[key.value] = value.attr
    node.condition = condition.value
    node.out_funcs = list(dict.fromkeys(node.switch_cases.values()))


def _num_parallel(value: ast.expr, fail: Callable[[str], GraphError]) -> int | str:
    """A literal ``num_parallel`` checked now; any other expression kept, checked at run time."""
    try:
        given = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError):
        return ast.unparse(value)  # e.g. self.nodes: known when the step runs
    problem = num_parallel_problem(given, max_num_parallel())
    if problem:
        raise fail(f"gives num_parallel={given!r}; {problem}.")
    return int(given)
