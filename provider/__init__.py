"""airstep: Metaflow-style flows that are also native Apache Airflow DAGs.

Importing this package does not import Airflow: a step process starts fast.
"""

from provider import frontends
from provider.client import Flow, Run, Step, Task
from provider.decorators import (
    batch,
    card,
    catch,
    environment,
    kubernetes,
    parallel,
    project,
    resources,
    retry,
    schedule,
    step,
    timeout,
)
from provider.exceptions import (
    AirstepError,
    ConfigError,
    FlowDefinitionError,
    GraphError,
    InvalidDecoratorError,
    MergeArtifactsError,
    ParameterError,
    RunFailed,
    StepError,
)
from provider.flow import (
    Config,
    ConfigValue,
    FlowSpec,
    IncludeFile,
    JSONType,
    Parameter,
    config_expr,
    current,
)
from provider.parallel_map import parallel_imap_unordered, parallel_map

# ``MyFlow()`` and ``MyFlow.to_dag()`` reach the command line and the DAG compiler,
# which sit above the flow core, through this registration
frontends.register()

__all__ = [
    "AirstepError",
    "Config",
    "ConfigError",
    "ConfigValue",
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
    "card",
    "catch",
    "config_expr",
    "current",
    "environment",
    "kubernetes",
    "parallel",
    "parallel_imap_unordered",
    "parallel_map",
    "project",
    "resources",
    "retry",
    "schedule",
    "step",
    "timeout",
]
