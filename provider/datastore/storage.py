"""Where bytes live: a key/value view of a folder (and, for remote steps, of S3).

Keys are ``/``-separated paths under the datastore root. Every write is atomic:
a reader sees the whole object or nothing, never a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import stat
import tempfile
import time
from typing import BinaryIO, Protocol

from provider.exceptions import DataStoreError
from provider.settings import setting


class Storage(Protocol):
    root: str

    def put_bytes(self, key: str, data: bytes) -> None: ...
    def put_new(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` only if nothing is there; False if something was.

        Exclusive: of writers racing for one key, exactly one gets True.
        """
        ...

    def put_file(self, key: str, path: str) -> None:
        """Store a local file under ``key``; the file is consumed (moved or deleted)."""
        ...

    def get_bytes(self, key: str) -> bytes: ...
    def open_read(self, key: str) -> BinaryIO: ...
    def exists(self, key: str) -> bool: ...
    def list_dir(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` (files and folders), sorted."""
        ...

    def holds(self, key: str, path: str) -> bool:
        """Whether ``key`` provably holds the bytes of the local file ``path`` already.

        True lets a writer skip the upload; a store that cannot prove it says False, and
        the file is written again (so a damaged blob is replaced, never reused).
        """
        ...

    def holds_bytes(self, key: str, data: bytes) -> bool:
        """Whether ``key`` provably holds exactly ``data`` already (a small blob): True lets a
        writer skip the write; a damaged copy is not ``data``, so it is written again."""
        ...

    def temp_dir(self) -> str:
        """A local folder for spooling large objects before ``put_file``."""
        ...


class LocalStorage:
    """A folder on the local filesystem. Atomicity by write-to-temp then ``os.replace``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        #: the root with its symlinks resolved, what every key's path must stay under
        self._real_root = os.path.realpath(self.root)
        self._under_root = os.path.join(self._real_root, "")
        #: folders under the root this process found to be folders, not links: looked at once
        self._plain_folders: set[str] = set()

    def _path(self, key: str, *, last: bool = True) -> str:
        """The file of ``key``: under the root, symlinks included, else a DataStoreError.

        Each existing folder of the path below the root is looked at (``lstat``, a third of
        what ``realpath`` costs); only a path with a symlink in it is resolved, and refused
        if it leads out of the root. A folder found to be a plain folder is remembered (a
        task touches the same few folders many times); the last part is looked at each time,
        unless ``last`` is False: a read opens it with ``O_NOFOLLOW`` (:meth:`_open_file`),
        which finds a link there by itself.
        """
        parts = key.split("/")
        if key and any(p in ("", ".", "..") for p in parts):
            raise DataStoreError(
                f"The key {key!r} has an empty, '.' or '..' part; keys name places under the "
                f"datastore root {self.root} only."
            )
        path = os.path.join(self.root, *parts)
        below = self.root
        plain = self._plain_folders
        final = len(parts) - 1
        for i, part in enumerate(parts if last else parts[:-1]):
            below = below + os.sep + part
            if below in plain:
                continue
            try:
                mode = os.lstat(below).st_mode
            except OSError:  # missing (so is the rest), or not a folder
                break
            if stat.S_ISLNK(mode):
                self._check_inside(key, path)
                break
            if i < final and stat.S_ISDIR(mode):
                if len(plain) > _PLAIN_FOLDERS_KEPT:
                    plain.clear()
                plain.add(below)
        return path

    def _open_file(self, key: str) -> BinaryIO:
        """The file of ``key``, open for reading; a link there is followed only if it leads
        to a place under the root."""
        path = self._path(key, last=False)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # ELOOP: the file is a link
                raise
            self._check_inside(key, path)
            fd = os.open(path, os.O_RDONLY)
        return os.fdopen(fd, "rb")

    def _check_inside(self, key: str, path: str) -> None:
        real = os.path.realpath(path)
        if real != self._real_root and not real.startswith(self._under_root):
            raise DataStoreError(
                f"The key {key!r} resolves to {real}, outside the datastore root {self.root} "
                "(a symlink under the root leads out of it); remove the link, or make the "
                "root itself the folder it leads to."
            )

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = _temp_file(os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise

    def put_new(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            try:
                os.link(tmp, path)  # atomic and exclusive: the whole file appears, or nothing
            except FileExistsError:
                return False
            except OSError:  # a filesystem without hard links
                return _create_exclusive(path, data)
            return True
        finally:
            _unlink(tmp)

    def put_file(self, key: str, path: str) -> None:
        target = self._path(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.replace(path, target)
        except OSError:  # another filesystem: copy, then rename into place
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
            os.close(fd)
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
            _unlink(path)

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as f:
            return f.read()

    def open_read(self, key: str) -> BinaryIO:
        try:
            return self._open_file(key)
        except FileNotFoundError:
            raise DataStoreError(f"Nothing stored at {key!r} under {self.root}.") from None

    def exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def list_dir(self, prefix: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self._path(prefix)) if not n.startswith(".tmp-"))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def holds(self, key: str, path: str) -> bool:
        # the spooled file sits under the root: moving it over the old blob costs a rename
        return False

    def holds_bytes(self, key: str, data: bytes) -> bool:
        # reading a small file back costs less than writing and renaming it again
        try:
            with self._open_file(key) as f:
                return f.read(len(data) + 1) == data
        except OSError:
            return False

    def temp_dir(self) -> str:
        path = os.path.join(self.root, ".tmp")
        os.makedirs(path, exist_ok=True)
        return path


_written = itertools.count()
#: folders a LocalStorage remembers as plain folders before it starts afresh
_PLAIN_FOLDERS_KEPT = 100_000


def _temp_file(folder: str) -> tuple[int, str]:
    """A new file in ``folder`` to write before renaming it into place: named by this
    process and a counter (cheaper than ``mkstemp``'s random names, which a task process
    would set up afresh), else, if that name is taken (another host's process), by mkstemp."""
    path = os.path.join(folder, f".tmp-{os.getpid()}-{next(_written)}")
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), path
    except FileExistsError:
        return tempfile.mkstemp(dir=folder, prefix=".tmp-")


def _create_exclusive(path: str, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return True


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def default_root() -> str:
    """The ``datastore_root`` setting: ``[airstep] datastore_root``, else
    ``$AIRSTEP_DATASTORE_ROOT``, else ``~/.airstep`` (see :mod:`provider.settings`)."""
    return os.path.expanduser(setting("datastore_root") or "")


def storage_for(root: str | None = None) -> Storage:
    """The storage behind a root: a local folder (``s3://`` roots come with remote steps)."""
    root = root or default_root()
    if root.startswith("s3://"):
        from provider.datastore.s3 import S3Storage  # boto3 is imported only when needed

        return S3Storage(root)
    return LocalStorage(root)


#: a temp file untouched this long belongs to a writer that died (a live one keeps writing it)
STALE_TEMP_SECONDS = 3600.0
_SWEPT = ".swept-"


def remove_stale_temp_files(
    storage: Storage, prefix: str, older_than: float = STALE_TEMP_SECONDS
) -> list[str]:
    """Remove the temp files that writers killed mid-write left behind; return their paths.

    Spooled blobs (``.blob-*`` in the temp folder) and, on a local root, the ``.tmp-*``
    files beside records under ``prefix``, once untouched for ``older_than`` seconds. The
    walk under ``prefix`` runs at most once per ``older_than`` (a marker file in the temp
    folder says when it last did). Best effort: what cannot be removed stays.
    """
    cutoff = time.time() - older_than
    temp = storage.temp_dir()
    removed = _remove_old([os.path.join(temp, n) for n in _names(temp, ".blob-")], cutoff)
    if not isinstance(storage, LocalStorage):
        return removed  # an object store writes atomically, without temp objects
    marker = os.path.join(temp, _SWEPT + prefix.replace("/", "_"))
    try:
        if os.stat(marker).st_mtime > cutoff:
            return removed
    except FileNotFoundError:
        pass
    for folder, _, files in os.walk(storage._path(prefix)):
        paths = [os.path.join(folder, n) for n in files if n.startswith(".tmp-")]
        removed += _remove_old(paths, cutoff)
    with contextlib.suppress(OSError):
        with open(marker, "w"):
            pass
    return removed


def _names(folder: str, start: str) -> list[str]:
    try:
        return [n for n in os.listdir(folder) if n.startswith(start)]
    except OSError:
        return []


def _remove_old(paths: list[str], cutoff: float) -> list[str]:
    removed = []
    for path in paths:
        try:
            if os.stat(path).st_mtime < cutoff:
                os.unlink(path)
                removed.append(path)
        except OSError:
            pass
    return removed
