"""The record of a local run: created exclusively when the run starts, its status written at
its end; a write that fails names what could not be written, where, and the fix."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from provider.datastore.flowstore import RUN_RECORD, FlowDataStore
from provider.datastore.records import RunRecord
from provider.datastore.user import username
from provider.exceptions import AirstepError, DataStoreError
from provider.flow.project import project_info
from provider.flow.spec import FlowSpec
from provider.processes.proc import this_host


def create_local_run(
    store: FlowDataStore,
    flow_cls: type[FlowSpec],
    run_id: str,
    origin_run_id: str | None,
    tags: tuple[str, ...],
) -> RunRecord:
    """Create the run's record, "running" in this process; refused if the run id is taken
    (exclusive: one run per id, even when two start at once)."""
    project = project_info(flow_cls)
    record = RunRecord(
        flow=flow_cls.__name__,
        run_id=run_id,
        created_at=time.time(),
        status="running",
        origin_run_id=origin_run_id,
        executor="local",
        tags=tags,
        user=username(),  # the run's owner: its namespace (user:NAME)
        project=project.project_name if project else None,
        branch=project.branch_name if project else None,
        # which process runs the run: a reader then tells a dead run from a running one
        pid=os.getpid(),
        host=this_host(),
    )
    with writing(store, "The run record", f"{store.run_prefix(run_id)}/{RUN_RECORD}"):
        created = store.create_run(record)
    if not created:
        raise AirstepError(
            f"Flow {flow_cls.__name__} already has a run {run_id!r} in {store.root}, and a run "
            "id names one run. Omit --run-id for a new one, pick another id, or continue that "
            f"run with: resume --origin-run-id {run_id}"
        )
    return record


def finish_run(store: FlowDataStore, run_id: str, status: str) -> None:
    """Record how the run ended ("ok", "failed" or "interrupted")."""
    where = f"{store.run_prefix(run_id)}/{RUN_RECORD}"
    with writing(store, f"The run's status ({status})", where):
        store.update_run(run_id, status=status, finished_at=time.time())


@contextlib.contextmanager
def writing(store: FlowDataStore, what: str, key: str) -> Iterator[None]:
    """Turn a failed datastore write into a DataStoreError naming what and where."""
    try:
        yield
    except DataStoreError:
        raise
    except Exception as exc:
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f"{store.root}/{key}"
        raise DataStoreError(f"{what} could not be written to {where}: {cause}.") from exc


def datastore_failure(store: FlowDataStore, run_id: str, exc: DataStoreError) -> str:
    """One line: what could not be written where, whether the run's status was, the fix."""
    message = f"Run {store.flow_name}/{run_id} failed: {exc}"
    try:
        finish_run(store, run_id, "failed")
    except DataStoreError as again:
        message += f" {again} It reads as failed once this process has ended."
    return (
        f"{message} Fix the datastore at {store.root} (free space, permissions), then "
        f"continue with: resume --origin-run-id {run_id}"
    )
