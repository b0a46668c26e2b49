"""``@secrets`` on Kubernetes: the hand-off Secret of a task, its owner, and what a killed
worker left behind.

The operator reads the step's Airflow sources in the worker and puts them in a Secret made
for the task's pod(s), referenced from the pods' env by ``secretKeyRef``, so that no value
is in a spec (:func:`hand_off_secrets`). The Secret carries the label
``app.kubernetes.io/managed-by=airstep`` and the task's labels, by the pod operator's own
rule (``dag_id``, ``task_id``, ``run_id``, ``map_index``, ``try_number``).

It is deleted when the task ends. A worker killed mid-task runs no ``finally``, so:

- right after its owner is created (the pod; a gang's Job or JobSet), the Secret gets an
  ownerReference to it (:func:`own_handoff`): Kubernetes' garbage collector deletes it with
  its owner, whoever deletes that (the next try, ``on_kill``, a user, a TTL);
- the next start of the same task deletes the task's Secrets whose owner is gone, or that
  never got one (the worker was killed between creating the Secret and its owner):
  :func:`sweep_handoffs`.

The worker's service account needs to create, patch, list and delete Secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from provider.flow.graph import StepNode
from provider.operators import kubernetes_jobset as jobsets
from provider.operators.secrets import airflow_handoff, airflow_sources, handoff_name

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

MANAGED_BY = {"app.kubernetes.io/managed-by": "airstep"}


def task_labels(context: Context, *, with_try: bool = True) -> dict[str, str]:
    """The labels of the task's hand-off Secrets: airstep's, and the task's by the pod
    operator's rule (without the try number: the labels of every try of the task)."""
    labels = KubernetesPodOperator._get_ti_pod_labels(context, include_try_number=with_try)
    labels.pop("kubernetes_pod_operator", None)  # says what made a pod; this is no pod
    return {**MANAGED_BY, **labels}


def hand_off_secrets(
    hook: Any, namespace: str, node: StepNode, name_base: str, context: Context
) -> tuple[str | None, list[str]]:
    """Put the step's Airflow secrets in a new Secret, labelled as the task's, after deleting
    what an earlier try of the task left (:func:`sweep_handoffs`). Returns the Secret's name
    (None when the step has no Airflow source) and its keys, for the pods' ``secretKeyRef``."""
    if not airflow_sources(node):
        return None, []
    sweep_handoffs(hook, namespace, task_labels(context, with_try=False))
    values = airflow_handoff(node)
    name = handoff_name(name_base, "secrets")
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "labels": task_labels(context)},
        "stringData": values,
        "type": "Opaque",
    }
    hook.core_v1_client.create_namespaced_secret(namespace, body)
    return name, sorted(values)


def owner_reference(api_version: str, kind: str, name: str, uid: str) -> dict[str, str]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}


def own_handoff(
    hook: Any, namespace: str, name: str, owner: dict[str, str] | Callable[[], dict[str, str]]
) -> None:
    """Make ``owner`` (just created; or a function that gives it) the owner of the Secret
    ``name``, which then goes with it."""
    try:
        if callable(owner):
            owner = owner()
        hook.core_v1_client.patch_namespaced_secret(
            name, namespace, {"metadata": {"ownerReferences": [owner]}}
        )
    except Exception as exc:  # noqa: BLE001 - the task runs on; only a killed worker leaves it
        log.warning(
            "Could not make %s the owner of the Secret %s in %s (the worker's service account "
            "needs to patch Secrets): %s; it is deleted when the task ends, but not by "
            "Kubernetes if this worker is killed.",
            owner if isinstance(owner, dict) else "its pod",
            name,
            namespace,
            exc,
        )


def delete_handoff(hook: Any, namespace: str, name: str) -> None:
    """Delete a Secret :func:`hand_off_secrets` made, once its pods have ended (it may be
    gone already: collected with its owner)."""
    try:
        hook.core_v1_client.delete_namespaced_secret(name, namespace)
    except Exception as exc:  # noqa: BLE001 - the task's outcome stands; say what is left
        if _status(exc) != 404:
            log.warning("Could not delete the Secret %s in %s: %s", name, namespace, exc)


def sweep_handoffs(hook: Any, namespace: str, labels: dict[str, str]) -> list[str]:
    """Delete the hand-off Secrets of this task (``labels``, without the try number) whose
    owner is gone or that have none: an earlier try's, whose worker was killed. Returns
    their names. Best effort: what cannot be listed or deleted is left, with a warning."""
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    if "map_index" not in labels:
        selector += ",!map_index"
    try:
        listed = hook.core_v1_client.list_namespaced_secret(namespace, label_selector=selector)
    except Exception as exc:  # noqa: BLE001 - the task runs on without the sweep
        log.warning("Could not list this task's Secrets in %s: %s", namespace, exc)
        return []
    swept = []
    for secret in listed.items:
        owners = secret.metadata.owner_references or []
        if any(_owner_exists(hook, namespace, owner) for owner in owners):
            continue
        delete_handoff(hook, namespace, secret.metadata.name)
        swept.append(secret.metadata.name)
    if swept:
        log.info("Deleted %d Secret(s) an earlier try of this task left: %s", len(swept), swept)
    return swept


def _owner_exists(hook: Any, namespace: str, owner: Any) -> bool:
    """Whether the object ``owner`` (an ownerReference) names still exists: the same object,
    by its uid."""
    try:
        if owner.kind == "Pod":
            uid = hook.core_v1_client.read_namespaced_pod(owner.name, namespace).metadata.uid
        elif owner.kind == "Job":
            uid = hook.batch_v1_client.read_namespaced_job(owner.name, namespace).metadata.uid
        elif owner.kind == "JobSet":
            found = hook.get_custom_object(
                jobsets.GROUP, jobsets.VERSION, jobsets.PLURAL, owner.name, namespace
            )
            uid = found["metadata"]["uid"]
        else:
            return True  # not an owner airstep gives: not ours to judge
    except Exception as exc:  # noqa: BLE001 - unknown: kept
        return _status(exc) != 404
    return bool(uid == owner.uid)


def _status(exc: Exception) -> int | None:
    """The HTTP status of the Kubernetes client's ``ApiException`` (this module does not
    import the client: see the layers contract)."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None
