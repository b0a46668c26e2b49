"""Content-addressed artifact blobs.

An object is pickled with cloudpickle (lambdas and local classes work), hashed
(SHA-256 of the pickle bytes) and compressed with zstd in one streaming pass, so
a large artifact is never held twice in memory. Small blobs stay in memory;
large ones spool to a temporary file that is then moved into place. A blob's key
is its hash: identical bytes are stored once, and writing one that exists is free.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import cloudpickle
import zstandard

from provider.datastore.storage import Storage
from provider.exceptions import DataStoreError

SPOOL_LIMIT = 8 * 1024 * 1024
COMPRESSION_LEVEL = 3


@dataclass(frozen=True)
class BlobRef:
    sha: str
    size: int  # bytes of the pickle, before compression


class _Spool:
    """Compressed bytes: in memory up to SPOOL_LIMIT, then in a temp file."""

    def __init__(self, temp_dir: str) -> None:
        self._temp_dir = temp_dir
        self._buffer: io.BytesIO | None = io.BytesIO()
        self._file: BinaryIO | None = None
        self.path: str | None = None

    def write(self, data: bytes) -> int:
        if self._buffer is not None:
            self._buffer.write(data)
            if self._buffer.tell() > SPOOL_LIMIT:
                fd, self.path = tempfile.mkstemp(dir=self._temp_dir, prefix=".blob-")
                self._file = os.fdopen(fd, "wb")
                self._file.write(self._buffer.getbuffer())
                self._buffer = None
            return len(data)
        assert self._file is not None
        return self._file.write(data)

    def flush(self) -> None:
        pass

    def value(self) -> bytes | None:
        """The bytes if they stayed in memory; else None (they are at ``self.path``)."""
        if self._file is not None:
            self._file.close()
            return None
        assert self._buffer is not None
        return self._buffer.getvalue()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        if self.path and os.path.exists(self.path):
            os.unlink(self.path)


class _HashingWriter:
    """The file pickle writes to: hashes the raw bytes and feeds the compressor."""

    def __init__(self, sink: Any) -> None:
        self.hash = hashlib.sha256()
        self.size = 0
        self._sink = sink

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.size += len(memoryview(data).cast("B"))
        self._sink.write(data)
        return len(data)


def blob_key(prefix: str, sha: str) -> str:
    return f"{prefix}/blobs/{sha[:2]}/{sha}"


def save_object(storage: Storage, prefix: str, obj: Any) -> BlobRef:
    """Store ``obj`` under ``prefix``/blobs; return its content address."""
    spool = _Spool(storage.temp_dir())
    try:
        compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL).stream_writer(
            spool, closefd=False, write_return_read=True
        )
        writer = _HashingWriter(compressor)
        cloudpickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)
        compressor.flush(zstandard.FLUSH_FRAME)
        ref = BlobRef(writer.hash.hexdigest(), writer.size)
        key = blob_key(prefix, ref.sha)
        data = spool.value()
        if data is not None:
            if not (storage.check_before_small_put and storage.exists(key)):
                storage.put_bytes(key, data)
        elif storage.exists(key):
            return ref
        else:
            assert spool.path is not None
            storage.put_file(key, spool.path)
            spool.path = None
        return ref
    finally:
        spool.discard()


def load_object(storage: Storage, prefix: str, sha: str) -> Any:
    """Read back an object stored by :func:`save_object`."""
    key = blob_key(prefix, sha)
    try:
        with storage.open_read(key) as raw:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=1 << 20)
            return pickle.load(reader)
    except DataStoreError:
        raise DataStoreError(
            f"Artifact blob {sha} is missing from the datastore at {storage.root}; "
            "was the datastore root changed or cleaned?"
        ) from None
