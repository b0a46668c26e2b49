"""Step and flow decorators (no Airflow import)."""

from provider.decorators.base import StepDecorator, step
from provider.decorators.card import CardDecorator, card
from provider.decorators.compute import BatchDecorator, KubernetesDecorator, batch, kubernetes
from provider.decorators.core import (
    CatchDecorator,
    EnvironmentDecorator,
    ResourcesDecorator,
    RetryDecorator,
    TimeoutDecorator,
    catch,
    environment,
    resources,
    retry,
    timeout,
)
from provider.decorators.flow import schedule
from provider.decorators.mutators import FlowMutator, MutableFlow, MutableStep, StepMutator
from provider.decorators.parallel import ParallelDecorator, parallel
from provider.decorators.project import project
from provider.decorators.secrets import SecretsDecorator, secrets
from provider.decorators.user_step_decorators import (
    USER_SKIP_STEP,
    UserStepDecorator,
    user_step_decorator,
)

__all__ = [
    "BatchDecorator",
    "CardDecorator",
    "CatchDecorator",
    "EnvironmentDecorator",
    "FlowMutator",
    "KubernetesDecorator",
    "MutableFlow",
    "MutableStep",
    "ParallelDecorator",
    "ResourcesDecorator",
    "RetryDecorator",
    "SecretsDecorator",
    "StepDecorator",
    "StepMutator",
    "TimeoutDecorator",
    "USER_SKIP_STEP",
    "UserStepDecorator",
    "batch",
    "card",
    "catch",
    "environment",
    "kubernetes",
    "parallel",
    "project",
    "resources",
    "retry",
    "schedule",
    "secrets",
    "step",
    "timeout",
    "user_step_decorator",
]
