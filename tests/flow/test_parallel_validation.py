"""Distributed steps (``num_parallel`` / ``@parallel``) are checked when the graph is built."""

from __future__ import annotations

import linecache

import pytest

from provider import (
    FlowDefinitionError,
    FlowSpec,
    GraphError,
    InvalidDecoratorError,
    Parameter,
    catch,
    parallel,
    resources,
    retry,
    step,
)


def gang(split: str = "self.next(self.train, num_parallel=4)", train: str = "") -> type:
    """A flow start -> train -> join -> end, with the split's call and train's head as given."""
    source = f"""
class Gang(FlowSpec):
    nodes = Parameter("nodes", default=2)

    @step
    def start(self):
        {split}

    {train or "@parallel"}
    @step
    def train(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass
"""
    filename = f"<airstep-gang-flow-{len(linecache.cache)}-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {
        "FlowSpec": FlowSpec,
        "Parameter": Parameter,
        "catch": catch,
        "parallel": parallel,
        "resources": resources,
        "retry": retry,
        "step": step,
    }
    exec(compile(source, filename, "exec"), namespace)
    return namespace["Gang"]  # type: ignore[return-value]


def error_of(flow_cls: type, exc: type[Exception] = GraphError) -> str:
    with pytest.raises(exc) as excinfo:
        flow_cls.graph()
    return str(excinfo.value)


def test_a_gang_is_a_foreach_over_the_node_indices() -> None:
    graph = gang(train="@retry(times=2)\n    @resources(cpu=2, gpu=1)\n    @parallel").graph()
    start, train, join = graph["start"], graph["train"], graph["join"]
    assert start.is_parallel_split and start.num_parallel == 4
    assert start.is_foreach and start.foreach_var == "_parallel"
    assert train.is_parallel and not start.is_parallel
    assert graph.foreach_depth("train") == 1 and graph.foreach_depth("join") == 0
    assert join.split_parent == "start" and start.matching_join == "join"
    assert "=> train on num_parallel=4 nodes" in graph.describe()
    assert "@parallel()" in graph.describe()


def test_num_parallel_may_be_an_expression_checked_when_it_runs() -> None:
    graph = gang("self.next(self.train, num_parallel=self.nodes)").graph()
    assert graph["start"].num_parallel == "self.nodes"
    assert "=> train on num_parallel=self.nodes nodes" in graph.describe()


@pytest.mark.parametrize(
    "value, problem",
    [
        ("0", "a gang needs at least one node: give a whole number from 1 to 64."),
        ("-2", "a gang needs at least one node: give a whole number from 1 to 64."),
        (
            "2.5",
            "the number of nodes must be a whole number, not a float; give e.g. num_parallel=4",
        ),
        ("'4'", "the number of nodes must be a whole number, not a str; give e.g. num_parallel=4"),
        ("True", "the number of nodes must be a whole number, not a bool"),
        (
            "65",
            "that is more than the maximum of 64 nodes; lower it, or raise the maximum with "
            "--max-num-parallel (or AIRSTEP_MAX_NUM_PARALLEL).",
        ),
    ],
)
def test_a_bad_literal_num_parallel_is_refused_naming_the_step_and_the_fix(
    value: str, problem: str
) -> None:
    message = error_of(gang(f"self.next(self.train, num_parallel={value})"))
    assert message.startswith(f"Flow *Gang*: step *start* gives num_parallel={eval(value)!r}; ")
    assert problem in message


def test_the_node_cap_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("AIRSTEP_MAX_NUM_PARALLEL", "128")
    assert gang("self.next(self.train, num_parallel=100)").graph()["start"].num_parallel == 100
    monkeypatch.setenv("AIRSTEP_MAX_NUM_PARALLEL", "8")
    assert "more than the maximum of 8 nodes" in error_of(
        gang("self.next(self.train, num_parallel=9)")
    )
    monkeypatch.setenv("AIRSTEP_MAX_NUM_PARALLEL", "lots")
    message = error_of(gang(), FlowDefinitionError)
    assert (
        "[airstep] max_num_parallel (or $AIRSTEP_MAX_NUM_PARALLEL) is 'lots'; set it to a whole "
        "number of at least 1." in message
    )


def test_num_parallel_needs_parallel_on_its_target() -> None:
    message = error_of(gang(train="# no decorator"))
    assert message == (
        "Flow *Gang*: step *start* starts step *train* with num_parallel, but *train* has no "
        "@parallel; put @parallel above @step on *train*."
    )


def test_parallel_on_a_step_not_started_by_num_parallel_is_refused() -> None:
    message = error_of(gang("self.next(self.train)"))
    assert message == (
        "Flow *Gang*: step *train* has @parallel but is reached from *start* without "
        "num_parallel; start it with self.next(self.train, num_parallel=N) in the step before "
        "it, or remove @parallel."
    )

    class FirstStep(FlowSpec):
        @parallel
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert "step *start* has @parallel but is the first step without num_parallel" in error_of(
        FirstStep
    )


def test_a_parallel_step_must_move_to_a_join() -> None:
    class NoJoin(FlowSpec):
        @step
        def start(self):
            self.next(self.train, num_parallel=2)

        @parallel
        @step
        def train(self):
            self.next(self.after)

        @step
        def after(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    message = error_of(NoJoin)
    assert message == (
        "Flow *NoJoin*: step *train* has @parallel, so it takes (self) and moves to one join "
        "step that receives one input per node, e.g. self.next(self.join) with "
        "`def join(self, inputs)`."
    )

    class ParallelJoin(FlowSpec):
        @step
        def start(self):
            self.next(self.train, num_parallel=2)

        @parallel
        @step
        def train(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert "step *train* has @parallel, so it takes (self)" in error_of(ParallelJoin)


def test_catch_on_a_parallel_step_is_refused() -> None:
    message = error_of(gang(train="@catch(var='error')\n    @parallel"))
    assert message == (
        "Flow *Gang*: step *train* has both @catch and @parallel; a gang cannot carry on "
        "without some of its nodes: remove @catch (use @retry to run the gang again)."
    )


def test_num_parallel_runs_exactly_one_step_and_is_not_a_foreach_too() -> None:
    both = error_of(gang("self.next(self.train, foreach='items', num_parallel=2)"))
    assert "step *start* gives both foreach= and num_parallel= to self.next()" in both
    assert "keep one of them" in both

    class TwoSteps(FlowSpec):
        @step
        def start(self):
            self.next(self.a, self.b, num_parallel=2)

        @parallel
        @step
        def a(self):
            self.next(self.join)

        @parallel
        @step
        def b(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert error_of(TwoSteps) == (
        "Flow *TwoSteps*: step *start* starts 2 steps with num_parallel; a gang runs exactly "
        "one @parallel step, e.g. self.next(self.a, num_parallel=4)."
    )


def test_parallel_takes_no_arguments() -> None:
    with pytest.raises(InvalidDecoratorError, match=r"@parallel on step \*train\* got unknown"):

        class Bad(FlowSpec):
            @parallel(nodes=2)
            @step
            def train(self):
                pass
