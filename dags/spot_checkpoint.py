"""Survive spot-instance reclaims: checkpoint on termination, resume on the next attempt.

An Airflow DAG and a runnable script. The ``crunch`` step works through chunks.
When its machine is reclaimed (SIGTERM, or on AWS the spot interruption notice
shortly before it) the termination hook saves how far it got; ``@retry`` starts a
new attempt, which loads the checkpoint and carries on from there.
"""

import os
import time

from provider import FlowSpec, Parameter, current, retry, step


class SpotCheckpointFlow(FlowSpec):
    chunks = Parameter("chunks", default=20, help="units of work")
    seconds_per_chunk = Parameter("seconds_per_chunk", default=0.05, help="time per unit")

    @step
    def start(self):
        self.next(self.crunch)

    @retry(times=3, minutes_between_retries=0)
    @step
    def crunch(self):
        """Sum the squares of the chunk numbers, one chunk at a time."""
        state = current.load_checkpoint(default={"done": 0, "total": 0})
        if state["done"]:
            print(f"attempt {current.retry_count}: resuming after chunk {state['done']}")

        @current.on_termination
        def save_progress():
            current.save_checkpoint(state)
            print(f"terminating: saved progress at chunk {state['done']}", flush=True)

        print(f"attempt {current.retry_count} working in pid {os.getpid()}", flush=True)
        while state["done"] < self.chunks:
            time.sleep(self.seconds_per_chunk)
            state = {"done": state["done"] + 1, "total": state["total"] + state["done"] ** 2}
        self.total = state["total"]
        self.attempts = current.retry_count + 1
        self.next(self.end)

    @step
    def end(self):
        print(f"sum of squares below {self.chunks}: {self.total} ({self.attempts} attempt(s))")


dag = SpotCheckpointFlow.to_dag()

if __name__ == "__main__":
    SpotCheckpointFlow()
