"""SIGTERM and spot interruption notices reach the step's termination hooks."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from provider import Flow

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_sigterm_runs_the_hook_and_the_retry_resumes_from_the_checkpoint(datastore):
    proc = subprocess.Popen(
        [
            sys.executable,
            str(DAGS / "spot_checkpoint.py"),
            "run",
            "--chunks",
            "60",
            "--seconds_per_chunk",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid = None
    deadline = time.time() + 30
    while pid is None and time.time() < deadline:
        line = proc.stdout.readline()
        if "attempt 0 working in pid" in line:
            pid = int(line.split()[-1])
    assert pid is not None
    time.sleep(0.8)  # let it get some chunks done
    os.kill(pid, signal.SIGTERM)  # what a spot reclaim does
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "terminating: saved progress at chunk" in out
    assert "attempt 1: resuming after chunk" in out
    run = Flow("SpotCheckpointFlow").latest_run
    assert run.data.total == sum(i * i for i in range(60))
    assert run.data.attempts == 2
    first = run["crunch"].task.attempts[0]
    assert first["status"] == "failed" and first["exception"] == "TaskTerminated"


class _Notice(http.server.BaseHTTPRequestHandler):
    armed = threading.Event()

    def do_GET(self):  # noqa: N802
        if self.path.endswith("/spot/instance-action") and self.armed.is_set():
            body = b'{"action": "terminate", "time": "2026-01-01T00:00:00Z"}'
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.end_headers()

    def do_PUT(self):  # noqa: N802
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_spot_interruption_notice_runs_the_hooks_before_sigterm(datastore, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Notice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    flow = tmp_path / "notice_flow.py"
    flow.write_text(
        "import time\n"
        "from provider import FlowSpec, current, step\n"
        "class NoticeFlow(FlowSpec):\n"
        "    @step\n"
        "    def start(self):\n"
        "        self.heard = []\n"
        "        current.on_termination(lambda: self.heard.append(current.termination_reason))\n"
        "        print('ready', flush=True)\n"
        "        deadline = time.time() + 30\n"
        "        while not current.is_terminating and time.time() < deadline:\n"
        "            time.sleep(0.05)\n"
        "        self.next(self.end)\n"
        "    @step\n"
        "    def end(self):\n"
        "        pass\n"
        "if __name__ == '__main__':\n"
        "    NoticeFlow()\n"
    )
    env = {
        **os.environ,
        "AIRSTEP_SPOT_METADATA_URL": f"http://127.0.0.1:{server.server_port}/latest",
        "AIRSTEP_SPOT_POLL_SECONDS": "0.05",
    }
    try:
        proc = subprocess.Popen(
            [sys.executable, str(flow), "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert "ready" in proc.stdout.readline()
        _Notice.armed.set()
        out, err = proc.communicate(timeout=60)
    finally:
        _Notice.armed.clear()
        server.shutdown()
    assert proc.returncode == 0, err
    assert Flow("NoticeFlow").latest_run["start"].task.data.heard == ["spot interruption notice"]
