"""batch/v1 Jobs and core/v1 Services for the fake API server (fake_apiserver.py).

A Job's pods are the fake server's own pods: one per completion, all at once (the fake needs
``parallelism >= completions``). An Indexed Job's pod ``i`` is named ``<job>-<i>-<random>``,
gets the hostname ``<job>-<i>`` (unless its template sets one), the labels and annotation
``batch.kubernetes.io/job-completion-index`` and ``JOB_COMPLETION_INDEX=i`` in every container,
as the Job controller does. Failed pods are not replaced: the Job fails (``Failed`` condition,
reason ``BackoffLimitExceeded``, or ``PodFailurePolicy`` when a ``FailJob`` rule matched the
exit code) once more pods failed than ``backoffLimit`` (default 6) or a ``FailJob`` rule
matched, and its pods still running are then stopped; it completes (``Complete``) once
``completions`` pods succeeded. Deleting a Job with ``propagationPolicy`` Foreground or
Background deletes its pods (the Job is gone at once either way); the API's default for Jobs,
Orphan, leaves them running.

Services are stored, listed and deleted; nothing routes to them, except this stand-in for
cluster DNS: an item of a pod's command or args that is a pod's DNS name,
``<hostname>.<subdomain>[.<namespace>[.svc[.cluster.local]]]``, or such a name as an option's
value in one item (``--main-addr=<name>``), becomes ``127.0.0.1`` (every pod runs on this
host) when, in the pod's namespace, a live pod has that hostname and subdomain and a headless
Service (``clusterIP: None``) is named as the subdomain. Any other name stays as it is, and
does not resolve. The pod's spec keeps the name as it was sent.

Every Job and Service is validated strictly with kubernetes-validate, like pods.
"""

from __future__ import annotations

import copy
import re
import secrets as _secrets
import threading
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airstep_testing.fake_apiserver import FakeKubeApiServer

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
_JOBS = r"/apis/batch/v1(?:/namespaces/([^/]+))?/jobs"
_SERVICES = r"/api/v1(?:/namespaces/([^/]+))?/services"


def _ts() -> str:
    from airstep_testing.fake_apiserver import _ts as now

    return now()


class FakeJobs:
    """The Job controller and the Job and Service endpoints of one fake API server."""

    def __init__(self, api: FakeKubeApiServer) -> None:
        self.api = api
        self.jobs: dict[tuple[str, str], dict] = {}
        self.services: dict[tuple[str, str], dict] = {}
        self.job_pods: dict[tuple[str, str], list[str]] = {}
        #: every Job and Service ever created, deleted ones too, by name
        self.created: list[dict] = []

    # ---- test helpers ------------------------------------------------------------------------
    def live_objects(self) -> list[str]:
        """``kind/name`` of every JobSet, Job, Service and pod that still exists (call under
        no lock)."""
        with self.api._cv:
            return (
                [f"JobSet/{n}" for _, n in self.api.jobsets.jobsets]
                + [f"Job/{n}" for _, n in self.jobs]
                + [f"Service/{n}" for _, n in self.services]
                + [f"Pod/{n}" for n, r in self.api.records.items() if r.live]
            )

    # ---- DNS ---------------------------------------------------------------------------------
    def resolve(self, ns: str, argv: list[str]) -> list[str]:
        """``argv`` with every resolvable pod DNS name replaced by 127.0.0.1 (under the lock),
        an item's own (``name``) or an option's value (``--option=name``)."""
        return [self._resolve_item(ns, item) for item in argv]

    def _resolve_item(self, ns: str, item: str) -> str:
        if self._resolves(ns, item):
            return "127.0.0.1"
        option, equals, value = item.partition("=")
        if option.startswith("--") and equals and self._resolves(ns, value):
            return f"{option}=127.0.0.1"
        return item

    def _resolves(self, ns: str, name: str) -> bool:
        suffix = rf"(?:\.{re.escape(ns)}(?:\.svc(?:\.cluster\.local)?)?)?"
        m = re.fullmatch(rf"([a-z0-9-]+)\.([a-z0-9-]+){suffix}", name)
        if not m:
            return False
        service = self.services.get((ns, m[2]))
        if not service or service["spec"].get("clusterIP") != "None":
            return False
        return any(
            r.live
            and r.ns == ns
            and r.obj["spec"].get("hostname") == m[1]
            and r.obj["spec"].get("subdomain") == m[2]
            for r in self.api.records.values()
        )

    # ---- API (called with the server lock held) ---------------------------------------------
    def handle(self, method: str, path: str, query: dict, body) -> tuple[int, dict] | None:
        from airstep_testing.fake_apiserver import ApiError

        for pattern, kind, store in (
            (_JOBS, "Job", self.jobs),
            (_SERVICES, "Service", self.services),
        ):
            if m := re.fullmatch(pattern, path):
                if method == "GET":
                    items = [o for (ns, _), o in store.items() if m[1] in (None, ns)]
                    return self.api._list(f"{kind}List", items, query)
                if method == "POST" and m[1]:
                    return self._create(kind, m[1], body or {})
                raise ApiError(405, "MethodNotAllowed", f"{method} {path}")
            if m := re.fullmatch(pattern + r"/([^/]+)(/status)?", path):
                obj = store.get((m[1], m[2]))
                if obj is None:
                    raise ApiError(404, "NotFound", f'{kind.lower()}s "{m[2]}" not found')
                if method == "GET":
                    return 200, copy.deepcopy(obj)
                if method == "DELETE":
                    policy = query.get("propagationPolicy") or (body or {}).get(
                        "propagationPolicy", "Orphan"
                    )
                    return self._delete(kind, m[1], m[2], policy)
                raise ApiError(405, "MethodNotAllowed", f"{method} {path}")
        return None

    def _create(self, kind: str, ns: str, body: dict) -> tuple[int, dict]:
        import kubernetes_validate

        from airstep_testing.fake_apiserver import ApiError, _name_problems

        meta = body.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns or body.get("kind", kind) != kind:
            raise ApiError(400, "BadRequest", f"expected a {kind} in namespace {ns}")
        version = "batch/v1" if kind == "Job" else "v1"
        obj = {"apiVersion": version, "kind": kind, **copy.deepcopy(body)}
        try:
            kubernetes_validate.validate(obj, self.api.version, strict=True)
        except Exception as e:
            where = ".".join(str(p) for p in getattr(e, "absolute_path", []))
            raise ApiError(
                422, "Invalid", f"{kind} is invalid: {where}: {getattr(e, 'message', e)}"
            ) from None
        containers = [{"name": "x"}] if kind == "Service" else obj["spec"]["template"]["spec"]
        if kind == "Job":
            containers = containers.get("containers") or []
        if problems := _name_problems(meta, containers):
            raise ApiError(422, "Invalid", f"{kind} is invalid: " + "; ".join(problems))
        store = self.jobs if kind == "Job" else self.services
        if (ns, meta["name"]) in store:
            raise ApiError(409, "AlreadyExists", f'{kind.lower()}s "{meta["name"]}" already exists')
        obj["metadata"].update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_ts())
        store[(ns, meta["name"])] = obj
        self.created.append(copy.deepcopy(obj))
        if kind == "Job":
            self._start_job(ns, obj)
        self.api._bump()
        return 201, copy.deepcopy(obj)

    def _delete(self, kind: str, ns: str, name: str, policy: str) -> tuple[int, dict]:
        store = self.jobs if kind == "Job" else self.services
        obj = store.pop((ns, name))
        if kind == "Job" and policy in ("Foreground", "Background"):
            for pod in self.job_pods.pop((ns, name), []):
                rec = self.api.records[pod]
                if rec.live and not rec.deleting:
                    self.api.delete_pod(ns, pod)
        self.api._bump()
        return 200, copy.deepcopy(obj)

    # ---- the Job controller ------------------------------------------------------------------
    def _start_job(self, ns: str, job: dict) -> None:
        from airstep_testing.fake_apiserver import ApiError

        spec, name = job["spec"], job["metadata"]["name"]
        completions = spec.get("completions") or 1
        if spec.get("parallelism", 1) < completions:
            raise ApiError(422, "Invalid", "the fake runs Jobs with parallelism >= completions")
        indexed = spec.get("completionMode") == "Indexed"
        uid = job["metadata"]["uid"]
        pods = []
        for i in range(completions):
            pod = copy.deepcopy(spec["template"])
            meta = pod.setdefault("metadata", {})
            labels = meta.setdefault("labels", {})
            labels.update({"job-name": name, "batch.kubernetes.io/job-name": name})
            labels.update({"controller-uid": uid, "batch.kubernetes.io/controller-uid": uid})
            meta["name"] = f"{name}-{i}-{_secrets.token_hex(3)[:5]}" if indexed else None
            meta["name"] = meta["name"] or f"{name}-{_secrets.token_hex(3)[:5]}"
            meta["ownerReferences"] = [
                {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}
            ]
            if indexed:
                labels[INDEX_KEY] = str(i)
                meta.setdefault("annotations", {})[INDEX_KEY] = str(i)
                pod["spec"].setdefault("hostname", f"{name}-{i}")
                for c in pod["spec"]["containers"]:
                    c.setdefault("env", []).append(
                        {"name": "JOB_COMPLETION_INDEX", "value": str(i)}
                    )
            _, created = self.api.create_pod(ns, pod, {})
            pods.append(created["metadata"]["name"])
        self.job_pods[(ns, name)] = pods
        job["status"] = {"active": completions, "startTime": _ts()}
        threading.Thread(target=self._watch, args=(ns, name, uid), daemon=True).start()

    def _watch(self, ns: str, name: str, uid: str) -> None:
        """Keep the Job's status until it completes or fails, or is deleted."""
        with self.api._cv:
            while not self.api._stopping:
                job = self.jobs.get((ns, name))
                if job is None or job["metadata"]["uid"] != uid:
                    return
                if self._update(job, self.job_pods.get((ns, name), [])):
                    self.api._bump()
                    return
                self.api._cv.wait(0.5)

    def _update(self, job: dict, pods: list[str]) -> bool:
        """Refresh ``job``'s status from its pods; True once it has finished."""
        spec, recs = job["spec"], [self.api.records[p] for p in pods]
        ended = [r for r in recs if r.state == "terminated"]
        failed = [r for r in ended if r.exit_code != 0 or r.evicted]
        succeeded = len(ended) - len(failed)
        status = job["status"]
        old = (status.get("active"), status.get("failed"), status.get("succeeded"))
        status.update(active=len(recs) - len(ended), failed=len(failed), succeeded=succeeded)
        if old != (status["active"], status["failed"], status["succeeded"]):
            self.api._bump()
        reason = None
        if any(self._fails_job(spec, r.exit_code) for r in failed):
            reason = "PodFailurePolicy"
        elif len(failed) > spec.get("backoffLimit", 6):
            reason = "BackoffLimitExceeded"
        if reason:
            for r in recs:
                if r.live and not r.deleting and r.state == "running":
                    self.api._kill(r, None)
            message = f"Job has {len(failed)} failed pod(s): {reason}"
            status["conditions"] = [self._condition("Failed", reason, message)]
            return True
        if succeeded >= (spec.get("completions") or 1):
            status["completionTime"] = _ts()
            status["conditions"] = [self._condition("Complete", "CompletionsReached", "")]
            return True
        return False

    @staticmethod
    def _fails_job(spec: dict, code: int | None) -> bool:
        for rule in (spec.get("podFailurePolicy") or {}).get("rules", []):
            codes = rule.get("onExitCodes")
            if rule.get("action") != "FailJob" or not codes:
                continue
            inside = code in codes["values"]
            if inside == (codes["operator"] == "In"):
                return True
        return False

    @staticmethod
    def _condition(kind: str, reason: str, message: str) -> dict:
        now = _ts()
        return {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
