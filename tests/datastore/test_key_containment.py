"""Every key names a place under the datastore root: a local root refuses a key that climbs out
of it, by ``..`` or through a symlink; an S3 root refuses keys with empty, ``.`` or ``..``
parts before any request."""

from __future__ import annotations

import os

import pytest

from provider.datastore import FlowDataStore, LocalStorage
from provider.datastore.s3 import S3Storage
from provider.exceptions import DataStoreError


@pytest.fixture
def root(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_bytes(b"not the datastore's")
    return tmp_path / "root"


@pytest.mark.parametrize("key", ["a/../../outside/secret", "../outside/secret", "F/./x", "F//x"])
def test_a_local_root_refuses_a_key_with_dot_parts(root, key):
    storage = LocalStorage(str(root))
    for use in (storage.get_bytes, storage.exists, storage.list_dir,
                lambda k: storage.put_bytes(k, b"x")):  # fmt: skip
        with pytest.raises(DataStoreError, match=f"The key {key!r} has an empty, '.' or '..'"):
            use(key)
    assert (root.parent / "outside" / "secret").read_bytes() == b"not the datastore's"
    assert [p.name for p in root.iterdir()] == []


def test_a_local_root_refuses_a_symlink_that_leads_out(root):
    storage = LocalStorage(str(root))
    (root / "F").mkdir()
    os.symlink(root.parent / "outside", root / "F" / "runs")  # a folder link
    os.symlink(root.parent / "outside" / "secret", root / "F" / "task.json")  # a file link
    for key in ("F/runs/secret", "F/task.json"):
        with pytest.raises(DataStoreError, match=f"The key {key!r} resolves to .*outside the"):
            storage.get_bytes(key)
        with pytest.raises(DataStoreError, match="outside the datastore root"):
            storage.put_bytes(key, b"overwritten")
    with pytest.raises(DataStoreError, match="outside the datastore root"):
        storage.list_dir("F/runs")
    with pytest.raises(DataStoreError, match="outside the datastore root"):
        FlowDataStore("F", storage).list_runs()
    assert (root.parent / "outside" / "secret").read_bytes() == b"not the datastore's"


def test_links_inside_the_root_and_a_linked_root_still_work(root, tmp_path):
    (root / "F").mkdir()
    (root / "F" / "real").mkdir()
    os.symlink(root / "F" / "real", root / "F" / "alias")
    os.symlink(root, tmp_path / "linked-root")
    for storage in (LocalStorage(str(root)), LocalStorage(str(tmp_path / "linked-root"))):
        storage.put_bytes("F/alias/x.json", b"{}")
        assert storage.get_bytes("F/real/x.json") == b"{}" and storage.list_dir("F") == [
            "alias", "real",
        ]  # fmt: skip


class _NoRequests:
    """An S3 client that fails any request: a refused key must not reach it."""

    def __getattr__(self, name: str):
        def request(**kwargs):
            raise AssertionError(f"S3 got {name}({kwargs}) for a key that should be refused")

        return request


@pytest.mark.parametrize("key", ["F/../G/x", "F/./x", "F//x", "/F/x", "F/x/", ".."])
def test_an_s3_root_refuses_a_key_with_empty_or_dot_parts_before_any_request(key):
    storage = S3Storage("s3://bucket/prefix", client=_NoRequests())
    for use in (storage.get_bytes, storage.exists, lambda k: storage.put_bytes(k, b"x"),
                lambda k: storage.put_new(k, b"x"), storage.open_read):  # fmt: skip
        with pytest.raises(DataStoreError, match=f"The key {key!r} has an empty, '.' or '..'"):
            use(key)
