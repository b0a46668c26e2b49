"""A gang as one JobSet (``jobset.x-k8s.io/v1alpha2``): its manifest and how to read its state.

Where the JobSet controller is installed (``[airstep] kubernetes_gang = jobset``), the
:class:`~provider.operators.kubernetes_gang.KubernetesGangOperator` creates one JobSet instead
of an Indexed Job and a headless Service. Its single replicated job, ``node``, has one replica:
the same Indexed Job (``completions = parallelism = N``, ``backoffLimit: 0``, a ``FailJob``
pod failure policy), which the controller names ``<jobset>-node-0``. With
``network.enableDNSHostnames`` the controller makes the headless Service, named after the
JobSet, and gives every pod that subdomain, so node ``i`` is ``<jobset>-node-0-<i>.<jobset>``
and the main node ``<jobset>-node-0-0.<jobset>``. ``failurePolicy.maxRestarts: 0``: the
JobSet fails with its Job, and Airflow's retries start a new JobSet under a new name.
Deleting the JobSet deletes its Job, pods and Service (they are its dependents).
"""

from __future__ import annotations

from typing import Any

GROUP = "jobset.x-k8s.io"
VERSION = "v1alpha2"
PLURAL = "jobsets"
#: the name of the JobSet's one replicated job (a short one: it is part of every hostname)
REPLICATED_JOB = "node"
#: the label the JobSet controller puts on every pod of a JobSet
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"


def main_node_address(name: str) -> str:
    """The DNS name of node 0 of the JobSet ``name``: pod 0 of job 0 of its replicated job."""
    return f"{name}-{REPLICATED_JOB}-0-0.{name}"


def jobset_body(job: dict[str, Any]) -> dict[str, Any]:
    """The JobSet that runs ``job`` (a serialised ``batch/v1`` Job) as its only replicated job,
    under the Job's name, namespace, labels and annotations."""
    meta = job["metadata"]
    metadata = {"name": meta["name"], "namespace": meta["namespace"]}
    for key in ("labels", "annotations"):
        if meta.get(key):
            metadata[key] = dict(meta[key])
    template: dict[str, Any] = {"spec": job["spec"]}
    if meta.get("labels"):
        template["metadata"] = {"labels": dict(meta["labels"])}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "JobSet",
        "metadata": metadata,
        "spec": {
            "network": {"enableDNSHostnames": True, "publishNotReadyAddresses": True},
            "failurePolicy": {"maxRestarts": 0},
            "successPolicy": {"operator": "All"},
            "replicatedJobs": [{"name": REPLICATED_JOB, "replicas": 1, "template": template}],
        },
    }


def jobset_outcome(jobset: dict[str, Any]) -> tuple[str | None, str | None]:
    """``("Complete" | "Failed" | None, the reason)`` of a JobSet read from the API."""
    status = jobset.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Completed":
            return "Complete", condition.get("reason")
        if condition.get("type") == "Failed":
            return "Failed", condition.get("reason")
    terminal = status.get("terminalState")
    if terminal in ("Completed", "Failed"):
        return ("Complete" if terminal == "Completed" else "Failed"), None
    return None, None
