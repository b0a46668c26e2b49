"""User-defined decorators: generator wrappers, UserStepDecorator, StepMutator, FlowMutator.

What they do in a run is compared with Metaflow in tests/flow/test_metaflow_side_by_side.py
(``user_decorators_flow.py``); here: how they attach, and their error messages.
"""

from __future__ import annotations

import pytest

from provider import (
    FlowMutator,
    FlowSpec,
    Parameter,
    StepMutator,
    UserStepDecorator,
    environment,
    retry,
    step,
    user_step_decorator,
)
from provider.decorators import MutableStep
from provider.exceptions import InvalidDecoratorError


@user_step_decorator
def noted(step_name, flow, inputs, attributes):
    flow.note = attributes
    yield


def test_a_wrapper_keeps_the_step_its_decorators_and_its_source():
    class Bundle(StepMutator):
        def mutate(self, mutable_step):
            mutable_step.add_decorator(retry, deco_kwargs={"times": 2})
            mutable_step.add_decorator("environment", deco_kwargs={"vars": {"A": "1"}})
            mutable_step.add_decorator(noted, deco_kwargs={"x": 1})

    class Flow(FlowSpec):
        @Bundle
        @step
        def start(self):
            """The start."""
            self.next(self.end)

        @step
        def end(self):
            pass

    node = Flow.graph()["start"]
    assert sorted(node.decorators) == ["environment", "retry"]
    assert node.decorators["retry"].times == 2
    assert node.out_funcs == ["end"]  # the graph still reads the step's own source
    assert node.doc == "The start."
    assert [w._name() for w in Flow.start.wrappers] == ["noted"]


def test_a_mutator_ignores_a_decorator_the_step_has_unless_told():
    step_func = retry(times=5)(step(lambda self: None))
    mutable = MutableStep(step_func)
    assert mutable.add_decorator(retry, deco_kwargs={"times": 1}) is None
    assert step_func.decorators[0].times == 5
    with pytest.raises(InvalidDecoratorError, match=r"already has @retry.*OVERRIDE"):
        mutable.add_decorator(retry, duplicates=MutableStep.ERROR)
    mutable.add_decorator(retry, deco_kwargs={"times": 1}, duplicates=MutableStep.OVERRIDE)
    assert [d.times for d in step_func.decorators] == [1]
    assert mutable.remove_decorator("retry") and not step_func.decorators
    with pytest.raises(InvalidDecoratorError, match=r"no step decorator 'retri'.*retry"):
        mutable.add_decorator("retri")


def test_a_flow_mutator_adds_parameters_and_step_decorators():
    class Standard(FlowMutator):
        def init(self, *args, **kwargs):
            self.env = kwargs["env"]

        def pre_mutate(self, mutable_flow):
            mutable_flow.add_parameter("knob", Parameter("knob", default=3))

        def mutate(self, mutable_flow):
            for _, s in mutable_flow.steps:
                s.add_decorator(environment, deco_kwargs={"vars": {"ENV": self.env}})

    @Standard(env="prod")
    class Flow(FlowSpec):
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert Flow.parameters()["knob"].default == 3
    assert all(n.decorators["environment"].vars == {"ENV": "prod"} for n in Flow.graph())
    with pytest.raises(InvalidDecoratorError, match=r"already has an attribute 'knob'"):
        Standard(env="x").pre_mutate(__import__("provider").decorators.MutableFlow(Flow))


def test_bad_user_decorators_fail_when_applied_and_say_how_to_fix_them():
    with pytest.raises(InvalidDecoratorError, match=r"generator function.*\*plain\*"):

        @user_step_decorator
        def plain(step_name, flow, inputs):
            return None

    with pytest.raises(InvalidDecoratorError, match=r"takes 2 arguments"):

        @user_step_decorator
        def short(step_name, flow):
            yield

    @user_step_decorator
    def three(step_name, flow, inputs):
        yield

    with pytest.raises(InvalidDecoratorError, match=r"takes no attributes.*fourth argument"):
        three(level=1)
    with pytest.raises(InvalidDecoratorError, match=r"\*helper\*, which is not a step"):

        @three
        def helper(self):
            pass

    class Plain(UserStepDecorator):
        pass

    with pytest.raises(InvalidDecoratorError, match=r"keyword arguments only"):
        Plain(1)
    with pytest.raises(InvalidDecoratorError, match=r"takes none; define Plain.init"):
        Plain(level=1)

    class Mutator(FlowMutator):
        pass

    with pytest.raises(InvalidDecoratorError, match=r"above a FlowSpec class"):
        Mutator()(lambda: None)
