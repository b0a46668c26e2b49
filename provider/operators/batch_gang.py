"""``BatchGangOperator``: a whole gang (a ``@parallel`` step) as one AWS Batch multi-node job.

The step's job definition is a ``multinode`` one: a single node range with an open upper
bound (``targetNodes: "0:"``) holding the same container the single-job operator uses, so
the node count can be set at submission. Each task submits the job with ``nodeOverrides``:
``numNodes`` = the gang's size and, for every node, the runtime command with
``--num-nodes=`` and ``--main-port=``. AWS Batch gives each node ``AWS_BATCH_JOB_NODE_INDEX``
and the other nodes ``AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS``, the main node's
address, which the runtime reads. Waiting and ``on_kill`` (terminating the job, all its
nodes with it) are the provider's ``BatchOperator``'s. Each node logs to a CloudWatch stream
of its own (``container.logStreamName`` of ``<job id>#<i>``): :class:`NodeLogs` follows every
node's stream with the provider's ``AwsTaskLogFetcher``, in place of the main node's alone,
so every node's lines reach the task log prefixed ``[node I]``. The job's status is the main
node's, and AWS Batch does nothing when another node fails; so the operator also watches
the other nodes (``DescribeJobs`` of ``<job id>#<i>``) and terminates the job as soon as
one of them has failed, naming it in the step's error.

AWS Batch runs multi-node jobs on EC2 compute environments only: a queue whose compute
environments are Fargate ones is refused before anything is submitted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.batch import BatchOperator
from airflow.providers.amazon.aws.utils.task_log_fetcher import AwsTaskLogFetcher

from provider.datastore.flowstore import path_for
from provider.exceptions import StepError
from provider.flow.distributed import DEFAULT_MAIN_PORT
from provider.operators.batch import BatchStepOperator, job_definition_body, resource_requirements
from provider.runtime.gang import gang_size

if TYPE_CHECKING:
    from airflow.sdk import Context

    from provider.flow.graph import StepNode
    from provider.flow.spec import FlowSpec

#: the node count registered in the definition; every submission overrides it
DEFINITION_NUM_NODES = 2
FARGATE = ("FARGATE", "FARGATE_SPOT")
#: seconds between looks for the log streams of nodes that have started
NODE_LOGS_POLL_SECONDS = 2.0


def gang_definition_body(node: StepNode, flow_name: str) -> dict[str, Any]:
    """``RegisterJobDefinition`` arguments (without the name) of a multi-node job whose
    single node range, ``"0:"``, runs the step's container on every node."""
    body = job_definition_body(node, flow_name)
    container = body.pop("containerProperties")
    body["type"] = "multinode"
    body["nodeProperties"] = {
        "numNodes": DEFINITION_NUM_NODES,
        "mainNode": 0,
        "nodeRangeProperties": [{"targetNodes": "0:", "container": container}],
    }
    return body


class BatchGangOperator(BatchStepOperator):
    """Run every node of a @parallel step in one AWS Batch multi-node parallel job.

    :param flow_cls: the :class:`~provider.FlowSpec` subclass the step belongs to.
    :param step_name: the @parallel step; its ``@batch`` / ``@resources`` give each node.
    :param flow_task_id: the id of the gang's node 0 (``"0"``, ``"3.0"``). (templated)
    :param main_port: the port the main node listens on (``MASTER_PORT``).
    :param kwargs: any other ``BatchOperator`` argument (``aws_conn_id``, ``region_name``...).
    """

    remote_kind = "AWS Batch multi-node job"

    def __init__(
        self,
        *,
        flow_cls: type[FlowSpec],
        step_name: str,
        flow_task_id: str = "0",
        main_port: int = DEFAULT_MAIN_PORT,
        node_poll_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            flow_cls=flow_cls, step_name=step_name, flow_task_id=flow_task_id, **kwargs
        )
        self.main_port = main_port
        self.node_poll_interval = node_poll_interval
        self.failed_node: str | None = None

    def definition_body(self) -> dict[str, Any]:
        return gang_definition_body(self.node, self.flow_cls.__name__)

    def refuse_fargate(self) -> None:
        """Multi-node jobs need EC2: refuse a queue that only has Fargate behind it."""
        client = self.hook.client
        queues = client.describe_job_queues(jobQueues=[self.job_queue])["jobQueues"]
        arns = [c["computeEnvironment"] for q in queues for c in q["computeEnvironmentOrder"]]
        if not arns:
            return
        envs = client.describe_compute_environments(computeEnvironments=arns)
        kinds = {(e.get("computeResources") or {}).get("type") for e in envs["computeEnvironments"]}
        if kinds and kinds <= set(FARGATE):
            raise StepError(
                f"Step *{self.step_name}* is a @parallel step on AWS Batch, which runs multi-node "
                f"jobs on EC2 only, but job queue {self.job_queue!r} has only Fargate compute "
                "environments; give @batch(queue=...) a queue with an EC2 compute environment, "
                "or run the gang in the Airflow worker with [airstep] local_override = True."
            )

    def execute(self, context: Context) -> Any:
        if not self.job_queue:
            raise ValueError(
                f"Step *{self.step_name}* runs on AWS Batch but names no job queue; give "
                "@batch(queue='my-queue') or set [airstep] batch_queue."
            )
        self.refuse_fargate()
        command, env = self.runtime_request(context)
        graph = self.flow_cls.graph()
        path = path_for(str(self.flow_task_id), graph.foreach_depth(self.step_name))
        size = gang_size(graph, self.node, self.datastore(), self.flow_run(context), path)
        self.job_definition = self.ensure_job_definition()
        self.container_overrides = None
        # every node runs the same command; Batch gives each its index and the main's address
        argv = command.node(num_nodes=size, main_port=self.main_port).to_argv("python")
        extra_env = self.hand_off_secrets(context)  # @secrets: a reference for every node
        env = {**env, **extra_env}
        self.node_overrides = {
            "numNodes": size,
            "nodePropertyOverrides": [
                {
                    "targetNodes": "0:",
                    "containerOverrides": {
                        "command": argv,
                        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
                        "resourceRequirements": resource_requirements(self.node),
                    },
                }
            ],
        }
        self.log.info(
            "Step *%s*: a gang of %d node(s) in one AWS Batch multi-node job.", self.step_name, size
        )
        self.job_id = None  # a retry submits a new job
        self.failed_node = None
        done = threading.Event()
        watcher = threading.Thread(target=self._watch_nodes, args=(size, done), daemon=True)
        watcher.start()
        try:
            BatchOperator.execute(self, context)
        except Exception as exc:
            if self.failed_node:
                raise StepError(
                    f"Step *{self.step_name}*: {self.failed_node}, so its multi-node job "
                    f"{self.job_id} was terminated with every other node; see that node's log "
                    "above ([node I] lines) for its error, fix it and retry."
                ) from exc
            raise
        finally:
            done.set()
            watcher.join()
            self.delete_handoff()
        return self.finish_remote_task(context)

    def _get_batch_log_fetcher(self, job_id: str) -> NodeLogs | None:  # type: ignore[override]
        """Every node's log, not the main node's alone (the hook starts, stops and joins it)."""
        if not self.node_overrides:
            return None
        return NodeLogs(self, job_id, int(self.node_overrides["numNodes"]))

    def _watch_nodes(self, size: int, done: threading.Event) -> None:
        """Terminate the job when a node other than the main one fails: AWS Batch ends a
        multi-node job only when its main node exits, and the main node would wait for the
        failed one."""
        while size > 1 and not done.wait(self.node_poll_interval):
            if not self.job_id:
                continue
            nodes = [f"{self.job_id}#{i}" for i in range(1, size)]
            try:
                described = self.hook.client.describe_jobs(jobs=nodes)["jobs"]
            except Exception as exc:  # the job's own wait reports what matters
                self.log.warning("Step *%s*: could not describe the nodes: %s", self.step_name, exc)
                continue
            for node in described:
                if node.get("status") != "FAILED":
                    continue
                index = (node.get("nodeDetails") or {}).get("nodeIndex", node["jobId"])
                code = (node.get("container") or {}).get("exitCode")
                self.failed_node = f"node {index} failed (exit code {code})"
                self.log.error(
                    "Step *%s*: %s; stopping the gang.", self.step_name, self.failed_node
                )
                self.hook.client.terminate_job(
                    jobId=self.job_id, reason=f"airstep: {self.failed_node}"
                )
                return


class _NodeLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The operator's logger, every message prefixed by a node index."""

    def __init__(self, log: Any, index: int) -> None:
        super().__init__(log, {"node_index": index})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return f"[node {self.extra['node_index']}] {msg}", kwargs  # type: ignore[index]


class NodeLogs:
    """Copy every node's CloudWatch log stream into the task log, as ``[node I]`` lines.

    Used where the provider's ``BatchOperator`` uses one ``AwsTaskLogFetcher`` (``start``,
    then ``stop`` and ``join`` once the job has ended): a node's stream is found by describing
    ``<job id>#<i>``, and followed by an ``AwsTaskLogFetcher`` from then on; ``stop`` looks
    once more, so that the streams of nodes that ran briefly are read too, and each fetcher
    reads what is left before it ends.
    """

    def __init__(self, operator: BatchGangOperator, job_id: str, size: int) -> None:
        self.operator = operator
        self.job_id = job_id
        self.size = size
        self.fetchers: dict[int, AwsTaskLogFetcher] = {}
        self._stopped = threading.Event()
        self._finder = threading.Thread(target=self._find_streams, daemon=True)
        self._where: tuple[str, str | None] | None = None

    def start(self) -> None:
        self._finder.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._finder.is_alive():
            self._finder.join()
        self._look()
        for fetcher in self.fetchers.values():
            fetcher.stop()

    def join(self, timeout: float | None = None) -> None:
        for fetcher in self.fetchers.values():
            fetcher.join(timeout)

    def _find_streams(self) -> None:
        while len(self.fetchers) < self.size and not self._stopped.is_set():
            self._look()
            self._stopped.wait(NODE_LOGS_POLL_SECONDS)

    def _log_group(self) -> tuple[str, str | None] | None:
        """The job's awslogs group and region, None when it logs elsewhere."""
        if self._where is None:
            hook = self.operator.hook
            job = hook.get_job_description(self.job_id)
            ranges = (job.get("nodeProperties") or {}).get("nodeRangeProperties") or [{}]
            config = (ranges[0].get("container") or {}).get("logConfiguration") or {}
            if config.get("logDriver", "awslogs") != "awslogs":
                self.operator.log.warning(
                    "Step *%s*: its nodes log with %s, not to CloudWatch: their logs are not "
                    "copied into the task log.",
                    self.operator.step_name,
                    config.get("logDriver"),
                )
                self.size = 0  # nothing to follow
                return None
            options = config.get("options") or {}
            self._where = (
                options.get("awslogs-group", "/aws/batch/job"),
                options.get("awslogs-region", hook.conn_region_name),
            )
        return self._where

    def _look(self) -> None:
        """Start following the streams of the nodes that have one now."""
        missing = [i for i in range(self.size) if i not in self.fetchers]
        if not missing:
            return
        operator = self.operator
        try:
            where = self._log_group()
            if where is None:
                return
            nodes = [f"{self.job_id}#{i}" for i in missing]
            described = operator.hook.client.describe_jobs(jobs=nodes)["jobs"]
        except Exception as exc:  # a log is only a copy: the job's status decides
            operator.log.warning(
                "Step *%s*: could not find the nodes' logs: %s", operator.step_name, exc
            )
            return
        for node in described:
            stream = (node.get("container") or {}).get("logStreamName")
            index = (node.get("nodeDetails") or {}).get("nodeIndex")
            if stream is None or index is None or index in self.fetchers:
                continue
            fetcher = AwsTaskLogFetcher(
                aws_conn_id=operator.aws_conn_id,
                region_name=where[1],
                log_group=where[0],
                log_stream_name=stream,
                fetch_interval=operator.awslogs_fetch_interval,
                logger=_NodeLogger(operator.log, index),  # type: ignore[arg-type]
            )
            fetcher.daemon = True
            self.fetchers[index] = fetcher
            fetcher.start()
