"""``StepOperator``: run one task of a flow inside the Airflow worker.

The operator is a thin adapter. It turns Airflow's identity of a task instance
(run id, map index via the templated ``flow_task_id``, try number) into a
:class:`~provider.runtime.task.TaskRequest` and calls the same
:func:`~provider.runtime.task.run_task` that the local executor and the step
containers call. Artifacts go to the datastore; the XCom return value is a
pointer only (task ids), never data.

A @parallel step is one task that runs every node of its gang here
(:func:`~provider.runtime.gang.run_gang`, through ``run_task``); its
``flow_task_id`` is the gang's node 0.

``ForeachFanoutOperator`` is the small helper task that a nested foreach needs:
it concatenates the child task ids of every task of a mapped foreach split into
one flat list that the inner foreach body is mapped over.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowTaskTimeout

from provider.datastore.flowstore import FlowDataStore, path_for, task_id_for
from provider.datastore.records import TaskManifest
from provider.datastore.storage import Storage, default_root, storage_for
from provider.exceptions import ForeachError, ForeachTooWide
from provider.flow.distributed import PARALLEL_VAR
from provider.runtime.task import TaskRequest, run_task

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


def airstep_setting(option: str, env_var: str | None = None) -> str | None:
    """``[airstep] <option>`` when set in Airflow's config, else ``$<env_var>``, else None.

    Airflow's config is airflow.cfg or ``AIRFLOW__AIRSTEP__<OPTION>``; the plain
    ``AIRSTEP_*`` variables are the ones local runs already use.
    """
    value = conf.get("airstep", option, fallback=None)
    if value not in (None, ""):
        return value
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    return None


def worker_storage(root: str | None) -> Storage:
    """The storage behind a root, as the worker reaches it: for ``s3://`` roots with the
    Airflow AWS connection named by ``[airstep] aws_conn_id`` (endpoint, region and
    credentials), else with boto3's usual sources (environment, instance role)."""
    root = root or default_root()
    conn_id = airstep_setting("aws_conn_id")
    if root.startswith("s3://") and conn_id:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from provider.datastore.s3 import S3Storage

        return S3Storage(root, client=S3Hook(aws_conn_id=conn_id).get_conn())
    return storage_for(root)


def aws_connection_env() -> dict[str, str]:
    """``AWS_ENDPOINT_URL`` / ``AWS_DEFAULT_REGION`` of ``[airstep] aws_conn_id``, for steps
    that run elsewhere (their credentials come from their own role or a secret)."""
    conn_id = airstep_setting("aws_conn_id")
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


class StepOperator(BaseOperator):
    """Run one step of a flow in this worker, through the airstep runtime.

    The task's artifacts are written to the datastore (``[airstep] datastore_root``,
    else ``$AIRSTEP_DATASTORE_ROOT``, else ``~/.airstep``). The return value, pushed
    to XCom, is a pointer: the task's own airstep task id (``"3.5"``), or for a
    foreach split the list of its children's task ids (``["3.0", "3.1"]``).

    :param flow_cls: the :class:`~provider.FlowSpec` subclass the step belongs to.
    :param step_name: the name of the step to run.
    :param flow_task_id: the airstep task id to run: the foreach index path,
        ``"0"`` outside any foreach. Mapped steps receive it from their upstream's
        XCom. (templated)
    """

    template_fields: Sequence[str] = ("flow_task_id",)
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        flow_cls: type[FlowSpec],
        step_name: str,
        flow_task_id: str = "0",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_cls = flow_cls
        self.step_name = step_name
        self.flow_task_id = flow_task_id

    def execute(self, context: Context) -> str | list[str]:
        ti = context["ti"]
        task_id = str(self.flow_task_id)
        # shown as the map index if the step fails before its item label is known
        context["label"] = f"task {task_id}"  # type: ignore[typeddict-unknown-key]
        request = TaskRequest(
            run_id=context["run_id"],
            step=self.step_name,
            task_id=task_id,
            attempt=ti.try_number - 1,
            params=self._start_params(context) if self.step_name == "start" else None,
            max_num_splits=max_map_length(),
            enforce_timeout=False,  # execution_timeout does it
            timeout_error=AirflowTaskTimeout,  # a BaseException: @catch must be told
        )
        try:
            manifest = run_task(self.flow_cls, request, self.datastore())
        except ForeachTooWide as exc:
            raise ForeachError(f"{exc} {SPLIT_LIMIT_FIX}") from None
        label = foreach_label(manifest)
        if label:
            context["label"] = label  # type: ignore[typeddict-unknown-key]
        return xcom_pointer(self.flow_cls, manifest)

    def datastore(self) -> FlowDataStore:
        root = airstep_setting("datastore_root")  # None: $AIRSTEP_DATASTORE_ROOT or ~/.airstep
        return FlowDataStore(self.flow_cls.__name__, worker_storage(root))

    def _start_params(self, context: Context) -> dict[str, Any]:
        given = context["params"]
        names = [p.name for p in self.flow_cls.parameters().values()]
        return {name: given[name] for name in names if name in given}


class ForeachFanoutOperator(BaseOperator):
    """Flatten the child task ids of a mapped foreach split into one list.

    Airflow does not flatten when a mapped task maps over another mapped task's
    lists, so the inner body of a nested foreach is mapped over this task's
    output instead. The lists are concatenated in map-index order, which is the
    order of the split's own task ids.

    :param split_step: the foreach step whose children are collected (for messages).
    :param child_lists: the split's XCom output: one list of task ids per split
        task. (templated)
    """

    template_fields: Sequence[str] = ("child_lists",)
    ui_color = "#f4f4f4"

    def __init__(self, *, split_step: str, child_lists: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.split_step = split_step
        self.child_lists = child_lists

    def execute(self, context: Context) -> list[str]:
        lists = list(self.child_lists[:])  # one request, in map-index order
        flat = [task_id for ids in lists for task_id in ids]
        limit = max_map_length()
        if len(flat) > limit:
            raise ForeachError(
                f"Foreach in step *{self.split_step}* yielded {len(flat)} child steps in total "
                f"(over its {len(lists)} tasks), more than the maximum of {limit}. "
                f"{SPLIT_LIMIT_FIX}"
            )
        return flat
