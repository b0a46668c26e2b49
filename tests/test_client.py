"""Reading runs back: Flow, Run, Step and Task over real local runs."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from provider import Flow, Run, Step, Task
from provider.exceptions import DataStoreError

CLIENT_FLOW = '''
"""A foreach of WIDTH with a retried task, output, a private artifact; fails on demand."""

import os

from provider import FlowSpec, Parameter, current, retry, step


class ClientFlow(FlowSpec):
    width = Parameter("width", default=11)

    @step
    def start(self):
        self.items = [f"item-{i}" for i in range(self.width)]
        self.public = "shown"
        self._secret = "hidden"
        self.next(self.each, foreach="items")

    @retry(times=1, minutes_between_retries=0)
    @step
    def each(self):
        if self.index == 3 and current.retry_count == 0:
            print("the first attempt of item 3 fails")
            raise RuntimeError("first attempt")
        print(f"processing {self.input} on attempt {current.retry_count}")
        self.square = self.index**2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.square for i in inputs]
        self.next(self.last)

    @step
    def last(self):
        if os.environ.get("FAIL_LAST"):
            raise ValueError("asked to fail")
        self.next(self.end)

    @step
    def end(self):
        self.done = True


if __name__ == "__main__":
    ClientFlow()
'''


@dataclass
class Runs:
    root: str
    good: Run
    failed: Run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    """A successful run, then a failed one, of ClientFlow in a datastore of their own."""
    tmp = tmp_path_factory.mktemp("client")
    root = str(tmp / "datastore")
    flow = tmp / "client_flow.py"
    flow.write_text(textwrap.dedent(CLIENT_FLOW))
    ids = []
    for name, env in (("good", {}), ("failed", {"FAIL_LAST": "1"})):
        proc = subprocess.run(
            [sys.executable, str(flow), "run", "--run-id-file", str(tmp / name)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "AIRSTEP_DATASTORE_ROOT": root, **env},
        )
        assert proc.returncode == (1 if env else 0), proc.stderr
        ids.append((tmp / name).read_text())
    return Runs(
        root, Run(f"ClientFlow/{ids[0]}", root=root), Run(f"ClientFlow/{ids[1]}", root=root)
    )


# -- Flow ---------------------------------------------------------------------------------------


def test_runs_come_newest_first(runs):
    flow = Flow("ClientFlow", root=runs.root)
    assert [r.id for r in flow.runs()] == [runs.failed.id, runs.good.id]
    assert [r.id for r in flow] == [runs.failed.id, runs.good.id]
    assert flow.latest_run.id == runs.failed.id
    assert flow.latest_successful_run.id == runs.good.id
    assert runs.good.created_at <= runs.failed.created_at
    assert isinstance(runs.good.created_at, datetime.datetime)


def test_a_run_by_id_and_a_missing_one(runs):
    flow = Flow("ClientFlow", root=runs.root)
    assert flow[runs.good.id].successful
    with pytest.raises(KeyError, match=f"Flow ClientFlow has no run 'nope' in {runs.root}"):
        flow["nope"]
    assert not Run("ClientFlow/nope", root=runs.root).exists


def test_a_flow_that_never_ran_has_no_runs(runs):
    flow = Flow("NeverRanFlow", root=runs.root)
    assert flow.runs() == []
    assert flow.latest_run is None and flow.latest_successful_run is None


# -- Run ----------------------------------------------------------------------------------------


def test_run_data_is_the_end_steps_artifacts(runs):
    run = runs.good
    assert run.successful and run.finished
    assert run.data.done is True
    assert run.data.squares == [i * i for i in range(11)]
    assert run.data.width == 11  # parameters pass joins; other artifacts only when merged
    assert "public" not in run.end_task and "public" in run["each"]["0"]
    assert run.end_task.pathspec == f"ClientFlow/{run.id}/end/0"
    assert run.parameters == {"width": 11}
    assert [s.id for s in run] == ["start", "each", "join", "last", "end"]
    assert "each" in run and "nope" not in run


def test_the_data_of_an_unfinished_run_raises_naming_the_run(runs):
    run = runs.failed
    assert not run.successful and run.finished  # it stopped, without reaching end
    assert run.end_task is None
    with pytest.raises(DataStoreError) as error:
        run.data  # noqa: B018
    assert str(error.value) == f"Run ClientFlow/{run.id} has not finished its end step."
    assert "end" not in run
    with pytest.raises(KeyError, match=f"Run ClientFlow/{run.id} has no step 'end'"):
        run["end"]


def test_the_failed_task_is_listed_but_has_no_data(runs):
    task = runs.failed["last"].task
    assert not task.successful
    with pytest.raises(DataStoreError, match=f"Task ClientFlow/{runs.failed.id}/last/0"):
        task.data  # noqa: B018
    assert runs.failed["join"].task.data.squares == runs.good.data.squares


# -- Step and Task --------------------------------------------------------------------------------


def test_foreach_tasks_in_index_order_with_their_index(runs):
    step = runs.good["each"]
    tasks = step.tasks()
    assert [t.id for t in tasks] == [str(i) for i in range(11)]  # 10 after 9, not after 1
    assert [t.index for t in tasks] == list(range(11))
    assert [t.data.square for t in tasks] == [i * i for i in range(11)]
    assert step.task.id == "0"
    assert step["7"].data.square == 49
    assert runs.good["start"].task.index is None


def test_a_step_without_tasks(runs):
    with pytest.raises(DataStoreError, match=f"Step ClientFlow/{runs.good.id}/nope has no tasks"):
        Step(f"ClientFlow/{runs.good.id}/nope", root=runs.root).task  # noqa: B018


def test_task_stdout_is_the_output_of_its_last_attempt(runs):
    assert runs.good["each"]["5"].stdout == "processing item-5 on attempt 0\n"
    retried = runs.good["each"]["3"].stdout
    assert retried == "processing item-3 on attempt 1\n"
    assert runs.good["join"].task.stdout == ""


def test_attempts_after_a_retry(runs):
    retried = runs.good["each"]["3"]
    assert retried.current_attempt == 1
    assert len(retried.attempts) == 2
    assert retried.data.square == 9
    once = runs.good["each"]["4"]
    assert once.current_attempt == 0 and len(once.attempts) == 1
    assert once.exception is None  # nothing was caught


def test_private_artifacts_are_readable_by_name_but_not_listed(runs):
    task = runs.good["start"].task
    # "name" (the flow's name) as in Metaflow
    assert task.artifacts == ["items", "name", "public", "width"]
    assert [a.id for a in task] == ["items", "name", "public", "width"]
    assert task.data.name == task["name"].data == "ClientFlow"
    assert "_secret" in task and task["_secret"].data == "hidden"
    assert task.artifacts.public.data == "shown"
    with pytest.raises(AttributeError):
        task.data._secret  # noqa: B018
    with pytest.raises(AttributeError):
        task.artifacts._secret  # noqa: B018
    assert dir(task.data) == ["items", "name", "public", "width"]  # what task.data.<name> reads


def test_a_missing_artifact_is_named_with_the_task(runs):
    task = runs.good["start"].task
    with pytest.raises(AttributeError) as error:
        task.data.nope  # noqa: B018
    message = str(error.value)
    assert message.startswith(f"Task ClientFlow/{runs.good.id}/start/0 has no artifact 'nope';")
    assert "public" in message
    with pytest.raises(KeyError, match="has no artifact 'nope'"):
        task["nope"]
    assert "nope" not in task


def test_an_artifact_names_its_content(runs):
    first, again = (
        Task(f"ClientFlow/{r.id}/start/0", root=runs.root) for r in (runs.good, runs.failed)
    )
    artifact = first["public"]
    assert artifact.id == artifact.name == "public"
    assert len(artifact.sha) == 64 and int(artifact.sha, 16) >= 0
    assert again["public"].sha == artifact.sha  # same value, same content address
    assert first["items"].sha != artifact.sha


@pytest.mark.parametrize(
    ("make", "pathspec", "example"),
    [
        (Run, "ClientFlow", "TrainFlow/1700000000"),
        (Run, "ClientFlow/1/start", "TrainFlow/1700000000"),
        (Run, "ClientFlow/", "TrainFlow/1700000000"),
        (Step, "ClientFlow/1", "TrainFlow/1700000000/train"),
        (Task, "ClientFlow/1/start", "TrainFlow/1700000000/train/3"),
        (Task, "ClientFlow//start/0", "TrainFlow/1700000000/train/3"),
    ],
)
def test_a_bad_pathspec_says_how_to_write_one(runs, make, pathspec, example):
    with pytest.raises(ValueError) as error:
        make(pathspec, root=runs.root)
    assert str(error.value) == (
        f"{make.__name__} pathspec {pathspec!r} is invalid; write it as {example!r}."
    )


def test_the_datastore_root_comes_from_the_environment_by_default(runs, monkeypatch):
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", runs.root)
    assert Flow("ClientFlow").latest_successful_run.id == runs.good.id
    assert Run(runs.good.pathspec).data.done is True
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", str(Path(runs.root) / "elsewhere"))
    assert Flow("ClientFlow").latest_run is None
