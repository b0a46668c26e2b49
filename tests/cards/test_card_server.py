"""``python flow.py card server``: the flow's runs, steps and cards on a local page, a
realtime card shown (and reloading itself) while its task runs, then its final version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from airstep_testing.airflow_server import free_port, wait_for

FLOW = Path(__file__).parent / "flows" / "live_flow.py"

pytestmark = pytest.mark.slow


def test_card_server_lists_runs_and_shows_a_live_card_then_the_final_one(datastore, tmp_path):
    release = tmp_path / "release"
    run = subprocess.Popen(
        [sys.executable, str(FLOW), "run", "--run-id", "live1", "--release", str(release)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(FLOW), "card", "server", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/"
    card = f"{base}?run=live1&step=start&task=0&card=0"
    try:
        with httpx.Client(timeout=10) as http:
            runs = wait_for(lambda: http.get(base).text, 30, "the card server")
            wait_for(lambda: "live1" in http.get(base).text, 30, "the run to be listed")
            # while the step runs: its refreshed card, marked live, reloading itself
            listing = wait_for(
                lambda: (t := http.get(base, params={"run": "live1"}).text) and "(live)" in t and t,
                30, "the live card",
            )  # fmt: skip
            assert "start/0" in listing and "runs" in runs
            live = http.get(card).text
            assert "1/3" in live and '<meta http-equiv="refresh" content="1">' in live
            assert "finished" not in live

            release.touch()
            assert run.wait(60) == 0, run.stderr.read() if run.stderr else ""
            final = http.get(card).text
            assert "3/3" in final and "<strong>finished</strong>" in final
            assert "http-equiv" not in final
            assert "(live)" not in http.get(base, params={"run": "live1"}).text
            assert http.get(f"{base}?run=live1&step=start&task=0&card=5").status_code == 404
    finally:
        for proc in (server, run):
            proc.terminate()
            proc.wait(10)
