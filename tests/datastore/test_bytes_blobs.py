"""Blobs of bytes stored as they are (a card's HTML): content-addressed, sealed and verified as
artifacts are, and read without pickle: a pickled blob asked for as bytes is refused unread."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import cloudpickle
import pytest

from provider.datastore import LocalStorage, load_object, save_object
from provider.datastore.bytes_blobs import PickledBlob, load_bytes, save_bytes
from provider.datastore.seal import SEAL_SIZE, blob_key
from provider.exceptions import DataStoreError

PAGE = ("<!DOCTYPE html><html><body>" + "<p>row</p>" * 20_000 + "</body></html>").encode()


@pytest.fixture
def no_unpickling(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("unpickled while reading bytes")

    for module, name in [(pickle, "loads"), (pickle, "load"), (cloudpickle, "loads"),
                         (cloudpickle, "load")]:  # fmt: skip
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def path_of(root: Path, sha: str) -> Path:
    return root.joinpath(*blob_key("F", sha).split("/"))


def test_bytes_round_trip_content_addressed_and_compressed(tmp_path, no_unpickling):
    storage = LocalStorage(str(tmp_path))
    ref = save_bytes(storage, "F", PAGE)
    assert ref.sha == hashlib.sha256(PAGE).hexdigest() and ref.size == len(PAGE)
    assert save_bytes(storage, "F", PAGE) == ref  # the same bytes, one blob
    assert path_of(tmp_path, ref.sha).stat().st_size < len(PAGE) // 20
    assert load_bytes(storage, "F", ref.sha) == PAGE
    assert load_bytes(storage, "F", save_bytes(storage, "F", b"").sha) == b""


def test_every_byte_flip_of_a_bytes_blob_is_an_error_never_other_bytes(tmp_path, no_unpickling):
    storage = LocalStorage(str(tmp_path))
    data = b"<p>a small card</p>" * 40
    ref = save_bytes(storage, "F", data)
    path = path_of(tmp_path, ref.sha)
    good = path.read_bytes()
    outcomes = []
    for position in range(len(good)):
        damaged = bytearray(good)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        try:
            outcomes.append(load_bytes(storage, "F", ref.sha) == data)
        except DataStoreError as exc:
            assert ref.sha in str(exc) and "Artifact blob" in str(exc), exc
            outcomes.append("error")
    assert False not in outcomes  # never other bytes
    # a flip may leave the payload as it was (a frame header bit the decoder ignores)
    assert outcomes.count("error") >= len(outcomes) - 4


def test_a_pickled_blob_is_not_read_as_bytes_and_bytes_are_not_a_value(tmp_path, monkeypatch):
    storage = LocalStorage(str(tmp_path))
    pickled = save_object(storage, "F", "<html>a card stored by an earlier airstep</html>")
    raw = save_bytes(storage, "F", b"<html>a card</html>")
    with pytest.MonkeyPatch.context() as spy:
        spy.setattr(pickle, "loads", lambda *a: pytest.fail("unpickled"))
        spy.setattr(pickle, "load", lambda *a: pytest.fail("unpickled"))
        with pytest.raises(PickledBlob, match=f"Blob {pickled.sha} .* holds a pickled value"):
            load_bytes(storage, "F", pickled.sha)
    with pytest.raises(DataStoreError, match=f"Blob {raw.sha} .* holds bytes stored as they are"):
        load_object(storage, "F", raw.sha)


def test_a_blob_without_a_seal_is_not_read_as_bytes(tmp_path, no_unpickling):
    # an earlier airstep's blob: a zstd frame of a pickle, no seal
    storage = LocalStorage(str(tmp_path))
    ref = save_bytes(storage, "F", b"x" * 100)
    path = path_of(tmp_path, ref.sha)
    path.write_bytes(path.read_bytes()[SEAL_SIZE:])
    with pytest.raises(PickledBlob):
        load_bytes(storage, "F", ref.sha)


@pytest.mark.parametrize(
    "sha", ["../../G/blobs/ab/" + "a" * 64, "A" * 64, "ab", "", "a" * 63 + "/"]
)
def test_an_address_that_is_not_a_sha256_names_no_key(tmp_path, sha):
    storage = LocalStorage(str(tmp_path))
    for read in (load_bytes, load_object):
        with pytest.raises(DataStoreError, match="is not a SHA-256"):
            read(storage, "F", sha)


def test_a_blob_that_holds_more_than_its_seal_says_is_an_error(tmp_path, no_unpickling):
    storage = LocalStorage(str(tmp_path))
    small, big = save_bytes(storage, "F", b"a" * 10), save_bytes(storage, "F", b"a" * 5_000_000)
    small_path, big_path = path_of(tmp_path, small.sha), path_of(tmp_path, big.sha)
    # the big blob's frame behind the small blob's seal: read up to one step past 10 bytes
    small_path.write_bytes(small_path.read_bytes()[:SEAL_SIZE] + big_path.read_bytes()[SEAL_SIZE:])
    with pytest.raises(DataStoreError, match="bytes of payload, not 10"):
        load_bytes(storage, "F", small.sha)
