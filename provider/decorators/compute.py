"""Where a step runs: ``@kubernetes`` and ``@batch``.

``@resources`` says *what* a step needs; these say *where*. Every attribute is
validated here; the operators turn them into a pod spec or a Batch job. A step
may carry at most one of them. Each attribute and its default is a field of
:class:`~provider.decorators.specs.KubernetesSpec` or
:class:`~provider.decorators.specs.BatchSpec`, the records the operators read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from provider.decorators.base import StepDecorator, make_step_decorator
from provider.decorators.specs import BatchSpec, KubernetesSpec, attribute_defaults

_RESOURCE_DEFAULTS: dict[str, Any] = {
    "cpu": None,
    "memory": None,
    "disk": None,
    "gpu": None,
    "shared_memory": None,
}


class _ComputeDecorator(StepDecorator):
    def validate(self) -> None:
        self.check_number("cpu", strict=True)
        self.check_number("memory", strict=True, integer=True)
        self.check_number("disk", strict=True, integer=True)
        self.check_number("gpu", integer=True)
        self.check_number("shared_memory", strict=True, integer=True)
        self.check_type("image", str, "an image name such as 'python:3.11'")

    def check_str_dict(self, attr: str) -> None:
        value = self.attributes.get(attr)
        if value is None:
            return
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.fail(attr, "give a dict of strings to strings")

    def check_str_list(self, attr: str) -> None:
        value = self.attributes.get(attr)
        if value is None:
            return
        if isinstance(value, str):
            value = self.attributes[attr] = [value]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise self.fail(attr, "give a list of names")
        self.attributes[attr] = list(value)


class KubernetesDecorator(_ComputeDecorator):
    """Run the step in a Kubernetes pod."""

    name = "kubernetes"
    defaults: ClassVar[dict[str, Any]] = {
        **_RESOURCE_DEFAULTS,
        **attribute_defaults(KubernetesSpec),
    }

    def validate(self) -> None:
        super().validate()
        a = self.attributes
        if a["gpu_vendor"] not in ("nvidia", "amd"):
            raise self.fail("gpu_vendor", "give 'nvidia' or 'amd'")
        if a["image_pull_policy"] not in (None, "Always", "IfNotPresent", "Never"):
            raise self.fail("image_pull_policy", "give 'Always', 'IfNotPresent' or 'Never'")
        for attr in ("namespace", "service_account", "tmpfs_path"):
            self.check_type(attr, str, "a string")
        for attr in ("image_pull_secrets", "secrets", "env_from"):
            self.check_str_list(attr)
        if isinstance(a["node_selector"], str):  # "k=v,k2=v2", as on Metaflow's command line
            pairs = [p.split("=", 1) for p in a["node_selector"].split(",") if p.strip()]
            if not all(len(p) == 2 for p in pairs):
                raise self.fail("node_selector", "write it as 'key=value,key2=value2' or a dict")
            a["node_selector"] = {k.strip(): v.strip() for k, v in pairs}
        for attr in ("node_selector", "labels", "annotations", "persistent_volume_claims"):
            self.check_str_dict(attr)
        tolerations = a["tolerations"]
        if tolerations is not None and not (
            isinstance(tolerations, list) and all(isinstance(t, dict) for t in tolerations)
        ):
            raise self.fail("tolerations", "give a list of dicts such as [{'key': 'gpu', ...}]")
        self.check_type("use_tmpfs", bool, "True or False")
        self.check_number("tmpfs_size", strict=True, integer=True)
        self.check_type("security_context", dict, "a dict (a Kubernetes SecurityContext)")
        self.check_number("termination_grace_period", integer=True)
        self.check_number("startup_timeout", strict=True, integer=True)
        self.check_number("port", strict=True, integer=True)


class BatchDecorator(_ComputeDecorator):
    """Run the step as an AWS Batch job."""

    name = "batch"
    defaults: ClassVar[dict[str, Any]] = {
        **_RESOURCE_DEFAULTS,
        **attribute_defaults(BatchSpec),
    }

    def validate(self) -> None:
        super().validate()
        for attr in ("queue", "iam_role", "execution_role", "job_definition", "tmpfs_path"):
            self.check_type(attr, str, "a string")
        self.check_number("max_swap", integer=True)
        self.check_number("swappiness", integer=True)
        if (self.attributes["swappiness"] or 0) > 100:
            raise self.fail("swappiness", "give a whole number from 0 to 100")
        for attr in ("inferentia", "trainium", "efa"):
            self.check_number(attr, integer=True)
        self.check_number("ephemeral_storage", minimum=21, integer=True)
        self.check_number("tmpfs_size", strict=True, integer=True)
        self.check_type("privileged", bool, "True or False")
        self.check_type("use_tmpfs", bool, "True or False")
        self.check_str_dict("tags")
        self.check_str_list("host_volumes")
        self.check_str_list("log_options")
        self.check_type("log_driver", str, "a log driver name such as 'awslogs'")


kubernetes = make_step_decorator(KubernetesDecorator)
batch = make_step_decorator(BatchDecorator)
