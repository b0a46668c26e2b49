"""On S3 (moto_server): damaged blobs are errors and are replaced; run records are exclusive."""

from __future__ import annotations

import os
import time

import pytest

from provider.datastore import FlowDataStore, load_object, save_object, storage_for
from provider.datastore.blobs import SPOOL_LIMIT, blob_key
from provider.datastore.records import RunRecord
from provider.datastore.s3 import MULTIPART_THRESHOLD, S3Storage, upload_etag
from provider.exceptions import DataStoreError


@pytest.fixture
def s3(s3_bucket) -> S3Storage:
    storage = storage_for(s3_bucket)
    assert isinstance(storage, S3Storage)
    storage.client.put_bucket_versioning(
        Bucket=storage.bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return storage


def versions(storage: S3Storage, key: str) -> int:
    listed = storage.client.list_object_versions(Bucket=storage.bucket, Prefix=storage._key(key))
    return len(listed.get("Versions", []))


def damage(storage: S3Storage, key: str) -> None:
    """Overwrite the object with its own bytes, one of them flipped."""
    data = bytearray(storage.get_bytes(key))
    data[len(data) // 2] ^= 0x01
    storage.client.put_object(Bucket=storage.bucket, Key=storage._key(key), Body=bytes(data))


@pytest.mark.parametrize("size", [1000, SPOOL_LIMIT + 1024 * 1024], ids=["in-memory", "spooled"])
def test_a_damaged_blob_is_an_error_and_storing_the_value_again_replaces_it(s3, size):
    value = os.urandom(size)
    ref = save_object(s3, "F", value)
    key = blob_key("F", ref.sha)
    damage(s3, key)
    with pytest.raises(DataStoreError, match=f"Artifact blob {ref.sha} in the datastore at "):
        load_object(s3, "F", ref.sha)
    assert save_object(s3, "F", value) == ref
    assert load_object(s3, "F", ref.sha) == value
    assert versions(s3, key) == 3  # stored, damaged, stored again


def test_an_intact_spooled_blob_is_not_uploaded_again(s3):
    value = os.urandom(SPOOL_LIMIT + 1024 * 1024)
    ref = save_object(s3, "F", value)
    assert save_object(s3, "F", value) == ref
    assert versions(s3, blob_key("F", ref.sha)) == 1
    assert load_object(s3, "F", ref.sha) == value


def test_a_run_record_is_created_once(s3):
    store = FlowDataStore("F", s3)
    first = RunRecord(flow="F", run_id="r", created_at=time.time(), tags=("first",))
    assert store.create_run(first)
    assert not store.create_run(RunRecord(flow="F", run_id="r", created_at=time.time()))
    assert store.read_run("r") == first
    assert versions(s3, "F/runs/r/run.json") == 1


@pytest.mark.slow
def test_the_etag_of_a_multipart_upload_is_predicted(s3, tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(MULTIPART_THRESHOLD + 5 * 1024 * 1024))
    expected = upload_etag(str(path))
    assert expected.endswith("-3")  # 32 MB parts
    copy = tmp_path / "copy"
    copy.write_bytes(path.read_bytes())
    s3.put_file("F/blobs/big", str(path))
    head = s3.client.head_object(Bucket=s3.bucket, Key=s3._key("F/blobs/big"))
    assert head["ETag"].strip('"') == expected
    assert s3.holds("F/blobs/big", str(copy))
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0x01
    copy.write_bytes(bytes(data))
    assert not s3.holds("F/blobs/big", str(copy))
