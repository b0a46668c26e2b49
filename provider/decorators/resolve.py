"""What a step asks for, merged from ``@resources`` and its compute decorator.

``@resources`` says what a step needs; ``@kubernetes`` / ``@batch`` say where it
runs and may say what it needs too. Per key: a value the user wrote beats a
default; of two values the user wrote, the larger wins; ``cpu=0.5`` stays 0.5;
``gpu=0`` means no GPU.
"""

from __future__ import annotations

from typing import Any

from provider.decorators.core import ResourcesDecorator
from provider.flow.graph import StepNode

RESOURCE_KEYS = ("cpu", "memory", "gpu", "disk", "shared_memory")


def step_resources(node: StepNode, backend: str | None = None) -> dict[str, Any]:
    """``cpu`` (cores), ``memory``/``disk``/``shared_memory`` (MB) and ``gpu`` for the step."""
    sources = [d for name, d in node.decorators.items() if name in ("resources", backend)]
    merged: dict[str, Any] = {}
    for key in RESOURCE_KEYS:
        explicit = [
            d.attributes[key]
            for d in sources
            if key in d.explicit and d.attributes.get(key) is not None
        ]
        merged[key] = max(explicit) if explicit else ResourcesDecorator.defaults[key]
    merged["gpu"] = int(merged["gpu"] or 0)
    return merged
