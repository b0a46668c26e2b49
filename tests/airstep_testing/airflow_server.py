"""A real Airflow (``airflow standalone`` through ``scripts/airflow-dev``) for end-to-end tests.

:class:`AirflowServer` starts it in a folder of its own (AIRFLOW_HOME, SQLite DB, logs,
datastore and a DAGs folder) on a free loopback port, and stops every process it started:
the script runs standalone as the leader of a new session, and ``stop`` signals that
process group and then any process left in the session. :meth:`AirflowServer.stop` checks
that nothing of the session survived and SIGKILLs what did, so a failed ``stop`` cannot
leave Airflow running after the tests.

:class:`Api` is a small client of the REST API v2 that logs in as the fixed dev user.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "airflow-dev"
USER = PASSWORD = "admin"

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
        except (httpx.HTTPError, OSError) as exc:  # the server may still be coming up
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(p) for p, s in (line.split() for line in out.splitlines()) if int(s) == sid]


class AirflowServer:
    """``scripts/airflow-dev`` with its own home and DAGs folder (see the module docstring)."""

    def __init__(self, home: Path, dags: Path, start_timeout: float = 180) -> None:
        self.home = home
        self.dags = dags
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout = start_timeout
        self.pidfile = home / "standalone.pid"
        self.log = home / "standalone.log"
        self.startup_seconds: float | None = None

    def _script(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        # Nothing of the test process's own Airflow settings leaks in: the script sets its own.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AIRSTEP_"))}
        env.update(
            AIRFLOW_DEV_VENV_BIN=str(Path(sys.executable).parent),
            AIRFLOW_DEV_HOME=str(self.home),
            AIRFLOW_DEV_DAGS=str(self.dags),
            AIRFLOW_DEV_PORT=str(self.port),
            AIRFLOW_DEV_TIMEOUT=str(int(self.start_timeout)),
        )
        return subprocess.run(
            ["bash", str(SCRIPT), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> AirflowServer:
        began = time.monotonic()
        done = self._script("start", timeout=self.start_timeout + 60)
        if done.returncode != 0:
            raise RuntimeError(
                f"scripts/airflow-dev start failed ({done.returncode}):\n{done.stderr}"
            )
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop through the script, then make sure nothing of the session is left."""
        leader = self._leader()
        try:
            self._script("stop", timeout=90)
        except subprocess.TimeoutExpired:
            pass
        if leader is None:
            return
        deadline = time.monotonic() + 10
        while (left := _session_pids(leader)) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _leader(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Api:
    """The REST API v2 as the dev admin user (a JWT from ``POST /auth/token``)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, timeout=30)
        response = self.client.post("/auth/token", json={"username": USER, "password": PASSWORD})
        response.raise_for_status()
        self.token = response.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get("/api/v2" + path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = self.client.post("/api/v2" + path, json=body)
        response.raise_for_status()
        return response.json()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 150) -> dict[str, Any]:
        """The run once it has finished (success or failed)."""

        def finished() -> dict[str, Any] | None:
            run = self.run(dag_id, run_id)
            return run if run["state"] in ("success", "failed") else None

        return wait_for(finished, timeout, f"run {run_id} of {dag_id} to finish", interval=2)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.get(path, limit=100)["task_instances"]

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task's log as text: one line per log event (JSON content from the API)."""
        path = (
            f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
            f"/logs/{try_number}"
        )
        content = self.get(path, map_index=map_index, full_content="true")["content"]
        lines = []
        for event in content:
            if isinstance(event, str):
                lines.append(event)
                continue
            lines.append(str(event.get("event", "")))
            for detail in event.get("error_detail") or []:
                lines.append(_format_error(detail))
        return "\n".join(lines)


def _format_error(detail: dict[str, Any]) -> str:
    """An ``error_detail`` entry of a structured log event as a Python-style traceback."""
    lines = ["Traceback (most recent call last):"]
    for frame in detail.get("frames") or []:
        lines.append(
            f'  File "{frame.get("filename")}", line {frame.get("lineno")}, in {frame.get("name")}'
        )
    lines.append(f"{detail.get('exc_type')}: {detail.get('exc_value')}")
    return "\n".join(lines)
