"""What every step operator does before and after it runs a step.

:class:`StepOperatorMixin` turns Airflow's identity of a task instance (run id,
the templated ``flow_task_id``, try number, the run's params) into a
:class:`~provider.runtime.task.TaskRequest`, shows a placeholder map index label
until the step has run, and afterwards turns the task's manifest into the item
label and the XCom pointer. :class:`~provider.operators.step.StepOperator`,
:class:`~provider.operators.kubernetes.KubernetesStepOperator` and
:class:`~provider.operators.batch.BatchStepOperator` add only how they launch.

The Airflow side of the settings lives here too: the worker's view of the
datastore (through ``[airstep] aws_conn_id``) and ``[core] max_map_length``.

Timeouts: the runtime's ``@timeout`` alarm is the one clock for user code, in the
worker and in a container alike, so a caught timeout is always a
:class:`~provider.exceptions.StepTimeout`. Airflow's ``execution_timeout`` and the
platform deadlines (a pod's ``activeDeadlineSeconds``, a Batch job's
``attemptDurationSeconds``) are outer safety nets, :data:`TIMEOUT_MARGIN_SECONDS`
later; for a remote step Airflow's also waits for the step to start.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowSkipException

from provider.datastore.flowstore import FlowDataStore, path_for, task_id_for
from provider.datastore.records import TaskManifest
from provider.datastore.storage import Storage, default_root, storage_for
from provider.flow.distributed import PARALLEL_VAR
from provider.flow.graph import StepNode
from provider.operators.card_link import push_task_pointer, with_card_link
from provider.runtime.task import TaskRequest
from provider.runtime.topology import Path, on_chosen_path
from provider.settings import setting

if TYPE_CHECKING:
    from airflow.sdk import Context

    from provider.flow.spec import FlowSpec

#: how to get past ``[core] max_map_length``, named in the too-wide foreach error
SPLIT_LIMIT_FIX = (
    "Raise [core] max_map_length (AIRFLOW__CORE__MAX_MAP_LENGTH), or give each task a batch "
    "of several items."
)
#: Airflow stores a rendered map index in a String(250) column
MAX_LABEL = 250
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


def max_map_length() -> int:
    return conf.getint("core", "max_map_length", fallback=1024)


def foreach_label(manifest: TaskManifest) -> str | None:
    """The foreach item(s) a task ran for, e.g. ``rates[2]=0.03``; None outside a foreach.

    A gang's node index is left out: one Airflow task runs every node of a gang.
    """
    frames = [f for f in manifest.foreach_stack if f.var != PARALLEL_VAR]
    text = ", ".join(f"{f.var}[{f.index}]={f.label}" for f in frames)
    return text[:MAX_LABEL] or None


def xcom_pointer(flow_cls: type[FlowSpec], manifest: TaskManifest) -> str | list[str]:
    """What a step task pushes to XCom: task ids only, so its size never depends on the data.

    The task's own id (``"3.5"``); for a foreach split its children's ids; for the
    split that starts a gang, its node 0's id (``"3.0"``: what the @parallel task
    is mapped over); for a gang (node 0's manifest), every node's id.
    """
    graph = flow_cls.graph()
    path = path_for(manifest.task_id, graph.foreach_depth(manifest.step))
    if graph[manifest.step].is_parallel:
        num_nodes = manifest.foreach_stack[-1].num_splits
        return [task_id_for((*path[:-1], i)) for i in range(num_nodes)]
    if manifest.foreach is None:
        return manifest.task_id
    if graph[manifest.step].is_parallel_split:
        return task_id_for((*path, 0))
    return [task_id_for((*path, i)) for i in range(manifest.foreach.num_splits)]


# -- deadlines ----------------------------------------------------------------------------------
def startup_seconds(node: StepNode) -> int:
    """How long the step may take to start remotely: its ``@kubernetes(startup_timeout)``."""
    deco = node.decorators.get("kubernetes")
    return int((deco.attributes.get("startup_timeout") if deco else None) or STARTUP_SECONDS)


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
    flow_task_id: str

    def datastore(self) -> FlowDataStore:
        """The flow's datastore at the datastore root setting, as this worker reaches it."""
        return FlowDataStore(self.flow_cls.__name__, worker_storage())

    def start_task(self, context: Context) -> TaskRequest:
        """The task to run for this task instance; until it has run, the map index shows
        its task id (also what stays when the step fails)."""
        task_id = str(self.flow_task_id)
        context["label"] = f"task {task_id}"  # type: ignore[typeddict-unknown-key]
        self.skip_unless_chosen(context["run_id"], task_id)
        request = TaskRequest(
            run_id=context["run_id"],
            step=self.step_name,
            task_id=task_id,
            attempt=context["ti"].try_number - 1,
            params=self._start_params(context) if self.step_name == "start" else None,
            max_num_splits=max_map_length(),
            # the DAG's @project branch, so the step names it wherever it runs
            extra_env=dict(getattr(self.get_dag(), "airstep_task_env", None) or {}),  # type: ignore[attr-defined]
        )
        with_card_link(self, self.flow_cls.graph()[self.step_name])
        push_task_pointer(self, context, request)
        return request

    def skip_unless_chosen(self, run_id: str, task_id: str) -> None:
        """Skip this task instance (Airflow's skipped state) when no switch case leads to it.

        Only steps on a case of a switch, or where cases meet, are checked: each reads the
        manifests of its inputs, so a task inside a foreach is skipped for its own item (map
        index) only, whatever operator runs it. Downstream steps skip in turn (their
        trigger rule, ``none_failed_min_one_success``, skips a task whose inputs all skipped).
        """
        graph = self.flow_cls.graph()
        if not graph.may_skip(self.step_name):
            return
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
            return
        choices = [
            f"*{step}* chose *{found.chosen}*"
            for (step, _), found in manifests.items()
            if found is not None and found.chosen
        ]
        raise AirflowSkipException(
            f"Step *{self.step_name}* (task {task_id}) does not run in this run: "
            + (f"switch {', '.join(choices)}." if choices else "no case of a switch leads to it.")
        )

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
