"""airstep: Metaflow-style flows that are also native Apache Airflow DAGs.

Importing this package does not import Airflow: a step process starts fast.
"""

from provider.client import Flow, Run, Step, Task
from provider.decorators import (
    batch,
    catch,
    environment,
    kubernetes,
    parallel,
    resources,
    retry,
    schedule,
    step,
    timeout,
)
from provider.exceptions import (
    AirstepError,
    FlowDefinitionError,
    GraphError,
    InvalidDecoratorError,
    MergeArtifactsError,
    ParameterError,
    RunFailed,
    StepError,
)
from provider.flow import FlowSpec, IncludeFile, JSONType, Parameter, current
from provider.parallel_map import parallel_imap_unordered, parallel_map

__all__ = [
    "AirstepError",
    "Flow",
    "FlowDefinitionError",
    "FlowSpec",
    "GraphError",
    "IncludeFile",
    "InvalidDecoratorError",
    "JSONType",
    "MergeArtifactsError",
    "Parameter",
    "ParameterError",
    "Run",
    "RunFailed",
    "Step",
    "StepError",
    "Task",
    "batch",
    "catch",
    "current",
    "environment",
    "kubernetes",
    "parallel",
    "parallel_imap_unordered",
    "parallel_map",
    "resources",
    "retry",
    "schedule",
    "step",
    "timeout",
]
