"""A byte flipped in a stored blob is an error naming what was read, never a wrong value."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from helpers import run_flow

from provider import Flow
from provider.datastore import FlowDataStore, LocalStorage, load_object, save_object
from provider.datastore.blobs import SEAL_SIZE, SMALL_BLOB, blob_key
from provider.exceptions import DataStoreError

FLOW = str(Path(__file__).parent / "flows" / "integrity_flow.py")
SMALL = {"numbers": list(range(1000)), "name": "small"}
BIG_LEN = 20 * 1024 * 1024


def flip(path: Path, position: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= mask
    path.write_bytes(bytes(data))


def blob_path(root: Path, flow: str, sha: str) -> Path:
    return root.joinpath(*blob_key(flow, sha).split("/"))


def outcome(storage: LocalStorage, sha: str, value: object) -> str:
    try:
        back = load_object(storage, "F", sha)
    except DataStoreError as exc:
        assert f"Artifact blob {sha} in the datastore at {storage.root} is damaged" in str(exc)
        return "error"
    assert back == value, "a damaged blob was read back as a different value"
    return "same value"


def test_every_single_byte_flip_of_a_small_blob_is_caught(tmp_path):
    storage = LocalStorage(str(tmp_path))
    ref = save_object(storage, "F", SMALL)
    path = blob_path(tmp_path, "F", ref.sha)
    good = path.read_bytes()
    assert len(good) < SMALL_BLOB
    seen = []
    for position in range(len(good)):
        for mask in (0x01, 0x80, 0xFF) if position < 16 else (0x01,):  # the frame header
            flip(path, position, mask)
            seen.append(outcome(storage, ref.sha, SMALL))
            path.write_bytes(good)
    # a flip may leave the pickle bytes as they were (a header bit the decoder ignores): the
    # value is then the right one; every other flip is an error
    assert seen.count("error") >= len(seen) - 4
    assert load_object(storage, "F", ref.sha) == SMALL


def test_byte_flips_in_a_large_streamed_blob_are_caught(tmp_path):
    value = {"noise": random.Random(1).randbytes(16 * 1024 * 1024 + 1024), "tail": list(range(99))}
    storage = LocalStorage(str(tmp_path))
    ref = save_object(storage, "F", value)
    path = blob_path(tmp_path, "F", ref.sha)
    good = path.read_bytes()
    assert len(good) > SMALL_BLOB
    positions = [*range(0, 24, 3), *random.Random(2).sample(range(len(good)), 12), len(good) - 1]
    for position in positions:
        flip(path, position)
        # a flip in the seal's magic number reads the blob as one without a seal, verified by
        # its SHA-256 (outcome() checks the value); every other flip is an error
        assert outcome(storage, ref.sha, value) == "error" or position < 4, position
        path.write_bytes(good)
    for cut in (len(good) // 2, len(good) - 1, SEAL_SIZE + 10, SEAL_SIZE - 1):  # cut short
        path.write_bytes(good[:cut])
        assert outcome(storage, ref.sha, value) == "error", cut


def test_a_blob_under_another_address_is_an_error(tmp_path):
    storage = LocalStorage(str(tmp_path))
    for value in (SMALL, os.urandom(SMALL_BLOB * 4)):
        ref = save_object(storage, "F", value)
        other = "ab" * 32
        target = blob_path(tmp_path, "F", other)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob_path(tmp_path, "F", ref.sha).read_bytes())
        with pytest.raises(DataStoreError, match=f"its seal names blob {ref.sha}"):
            load_object(storage, "F", other)


def test_a_blob_without_a_seal_is_verified_by_its_address(tmp_path):
    """Blobs written before seals existed: one zstd frame of the pickle bytes."""
    storage = LocalStorage(str(tmp_path))
    for value in (SMALL, {"noise": random.Random(3).randbytes(SMALL_BLOB * 8)}):
        ref = save_object(storage, "F", value)
        path = blob_path(tmp_path, "F", ref.sha)
        unsealed = path.read_bytes()[SEAL_SIZE:]
        path.write_bytes(unsealed)
        assert load_object(storage, "F", ref.sha) == value
        flip(path, len(unsealed) // 2)
        with pytest.raises(DataStoreError, match="is damaged"):
            load_object(storage, "F", ref.sha)


def test_storing_a_value_again_replaces_its_damaged_blob(tmp_path):
    storage = LocalStorage(str(tmp_path))
    for value in (SMALL, os.urandom(SMALL_BLOB * 40)):  # in memory, and spooled to a file
        ref = save_object(storage, "F", value)
        path = blob_path(tmp_path, "F", ref.sha)
        flip(path, path.stat().st_size // 2)
        with pytest.raises(DataStoreError, match="is damaged"):
            load_object(storage, "F", ref.sha)
        assert save_object(storage, "F", value) == ref
        assert load_object(storage, "F", ref.sha) == value
    assert not list((tmp_path / ".tmp").iterdir())


@pytest.fixture
def finished_run(datastore) -> str:
    proc = run_flow(FLOW, "run")
    assert proc.returncode == 0, proc.stderr
    return Flow("IntegrityFlow").latest_run.id


def artifact_blob(root: Path, run_id: str, step: str, name: str) -> Path:
    manifest = FlowDataStore("IntegrityFlow").read_manifest(run_id, step, "0")
    return blob_path(root, "IntegrityFlow", manifest.artifacts[name].sha)


def test_the_client_names_the_task_artifact_and_fix(datastore, finished_run):
    run_id = finished_run
    path = artifact_blob(datastore, run_id, "start", "small")
    flip(path, path.stat().st_size // 2)
    run = Flow("IntegrityFlow")[run_id]
    with pytest.raises(DataStoreError) as start_error:
        _ = run["start"].task.data.small
    message = str(start_error.value)
    assert f"Task IntegrityFlow/{run_id}/start/0 cannot read artifact *small*" in message
    assert "is damaged (its bytes hash to" in message
    assert "Step *start* set it: re-run it and the steps after it with `resume start " in message
    assert f"--origin-run-id {run_id}`" in message
    # a later task that inherited it names the step that set it
    with pytest.raises(
        DataStoreError, match=r"IntegrityFlow/\d+/end/0 cannot read artifact \*small"
    ):
        _ = run.data.small
    with pytest.raises(DataStoreError, match=r"Step \*start\* set it"):
        _ = run["end"].task["small"].data
    assert run.data.total == sum(range(1000)) + BIG_LEN  # the other artifacts still read


def test_resume_fails_naming_the_artifact_then_rerunning_its_step_repairs_it(
    datastore, finished_run
):
    run_id = finished_run
    path = artifact_blob(datastore, run_id, "start", "big")
    flip(path, 100_000)
    proc = run_flow(FLOW, "resume", "end", "--origin-run-id", run_id)
    assert proc.returncode == 1
    resumed = Flow("IntegrityFlow").latest_run
    assert resumed.id != run_id
    assert f"Task IntegrityFlow/{resumed.id}/end/0 cannot read artifact *big*" in proc.stderr
    assert "Step *start* set it: re-run it and the steps after it with `resume start " in (
        proc.stderr
    )
    assert resumed.record["status"] == "failed" and not resumed.successful
    assert not resumed["end"]["0"].successful

    proc = run_flow(FLOW, "resume", "start", "--origin-run-id", run_id)
    assert proc.returncode == 0, proc.stderr
    repaired = Flow("IntegrityFlow").latest_run
    assert repaired.successful and repaired.data.total == sum(range(1000)) + BIG_LEN
    # same value, same address: the first run reads its artifact again too
    assert Flow("IntegrityFlow")[run_id]["start"].task.data.big == random.Random(7).randbytes(
        BIG_LEN
    )


def test_a_damaged_foreach_item_names_the_item_and_the_step_that_split(datastore, finished_run):
    run_id = finished_run
    store = FlowDataStore("IntegrityFlow")
    item_sha = store.read_manifest(run_id, "start", "0").foreach.items[0]
    path = blob_path(datastore, "IntegrityFlow", item_sha)
    flip(path, path.stat().st_size - 2)
    proc = run_flow(FLOW, "resume", "each", "--origin-run-id", run_id)
    assert proc.returncode == 1
    resumed = Flow("IntegrityFlow").latest_run
    assert (
        f"Task IntegrityFlow/{resumed.id}/each/0 cannot read its foreach item ('a', item 0 "
        "of *items*)" in proc.stderr
    )
    assert "Step *start* set it" in proc.stderr
    assert resumed.record["status"] == "failed"
    with pytest.raises(DataStoreError, match=rf"IntegrityFlow/{run_id}/each/0 cannot read its"):
        store.task(run_id, "each", "0").load_item()  # what a join reads as inputs[0].input
    assert [t.data.letter for t in Flow("IntegrityFlow")[run_id]["each"]] == ["A", "B"]


def test_a_new_run_storing_the_same_value_repairs_the_blob(datastore, finished_run):
    run_id = finished_run
    path = artifact_blob(datastore, run_id, "start", "small")
    flip(path, path.stat().st_size // 2)
    proc = run_flow(FLOW, "run")
    assert proc.returncode == 0, proc.stderr
    fresh = Flow("IntegrityFlow").latest_run
    assert fresh.id != run_id and fresh.successful
    assert fresh.data.small == SMALL and fresh.data.total == sum(range(1000)) + BIG_LEN
    assert Flow("IntegrityFlow")[run_id]["start"].task.data.small == SMALL
