"""Records of processes, as they read once their processes are checked: a run or attempt still
"running" whose process is gone from this host failed without saying so."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import AttemptRecord, RunRecord
from provider.exceptions import AirstepError
from provider.processes.proc import recorded_process_gone, this_host


def run_as_seen(record: RunRecord) -> RunRecord:
    """A run still "running" whose process is gone from this host failed without saying so."""
    if record.status == "running" and recorded_process_gone(
        record.host, record.pid, record.created_at
    ):
        return replace(record, status="failed")
    return record


def attempt_as_seen(attempt: AttemptRecord, run: RunRecord) -> AttemptRecord:
    """An attempt still "running" whose process is gone (it ran on the run's host) failed."""
    if attempt.status != "running" or not recorded_process_gone(
        run.host, attempt.pid, attempt.started_at
    ):
        return attempt
    return replace(
        attempt,
        status="failed",
        message="The task process ended without recording how its attempt ended (killed).",
    )


def refuse_live_origin(store: FlowDataStore, origin_run_id: str) -> None:
    """Resume only a run that has ended: one still running on this host is refused, and one
    whose process died without saying so is recorded as failed."""
    origin = store.read_run(origin_run_id)
    if origin is None or origin.status != "running" or origin.pid in (None, os.getpid()):
        return
    if recorded_process_gone(origin.host, origin.pid, origin.created_at):
        with contextlib.suppress(Exception):  # read as failed by everyone anyway
            store.update_run(origin_run_id, status="failed", finished_at=time.time())
    elif origin.host == this_host():
        raise AirstepError(
            f"Run {store.flow_name}/{origin_run_id} is still running (process "
            f"{origin.pid}); let it end or stop it (Ctrl-C), then resume it."
        )
