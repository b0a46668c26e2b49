"""Content-addressed blobs of bytes stored as they are: a card's HTML, read where nothing may
be unpickled (Airflow's API server, ``card server``).

A blob of bytes is sealed and verified as an artifact's blob is (:mod:`provider.datastore.seal`):
its key is the SHA-256 of the bytes, its seal names that address, the XXH3-128 checksum of the
bytes and their length, and its tag (:data:`~provider.datastore.seal.BYTES_TAG`) says that
they are bytes, not a pickle. Reading checks all of it and returns bytes or raises; nothing on
this path imports or calls pickle. A blob that holds a pickle (an artifact, or a card stored
by an earlier airstep) is a :class:`PickledBlob`, never unpickled here.
"""

from __future__ import annotations

import hashlib

import xxhash
import zstandard

from provider.datastore.blobs import COMPRESSION_LEVEL, BlobRef
from provider.datastore.seal import BYTES_TAG, SEAL_SIZE, Expected, blob_key, damaged, pack_seal
from provider.datastore.storage import Storage
from provider.exceptions import DataStoreError

#: bytes decompressed per step while reading: a blob that holds more than its seal says
#: stops being read one step past its length
_READ_STEP = 1 << 20
#: how a zstd frame starts: a blob without a seal that starts so is an earlier airstep's pickle
_ZSTD_FRAME = (0xFD2FB528).to_bytes(4, "little")


class PickledBlob(DataStoreError):
    """A blob holds a pickled value where bytes were asked for (for a card: one stored by an
    earlier airstep). It is not unpickled; storing the bytes again replaces it."""


def save_bytes(storage: Storage, prefix: str, data: bytes) -> BlobRef:
    """Store ``data`` under ``prefix``/blobs, sealed; return its content address."""
    sha = hashlib.sha256(data)
    seal = pack_seal(BYTES_TAG, sha.digest(), xxhash.xxh3_128(data).digest(), len(data))
    # no content size in the frame: a reader must not allocate what a damaged header says
    compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL, write_content_size=False)
    blob = seal + compressor.compress(data)
    ref = BlobRef(sha.hexdigest(), len(data))
    key = blob_key(prefix, ref.sha)
    if not storage.holds_bytes(key, blob):
        storage.put_bytes(key, blob)
    return ref


def load_bytes(storage: Storage, prefix: str, sha: str) -> bytes:
    """The bytes stored by :func:`save_bytes` at address ``sha``, verified.

    A missing blob, or one that does not match its seal, is a :class:`DataStoreError`; one
    that holds a pickle is a :class:`PickledBlob`.
    """
    key = blob_key(prefix, sha)
    try:
        blob = storage.get_bytes(key)
    except DataStoreError:
        raise DataStoreError(
            f"Blob {sha} is missing from the datastore at {storage.root}; was the datastore "
            "root changed or cleaned?"
        ) from None
    expect = Expected.of(storage, sha, blob)
    if expect.tag is None and not blob.startswith(_ZSTD_FRAME):
        raise damaged(storage, sha, "it starts with neither a seal nor a zstd frame")
    if expect.tag != BYTES_TAG:
        raise PickledBlob(
            f"Blob {sha} in the datastore at {storage.root} holds a pickled value (or was "
            "stored by an earlier airstep), not bytes; it is not unpickled here."
        )
    reader = zstandard.ZstdDecompressor().stream_reader(memoryview(blob)[SEAL_SIZE:])
    parts, size, hasher = [], 0, expect.hasher()
    try:
        while size <= expect.size and (part := reader.read(_READ_STEP)):
            hasher.update(part)
            parts.append(part)
            size += len(part)
    except zstandard.ZstdError as exc:
        raise damaged(storage, sha, f"its bytes do not decompress: {exc}") from None
    expect.check(hasher, size)
    return b"".join(parts)
