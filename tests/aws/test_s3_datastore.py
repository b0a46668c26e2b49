"""The datastore on S3 (moto_server, a real S3-protocol peer): same layout and atomicity."""

from __future__ import annotations

import pytest

from provider.datastore import FlowDataStore, load_object, save_object, storage_for
from provider.datastore.code import upload_code
from provider.datastore.records import ArtifactEntry, TaskManifest
from provider.datastore.s3 import MULTIPART_THRESHOLD, S3Storage
from provider.exceptions import DataStoreError


def test_storage_for_an_s3_root(s3_bucket):
    storage = storage_for(s3_bucket)
    assert isinstance(storage, S3Storage)
    storage.put_bytes("F/runs/r/run.json", b"{}")
    storage.put_bytes("F/runs/r/start/0/task.json", b"{}")
    assert storage.list_dir("F/runs") == ["r"]
    assert storage.list_dir("F/runs/r") == ["run.json", "start"]
    assert storage.exists("F/runs/r/run.json") and not storage.exists("F/runs/x")
    with pytest.raises(DataStoreError, match="Nothing stored at 'F/nope'"):
        storage.get_bytes("F/nope")


@pytest.mark.slow
def test_artifacts_small_and_multipart_round_trip(s3_bucket):
    storage = storage_for(s3_bucket)
    small = save_object(storage, "F", {"a": 1})
    assert save_object(storage, "F", {"a": 1}) == small
    big_value = bytes(range(256)) * 4096 + b"".join(i.to_bytes(4, "big") for i in range(20_000_000))
    assert len(big_value) > MULTIPART_THRESHOLD
    big = save_object(storage, "F", big_value)
    assert load_object(storage, "F", small.sha) == {"a": 1}
    assert load_object(storage, "F", big.sha) == big_value


def test_task_records_and_code_packages_on_s3(s3_bucket, tmp_path):
    store = FlowDataStore("F", storage_for(s3_bucket))
    ref = store.save_artifact([1, 2, 3])
    store.commit_task(
        TaskManifest(
            flow="F", run_id="r", step="start", task_id="0", attempt=0, parameters=(),
            foreach_stack=(), foreach=None, next=("end",), caught=None, started_at=1.0,
            finished_at=2.0, artifacts={"x": ArtifactEntry(ref.sha, ref.size, "list")},
        )
    )  # fmt: skip
    assert store.task("r", "start", "0").load("x") == [1, 2, 3]
    assert store.read_manifest("r", "end", "0") is None
    store.checkpoints("r", "start", "0").save({"done": 3})
    assert store.checkpoints("r", "start", "0").load() == {"done": 3}
    (tmp_path / "f.py").write_text("x = 1\n")
    key = upload_code(store, str(tmp_path / "f.py"))
    assert store.storage.exists(key)
