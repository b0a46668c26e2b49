"""Options are never abbreviated: --n, --no and --not reach parameters of those names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import run_flow

from provider import Flow

FLOW = str(Path(__file__).parent / "flows" / "short_options_flow.py")
ARGS = ["--n", "5", "--no", "1", "--not", "x"]


def test_parameters_named_like_the_start_of_a_switch_are_set(datastore):
    proc = run_flow(FLOW, "run", *ARGS)
    assert proc.returncode == 0, proc.stderr
    assert Flow("ShortOptionsFlow").latest_run["start"].task.data.got == {
        "n": 5,
        "no": 1,
        "not": "x",
    }
    proc = run_flow(FLOW, "--not-quiet", "--no-pylint", "run", "--n", "6")  # Metaflow's switches
    assert proc.returncode == 0, proc.stderr
    assert Flow("ShortOptionsFlow").latest_run["start"].task.data.got["n"] == 6


def test_the_airstep_command_passes_them_through(datastore):
    airstep = os.path.join(os.path.dirname(sys.executable), "airstep")
    proc = subprocess.run(
        [airstep, "run", FLOW, *ARGS], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert Flow("ShortOptionsFlow").latest_run["start"].task.data.got == {
        "n": 5,
        "no": 1,
        "not": "x",
    }


def test_an_abbreviated_option_is_refused_not_guessed(datastore):
    proc = run_flow(FLOW, "run", "--max-w", "2")
    assert proc.returncode == 2
    assert "unrecognized arguments: --max-w 2" in proc.stderr
    assert Flow("ShortOptionsFlow").latest_run is None
