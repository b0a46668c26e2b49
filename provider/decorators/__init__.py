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
from provider.decorators.parallel import ParallelDecorator, parallel
from provider.decorators.project import project

__all__ = [
    "BatchDecorator",
    "CardDecorator",
    "CatchDecorator",
    "EnvironmentDecorator",
    "KubernetesDecorator",
    "ParallelDecorator",
    "ResourcesDecorator",
    "RetryDecorator",
    "StepDecorator",
    "TimeoutDecorator",
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
    "step",
    "timeout",
]
