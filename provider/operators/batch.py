"""``BatchStepOperator``: a step as an AWS Batch job.

A subclass of the provider's ``BatchOperator``: submission, waiting, log links
and ``on_kill`` (which terminates the job) are reused. This module turns the
step's decorators into a job definition and container overrides.

Unless ``@batch(job_definition=...)`` names one, the job definition is
registered on demand under a name derived from its content
(``airstep-<flow>-<step>-<hash>``): registering the same settings again finds
the existing definition, so it is idempotent. Resources go in the overrides'
``resourceRequirements`` (VCPU, MEMORY, GPU); ``@timeout`` plus a margin becomes
the job's ``attemptDurationSeconds``, a safety net behind the runtime's own
alarm. Retries stay with Airflow (``@retry``), so the job itself is tried once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.batch import BatchOperator

from provider.decorators.placement import Placement
from provider.decorators.resolve import step_resources
from provider.decorators.secret_sources import HANDOFF_ARN_VARIABLE
from provider.decorators.specs import batch_spec
from provider.flow.graph import StepNode
from provider.operators.base import platform_deadline
from provider.operators.remote import RemoteStepMixin, deferral_asked
from provider.operators.secrets import (
    airflow_handoff,
    batch_handoff_prefix,
    create_batch_handoff,
    delete_batch_handoff,
    handoff_name,
    sweep_batch_handoffs,
)
from provider.settings import setting

if TYPE_CHECKING:
    from airflow.sdk import Context

    from provider.flow.spec import FlowSpec


def _format_cpu(cpu: float) -> str:
    return str(int(cpu)) if float(cpu).is_integer() else str(cpu)


def resource_requirements(node: StepNode) -> list[dict[str, str]]:
    res = step_resources(node, Placement.BATCH)
    reqs = [
        {"type": "VCPU", "value": _format_cpu(res.cpu)},
        {"type": "MEMORY", "value": str(res.memory)},
    ]
    if res.gpu:
        reqs.append({"type": "GPU", "value": str(res.gpu)})
    return reqs


def job_definition_body(node: StepNode, flow_name: str) -> dict[str, Any]:
    """``RegisterJobDefinition`` arguments (without the name) for the step."""
    spec = batch_spec(node)
    res = step_resources(node, Placement.BATCH)
    linux: dict[str, Any] = {}
    if res.shared_memory:
        linux["sharedMemorySize"] = res.shared_memory
    if spec.max_swap is not None:
        linux["maxSwap"] = spec.max_swap
        linux["swappiness"] = spec.swappiness or 60
    if spec.use_tmpfs or spec.tmpfs_size:
        linux["tmpfs"] = [
            {
                "containerPath": spec.tmpfs_path,
                "size": spec.tmpfs_size or max(1, res.memory // 2),
            }
        ]
    devices = []
    for count in (spec.inferentia, spec.trainium):
        for i in range(count or 0):
            devices.append({"hostPath": f"/dev/neuron{i}", "containerPath": f"/dev/neuron{i}",
                            "permissions": ["READ", "WRITE"]})  # fmt: skip
    if devices:
        linux["devices"] = devices
    container: dict[str, Any] = {
        "image": spec.image or setting("default_image"),
        "command": ["python", "-m", "provider.runtime", "--help"],  # overridden per task
        "resourceRequirements": resource_requirements(node),
    }
    if spec.iam_role:
        container["jobRoleArn"] = spec.iam_role
    if spec.execution_role:
        container["executionRoleArn"] = spec.execution_role
    if spec.privileged is not None:
        container["privileged"] = spec.privileged
    if linux:
        container["linuxParameters"] = linux
    if spec.ephemeral_storage:
        container["ephemeralStorage"] = {"sizeInGiB": spec.ephemeral_storage}
    volumes, mounts = [], []
    for i, host_path in enumerate(spec.host_volumes or ()):
        name = f"host{i}"
        volumes.append({"name": name, "host": {"sourcePath": host_path}})
        mounts.append({"sourceVolume": name, "containerPath": host_path})
    if volumes:
        container["volumes"], container["mountPoints"] = volumes, mounts
    if spec.log_driver:
        options = dict(o.split("=", 1) for o in spec.log_options or () if "=" in o)
        container["logConfiguration"] = {"logDriver": spec.log_driver, "options": options}
    body: dict[str, Any] = {"type": "container", "containerProperties": container}
    if spec.efa:
        body["containerProperties"].setdefault("linuxParameters", {}).setdefault(
            "devices", []
        ).extend({"hostPath": f"/dev/infiniband/uverbs{i}"} for i in range(spec.efa))
    if spec.tags:
        body["tags"] = dict(spec.tags)
        body["propagateTags"] = True
    return body


def job_definition_name(node: StepNode, flow_name: str, body: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", f"airstep-{flow_name}-{node.name}")[:110]
    return f"{base}-{digest}"


class BatchStepOperator(RemoteStepMixin, BatchOperator):
    """Run one step of a flow as an AWS Batch job, through the airstep runtime.

    :param flow_cls: the :class:`~provider.FlowSpec` subclass the step belongs to.
    :param step_name: the step to run; its ``@batch`` / ``@resources`` give the job.
    :param flow_task_id: the airstep task id (foreach index path), or a chunk's task ids:
        one container runs them all. (templated)
    :param kwargs: any other ``BatchOperator`` argument (``aws_conn_id``, ``region_name``...).
    """

    remote_kind = "AWS Batch job"
    runs_chunks = True
    template_fields: Sequence[str] = (*BatchOperator.template_fields, "flow_task_id")

    def __init__(
        self,
        *,
        flow_cls: type[FlowSpec],
        step_name: str,
        flow_task_id: str | list[str] = "0",
        **kwargs: Any,
    ) -> None:
        node = flow_cls.graph()[step_name]
        spec = batch_spec(node)
        queue = spec.queue or setting("batch_queue")
        settings: dict[str, Any] = {
            "job_name": re.sub(r"[^A-Za-z0-9_-]+", "-", f"{flow_cls.__name__}-{step_name}")[:128],
            "job_definition": spec.job_definition or "",
            "job_queue": queue or "",
            "tags": spec.tags,
            "retry_strategy": {"attempts": 1},
            "poll_interval": 10,
            "awslogs_enabled": True,  # the step's output shows in the task log
            "awslogs_fetch_interval": timedelta(seconds=5),
            **kwargs,
            "deferrable": False,  # see provider.operators.remote
        }
        deadline = platform_deadline(node)  # an outer safety net, over a minute as Batch needs
        if deadline is not None:
            settings["submit_job_timeout"] = deadline
        super().__init__(**settings)
        self.flow_cls = flow_cls
        self.step_name = step_name
        self.flow_task_id = flow_task_id
        self.deferral_refused = deferral_asked(kwargs)
        self.node = node
        #: the ARN of the job's hand-off secret (@secrets) while it exists
        self.handoff: str | None = None

    def definition_body(self) -> dict[str, Any]:
        """``RegisterJobDefinition`` arguments (without the name) for this operator's jobs."""
        return job_definition_body(self.node, self.flow_cls.__name__)

    def ensure_job_definition(self) -> str:
        """The step's job definition, registered now if it does not exist yet."""
        if self.job_definition:
            return self.job_definition
        body = self.definition_body()
        name = job_definition_name(self.node, self.flow_cls.__name__, body)
        client = self.hook.client
        found = client.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")
        if not found.get("jobDefinitions"):
            client.register_job_definition(jobDefinitionName=name, **body)
            self.log.info("Registered AWS Batch job definition %s", name)
        return name

    def scale_platform_deadline(self, seconds: int) -> None:
        self.submit_job_timeout = seconds

    def execute(self, context: Context) -> Any:
        if not self.job_queue:
            raise ValueError(
                f"Step *{self.step_name}* runs on AWS Batch but names no job queue; give "
                "@batch(queue='my-queue') or set [airstep] batch_queue."
            )
        args, env = self.runtime_command(context)
        self.job_definition = self.ensure_job_definition()
        self.container_overrides = {
            "command": args,
            "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
            "resourceRequirements": resource_requirements(self.node),
        }
        self.job_id = None  # a retry submits a new job
        extra_env = self.hand_off_secrets(context)
        self.container_overrides["environment"] += [
            {"name": k, "value": v} for k, v in extra_env.items()
        ]
        try:
            super().execute(context)
        finally:
            self.delete_handoff()
        return self.finish_remote_task(context)

    def on_kill(self) -> None:
        """The job's hand-off secret goes first (a kill may end this process next), then the
        provider's: the job is terminated."""
        self.delete_handoff()
        if self.job_id:
            super().on_kill()

    # -- @secrets: Airflow's values reach the job through a Secrets Manager secret -------------
    def _secrets_client(self) -> Any:
        return self.hook.get_session(region_name=self.hook.region_name).client(
            "secretsmanager", endpoint_url=self.hook.conn_config.endpoint_url
        )

    def hand_off_secrets(self, context: Context) -> dict[str, str]:
        """Store the step's Airflow secrets in a new Secrets Manager secret (its ARN in
        ``self.handoff``); the job's env gets its ARN (a reference), the job reads it with
        its role. Returns the env to add (none when the step has no Airflow source).

        The secret's name starts with one prefix for every try of this task
        (:func:`~provider.operators.secrets.batch_handoff_prefix`): the secrets an earlier try
        left (its worker was killed) are deleted first.
        """
        self.handoff = None
        values = airflow_handoff(self.node)
        if not values:
            return {}
        client = self._secrets_client()
        ti = context["ti"]
        prefix = batch_handoff_prefix(
            self.flow_cls.__name__, self.step_name, ti.dag_id, ti.task_id, context["run_id"],
            ti.map_index,
        )  # fmt: skip
        sweep_batch_handoffs(client, prefix)
        env = create_batch_handoff(client, handoff_name(f"{prefix}try{ti.try_number}"), values)
        self.handoff = env[HANDOFF_ARN_VARIABLE]
        return env

    def delete_handoff(self) -> None:
        """Delete the secret :meth:`hand_off_secrets` made, once its job has ended."""
        arn, self.handoff = getattr(self, "handoff", None), None
        if arn is not None:
            delete_batch_handoff(self._secrets_client(), arn)
