"""Merging @resources with @kubernetes / @batch, key by key."""

from __future__ import annotations

from provider import FlowSpec, batch, kubernetes, resources, step
from provider.decorators.placement import Placement
from provider.decorators.resolve import step_resources
from provider.decorators.specs import Resources


def node_of(flow_cls, name="start"):
    return flow_cls.graph()[name]


def test_defaults_when_nothing_is_given():
    class Plain(FlowSpec):
        @kubernetes
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert step_resources(node_of(Plain), Placement.KUBERNETES) == Resources(
        cpu=1, memory=4096, gpu=0, disk=None, shared_memory=None
    )


def test_explicit_beats_default_and_the_larger_explicit_wins():
    class Mixed(FlowSpec):
        @resources(cpu=0.5, memory=2000, gpu=2)
        @kubernetes(memory=8000, gpu=1)
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    merged = step_resources(node_of(Mixed), Placement.KUBERNETES)
    assert merged.cpu == 0.5  # not rounded up to the default of 1
    assert merged.memory == 8000  # the larger explicit value
    assert merged.gpu == 2


def test_gpu_zero_means_no_gpu_and_other_backends_are_ignored():
    class NoGpu(FlowSpec):
        @resources(gpu=0)
        @batch(cpu=4)
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass

    assert step_resources(node_of(NoGpu), Placement.BATCH).gpu == 0
    assert step_resources(node_of(NoGpu), Placement.BATCH).cpu == 4
    assert step_resources(node_of(NoGpu), Placement.KUBERNETES).cpu == 1
    assert step_resources(node_of(NoGpu)).cpu == 4  # the compute decorator the step carries
