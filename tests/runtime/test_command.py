"""The runtime's command line is one record: what a launcher builds is what the entrypoint reads."""

from __future__ import annotations

import dataclasses

from provider.runtime.command import RuntimeCommand


def test_every_field_survives_the_command_line():
    command = RuntimeCommand(
        flow_file="flow.py",
        run_id="-x1",  # looks like an option
        step="train",
        flow="TrainFlow",
        attempt=2,
        params={"rates": [0.1, 0.01], "name": "--not-an-option"},
        max_num_splits=7,
        datastore_root="s3://bucket/prefix",
        code_package="TrainFlow/code/abc.tar.gz",
        task_ids=("40", "41", "42"),
        first_attempt=1,
        processes=3,
        process_per_task=True,
        node_index=1,
        num_nodes=4,
        main_addr="job-0.job",
        main_port=29500,
    )
    argv = command.to_argv("python")
    assert argv[:3] == ["python", "-m", "provider.runtime"]
    assert "--run-id=-x1" in argv
    assert all(a.startswith("--") for a in argv[3:])  # every value rides with its option
    assert RuntimeCommand.from_argv(argv[3:]) == command
    node = dataclasses.replace(command, task_ids=(), task_id="3.0", first_attempt=0)  # a node
    assert RuntimeCommand.from_argv(node.to_argv()[3:]) == node


def test_defaults_are_left_off_and_read_back():
    command = RuntimeCommand(flow_file="/abs/flow.py", run_id="1700", step="start")
    argv = command.to_argv()
    assert not any(a.startswith(("--task-ids", "--node-index", "--params-json")) for a in argv)
    assert RuntimeCommand.from_argv(argv[3:]) == command
    assert dataclasses.replace(command, task_id="0") == command


def test_a_platform_s_gang_node_gets_what_every_node_shares_and_no_index():
    """A Kubernetes or Batch gang runs one command on every node: the platform numbers them."""
    command = RuntimeCommand(flow_file="flow.py", run_id="-r1", step="train", task_id="3.0")
    node = command.node(num_nodes=3, main_addr="job-0.job", main_port=29501)
    argv = node.to_argv()
    assert argv[-3:] == ["--num-nodes=3", "--main-addr=job-0.job", "--main-port=29501"]
    assert not any(a.startswith("--node-index") for a in argv)
    assert RuntimeCommand.from_argv(argv[3:]) == node
    batch = command.node(num_nodes=2, main_port=29500)  # Batch gives the main's address
    assert batch.to_argv()[-2:] == ["--num-nodes=2", "--main-port=29500"]


def identity(request):
    return (request.run_id, request.step, request.task_id, request.attempt, request.max_num_splits)


def test_the_local_executor_a_chunk_and_a_gang_node_ask_for_the_same_task(
    datastore, monkeypatch, tmp_path
):
    """Each launcher builds its command from the task's request: parsed back, every one asks
    for the task the local executor runs."""
    import os

    from provider.datastore import FlowDataStore
    from provider.flow.distributed import GangNode
    from provider.flow.loader import load_flow_class
    from provider.local.scheduler import LocalRun
    from provider.operators import step as step_operator
    from provider.runtime import nodes
    from provider.runtime.request import TaskRequest

    monkeypatch.setenv("AIRSTEP_IN_TASK", "1")  # loading the flow sets it: undone after
    flow_file = os.path.join(os.path.dirname(__file__), "..", "flows", "gang_flow.py")
    flow_cls = load_flow_class(flow_file, None)
    store = FlowDataStore(flow_cls.__name__)
    local = LocalRun(flow_cls, store=store, run_id="-r1", max_num_splits=7)._request(
        "train", (0,), 1
    )

    started: list[list[str]] = []
    monkeypatch.setattr(step_operator, "run_command", lambda argv, env: started.append(argv))
    request = TaskRequest(run_id="-r1", step="train", task_id="0", attempt=1, max_num_splits=7)
    step_operator._run_chunk_process(flow_cls, [request], store, 2, 0, {})
    gang = nodes.NodeProcesses(flow_cls, store, fork=False)
    node = GangNode(1, 2, "127.0.0.1", 29500, "0")
    started.append(gang._command(TaskRequest(**{**vars(request), "node": node})))

    chunk, node_argv = started
    assert RuntimeCommand.from_argv(chunk[3:]).task_ids == ("0",)
    for argv in (chunk, node_argv):
        assert "--run-id=-r1" in argv
        assert identity(RuntimeCommand.from_argv(argv[3:]).request()) == identity(local)


def test_a_pod_asks_for_the_task_the_local_executor_runs(datastore, monkeypatch):
    """The pod of a @kubernetes step, for the same task of the same run: its container's
    command asks for that task (its foreach limit is Airflow's, not the command line's)."""
    import os
    from types import SimpleNamespace

    from provider.datastore import FlowDataStore
    from provider.flow.loader import load_flow_class
    from provider.local.scheduler import LocalRun
    from provider.operators.kubernetes import KubernetesStepOperator

    monkeypatch.setenv("AIRSTEP_IN_TASK", "1")  # loading the flow sets it: undone after
    flow_file = os.path.join(os.path.dirname(__file__), "..", "flows", "gang_flow.py")
    flow_cls = load_flow_class(flow_file, None)
    store = FlowDataStore(flow_cls.__name__)
    local = LocalRun(flow_cls, store=store, run_id="-r1")._request("train", (0,), 1)
    # the remote operators want an s3:// root; the command reads the same identity
    monkeypatch.setattr(KubernetesStepOperator, "datastore", lambda self: store)
    pod = KubernetesStepOperator(task_id="train", flow_cls=flow_cls, step_name="train")
    ti = SimpleNamespace(dag_id=flow_cls.__name__, try_number=2, xcom_push=lambda **kw: None)
    argv = pod.runtime_command({"ti": ti, "run_id": "-r1", "params": {}})[0]
    assert argv[:3] == ["python", "-m", "provider.runtime"] and "--run-id=-r1" in argv
    asked = RuntimeCommand.from_argv(argv[3:]).request()
    assert identity(asked)[:4] == identity(local)[:4]
