"""Content-addressed artifact blobs.

An object is pickled with cloudpickle (lambdas and local classes work), hashed
and compressed with zstd in one streaming pass, so a large artifact is never held
twice in memory. Small blobs stay in memory; large ones spool to a temporary file
that is then moved into place. A blob's key is the SHA-256 of its pickle bytes:
identical bytes are stored once. Writing replaces a blob rather than trusting the
one already there, so storing a value again repairs a damaged blob.

A blob is one zstd skippable frame, the *seal* (:mod:`provider.datastore.seal`), then the
zstd frame of the pickle bytes. The seal holds the blob's SHA-256, the XXH3-128 checksum of
the pickle bytes and their length, all computed in the writer's one pass over those bytes. Reading
checks that the seal names the key it was read from, then checksums the bytes as
they are unpickled (XXH3 runs at memory speed, so verifying costs a few percent of
a read where SHA-256 would double it on a busy machine), and compares checksum and
length at the end: a blob that does not match is an error, never a value. A blob
without a seal (written by an earlier airstep) is verified by its SHA-256 instead.
A blob of bytes stored as they are (:mod:`provider.datastore.bytes_blobs`, a card's page)
is not a value: reading it here is an error.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import cloudpickle
import xxhash
import zstandard

from provider.datastore.seal import (
    BYTES_TAG,
    PICKLE_TAG,
    SEAL_SIZE,
    Expected,
    blob_key,
    damaged,
    pack_seal,
)
from provider.datastore.storage import Storage
from provider.exceptions import DataStoreError

__all__ = ["SEAL_SIZE", "BlobRef", "blob_key", "load_object", "save_object"]

SPOOL_LIMIT = 8 * 1024 * 1024
#: a pickle of at most this many bytes is compressed in one call, which sizes zstd's tables
#: to it; a streaming compressor allocates them for its whole window (about a megabyte that
#: every task process would touch afresh to store one small value)
SMALL_WRITE = 128 * 1024
COMPRESSION_LEVEL = 3
#: a blob whose compressed bytes are fewer than this is read whole and verified before it is
#: unpickled (as long as its pickle is at most SMALL_PICKLE bytes); larger ones stream
SMALL_BLOB = 256 * 1024
SMALL_PICKLE = 4 * 1024 * 1024
#: the longest line a text opcode may take (a damaged blob must not read forever)
MAX_LINE = 64 * 1024


@dataclass(frozen=True)
class BlobRef:
    sha: str
    size: int  # bytes of the pickle, before compression


class _Spool:
    """Compressed bytes: in memory up to SPOOL_LIMIT, then in a temp file."""

    def __init__(self, temp_dir: str) -> None:
        self._temp_dir = temp_dir
        self._buffer: io.BytesIO | None = io.BytesIO()
        self._buffer.write(bytes(SEAL_SIZE))  # the seal's place, filled in by seal()
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

    def seal(self, seal: bytes) -> None:
        """Write the seal in the place kept for it at the start."""
        if self._file is not None:
            self._file.seek(0)
            self._file.write(seal)
            self._file.seek(0, io.SEEK_END)
        else:
            assert self._buffer is not None
            self._buffer.getbuffer()[:SEAL_SIZE] = seal

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
    """The file pickle writes to: hashes the raw bytes and keeps the first SMALL_WRITE of
    them; past that it opens the streaming compressor and feeds it."""

    def __init__(self, open_sink: Callable[[], Any]) -> None:
        self.hash = hashlib.sha256()
        self.checksum = xxhash.xxh3_128()
        self.size = 0
        #: the pickle while it is small (the sink is not opened then)
        self.head = bytearray()
        self.sink: Any = None
        self._open_sink = open_sink
        #: what writing the bytes raised, to tell it from what pickling raised
        self.sink_error: BaseException | None = None

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.checksum.update(data)
        self.size += len(memoryview(data).cast("B"))
        if self.sink is None and self.size <= SMALL_WRITE:
            self.head += data
            return len(data)
        try:
            if self.sink is None:
                self.sink = self._open_sink()
                self.sink.write(bytes(self.head))
                self.head = bytearray()
            self.sink.write(data)
        except BaseException as exc:
            self.sink_error = exc
            raise
        return len(data)


def save_object(storage: Storage, prefix: str, obj: Any) -> BlobRef:
    """Store ``obj`` under ``prefix``/blobs; return its content address.

    A value that cannot be pickled raises :class:`pickle.PicklingError` (with what pickle
    said) and stores nothing.
    """
    spool = _Spool(storage.temp_dir())
    try:
        writer = _HashingWriter(
            lambda: zstandard.ZstdCompressor(level=COMPRESSION_LEVEL).stream_writer(
                spool, closefd=False, write_return_read=True
            )
        )
        try:
            cloudpickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            if writer.sink_error is not None:
                raise
            # one type for "this value cannot be pickled", whatever the value raised
            raise pickle.PicklingError(f"{type(exc).__name__}: {exc}") from exc
        ref = BlobRef(writer.hash.hexdigest(), writer.size)
        seal = pack_seal(PICKLE_TAG, writer.hash.digest(), writer.checksum.digest(), writer.size)
        key = blob_key(prefix, ref.sha)
        if writer.sink is None:  # small: one call, with tables sized to the pickle
            # no content size in the frame, as a streamed one: a damaged size field must not
            # make a reader allocate what it says
            compressor = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL, write_content_size=False)
            data: bytes | None = seal + compressor.compress(writer.head)
        else:
            writer.sink.flush(zstandard.FLUSH_FRAME)
            spool.seal(seal)
            data = spool.value()
        if data is not None:
            if not storage.holds_bytes(key, data):
                storage.put_bytes(key, data)
        elif spool.path is not None and not storage.holds(key, spool.path):
            storage.put_file(key, spool.path)
            spool.path = None
        return ref
    finally:
        spool.discard()


def load_object(storage: Storage, prefix: str, sha: str) -> Any:
    """Read back an object stored by :func:`save_object`, verified against its address.

    A small blob is decompressed whole and checked before it is unpickled; a larger one
    is checksummed as pickle reads it, and checked once it has been read to its end. A
    blob that does not match its seal, or whose seal names another blob, is a
    :class:`DataStoreError`, never a value.
    """
    key = blob_key(prefix, sha)
    try:
        raw = storage.open_read(key)
    except DataStoreError:
        raise DataStoreError(
            f"Artifact blob {sha} is missing from the datastore at {storage.root}; "
            "was the datastore root changed or cleaned?"
        ) from None
    with raw:
        head = _read_up_to(raw, SMALL_BLOB)
        whole = len(head) < SMALL_BLOB  # the whole blob was read
        expect = Expected.of(storage, sha, head)
        if expect.tag == BYTES_TAG:
            raise DataStoreError(
                f"Blob {sha} in the datastore at {storage.root} holds bytes stored as they are "
                "(a card's page), not a pickled value; read it with load_bytes."
            )
        if expect.sealed:
            head = head[SEAL_SIZE:]
        data = _decompress_small(head) if whole else None
        if data is not None:
            expect.check(expect.hasher(data), len(data))
            return pickle.loads(data)
        source = io.BytesIO(head) if whole else _Rest(head, raw)
        reader = _VerifyingReader(
            zstandard.ZstdDecompressor().stream_reader(source, read_size=1 << 20),
            expect,
        )
        try:
            value = pickle.load(reader)
        except Exception:
            # Damaged bytes can fail in any way while unpickling; when the blob is intact the
            # error is the value's own (a module missing here, say) and is raised as it is.
            reader.verify()
            raise
        reader.verify()
        return value


def _read_up_to(raw: BinaryIO, size: int) -> bytes:
    """``size`` bytes of ``raw``, fewer only at its end."""
    data = raw.read(size)
    while 0 < len(data) < size and (more := raw.read(size - len(data))):
        data += more
    return data


_local = threading.local()


def _decompress_small(compressed: bytes) -> bytes | None:
    """The pickle bytes of a small blob; None if more than SMALL_PICKLE or not decodable."""
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:  # one per thread: making one costs more than using it
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    # an output buffer on the heap is cheap; a larger one (mmap) is tried only when needed
    for limit in (64 * 1024, SMALL_PICKLE):
        try:
            return decompressor.decompress(compressed, max_output_size=limit)
        except zstandard.ZstdError:
            continue
    return None


class _Rest:
    """A file that reads ``head`` and then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head: bytes | memoryview = head
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._raw.read(size)
        if size < 0 or size >= len(self._head):
            data, self._head = bytes(self._head), b""
            return data
        data, self._head = bytes(self._head[:size]), memoryview(self._head)[size:]
        return data


class _VerifyingReader:
    """The file pickle reads from: the decompressed stream, checksummed as pickle consumes
    it (a large bytes object arrives through one ``readinto`` of its whole buffer)."""

    def __init__(self, stream: Any, expect: Expected) -> None:
        self._stream = stream
        self._expect = expect
        self._hash = expect.hasher()
        self._size = 0
        #: what decompressing raised inside ``readinto`` (which returns short instead)
        self._error: zstandard.ZstdError | None = None

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._hash.update(data)
        self._size += len(data)
        return data

    def readline(self) -> bytes:  # only text opcodes (protocols 0-1) use it
        line = bytearray()
        while len(line) < MAX_LINE and not line.endswith(b"\n"):
            byte = self.read(1)
            if not byte:
                break
            line += byte
        return bytes(line)

    def readinto(self, buffer: Any) -> int:
        # A decompression error is kept for verify() and pickle sees a short read: raised
        # here, its traceback would keep views of pickle's buffer alive after pickle frees it.
        with memoryview(buffer) as whole, whole.cast("B") as view:
            filled = 0
            while filled < view.nbytes and self._error is None:
                try:
                    got = self._stream.readinto(view[filled:])
                except zstandard.ZstdError as exc:
                    self._error = zstandard.ZstdError(str(exc))  # without the traceback
                    break
                if not got:
                    break
                filled += got
            with view[:filled] as part:
                self._hash.update(part)
            self._size += filled
            return filled

    def verify(self) -> None:
        """Checksum whatever pickle left unread; raise unless the whole stream matches."""
        try:
            if self._error is not None:
                raise self._error
            while self.read(1 << 20):
                pass
        except zstandard.ZstdError as exc:
            raise damaged(
                self._expect.storage, self._expect.sha, f"its bytes do not decompress: {exc}"
            ) from None
        self._expect.check(self._hash, self._size)
