"""What every step operator does before and after it runs a step.

:class:`StepOperatorMixin` turns Airflow's identity of a task instance (run id,
the templated ``flow_task_id``, try number, the run's params) into a
:class:`~provider.runtime.task.TaskRequest`, shows a placeholder map index label
until the step has run, and afterwards turns the task's manifest into the item
label and the XCom pointer. :class:`~provider.operators.step.StepOperator`,
:class:`~provider.operators.kubernetes.KubernetesStepOperator` and
:class:`~provider.operators.batch.BatchStepOperator` add only how they launch.

A chunk of a wide foreach (``flow_task_id`` a list of task ids) is one task
instance too: :meth:`StepOperatorMixin.start_items` gives one request per task,
the map index shows the items' range, and the XCom pointer is the tasks' pointers
concatenated (labels, pointers and how a foreach is grouped into chunks are
:mod:`provider.operators.pointers`).

The worker's view of the datastore (through ``[airstep] aws_conn_id``) lives here too,
and the run a DAG run is (:meth:`StepOperatorMixin.flow_run`): keyed by its DAG.

Timeouts: the runtime's ``@timeout`` alarm is the one clock for user code, in the
worker and in a container alike, so a caught timeout is always a
:class:`~provider.exceptions.StepTimeout`. Airflow's ``execution_timeout`` and the
platform deadlines (a pod's ``activeDeadlineSeconds``, a Batch job's
``attemptDurationSeconds``) are outer safety nets, :data:`TIMEOUT_MARGIN_SECONDS`
later; for a remote step Airflow's also waits for the step to start. A chunk
runs its tasks ``chunk_processes`` at a time, so its deadlines allow one per wave.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from provider.datastore.flowstore import FlowDataStore, path_for, task_id_for
from provider.datastore.ids import flow_run_id
from provider.datastore.records import RunRecord, TaskManifest
from provider.datastore.storage import Storage, default_root, storage_for
from provider.datastore.user import username
from provider.decorators.specs import kubernetes_spec
from provider.exceptions import DataStoreError
from provider.flow.graph import StepNode
from provider.flow.project import project_info
from provider.operators.card_link import push_task_pointer, with_card_link
from provider.operators.dag_deployment import deployment_of
from provider.operators.pointers import (
    chunk_label,
    chunk_pointer,
    foreach_label,
    foreach_width_limit,
    xcom_pointer,
)
from provider.runtime.chunk import chunk_processes
from provider.runtime.task import TaskRequest
from provider.runtime.topology import Path, on_chosen_path
from provider.settings import setting

if TYPE_CHECKING:
    from airflow.sdk import Context

    from provider.flow.spec import FlowSpec

#: how much later than a step's @timeout its outer deadlines fall
TIMEOUT_MARGIN_SECONDS = 60
#: how long a remote step may take to start (scheduling, image pull) unless
#: ``@kubernetes(startup_timeout=...)`` says
STARTUP_SECONDS = 120


def worker_storage(root: str | None = None) -> Storage:
    """The storage behind a root (default: the datastore root setting), as the worker reaches
    it: for ``s3://`` roots with the Airflow AWS connection named by ``[airstep] aws_conn_id``
    (endpoint, region and credentials), else with boto3's usual sources."""
    root = root or default_root()
    conn_id = setting("aws_conn_id")
    if root.startswith("s3://") and conn_id:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from provider.datastore.s3 import S3Storage

        return S3Storage(root, client=S3Hook(aws_conn_id=conn_id).get_conn())
    return storage_for(root)


def aws_connection_env() -> dict[str, str]:
    """``AWS_ENDPOINT_URL`` / ``AWS_DEFAULT_REGION`` of ``[airstep] aws_conn_id``, for steps
    that run elsewhere (their credentials come from their own role or a secret)."""
    conn_id = setting("aws_conn_id")
    if not conn_id:
        return {}
    from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook

    config = AwsGenericHook(aws_conn_id=conn_id, client_type="s3").conn_config
    env = {}
    if config.endpoint_url:
        env["AWS_ENDPOINT_URL"] = config.endpoint_url
    if config.region_name:
        env["AWS_DEFAULT_REGION"] = config.region_name
    return env


# -- deadlines ----------------------------------------------------------------------------------
def startup_seconds(node: StepNode) -> int:
    """How long the step may take to start remotely: its ``@kubernetes(startup_timeout)``."""
    return kubernetes_spec(node).startup_timeout or STARTUP_SECONDS


def platform_deadline(node: StepNode) -> int | None:
    """Seconds for a pod's ``activeDeadlineSeconds`` / a Batch job's ``attemptDurationSeconds``:
    the step's @timeout plus the margin; None without @timeout."""
    deco = node.decorators.get("timeout")
    if deco is None:
        return None
    return math.ceil(deco.total_seconds) + TIMEOUT_MARGIN_SECONDS


def execution_timeout(node: StepNode, remote: bool) -> timedelta | None:
    """Airflow's ``execution_timeout`` for the step: the platform deadline, plus the startup
    time for a remote step (Airflow's clock runs while the pod or job waits to start)."""
    seconds = platform_deadline(node)
    if seconds is None:
        return None
    return timedelta(seconds=seconds + (startup_seconds(node) if remote else 0))


class StepOperatorMixin:
    """Mixed into every step operator; expects ``flow_cls``, ``step_name``, ``flow_task_id``.

    ``execute`` calls :meth:`start_task` first and :meth:`finish_task` with the task's
    manifest once the step has run, wherever it ran.
    """

    flow_cls: type[FlowSpec]
    step_name: str
    #: a task id, or a chunk's task ids
    flow_task_id: str | list[str]

    #: True for operators whose step runs in a container (its startup counts in its deadline)
    runs_remotely: bool = False

    def pre_execute(self, context: Context) -> None:
        """A chunk's deadlines grow with it: its tasks run ``processes`` at a time, so
        Airflow's ``execution_timeout`` and the platform's deadline allow one @timeout (plus
        the margin) per wave of tasks, rather than one for the whole chunk."""
        chunk = self.chunk()
        node = self.flow_cls.graph()[self.step_name]
        deadline = platform_deadline(node)
        if chunk is not None and deadline is not None:
            processes = chunk_processes(self.flow_cls, self.step_name, remote=self.runs_remotely)
            seconds = deadline * math.ceil(len(chunk) / processes)
            self.scale_platform_deadline(seconds)
            startup = startup_seconds(node) if self.runs_remotely else 0
            self.execution_timeout = timedelta(seconds=seconds + startup)
        super().pre_execute(context)  # type: ignore[misc]

    def scale_platform_deadline(self, seconds: int) -> None:
        """Set the pod's or job's deadline for a chunk (nothing for a step in the worker)."""

    def chunk(self) -> list[str] | None:
        """The task ids this task instance runs when it runs a chunk, else None."""
        ids = self.flow_task_id
        return [str(task_id) for task_id in ids] if isinstance(ids, list | tuple) else None

    def start_items(self, context: Context) -> tuple[list[TaskRequest], int]:
        """The tasks of this chunk's task instance, and the first attempt of its current
        series of tries: items that succeeded since then are not run again (a retry), but
        a cleared task instance starts a new series (Airflow's first try is ``max_tries -
        retries + 1``) and runs every item again. The map index shows the items' range."""
        task_ids = self.chunk()
        assert task_ids, "start_items is for a chunk"
        context["label"] = chunk_label(  # type: ignore[typeddict-unknown-key]
            self.flow_cls.graph(), self.step_name, task_ids
        )
        ti = context["ti"]
        retries = int(getattr(self, "retries", 0) or 0)
        first_try = max(1, min(ti.try_number, int(ti.max_tries or 0) - retries + 1))
        # inside a foreach, a switch chooses per item: the chunk runs the items it chose
        run_id = self.flow_run(context)
        chosen = [t for t in task_ids if self.not_chosen(run_id, t) is None]
        if not chosen:
            raise AirflowSkipException(
                f"Step *{self.step_name}* does not run for any task of this chunk "
                f"({context['label']}): no switch case leads to them."  # type: ignore[typeddict-item]
            )
        requests = [
            TaskRequest(
                run_id=run_id,
                step=self.step_name,
                task_id=task_id,
                attempt=ti.try_number - 1,
                max_num_splits=foreach_width_limit(),
                extra_env=self.task_env(),
            )
            for task_id in chosen
        ]
        with_card_link(self, self.flow_cls.graph()[self.step_name])
        push_task_pointer(self, context, requests)
        return requests, first_try - 1

    def task_env(self) -> dict[str, str]:
        """Environment every task of this DAG gets: its @project branch, so the step names
        it wherever it runs."""
        return dict(deployment_of(self.get_dag()).task_env)

    def finish_items(self, context: Context, manifests: Sequence[TaskManifest]) -> list[str]:
        """After every task of the chunk succeeded: the pointer to push to XCom."""
        return chunk_pointer(self.flow_cls, manifests)

    def flow_run(self, context: Context) -> str:
        """The flow's run id of this DAG run (keyed by the DAG: :func:`flow_run_id`), checked
        against the run record: the ``start`` task creates the record, naming this DAG, and
        every task refuses a run that another DAG (or a local run) made."""
        dag_id = context["ti"].dag_id
        run_id = flow_run_id(self.flow_cls.__name__, dag_id, context["run_id"])
        store = self.datastore()
        if self.step_name == "start":
            project = project_info(self.flow_cls, environ=self.task_env())
            claim = RunRecord(
                flow=self.flow_cls.__name__,
                run_id=run_id,
                created_at=time.time(),
                user=username(),
                dag_id=dag_id,
                project=project.project_name if project else None,
                branch=project.branch_name if project else None,
            )
            store.claim_run(claim)
            return run_id
        stored = store.read_run(run_id)
        # a record without a DAG is a local run's, or an Airflow run's from before runs named
        # their DAG (which continues as it began)
        if (
            stored is not None
            and stored.dag_id != dag_id
            and (stored.dag_id or stored.executor == "local")
        ):
            owner = f"DAG {stored.dag_id}" if stored.dag_id else "a local run"
            raise DataStoreError(
                f"Run {self.flow_cls.__name__}/{run_id} in {store.root} was made by {owner}, "
                f"not by DAG {dag_id}; step *{self.step_name}* will not run in it. Trigger "
                "the DAG with another run_id."
            )
        return run_id

    def datastore(self) -> FlowDataStore:
        """The flow's datastore at the datastore root setting, as this worker reaches it."""
        return FlowDataStore(self.flow_cls.__name__, worker_storage())

    def start_task(self, context: Context) -> TaskRequest:
        """The task to run for this task instance; until it has run, the map index shows
        its task id (also what stays when the step fails)."""
        task_id = str(self.flow_task_id)
        context["label"] = f"task {task_id}"  # type: ignore[typeddict-unknown-key]
        run_id = self.flow_run(context)
        self.skip_unless_chosen(run_id, task_id)
        request = TaskRequest(
            run_id=run_id,
            step=self.step_name,
            task_id=task_id,
            attempt=context["ti"].try_number - 1,
            params=self._start_params(context) if self.step_name == "start" else None,
            max_num_splits=foreach_width_limit(),
            extra_env=self.task_env(),
        )
        with_card_link(self, self.flow_cls.graph()[self.step_name])
        push_task_pointer(self, context, [request])
        return request

    def skip_unless_chosen(self, run_id: str, task_id: str) -> None:
        """Skip this task instance (Airflow's skipped state) when no switch case leads to it.

        Only steps on a case of a switch, or where cases meet, are checked: each reads the
        manifests of its inputs, so a task inside a foreach is skipped for its own item (map
        index) only, whatever operator runs it. Downstream steps skip in turn (their
        trigger rule, ``none_failed_min_one_success``, skips a task whose inputs all skipped).
        """
        choices = self.not_chosen(run_id, task_id)
        if choices is not None:
            raise AirflowSkipException(
                f"Step *{self.step_name}* (task {task_id}) does not run in this run: {choices}"
            )

    def not_chosen(self, run_id: str, task_id: str) -> str | None:
        """None if the switches of this run lead to the task (or the step has no switch
        before it); else what they chose instead, in words."""
        graph = self.flow_cls.graph()
        if not graph.may_skip(self.step_name):
            return None
        store = self.datastore()
        path = path_for(task_id, graph.foreach_depth(self.step_name))
        manifests: dict[tuple[str, Path], TaskManifest | None] = {}

        def manifest(step: str, at: Path) -> TaskManifest | None:
            if (step, at) not in manifests:
                manifests[step, at] = store.read_manifest(run_id, step, task_id_for(at))
            return manifests[step, at]

        def num_splits(split: str, at: Path) -> int:
            found = manifest(split, at)
            return found.foreach.num_splits if found and found.foreach else 0

        def chosen_by(switch: str, at: Path) -> str | None:
            found = manifest(switch, at)
            return found.chosen if found else None

        if on_chosen_path(graph, self.step_name, path, num_splits, chosen_by):
            return None
        choices = [
            f"*{step}* chose *{found.chosen}*"
            for (step, _), found in manifests.items()
            if found is not None and found.chosen
        ]
        return f"switch {', '.join(choices)}." if choices else "no case of a switch leads to it."

    def finish_task(self, context: Context, manifest: TaskManifest) -> str | list[str]:
        """The map index label from the manifest, and the pointer to push to XCom."""
        label = foreach_label(manifest)
        if label:
            context["label"] = label  # type: ignore[typeddict-unknown-key]
        return xcom_pointer(self.flow_cls, manifest)

    def _start_params(self, context: Context) -> dict[str, Any]:
        given = context["params"]
        names = [p.name for p in self.flow_cls.parameters().values()]
        return {name: given[name] for name in names if name in given}
