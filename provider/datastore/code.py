"""Code packages: a remote step gets the flow's code without rebuilding the image.

The package is a gzipped tar of the flow file's folder (Python modules and the
small files beside it, so helper modules and included files come along), made
deterministically (sorted, no timestamps or owners) so that its SHA-256 names
it: unchanged code is uploaded once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

from provider.datastore.flowstore import FlowDataStore

SKIP_DIRS = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}
MAX_FILE_BYTES = 2 * 1024 * 1024


def package_code(flow_file: str) -> bytes:
    """The tar.gz bytes of the folder holding ``flow_file``."""
    base = os.path.dirname(os.path.abspath(flow_file))
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for folder, dirs, files in os.walk(base):
                dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    # a link that leads nowhere (or to a folder, a socket...) is not code
                    if name.startswith(".") or not os.path.isfile(path):
                        continue
                    if os.path.getsize(path) > MAX_FILE_BYTES:
                        continue
                    info = tarfile.TarInfo(os.path.relpath(path, base))
                    info.size = os.path.getsize(path)
                    info.mode = 0o644
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
    return buffer.getvalue()


def upload_code(store: FlowDataStore, flow_file: str) -> str:
    """Store the code package once; return its key."""
    data = package_code(flow_file)
    key = f"{store.flow_name}/code/{hashlib.sha256(data).hexdigest()}.tar.gz"
    if not store.storage.exists(key):
        store.storage.put_bytes(key, data)
    return key


def unpack_code(store: FlowDataStore, key: str, dest: str) -> str:
    """Extract a code package into ``dest`` and return ``dest``."""
    data = store.storage.get_bytes(key)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest
