"""airstep: Metaflow-style flows that are also native Apache Airflow DAGs.

Importing this package does not import Airflow: a step process starts fast.
"""

from provider import lazy_frontends
from provider.client import (
    Flow,
    NamespaceMismatch,
    Run,
    Step,
    Task,
    TaskException,
    default_namespace,
    get_namespace,
    namespace,
)
from provider.datastore.run_tags import TaggingError
from provider.decorators import (
    USER_SKIP_STEP,
    FlowMutator,
    StepMutator,
    UserStepDecorator,
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
    secrets,
    step,
    timeout,
    user_step_decorator,
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
lazy_frontends.register()

__all__ = [
    "AirstepError",
    "Config",
    "ConfigError",
    "ConfigValue",
    "Flow",
    "FlowDefinitionError",
    "FlowMutator",
    "FlowSpec",
    "GraphError",
    "IncludeFile",
    "InvalidDecoratorError",
    "JSONType",
    "MergeArtifactsError",
    "NamespaceMismatch",
    "Parameter",
    "ParameterError",
    "Run",
    "RunFailed",
    "Step",
    "StepError",
    "StepMutator",
    "TaggingError",
    "Task",
    "TaskException",
    "USER_SKIP_STEP",
    "UserStepDecorator",
    "batch",
    "card",
    "catch",
    "config_expr",
    "current",
    "default_namespace",
    "environment",
    "get_namespace",
    "kubernetes",
    "namespace",
    "parallel",
    "parallel_imap_unordered",
    "parallel_map",
    "project",
    "resources",
    "retry",
    "schedule",
    "secrets",
    "step",
    "timeout",
    "user_step_decorator",
]
