"""Code packages: a remote step gets the flow's code without rebuilding the image.

The package is a gzipped tar of the flow's own code: the flow file's folder (or
``to_dag(code_root=...)``), less what :mod:`provider.datastore.code_files` leaves
out (other DAGs' files and folders, links out of the root, ``.airstepignore``
patterns), within ``[airstep] code_package_max_mb`` and ``code_package_max_files``.
It is made deterministically (sorted, no timestamps or owners) so that its SHA-256
names it: unchanged code is uploaded once. Unpacking checks the bytes against that
name first: a damaged package is refused, never extracted.

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
import re
import tarfile

from provider.datastore.code_files import CodeSource, code_files, code_source
from provider.datastore.flowstore import FlowDataStore
from provider.exceptions import DataStoreError


def package_code(source: CodeSource | str) -> bytes:
    """The tar.gz bytes of the package of ``source`` (a flow file: its folder)."""
    source = _source(source)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for file in code_files(source):
                with open(file.path, "rb") as f:
                    data = f.read()
                info = tarfile.TarInfo(file.name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def code_digest(source: CodeSource | str) -> str:
    """The SHA-256 of the files the package would hold (names and bytes), without building it."""
    digest = hashlib.sha256()
    for file in code_files(_source(source)):
        with open(file.path, "rb") as f:
            data = f.read()
        digest.update(f"{file.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


#: code packages this process has stored or found: (datastore root, flow, files' sha) -> key
_KNOWN: dict[tuple[str, str, str], str] = {}


def upload_code(store: FlowDataStore, source: CodeSource | str) -> str:
    """Store the code package once per version of the code; return its key."""
    if isinstance(source, str):
        source = code_source(source, flow_name=store.flow_name)
    digest = code_digest(source)
    known = (store.root, store.flow_name, digest)
    if known in _KNOWN:
        return _KNOWN[known]
    index_key = f"{store.flow_name}/code-index/{digest}"
    key = _indexed(store, index_key)
    if key is None:
        data = package_code(source)
        key = f"{store.flow_name}/code/{hashlib.sha256(data).hexdigest()}.tar.gz"
        if not store.storage.exists(key):
            store.storage.put_bytes(key, data)
        store.storage.put_bytes(index_key, key.encode())  # after the package it leads to
    _KNOWN[known] = key
    return key


def _source(source: CodeSource | str) -> CodeSource:
    return code_source(source) if isinstance(source, str) else source


def _package_sha(flow_name: str, key: str) -> str | None:
    """The SHA-256 a package key of this flow names; None for any other key."""
    match = re.fullmatch(rf"{re.escape(flow_name)}/code/([0-9a-f]{{64}})\.tar\.gz", key)
    return match[1] if match else None


def _indexed(store: FlowDataStore, index_key: str) -> str | None:
    """The package key an index entry names; None without one (or with one that is not a
    package key of this flow, or whose package is gone, which is then rebuilt)."""
    try:
        text = store.storage.get_bytes(index_key).decode("ascii", errors="replace")
    except DataStoreError:
        return None
    if _package_sha(store.flow_name, text) is None or not store.storage.exists(text):
        return None
    return text


def unpack_code(store: FlowDataStore, key: str, dest: str) -> str:
    """Extract a code package into ``dest`` and return ``dest``, once its bytes proved to be
    the ones its key names."""
    sha = _package_sha(store.flow_name, key)
    if sha is None:
        raise DataStoreError(
            f"{key!r} is not a code package of flow {store.flow_name} (those are "
            f"{store.flow_name}/code/<sha256>.tar.gz); pass the key that upload_code returned."
        )
    data = store.storage.get_bytes(key)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
        raise DataStoreError(
            f"The code package {key} of flow {store.flow_name} in {store.root} is damaged: "
            f"its {len(data)} bytes hash to {actual}, not to the SHA-256 its key names, so it "
            f"was not unpacked. Delete {key} from the datastore; the next attempt of the task "
            "builds and uploads it again."
        )
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest
