"""Typed records of a step's compute: :class:`Resources`, :class:`KubernetesSpec`
(``@kubernetes``) and :class:`BatchSpec` (``@batch``).

The operators read these records' fields, never a decorator's attributes by name.
An attribute's default is written once, as its field's default here: the compute
decorators' ``defaults`` are made from these fields (:func:`attribute_defaults`).
A step without the decorator gets the record of defaults. Lists become tuples and
whole numbers ints; dicts stay the dicts the decorator validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, Protocol, TypeVar


class DecoratedStep(Protocol):
    """A step as this module sees it: its decorators by name."""

    decorators: dict[str, Any]


@dataclass(frozen=True)
class Resources:
    """What one task (one node of a gang) needs, merged from ``@resources`` and the compute
    decorator (:func:`~provider.decorators.resolve.step_resources`)."""

    #: cores, as written: ``1`` stays 1 and ``0.5`` stays 0.5
    cpu: float
    #: MB
    memory: int
    #: 0 for none
    gpu: int
    #: MB of ephemeral storage, None when not asked for
    disk: int | None
    #: MB of ``/dev/shm``, None when not asked for
    shared_memory: int | None


@dataclass(frozen=True)
class KubernetesSpec:
    """``@kubernetes``'s attributes, resources apart (see :class:`Resources`)."""

    gpu_vendor: str = "nvidia"
    image: str | None = None
    image_pull_policy: str | None = None
    image_pull_secrets: tuple[str, ...] | None = None
    namespace: str | None = None
    service_account: str | None = None
    #: Kubernetes Secrets whose keys become the container's variables
    secrets: tuple[str, ...] | None = None
    #: ConfigMaps whose keys become the container's variables
    env_from: tuple[str, ...] | None = None
    node_selector: Mapping[str, str] | None = None
    tolerations: tuple[Mapping[str, Any], ...] | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None
    #: claim name -> mount path
    persistent_volume_claims: Mapping[str, str] | None = None
    use_tmpfs: bool = False
    #: MB
    tmpfs_size: int | None = None
    tmpfs_path: str = "/airstep_tmp"
    security_context: Mapping[str, Any] | None = None
    termination_grace_period: int | None = None
    #: seconds the pod may take to start
    startup_timeout: int | None = None
    port: int | None = None

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any]) -> KubernetesSpec:
        return _record(
            cls,
            attributes,
            ints=("tmpfs_size", "termination_grace_period", "startup_timeout", "port"),
            lists=("image_pull_secrets", "secrets", "env_from", "tolerations"),
        )


@dataclass(frozen=True)
class BatchSpec:
    """``@batch``'s attributes, resources apart (see :class:`Resources`)."""

    image: str | None = None
    queue: str | None = None
    iam_role: str | None = None
    execution_role: str | None = None
    job_definition: str | None = None
    #: MB
    max_swap: int | None = None
    swappiness: int | None = None
    inferentia: int | None = None
    trainium: int | None = None
    efa: int | None = None
    #: GiB
    ephemeral_storage: int | None = None
    privileged: bool | None = None
    tags: Mapping[str, str] | None = None
    use_tmpfs: bool = False
    #: MB
    tmpfs_size: int | None = None
    tmpfs_path: str = "/airstep_tmp"
    host_volumes: tuple[str, ...] | None = None
    log_driver: str | None = None
    #: ``"name=value"`` strings
    log_options: tuple[str, ...] | None = None

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, Any]) -> BatchSpec:
        return _record(
            cls,
            attributes,
            ints=(
                "max_swap",
                "swappiness",
                "inferentia",
                "trainium",
                "efa",
                "ephemeral_storage",
                "tmpfs_size",
            ),
            lists=("host_volumes", "log_options"),
        )


Spec = TypeVar("Spec", KubernetesSpec, BatchSpec)


def attribute_defaults(record: type[Any]) -> dict[str, Any]:
    """The defaults of a record's fields, by name, in their order: a decorator's ``defaults``."""
    return {f.name: f.default for f in fields(record) if f.default is not MISSING}


def kubernetes_spec(node: DecoratedStep) -> KubernetesSpec:
    """The step's ``@kubernetes``, or the defaults when it has none."""
    deco = node.decorators.get("kubernetes")
    return KubernetesSpec.from_attributes(deco.attributes) if deco else KubernetesSpec()


def batch_spec(node: DecoratedStep) -> BatchSpec:
    """The step's ``@batch``, or the defaults when it has none."""
    deco = node.decorators.get("batch")
    return BatchSpec.from_attributes(deco.attributes) if deco else BatchSpec()


def _record(
    record: type[Spec],
    attributes: Mapping[str, Any],
    *,
    ints: tuple[str, ...],
    lists: tuple[str, ...],
) -> Spec:
    values = {f.name: attributes[f.name] for f in fields(record) if f.name in attributes}
    for name in ints:
        if values.get(name) is not None:
            values[name] = int(values[name])
    for name in lists:
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    return record(**values)
