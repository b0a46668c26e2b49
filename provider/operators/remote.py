"""What every remote step operator shares: the runtime command and the pointer it returns.

A remote step runs ``python -m provider.runtime`` in a container. The operator
uploads the flow's code package (once per version), passes the task's identity
as arguments (a list, never a shell string), waits through the provider's own
operator, then reads the task's manifest from the datastore and returns the
same XCom pointer as the in-worker :class:`~provider.operators.step.StepOperator`.
The datastore must be reachable from the container: an ``s3://`` root.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from typing import TYPE_CHECKING

from provider.datastore.code import upload_code
from provider.datastore.flowstore import FlowDataStore
from provider.exceptions import DataStoreError, StepError
from provider.operators.step import (
    airstep_setting,
    aws_connection_env,
    foreach_label,
    max_map_length,
    worker_storage,
    xcom_pointer,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from provider.flow.spec import FlowSpec

#: variables a step container needs to reach the datastore like the worker does
PASSED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AIRSTEP_S3_ENDPOINT_URL",
    "AIRSTEP_SPOT_METADATA_URL",
)


def dns_label(*parts: str, limit: int = 63) -> str:
    """A valid DNS-1123 label (pod, job and container names) made from any names."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)[:limit].strip("-")
    return text or "airstep"


def label_value(text: str) -> str:
    """A valid Kubernetes label value (<= 63 chars of [A-Za-z0-9_.-], alphanumeric ends)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return value.strip("-_.")


class RemoteStepMixin:
    """Mixed into a provider operator; expects ``flow_cls``, ``step_name``, ``flow_task_id``."""

    flow_cls: type[FlowSpec]
    step_name: str
    flow_task_id: str

    def datastore(self) -> FlowDataStore:
        root = airstep_setting("datastore_root", "AIRSTEP_DATASTORE_ROOT")
        if not root or not root.startswith("s3://"):
            raise DataStoreError(
                f"Step *{self.step_name}* runs remotely, so its datastore must be reachable from "
                f"the container, but the datastore root is {root or '~/.airstep'!r}; set "
                "[airstep] datastore_root (or AIRSTEP_DATASTORE_ROOT) to s3://bucket/prefix, or "
                "run remote steps in the worker with [airstep] local_override = True."
            )
        return FlowDataStore(self.flow_cls.__name__, worker_storage(root))

    def runtime_command(self, context: Context) -> tuple[list[str], dict[str, str]]:
        """The container's command line and environment for this task instance."""
        store = self.datastore()
        flow_file = inspect.getfile(self.flow_cls)
        key = upload_code(store, flow_file)
        ti = context["ti"]
        args = [
            "python", "-m", "provider.runtime",
            "--flow", self.flow_cls.__name__,
            "--flow-file", os.path.basename(flow_file),
            "--code-package", key,
            "--datastore-root", store.root,
            "--run-id", context["run_id"],
            "--step", self.step_name,
            "--task-id", str(self.flow_task_id),
            "--attempt", str(ti.try_number - 1),
            "--max-num-splits", str(max_map_length()),
        ]  # fmt: skip
        if self.step_name == "start":
            names = [p.name for p in self.flow_cls.parameters().values()]
            given = {n: context["params"][n] for n in names if n in context["params"]}
            args += ["--params-json", json.dumps(given)]
        env = {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}
        env.update(aws_connection_env())
        node = self.flow_cls.graph()[self.step_name]
        if "environment" in node.decorators:
            env.update(node.decorators["environment"].attributes["vars"])
        return args, env

    def finish(self, context: Context) -> str | list[str]:
        """After the container exits 0: the task's manifest gives the label and the pointer."""
        store = self.datastore()
        manifest = store.read_manifest(context["run_id"], self.step_name, str(self.flow_task_id))
        if manifest is None:
            raise StepError(
                f"Step *{self.step_name}* (task {self.flow_task_id}) finished remotely but left no "
                f"record in {store.root}; check that the container writes to the same datastore."
            )
        label = foreach_label(manifest)
        if label:
            context["label"] = label  # type: ignore[typeddict-unknown-key]
        return xcom_pointer(self.flow_cls, manifest)
