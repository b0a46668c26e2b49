"""The local debug executor, driven the way a user drives it: ``python flow.py run``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from helpers import FLOWS, run_flow

from provider import Flow, Run


def test_parameters_of_every_type_and_include_file(datastore):
    proc = run_flow(
        "params_flow.py",
        "run",
        "--name",
        "airstep",
        "--count",
        "4",
        "--loud",
        "--config",
        '{"b": [1, 2]}',
        "--token",
        "t0k",
    )
    assert proc.returncode == 0, proc.stderr
    run = Flow("ParamsFlow").latest_run
    assert run.successful
    assert run.data.greeting == "hello airstep!"
    assert run.data.values == [2.0, {"b": [1, 2]}, "t0k", "some notes"]
    assert run.data.info == {"run": run.id, "pathspec": f"ParamsFlow/{run.id}/start/0"}
    assert run.parameters["count"] == 4
    assert "[end/0 (pid " in proc.stdout


def test_bad_parameter_value_fails_before_anything_runs(datastore):
    proc = run_flow("params_flow.py", "run", "--count", "many", "--token", "x")
    assert proc.returncode == 1
    assert "Parameter *count* got 'many', which is not a valid integer" in proc.stderr
    assert Flow("ParamsFlow").latest_run is None  # nothing was started

    proc = run_flow("params_flow.py", "run")
    assert proc.returncode == 1
    assert "Parameter *token* is required; give it as --token" in proc.stderr


def test_nested_foreach_multistep_body_and_branch_inside_foreach(datastore):
    proc = run_flow("shapes_flow.py", "run", "--width", "3")
    assert proc.returncode == 0, proc.stderr
    run = Flow("ShapesFlow").latest_run
    data = run.data
    assert data.all_labels == ["0a!", "0b!", "1a!", "1b!", "2a!", "2b!"]
    assert data.totals == [100, 100, 100]
    assert data.indexes == [0, 1, 2]
    assert [t.id for t in run["per_inner_2"]] == ["0.0", "0.1", "1.0", "1.1", "2.0", "2.1"]
    assert run["per_inner_2"]["1.1"].data.depth == [(1, 3), (1, 2)]


def test_retry_timeout_and_catch(datastore):
    proc = run_flow("faults_flow.py", "run")
    assert proc.returncode == 0, proc.stderr
    run = Flow("FaultsFlow").latest_run
    assert run.data.attempts == [2, 2, 2]
    # a failed attempt's artifacts never leak into the task that succeeded
    assert run["gather"].task.data.partials == [False, False, False]
    slow = run["slow"].task
    assert "timed out after 1 s" in str(slow.data.timeout_error)
    guarded = run["guarded"].task
    assert isinstance(guarded.data.error, ValueError)
    assert guarded.data.tries == 1  # caught on the last of its 2 attempts
    assert guarded.caught["exception"] == "ValueError"
    assert [a["status"] for a in run["flaky"]["0"].attempts] == ["failed", "failed", "ok"]
    assert "retrying now." in proc.stderr


def test_failure_stops_the_run_and_resume_reuses_finished_tasks(datastore):
    proc = run_flow("faults_flow.py", "run", env={"FAIL_STEP": "maybe_fail"})
    assert proc.returncode == 1
    assert "Step *maybe_fail* failed in task FaultsFlow/" in proc.stderr
    assert "RuntimeError: asked to fail" in proc.stderr
    assert 'faults_flow.py", line' in proc.stderr  # the user's frame, not ours
    failed = Flow("FaultsFlow").latest_run
    assert not failed.successful and failed.record["status"] == "failed"
    assert "end" not in failed

    proc = run_flow("faults_flow.py", "resume")
    assert proc.returncode == 0, proc.stderr
    resumed = Flow("FaultsFlow").latest_run
    assert resumed.id != failed.id and resumed.successful
    assert resumed.record["origin_run_id"] == failed.id
    assert "reused from run" in proc.stderr
    # the finished tasks were reused, not re-run: no new attempts of the slow step
    assert "[slow/0 (pid" not in proc.stdout + proc.stderr
    assert resumed["maybe_fail"].task.data.fine is True
    assert resumed["flaky"]["2"].data.attempt_seen == 2


def test_resume_from_a_named_step_reruns_it_and_what_follows(datastore):
    assert run_flow("shapes_flow.py", "run", "--width", "2").returncode == 0
    origin = Flow("ShapesFlow").latest_run
    proc = run_flow("shapes_flow.py", "resume", "left", "--origin-run-id", origin.id)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "[per_inner/0.0] reused" in out
    assert re.search(r"\[left/1 \(pid \d+\)\]|\[end/0 \(pid \d+\)\]", out)
    assert Flow("ShapesFlow").latest_run.data.totals == origin.data.totals


def test_max_num_splits_names_the_limit_and_the_flag(datastore):
    proc = run_flow("shapes_flow.py", "run", "--width", "5", "--max-num-splits", "4")
    assert proc.returncode == 1
    assert (
        "Foreach in step *start* yielded 5 child steps, more than the maximum of 4. "
        "Raise it with --max-num-splits." in proc.stderr
    )


def test_airstep_console_script_runs_a_flow_file(datastore):
    airstep = os.path.join(os.path.dirname(sys.executable), "airstep")
    proc = subprocess.run(
        [airstep, "run", str(FLOWS / "shapes_flow.py"), "--width", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert Flow("ShapesFlow").latest_run.data.all_labels == ["0a!", "0b!"]
    shown = subprocess.run(
        [airstep, "show", str(FLOWS / "shapes_flow.py")], capture_output=True, text=True
    )
    assert "Step *per_outer*" in shown.stdout and "for each item of 'inner'" in shown.stdout


def test_ctrl_c_stops_every_task_process(datastore, tmp_path):
    flow = tmp_path / "sleepy_flow.py"
    flow.write_text(
        "import os, time\n"
        "from provider import FlowSpec, step\n"
        "class SleepyFlow(FlowSpec):\n"
        "    @step\n"
        "    def start(self):\n"
        "        self.items = list(range(3))\n"
        "        self.next(self.nap, foreach='items')\n"
        "    @step\n"
        "    def nap(self):\n"
        "        print('napping', os.getpid(), flush=True)\n"
        "        time.sleep(60)\n"
        "        self.next(self.join)\n"
        "    @step\n"
        "    def join(self, inputs):\n"
        "        self.next(self.end)\n"
        "    @step\n"
        "    def end(self):\n"
        "        pass\n"
        "if __name__ == '__main__':\n"
        "    SleepyFlow()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(flow), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids = []
    deadline = time.time() + 30
    while len(pids) < 3 and time.time() < deadline:
        line = proc.stdout.readline()
        if "napping" in line:
            pids.append(int(line.split()[-1]))
    assert len(pids) == 3
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert Run(f"SleepyFlow/{Flow('SleepyFlow').latest_run.id}").record["status"] == "interrupted"


def test_airstep_names_a_missing_or_ambiguous_flow_file(tmp_path):
    airstep = os.path.join(os.path.dirname(sys.executable), "airstep")
    proc = subprocess.run(
        [airstep, "run", str(tmp_path / "nope.py")], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "There is no flow file at" in proc.stderr
    two = tmp_path / "two_flows.py"
    two.write_text(
        "from provider import FlowSpec\n"
        "class A(FlowSpec):\n    pass\n"
        "class B(FlowSpec):\n    pass\n"
    )
    proc = subprocess.run([airstep, "show", str(two)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "must define exactly one flow (found A, B); name it with --flow" in proc.stderr
