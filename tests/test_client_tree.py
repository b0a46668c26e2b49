"""The client's tree, read over a real local run of tests/flows/tree_flow.py: parents,
path_components, a step's child and parent steps, a gang's control tasks, loglines,
``in task.data`` and ``current.task``.

Where a docstring says "Metaflow gave", that is what Metaflow 2.19.39's client read from
the same graph run with Metaflow (a local datastore and metadata).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import pytest
from helpers import run_flow

from provider import Flow, Run, Step, Task, current
from provider.client.running_task import running_task
from provider.exceptions import DataStoreError


@dataclass
class Tree:
    root: str
    run: Run


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Tree:
    tmp = tmp_path_factory.mktemp("tree")
    root = str(tmp / "datastore")
    id_file = tmp / "run-id"
    env = {"AIRSTEP_DATASTORE_ROOT": root}
    proc = run_flow("tree_flow.py", "run", "--run-id-file", str(id_file), env=env)
    assert proc.returncode == 0, proc.stderr
    return Tree(root, Run(f"TreeFlow/{id_file.read_text()}", root=root))


def names(steps: list[Step]) -> list[str]:
    return [s.id for s in steps]


def test_parents_go_up_to_the_flow_whose_parent_is_none(tree):
    """Metaflow gave: task.parent Step(.../start), step.parent Run(...), run.parent
    Flow('TreeFlow'), flow.parent None."""
    run = tree.run
    task = run["start"].task
    assert isinstance(task.parent, Step) and task.parent.pathspec == f"{run.pathspec}/start"
    assert isinstance(run["start"].parent, Run) and run["start"].parent.id == run.id
    flow = run.parent
    assert isinstance(flow, Flow) and flow.name == "TreeFlow" and flow.pathspec == "TreeFlow"
    assert flow.parent is None
    assert run.id in [r.id for r in flow.runs()]


def test_path_components_are_the_pathspecs_parts(tree):
    """Metaflow gave ['TreeFlow'], ['TreeFlow', RUN], ['TreeFlow', RUN, 'start'] and
    ['TreeFlow', RUN, 'start', TASK]."""
    run = tree.run
    assert run.parent.path_components == ["TreeFlow"]
    assert run.path_components == ["TreeFlow", run.id]
    assert run["start"].path_components == ["TreeFlow", run.id, "start"]
    assert run["gang"]["1"].path_components == ["TreeFlow", run.id, "gang", "1"]
    assert run["pair"]["1.0"].path_components == ["TreeFlow", run.id, "pair", "1.0"]


def test_child_steps_and_parent_steps_follow_the_graph(tree):
    """Metaflow gave Step objects: start's child_steps [a, b], pre's [gang], end's [];
    join's parent_steps [a, b], start's []."""
    run = tree.run
    assert names(run["start"].child_steps) == ["a", "b"]
    assert all(isinstance(s, Step) for s in run["start"].child_steps)
    assert names(run["pre"].child_steps) == ["gang"]
    assert names(run["gjoin"].child_steps) == ["prepare"]
    assert run["end"].child_steps == []
    assert sorted(names(run["join"].parent_steps)) == ["a", "b"]
    assert run["start"].parent_steps == []
    assert run["start"].child_steps[0].task.data.x == 1


def test_child_steps_of_a_step_that_never_finished_are_unknown(tree):
    with pytest.raises(DataStoreError, match="has no finished task"):
        Step(f"{tree.run.pathspec}/nowhere", root=tree.root).child_steps  # noqa: B018


def test_control_tasks_are_node_0_of_each_gang(tree):
    """Metaflow gave, for a gang of two (tasks '6' and '6_node_1'): control_tasks [Task 6],
    control_task Task 6; for a step that is not @parallel, no control tasks."""
    run = tree.run
    gang = run["gang"]
    assert [t.id for t in gang.control_tasks] == ["0"]
    assert gang.control_task.id == "0" and gang.control_task.data.node == 0
    assert sorted(t.id for t in gang.tasks()) == ["0", "1"]
    # a gang per foreach item: each gang's node 0
    assert sorted(t.id for t in run["pair"].control_tasks) == ["0.0", "1.0"]
    assert run["pre"].control_tasks == [] and run["pre"].control_task is None


def test_origin_pathspec_of_a_run_not_resumed_is_none(tree):
    """Metaflow gave 'TreeFlow/None' for the run and 'TreeFlow/None/start' for its step
    (the origin-run-id it records is the string 'None'); airstep says None: there is no
    origin."""
    run = tree.run
    assert run.origin_pathspec is None
    assert run["start"].origin_pathspec is None


def test_origin_pathspec_after_resume_names_the_run_resumed(tree, tmp_path):
    """Metaflow gave, after resuming run O: run 'RFlow/O', and 'RFlow/O/<step>' for every
    step, the reused ones and those that ran again."""
    origin = tree.run
    id_file = tmp_path / "run-id"
    env = {"AIRSTEP_DATASTORE_ROOT": tree.root}
    args = ("resume", "end", "--origin-run-id", origin.id, "--run-id-file", str(id_file))
    proc = run_flow("tree_flow.py", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    resumed = Run(f"TreeFlow/{id_file.read_text()}", root=tree.root)
    assert resumed.id != origin.id
    assert resumed.origin_pathspec == origin.pathspec
    assert resumed["start"].origin_pathspec == f"{origin.pathspec}/start"
    assert resumed["end"].origin_pathspec == f"{origin.pathspec}/end"


def test_loglines_yield_a_datetime_and_a_line_per_line(tree):
    """Metaflow gave [(datetime(...), 'hello from start'), (datetime(...), 'second line'),
    ...]: naive UTC datetimes, lines without their newline; [] for an empty stream."""
    task = tree.run["start"].task
    stdout = list(task.loglines("stdout"))
    assert [line for _, line in stdout] == ["hello from start", "second line"]
    assert [line for _, line in task.loglines("stderr")] == ["to stderr"]
    # every line carries the attempt's end, in naive UTC
    end = task.attempts[-1]["finished_at"]
    expected = datetime.datetime.fromtimestamp(end, datetime.UTC).replace(tzinfo=None)
    assert {stamp for stamp, _ in stdout} == {expected}
    assert list(task.loglines("stdout", as_unicode=False))[0][1] == b"hello from start"
    assert list(tree.run["a"].task.loglines("stdout")) == []
    with pytest.raises(ValueError, match="No log stream 'stdlog'"):
        list(task.loglines("stdlog"))


def test_in_task_data_tells_a_public_artifact(tree):
    """Metaflow gave True for an artifact the step set and for 'name', False for a name it
    does not have."""
    data = tree.run["join"].task.data
    assert "xs" in data and "name" in data
    assert "nope" not in data
    assert "_private" not in data


def test_current_task_is_the_running_task_before_it_finished(tree):
    """Metaflow gave, inside start: Task('TreeFlow/RUN/start/1') with finished False; outside
    a flow, None."""
    task = tree.run["start"].task
    assert task.data.seen_task == (task.pathspec, False, "start", "Task")
    assert current.task is None


def test_current_task_reads_the_running_tasks_datastore(tree, monkeypatch):
    """A step's root may come from its command line: current.task reads that datastore."""
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", os.devnull)
    task = Task(f"{tree.run.pathspec}/start/0", root=tree.root)
    read = running_task(task.pathspec, task._store)
    assert read.finished and read.data.seen_task[0] == task.pathspec
