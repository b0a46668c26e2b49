"""A real S3 / AWS Batch peer for tests: moto's server on 127.0.0.1, jobs run locally.

Fixtures
--------
``moto_server`` (session)
    Starts moto's ``ThreadedMotoServer`` *in this process* on 127.0.0.1 at a free
    port and switches Batch to moto's no-Docker backend (``batch_simple``) through
    the server's own ``POST /moto-api/config``. boto3, Airflow hooks and child
    processes talk to it over real HTTP: ``AWS_ENDPOINT_URL``, test credentials,
    ``AWS_DEFAULT_REGION=us-east-1`` and ``AIRFLOW_CONN_AWS_DEFAULT`` are set in
    ``os.environ`` for the whole session.
``s3_bucket``
    A fresh bucket; yields ``"s3://<bucket>/<prefix>"``.
``batch_env``
    A compute environment and job queue; yields the queue name.
``job_definition``
    Factory: ``job_definition(command, environment={...}, vcpus=1, memory=512)``
    registers a container job definition and returns its name.
``local_batch_runner``
    While active, every job submitted to the server runs its container command
    as a local subprocess (no image, no Docker) with the job's environment, and
    only then does Batch report it SUCCEEDED or FAILED (with the exit code).
    Yields a :class:`LocalBatchRunner`; ``runner.jobs`` lists what ran.
``fast_batch_polling``
    Makes ``BatchClientHook`` poll without its 1-10 s (and back-off) sleeps.

Why in-process: moto's no-Docker Batch (``batch_simple``) marks every job
SUCCEEDED inside ``SubmitJob`` (or FAILED for all of them, by the server-wide
``MOTO_SIMPLE_BATCH_FAIL_AFTER``) and no moto-api endpoint sets one job's status.
Running the server in this process lets the fixture replace that one step
(``BatchSimpleBackend._mark_job_as_finished``) with the local run, so the final
status comes from the command's exit code, while clients still speak the real
HTTP protocol. Jobs submitted while no runner is active stay RUNNABLE (a queue
with no capacity) until cancelled or terminated.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Airflow reads AIRFLOW_HOME when first imported: never let tests touch ~/airflow.
if not os.environ.get("AIRFLOW_HOME"):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airstep-airflow-home-")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"
PENDING, RUNNABLE, STARTING, RUNNING = "PENDING", "RUNNABLE", "STARTING", "RUNNING"
ESSENTIAL_EXITED = "Essential container in task exited"


def _now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------- patches
# Process-wide state shared by the moto patches and the active runner.
_STATE_LOCK = threading.Lock()
_ACTIVE_RUNNER: LocalBatchRunner | None = None
_TLS = threading.local()  # the SubmitJob request being handled by this server thread


def _install_moto_patches(mp: pytest.MonkeyPatch) -> None:
    from moto.batch.models import BatchBackend, Job
    from moto.batch.responses import BatchResponse
    from moto.batch_simple.models import BatchSimpleBackend

    orig_submitjob = BatchResponse.submitjob
    orig_describe = Job.describe
    orig_get_container_property = Job._get_container_property
    orig_terminate = Job.terminate

    def submitjob(self: Any) -> str:
        # moto drops nodeOverrides/retryStrategy/...: keep the raw request for the runner,
        # and start the jobs only once SubmitJob has registered all of them (array parents).
        try:
            request = json.loads(self.body) if self.body else {}
        except ValueError:
            request = {}
        _TLS.request, _TLS.pending = request, []
        try:
            result = orig_submitjob(self)
            pending = _TLS.pending
        finally:
            _TLS.request, _TLS.pending = None, None
        for job, runner in pending:
            runner._start(job)
        return result

    def _mark_job_as_finished(self: Any, include_start_attempt: bool, job: Any) -> None:
        # Replaces batch_simple's "mark SUCCEEDED now": hand the job to the local runner.
        self.backend._jobs[job.job_id] = job
        job._airstep_request = getattr(_TLS, "request", None) or {}
        if "size" in (job.array_properties or {}):  # array parent: its children decide
            job.status = PENDING
            job._airstep_runner = None
            return
        with _STATE_LOCK:
            runner = _ACTIVE_RUNNER
        job._airstep_runner = runner
        job.status = RUNNABLE if runner is None else job.status
        pending = getattr(_TLS, "pending", None)
        if runner is None:
            return
        if pending is None:  # not called from SubmitJob over HTTP: start right away
            runner._start(job)
        else:
            pending.append((job, runner))

    def describe(self: Any) -> dict[str, Any]:
        result = orig_describe(self)
        container = result.get("container")
        if isinstance(container, dict) and self.job_definition.container_properties is not None:
            reqs = _merged_resource_requirements(self)
            container["resourceRequirements"] = reqs
            for req in reqs:  # keep the legacy fields consistent with the overrides
                if req["type"] == "VCPU":
                    container["vcpus"] = int(float(req["value"]))
                elif req["type"] == "MEMORY":
                    container["memory"] = int(req["value"])
        if self.job_stopped and self.exit_code is not None and isinstance(container, dict):
            container["exitCode"] = self.exit_code  # moto's describe() drops it
            reason = getattr(self, "_airstep_container_reason", None)
            if reason:
                container["reason"] = reason
        return result

    def _get_container_property(self: Any, p: str, default: Any) -> Any:
        if p == "environment":  # moto's version appends to the override list on every call
            env = _merged_environment(self)
            env["AWS_BATCH_JOB_ID"] = self.job_id
            return [{"name": k, "value": v} for k, v in env.items()]
        return orig_get_container_property(self, p, default)

    def terminate(self: Any, reason: str) -> None:
        orig_terminate(self, reason)
        if getattr(self, "_airstep_runner", None) is None and not self.job_stopped:
            # Nobody will run it (no runner, or an array parent): stop it now.
            if getattr(self, "_child_jobs", None):
                for child in self._child_jobs:
                    child.terminate(reason)
            self._mark_stopped(success=False)

    orig_describe_jobs = BatchBackend.describe_jobs  # BatchSimpleBackend passes it through

    def describe_jobs(self: Any, jobs: list[str] | None) -> list[dict[str, Any]]:
        # a multi-node job's node "<job id>#<i>", as AWS Batch describes it (moto does not)
        found = orig_describe_jobs(self, jobs)
        for key in jobs or []:
            parent_id, sep, index = key.partition("#")
            parent = self._jobs.get(parent_id) if sep and index.isdigit() else None
            if parent is None or parent.job_definition.type != "multinode":
                continue
            results = getattr(parent, "_airstep_node_results", None)
            result = (results or {}).get(int(index))
            status = parent.status if results is None else "RUNNING"
            if result is not None:
                status = "SUCCEEDED" if result.exit_code == 0 else "FAILED"
            main = int(parent.job_definition.node_properties.get("mainNode", 0))
            node = {
                "jobArn": f"{parent.arn}#{index}",
                "jobId": key,
                "jobName": parent.job_name,
                "jobQueue": parent.job_queue.arn,
                "jobDefinition": parent.job_definition.arn,
                "status": status,
                "createdAt": int(parent.job_created_at.timestamp() * 1000),
                "nodeDetails": {"nodeIndex": int(index), "isMainNode": int(index) == main},
            }
            stream = parent.log_stream_name  # the main node's; the others' end in #<i>
            if stream and results is not None:
                container = {"logStreamName": stream if int(index) == main else f"{stream}#{index}"}
                node["container"] = container
            if result is not None:
                node["container"] = {
                    **node.get("container", {}),
                    "exitCode": result.exit_code,
                    "reason": result.reason,
                }
                node["statusReason"] = "Essential container in task exited"
            found.append(node)
        return found

    mp.setattr(BatchBackend, "describe_jobs", describe_jobs)
    mp.setattr(BatchResponse, "submitjob", submitjob)
    mp.setattr(BatchSimpleBackend, "_mark_job_as_finished", _mark_job_as_finished)
    mp.setattr(Job, "describe", describe)
    mp.setattr(Job, "_get_container_property", _get_container_property)
    mp.setattr(Job, "terminate", terminate)


def _env_list_to_dict(items: list[dict[str, str]] | None) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in items or []}


def _merged_environment(job: Any, container: dict | None = None, overrides: dict | None = None):
    """Job definition environment, then the overrides' (override wins)."""
    if container is None:
        container = job.job_definition.container_properties or {}
    if overrides is None:
        overrides = job.container_overrides or {}
    env = _env_list_to_dict(container.get("environment"))
    env.update(_env_list_to_dict(overrides.get("environment")))
    return env


def _merged_resource_requirements(job: Any, container=None, overrides=None) -> list[dict]:
    if container is None:
        container = job.job_definition.container_properties or {}
    if overrides is None:
        overrides = job.container_overrides or {}
    merged = {r["type"]: dict(r) for r in container.get("resourceRequirements") or []}
    for legacy, kind in (("vcpus", "VCPU"), ("memory", "MEMORY")):
        if kind not in merged and container.get(legacy) is not None:
            merged[kind] = {"type": kind, "value": str(container[legacy])}
    for r in overrides.get("resourceRequirements") or []:
        merged[r["type"]] = dict(r)
    for legacy, kind in (("vcpus", "VCPU"), ("memory", "MEMORY")):
        if overrides.get(legacy) is not None:
            merged[kind] = {"type": kind, "value": str(overrides[legacy])}
    return list(merged.values())


# --------------------------------------------------------------------------- the runner
@dataclasses.dataclass
class ProcessResult:
    exit_code: int | None
    stdout: str
    stderr: str
    reason: str  # the container's reason / the attempt's statusReason
    started_at: int
    stopped_at: int


@dataclasses.dataclass
class LocalJob:
    """One job (or array child) the runner executed; ``status`` is final once ``done``."""

    job_id: str
    job_name: str
    job_queue: str
    job_definition: str  # ARN
    command: list[str]
    environment: dict[str, str]  # what Batch gives the container (not the inherited env)
    resource_requirements: list[dict[str, str]]
    container_overrides: dict[str, Any]
    request: dict[str, Any]  # the raw SubmitJob request
    array_index: int | None = None
    num_nodes: int | None = None  # multi-node parallel jobs
    status: str = RUNNABLE
    exit_code: int | None = None
    status_reason: str | None = None
    attempts: list[ProcessResult] = dataclasses.field(default_factory=list)
    nodes: dict[int, ProcessResult] = dataclasses.field(default_factory=dict)
    done: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    @property
    def stdout(self) -> str:
        return self.attempts[-1].stdout if self.attempts else ""

    @property
    def stderr(self) -> str:
        return self.attempts[-1].stderr if self.attempts else ""


class LocalBatchRunner:
    """Runs submitted Batch jobs' commands as local processes.

    ``max_parallel`` jobs run at once (array children queue for a slot; a
    multi-node job takes one slot and starts all its nodes). A job's process gets
    ``os.environ`` (so ``AWS_ENDPOINT_URL`` and monkeypatched variables reach it),
    with the venv's ``bin`` first on ``PATH``, then ``extra_env``, then the job's
    own environment: the job definition's, ``containerOverrides.environment`` and
    ``AWS_BATCH_JOB_ID``, ``AWS_BATCH_JOB_ATTEMPT``, ``AWS_BATCH_JQ_NAME``,
    ``AWS_BATCH_CE_NAME``, ``AWS_BATCH_JOB_ARRAY_INDEX`` (array children) and the
    ``AWS_BATCH_JOB_*NODE*`` variables (multi-node). It runs in a fresh scratch
    directory. Attempts honour ``retryStrategy`` (attempts, evaluateOnExit) and
    ``timeout.attemptDurationSeconds`` (else ``default_timeout``). TerminateJob
    sends SIGTERM, then SIGKILL after ``kill_grace`` seconds. Output goes to
    ``LocalJob.attempts[i].stdout/stderr`` and to CloudWatch Logs in moto
    (group ``/aws/batch/job``, the stream named in ``container.logStreamName``; a
    multi-node job's node ``i``, described as ``<job id>#<i>``, names its own stream:
    the job's for the main node, ``<job's stream>#<i>`` for the others), once the
    process has ended.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        max_parallel: int = 2,
        default_timeout: float = 120.0,
        kill_grace: float = 2.0,
        extra_env: dict[str, str] | None = None,
    ):
        self.workdir = Path(workdir)
        self.default_timeout = default_timeout
        self.kill_grace = kill_grace
        self.extra_env = dict(extra_env or {})
        self._slots = threading.BoundedSemaphore(max_parallel)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._jobs: dict[str, LocalJob] = {}

    # ---- what tests use
    @property
    def jobs(self) -> list[LocalJob]:
        """Jobs handed to this runner, in submission order (array parents excluded)."""
        with self._lock:
            return list(self._jobs.values())

    def job(self, job_id: str) -> LocalJob:
        with self._lock:
            return self._jobs[job_id]

    def wait(self, job_id: str, timeout: float = 60.0) -> LocalJob:
        """Wait until the job (run by this runner) has its final status."""
        job = self.job(job_id)
        if not job.done.wait(timeout):
            raise TimeoutError(f"Batch job {job_id} not finished after {timeout}s: {job.status}")
        return job

    def wait_all(self, timeout: float = 60.0) -> list[LocalJob]:
        deadline = time.monotonic() + timeout
        for job in self.jobs:
            if not job.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"Batch job {job.job_id} not finished after {timeout}s")
        return self.jobs

    # ---- lifecycle
    def _start(self, job: Any) -> None:
        try:
            record = self._record(job)
        except (
            Exception
        ) as err:  # e.g. a malformed multi-node definition: fail the job, not SubmitJob
            job.job_stopped_reason = f"local_batch_runner could not read the job: {err!r}"
            job._mark_stopped(success=False)
            return
        with self._lock:
            self._jobs[job.job_id] = record
            thread = threading.Thread(
                target=self._lifecycle, args=(job, record), name=f"batch-{job.job_id}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop: kill running processes, fail jobs that have not run, join the threads."""
        self._closed.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"local_batch_runner: job threads still alive: {alive}")

    def _record(self, job: Any) -> LocalJob:
        jd = job.job_definition
        index = (job.array_properties or {}).get("index")
        num_nodes = None
        if jd.type == "multinode":
            num_nodes = self._node_overrides(job).get("numNodes") or jd.node_properties["numNodes"]
            command, env, reqs = [], {}, []
        else:
            command, env, reqs = self._container_spec(job)
        return LocalJob(
            job_id=job.job_id,
            job_name=job.job_name,
            job_queue=job.job_queue.name,
            job_definition=jd.arn,
            command=command,
            environment=env,
            resource_requirements=reqs,
            container_overrides=dict(job.container_overrides or {}),
            request=dict(getattr(job, "_airstep_request", {}) or {}),
            array_index=index,
            num_nodes=num_nodes,
        )

    def _stopping(self, job: Any) -> bool:
        return bool(job.stop) or self._closed.is_set()

    def _lifecycle(self, job: Any, record: LocalJob) -> None:
        try:
            job.status = PENDING
            if job.depends_on:
                problem = self._wait_for_dependencies(job)
                if problem:
                    self._finish(job, record, False, None, problem)
                    return
            job.status = RUNNABLE
            while not self._slots.acquire(timeout=0.05):
                if self._stopping(job):
                    reason = (
                        job.job_stopped_reason or "local_batch_runner stopped before the job ran"
                    )
                    self._finish(job, record, False, None, reason)
                    return
            try:
                if job.job_definition.type == "multinode":
                    self._run_multinode(job, record)
                else:
                    self._run_container(job, record)
            finally:
                self._slots.release()
        except Exception as err:  # never leave a job RUNNING because the fixture broke
            self._finish(job, record, False, None, f"local_batch_runner error: {err!r}")
            raise
        finally:
            record.done.set()
            self._finish_array_parent(job)

    def _wait_for_dependencies(self, job: Any) -> str | None:
        """None once every dependency SUCCEEDED, else why the job cannot run."""
        backend = job.backend
        ids = [d["jobId"] for d in job.depends_on]
        while True:
            if job.stop:
                return job.job_stopped_reason or "Job stopped"
            if self._closed.is_set():
                return "local_batch_runner stopped before the job ran"
            statuses = []
            for dep_id in ids:
                dep = backend.get_job_by_id(dep_id)
                statuses.append(dep.status if dep is not None else None)
            if FAILED in statuses:
                return "Dependent Job failed"
            if all(s == SUCCEEDED for s in statuses):
                return None
            time.sleep(0.05)

    def _finish(self, job, record, success: bool, exit_code: int | None, reason: str) -> None:
        if exit_code is not None:
            job.exit_code = exit_code
        if job.job_stopped_reason is None:  # TerminateJob's reason wins
            job.job_stopped_reason = reason
        job._mark_stopped(success=success)
        record.exit_code = job.exit_code
        record.status_reason = job.job_stopped_reason
        record.status = job.status

    def _finish_array_parent(self, job: Any) -> None:
        if "index" not in (job.array_properties or {}):
            return
        parent = job.backend.get_job_by_id(job.job_id.rsplit(":", 1)[0])
        children = getattr(parent, "_child_jobs", None) or []
        with self._lock:  # children finish on different threads
            if parent is None or parent.job_stopped or not all(c.job_stopped for c in children):
                return
            ok = all(c.status == SUCCEEDED for c in children)
            failed = sum(c.status != SUCCEEDED for c in children)
            parent.job_stopped_reason = (
                None if ok else f"{failed} of {len(children)} child jobs failed"
            )
            parent._mark_stopped(success=ok)

    # ---- single container jobs
    def _container_spec(self, job: Any) -> tuple[list[str], dict[str, str], list[dict]]:
        container = job.job_definition.container_properties or {}
        overrides = job.container_overrides or {}
        command = overrides["command"] if "command" in overrides else container.get("command")
        command = job._add_parameters_to_command(command) if command else []
        env = _merged_environment(job)
        env["AWS_BATCH_JOB_ID"] = job.job_id
        env["AWS_BATCH_JQ_NAME"] = job.job_queue.name
        if job.job_queue.environments:
            env["AWS_BATCH_CE_NAME"] = job.job_queue.environments[0].name
        index = (job.array_properties or {}).get("index")
        if index is not None:
            env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
        return [str(c) for c in command], env, _merged_resource_requirements(job)

    def _max_attempts(self, job: Any) -> tuple[int, list[dict]]:
        strategy = (getattr(job, "_airstep_request", {}) or {}).get("retryStrategy") or (
            job.job_definition.retry_strategy or {}
        )
        return max(1, int(strategy.get("attempts") or 1)), strategy.get("evaluateOnExit") or []

    @staticmethod
    def _retry_decision(rules: list[dict], result: ProcessResult) -> bool | None:
        for rule in rules:
            code = "" if result.exit_code is None else str(result.exit_code)
            if not fnmatch.fnmatchcase(code, rule.get("onExitCode", "*")):
                continue
            if not fnmatch.fnmatchcase(result.reason, rule.get("onReason", "*")):
                continue
            if not fnmatch.fnmatchcase(result.reason, rule.get("onStatusReason", "*")):
                continue
            return rule.get("action", "").upper() == "RETRY"
        return None

    def _start_attempt(self, job: Any, stream: str) -> dict:
        job.status = STARTING
        attempt = {
            "container": {
                "containerInstanceArn": "local",
                "taskArn": f"local-task/{job.job_id}/{len(job.attempts) + 1}",
                "logStreamName": stream,
                "networkInterfaces": [],
            },
            "startedAt": _now_ms(),
        }
        if not job.attempts:
            job.job_started_at = datetime.datetime.now()
        job.attempts.append(attempt)
        job.latest_attempt = attempt
        job.log_stream_name = stream
        job.status = RUNNING
        return attempt

    @staticmethod
    def _end_attempt(attempt: dict, result: ProcessResult) -> None:
        if result.exit_code is not None:
            attempt["container"]["exitCode"] = result.exit_code
        attempt["container"]["reason"] = result.reason
        attempt["statusReason"] = result.reason
        attempt["stoppedAt"] = result.stopped_at

    def _run_container(self, job: Any, record: LocalJob) -> None:
        max_attempts, rules = self._max_attempts(job)
        result: ProcessResult | None = None
        for attempt_no in range(1, max_attempts + 1):
            stream = job._stream_name + ("" if attempt_no == 1 else f"-attempt{attempt_no}")
            attempt = self._start_attempt(job, stream)
            env = {**record.environment, "AWS_BATCH_JOB_ATTEMPT": str(attempt_no)}
            result = self._run_process(
                job, record.command, env, f"{job.job_id}.{attempt_no}", lambda: self._stopping(job)
            )
            record.attempts.append(result)
            self._end_attempt(attempt, result)
            self._put_logs(job, stream, result)
            if result.exit_code == 0 or self._stopping(job):
                break
            decision = self._retry_decision(rules, result)
            if decision is False:
                break
            if attempt_no < max_attempts:
                job.status = RUNNABLE
        assert result is not None
        ok = result.exit_code == 0 and not job.stop
        job._airstep_container_reason = result.reason
        self._finish(job, record, ok, result.exit_code, result.reason)

    # ---- multi-node parallel jobs
    @staticmethod
    def _node_overrides(job: Any) -> dict:
        return (getattr(job, "_airstep_request", {}) or {}).get("nodeOverrides") or {}

    @staticmethod
    def _node_targets(target: str, num_nodes: int) -> range:
        start, sep, end = target.partition(":")
        if not sep:
            return range(int(start), int(start) + 1)
        return range(int(start or 0), (int(end) if end else num_nodes - 1) + 1)

    def _run_multinode(self, job: Any, record: LocalJob) -> None:
        props = job.job_definition.node_properties
        overrides = self._node_overrides(job)
        num_nodes = int(overrides.get("numNodes") or props["numNodes"])
        main = int(props.get("mainNode", 0))
        specs: dict[int, tuple[dict, dict]] = {}
        for rng in props["nodeRangeProperties"]:
            for i in self._node_targets(rng["targetNodes"], num_nodes):
                specs[i] = (rng.get("container") or {}, {})
        for ov in overrides.get("nodePropertyOverrides") or []:
            for i in self._node_targets(ov["targetNodes"], num_nodes):
                if i in specs:
                    specs[i] = (specs[i][0], ov.get("containerOverrides") or {})
        missing = [i for i in range(num_nodes) if i not in specs]
        if missing:
            raise ValueError(f"multi-node job {job.job_id}: no nodeRangeProperties for {missing}")

        stream = job._stream_name
        attempt = self._start_attempt(job, stream)
        main_done = threading.Event()
        grace_over = threading.Event()
        results: dict[int, ProcessResult] = {}
        job._airstep_node_results = results  # what DescribeJobs of "<job id>#<i>" reports

        def run_node(i: int) -> ProcessResult:
            container, ov = specs[i]
            command = ov["command"] if "command" in ov else container.get("command") or []
            env = _merged_environment(job, container, ov)
            env.update(
                AWS_BATCH_JOB_ID=f"{job.job_id}#{i}",
                AWS_BATCH_JOB_ATTEMPT="1",
                AWS_BATCH_JQ_NAME=job.job_queue.name,
                AWS_BATCH_JOB_NODE_INDEX=str(i),
                AWS_BATCH_JOB_NUM_NODES=str(num_nodes),
                AWS_BATCH_JOB_MAIN_NODE_INDEX=str(main),
            )
            if i != main:  # as on AWS: only the other nodes are told where the main node is
                env["AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"] = "127.0.0.1"
            argv = [str(c) for c in job._add_parameters_to_command(command)] if command else []
            stop = (
                (lambda: self._stopping(job))
                if i == main
                else (lambda: self._stopping(job) or grace_over.is_set())
            )
            return self._run_process(job, argv, env, f"{job.job_id}.node{i}", stop)

        def node(i: int) -> None:
            try:
                results[i] = run_node(i)
            except Exception as err:
                now = _now_ms()
                results[i] = ProcessResult(
                    None, "", repr(err), f"local_batch_runner error: {err!r}", now, now
                )
            finally:
                if i == main:
                    main_done.set()

        threads = [threading.Thread(target=node, args=(i,), daemon=True) for i in range(num_nodes)]
        for t in threads:
            t.start()
        main_done.wait()
        # The job ends when the main node exits; the others get kill_grace seconds.
        deadline = time.monotonic() + self.kill_grace
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        grace_over.set()
        for t in threads:
            t.join()
        record.nodes = dict(sorted(results.items()))
        result = results[main]
        record.attempts.append(result)
        self._end_attempt(attempt, result)
        for i, res in record.nodes.items():
            self._put_logs(job, stream if i == main else f"{stream}#{i}", res)
        job._airstep_container_reason = result.reason
        self._finish(
            job, record, result.exit_code == 0 and not job.stop, result.exit_code, result.reason
        )

    # ---- processes and logs
    def _run_process(
        self,
        job: Any,
        argv: list[str],
        job_env: dict[str, str],
        label: str,
        stop: Callable[[], bool],
    ) -> ProcessResult:
        started = _now_ms()
        safe = label.replace(":", "_").replace("#", "_")
        cwd = self.workdir / safe
        cwd.mkdir(parents=True, exist_ok=True)
        out_path, err_path = self.workdir / f"{safe}.out", self.workdir / f"{safe}.err"
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        # A job sees AWS_BATCH_JOB_ID, so the airstep runtime would poll the instance
        # metadata address for spot notices: keep that on loopback (port 9 refuses at once).
        env.setdefault("AIRSTEP_SPOT_METADATA_URL", "http://127.0.0.1:9/latest")
        env.update(self.extra_env)
        env.update(job_env)
        if not argv:
            msg = "CannotStartContainerError: the job has no command (no image to take it from)"
            return ProcessResult(None, "", "", msg, started, _now_ms())
        timeout = job._get_attempt_duration() or self.default_timeout
        why = None
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # its own process group: kill the whole tree
                )
            except OSError as exc:
                msg = f"CannotStartContainerError: {exc}"
                return ProcessResult(None, "", str(exc), msg, started, _now_ms())
            deadline = time.monotonic() + timeout
            while True:
                try:
                    proc.wait(timeout=0.05)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if stop():
                    why = job.job_stopped_reason or "Job stopped"
                elif time.monotonic() > deadline:
                    why = "Job attempt duration exceeded timeout"
                if why:
                    self._kill(proc)
                    break
        rc = proc.returncode
        exit_code = 128 - rc if rc < 0 else rc  # killed by signal N: 128+N, as in a container
        return ProcessResult(
            exit_code,
            out_path.read_text(errors="replace"),
            err_path.read_text(errors="replace"),
            why or ESSENTIAL_EXITED,
            started,
            _now_ms(),
        )

    def _kill(self, proc: subprocess.Popen) -> None:
        for sig, wait in ((signal.SIGTERM, self.kill_grace), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    @staticmethod
    def _put_logs(job: Any, stream: str, result: ProcessResult) -> None:
        lines = (result.stdout + result.stderr).splitlines()
        if not lines:
            return
        logs = job._log_backend
        logs.ensure_log_group(job._log_group)
        logs.ensure_log_stream(job._log_group, stream)
        ts = result.stopped_at
        logs.put_log_events(
            job._log_group, stream, [{"timestamp": ts, "message": m} for m in lines]
        )


# --------------------------------------------------------------------------- fixtures
@dataclasses.dataclass
class MotoServer:
    endpoint_url: str
    host: str
    port: int
    region: str = REGION
    account_id: str = ACCOUNT_ID

    def client(self, service: str):
        import boto3

        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint_url)

    def batch_backend(self):
        """The in-process backend behind the server (for white-box assertions)."""
        from moto.batch_simple.models import batch_simple_backends

        return batch_simple_backends[self.account_id][self.region]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    import logging

    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    saved_batch_config = dict(default_user_config.get("batch", {}))
    mp = pytest.MonkeyPatch()
    config_dir = None
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        _install_moto_patches(mp)
        server.start()
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        for name in list(os.environ):
            if name.startswith("AWS_ENDPOINT_URL_") or name in (
                "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE",
                "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN",
                "AWS_ROLE_ARN",
                "AWS_WEB_IDENTITY_TOKEN_FILE",
            ):
                mp.delenv(name)
        config_dir = tempfile.mkdtemp(prefix="airstep-aws-config-")
        empty = Path(config_dir) / "none"  # no ~/.aws profile, endpoint or credentials
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {"conn_type": "aws", "extra": {"endpoint_url": url, "region_name": REGION}}
            ),
        }.items():
            mp.setenv(name, value)
        # moto's no-Docker Batch, switched on through the server's own config endpoint
        req = urllib.request.Request(
            f"{url}/moto-api/config",
            data=json.dumps({"batch": {"use_docker": False}}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.load(resp)["batch"]["use_docker"] is False
        yield MotoServer(endpoint_url=url, host=host, port=port)
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        default_user_config["batch"] = saved_batch_config
        mp.undo()
        if config_dir:
            shutil.rmtree(config_dir, ignore_errors=True)


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> Iterator[str]:
    s3 = moto_server.client("s3")
    bucket = f"airstep-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/prefix"
    with contextlib.suppress(Exception):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def batch_env(moto_server: MotoServer) -> str:
    iam = moto_server.client("iam")
    role = "airstep-batch-service-role"
    try:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = moto_server.client("batch")
    suffix = uuid.uuid4().hex[:10]
    ce = batch.create_compute_environment(
        computeEnvironmentName=f"airstep-ce-{suffix}",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=arn,
    )
    queue = f"airstep-queue-{suffix}"
    batch.create_job_queue(
        jobQueueName=queue,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
    )
    return queue


@pytest.fixture
def job_definition(moto_server: MotoServer) -> Callable[..., str]:
    """Register a container job definition: ``job_definition(["python", "-c", ...])``."""
    batch = moto_server.client("batch")

    def make(
        command: list[str] | None = None,
        environment: dict[str, str] | None = None,
        *,
        name: str | None = None,
        vcpus: int = 1,
        memory: int = 512,
        image: str = "airstep-test:latest",
        **kwargs: Any,
    ) -> str:
        name = name or f"airstep-jd-{uuid.uuid4().hex[:10]}"
        batch.register_job_definition(
            jobDefinitionName=name,
            type="container",
            containerProperties={
                "image": image,
                "command": list(command or []),
                "environment": [{"name": k, "value": v} for k, v in (environment or {}).items()],
                "resourceRequirements": [
                    {"type": "VCPU", "value": str(vcpus)},
                    {"type": "MEMORY", "value": str(memory)},
                ],
            },
            **kwargs,
        )
        return name

    return make


@pytest.fixture
def local_batch_runner(moto_server: MotoServer, tmp_path_factory) -> Iterator[LocalBatchRunner]:
    global _ACTIVE_RUNNER
    runner = LocalBatchRunner(tmp_path_factory.mktemp("batch-jobs"))
    with _STATE_LOCK:
        if _ACTIVE_RUNNER is not None:
            raise RuntimeError("local_batch_runner is already active")
        _ACTIVE_RUNNER = runner
    try:
        yield runner
    finally:
        with _STATE_LOCK:
            _ACTIVE_RUNNER = None
        runner.close()


@pytest.fixture
def fast_batch_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """BatchClientHook polls every ~50 ms: zero DEFAULT_DELAY_MIN/MAX and cap its back-off."""
    from airflow.providers.amazon.aws.hooks.batch_client import BatchClientHook

    monkeypatch.setattr(BatchClientHook, "DEFAULT_DELAY_MIN", 0)
    monkeypatch.setattr(BatchClientHook, "DEFAULT_DELAY_MAX", 0)
    # poll_job_status sleeps exponential_delay(n) +/- 1 s jitter between checks,
    # whatever DEFAULT_DELAY_* say: cap each pause.
    monkeypatch.setattr(BatchClientHook, "delay", staticmethod(lambda delay=None: time.sleep(0.05)))
