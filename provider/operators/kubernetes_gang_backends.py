"""What a gang is on Kubernetes: an Indexed Job and a headless Service, or one JobSet.

:class:`GangBackend` is what the
:class:`~provider.operators.kubernetes_gang.KubernetesGangOperator` does with its gang,
whatever the gang is: give node 0's address, create it, read its outcome, select its
pods and delete it. Two implementations, on the provider's ``KubernetesHook``:

- :class:`IndexedJobGang`: the Indexed Job itself, and a headless Service named like it
  that is its pods' subdomain (``[airstep] kubernetes_gang = indexed_job``, the default);
- :class:`JobSetGang`: one JobSet whose only replicated job is that Job
  (:mod:`provider.operators.kubernetes_jobset`); the JobSet controller makes the Job,
  the Service and the pods' DNS names (``kubernetes_gang = jobset``).

:func:`gang_backend` picks one. The Kubernetes client is not imported here (only the
pod and gang operators import it, a rule the layers contract checks): an API error is
known by its HTTP ``status``, as the client's ``ApiException`` gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from provider.exceptions import StepError
from provider.operators import kubernetes_jobset as jobsets
from provider.operators.kubernetes_secrets import owner_reference
from provider.settings import setting

#: what a gang can be on Kubernetes: ``[airstep] kubernetes_gang``
GANG_KINDS = ("indexed_job", "jobset")
#: the label the Job controller puts on the pods of a Job
JOB_NAME_LABEL = "job-name"


class GangBackend(Protocol):
    """A gang on Kubernetes, as the gang operator drives it."""

    #: what the gang is, in messages: ``"Job"`` or ``"JobSet"``
    kind: str

    def main_address(self, name: str) -> str:
        """The DNS name of node 0 of the gang ``name`` (``--main-addr``)."""
        ...

    def create(self, job: Any, labels: Mapping[str, str]) -> dict[str, str]:
        """Create the gang that runs ``job`` (a named, namespaced Indexed ``V1Job``), with
        ``labels`` on what it adds beside the Job; return an owner reference to the gang."""
        ...

    def outcome(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        """``("Complete" | "Failed" | None, why it failed)``; the client's error when the
        gang is gone (status 404)."""
        ...

    def pod_selector(self, name: str) -> str:
        """The label selector of the gang's pods."""
        ...

    def delete(self, namespace: str, name: str, grace_period: int | None) -> None:
        """Delete the gang with everything it made; what is already gone is fine."""
        ...


def gang_kind(step_name: str) -> str:
    """``[airstep] kubernetes_gang``: ``indexed_job`` or ``jobset``."""
    value = (setting("kubernetes_gang") or "").strip().lower().replace("-", "_")
    if value not in GANG_KINDS:
        raise ValueError(
            f"Step *{step_name}* is a @parallel step on Kubernetes, but [airstep] "
            f"kubernetes_gang is {setting('kubernetes_gang')!r}; set it to indexed_job (an "
            "Indexed Job and a headless Service) or jobset (a JobSet, where the JobSet "
            "controller is installed)."
        )
    return value


def gang_backend(hook: Any, step_name: str, log: Any) -> GangBackend:
    """The gang ``[airstep] kubernetes_gang`` asks for, driven through ``hook`` (the
    provider's ``KubernetesHook``); ``log`` is the task's logger."""
    if gang_kind(step_name) == "jobset":
        return JobSetGang(hook, step_name, log)
    return IndexedJobGang(hook, step_name, log)


class IndexedJobGang:
    """The gang as an Indexed Job and a headless Service named like it (``clusterIP:
    None``, ``publishNotReadyAddresses``), the pods' subdomain: pod ``i`` is
    ``<job>-<i>.<job>``."""

    kind = "Job"

    def __init__(self, hook: Any, step_name: str, log: Any) -> None:
        self.hook, self.step_name, self.log = hook, step_name, log

    def main_address(self, name: str) -> str:
        return f"{name}-0.{name}"

    def create(self, job: Any, labels: Mapping[str, str]) -> dict[str, str]:
        name, namespace = job.metadata.name, job.metadata.namespace
        job.spec.template.spec.subdomain = name
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": {JOB_NAME_LABEL: name},
            },
        }
        self.hook.core_v1_client.create_namespaced_service(namespace, service)
        created = self.hook.create_job(job)
        return owner_reference("batch/v1", "Job", name, created.metadata.uid)

    def outcome(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        job = self.hook.get_job_status(name, namespace)
        reason = self.hook.is_job_failed(job)  # the Failed condition's reason, else False
        if reason is not False:
            return "Failed", reason or None
        return ("Complete" if self.hook.is_job_successful(job) else None), None

    def pod_selector(self, name: str) -> str:
        return f"{JOB_NAME_LABEL}={name}"

    def delete(self, namespace: str, name: str, grace_period: int | None) -> None:
        _delete(
            self,
            name,
            lambda: self.hook.batch_v1_client.delete_namespaced_job(
                name, namespace, propagation_policy="Background", grace_period_seconds=grace_period
            ),
            lambda: self.hook.core_v1_client.delete_namespaced_service(name, namespace),
        )


class JobSetGang:
    """The gang as one JobSet (:mod:`provider.operators.kubernetes_jobset`), created through
    the hook's custom objects client; deleting it deletes its Job, pods and Service."""

    kind = "JobSet"

    def __init__(self, hook: Any, step_name: str, log: Any) -> None:
        self.hook, self.step_name, self.log = hook, step_name, log

    def main_address(self, name: str) -> str:
        return jobsets.main_node_address(name)

    def create(self, job: Any, labels: Mapping[str, str]) -> dict[str, str]:
        namespace = job.metadata.namespace
        body = jobsets.jobset_body(self.hook.api_client.sanitize_for_serialization(job))
        try:
            created = self.hook.create_custom_object(
                jobsets.GROUP, jobsets.VERSION, jobsets.PLURAL, body, namespace
            )
        except Exception as exc:
            if _status(exc) != 404:
                raise
            raise StepError(
                f"Step *{self.step_name}*: [airstep] kubernetes_gang is jobset, but the cluster "
                f"serves no JobSets ({jobsets.GROUP}/{jobsets.VERSION} {jobsets.PLURAL} in "
                f"namespace {namespace} answered 404); install the JobSet controller, or set "
                "[airstep] kubernetes_gang = indexed_job."
            ) from None
        api_version = f"{jobsets.GROUP}/{jobsets.VERSION}"
        return owner_reference(api_version, "JobSet", job.metadata.name, created["metadata"]["uid"])

    def outcome(self, namespace: str, name: str) -> tuple[str | None, str | None]:
        found = self.hook.get_custom_object(
            jobsets.GROUP, jobsets.VERSION, jobsets.PLURAL, name, namespace
        )
        return jobsets.jobset_outcome(found)

    def pod_selector(self, name: str) -> str:
        return f"{jobsets.JOBSET_NAME_LABEL}={name}"

    def delete(self, namespace: str, name: str, grace_period: int | None) -> None:
        _delete(
            self,
            name,
            lambda: self.hook.delete_custom_object(
                jobsets.GROUP,
                jobsets.VERSION,
                jobsets.PLURAL,
                name,
                namespace,
                propagation_policy="Background",
                grace_period_seconds=grace_period,
            ),
        )


def _status(exc: BaseException) -> int | None:
    """The HTTP status of a Kubernetes API error (the client's ``ApiException``), else None."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _delete(gang: IndexedJobGang | JobSetGang, name: str, *deletes: Any) -> None:
    """Run every delete; one that finds nothing is fine, another API error is logged."""
    for delete in deletes:
        try:
            delete()
        except Exception as exc:
            status = _status(exc)
            if status is None:
                raise
            if status != 404:
                gang.log.warning("Step *%s*: could not delete %s: %s", gang.step_name, name, exc)
