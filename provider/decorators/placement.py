"""Where a step runs: :class:`Placement`, decided in one place, :func:`step_placement`.

A step with ``@kubernetes`` or ``@batch`` runs there; one with ``@resources`` alone
goes where ``[airstep] default_compute`` says; every other step, and every step
under ``[airstep] local_override``, runs here (locally, or in the Airflow worker).
The DAG compiler picks each step's operator from it; the operators and the runtime
read the step's compute decorator (:func:`declared_placement`) for what it asks for.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from provider.exceptions import FlowDefinitionError
from provider.settings import flag, setting


class Placement(StrEnum):
    """Where a step runs; the values are ``[airstep] default_compute``'s words."""

    LOCAL = "local"
    KUBERNETES = "kubernetes"
    BATCH = "batch"


#: the placements a compute decorator names, by the decorator's name (its value)
REMOTE_PLACEMENTS = (Placement.KUBERNETES, Placement.BATCH)


class DecoratedStep(Protocol):
    """A step as this module sees it: its decorators by name."""

    decorators: dict[str, Any]


def local_override() -> bool:
    """True when every step must run here, whatever its decorators say."""
    return flag("local_override")


def declared_placement(node: DecoratedStep) -> Placement | None:
    """The platform the step's compute decorator (``@kubernetes``, ``@batch``) names, if any;
    ``[airstep] local_override`` does not change what a step asks for."""
    return next((p for p in REMOTE_PLACEMENTS if p.value in node.decorators), None)


def default_compute() -> Placement:
    """``[airstep] default_compute``: where a step with ``@resources`` alone runs."""
    value = setting("default_compute") or ""
    try:
        return Placement(value)
    except ValueError:
        raise FlowDefinitionError(
            f"[airstep] default_compute is {value!r}; use kubernetes, batch or local."
        ) from None


def step_placement(node: DecoratedStep) -> Placement:
    """Where the step runs: here under ``[airstep] local_override``, else where its compute
    decorator says, else (with ``@resources``) where ``[airstep] default_compute`` says, else
    here."""
    if local_override():
        return Placement.LOCAL
    declared = declared_placement(node)
    if declared is not None:
        return declared
    if "resources" in node.decorators:
        return default_compute()
    return Placement.LOCAL
