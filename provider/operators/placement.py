"""The operator class that runs a step where it runs under Airflow.

Where that is (a :class:`~provider.decorators.placement.Placement`) is decided by
:func:`~provider.decorators.placement.step_placement`: a step with ``@kubernetes``
or ``@batch`` runs there; one with ``@resources`` alone goes where ``[airstep]
default_compute`` says; every other step, and every step under ``[airstep]
local_override``, runs in the Airflow worker. The provider operators are imported
only when a step needs them, so a DAG of local steps parses without the Kubernetes
or AWS providers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provider.decorators.placement import Placement
from provider.operators.step import StepOperator

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from provider.flow.graph import StepNode


def operator_for(placement: Placement) -> type[BaseOperator]:
    """The operator class for a placement; the provider operators load only when a step needs
    them, so a DAG of local steps parses without importing the Kubernetes or AWS providers."""
    if placement == Placement.KUBERNETES:
        from provider.operators.kubernetes import KubernetesStepOperator

        return KubernetesStepOperator
    if placement == Placement.BATCH:
        from provider.operators.batch import BatchStepOperator

        return BatchStepOperator
    return StepOperator


def gang_operator_for(placement: Placement, node: StepNode) -> type[BaseOperator]:
    """The operator class that runs a whole gang (a @parallel step) for a placement."""
    if placement == Placement.KUBERNETES:
        from provider.operators.kubernetes_gang import KubernetesGangOperator

        return KubernetesGangOperator
    if placement == Placement.BATCH:
        from provider.operators.batch_gang import BatchGangOperator

        return BatchGangOperator
    return StepOperator
