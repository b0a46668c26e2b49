"""The flow's command line (``python flow.py run|resume|show|check``).

What stops before anything runs is driven in-process through ``run_cli``; runs are
driven as a user drives them, ``python flow.py ...`` in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provider import Flow, FlowSpec, IncludeFile, JSONType, Parameter, Run, retry, step
from provider.local.cli import run_cli


class CliFlow(FlowSpec):
    """Greets someone, many times."""

    who = Parameter("who", default="world", help="who to greet")
    times = Parameter("times", default=2, help="how many greetings")
    loud = Parameter("loud", default=False, type=bool, help="shout")
    extra = Parameter("extra", type=JSONType, default='{"a": 1}', help="more settings")
    token = Parameter("token", required=True, help="an access token")
    notes = IncludeFile("notes", help="a text file")

    @step
    def start(self):
        """Make the greetings.

        Only the first paragraph is shown.
        """
        self.items = list(range(self.times))
        self.next(self.greet, foreach="items")

    @retry(times=2)
    @step
    def greet(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


class UnjoinedFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.end)

    @step
    def b(self):
        self.next(self.end)

    @step
    def end(self):
        pass


def cli(flow: type[FlowSpec], *argv: str) -> int:
    return run_cli(flow, list(argv), prog="flow.py")


def exit_code(flow: type[FlowSpec], *argv: str) -> int | str | None:
    with pytest.raises(SystemExit) as stopped:
        cli(flow, *argv)
    return stopped.value.code


# -- help, show, check ------------------------------------------------------------------------


def test_run_help_lists_parameters_with_help_defaults_and_the_executor_options(capsys):
    assert exit_code(CliFlow, "run", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "usage: flow.py run" in text
    assert "--who STR who to greet (default 'world')" in text
    assert "--times INT how many greetings (default 2)" in text
    assert "--extra JSON more settings (default {'a': 1})" in text
    assert "--token STR an access token" in text and "(required)" in text
    assert "--loud [BOOL] shout (default False)" in text
    for option in ("--max-workers", "--max-num-splits", "--tag TAG", "--run-id-file PATH"):
        assert option in text


def test_top_level_help_names_the_flow_and_its_commands(capsys):
    assert exit_code(CliFlow, "--help") == 0
    out = capsys.readouterr().out
    assert "Greets someone, many times." in out
    for command in ("run", "resume", "show", "check"):
        assert command in out


def test_a_command_is_required(capsys):
    assert exit_code(CliFlow) == 2
    assert "required: COMMAND" in capsys.readouterr().err


def test_show_describes_every_step_in_order(datastore, capsys):
    assert cli(CliFlow, "show") == 0
    out = capsys.readouterr().out
    steps = [line for line in out.splitlines() if line.startswith("Step *")]
    assert [s.split("*")[1] for s in steps] == ["start", "greet", "join", "end"]
    assert "Make the greetings." in out and "Only the first paragraph" not in out
    assert "=> greet for each item of 'items'" in out
    assert "retry" in next(s for s in steps if "*greet*" in s)
    assert "ends the flow" in out
    assert not datastore.exists()  # nothing ran


def test_check_validates_without_running(datastore, capsys):
    assert cli(CliFlow, "check") == 0
    assert capsys.readouterr().out.strip() == "Flow CliFlow is valid: 4 steps."
    assert cli(UnjoinedFlow, "check") == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "Error: Flow *UnjoinedFlow*: step *end* is reached from a, b, which can all run, so it "
        "must be a join: declare it as `def end(self, inputs)`. (Steps reached only through "
        "different cases of a switch need no join.)"
    )
    assert not datastore.exists()


# -- what is refused before anything runs ------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--times", "many"],
            "Parameter *times* got 'many', which is not a valid integer; give e.g. --times 3.",
        ),
        (
            ["--loud", "maybe"],
            "Parameter *loud* got 'maybe', which is not a valid boolean; give e.g. --loud true.",
        ),
        (["--extra", "{oops"], "Parameter *extra* got '{oops', which is not a valid JSON"),
        (["--notes", "no/such/file.txt"], "IncludeFile *notes*: no file at 'no/such/file.txt'"),
    ],
)
def test_a_bad_parameter_value_names_the_parameter_and_the_fix(datastore, capsys, argv, message):
    assert cli(CliFlow, "run", "--token", "t", *argv) == 1
    assert message in capsys.readouterr().err
    assert Flow("CliFlow").latest_run is None  # nothing ran


def test_a_missing_required_parameter_is_named(datastore, capsys):
    assert cli(CliFlow, "run") == 1
    assert "Parameter *token* is required; give it as --token text." in capsys.readouterr().err
    assert Flow("CliFlow").latest_run is None


@pytest.mark.parametrize("option", ["--max-workers", "--max-num-splits"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_executor_limits_below_one_are_refused(datastore, capsys, option, value):
    assert exit_code(CliFlow, "run", "--token", "t", option, value) == 2
    assert "--max-workers and --max-num-splits must be at least 1" in capsys.readouterr().err
    assert Flow("CliFlow").latest_run is None


def test_an_unknown_option_is_refused(datastore, capsys):
    assert exit_code(CliFlow, "run", "--token", "t", "--nope", "1") == 2
    assert "unrecognized arguments: --nope 1" in capsys.readouterr().err


def test_resume_without_an_earlier_run_says_to_start_one(datastore, capsys):
    assert cli(CliFlow, "resume") == 1
    err = capsys.readouterr().err
    assert "There is no earlier run of CliFlow in" in err
    assert "start one with `run`." in err


def test_resume_from_a_step_the_flow_lacks_is_refused(datastore, capsys):
    assert exit_code(CliFlow, "resume", "nope") == 2
    assert "resume: the flow has no step 'nope'" in capsys.readouterr().err


# -- runs, through `python flow.py` ----------------------------------------------------------

RESUMABLE = '''
"""Fails in `fragile` while the file FAIL_MARKER names exists."""

import os
import uuid

from provider import FlowSpec, Parameter, step


class ResumableFlow(FlowSpec):
    width = Parameter("width", default=3)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.token = uuid.uuid4().hex  # a fresh value every time the task really runs
        self.next(self.join)

    @step
    def join(self, inputs):
        self.tokens = [i.token for i in inputs]
        self.next(self.fragile)

    @step
    def fragile(self):
        if os.path.exists(os.environ["FAIL_MARKER"]):
            raise RuntimeError("the marker file is there")
        self.next(self.end)

    @step
    def end(self):
        print("tokens", len(self.tokens))


if __name__ == "__main__":
    ResumableFlow()
'''


@pytest.fixture
def resumable(tmp_path, datastore) -> tuple[Path, Path]:
    """The flow file, and the marker file that makes it fail."""
    flow = tmp_path / "resumable_flow.py"
    flow.write_text(textwrap.dedent(RESUMABLE))
    return flow, tmp_path / "fail-marker"


def run_file(flow: Path, marker: Path, *argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(flow), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FAIL_MARKER": str(marker)},
    )


def test_run_id_file_and_tags(resumable, tmp_path):
    flow, marker = resumable
    id_file = tmp_path / "run-id"
    proc = run_file(
        flow, marker, "run", "--tag", "nightly", "--tag", "v2", "--run-id-file", id_file
    )
    assert proc.returncode == 0, proc.stderr
    run = Flow("ResumableFlow").latest_run
    assert id_file.read_text() == run.id
    assert run.user_tags == frozenset({"nightly", "v2"})
    assert run.successful and len(run.data.tokens) == 3


def test_run_id_names_the_run(resumable):
    flow, marker = resumable
    proc = run_file(flow, marker, "run", "--width", "1", "--run-id", "my-run")
    assert proc.returncode == 0, proc.stderr
    assert "Workflow starting (run-id my-run)." in proc.stderr
    assert Run("ResumableFlow/my-run").successful
    assert [r.id for r in Flow("ResumableFlow")] == ["my-run"]


def test_a_failed_run_keeps_its_tags_and_run_id_file(resumable, tmp_path):
    flow, marker = resumable
    marker.touch()
    id_file = tmp_path / "run-id"
    proc = run_file(flow, marker, "run", "--tag", "broken", "--run-id-file", id_file)
    assert proc.returncode == 1
    assert "RuntimeError: the marker file is there" in proc.stderr
    run = Run(f"ResumableFlow/{id_file.read_text()}")
    assert run.user_tags == frozenset({"broken"}) and not run.successful


def test_resume_reuses_the_finished_tasks_and_reruns_what_failed(resumable, tmp_path):
    flow, marker = resumable
    marker.touch()
    assert run_file(flow, marker, "run", "--width", "4").returncode == 1
    failed = Flow("ResumableFlow").latest_run
    assert "fragile" in failed and "end" not in failed
    tokens = [t.data.token for t in failed["work"]]

    marker.unlink()
    id_file = tmp_path / "resumed-id"
    proc = run_file(flow, marker, "resume", "--origin-run-id", failed.id, "--run-id-file", id_file)
    assert proc.returncode == 0, proc.stderr
    resumed = Run(f"ResumableFlow/{id_file.read_text()}")
    assert resumed.id != failed.id and resumed.successful
    assert Flow("ResumableFlow").latest_run.id == resumed.id
    # the foreach tasks were reused, not run again: they kept their values
    assert [t.data.token for t in resumed["work"]] == tokens
    assert resumed.data.tokens == tokens
    assert proc.stderr.count(f"reused from run {failed.id}") == 1 + 4 + 1  # start, work, join
    assert "[fragile/0] reused" not in proc.stderr  # it failed: it ran again


def test_resume_defaults_to_the_latest_run_and_reruns_a_named_step(resumable):
    flow, marker = resumable
    assert run_file(flow, marker, "run", "--width", "2").returncode == 0
    origin = Flow("ResumableFlow").latest_run
    proc = run_file(flow, marker, "resume", "work")
    assert proc.returncode == 0, proc.stderr
    resumed = Flow("ResumableFlow").latest_run
    assert resumed.id != origin.id
    assert "[start/0] reused" in proc.stderr
    # from `work` on everything ran again
    assert set(resumed.data.tokens).isdisjoint(origin.data.tokens)


def test_a_parameter_named_tag_keeps_its_option(tmp_path, datastore):
    flow = tmp_path / "tagged_flow.py"
    flow.write_text(
        textwrap.dedent(
            """
            from provider import FlowSpec, Parameter, step


            class TaggedFlow(FlowSpec):
                tag = Parameter("tag", default="none")

                @step
                def start(self):
                    self.seen = self.tag
                    self.next(self.end)

                @step
                def end(self):
                    pass


            if __name__ == "__main__":
                TaggedFlow()
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, str(flow), "run", "--tag", "blue"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    run = Flow("TaggedFlow").latest_run
    assert run.data.seen == "blue"
    assert run.user_tags == frozenset()
