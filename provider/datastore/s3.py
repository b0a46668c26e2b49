"""S3 storage (AWS, MinIO, moto: any S3 endpoint) with boto3.

The endpoint, region and credentials come from boto3's usual sources
(``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` for an endpoint that is not AWS's,
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, instance roles, ...); the Airflow
operators pass what the AWS connection says to remote steps through those
variables. A PUT is atomic in S3, so no temp-and-rename is needed; large files go
up in parallel multipart uploads, and every call retries on throttling and
transient errors.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import stat
import tempfile
from typing import Any, BinaryIO
from urllib.parse import urlparse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from s3transfer.utils import ChunksizeAdjuster

from provider.exceptions import DataStoreError

MULTIPART_THRESHOLD = 64 * 1024 * 1024
_TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=32 * 1024 * 1024, max_concurrency=8
)
_CLIENT_CONFIG = Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=32)


def s3_client(**kwargs: Any) -> Any:
    return boto3.session.Session().client("s3", config=_CLIENT_CONFIG, **kwargs)


class S3Storage:
    """Keys live under ``s3://bucket/prefix/``."""

    def __init__(self, root: str, client: Any = None) -> None:
        parsed = urlparse(root)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise DataStoreError(f"{root!r} is not an S3 root; write it as s3://bucket/prefix.")
        self.root = root.rstrip("/")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = client or s3_client()

    def _key(self, key: str) -> str:
        # S3 keeps "." and ".." as they are, but a key read back through a path (a local
        # mirror, a console's folder view) would climb: refused, as a local root refuses them
        if any(part in ("", ".", "..") for part in key.split("/")):
            raise DataStoreError(
                f"The key {key!r} has an empty, '.' or '..' part; keys name places under the "
                f"datastore root {self.root} only."
            )
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def put_new(self, key: str, data: bytes) -> bool:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            # 412: the key exists; 409: another conditional write of it is in flight
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return False
            if code in ("NotImplemented", "501"):
                raise DataStoreError(
                    f"The S3 endpoint of {self.root} does not support conditional writes "
                    f"(If-None-Match), which keep two writers from both creating {key!r}; use "
                    "an endpoint that does (AWS S3, a current MinIO, moto)."
                ) from None
            raise
        return True

    def put_file(self, key: str, path: str) -> None:
        try:
            self.client.upload_file(path, self.bucket, self._key(key), Config=_TRANSFER)
        finally:
            os.unlink(path)

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as body:
            return body.read()

    def open_read(self, key: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise DataStoreError(f"Nothing stored at {key!r} under {self.root}.") from None
            raise

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list_dir(self, prefix: str) -> list[str]:
        full = self._key(prefix).rstrip("/") + "/"
        names: set[str] = set()
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                names.add(common["Prefix"][len(full) :].rstrip("/"))
            for item in page.get("Contents", []):
                names.add(item["Key"][len(full) :])
        return sorted(n for n in names if n)

    def temp_dir(self) -> str:
        return spool_dir()

    def holds_bytes(self, key: str, data: bytes) -> bool:
        """False: a small object is put again (one request, like the read it would take)."""
        return False

    def holds(self, key: str, path: str) -> bool:
        """True when the object's ETag is the one uploading ``path`` would give it.

        S3 computes the ETag from the bytes it received (their MD5, or for a multipart
        upload the MD5 of the parts' MD5s), so an equal ETag proves the object holds the
        file's bytes and the upload can be skipped. Any other object (damaged, written by
        another tool or part size, or encrypted with a KMS key, whose ETag is no MD5) does
        not match, and the file is uploaded over it.
        """
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return bool(head.get("ETag", "").strip('"') == upload_etag(path))


#: (the process that made it, its path): this process's spool folder, once made
_spool: tuple[int, str] | None = None


def spool_dir() -> str:
    """A private folder (mode 0700, made by :func:`tempfile.mkdtemp`) for the blobs this
    process spools before uploading them; its forked children share it.

    No fixed name in the shared temp folder: a folder there that another user made, or a
    symlink planted where it would be, could read or redirect the spooled bytes. ``mkdtemp``
    makes a new, unguessable name and refuses anything already there; the folder is used
    again only while it is still a folder of this user (never through a symlink), and
    removed when the process that made it exits, if empty.
    """
    global _spool
    if _spool is not None and _is_own_folder(_spool[1]):
        return _spool[1]
    path = tempfile.mkdtemp(prefix="airstep-spool-")
    _spool = (os.getpid(), path)
    atexit.register(_remove_spool, os.getpid(), path)
    return path


def _is_own_folder(path: str) -> bool:
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid()


def _remove_spool(maker: int, path: str) -> None:
    if os.getpid() == maker:  # not a forked child, which would run its parent's exit hooks
        with contextlib.suppress(OSError):
            os.rmdir(path)


def upload_etag(path: str) -> str:
    """The ETag S3 gives ``path`` once ``put_file`` has uploaded it (with ``_TRANSFER``)."""
    size = os.path.getsize(path)
    multipart = size >= _TRANSFER.multipart_threshold
    part_size = ChunksizeAdjuster().adjust_chunksize(_TRANSFER.multipart_chunksize, size)
    whole, of_parts, parts = _md5(), _md5(), 0
    with open(path, "rb") as f:
        while part := f.read(part_size):
            if multipart:
                of_parts.update(_md5(part).digest())
                parts += 1
            else:
                whole.update(part)
    return f"{of_parts.hexdigest()}-{parts}" if multipart else whole.hexdigest()


def _md5(data: bytes = b"") -> Any:
    return hashlib.md5(data, usedforsecurity=False)
