"""Chaos: task processes of a 300-task foreach SIGKILLed at random while the run goes.

The run fails cleanly (no process left, status failed), ``resume`` completes it, and
every artifact of every task equals a clean run's.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest
from process_tools import RunProcess, children_of, is_gone, write_flow

from provider import Flow
from provider.datastore.flowstore import FlowDataStore

WIDE = """
    import os, time
    from provider import FlowSpec, step

    class WideFlow(FlowSpec):
        @step
        def start(self):
            self.items = list(range(300))
            self.next(self.square, foreach="items")

        @step
        def square(self):
            time.sleep(float(os.environ.get("WORK_SECONDS", "0")))
            self.squared = self.input * self.input
            self.label = f"item {self.input}"
            self.next(self.join)

        @step
        def join(self, inputs):
            self.squares = [i.squared for i in inputs]
            self.next(self.end)

        @step
        def end(self):
            self.total = sum(self.squares)

    if __name__ == "__main__":
        WideFlow()
"""


def _artifacts(run) -> dict[tuple[str, str], dict[str, str]]:
    return {
        (step.id, task.id): {name: task[name].sha for name in task.artifacts}
        for step in run
        for task in step
    }


class _Killer(threading.Thread):
    """SIGKILLs ``kills`` random task processes (children of the run process), at random."""

    def __init__(self, run_pid: int, kills: int, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.run_pid, self.kills, self.rng = run_pid, kills, rng
        self.seen: set[int] = set()
        self.killed: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while len(self.killed) < self.kills and not self.stop.wait(self.rng.uniform(0.05, 0.3)):
            tasks = children_of(self.run_pid)
            self.seen.update(tasks)
            if tasks:
                victim = self.rng.choice(tasks)
                try:
                    os.kill(victim, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                self.killed.append(victim)
        while not self.stop.wait(0.02):  # every task process the run starts, to check them
            self.seen.update(children_of(self.run_pid))


@pytest.mark.slow
def test_random_sigkills_fail_the_run_cleanly_and_resume_completes_it(datastore, tmp_path):
    seed = int(os.environ.get("AIRSTEP_CHAOS_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    flow = write_flow(tmp_path, "wide_flow", WIDE)
    env = {"WORK_SECONDS": "0.05"}

    clean = RunProcess(flow, "run", "--max-num-splits", "300", env=env)
    assert clean.wait(timeout=120) == 0, clean.output
    expected = _artifacts(Flow("WideFlow").latest_run)
    assert len(expected) == 303

    chaotic = RunProcess(flow, "run", "--max-num-splits", "300", env=env)
    chaotic.wait_for(r"Workflow starting", timeout=60)
    killer = _Killer(chaotic.pid, kills=3, rng=rng)
    killer.start()
    try:
        code = chaotic.wait(timeout=120)
    finally:
        killer.stop.set()
        killer.join()
        chaotic.kill()
    assert code == 1, f"seed {seed}:\n{chaotic.output}"
    assert killer.killed, f"seed {seed}: no task was killed"
    assert "was killed by signal 9" in chaotic.output, f"seed {seed}"
    assert [p for p in killer.seen if not is_gone(p)] == [], f"seed {seed}"
    failed = Flow("WideFlow").latest_run
    assert failed.record["status"] == "failed" and failed.finished and not failed.successful
    store = FlowDataStore("WideFlow")
    running = [
        (step, task)
        for step in store.list_steps(failed.id)
        for task in store.list_tasks(failed.id, step)
        for n in store.attempts(failed.id, step, task)
        if store.read_attempt(failed.id, step, task, n).status == "running"
    ]
    assert running == [], f"seed {seed}: attempts of killed tasks still read running"

    resumed = RunProcess(
        flow, "resume", "--origin-run-id", failed.id, "--max-num-splits", "300", env=env
    )
    assert resumed.wait(timeout=120) == 0, f"seed {seed}:\n{resumed.output}"
    run = Flow("WideFlow").latest_run
    assert run.id != failed.id and run.successful
    assert run.data.total == sum(i * i for i in range(300))
    assert _artifacts(run) == expected, f"seed {seed}"
