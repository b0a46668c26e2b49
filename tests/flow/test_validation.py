"""Bad flows fail when the graph is built, before anything runs.

Each error must name the flow's step, the bad value and the fix. Flows are
defined inside the test functions: the graph reads their source with inspect.
"""

from __future__ import annotations

import linecache

import pytest

from provider import (
    FlowDefinitionError,
    FlowSpec,
    GraphError,
    Parameter,
    batch,
    kubernetes,
    step,
)
from provider.flow.graph import FlowGraph


def graph_error(flow_cls: type, exc: type[Exception] = GraphError) -> str:
    """The message of the error raised while building the flow's graph."""
    with pytest.raises(exc) as excinfo:
        flow_cls.graph()
    message = str(excinfo.value)
    assert message.startswith(f"Flow *{flow_cls.__name__}*:"), message
    return message


def flow_from_source(source: str) -> type:
    """Define a flow from source text (for calls a class body cannot hold literally)."""
    filename = f"<airstep-test-flow-{len(linecache.cache)}-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict = {"FlowSpec": FlowSpec, "step": step}
    exec(compile(source, filename, "exec"), namespace)
    return next(v for k, v in namespace.items() if isinstance(v, type) and k != "FlowSpec")


def assert_parts(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# -- start and end ---------------------------------------------------------------------------


def test_no_start() -> None:
    class NoStart(FlowSpec):
        @step
        def begin(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(graph_error(NoStart), "no step named *start*", "@step def start(self)")


def test_no_end() -> None:
    class NoEnd(FlowSpec):
        @step
        def start(self):
            self.next(self.finish)

        @step
        def finish(self):
            pass

    assert_parts(graph_error(NoEnd), "no step named *end*", "@step def end(self)")


def test_step_without_next() -> None:
    class NoNext(FlowSpec):
        @step
        def start(self):
            self.next(self.middle)

        @step
        def middle(self):
            self.x = 1

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(NoNext),
        "step *middle*",
        "does not end with self.next(...)",
        "self.next(self.end)",
        "last line",
    )


def test_end_calls_next() -> None:
    class EndNext(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            self.next(self.start)

    assert_parts(graph_error(EndNext), "step *end* calls self.next()", "remove the call")


def test_start_declared_as_join() -> None:
    class StartJoin(FlowSpec):
        @step
        def start(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(graph_error(StartJoin), "step *start*", "`inputs`", "cannot be a join", "remove")


def test_moving_back_to_start() -> None:
    class BackToStart(FlowSpec):
        @step
        def start(self):
            self.next(self.again)

        @step
        def again(self):
            self.next(self.start)

        @step
        def end(self):
            pass

    assert_parts(graph_error(BackToStart), "step *again* moves to *start*", "first step")


# -- self.next(...) --------------------------------------------------------------------------


def test_unknown_target_suggests_close_name() -> None:
    class Typo(FlowSpec):
        @step
        def start(self):
            self.next(self.trian)

        @step
        def train(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(graph_error(Typo), "step *start*", "unknown step *trian*", "did you mean *train*?")


def test_unknown_target_without_close_name() -> None:
    class Unknown(FlowSpec):
        @step
        def start(self):
            self.next(self.zzzzzz)

        @step
        def end(self):
            pass

    message = graph_error(Unknown)
    assert_parts(message, "step *start*", "unknown step *zzzzzz*", "define it with @step")
    assert "did you mean" not in message


def test_target_that_is_not_a_step() -> None:
    class NotAStep(FlowSpec):
        @step
        def start(self):
            self.next(self.helper)

        def helper(self):
            pass

        @step
        def end(self):
            pass

    assert_parts(graph_error(NotAStep), "step *start*", "*helper* is not a step", "@step above")


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        ("self.next(end)", "'end'"),
        ("self.next(self.end())", "'self.end()'"),
        ("self.next(other.end)", "'other.end'"),
        ("self.next('end')", "\"'end'\""),
    ],
)
def test_next_argument_not_self_attribute(call: str, shown: str) -> None:
    flow = flow_from_source(
        "class BadArg(FlowSpec):\n"
        "    @step\n"
        "    def start(self):\n"
        f"        {call}\n"
        "    @step\n"
        "    def end(self):\n"
        "        pass\n"
    )
    assert_parts(
        graph_error(flow), "step *start*", f"passes {shown} to self.next()", "self.<step_name>"
    )


def test_next_not_last_statement() -> None:
    class NotLast(FlowSpec):
        @step
        def start(self):
            self.next(self.end)
            self.x = 1

        @step
        def end(self):
            pass

    assert_parts(graph_error(NotLast), "step *start*", "exactly once, as its last statement")


def test_next_called_twice() -> None:
    class Twice(FlowSpec):
        @step
        def start(self):
            if self.x:
                self.next(self.a)
            else:
                self.next(self.end)

        @step
        def a(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(graph_error(Twice), "step *start*", "exactly once", "use a switch")


def test_next_with_no_step() -> None:
    class Empty(FlowSpec):
        @step
        def start(self):
            self.next()

        @step
        def end(self):
            pass

    assert_parts(graph_error(Empty), "step *start*", "no step", "self.next(self.end)")


def test_next_same_step_twice() -> None:
    class Same(FlowSpec):
        @step
        def start(self):
            self.next(self.end, self.end)

        @step
        def end(self):
            pass

    assert_parts(graph_error(Same), "step *start*", "same step twice", "name each step once")


def test_unknown_next_keyword() -> None:
    class Keyword(FlowSpec):
        @step
        def start(self):
            self.next(self.end, retries=2)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Keyword),
        "step *start*",
        "unknown argument retries=",
        "foreach='artifact_name'",
        "condition='artifact_name'",
    )


def test_num_parallel_to_a_step_without_parallel_is_refused() -> None:
    class Gang(FlowSpec):
        @step
        def start(self):
            self.next(self.train, num_parallel=4)

        @step
        def train(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Gang),
        "step *start*",
        "num_parallel",
        "*train* has no @parallel",
        "put @parallel",
    )


def test_wrong_number_of_step_arguments() -> None:
    class TooMany(FlowSpec):
        @step
        def start(self):
            self.next(self.work)

        @step
        def work(self, inputs, extra):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(TooMany),
        "step *work*",
        "(self, inputs, extra)",
        "a step takes (self), or (self, inputs) for a join",
    )


def test_step_without_arguments() -> None:
    class NoSelf(FlowSpec):
        @step
        def start():  # noqa: N805
            pass

        @step
        def end(self):
            pass

    assert_parts(graph_error(NoSelf), "step *start*", "has the arguments ()", "takes (self)")


# -- foreach ---------------------------------------------------------------------------------


def test_foreach_with_two_targets() -> None:
    class TwoTargets(FlowSpec):
        @step
        def start(self):
            self.items = [1, 2]
            self.next(self.a, self.b, foreach="items")

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

    assert_parts(
        graph_error(TwoTargets),
        "step *start*",
        "foreach with 2 steps",
        "exactly one step",
        "self.next(self.a, foreach='items')",
    )


FOREACH_FLOW = (
    "class ForeachFlow(FlowSpec):\n"
    "    @step\n"
    "    def start(self):\n"
    "        self.items = [1]\n"
    "        self.next(self.work, foreach=FOREACH)\n"
    "    @step\n"
    "    def work(self):\n"
    "        self.next(self.join)\n"
    "    @step\n"
    "    def join(self, inputs):\n"
    "        self.next(self.end)\n"
    "    @step\n"
    "    def end(self):\n"
    "        pass\n"
)


@pytest.mark.parametrize("given", ["items", "['a']", "1"])
def test_foreach_given_non_string(given: str) -> None:
    flow = flow_from_source(FOREACH_FLOW.replace("FOREACH", given))
    assert_parts(
        graph_error(flow),
        "step *start*",
        f"foreach={given}",
        "*name* of an artifact as a string",
        "foreach='items'",
    )


@pytest.mark.parametrize("name", ["", "my-items", "1st"])
def test_foreach_name_not_an_identifier(name: str) -> None:
    flow = flow_from_source(FOREACH_FLOW.replace("FOREACH", repr(name)))
    assert_parts(graph_error(flow), "step *start*", f"foreach={name!r}", "not an artifact name")


def test_foreach_straight_into_its_join() -> None:
    class Straight(FlowSpec):
        @step
        def start(self):
            self.items = [1, 2]
            self.next(self.join, foreach="items")

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Straight),
        "foreach at step *start*",
        "straight to join step *join*",
        "at least one step in between",
    )


def test_foreach_never_joined() -> None:
    class Unjoined(FlowSpec):
        @step
        def start(self):
            self.items = [1, 2]
            self.next(self.work, foreach="items")

        @step
        def work(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Unjoined),
        "foreach that starts at step *start*",
        "never joined",
        "def join(self, inputs)",
    )


# -- reachability and cycles -----------------------------------------------------------------


def test_unreachable_step() -> None:
    class Orphan(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def orphan(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Orphan),
        "step *orphan*",
        "cannot be reached from start",
        "add it to a self.next() call or delete it",
    )


def test_cycle() -> None:
    class Loop(FlowSpec):
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self, inputs):
            self.next(self.b)

        @step
        def b(self):
            self.next(self.a)

        @step
        def end(self):
            pass

    # end is unreachable in this loop: that is reported first
    assert_parts(graph_error(Loop), "step *end*", "cannot be reached from start")

    class LoopWithExit(FlowSpec):
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self, inputs):
            self.next(self.b, self.c)

        @step
        def b(self):
            self.next(self.a)

        @step
        def c(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    message = graph_error(LoopWithExit)
    assert_parts(
        message,
        "step *b* moves back to *a*",
        "the steps a, b form a cycle",
        "must not loop back to an earlier step",
    )
    assert "end" not in message.split("cycle")[0]  # only the steps on the loop are named


def test_self_loop() -> None:
    class SelfLoop(FlowSpec):
        @step
        def start(self):
            self.next(self.again)

        @step
        def again(self, inputs):
            self.next(self.again, self.end)

        @step
        def end(self):
            pass

    assert_parts(graph_error(SelfLoop), "step *again* moves back to *again*", "a cycle")


# -- splits and joins ------------------------------------------------------------------------


def test_two_parents_but_not_a_join() -> None:
    class NotJoin(FlowSpec):
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.meet)

        @step
        def b(self):
            self.next(self.meet)

        @step
        def meet(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(NotJoin),
        "step *meet* is reached from a, b",
        "must be a join",
        "`def meet(self, inputs)`",
    )


def test_join_without_split() -> None:
    class LoneJoin(FlowSpec):
        @step
        def start(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(LoneJoin),
        "step *join* takes `inputs`",
        "no branch or foreach comes before it",
        "remove `inputs`",
    )


def test_join_of_two_different_splits() -> None:
    class Mixed(FlowSpec):
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.items = [1, 2]
            self.next(self.per_item, foreach="items")

        @step
        def per_item(self):
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

    assert_parts(
        graph_error(Mixed),
        "join step *join* receives steps from different splits",
        "per_item (split at *a*)",
        "b (split at *start*)",
        "join each split in its own join step",
    )


def test_branch_never_joined_reaches_end() -> None:
    class Open(FlowSpec):
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.end)

        @step
        def b(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Open),
        "step *end* is reached from a, b",
        "must be a join",
        "`def end(self, inputs)`",
    )


def test_inner_branch_never_joined() -> None:
    """The inner branch at *a* reaches the outer join without its own join."""

    class Open(FlowSpec):
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.c, self.d)

        @step
        def c(self):
            self.next(self.join)

        @step
        def d(self):
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

    assert_parts(
        graph_error(Open),
        "join step *join* receives steps from different splits",
        "c (split at *a*)",
        "b (split at *start*)",
    )


def test_split_closed_by_two_joins() -> None:
    class TwoJoins(FlowSpec):
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.c, self.d)

        @step
        def c(self):
            self.next(self.join_c)

        @step
        def d(self):
            self.next(self.join_d)

        @step
        def join_c(self, inputs):
            self.next(self.outer)

        @step
        def join_d(self, inputs):
            self.next(self.outer)

        @step
        def b(self):
            self.next(self.outer)

        @step
        def outer(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(TwoJoins),
        "the split at *a*",
        "closed by several joins (join_c, join_d)",
        "meet in one join",
    )


# -- names -----------------------------------------------------------------------------------


def test_step_named_like_flowspec_attribute() -> None:
    class Reserved(FlowSpec):
        @step
        def start(self):
            self.next(self.next)

        @step
        def next(self):  # noqa: A003
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Reserved), "step *next*", "name of a FlowSpec attribute", "rename the step"
    )


@pytest.mark.parametrize("reserved", ["merge_artifacts", "foreach_stack"])
def test_other_reserved_step_names(reserved: str) -> None:
    def start(self):
        self.next(self.end)

    def end(self):
        pass

    def other(self):
        self.next(self.end)

    Flow = type(
        "Reserved",
        (FlowSpec,),
        {"start": step(start), "end": step(end), reserved: step(other)},
    )
    # start does not reach the reserved step, but the name is refused first
    assert_parts(graph_error(Flow), f"step *{reserved}*", "FlowSpec attribute")


def test_parameter_named_like_a_step() -> None:
    class Base(FlowSpec):
        train = Parameter("train", default=1)

    class Clash(Base):
        @step
        def start(self):
            self.next(self.train)

        @step
        def train(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    message = graph_error(Clash, FlowDefinitionError)
    assert_parts(message, "parameter *train*", "name of a step", "rename one of them")


def test_parameter_shadowing_a_step_in_the_same_class() -> None:
    class Shadow(FlowSpec):
        @step
        def start(self):
            self.next(self.train)

        @step
        def train(self):
            self.next(self.end)

        train = Parameter("train", default=1)  # noqa: F811 - replaces the step

        @step
        def end(self):
            pass

    assert_parts(graph_error(Shadow), "step *start*", "*train*", "Parameter", "rename")


def test_parameter_named_like_flowspec_attribute() -> None:
    class ReservedParam(FlowSpec):
        index = Parameter("index", default=1)

        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    message = graph_error(ReservedParam, FlowDefinitionError)
    assert_parts(message, "parameter *index*", "FlowSpec attribute", "rename it")


# -- decorators that conflict across a step --------------------------------------------------


def test_kubernetes_and_batch_on_one_step() -> None:
    class Both(FlowSpec):
        @step
        def start(self):
            self.next(self.train)

        @kubernetes(cpu=2)
        @batch(cpu=2)
        @step
        def train(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert_parts(
        graph_error(Both), "step *train*", "both @kubernetes and @batch", "keep one of them"
    )


# -- source edge cases -----------------------------------------------------------------------


def test_multiline_string_less_indented_than_the_step() -> None:
    class Sql(FlowSpec):
        @step
        def start(self):
            self.query = """
SELECT 1
"""
            self.next(self.end)

        @step
        def end(self):
            pass

    assert Sql.graph().sorted_steps == ["start", "end"]


def test_failed_graph_is_not_cached() -> None:
    """A failing graph is not cached: asking again fails again, with the same message."""

    class Broken(FlowSpec):
        @step
        def start(self):
            self.next(self.ned)

        @step
        def end(self):
            pass

    assert graph_error(Broken) == graph_error(Broken)


# -- valid shapes ----------------------------------------------------------------------------


def test_linear_flow() -> None:
    class Linear(FlowSpec):
        @step
        def start(self):
            """Begin here.

            More text that is not part of the doc line.
            """
            self.next(self.middle)

        @step
        def middle(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = Linear.graph()
    assert isinstance(graph, FlowGraph)
    assert Linear.graph() is graph  # built once per class
    assert graph.sorted_steps == ["start", "middle", "end"]
    assert [n.name for n in graph] == ["start", "middle", "end"]
    assert {n: graph[n].type for n in graph.nodes} == {
        "start": "start",
        "middle": "linear",
        "end": "end",
    }
    assert graph["middle"].in_funcs == ["start"]
    assert graph["middle"].out_funcs == ["end"]
    assert graph["end"].out_funcs == []
    assert all(graph[n].split_stack == () for n in graph.nodes)
    assert all(graph.foreach_depth(n) == 0 for n in graph.nodes)
    assert graph["start"].doc == "Begin here."
    assert "middle" in graph and "nope" not in graph
    assert "Step *start*" in graph.describe()


def test_branch_flow() -> None:
    class Branch(FlowSpec):
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

    graph = Branch.graph()
    assert graph.sorted_steps == ["start", "a", "b", "join", "end"]
    assert graph["start"].type == "split"
    assert graph["start"].is_split and not graph["start"].is_foreach
    assert graph["a"].type == graph["b"].type == "linear"
    assert graph["join"].type == "join"
    assert graph["start"].matching_join == "join"
    assert graph["join"].split_parent == "start"
    assert graph["a"].split_stack == graph["b"].split_stack == ("start",)
    assert graph["join"].split_stack == graph["end"].split_stack == ()
    assert sorted(graph["join"].in_funcs) == ["a", "b"]
    assert graph.foreach_depth("a") == 0
    assert graph.foreach_frames("a") == []


def test_foreach_flow() -> None:
    class Foreach(FlowSpec):
        @step
        def start(self):
            self.items = [1, 2, 3]
            self.next(self.work, foreach="items")

        @step
        def work(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = Foreach.graph()
    assert graph.sorted_steps == ["start", "work", "join", "end"]
    assert graph["start"].type == "foreach"
    assert graph["start"].foreach_var == "items"
    assert graph["start"].is_foreach and not graph["start"].is_split
    assert graph["start"].matching_join == "join"
    assert graph["join"].split_parent == "start"
    assert graph["work"].split_stack == ("start",)
    assert graph.foreach_depth("work") == 1
    assert graph.foreach_frames("work") == ["start"]
    assert graph.foreach_depth("start") == graph.foreach_depth("join") == 0
    assert "for each item of 'items'" in graph.describe()


def test_nested_foreach_with_multi_step_body() -> None:
    class Nested(FlowSpec):
        @step
        def start(self):
            self.outer = ["x", "y"]
            self.next(self.split_inner, foreach="outer")

        @step
        def split_inner(self):
            self.inner = [1, 2]
            self.next(self.prepare, foreach="inner")

        @step
        def prepare(self):
            self.next(self.compute)

        @step
        def compute(self):
            self.next(self.join_inner)

        @step
        def join_inner(self, inputs):
            self.next(self.after_inner)

        @step
        def after_inner(self):
            self.next(self.join_outer)

        @step
        def join_outer(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = Nested.graph()
    assert graph.sorted_steps == [
        "start",
        "split_inner",
        "prepare",
        "compute",
        "join_inner",
        "after_inner",
        "join_outer",
        "end",
    ]
    assert graph["start"].type == graph["split_inner"].type == "foreach"
    assert graph["prepare"].type == graph["compute"].type == graph["after_inner"].type == "linear"
    assert graph["start"].matching_join == "join_outer"
    assert graph["split_inner"].matching_join == "join_inner"
    assert graph["join_inner"].split_parent == "split_inner"
    assert graph["join_outer"].split_parent == "start"
    assert graph["split_inner"].split_stack == ("start",)
    assert graph["prepare"].split_stack == ("start", "split_inner")
    assert graph["compute"].split_stack == ("start", "split_inner")
    assert graph["join_inner"].split_stack == ("start",)
    assert graph["after_inner"].split_stack == ("start",)
    assert graph["join_outer"].split_stack == ()
    depths = {n: graph.foreach_depth(n) for n in graph.sorted_steps}
    assert depths == {
        "start": 0,
        "split_inner": 1,
        "prepare": 2,
        "compute": 2,
        "join_inner": 1,
        "after_inner": 1,
        "join_outer": 0,
        "end": 0,
    }
    assert graph.foreach_frames("compute") == ["start", "split_inner"]


def test_branch_inside_foreach() -> None:
    class BranchInForeach(FlowSpec):
        @step
        def start(self):
            self.items = [1, 2]
            self.next(self.fan, foreach="items")

        @step
        def fan(self):
            self.next(self.left, self.right)

        @step
        def left(self):
            self.next(self.meet)

        @step
        def right(self):
            self.next(self.meet)

        @step
        def meet(self, inputs):
            self.next(self.collect)

        @step
        def collect(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = BranchInForeach.graph()
    assert graph.sorted_steps == ["start", "fan", "left", "right", "meet", "collect", "end"]
    assert graph["start"].type == "foreach"
    assert graph["fan"].type == "split"
    assert graph["meet"].type == graph["collect"].type == "join"
    assert graph["fan"].matching_join == "meet"
    assert graph["start"].matching_join == "collect"
    assert graph["meet"].split_parent == "fan"
    assert graph["collect"].split_parent == "start"
    assert graph["fan"].split_stack == ("start",)
    assert graph["left"].split_stack == ("start", "fan")
    assert graph["meet"].split_stack == ("start",)
    assert graph["collect"].split_stack == ()
    # a branch does not add a foreach level
    assert graph.foreach_depth("left") == graph.foreach_depth("meet") == 1
    assert graph.foreach_frames("left") == ["start"]
    assert graph.foreach_depth("end") == 0


def test_end_may_be_the_join() -> None:
    class EndJoins(FlowSpec):
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.end)

        @step
        def b(self):
            self.next(self.end)

        @step
        def end(self, inputs):
            pass

    graph = EndJoins.graph()
    assert graph["start"].matching_join == "end"
    assert graph["end"].split_parent == "start"
    assert graph["end"].type == "end"


def test_decorators_are_recorded_on_the_node() -> None:
    class Decorated(FlowSpec):
        @step
        def start(self):
            self.next(self.train)

        @kubernetes(cpu=2, memory=1024)
        @step
        def train(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    graph = Decorated.graph()
    assert list(graph["train"].decorators) == ["kubernetes"]
    assert graph["train"].decorators["kubernetes"].attributes["cpu"] == 2
    assert graph["start"].decorators == {}
