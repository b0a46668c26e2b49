"""The typed records of @kubernetes and @batch, and where a step runs."""

from __future__ import annotations

import pytest

from provider import FlowSpec, batch, kubernetes, resources, step
from provider.decorators.compute import BatchDecorator, KubernetesDecorator
from provider.decorators.placement import Placement, step_placement
from provider.decorators.specs import (
    BatchSpec,
    KubernetesSpec,
    attribute_defaults,
    batch_spec,
    kubernetes_spec,
)
from provider.exceptions import FlowDefinitionError


class Specs(FlowSpec):
    @kubernetes(image_pull_secrets="regcred", port="8080", tolerations=[{"key": "gpu"}])
    @step
    def start(self):
        self.next(self.featurize)

    @batch(log_options=["awslogs-group=g"], max_swap=2048.0, tags={"team": "ml"})
    @step
    def featurize(self):
        self.next(self.train)

    @resources(cpu=2)
    @step
    def train(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_the_decorators_defaults_are_the_records_fields():
    for decorator, record in ((KubernetesDecorator, KubernetesSpec), (BatchDecorator, BatchSpec)):
        own = {k: v for k, v in decorator.defaults.items() if k in attribute_defaults(record)}
        assert own == attribute_defaults(record)
        assert record.from_attributes(decorator.defaults) == record()


def test_a_step_s_attributes_are_typed_fields():
    graph = Specs.graph()
    pod = kubernetes_spec(graph["start"])
    assert pod.image_pull_secrets == ("regcred",) and pod.port == 8080
    assert pod.tolerations == ({"key": "gpu"},) and pod.gpu_vendor == "nvidia"
    job = batch_spec(graph["featurize"])
    assert job.log_options == ("awslogs-group=g",) and job.tags == {"team": "ml"}
    assert job.max_swap == 2048 and isinstance(job.max_swap, int)
    # a step without the decorator reads the defaults
    assert kubernetes_spec(graph["end"]) == KubernetesSpec()
    assert batch_spec(graph["start"]) == BatchSpec()
    with pytest.raises(AttributeError):
        pod.port = 1  # type: ignore[misc]


def test_one_resolver_says_where_each_step_runs(monkeypatch):
    graph = Specs.graph()
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__DEFAULT_COMPUTE", "batch")
    where = {node.name: step_placement(node) for node in graph}
    assert where == {
        "start": Placement.KUBERNETES,
        "featurize": Placement.BATCH,
        "train": Placement.BATCH,  # @resources alone: [airstep] default_compute
        "end": Placement.LOCAL,
    }
    monkeypatch.setenv("AIRFLOW__AIRSTEP__DEFAULT_COMPUTE", "nowhere")
    assert step_placement(graph["end"]) is Placement.LOCAL  # the setting is not read
    with pytest.raises(FlowDefinitionError, match="default_compute is 'nowhere'"):
        step_placement(graph["train"])
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "true")
    assert {step_placement(node) for node in graph} == {Placement.LOCAL}
