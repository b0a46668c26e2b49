"""Where a step runs under Airflow, and the operator class that runs it there.

A step with ``@kubernetes`` or ``@batch`` runs there; one with ``@resources`` alone
goes where ``[airstep] default_compute`` says; every other step, and every step
under ``[airstep] local_override``, runs in the Airflow worker. The provider
operators are imported only when a step needs them, so a DAG of local steps
parses without the Kubernetes or AWS providers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provider.exceptions import FlowDefinitionError
from provider.operators.step import StepOperator
from provider.settings import flag, setting

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from provider.flow.graph import StepNode


def local_override() -> bool:
    """True when every step must run in the Airflow worker, whatever its decorators say."""
    return flag("local_override")


def step_placement(node: StepNode) -> str:
    """Where a step should run: "local" (the worker), "kubernetes" or "batch"."""
    if local_override():
        return "local"
    for kind in ("kubernetes", "batch"):
        if kind in node.decorators:
            return kind
    if "resources" in node.decorators:
        return setting("default_compute") or ""  # empty: refused by operator_for
    return "local"


def operator_for(placement: str) -> type[BaseOperator]:
    """The operator class for a placement; the provider operators load only when a step needs
    them, so a DAG of local steps parses without importing the Kubernetes or AWS providers."""
    if placement == "kubernetes":
        from provider.operators.kubernetes import KubernetesStepOperator

        return KubernetesStepOperator
    if placement == "batch":
        from provider.operators.batch import BatchStepOperator

        return BatchStepOperator
    if placement != "local":
        raise FlowDefinitionError(
            f"[airstep] default_compute is {placement!r}; use kubernetes, batch or local."
        )
    return StepOperator


def gang_operator_for(placement: str, node: StepNode) -> type[BaseOperator]:
    """The operator class that runs a whole gang (a @parallel step) for a placement."""
    if placement == "local":
        return StepOperator
    if placement == "kubernetes":
        from provider.operators.kubernetes_gang import KubernetesGangOperator

        return KubernetesGangOperator
    if placement == "batch":
        from provider.operators.batch_gang import BatchGangOperator

        return BatchGangOperator
    return operator_for(placement)  # the worker's StepOperator, or the placement refused
