"""A flow written for Metaflow behaves the same here (only its import line changes).

Each expectation below is what Metaflow 2.19 does with the same flow, observed by
running it side by side with airstep; the tests assert airstep's behaviour directly.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from provider import Flow, Parameter, ParameterError, Run

COMPAT_FLOW = """
from provider import FlowSpec, Parameter, step, catch, retry, current


class Boom(Exception):
    pass


class CompatFlow(FlowSpec):
    LR = 0.1
    letters = Parameter("letters", default="a,b", separator=",")
    flag = Parameter("flag", default=False, type=bool)

    @step
    def start(self):
        self.input_outside = self.input
        self.stack_outside = self.foreach_stack()
        self.items = ["p", "q"]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.first = self.input
        self.next(self.body2)

    @step
    def body2(self):
        self.second = (self.input, self.index, self.foreach_stack())
        self.next(self.fjoin)

    @step
    def fjoin(self, inputs):
        self.seconds = [i.second for i in inputs]
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x, self.common, self._hidden = 1, 5, "ha"
        self.next(self.join)

    @step
    def b(self):
        self.x, self.common, self._hidden = 2, 5, "hb"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.branch_input = inputs.a.input
        self.hidden_a = inputs.a._hidden
        self.lr_in_join = self.LR
        try:
            self.merge_artifacts(inputs, include=["common", "x"])
        except Exception as e:
            self.conflict_error = type(e).__name__
        self.common_after_failed_merge = getattr(self, "common", "MISSING")
        self.y = "set in the join"
        self.merge_artifacts(inputs, include=["common", "y", "LR"])
        self.next(self.caught)

    @catch(var="err", print_exception=False)
    @retry(times=1, minutes_between_retries=0)
    @step
    def caught(self):
        raise Boom("kaboom %d" % current.retry_count)
        self.next(self.end)

    @step
    def end(self):
        e = self.err
        self.err_facts = [e.type, e.exception, e.stacktrace.splitlines()[-1], repr(e)]


if __name__ == "__main__":
    CompatFlow()
"""


@pytest.fixture(scope="module")
def compat_run(tmp_path_factory) -> tuple[Run, subprocess.CompletedProcess, Path]:
    tmp = tmp_path_factory.mktemp("compat")
    root = tmp / "datastore"
    flow = tmp / "compat_flow.py"
    flow.write_text(COMPAT_FLOW)
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    # Metaflow's command line: top-level switches, ``--flag t`` (click's BOOLEAN words),
    # repeated --tag, --run-id-file
    proc = subprocess.run(
        [sys.executable, str(flow), "--no-pylint", "--quiet", "run", "--flag", "t"]
        + ["--tag", "one", "--tag", "two", "--run-id-file", str(tmp / "run-id")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    yield Flow("CompatFlow").latest_run, proc, tmp
    mp.undo()


def test_the_run_succeeds_with_metaflows_command_line(compat_run):
    run, proc, tmp = compat_run
    assert proc.returncode == 0, proc.stderr
    assert run.successful
    assert (tmp / "run-id").read_text() == run.id
    assert run.tags == frozenset({"one", "two"})
    assert isinstance(run.created_at, datetime.datetime)
    assert run.data.flag is True


def test_separator_splits_a_string_parameter_into_a_list(compat_run):
    run, _, _ = compat_run
    assert run.data.letters == ["a", "b"]


def test_input_is_none_outside_a_foreach_and_set_in_every_body_step(compat_run):
    run, _, _ = compat_run
    start = run["start"].task.data
    assert start.input_outside is None
    assert start.stack_outside == []
    assert sorted(t.data.first for t in run["body"]) == ["p", "q"]
    assert run["fjoin"].task.data.seconds == [("p", 0, [(0, 2, "p")]), ("q", 1, [(1, 2, "q")])]
    assert run.data.branch_input is None  # a branch input outside any foreach


def test_underscore_artifacts_pass_on_but_are_hidden_from_listings(compat_run):
    run, _, _ = compat_run
    assert run.data.hidden_a == "ha"  # inputs.a._hidden
    task = run["a"].task
    assert "_hidden" not in task.artifacts
    assert all(not a.id.startswith("_") for a in task)
    assert task["_hidden"].data == "ha"
    assert task.artifacts.x.data == 1
    assert task["x"].id == "x"


def test_class_constants_are_artifacts_of_every_task_including_joins(compat_run):
    run, _, _ = compat_run
    assert run["start"].task.data.LR == 0.1
    assert run["join"].task.data.lr_in_join == 0.1
    assert run.data.LR == 0.1


def test_merge_artifacts_merges_nothing_on_conflict_and_skips_what_the_join_has(compat_run):
    run, _, _ = compat_run
    join = run["join"].task.data
    assert join.conflict_error == "MergeArtifactsError"
    assert join.common_after_failed_merge == "MISSING"  # the failed merge set nothing
    assert join.common == 5  # the second merge did; include=["y", "LR"] is not "missing"
    assert join.y == "set in the join"
    assert "x" not in run["join"].task


def test_catch_var_holds_the_exception_with_metaflows_fields(compat_run):
    run, _, _ = compat_run
    exc_type, message, last_line, text = run.data.err_facts
    assert exc_type == "__main__.Boom"
    assert message == "kaboom 1"
    assert last_line == "Boom: kaboom 1"
    assert text == "Boom('kaboom 1')"  # still the exception itself
    assert run["caught"].task.current_attempt == 1


# -- parameters, without running a flow -------------------------------------------------------


@pytest.mark.parametrize(("word", "value"), [("t", True), ("f", False), ("T", True)])
def test_bool_parameter_takes_clicks_boolean_words(word, value):
    assert Parameter("flag", type=bool).convert(word) is value


def test_separator_needs_a_string_parameter():
    assert Parameter("p", default="a;b", separator=";").resolve(None) == ["a", "b"]
    assert Parameter("p", separator=";").resolve("x") == ["x"]
    with pytest.raises(ParameterError, match="separator"):
        Parameter("n", default=1, separator=",")
