"""A loopback fake Kubernetes API server whose pods really run, as local processes.

It serves the part of the core/v1 REST API that the ``kubernetes`` client and the provider's
KubernetesPodOperator (sync mode) use, over plain HTTP on 127.0.0.1, without auth.

A pod's main container (``base``, else the first one) runs ``command + args`` as a local
process group: no image, no isolation. ``substitutions`` maps argv[0]'s basename to a new
prefix: ``python``/``python3`` -> ``python=`` (default ``sys.executable``). Its environment is
``PATH``, ``HOME`` (the pod's sandbox dir), ``HOSTNAME``, ``PYTHONUNBUFFERED=1``, ``extra_env``,
then ``envFrom`` and ``env`` (``$(VAR)`` expanded; ``valueFrom`` fieldRef, secretKeyRef and
configMapKeyRef, like ``envFrom``, resolve from ``secrets`` / ``config_maps``, plain
``{name: {key: value}}`` dicts; what does not resolve is skipped). ``workingDir`` is used if it
exists on this host, else the sandbox dir. Other containers and init containers show as
terminated (exit 0) at once, with empty logs. Pod names are unique across namespaces. A pod
failing the name/label syntax checks or (``validate=True``, the default) strict
kubernetes-validate is rejected with 422 Invalid, as a real API server would.

Endpoints:
  GET    /version
  GET    /api/v1/namespaces/{ns}                  any namespace exists
  GET    /api/v1[/namespaces/{ns}]/pods           ?labelSelector= &fieldSelector=
  POST   /api/v1/namespaces/{ns}/pods             metadata.generateName, ?dryRun=All
  GET    /api/v1/namespaces/{ns}/pods/{name}[/status]
  PATCH  /api/v1/namespaces/{ns}/pods/{name}      merge / strategic-merge (as merge), metadata
  DELETE /api/v1/namespaces/{ns}/pods/{name}      ?gracePeriodSeconds or a DeleteOptions body:
         SIGTERM to the process group, SIGKILL after the grace period (else the pod's
         terminationGracePeriodSeconds, else 30); the pod is gone once its process is.
  GET    /api/v1/namespaces/{ns}/pods/{name}/log  ?container &follow (chunked, until the
         container ends) &timestamps ("2024-01-01T00:00:00.000000000Z line") &sinceSeconds
         &tailLines
  GET    /api/v1[/namespaces/{ns}]/events         ?fieldSelector=involvedObject.name=...

Pods go Pending (ContainerCreating, ``start_delay`` s) -> Running -> Succeeded | Failed, with
containerStatuses[].state.waiting | running | terminated{exitCode, reason, startedAt,
finishedAt} (a process killed by signal N exits 128+N). For tests: ``pods[name]`` (every pod
ever created, deleted ones too; ``spec`` as received), ``logs(name)``, ``pid(name)``,
``requests`` [(method, path, query)], ``wait_for(predicate)``, ``evict(name)`` (a node stops
the pod: it stays, Failed, with status.reason; e.g. a spot reclaim).

batch/v1 Jobs (Indexed ones too), core/v1 Services and a stand-in for cluster DNS between a
Job's pods: ``jobs`` (:class:`~airstep_testing.fake_jobs.FakeJobs`, described there) serves
``/apis/batch/v1[/namespaces/{ns}]/jobs[/{name}[/status]]`` (GET, POST, DELETE with
``propagationPolicy``) and ``/api/v1[/namespaces/{ns}]/services[/{name}]`` (GET, POST, DELETE).

JobSets (jobset.x-k8s.io/v1alpha2, validated against the CRD's schema): ``jobsets``
(:class:`~airstep_testing.fake_jobsets.FakeJobSets`, described there) serves
``/apis/jobset.x-k8s.io/v1alpha2[/namespaces/{ns}]/jobsets[/{name}[/status]]`` and runs each
JobSet's Jobs with ``jobs``.
Secrets: ``/api/v1/namespaces/{ns}/secrets[/{name}]`` (GET with ``?labelSelector=``, POST,
PATCH of ``metadata`` as a merge patch, DELETE) keep their data in ``secrets`` (what
``secretKeyRef`` / ``secretRef`` read) and their labels and ownerReferences in
``secret_meta``; ``secret_log`` lists ("created" | "deleted", name) in order.

Garbage collection, as the API server's collector does (background propagation): a Secret
with ownerReferences is deleted once none of its owners exists any more (a pod, Job,
Service or JobSet, matched by uid; a pod that is terminating still exists until its
process has ended). ``collected`` lists the Secrets it deleted.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import re
import secrets as _secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from airstep_testing.fake_jobs import FakeJobs
from airstep_testing.fake_jobsets import FakeJobSets

K8S_VERSION = "1.33"
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?"


def validate_pod(pod: dict, version: str = K8S_VERSION) -> None:
    """Strictly validate a Pod manifest, or a bare pod ``spec``; raise on any invalid field."""
    import kubernetes_validate

    if "kind" not in pod:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": pod}
    kubernetes_validate.validate(pod, version, strict=True)


def _name_problems(meta: dict, containers: list[dict]) -> list[str]:
    """The API server's own checks, which the JSON schema cannot express."""
    name, out = meta.get("name") or "", []
    if not re.fullmatch(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*", name) or len(name) > 253:
        out.append(f"metadata.name: Invalid value: {name!r}: not a lowercase RFC 1123 subdomain")
    for key, value in (meta.get("labels") or {}).items():
        prefix, _, short = key.rpartition("/")
        if not short or not re.fullmatch(_LABEL_VALUE, short) or len(prefix) > 253:
            out.append(f"metadata.labels: Invalid value: {key!r}: invalid label key")
        if not isinstance(value, str) or not re.fullmatch(_LABEL_VALUE, value):
            out.append(f"metadata.labels: Invalid value: {value!r}: not <= 63 of [-A-Za-z0-9_.]")
    for c in containers:
        if not re.fullmatch(_DNS_LABEL, c.get("name") or ""):
            out.append(f"spec.containers.name: Invalid value: {c.get('name')!r}: not a DNS label")
    return out + ([] if containers else ["spec.containers: Required value"])


def _expand(s: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in command, args and env values; ``$$`` escapes."""
    pattern = r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)"
    return re.sub(pattern, lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), s)


def _selector_matches(selector: str | None, lookup) -> bool:
    """Label/field selector terms ``k=v k==v k!=v k !k k in (a,b) k notin (a,b)``."""
    for term in (t.strip() for t in re.findall(r"(?:[^,(]|\([^)]*\))+", selector or "")):
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", term):
            if (lookup(m[1]) in {v.strip() for v in m[3].split(",")}) != (m[2] == "in"):
                return False
        elif m := re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*(.*)", term):
            if (lookup(m[1]) == m[3].strip()) != (m[2] != "!="):
                return False
        elif term and (lookup(term.lstrip("!").strip()) is None) != term.startswith("!"):
            return False
    return True


def _field(obj, path: str) -> str | None:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return None if obj is None else str(obj)


def _merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    target = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = _merge_patch(target.get(k), v)
    return target


def _ts() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }


class _Pod:
    """Runtime record of one pod: its API object, process and log lines."""

    def __init__(self, obj: dict, main: str):
        self.obj, self.main = obj, main
        self.ns, self.name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        self.proc: subprocess.Popen | None = None
        self.lines: list[tuple[dt.datetime, bytes]] = []
        self.state, self.exit_code, self.reason, self.message = "waiting", None, None, None
        self.started = self.finished = None
        self.live, self.deleting, self.evicted = True, False, None


class FakeKubeApiServer:
    def __init__(
        self,
        *,
        python: str = sys.executable,
        workdir: str | os.PathLike | None = None,
        start_delay: float = 0.0,
        validate: bool = True,
        version: str = K8S_VERSION,
        extra_env: dict | None = None,
        secrets: dict | None = None,
        config_maps: dict | None = None,
    ):
        self.python, self.start_delay, self.validate = python, start_delay, validate
        self.version = version
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="fake-k8s-"))
        self.extra_env = dict(extra_env or {})
        self.secrets, self.config_maps = dict(secrets or {}), dict(config_maps or {})
        self.secret_log: list[tuple[str, str]] = []
        self.secret_meta: dict[str, dict] = {}
        self.collected: list[str] = []
        self.substitutions: dict[str, list[str]] = {"python": [python], "python3": [python]}
        self.records: dict[str, _Pod] = {}
        self.events: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.kubeconfig: str | None = None
        self._cv = threading.Condition()  # guards all state; notified on every change
        self._rv, self._stopping, self._httpd = 0, False, None
        self.jobs = FakeJobs(self)
        self.jobsets = FakeJobSets(self)

    # ---- lifecycle and test helpers ---------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeKubeApiServer:
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        serve = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        serve.start()
        return self

    def stop(self) -> None:
        """Stop serving, end log streams and SIGKILL every pod process still running."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
        for rec in list(self.records.values()):
            if rec.proc and (rec.proc.poll() is None or rec.state != "terminated"):
                self._signal(rec, signal.SIGKILL)
                rec.proc.wait(5)

    def write_kubeconfig(self, path: str | os.PathLike, namespace: str = "default") -> str:
        context = {"cluster": "fake", "user": "fake", "namespace": namespace}
        Path(path).write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "preferences": {},
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {}}],
                    "contexts": [{"name": "fake", "context": context}],
                }
            )
        )
        self.kubeconfig = str(path)
        return self.kubeconfig

    @property
    def pods(self) -> dict[str, dict]:
        return {name: rec.obj for name, rec in self.records.items()}

    def logs(self, name: str) -> str:
        with self._cv:
            lines = self.records[name].lines
            return "".join(line.decode(errors="replace") + "\n" for _, line in lines)

    def pid(self, name: str) -> int | None:
        return self.records[name].proc.pid if self.records[name].proc else None

    def wait_for(self, predicate, timeout: float = 10.0):
        """Poll ``predicate()`` under the server lock until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while not (result := predicate()):
                if time.monotonic() > deadline:
                    raise TimeoutError("condition not reached")
                self._cv.wait(0.05)
            return result

    def evict(
        self,
        name: str,
        reason: str = "Evicted",
        message: str = "Evicted by the test.",
        grace: float | None = None,
    ) -> None:
        """Stop a pod the way a node does (eviction, spot reclaim): it stays, Failed."""
        with self._cv:
            rec = self.records[name]
            rec.evicted = (reason, message)
            if rec.state == "running":
                self._kill(rec, grace)
            elif rec.state == "waiting":
                self._terminated(rec, 137, "ContainerStatusUnknown", message)

    # ---- pods (call with self._cv held) ------------------------------------------------------
    def _bump(self, rec: _Pod | None = None) -> str:
        self._rv += 1
        if rec:
            rec.obj["metadata"]["resourceVersion"] = str(self._rv)
            rec.obj["status"] = self._status(rec)
        self._collect_garbage()
        self._cv.notify_all()
        return str(self._rv)

    def _collect_garbage(self) -> None:
        """Delete every Secret whose owners are all gone (called on every change)."""
        owned = [
            (n, m["ownerReferences"])
            for n, m in self.secret_meta.items()
            if m.get("ownerReferences")
        ]
        if not owned:
            return
        live = {r.obj["metadata"]["uid"] for r in self.records.values() if r.live}
        for store in (self.jobs.jobs, self.jobs.services, self.jobsets.jobsets):
            live.update(o["metadata"]["uid"] for o in store.values())
        for name, owners in owned:
            if not any(o.get("uid") in live for o in owners):
                self._delete_secret(name)
                self.collected.append(name)

    def _event(self, rec: _Pod, reason: str, message: str, type_="Normal", container=True):
        now, involved = (
            _ts(),
            {
                "kind": "Pod",
                "apiVersion": "v1",
                "namespace": rec.ns,
                "name": rec.name,
                "uid": rec.obj["metadata"]["uid"],
            },
        )
        if container:
            involved["fieldPath"] = f"spec.containers{{{rec.main}}}"
        self.events.append(
            {
                "kind": "Event",
                "apiVersion": "v1",
                "type": type_,
                "reason": reason,
                "message": message,
                "involvedObject": involved,
                "count": 1,
                "metadata": {
                    "name": f"{rec.name}.{uuid.uuid4().hex[:16]}",
                    "namespace": rec.ns,
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": self._bump(),
                    "creationTimestamp": now,
                },
                "source": {"component": "kubelet", "host": "fake-node"},
                "firstTimestamp": now,
                "lastTimestamp": now,
                "reportingComponent": "kubelet",
            }
        )

    def _status(self, rec: _Pod) -> dict:
        created, spec = rec.obj["metadata"]["creationTimestamp"], rec.obj["spec"]

        def container_status(c: dict, main: bool) -> dict:
            state = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": created,
                    "finishedAt": created,
                }
            }
            if main and rec.state == "waiting":
                state = {"waiting": {"reason": "ContainerCreating"}}
            elif main and rec.state == "running":
                state = {"running": {"startedAt": rec.started}}
            elif main:
                state = {
                    "terminated": {
                        "exitCode": rec.exit_code,
                        "reason": rec.reason,
                        "startedAt": rec.started,
                        "finishedAt": rec.finished,
                        "containerID": f"fake://{rec.name}",
                        **({"message": rec.message} if rec.message else {}),
                    }
                }
            image = c.get("image", "")
            return {
                "name": c["name"],
                "image": image,
                "imageID": f"fake://{image}",
                "containerID": f"fake://{rec.name}/{c['name']}",
                "restartCount": 0,
                "lastState": {},
                "ready": "running" in state,
                "started": "running" in state,
                "state": state,
            }

        ready = str(rec.state == "running")
        conditions = (
            ("PodScheduled", "True"),
            ("Initialized", "True"),
            ("ContainersReady", ready),
            ("Ready", ready),
        )
        status = {
            "phase": {"waiting": "Pending", "running": "Running"}.get(
                rec.state, "Succeeded" if rec.exit_code == 0 and not rec.evicted else "Failed"
            ),
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": created,
            "qosClass": "BestEffort",
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": created} for t, s in conditions
            ],
            "containerStatuses": [
                container_status(c, c["name"] == rec.main) for c in spec["containers"]
            ],
        }
        if spec.get("initContainers"):
            status["initContainerStatuses"] = [
                container_status(c, False) for c in spec["initContainers"]
            ]
        if rec.evicted:
            status["reason"], status["message"] = rec.evicted
        return status

    def _env(self, rec: _Pod, c: dict, home: str) -> dict[str, str]:
        meta = rec.obj["metadata"]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": home,
            "HOSTNAME": rec.name,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        for src in c.get("envFrom") or []:
            store = self.secrets if "secretRef" in src else self.config_maps
            ref = src.get("secretRef") or src.get("configMapRef") or {}
            for k, v in store.get(ref.get("name"), {}).items():
                env[src.get("prefix", "") + k] = v
        fields = {
            "metadata.name": rec.name,
            "metadata.namespace": rec.ns,
            "metadata.uid": meta["uid"],
            "spec.nodeName": "fake-node",
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
            "spec.serviceAccountName": rec.obj["spec"].get("serviceAccountName", "default"),
        }
        for item in c.get("env") or []:
            vf, value = item.get("valueFrom"), None
            if not vf:
                value = _expand(item.get("value") or "", env)
            elif ref := vf.get("fieldRef"):
                m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", ref["fieldPath"])
                value = (meta.get(m[1]) or {}).get(m[2]) if m else fields.get(ref["fieldPath"])
            refs = (("secretKeyRef", self.secrets), ("configMapKeyRef", self.config_maps))
            for key, store in refs:
                if ref := (vf or {}).get(key):
                    value = store.get(ref.get("name"), {}).get(ref.get("key"))
            if value is not None:
                env[item["name"]] = str(value)
        return env

    def _run(self, rec: _Pod) -> None:
        """Start the main container's process, collect its output, record how it ended."""
        time.sleep(self.start_delay)
        with self._cv:
            if not rec.live or rec.state != "waiting" or self._stopping:
                return
            c = next(c for c in rec.obj["spec"]["containers"] if c["name"] == rec.main)
            sandbox = self.workdir / rec.ns / rec.name
            sandbox.mkdir(parents=True, exist_ok=True)
            env = self._env(rec, c, str(sandbox))
            argv = [_expand(a, env) for a in (c.get("command") or []) + (c.get("args") or [])]
            argv = self.jobs.resolve(rec.ns, argv)
            if argv and os.path.basename(argv[0]) in self.substitutions:
                argv = self.substitutions[os.path.basename(argv[0])] + argv[1:]
            cwd = c.get("workingDir") if os.path.isdir(c.get("workingDir") or "") else sandbox
            try:
                if not argv:
                    raise ValueError("no command: the fake server knows no image entrypoints")
                rec.proc = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except (OSError, ValueError) as e:
                self._event(rec, "Failed", f"Error: {e}", "Warning")
                return self._terminated(rec, 128, "StartError", str(e))
            rec.state, rec.started = "running", _ts()
            image = c.get("image")
            self._event(rec, "Pulled", f'Container image "{image}" already present on machine')
            self._event(rec, "Created", f"Created container {rec.main}")
            self._event(rec, "Started", f"Started container {rec.main}")
            self._bump(rec)
        for line in iter(rec.proc.stdout.readline, b""):
            with self._cv:
                rec.lines.append((dt.datetime.now(dt.UTC), line.rstrip(b"\n")))
                self._cv.notify_all()
        code = rec.proc.wait()
        rec.proc.stdout.close()
        with self._cv:
            code, message = (128 - code if code < 0 else code), None
            if code and c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
                tail = b"\n".join(line for _, line in rec.lines[-80:])[-2048:]
                message = tail.decode(errors="replace")
            self._terminated(rec, code, "Completed" if code == 0 else "Error", message)

    def _terminated(self, rec: _Pod, code: int, reason: str, message: str | None = None):
        rec.state, rec.exit_code, rec.reason, rec.message = "terminated", code, reason, message
        rec.started, rec.finished = rec.started or _ts(), _ts()
        rec.live = rec.live and not rec.deleting
        self._bump(rec)

    def _signal(self, rec: _Pod, sig: int) -> None:
        try:
            os.killpg(rec.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _kill(self, rec: _Pod, grace: float | None) -> None:
        """SIGTERM the pod's process group, SIGKILL it after ``grace`` s if still there."""
        if grace is None:
            grace = rec.obj["spec"].get("terminationGracePeriodSeconds", 30)
        self._event(rec, "Killing", f"Stopping container {rec.main}")
        self._signal(rec, signal.SIGKILL if grace <= 0 else signal.SIGTERM)

        def force():
            with self._cv:
                if rec.state != "terminated":  # the leader or a child still holds the pipe
                    self._signal(rec, signal.SIGKILL)

        timer = threading.Timer(max(grace, 0), force)
        timer.daemon = True
        timer.start()

    # ---- API -----------------------------------------------------------------------------------
    def _live(self, ns: str, name: str) -> _Pod:
        rec = self.records.get(name)
        if not rec or not rec.live or rec.ns != ns:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        return rec

    def create_pod(self, ns: str, body: dict, query: dict) -> tuple[int, dict]:
        meta = body.setdefault("metadata", {})
        if body.get("kind", "Pod") != "Pod" or meta.get("namespace", ns) != ns:
            raise ApiError(400, "BadRequest", "expected a Pod in namespace " + ns)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + _secrets.token_hex(3)[:5]
        if self.validate:
            try:
                validate_pod({"apiVersion": "v1", "kind": "Pod", **body}, self.version)
            except Exception as e:
                where = ".".join(str(p) for p in getattr(e, "absolute_path", []))
                message = f"Pod is invalid: {where}: {getattr(e, 'message', e)}"
                raise ApiError(422, "Invalid", message) from None
        if problems := _name_problems(meta, (body.get("spec") or {}).get("containers") or []):
            raise ApiError(422, "Invalid", "Pod is invalid: " + "; ".join(problems))
        obj = {"kind": "Pod", "apiVersion": "v1", **copy.deepcopy(body)}
        obj["metadata"].update(
            namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_ts(), generation=1
        )
        obj["metadata"].setdefault("labels", {})
        names = [c["name"] for c in obj["spec"]["containers"]]
        rec = _Pod(obj, "base" if "base" in names else names[0])
        with self._cv:
            if rec.name in self.records and self.records[rec.name].live:
                raise ApiError(409, "AlreadyExists", f'pods "{rec.name}" already exists')
            if query.get("dryRun") == "All":
                return 201, obj
            self.records[rec.name] = rec
            self._bump(rec)
            self._event(
                rec,
                "Scheduled",
                f"Successfully assigned {ns}/{rec.name} to fake-node",
                container=False,
            )
            threading.Thread(target=self._run, args=(rec,), daemon=True).start()
            return 201, copy.deepcopy(obj)

    def delete_pod(self, ns: str, name: str, grace: float | None = None) -> tuple[int, dict]:
        with self._cv:
            rec = self._live(ns, name)
            if not rec.deleting:
                rec.deleting = True
                period = rec.obj["spec"].get("terminationGracePeriodSeconds", 30)
                rec.obj["metadata"].update(
                    deletionTimestamp=_ts(),
                    deletionGracePeriodSeconds=int(period if grace is None else grace),
                )
                if rec.state == "running":
                    self._kill(rec, grace)
                else:
                    rec.live = False
            self._bump(rec)
            return 200, copy.deepcopy(rec.obj)

    def _list(self, kind: str, items: list[dict], query: dict) -> tuple[int, dict]:
        items = [
            i
            for i in items
            if _selector_matches(query.get("fieldSelector"), lambda k, i=i: _field(i, k))
            and _selector_matches(
                query.get("labelSelector"), (i["metadata"].get("labels") or {}).get
            )
        ]
        return 200, {
            "kind": kind,
            "apiVersion": "v1",
            "items": copy.deepcopy(items),
            "metadata": {"resourceVersion": str(self._rv)},
        }

    def _secret(
        self, method: str, ns: str, name: str | None, query: dict, body
    ) -> tuple[int, dict]:
        def obj(secret_name: str) -> dict:
            data = {
                k: base64.b64encode(v.encode()).decode()
                for k, v in self.secrets[secret_name].items()
            }
            meta = {"name": secret_name, "namespace": ns, "labels": {}}
            meta.update(copy.deepcopy(self.secret_meta.get(secret_name, {})))
            return {"kind": "Secret", "apiVersion": "v1", "metadata": meta, "data": data}

        if method == "GET" and name is None:
            return self._list("SecretList", [obj(n) for n in self.secrets], query)
        if method == "POST" and name is None:
            name = body["metadata"]["name"]
            if name in self.secrets:
                raise ApiError(409, "AlreadyExists", f'secrets "{name}" already exists')
            data = {k: base64.b64decode(v).decode() for k, v in (body.get("data") or {}).items()}
            data.update(body.get("stringData") or {})
            self.secrets[name] = data
            given = body["metadata"]
            self.secret_meta[name] = {
                "uid": str(uuid.uuid4()),
                "creationTimestamp": _ts(),
                **{k: copy.deepcopy(given[k]) for k in ("labels", "ownerReferences") if k in given},
            }
            self.secret_log.append(("created", name))
            found = obj(name)
            self._bump()  # an owner that is gone already: collected at once
            return 201, found
        if name is None or name not in self.secrets:
            raise ApiError(404, "NotFound", f'secrets "{name}" not found')
        if method == "GET":
            return 200, obj(name)
        if method == "PATCH" and isinstance(body, dict):
            patch = {k: v for k, v in (body.get("metadata") or {}).items()
                     if k in ("labels", "ownerReferences", "annotations")}  # fmt: skip
            self.secret_meta[name] = _merge_patch(self.secret_meta.get(name, {}), patch)
            found = obj(name)
            self._bump()
            return 200, found
        if method == "DELETE":
            found = obj(name)
            self._delete_secret(name)
            return 200, found
        raise ApiError(405, "MethodNotAllowed", f"the fake does not support {method} on secrets")

    def _delete_secret(self, name: str) -> None:
        del self.secrets[name]
        self.secret_meta.pop(name, None)
        self.secret_log.append(("deleted", name))

    def handle(self, method: str, path: str, query: dict, body) -> tuple[int, dict] | _Pod:
        """Serve one request: (status code, JSON object), or the pod whose log is asked for."""
        if method == "GET" and path == "/version":
            major, minor = self.version.split(".")[:2]
            return 200, {
                "major": major,
                "minor": minor,
                "gitVersion": f"v{major}.{minor}.0-fake",
                "gitCommit": "fake",
                "gitTreeState": "clean",
                "goVersion": "go1.24",
                "buildDate": "2025-01-01T00:00:00Z",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if method == "GET" and (m := re.fullmatch(r"/api/v1/namespaces/([^/]+)", path)):
            meta = {
                "name": m[1],
                "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, m[1])),
                "labels": {"kubernetes.io/metadata.name": m[1]},
                "resourceVersion": "1",
                "creationTimestamp": "2025-01-01T00:00:00Z",
            }
            return 200, {
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": meta,
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
        pods, listing = r"/api/v1/namespaces/([^/]+)/pods", r"/api/v1(?:/namespaces/([^/]+))?/"
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?", path):
            with self._cv:
                return self._secret(method, m[1], m[2], query, body)
        with self._cv:
            if (served := self.jobs.handle(method, path, query, body)) is not None:
                return served
            if (served := self.jobsets.handle(method, path, query, body)) is not None:
                return served
            if method == "GET" and (m := re.fullmatch(listing + "pods", path)):
                return self._list(
                    "PodList",
                    [r.obj for r in self.records.values() if r.live and m[1] in (None, r.ns)],
                    query,
                )
            if method == "GET" and (m := re.fullmatch(listing + "events", path)):
                events = [e for e in self.events if m[1] in (None, e["metadata"]["namespace"])]
                return self._list("EventList", events, query)
            if method == "POST" and (m := re.fullmatch(pods, path)):
                return self.create_pod(m[1], body or {}, query)
            if not (m := re.fullmatch(pods + r"/([^/]+)(/status|/log)?", path)):
                raise ApiError(404, "NotFound", f"the server could not find the resource {path}")
            rec = self._live(m[1], m[2])
            if method == "GET":
                return rec if m[3] == "/log" else (200, copy.deepcopy(rec.obj))
            if method == "PATCH" and isinstance(body, dict):
                rec.obj["metadata"] = _merge_patch(rec.obj, body)["metadata"]
                self._bump(rec)
                return 200, copy.deepcopy(rec.obj)
            if method == "DELETE":
                grace = query.get("gracePeriodSeconds", (body or {}).get("gracePeriodSeconds"))
                return self.delete_pod(m[1], m[2], None if grace is None else float(grace))
        raise ApiError(405, "MethodNotAllowed", f"the fake does not support this {method} {path}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeKubeApiServer

    def log_message(self, *args) -> None:
        pass

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.api.requests.append((self.command, url.path, query))
        try:
            body = json.loads(raw) if raw else None
            result = self.api.handle(self.command, url.path.rstrip("/"), query, body)
            if isinstance(result, _Pod):
                self._logs(result, query)
            else:
                self._send(*result)
        except ApiError as e:
            self._send(e.body["code"], e.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # a bug in the fake: a 500 the client shows
            self._send(500, ApiError(500, "InternalError", f"{type(e).__name__}: {e}").body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _send(self, code: int, obj: dict | bytes, content_type="application/json") -> None:
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _logs(self, rec: _Pod, query: dict) -> None:
        api, spec = self.api, rec.obj["spec"]
        containers = [c["name"] for c in spec["containers"] + spec.get("initContainers", [])]
        name = query.get("container") or (containers[0] if len(containers) == 1 else None)
        if name not in containers:
            raise ApiError(400, "BadRequest", f"container {name} is not valid for pod {rec.name}")
        if name == rec.main and rec.state == "waiting":
            raise ApiError(
                400,
                "BadRequest",
                f'container "{name}" in pod "{rec.name}" is waiting to start: ContainerCreating',
            )
        stamp = query.get("timestamps") in ("true", "True", "1")

        def fmt(batch) -> bytes:
            return b"".join(
                (t.strftime("%Y-%m-%dT%H:%M:%S.%f000Z ").encode() if stamp else b"") + line + b"\n"
                for t, line in batch
            )

        with api._cv:
            lines = list(rec.lines) if name == rec.main else []
            sent = len(lines)
        if query.get("sinceSeconds"):
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=int(query["sinceSeconds"]))
            lines = [x for x in lines if x[0] >= cutoff]
        if query.get("tailLines"):
            lines = lines[len(lines) - min(len(lines), int(query["tailLines"])) :]
        if query.get("follow") not in ("true", "True", "1") or name != rec.main:
            return self._send(200, fmt(lines), "text/plain")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:  # a chunk per batch of new lines, until the container has ended
            if lines:
                data = fmt(lines)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            with api._cv:
                api._cv.wait_for(
                    lambda n=sent: len(rec.lines) > n or rec.state == "terminated" or api._stopping,
                    1.0,
                )
                lines, sent = rec.lines[sent:], len(rec.lines)
                done = rec.state == "terminated" or api._stopping
            if done and not lines:
                break
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
