"""Code packages: a remote step gets the flow's code without rebuilding the image.

The package is a gzipped tar of the flow file's folder (Python modules and the
small files beside it, so helper modules and included files come along), made
deterministically (sorted, no timestamps or owners) so that its SHA-256 names
it: unchanged code is uploaded once.

Building the package (tar and gzip) is done once per version of the code, not
once per task: the files' own SHA-256 (each file's path and bytes, which reading
and hashing gives without compressing anything) leads to the package's key
through a small index entry beside the packages (``<Flow>/code-index/<sha>``,
written after the package), and this process remembers it too. So the many task
instances of a run, each in its own worker process, read one index entry and
neither build nor upload the package again.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import tarfile
from collections.abc import Iterator

from provider.datastore.flowstore import FlowDataStore
from provider.exceptions import DataStoreError

SKIP_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}
MAX_FILE_BYTES = 2 * 1024 * 1024


def _code_files(base: str) -> Iterator[tuple[str, str]]:
    """(path in the package, path on disk) of every file the package holds, sorted."""
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(folder, name)
            # a link that leads nowhere (or to a folder, a socket...) is not code
            if name.startswith(".") or not os.path.isfile(path):
                continue
            if os.path.getsize(path) > MAX_FILE_BYTES:
                continue
            yield os.path.relpath(path, base), path


def package_code(flow_file: str) -> bytes:
    """The tar.gz bytes of the folder holding ``flow_file``."""
    base = os.path.dirname(os.path.abspath(flow_file))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, path in _code_files(base):
                info = tarfile.TarInfo(name)
                info.size = os.path.getsize(path)
                info.mode = 0o644
                with open(path, "rb") as f:
                    tar.addfile(info, f)
    return buffer.getvalue()


def code_digest(flow_file: str) -> str:
    """The SHA-256 of the files the package would hold (names and bytes), without building it."""
    digest = hashlib.sha256()
    for name, path in _code_files(os.path.dirname(os.path.abspath(flow_file))):
        with open(path, "rb") as f:
            data = f.read()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


#: code packages this process has stored or found: (datastore root, flow, files' sha) -> key
_KNOWN: dict[tuple[str, str, str], str] = {}


def upload_code(store: FlowDataStore, flow_file: str) -> str:
    """Store the code package once per version of the code; return its key."""
    digest = code_digest(flow_file)
    known = (store.root, store.flow_name, digest)
    if known in _KNOWN:
        return _KNOWN[known]
    index_key = f"{store.flow_name}/code-index/{digest}"
    key = _indexed(store, index_key)
    if key is None:
        data = package_code(flow_file)
        key = f"{store.flow_name}/code/{hashlib.sha256(data).hexdigest()}.tar.gz"
        if not store.storage.exists(key):
            store.storage.put_bytes(key, data)
        store.storage.put_bytes(index_key, key.encode())  # after the package it leads to
    _KNOWN[known] = key
    return key


def _indexed(store: FlowDataStore, index_key: str) -> str | None:
    """The package key an index entry names; None without one (or with one that is not a
    package key of this flow, which is then rebuilt)."""
    try:
        text = store.storage.get_bytes(index_key).decode("ascii", errors="replace")
    except DataStoreError:
        return None
    pattern = rf"{re.escape(store.flow_name)}/code/[0-9a-f]{{64}}\.tar\.gz"
    return text if re.fullmatch(pattern, text) else None


def unpack_code(store: FlowDataStore, key: str, dest: str) -> str:
    """Extract a code package into ``dest`` and return ``dest``."""
    data = store.storage.get_bytes(key)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest
