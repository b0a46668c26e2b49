"""A switch is read from the source before anything runs; a bad one fails at parse time,
naming the flow, the step, the bad value and the fix."""

from __future__ import annotations

import pytest
from test_validation import assert_parts, flow_from_source, graph_error

from provider import FlowSpec, GraphError, catch, step


def switch_flow(next_call: str, extra: str = "") -> type:
    """A flow whose start ends with ``next_call``; steps a and b lead to end."""
    return flow_from_source(
        f"""
class Switchy(FlowSpec):
    @step
    def start(self):
        self.choice = "a"
        {next_call}

    @step
    def a(self):
        self.next(self.end)

    @step
    def b(self):
        self.next(self.end)
{extra}
    @step
    def end(self):
        pass
"""
    )


def test_a_valid_switch_reads_its_cases_and_condition() -> None:
    graph = switch_flow('self.next({"a": self.a, "b": self.b}, condition="choice")').graph()
    start = graph["start"]
    assert start.is_switch and start.type == "switch" and not start.is_split
    assert start.condition == "choice"
    assert start.switch_cases == {"a": "a", "b": "b"}
    assert graph["end"].in_funcs == ["a", "b"] and not graph["end"].is_join
    assert graph.may_skip("a") and graph.may_skip("end") and not graph.may_skip("start")
    assert graph["end"].guard == ({},)  # both cases meet: end always runs


def test_integer_cases_and_two_cases_to_one_step() -> None:
    graph = switch_flow('self.next({1: self.a, 2: self.b, 3: self.b}, condition="choice")').graph()
    assert graph["start"].switch_cases == {1: "a", 2: "b", 3: "b"}
    assert graph["start"].out_funcs == ["a", "b"]


@pytest.mark.parametrize(
    ("call", "parts"),
    [
        (
            'self.next({"a": self.a, "b": self.b}, condition=self.choice)',
            [
                "step *start*",
                "condition=self.choice",
                "*name* of an artifact",
                "condition='choice'",
            ],
        ),
        (
            'self.next({"a": self.a, "b": self.b}, condition="no such")',
            ["step *start*", "condition='no such'", "not an artifact name"],
        ),
        (
            'self.next({"a": self.a, "b": self.b})',
            ["step *start*", "without condition=", "condition='choice'"],
        ),
        (
            'self.next({"a": self.a, "b": "b"}, condition="choice")',
            ["step *start*", "case 'b'", "to 'b'", "self.<step_name>"],
        ),
        (
            'self.next({key: self.a, "b": self.b}, condition="choice")',
            ["step *start*", "uses key as a case", "string or integer literals"],
        ),
        (
            'self.next({"a": self.a}, condition="choice")',
            ["step *start*", "1 case(s)", "at least two cases"],
        ),
        (
            'self.next({"a": self.a, "a": self.b}, condition="choice")',
            ["step *start*", "case 'a' twice"],
        ),
        (
            'self.next({"a": self.a, "b": self.b}, condition="choice", foreach="x")',
            ["step *start*", "passes foreach= to a switch", "only condition="],
        ),
        (
            'self.next(self.a, condition="choice")',
            ["step *start*", "one dict from values to steps"],
        ),
        (
            'self.next({"a": self.a, "b": self.c}, condition="choice")',
            ["step *start*", "unknown step *c*"],
        ),
    ],
)
def test_a_bad_switch_names_the_step_the_value_and_the_fix(call: str, parts: list[str]) -> None:
    assert_parts(graph_error(switch_flow(call)), *parts)


def test_a_case_may_not_lead_straight_to_a_join() -> None:
    class CaseToJoin(FlowSpec):
        @step
        def start(self):
            self.items = [1, 2]
            self.next(self.body, foreach="items")

        @step
        def body(self):
            self.big = self.input > 1
            self.next({"big": self.big_one, "small": self.join}, condition="size")

        @step
        def big_one(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(CaseToJoin),
        "switch at step *body*",
        "straight to join step *join*",
        "put a step between",
    )


def test_cases_meet_inside_a_branch_or_a_foreach_and_at_its_join() -> None:
    class Nested(FlowSpec):
        @step
        def start(self):
            self.next(self.left, self.right)

        @step
        def left(self):
            self.next({"x": self.x, "y": self.y}, condition="pick")

        @step
        def x(self):
            self.next(self.join)

        @step
        def y(self):
            self.next(self.join)

        @step
        def right(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = Nested.graph()
    assert graph["join"].split_parent == "start"
    assert graph["x"].split_branch == graph["y"].split_branch == "left"


def test_steps_that_both_run_still_need_a_join() -> None:
    class Both(FlowSpec):
        @step
        def start(self):
            self.next({"a": self.a, "b": self.b}, condition="pick")

        @step
        def a(self):
            self.next(self.c, self.d)

        @step
        def c(self):
            self.next(self.end)

        @step
        def d(self):
            self.next(self.end)

        @step
        def b(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    message = graph_error(Both)
    assert "which can all run" in message or "never joined" in message, message


def test_a_switch_may_loop_to_itself_but_no_other_step_may_loop() -> None:
    class Loop(FlowSpec):
        @step
        def start(self):
            self.next(self.again)

        @step
        def again(self):
            self.next({"more": self.again, "done": self.end}, condition="state")

        @step
        def end(self):
            pass

    graph = Loop.graph()
    assert graph["again"].is_recursive
    assert graph["again"].in_funcs == ["start"]
    assert graph.sorted_steps == ["start", "again", "end"]

    class LongLoop(FlowSpec):
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.b)

        @step
        def b(self):
            self.next({"more": self.a, "done": self.end}, condition="state")

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(LongLoop),
        "step *b* moves back to *a*",
        "cycle",
        "let a switch name its own step",
    )


def test_a_switch_with_catch_is_refused() -> None:
    class Caught(FlowSpec):
        @catch(var="error")
        @step
        def start(self):
            self.next({"a": self.a, "b": self.end}, condition="pick")

        @step
        def a(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(graph_error(Caught), "step *start* has @catch", "*pick*", "@retry")


def test_a_recursive_join_is_refused() -> None:
    class LoopJoin(FlowSpec):
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
            self.next({"again": self.join, "done": self.end}, condition="state")

        @step
        def end(self):
            pass

    with pytest.raises(GraphError, match=r"step \*join\* is a join and a switch"):
        LoopJoin.graph()


def test_show_describes_the_cases(capsys) -> None:
    from provider.local.cli import run_cli

    flow = switch_flow('self.next({"a": self.a, "b": self.b}, condition="choice")')
    assert run_cli(flow, ["show"]) == 0
    out = capsys.readouterr().out
    assert "=> one of, by the value of 'choice':\n       'a': a\n       'b': b" in out


def test_nested_switches_may_meet_in_stages() -> None:
    class Stages(FlowSpec):
        @step
        def start(self):
            self.next({"a": self.a, "x": self.x}, condition="outer")

        @step
        def a(self):
            self.next(self.m)

        @step
        def x(self):
            self.next({"b": self.b, "c": self.c}, condition="inner")

        @step
        def b(self):
            self.next(self.m)

        @step
        def c(self):
            self.next(self.end)

        @step
        def m(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = Stages.graph()
    # m runs when outer chose a, or outer chose x and inner chose b
    assert graph["m"].guard == ({"start": {"a"}}, {"start": {"x"}, "x": {"b"}})
    assert graph["c"].guard == ({"start": {"x"}, "x": {"c"}},)
    assert graph["end"].guard == ({},)
    assert graph.may_skip("m") and graph.may_skip("end") and not graph.may_skip("start")
