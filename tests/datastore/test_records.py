"""Typed, versioned records: what one airstep writes, this and older ones read."""

from __future__ import annotations

import json

import pytest

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.records import (
    RECORD_VERSION,
    ArtifactEntry,
    AttemptRecord,
    CaughtException,
    ForeachFrame,
    ForeachSplit,
    RunRecord,
    TaskManifest,
    decode,
    encode,
)
from provider.datastore.storage import LocalStorage
from provider.exceptions import DataStoreError


def manifest(**changes):
    fields = dict(
        flow="F", run_id="r", step="train", task_id="1", attempt=2, parameters=("lr",),
        foreach_stack=(ForeachFrame("start", "rates", 1, 3, "ab" * 32, "0.01"),),
        foreach=ForeachSplit("xs", 2, ("cd" * 32, "ef" * 32), ("1", "2")),
        next=("join",), caught=CaughtException("ValueError", "bad", "err"),
        started_at=1.5, finished_at=2.5, artifacts={"x": ArtifactEntry("12" * 32, 10, "int")},
    )  # fmt: skip
    fields.update(changes)
    return TaskManifest(**fields)


def test_every_record_survives_a_round_trip():
    records = [
        manifest(),
        manifest(foreach=None, caught=None, foreach_stack=(), cloned_from="9"),
        AttemptRecord("failed", 1.0, 2.0, pid=7, exception="E", message="m", traceback="tb"),
        RunRecord("F", "r", 1.0, status="ok", parameters={"a": 1}, tags=("x", "y")),
    ]
    for record in records:
        assert decode(type(record), encode(record), "here") == record


def test_a_record_written_before_versions_existed_still_reads():
    """The untyped layout (no version field) has the same keys: it reads as this version."""
    old = {
        "flow": "F", "run_id": "r", "step": "train", "task_id": "1", "attempt": 0,
        "parameters": ["lr"],
        "foreach_stack": [{"step": "start", "var": "rates", "index": 1, "num_splits": 3,
                           "sha": "ab" * 32, "label": "0.01"}],
        "foreach": None, "next": ["join"], "caught": None, "started_at": 1.0,
        "artifacts": {"x": {"sha": "12" * 32, "size": 10, "type": "int"}}, "finished_at": 2.0,
    }  # fmt: skip
    read = decode(TaskManifest, json.dumps(old, indent=1).encode(), "old")
    assert read.version == RECORD_VERSION
    assert read.index == 1 and read.foreach_stack[0].label == "0.01"
    assert read.artifacts["x"] == ArtifactEntry("12" * 32, 10, "int")
    run = decode(RunRecord, b'{"flow": "F", "run_id": "r", "created_at": 3, "tags": ["t"]}', "o")
    assert run.tags == ("t",) and run.status is None


def test_fields_a_newer_minor_writer_adds_are_ignored():
    data = json.loads(encode(AttemptRecord("ok", 1.0, 2.0)))
    data["node_index"] = 3
    assert decode(AttemptRecord, json.dumps(data).encode(), "x") == AttemptRecord("ok", 1.0, 2.0)


def test_a_record_from_a_newer_airstep_is_refused_not_guessed():
    data = json.loads(encode(AttemptRecord("ok", 1.0)))
    data["version"] = RECORD_VERSION + 1
    with pytest.raises(
        DataStoreError,
        match=rf"version {RECORD_VERSION + 1}, newer than this airstep reads.*upgrade",
    ):
        decode(AttemptRecord, json.dumps(data).encode(), "F/runs/r/start/0/attempt-0.json")


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"status": "ok"}', "started_at"),
    ],
)
def test_a_damaged_record_is_an_error_naming_where_it_is(data, problem):
    with pytest.raises(DataStoreError, match=f"at somewhere/attempt-0.json is damaged.*{problem}"):
        decode(AttemptRecord, data, "somewhere/attempt-0.json")


def test_the_store_reads_back_what_it_wrote_and_names_a_damaged_file(tmp_path):
    store = FlowDataStore("F", LocalStorage(str(tmp_path)))
    store.commit_task(manifest(run_id="r", step="train", task_id="1"))
    assert store.read_manifest("r", "train", "1") == manifest()
    assert store.read_manifest("r", "train", "2") is None  # absent is not damaged
    path = tmp_path / "F" / "runs" / "r" / "train" / "1" / "task.json"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataStoreError, match=str(path.parent)):
        store.read_manifest("r", "train", "1")


def test_update_run_creates_the_record_and_changes_only_what_it_names(tmp_path):
    store = FlowDataStore("F", LocalStorage(str(tmp_path)))
    store.update_run("r", status="running")
    store.update_run("r", tags=("a",))
    record = store.read_run("r")
    assert (record.status, record.tags, record.flow, record.run_id) == ("running", ("a",), "F", "r")
