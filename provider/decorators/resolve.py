"""What a step's decorators ask for, read in one place: resources, attempts, environment.

Resources merge ``@resources`` and the step's compute decorator into one
:class:`~provider.decorators.specs.Resources` record.

``@resources`` says what a step needs; ``@kubernetes`` / ``@batch`` say where it
runs and may say what it needs too. Per key: a value the user wrote beats a
default; of two values the user wrote, the larger wins; ``cpu=0.5`` stays 0.5;
``gpu=0`` means no GPU.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Protocol

from provider.decorators.core import ResourcesDecorator
from provider.decorators.placement import Placement, declared_placement
from provider.decorators.secrets import SecretsError, secrets_environment
from provider.decorators.specs import Resources


class StepNode(Protocol):
    """A step as these functions see it (the flow graph's node): its decorators by name."""

    name: str
    decorators: dict[str, Any]

    @property
    def is_foreach(self) -> bool: ...


RESOURCE_KEYS = tuple(f.name for f in fields(Resources))


def step_resources(node: StepNode, backend: Placement | None = None) -> Resources:
    """``cpu`` (cores), ``memory``/``disk``/``shared_memory`` (MB) and ``gpu`` for the step.

    ``backend`` names the compute decorator whose values count besides ``@resources``;
    by default the one the step carries, if any (wherever it runs: locally, a
    ``@kubernetes(gpu=1)`` step still takes a GPU of this machine).
    """
    if backend is None:
        backend = declared_placement(node)
    sources = [d for name, d in node.decorators.items() if name in ("resources", backend)]
    merged: dict[str, Any] = {}
    for key in RESOURCE_KEYS:
        explicit = [
            d.attributes[key]
            for d in sources
            if key in d.explicit and d.attributes.get(key) is not None
        ]
        merged[key] = max(explicit) if explicit else ResourcesDecorator.defaults[key]
    return Resources(
        cpu=merged["cpu"],  # as written: 0.5 stays 0.5, 1 stays 1
        memory=int(merged["memory"]),
        gpu=int(merged["gpu"] or 0),
        disk=None if merged["disk"] is None else int(merged["disk"]),
        shared_memory=None if merged["shared_memory"] is None else int(merged["shared_memory"]),
    )


def step_gpus(node: StepNode) -> int:
    """GPUs the step asks for (0 for none)."""
    return step_resources(node).gpu


def step_retries(node: StepNode) -> int:
    """Attempts after the first that ``@retry`` allows (0 without it)."""
    retry = node.decorators.get("retry")
    return retry.times if retry else 0


def step_catches(node: StepNode) -> bool:
    """True when ``@catch`` applies to the step: it has one, and no :func:`catch_refusal`."""
    return "catch" in node.decorators and catch_refusal(node) is None


def catch_refusal(node: StepNode) -> str | None:
    """Why the step's ``@catch`` does not catch its failures; None when it does (or is absent)."""
    if "catch" in node.decorators and node.is_foreach:
        return (
            f"@catch does not catch a failure of step *{node.name}*: it is a foreach split, and "
            "a failed split yields no items for the steps after it to run on."
        )
    return None


def step_attempts(node: StepNode) -> int:
    """Attempts an executor gives a task of the step: the first, ``@retry``'s retries, and
    with ``@catch`` one more, the fallback attempt, which runs no user code: it records why
    the last regular attempt failed (an exception, a crash, a kill, an artifact that could
    not be saved) in the catch var and lets the flow carry on."""
    return 1 + step_retries(node) + (1 if step_catches(node) else 0)


def is_fallback_attempt(node: StepNode, attempt: int) -> bool:
    """True for ``@catch``'s fallback attempt (counted from 0): the one after every retry."""
    return step_catches(node) and attempt > step_retries(node)


def retry_delay_seconds(node: StepNode) -> float:
    """Seconds between attempts that ``@retry`` asks for (0 without it)."""
    retry = node.decorators.get("retry")
    return retry.delay_seconds if retry else 0.0


def step_environment(node: StepNode) -> dict[str, str]:
    """Variables ``@environment`` sets for the step's process, and ``@secrets``' values
    (read now: call it in the task, just before the step runs)."""
    deco = node.decorators.get("environment")
    env = deco.vars if deco else {}
    secrets = node.decorators.get("secrets")
    if secrets is None:
        return env
    values = secrets_environment(node.name, secrets)
    both = sorted(set(env) & set(values))
    if both and not secrets.attributes["allow_override"]:
        raise SecretsError(
            f"@secrets on step *{node.name}* sets {', '.join(both)}, which @environment sets "
            "too; rename one, or pass @secrets(allow_override=True) to let the secret win."
        )
    return {**env, **values}
