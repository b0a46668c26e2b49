"""The seal at the start of a blob: what its bytes must hash to, and what kind of bytes they are.

A blob is one zstd skippable frame, the *seal*, then the zstd frame of its payload. The seal
holds a tag, the blob's SHA-256 (its address), the XXH3-128 checksum of the payload and its
length, all computed in the writer's one pass over the payload. The tag says what the payload
is: :data:`PICKLE_TAG`, an artifact's pickle (:mod:`provider.datastore.blobs`), or
:data:`BYTES_TAG`, bytes stored as they are, such as a card's HTML
(:mod:`provider.datastore.bytes_blobs`), which a reader never unpickles. A blob without a
seal was written by an earlier airstep: a pickle, verified by its SHA-256 instead.
``zstd -d`` still reads every blob: decoders skip skippable frames.
"""

from __future__ import annotations

import hashlib
import re
import struct
from typing import Any

import xxhash

from provider.datastore.storage import Storage
from provider.exceptions import DataStoreError

#: the seal: a zstd skippable frame (magic, payload length) whose payload is a tag, the
#: blob's SHA-256, the XXH3-128 of its payload and the payload's length
SEAL = struct.Struct("<II8s32s16sQ")
SEAL_MAGIC = 0x184D2A5E
SEAL_SIZE = SEAL.size
#: the payload is a pickle (an artifact)
PICKLE_TAG = b"airstep1"
#: the payload is bytes as they were given (a card's HTML): never unpickled
BYTES_TAG = b"airstepR"
_TAGS = (PICKLE_TAG, BYTES_TAG)
_SHA = re.compile(r"[0-9a-f]{64}")


def blob_key(prefix: str, sha: str) -> str:
    """The key of blob ``sha`` under ``prefix``; an address that is not a SHA-256 in hex (a
    damaged or forged record naming it) is a :class:`DataStoreError`, never a key."""
    if not (isinstance(sha, str) and _SHA.fullmatch(sha)):
        raise DataStoreError(
            f"Blob address {str(sha)[:80]!r} under {prefix} is not a SHA-256 (64 lowercase hex "
            "digits); the record that names it is damaged. Run the task again to store it anew."
        )
    return f"{prefix}/blobs/{sha[:2]}/{sha}"


def pack_seal(tag: bytes, sha: bytes, checksum: bytes, size: int) -> bytes:
    """The seal of a blob whose payload of ``size`` bytes hashes to ``sha`` and ``checksum``."""
    return SEAL.pack(SEAL_MAGIC, SEAL_SIZE - 8, tag, sha, checksum, size)


class Expected:
    """What a blob's payload must hash to: its seal's checksum and length, or for a blob
    without a seal, its address. ``tag`` is the seal's tag (None without a seal)."""

    def __init__(
        self, storage: Storage, sha: str, checksum: bytes | None, size: int, tag: bytes | None
    ) -> None:
        self.storage, self.sha, self.checksum, self.size = storage, sha, checksum, size
        self.tag = tag

    @classmethod
    def of(cls, storage: Storage, sha: str, head: bytes) -> Expected:
        """What the blob whose first bytes are ``head`` must hold; a seal that cannot be read,
        or that names another blob, is a :class:`DataStoreError`."""
        if len(head) < SEAL_SIZE or int.from_bytes(head[:4], "little") != SEAL_MAGIC:
            return cls(storage, sha, None, -1, None)
        _, length, tag, address, checksum, size = SEAL.unpack_from(head)
        if length != SEAL_SIZE - 8 or tag not in _TAGS:
            raise damaged(storage, sha, "its seal is not readable")
        if address.hex() != sha:
            raise damaged(storage, sha, f"its seal names blob {address.hex()}")
        return cls(storage, sha, checksum, size, tag)

    @property
    def sealed(self) -> bool:
        return self.checksum is not None

    def hasher(self, data: Any = b"") -> Any:
        return xxhash.xxh3_128(data) if self.sealed else hashlib.sha256(data)

    def check(self, hasher: Any, size: int) -> None:
        if self.checksum is None:
            if (actual := hasher.hexdigest()) != self.sha:
                raise damaged(
                    self.storage, self.sha, f"its bytes hash to {actual}, not to its address"
                )
            return
        what = "pickle" if self.tag == PICKLE_TAG else "payload"
        if size != self.size:
            problem = f"it holds {size} bytes of {what}, not {self.size}"
            raise damaged(self.storage, self.sha, problem)
        if (actual := hasher.digest()) != self.checksum:
            raise damaged(
                self.storage,
                self.sha,
                f"its bytes hash to {actual.hex()}, not to its checksum {self.checksum.hex()}",
            )


def damaged(storage: Storage, sha: str, problem: str) -> DataStoreError:
    return DataStoreError(
        f"Artifact blob {sha} in the datastore at {storage.root} is damaged ({problem}); "
        "its value is not used, and storing the value again repairs it."
    )
