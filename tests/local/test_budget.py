"""--max-workers and the local GPU budget."""

from __future__ import annotations

from helpers import run_flow

from provider import Flow


def max_overlap(spans):
    events = sorted([(b, 1) for b, _, _ in spans] + [(e, -1) for _, e, _ in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def test_max_workers_bounds_concurrency(datastore):
    proc = run_flow("budget_flow.py", "run", "--max-workers", "2", env={"AIRSTEP_LOCAL_GPUS": "8"})
    assert proc.returncode == 0, proc.stderr
    spans = Flow("BudgetFlow").latest_run.data.spans
    assert len(spans) == 6
    assert max_overlap(spans) <= 2


def test_gpus_are_a_budget_with_disjoint_devices(datastore):
    proc = run_flow("budget_flow.py", "run", env={"AIRSTEP_LOCAL_GPUS": "2"})
    assert proc.returncode == 0, proc.stderr
    spans = Flow("BudgetFlow").latest_run.data.spans
    assert {d for _, _, d in spans} <= {"0", "1"}
    assert max_overlap(spans) <= 2
    for b1, e1, d1 in spans:  # two tasks never hold the same GPU at once
        for b2, e2, d2 in spans:
            if (b1, e1) != (b2, e2) and d1 == d2:
                assert e1 <= b2 or e2 <= b1


def test_asking_for_more_gpus_than_exist_fails_before_running(datastore):
    proc = run_flow("budget_flow.py", "run", env={"AIRSTEP_LOCAL_GPUS": "0"})
    assert proc.returncode == 1
    assert "Step *work* asks for 1 GPU(s) but this machine has 0" in proc.stderr
    assert Flow("BudgetFlow").latest_run is None


def test_a_terminal_shows_progress_per_step(datastore):
    import os
    import pty
    import re
    import subprocess
    import sys

    from helpers import FLOWS

    leader, follower = pty.openpty()
    env = {**os.environ, "AIRSTEP_LOCAL_GPUS": "8", "AIRSTEP_PROGRESS_SECONDS": "0.2"}
    proc = subprocess.Popen(
        [sys.executable, str(FLOWS / "budget_flow.py"), "run", "--max-workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed: the run is over
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode()
    assert "Progress: start 1/1, work " in text
    assert re.search(r"\([12] running, 0 failed, \d+\.\d tasks/s\)", text), text
