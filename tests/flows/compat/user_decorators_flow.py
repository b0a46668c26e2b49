"""A team's own decorators: a generator step wrapper (with and without attributes), a
class wrapper that skips a step, a StepMutator bundle and a FlowMutator.

Written with airstep's import line; the side-by-side tests also run it on Metaflow
with ``from metaflow import`` instead.
"""

from provider import (
    USER_SKIP_STEP,
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


@user_step_decorator
def timing(step_name, flow, inputs):
    flow.before = f"before {step_name}"
    yield
    flow.after = f"after {step_name}"


@user_step_decorator
def tagged(step_name, flow, inputs, attributes):
    flow.tag_seen = attributes.get("label", "none")
    yield


@user_step_decorator
def swallow(step_name, flow, inputs):
    try:
        yield
    except ValueError as exc:
        flow.swallowed = str(exc)
        flow.next(flow.skipped)


@user_step_decorator
def skip_it(step_name, flow, inputs):
    flow.skip_reason = "skipped by a wrapper"
    yield USER_SKIP_STEP


class Doubled(UserStepDecorator):
    def pre_step(self, step_name, flow, inputs=None):
        def instead(self):
            self.replaced = "ran the replacement"
            self.next(self.bundled)

        return instead


class Bundle(StepMutator):
    """A decorator bundle: retries, an environment and a timing wrapper."""

    def init(self, *args, **kwargs):
        self.mode = kwargs.get("mode", "plain")

    def mutate(self, mutable_step):
        mutable_step.add_decorator(retry, deco_kwargs={"times": 1})
        mutable_step.add_decorator(environment, deco_kwargs={"vars": {"BUNDLE_MODE": self.mode}})


class AddKnob(FlowMutator):
    def pre_mutate(self, mutable_flow):
        mutable_flow.add_parameter("knob", Parameter("knob", default=5))
        for name, s in mutable_flow.steps:
            if name == "end":
                s.add_decorator(environment, deco_kwargs={"vars": {"FROM_MUTATOR": "yes"}})


@AddKnob
class UserDecoratorsFlow(FlowSpec):
    @timing
    @tagged(label="hello")
    @step
    def start(self):
        self.knob_seen = self.knob
        self.next(self.wrapped)

    @swallow
    @step
    def wrapped(self):
        raise ValueError("swallowed by the wrapper")
        self.next(self.skipped)

    @skip_it
    @step
    def skipped(self):
        self.never = True
        self.next(self.replaced_step)

    @Doubled
    @step
    def replaced_step(self):
        self.never_either = True
        self.next(self.bundled)

    @Bundle(mode="fast")
    @step
    def bundled(self):
        import os

        self.bundle_mode = os.environ.get("BUNDLE_MODE")
        self.next(self.end)

    @step
    def end(self):
        import os

        self.from_mutator = os.environ.get("FROM_MUTATOR")


if __name__ == "__main__":
    UserDecoratorsFlow()
