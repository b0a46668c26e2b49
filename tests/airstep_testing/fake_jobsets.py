"""JobSets (``jobset.x-k8s.io/v1alpha2``) for the fake API server (fake_apiserver.py).

``/apis/jobset.x-k8s.io/v1alpha2[/namespaces/{ns}]/jobsets[/{name}[/status]]``: GET, POST and
DELETE (``propagationPolicy``; Background, the default for custom resources, and Foreground
delete the JobSet's Jobs, their pods and its Service; Orphan leaves them). With
``installed = False`` they are not served (404), as on a cluster without the JobSet CRD.

A JobSet is validated against the JobSet CRD's ``openAPIV3Schema``
(``crds/jobset.x-k8s.io_v1alpha2.json``: the schema of the published CRD without its
descriptions) with jsonschema, made strict as kubernetes-validate is for core objects: a field
the schema does not name is an error, where a real API server would prune it silently.
Rejected with 422 Invalid, as a real API server would.

The controller does what the JobSet controller does for the fields airstep uses: with
``network.enableDNSHostnames`` (the default) a headless Service named ``network.subdomain``
(default: the JobSet's name) selecting the JobSet's pods, and that subdomain on every pod; for
every replicated job ``r`` and replica ``j`` a Job ``<jobset>-<r>-<j>`` (the fake Job
controller runs it, see fake_jobs.py) with the labels ``jobset.sigs.k8s.io/jobset-name``,
``jobset.sigs.k8s.io/replicatedjob-name`` and ``jobset.sigs.k8s.io/job-index`` on the Job and
its pods, owned by the JobSet. An Indexed Job's pod ``i`` is thus ``<jobset>-<r>-<j>-<i>``,
reachable as ``<jobset>-<r>-<j>-<i>.<subdomain>`` (the fake's DNS stand-in resolves it). The
JobSet's status follows its Jobs: ``replicatedJobsStatus``, then a ``Failed`` condition and
``terminalState: Failed`` once a Job failed (the fake never restarts a JobSet: it behaves as
``failurePolicy.maxRestarts: 0``), or ``Completed`` once every Job completed.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airstep_testing.fake_apiserver import FakeKubeApiServer

CRD = Path(__file__).parent / "crds" / "jobset.x-k8s.io_v1alpha2.json"
API_VERSION = "jobset.x-k8s.io/v1alpha2"
_JOBSETS = r"/apis/jobset\.x-k8s\.io/v1alpha2(?:/namespaces/([^/]+))?/jobsets"
JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_NAME = "jobset.sigs.k8s.io/replicatedjob-name"
JOB_INDEX = "jobset.sigs.k8s.io/job-index"


def _strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever it lists an object's fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = _strict(json.loads(CRD.read_text())["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema)


def validate_jobset(obj: dict) -> None:
    """Raise ``jsonschema.ValidationError`` (the first error) if ``obj`` is no valid JobSet."""
    import jsonschema

    errors = sorted(_validator().iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        raise errors[0]
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != "JobSet":
        raise jsonschema.ValidationError(f"not a {API_VERSION} JobSet: {obj.get('kind')!r}")


def _ts() -> str:
    from airstep_testing.fake_apiserver import _ts as now

    return now()


class FakeJobSets:
    """The JobSet controller and the JobSet endpoints of one fake API server."""

    def __init__(self, api: FakeKubeApiServer) -> None:
        self.api = api
        self.jobsets: dict[tuple[str, str], dict] = {}
        #: (namespace, JobSet name) -> the names of its Jobs and of its Service
        self.children: dict[tuple[str, str], tuple[list[str], str | None]] = {}
        #: every JobSet ever created, deleted ones too
        self.created: list[dict] = []
        #: False: the JobSet API is not served (a cluster without the JobSet CRD)
        self.installed = True

    # ---- API (called with the server lock held) ---------------------------------------------
    def handle(self, method: str, path: str, query: dict, body) -> tuple[int, dict] | None:
        from airstep_testing.fake_apiserver import ApiError

        if not self.installed:
            return None
        if m := re.fullmatch(_JOBSETS, path):
            if method == "GET":
                items = [o for (ns, _), o in self.jobsets.items() if m[1] in (None, ns)]
                code, listed = self.api._list("JobSetList", items, query)
                return code, {**listed, "apiVersion": API_VERSION}
            if method == "POST" and m[1]:
                return self._create(m[1], body or {})
            raise ApiError(405, "MethodNotAllowed", f"{method} {path}")
        if m := re.fullmatch(_JOBSETS + r"/([^/]+)(/status)?", path):
            obj = self.jobsets.get((m[1], m[2]))
            if obj is None:
                raise ApiError(404, "NotFound", f'jobsets.jobset.x-k8s.io "{m[2]}" not found')
            if method == "GET":
                return 200, copy.deepcopy(obj)
            if method == "DELETE":
                policy = query.get("propagationPolicy") or (body or {}).get(
                    "propagationPolicy", "Background"
                )
                return self._delete(m[1], m[2], policy)
            raise ApiError(405, "MethodNotAllowed", f"{method} {path}")
        return None

    def _create(self, ns: str, body: dict) -> tuple[int, dict]:
        from airstep_testing.fake_apiserver import ApiError, _name_problems

        meta = body.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns:
            raise ApiError(400, "BadRequest", f"expected a JobSet in namespace {ns}")
        obj = copy.deepcopy(body)
        try:
            validate_jobset(obj)
        except Exception as e:
            where = ".".join(str(p) for p in getattr(e, "absolute_path", []))
            raise ApiError(
                422, "Invalid", f"JobSet is invalid: {where}: {getattr(e, 'message', e)}"
            ) from None
        if problems := _name_problems(meta, [{"name": "x"}]):
            raise ApiError(422, "Invalid", "JobSet is invalid: " + "; ".join(problems))
        if (ns, meta["name"]) in self.jobsets:
            raise ApiError(
                409, "AlreadyExists", f'jobsets.jobset.x-k8s.io "{meta["name"]}" already exists'
            )
        obj["metadata"].update(
            namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_ts(), generation=1
        )
        obj["status"] = {"restarts": 0}
        key = (ns, meta["name"])
        self.jobsets[key] = obj
        try:
            self._start(ns, obj)
        except ApiError as e:  # a Job the controller cannot create: refuse the JobSet
            self._delete(ns, meta["name"], "Background")
            raise ApiError(422, "Invalid", f"JobSet is invalid: its {e}") from None
        self.created.append(copy.deepcopy(obj))
        self.api._bump()
        return 201, copy.deepcopy(obj)

    def _delete(self, ns: str, name: str, policy: str) -> tuple[int, dict]:
        obj = self.jobsets.pop((ns, name))
        jobs, service = self.children.pop((ns, name), ([], None))
        if policy in ("Foreground", "Background"):
            for job in jobs:
                if (ns, job) in self.api.jobs.jobs:
                    self.api.jobs._delete("Job", ns, job, "Background")
            if service and (ns, service) in self.api.jobs.services:
                self.api.jobs._delete("Service", ns, service, "Background")
        self.api._bump()
        return 200, copy.deepcopy(obj)

    # ---- the JobSet controller ---------------------------------------------------------------
    def _start(self, ns: str, jobset: dict) -> None:
        name, uid, spec = jobset["metadata"]["name"], jobset["metadata"]["uid"], jobset["spec"]
        owner = {
            "apiVersion": API_VERSION,
            "kind": "JobSet",
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        network = spec.get("network") or {}
        subdomain = network.get("subdomain") or name
        dns = network.get("enableDNSHostnames", True)
        jobs: list[str] = []
        self.children[(ns, name)] = (jobs, subdomain if dns else None)
        if dns:
            service = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": subdomain, "namespace": ns, "ownerReferences": [owner]},
                "spec": {
                    "clusterIP": "None",
                    "publishNotReadyAddresses": network.get("publishNotReadyAddresses", True),
                    "selector": {JOBSET_NAME: name},
                },
            }
            self.api.jobs._create("Service", ns, service)
        for replicated in spec["replicatedJobs"]:
            for index in range(replicated.get("replicas", 1)):
                job_name = f"{name}-{replicated['name']}-{index}"
                labels = {
                    JOBSET_NAME: name,
                    REPLICATED_JOB_NAME: replicated["name"],
                    JOB_INDEX: str(index),
                }
                template = copy.deepcopy(replicated["template"])
                job_meta = template.get("metadata") or {}
                job = {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        **job_meta,
                        "name": job_name,
                        "namespace": ns,
                        "labels": {**(job_meta.get("labels") or {}), **labels},
                        "ownerReferences": [owner],
                    },
                    "spec": template["spec"],
                }
                pod = job["spec"]["template"]
                pod_meta = pod.setdefault("metadata", {})
                pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **labels}
                if dns:
                    pod["spec"]["subdomain"] = subdomain
                self.api.jobs._create("Job", ns, job)
                jobs.append(job_name)
        threading.Thread(target=self._watch, args=(ns, name, uid), daemon=True).start()

    def _watch(self, ns: str, name: str, uid: str) -> None:
        """Keep the JobSet's status until it completes or fails, or is deleted."""
        with self.api._cv:
            while not self.api._stopping:
                jobset = self.jobsets.get((ns, name))
                if jobset is None or jobset["metadata"]["uid"] != uid:
                    return
                if self._update(ns, jobset):
                    self.api._bump()
                    return
                self.api._cv.wait(0.5)

    def _update(self, ns: str, jobset: dict) -> bool:
        """Refresh the JobSet's status from its Jobs; True once it has finished."""
        names = self.children[(ns, jobset["metadata"]["name"])][0]
        jobs = [self.api.jobs.jobs.get((ns, n)) for n in names]
        ended = [
            {c["type"] for c in (j or {}).get("status", {}).get("conditions", [])} for j in jobs
        ]
        status = jobset["status"]
        counts: dict[str, dict[str, int]] = {}
        for job, kinds in zip(jobs, ended, strict=True):
            if job is None:
                continue
            replicated = job["metadata"]["labels"][REPLICATED_JOB_NAME]
            row = counts.setdefault(
                replicated, {"ready": 0, "succeeded": 0, "failed": 0, "active": 0, "suspended": 0}
            )
            if "Failed" in kinds:
                row["failed"] += 1
            elif "Complete" in kinds:
                row["succeeded"] += 1
            else:
                row["active"] += 1
                row["ready"] += 1
        rows = [{"name": n, **row} for n, row in sorted(counts.items())]
        if rows != status.get("replicatedJobsStatus"):
            status["replicatedJobsStatus"] = rows
            self.api._bump()
        now = _ts()
        if any("Failed" in kinds for kinds in ended) or None in jobs:
            failed = [n for n, kinds in zip(names, ended, strict=True) if "Failed" in kinds]
            status["terminalState"] = "Failed"
            status["conditions"] = [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "FailedJobs",
                    "message": f"jobset failed due to one or more job failures: {failed}",
                    "lastTransitionTime": now,
                }
            ]
            return True
        if ended and all("Complete" in kinds for kinds in ended):
            status["terminalState"] = "Completed"
            status["conditions"] = [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "AllJobsCompleted",
                    "message": "jobset completed successfully",
                    "lastTransitionTime": now,
                }
            ]
            return True
        return False
