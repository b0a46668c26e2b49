"""A switch runs only the case its condition names, on this machine: a choice made by a
parameter, a switch per foreach item, and a switch that loops until its condition holds."""

from __future__ import annotations

import io
import json
from dataclasses import asdict

import pytest
from helpers import run_flow

from provider import Flow, FlowSpec, RunFailed, Task, step, timeout
from provider.datastore.records import TaskManifest, decode, encode
from provider.local.scheduler import LocalRun


@pytest.mark.parametrize(("mode", "speed", "other"), [("fast", 10, "slow"), ("slow", 1, "fast")])
def test_only_the_chosen_case_runs(datastore, mode, speed, other):
    proc = run_flow("switch_flow.py", "run", "--mode", mode)
    assert proc.returncode == 0, proc.stderr
    run = Flow("SwitchFlow").latest_run
    assert run.successful
    assert mode in run and other not in run  # the case not taken has no tasks
    with pytest.raises(KeyError):
        run[other]
    assert run.data.speed == speed
    assert run["start"].task.chosen == mode
    assert f"[{other}/" not in proc.stderr + proc.stdout


def test_a_switch_inside_a_foreach_chooses_per_item(datastore):
    proc = run_flow("switch_flow.py", "run")
    assert proc.returncode == 0, proc.stderr
    run = Flow("SwitchFlow").latest_run
    chosen = {t.index: t.chosen for t in run["body"]}
    assert chosen == {0: "triple", 1: "half", 2: "triple", 3: "half"}
    assert sorted(t.index for t in run["half"]) == [1, 3]
    assert sorted(t.index for t in run["triple"]) == [0, 2]
    assert run.data.values == [1, 2, 4, 10]
    assert run.data.steps_seen == ["half", "triple"]


@pytest.mark.parametrize("rounds", [1, 3])
def test_a_recursive_switch_runs_again_until_its_condition_holds(datastore, rounds):
    proc = run_flow("switch_flow.py", "run", "--rounds", str(rounds))
    assert proc.returncode == 0, proc.stderr
    run = Flow("SwitchFlow").latest_run
    assert run.data.count == rounds
    (loop,) = run["loop"].tasks()  # the whole loop is one task
    assert loop.chosen == "end"


def test_a_value_with_no_case_fails_naming_the_step_the_value_and_the_cases(datastore):
    proc = run_flow("switch_flow.py", "run", "--mode", "medium")
    assert proc.returncode == 1
    assert (
        "Step *start* switches on self.choice, whose value 'medium' is none of its cases "
        "('fast', 'slow'); set self.choice to one of them, or add a case for it."
    ) in proc.stderr
    run = Flow("SwitchFlow").latest_run
    assert not run.successful and "fast" not in run and "slow" not in run


def test_resume_reuses_the_chosen_case(datastore):
    first = run_flow("switch_flow.py", "run", "--mode", "slow", "--rounds", "2")
    assert first.returncode == 0, first.stderr
    origin = Flow("SwitchFlow").latest_run.id
    proc = run_flow("switch_flow.py", "resume", "collect", "--origin-run-id", origin)
    assert proc.returncode == 0, proc.stderr
    run = Flow("SwitchFlow").latest_run
    assert run.id != origin and "fast" not in run
    assert run.data.speed == 1 and run.data.count == 2
    assert "[slow/0] reused from run" in proc.stderr


def test_a_manifest_without_chosen_still_reads():
    manifest = TaskManifest(
        flow="F",
        run_id="1",
        step="start",
        task_id="0",
        attempt=0,
        parameters=(),
        foreach_stack=(),
        foreach=None,
        next=("end",),
        caught=None,
        started_at=1.0,
        finished_at=2.0,
        artifacts={},
        chosen="end",
    )
    assert decode(TaskManifest, encode(manifest), "here").chosen == "end"
    old = asdict(manifest)
    del old["chosen"]
    assert decode(TaskManifest, json.dumps(old).encode(), "here").chosen is None


def test_whether_a_task_is_on_the_chosen_path_reads_only_the_switches():
    """What an Airflow task decides before it runs: a task left by an earlier try of the run
    on a case now not chosen never counts, since only the switches' choices are read."""
    import importlib.util

    from helpers import FLOWS

    from provider.runtime.topology import on_chosen_path

    spec = importlib.util.spec_from_file_location("switch_flow_for_paths", FLOWS / "switch_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = module.SwitchFlow.graph()
    chosen = {("start", ()): "slow", ("body", (0,)): "triple", ("body", (1,)): "half"}
    chosen[("loop", ())] = "end"

    def on_path(step: str, path: tuple[int, ...]) -> bool:
        return on_chosen_path(graph, step, path, lambda s, p: 2, lambda s, p: chosen.get((s, p)))

    assert not on_path("fast", ()) and on_path("slow", ()) and on_path("merge", ())
    assert on_path("triple", (0,)) and not on_path("half", (0,))
    assert on_path("half", (1,)) and not on_path("triple", (1,))
    assert on_path("collect", ()) and on_path("end", ())
    chosen[("start", ())] = "fast"  # the switch ran again and chose the other case
    assert on_path("fast", ()) and not on_path("slow", ())


class EndlessFlow(FlowSpec):
    @step
    def start(self):
        self.rounds = 0
        self.next(self.spin)

    @timeout(seconds=2)
    @step
    def spin(self):
        import time

        self.rounds += 1
        time.sleep(0.2)
        self.state = "more"  # never done: only @timeout ends the loop
        self.next({"more": self.spin, "done": self.end}, condition="state")

    @step
    def end(self):
        pass


def test_timeout_bounds_the_whole_loop_of_a_recursive_switch(datastore):
    with pytest.raises(RunFailed) as failed:
        LocalRun(EndlessFlow, run_id="endless", out=io.StringIO(), err=io.StringIO()).run()
    assert "StepTimeout" in str(failed.value)
    attempt = Task("EndlessFlow/endless/spin/0").attempts[-1]
    assert attempt["status"] == "failed" and attempt["exception"] == "StepTimeout"


class UnsetFlow(FlowSpec):
    @step
    def start(self):
        self.next({"a": self.a, "b": self.end}, condition="choice")  # self.choice never set

    @step
    def a(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def test_a_condition_never_set_fails_naming_the_step_and_the_cases(datastore):
    err = io.StringIO()
    with pytest.raises(RunFailed):
        LocalRun(UnsetFlow, run_id="unset", out=io.StringIO(), err=err).run()
    (attempt,) = Task("UnsetFlow/unset/start/0").attempts
    assert attempt["exception"] == "StepError"
    assert attempt["message"] == (
        "Step *start* switches on self.choice, which is not set; set self.choice to one of "
        "'a', 'b' before self.next()."
    )
