"""StepOperator in the worker: the step's @timeout is the runtime's alarm, and Airflow's
execution_timeout, which wraps ``execute``, stays armed around it as the outer safety net."""

from __future__ import annotations

import signal
import time

import pytest

from provider import FlowSpec, Run, catch, step, timeout
from provider.exceptions import StepTimeout
from provider.operators import StepOperator

pytestmark = pytest.mark.airflow


class _TI:
    dag_id, task_id, map_index, try_number = "TimedFlow", "start", -1, 1  # the flow's own DAG


class TimedFlow(FlowSpec):
    @catch(var="err", print_exception=False)
    @timeout(seconds=1)
    @step
    def start(self):
        import os
        import time

        if os.environ.get("SLOW_START"):
            time.sleep(30)
        self.next(self.end)

    @step
    def end(self):
        pass


def execute(run_id: str) -> tuple[str, float, object]:
    """Run the start task as Airflow's task runner does: inside its execution_timeout."""
    from airflow.sdk.execution_time.timeout import timeout as execution_timeout

    operator = StepOperator(task_id="start", flow_cls=TimedFlow, step_name="start")
    context = {"ti": _TI(), "run_id": run_id, "params": {}}
    with execution_timeout(120) as outer:
        pointer = operator.execute(context)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        handler = signal.getsignal(signal.SIGALRM)
    assert getattr(handler, "__self__", None) is outer
    return pointer, left, context["label"]


def test_a_quick_step_leaves_airflows_timeout_armed(datastore):
    pointer, left, label = execute("quick")
    assert pointer == "0" and label == "task 0"
    assert 100 < left <= 120
    assert Run("TimedFlow/quick", root=str(datastore))["start"].task.data.err is None  # none caught


def test_a_slow_step_is_stopped_by_its_own_timeout_inside_airflows(datastore, monkeypatch):
    monkeypatch.setenv("SLOW_START", "1")
    began = time.monotonic()
    pointer, left, _ = execute("slow")
    assert time.monotonic() - began < 20
    assert pointer == "0" and 100 < left <= 120
    err = Run("TimedFlow/slow", root=str(datastore))["start"].task.data.err
    assert type(err) is StepTimeout
    assert "timed out after 1 s" in str(err)
