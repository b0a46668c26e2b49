"""BatchGangOperator against moto_server and the local Batch runner: a gang as one multi-node
parallel job whose nodes meet at the main node's address, and Fargate queues refused."""

from __future__ import annotations

import importlib.util
import logging
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from provider.dag import gang_operator_for
from provider.datastore import FlowDataStore, storage_for
from provider.exceptions import StepError
from provider.operators.batch_gang import BatchGangOperator, gang_definition_body
from provider.runtime.request import TaskRequest
from provider.runtime.run import run_task

FLOW = Path(__file__).resolve().parents[1] / "flows" / "gang_flow.py"


def _gang_flow() -> type:
    """GangFlow, imported under its own name (load_flow_class would turn to_dag() off for the
    whole test session)."""
    name = "airstep_test_operators_gang_flow"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FLOW)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name].GangFlow


GangFlow = _gang_flow()


class _TI:
    dag_id, task_id, map_index, try_number = "GangFlow", "train", -1, 1  # the flow's own DAG

    def xcom_push(self, *args, **kwargs):
        pass


def context(run_id: str) -> dict:
    return {"ti": _TI(), "run_id": run_id, "params": {}, "dag": None}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_batch_places_a_gang_in_one_multi_node_job_with_an_open_node_range():
    node = GangFlow.graph()["train"]
    assert gang_operator_for("batch", node) is BatchGangOperator
    body = gang_definition_body(node, "GangFlow")
    assert body["type"] == "multinode" and "containerProperties" not in body
    (node_range,) = body["nodeProperties"]["nodeRangeProperties"]
    assert node_range["targetNodes"] == "0:"
    assert node_range["container"]["command"][:3] == ["python", "-m", "provider.runtime"]


@pytest.mark.slow
def test_a_gang_of_three_nodes_meets_at_the_main_node_and_the_join_sees_every_node(
    monkeypatch, s3_bucket, batch_env, local_batch_runner, fast_batch_polling, moto_server, capfd
):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    store = FlowDataStore("GangFlow", storage_for(s3_bucket))
    run_task(GangFlow, TaskRequest(run_id="mnp", step="start", params={"nodes": 3}), store)
    op = BatchGangOperator(
        task_id="train",
        flow_cls=GangFlow,
        step_name="train",
        job_queue=batch_env,
        main_port=free_port(),
    )
    assert op.execute(context("mnp")) == ["0", "1", "2"]

    for i in range(3):
        node = store.task("mnp", "train", str(i))
        assert node.load("seen") == [0, 1, 2] and node.load("rank") == i
    join = run_task(GangFlow, TaskRequest(run_id="mnp", step="join"), store)
    assert store.task("mnp", "join", join.task_id).load("ranks") == [0, 1, 2]
    # every node's CloudWatch stream reached the task log, each line under its node's index
    logged = capfd.readouterr()
    for i in range(3):  # "[node I] [<CloudWatch timestamp>] <the node's line>"
        line = rf"\[node {i}\] \[[^]]+\] node {i} of 3 meets the others"
        assert re.search(line, logged.out + logged.err)

    (job,) = local_batch_runner.jobs
    assert job.num_nodes == 3 and sorted(job.nodes) == [0, 1, 2]
    overrides = job.request["nodeOverrides"]
    assert overrides["numNodes"] == 3
    (node_override,) = overrides["nodePropertyOverrides"]
    command = node_override["containerOverrides"]["command"]
    assert command[-2:] == ["--num-nodes=3", f"--main-port={op.main_port}"]  # one argument each
    assert not any(a.startswith(("--node-index", "--main-addr")) for a in command)
    (described,) = moto_server.client("batch").describe_jobs(jobs=[job.job_id])["jobs"]
    (node_range,) = described["nodeProperties"]["nodeRangeProperties"]  # the definition's
    assert node_range["targetNodes"] == "0:"


@pytest.mark.slow
def test_a_fargate_queue_is_refused_before_anything_is_submitted(
    monkeypatch, s3_bucket, moto_server, local_batch_runner
):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    batch, ec2 = moto_server.client("batch"), moto_server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=uuid.uuid4().hex, Description="d", VpcId=vpc)
    suffix = uuid.uuid4().hex[:10]
    iam = moto_server.client("iam")
    role = iam.create_role(RoleName=f"fargate-{suffix}", AssumeRolePolicyDocument="{}")
    ce = batch.create_compute_environment(
        computeEnvironmentName=f"fargate-{suffix}",
        type="MANAGED",
        state="ENABLED",
        serviceRole=role["Role"]["Arn"],
        computeResources={
            "type": "FARGATE",
            "maxvCpus": 4,
            "subnets": [subnet],
            "securityGroupIds": [group["GroupId"]],
        },
    )
    queue = f"fargate-{suffix}"
    batch.create_job_queue(
        jobQueueName=queue,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
    )
    op = BatchGangOperator(task_id="train", flow_cls=GangFlow, step_name="train", job_queue=queue)
    with pytest.raises(StepError) as raised:
        op.execute(context("fargate"))
    message = str(raised.value)
    assert f"job queue {queue!r} has only Fargate compute environments" in message
    assert "Step *train*" in message and "EC2 compute environment" in message
    assert local_batch_runner.jobs == []


@pytest.mark.slow
def test_a_failing_node_other_than_the_main_one_stops_the_gang_quickly(
    monkeypatch, s3_bucket, batch_env, local_batch_runner, fast_batch_polling, capfd
):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    # node 1 fails before it connects: the main node would wait for it for ever
    monkeypatch.setenv("GANG_FAIL_NODE", "1")
    store = FlowDataStore("GangFlow", storage_for(s3_bucket))
    run_task(GangFlow, TaskRequest(run_id="mnp-fail", step="start", params={"nodes": 2}), store)
    op = BatchGangOperator(
        task_id="train",
        flow_cls=GangFlow,
        step_name="train",
        job_queue=batch_env,
        main_port=free_port(),
        node_poll_interval=0.2,
        submit_job_timeout=20,
    )
    began = time.monotonic()
    with pytest.raises(StepError) as raised:
        op.execute(context("mnp-fail"))
    assert time.monotonic() - began < 60
    message = str(raised.value)
    assert "Step *train*: node 1 failed (exit code 1)" in message
    logged = capfd.readouterr()
    assert re.search(r"\[node 1\] \[[^]]+\] RuntimeError: node 1 breaks", logged.out)
    (job,) = local_batch_runner.jobs
    assert job.status == "FAILED"
    assert store.read_attempt("mnp-fail", "train", "1", 0).status == "failed"


@pytest.mark.slow
def test_on_kill_terminates_the_job_and_every_node(
    monkeypatch, s3_bucket, batch_env, local_batch_runner, fast_batch_polling
):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    monkeypatch.setenv("GANG_HOLD", "1")  # every node waits 300 s
    store = FlowDataStore("GangFlow", storage_for(s3_bucket))
    run_task(GangFlow, TaskRequest(run_id="mnp-kill", step="start", params={"nodes": 2}), store)
    op = BatchGangOperator(
        task_id="train", flow_cls=GangFlow, step_name="train", job_queue=batch_env
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context("mnp-kill"))
        except BaseException as exc:  # noqa: BLE001 - the killed task must fail
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.time() + 60  # until both nodes run the step
    while time.time() < deadline and not all(
        store.read_attempt("mnp-kill", "train", str(i), 0) for i in range(2)
    ):
        time.sleep(0.1)
    began = time.time()
    op.on_kill()
    thread.join(timeout=60)
    assert not thread.is_alive() and errors
    (job,) = local_batch_runner.jobs
    assert job.status == "FAILED" and time.time() - began < 30
    assert sorted(job.nodes) == [0, 1]  # both node processes have ended


class _Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def log(self, level: int, msg: str, *args) -> None:
        self.lines.append((level, msg % args))

    def warning(self, msg: str, *args) -> None:
        self.log(30, msg, *args)


def test_node_log_lines_keep_their_text_and_level_under_the_node_prefix():
    from provider.operators.batch_gang import _NodeLogger

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[tuple[int, str]] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append((record.levelno, record.getMessage()))

    logger = logging.getLogger(f"airstep.test.{uuid.uuid4().hex}")
    logger.propagate, records = False, Records()
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    node = _NodeLogger(logger, 2)
    node.log(40, "[2026-01-01 00:00:00,000] 100% done, %s left")  # no arguments: no formatting
    node.info("Cannot find log stream %s yet", "s#2")
    assert records.lines == [
        (40, "[node 2] [2026-01-01 00:00:00,000] 100% done, %s left"),
        (20, "[node 2] Cannot find log stream s#2 yet"),
    ]


def test_nodes_that_log_elsewhere_than_cloudwatch_are_not_followed():
    from provider.operators.batch_gang import NodeLogs

    class Hook:
        conn_region_name = "us-east-1"

        def get_job_description(self, job_id):
            container = {"logConfiguration": {"logDriver": "splunk", "options": {}}}
            return {"nodeProperties": {"nodeRangeProperties": [{"container": container}]}}

    class Operator:
        hook, log, step_name = Hook(), _Recorder(), "train"

    logs = NodeLogs(Operator(), "job-1", 3)  # type: ignore[arg-type]
    logs.start()
    logs.stop()
    logs.join()
    assert logs.fetchers == {}
    ((level, message),) = Operator.log.lines
    assert level == 30 and "Step *train*: its nodes log with splunk" in message
