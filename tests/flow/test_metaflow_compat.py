"""A flow written for Metaflow behaves the same here (only its import line changes).

``test_metaflow_side_by_side.py`` runs ``tests/flows/compat/compat_flow.py`` on
Metaflow itself and compares; the tests here assert airstep's side directly, by
name, and need no Metaflow.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from provider import Flow, Parameter, ParameterError, Run

COMPAT_FLOW = Path(__file__).parents[1] / "flows" / "compat" / "compat_flow.py"


@pytest.fixture(scope="module")
def compat_run(tmp_path_factory) -> tuple[Run, subprocess.CompletedProcess, Path]:
    tmp = tmp_path_factory.mktemp("compat")
    root = tmp / "datastore"
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRSTEP_DATASTORE_ROOT", str(root))
    # Metaflow's command line: top-level switches, ``--flag t`` (click's BOOLEAN words),
    # repeated --tag, --run-id-file
    proc = subprocess.run(
        [sys.executable, str(COMPAT_FLOW), "--no-pylint", "--quiet", "run", "--flag", "t"]
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
    assert run.user_tags == frozenset({"one", "two"})
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
    assert join.conflict_error == "UnhandledInMergeArtifactsException"
    assert join.common_after_failed_merge == "MISSING"  # the failed merge set nothing
    assert join.common == 5  # the second merge did; include=["y", "LR"] is not "missing"
    assert join.y == "set in the join"
    assert "x" not in run["join"].task


def test_catch_var_holds_the_exception_with_metaflows_fields(compat_run):
    run, _, _ = compat_run
    exc_type, message, last_line = run.data.err_facts
    assert exc_type == "__main__.Boom"
    assert message == "kaboom 1"
    assert last_line == "Boom: kaboom 1"
    # airstep stores the exception itself (Metaflow a wrapper whose repr is the traceback)
    assert repr(run.data.err) == "Boom('kaboom 1')"
    assert run["caught"].task.current_attempt == 1


def test_timeout_is_caught_and_the_flow_goes_on(compat_run):
    run, _, _ = compat_run
    error = run.data.timeout_error
    assert type(error).__name__ == "StepTimeout"
    assert "timed out after 1 s" in str(error)


# -- parameters, without running a flow -------------------------------------------------------


@pytest.mark.parametrize(("word", "value"), [("t", True), ("f", False), ("T", True)])
def test_bool_parameter_takes_clicks_boolean_words(word, value):
    assert Parameter("flag", type=bool).convert(word) is value


def test_separator_needs_a_string_parameter():
    assert Parameter("p", default="a;b", separator=";").resolve(None) == ["a", "b"]
    assert Parameter("p", separator=";").resolve("x") == ["x"]
    with pytest.raises(ParameterError, match="separator"):
        Parameter("n", default=1, separator=",")
