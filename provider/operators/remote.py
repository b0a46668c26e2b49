"""What the container step operators share: the datastore check and the runtime command.

A remote step runs ``python -m provider.runtime`` in a container. The operator
uploads the flow's code package (once per version), passes the task's request
as arguments (a list, never a shell string), waits through the provider's own
operator, then reads the task's manifest from the datastore and finishes like
the in-worker :class:`~provider.operators.step.StepOperator`. The datastore must
be reachable from the container: an ``s3://`` root.

A chunk of a wide foreach (``flow_task_id`` a list) is one container too: the
command lists the chunk's task ids (``--task-ids``), which the entrypoint runs as
parallel processes, ``--processes`` at once (``[airstep] chunk_processes``, else the
step's ``@resources`` cpu); afterwards every task's manifest is read.

The runtime applies the step's ``@environment`` itself, in the container as
everywhere else, so it is not copied into the container's environment here.

Deferrable mode is off for the step operators, whatever ``deferrable=`` or
``[operators] default_deferrable`` ask (the providers' operators turn it on from
either): the operator waits for the pod or job in the worker, so what follows the
step (reading its manifest, the map index label, the task-id pointer in XCom)
runs in ``execute`` on every path. A log line says so when deferral was asked
for. Deferred waiting would also need a triggerer with the providers' async
clients (``kubernetes_asyncio``, ``aiobotocore``).
"""

from __future__ import annotations

import inspect
import os
from typing import TYPE_CHECKING, Any

from airflow.sdk.configuration import conf

from provider.datastore.code import upload_code
from provider.datastore.code_files import code_source
from provider.datastore.flowstore import FlowDataStore
from provider.exceptions import DataStoreError, StepError
from provider.operators.base import StepOperatorMixin, aws_connection_env, worker_storage
from provider.operators.dag_deployment import deployment_of
from provider.runtime.chunk import chunk_processes, collect_items
from provider.runtime.command import RuntimeCommand
from provider.settings import as_environment, flag, setting

if TYPE_CHECKING:
    from airflow.sdk import Context

#: variables a step container needs to reach the datastore like the worker does
PASSED_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AIRSTEP_SPOT_METADATA_URL",
)


def deferral_asked(kwargs: dict[str, Any]) -> bool:
    """Whether the operator's arguments, its ``default_args``, or else ``[operators]
    default_deferrable`` ask for deferrable mode."""
    for given in (kwargs, kwargs.get("default_args") or {}):
        if "deferrable" in given:
            return bool(given["deferrable"])
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class RemoteStepMixin(StepOperatorMixin):
    """Mixed into a provider operator; expects ``flow_cls``, ``step_name``, ``flow_task_id``,
    and ``deferral_refused`` (True when deferrable mode was asked for and turned off)."""

    deferral_refused: bool = False
    #: what the step runs in, for messages
    remote_kind: str = "container"
    #: True when one container may run a chunk of tasks (``--task-ids``)
    runs_chunks: bool = False
    runs_remotely = True

    def datastore(self) -> FlowDataStore:
        root = setting("datastore_root") or ""
        if not root.startswith("s3://"):
            raise DataStoreError(
                f"Step *{self.step_name}* runs remotely, so its datastore must be reachable from "
                f"the container, but the datastore root is {root!r}; set [airstep] "
                "datastore_root (or AIRSTEP_DATASTORE_ROOT) to s3://bucket/prefix, or run remote "
                "steps in the worker with [airstep] local_override = True."
            )
        return FlowDataStore(self.flow_cls.__name__, worker_storage(root))

    def runtime_command(self, context: Context) -> tuple[list[str], dict[str, str]]:
        """The container's command line and environment for this task instance."""
        command, env = self.runtime_request(context)
        return command.to_argv("python"), env

    def runtime_request(self, context: Context) -> tuple[RuntimeCommand, dict[str, str]]:
        """What the container runs for this task instance (a gang adds its nodes' part), and
        its environment."""
        chunk = self.chunk()
        if chunk is None:
            request = self.start_task(context)
        else:
            if not self.runs_chunks:
                raise StepError(
                    f"Step *{self.step_name}* of flow {self.flow_cls.__name__} (run "
                    f"{context['run_id']}) got a chunk of {len(chunk)} tasks ({chunk[0]} to "
                    f"{chunk[-1]}), but a {self.remote_kind} runs a single task, not a chunk: "
                    "its foreach is wider than [airstep] max_map_tasks. Raise [airstep] "
                    "max_map_tasks to the foreach's width, or run the step in the worker."
                )
            requests, first_attempt = self.start_items(context)
            request = requests[0]
        if self.deferral_refused:
            self.log.info(  # type: ignore[attr-defined]
                "Step *%s* of flow %s (run %s, task %s) waits for its %s in the worker: "
                "deferrable mode is off for airstep's step operators, whatever deferrable= or "
                "[operators] default_deferrable say, so that the step's result is read and its "
                "task id pushed to XCom as soon as it ends.",
                self.step_name,
                self.flow_cls.__name__,
                request.run_id,
                request.task_id,
                self.remote_kind,
            )
        store = self.datastore()
        code_root = deployment_of(self.get_dag()).code_root  # to_dag(code_root=)
        source = code_source(inspect.getfile(self.flow_cls), code_root, self.flow_cls.__name__)
        key = upload_code(store, source)
        command = RuntimeCommand.for_request(
            request,
            flow=self.flow_cls.__name__,
            flow_file=source.flow_path,
            datastore_root=store.root,
            code_package=key,
        )
        if chunk is not None:
            command = command.chunk(
                [r.task_id for r in requests],  # those a switch chose
                first_attempt=first_attempt,
                processes=chunk_processes(self.flow_cls, self.step_name, remote=True),
                # read here: the container has no airflow.cfg
                process_per_task=flag("process_per_task"),
            )
        env = {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}
        env.update(as_environment("spot_metadata_url"))  # airflow.cfg's too
        env.update(request.extra_env)
        env.update(aws_connection_env())
        return command, env

    def finish_remote_task(self, context: Context) -> str | list[str]:
        """After the container exited 0: finish with the manifest it left in the datastore
        (with every manifest of a chunk)."""
        store = self.datastore()
        if self.chunk() is not None:
            requests, first_attempt = self.start_items(context)
            manifests = collect_items(self.flow_cls, requests, store, first_attempt)
            return self.finish_items(context, manifests)
        manifest = store.read_manifest(
            self.flow_run(context), self.step_name, str(self.flow_task_id)
        )
        if manifest is None:
            raise StepError(
                f"Step *{self.step_name}* (task {self.flow_task_id}) finished remotely but left no "
                f"record in {store.root}; check that the container writes to the same datastore."
            )
        return self.finish_task(context, manifest)
