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
