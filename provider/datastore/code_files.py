"""Which files a flow's code package holds: the flow's own code, and nothing else.

The package root is the flow file's folder, or the folder that
``to_dag(code_root=...)`` names (a folder above the flow file). Under the root,
the package holds every regular file, in the order of a sorted walk (a folder's
files, then its subfolders), except:

- what ``.airstepignore`` in the root leaves out (:class:`IgnoreRules`);
- dot files and dot folders, caches and environments (:data:`SKIP_DIRS`);
- other DAGs: a Python file other than the flow file that makes a DAG (it contains
  ``to_dag(``, ``DAG(`` or ``@dag``), and, whole, every folder that holds one at
  any depth, Python package or not, unless the flow file is inside it: a shared DAGs
  folder's other team folders never leave the machine;
- links that lead elsewhere: a symbolic link is shipped (under its own name, with
  the bytes of the file it names) only when the file it names is in the package
  itself; a link that leads outside the root, to a left-out file, to a folder or
  nowhere is left out;
- what is not a regular file (pipes, sockets, devices).

A package is at most ``[airstep] code_package_max_mb`` and
``code_package_max_files``; a bigger one is refused with its largest files named.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass

from provider.exceptions import FlowDefinitionError
from provider.settings import positive_int

IGNORE_FILE = ".airstepignore"
SKIP_DIRS = frozenset(
    {"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}
)
#: what makes a Python file a DAG of its own: airstep's to_dag(), Airflow's DAG() and @dag,
#: each a whole word (not ``make_DAG(``, not ``@dag_helper``)
_DAG_MARKS = (b"to_dag(", b"DAG(", b"@dag")
_WORD = re.compile(rb"\w")


@dataclass(frozen=True)
class CodeSource:
    """Where a flow's code package comes from: the flow file and the package root."""

    #: the flow file, absolute, as it was imported
    flow_file: str
    #: the package root, a real path (no link in it) that holds the flow file
    root: str
    #: the flow's name, for messages; None when only the file is known
    flow_name: str | None = None

    @property
    def flow_path(self) -> str:
        """The flow file's path inside the package ('/'-separated), e.g. ``team/train.py``."""
        folder = os.path.realpath(os.path.dirname(self.flow_file))
        path = os.path.join(folder, os.path.basename(self.flow_file))
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    @property
    def label(self) -> str:
        return f"Flow {self.flow_name}" if self.flow_name else f"The flow in {self.flow_file}"


@dataclass(frozen=True)
class CodeFile:
    """One file of a package: its path in the package, where its bytes are, and its size."""

    name: str
    path: str
    size: int


def code_source(
    flow_file: str, code_root: str | None = None, flow_name: str | None = None
) -> CodeSource:
    """The package source of ``flow_file``: its folder, or ``code_root`` (absolute, or relative
    to the flow file's folder) when given, which must hold the flow file."""
    flow_file = os.path.abspath(flow_file)
    folder = os.path.dirname(flow_file)
    root = os.path.realpath(os.path.join(folder, code_root) if code_root else folder)
    source = CodeSource(flow_file, root, flow_name)
    if code_root is not None and (
        not os.path.isdir(root) or source.flow_path.split("/", 1)[0] == os.pardir
    ):
        raise FlowDefinitionError(
            f"{source.label}: code_root={code_root!r} is {root}, which is not a folder that "
            f"holds the flow file {flow_file}; give to_dag(code_root=...) a folder above the "
            "flow file (absolute, or relative to the flow file's folder, such as '..'), or "
            "leave it out to ship the flow file's folder."
        )
    return source


def code_files(source: CodeSource) -> list[CodeFile]:
    """The files the package of ``source`` holds, in package order; refused over the limits."""
    walk = _Walk(source, IgnoreRules.read(source))
    entries = walk.folder(source.root, "")[0]
    files = [entry for entry in entries if isinstance(entry, CodeFile)]
    by_real_path = {file.path: file for file in files}
    shipped: list[CodeFile] = []
    for entry in entries:
        if isinstance(entry, CodeFile):
            shipped.append(entry)
            continue
        named = by_real_path.get(os.path.realpath(entry[1]))  # a link: ship what it names
        if named is not None:
            shipped.append(CodeFile(entry[0], named.path, named.size))
    if source.flow_path not in {file.name for file in shipped}:
        raise FlowDefinitionError(
            f"{source.label}: its code package from {source.root} would not hold the flow "
            f"file {source.flow_path} itself (an {IGNORE_FILE} line, a dot in its path, or "
            f"a link out of the package root leaves it out); ship it by changing {IGNORE_FILE} "
            "or moving the file."
        )
    check_limits(source, shipped)
    return shipped


class _Walk:
    """A sorted walk of the package root that leaves out what the module docstring lists."""

    def __init__(self, source: CodeSource, ignore: IgnoreRules) -> None:
        self.source = source
        self.ignore = ignore
        self.flow_path = source.flow_path

    def folder(self, path: str, prefix: str) -> tuple[list[CodeFile | tuple[str, str]], bool]:
        """The entries under ``path`` (files, and links as (name, path) to decide later), and
        whether it holds a DAG other than the flow."""
        files: list[CodeFile | tuple[str, str]] = []
        folders: list[CodeFile | tuple[str, str]] = []
        holds_dag = False
        with os.scandir(path) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        for entry in entries:
            name = prefix + entry.name
            if entry.name.startswith("."):
                continue
            if entry.is_symlink():
                if not self.ignore.leaves_out(name, is_dir=False):
                    files.append((name, entry.path))
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in SKIP_DIRS or self.ignore.leaves_out(name, is_dir=True):
                    continue
                inner, inner_dag = self.folder(entry.path, name + "/")
                if inner_dag and not self.flow_path.startswith(name + "/"):
                    holds_dag = True  # another DAG's folder: left out whole
                else:
                    folders.extend(inner)
            elif entry.is_file(follow_symlinks=False):
                if self.ignore.leaves_out(name, is_dir=False):
                    continue
                if name != self.flow_path and _is_dag_file(entry.path):
                    holds_dag = True
                    continue
                files.append(CodeFile(name, entry.path, entry.stat(follow_symlinks=False).st_size))
        return files + folders, holds_dag


def _is_dag_file(path: str) -> bool:
    if not path.endswith(".py"):
        return False
    with open(path, "rb") as f:
        data = f.read()
    return any(_holds_word(data, mark) for mark in _DAG_MARKS)


def _holds_word(data: bytes, mark: bytes) -> bool:
    """Whether ``mark`` is in ``data`` as a whole word (a regex ``\\b`` would say the same, but
    searching every file with bytes.find is many times faster)."""
    at = data.find(mark)
    while at != -1:
        before = data[at - 1 : at] if _WORD.fullmatch(mark[:1]) else b""
        after = data[at + len(mark) : at + len(mark) + 1] if _WORD.fullmatch(mark[-1:]) else b""
        if not _WORD.fullmatch(before) and not _WORD.fullmatch(after):
            return True
        at = data.find(mark, at + 1)
    return False


class IgnoreRules:
    """The patterns of ``.airstepignore`` in the package root, one a line, like .gitignore's:

    - blank lines and lines starting with ``#`` are skipped;
    - a pattern without ``/`` matches a file or folder name at any depth (``*.csv``,
      ``data``); one with ``/`` matches the path from the root (``data/raw``, ``/notes.md``);
      a leading ``**/`` means "at any depth" too;
    - a trailing ``/`` matches folders only (``build/``); a left-out folder leaves out all
      it holds;
    - ``*``, ``?`` and ``[...]`` are :mod:`fnmatch`'s (``*`` also matches ``/``); ``!``
      (negation) is not supported.
    """

    def __init__(self, rules: list[tuple[str, bool, bool]]) -> None:
        #: (pattern, folders only, matched against the whole path)
        self.rules = rules

    @classmethod
    def read(cls, source: CodeSource) -> IgnoreRules:
        path = os.path.join(source.root, IGNORE_FILE)
        if not os.path.isfile(path):
            return cls([])
        rules = []
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for number, line in enumerate(lines, 1):
            pattern = line.strip()
            if not pattern or pattern.startswith("#"):
                continue
            if pattern.startswith("!"):
                raise FlowDefinitionError(
                    f"{source.label}: line {number} of {path} is {line!r}, but {IGNORE_FILE} "
                    "only leaves files out and cannot take one back (no '!'); narrow the "
                    "pattern that leaves the file out instead."
                )
            folders_only = pattern.endswith("/")
            pattern = pattern.rstrip("/")
            while pattern.startswith("**/"):
                pattern = pattern[3:]
            rules.append((pattern.lstrip("/"), folders_only, "/" in pattern))
        return cls(rules)

    def leaves_out(self, name: str, *, is_dir: bool) -> bool:
        """Whether the file or folder at ``name`` (its path in the package) is left out."""
        base = name.rsplit("/", 1)[-1]
        return any(
            fnmatch.fnmatchcase(name if whole_path else base, pattern)
            for pattern, folders_only, whole_path in self.rules
            if is_dir or not folders_only
        )


def check_limits(source: CodeSource, files: list[CodeFile]) -> None:
    """Refuse a package over ``[airstep] code_package_max_mb`` or ``code_package_max_files``."""
    max_mb, max_files = _limit("code_package_max_mb"), _limit("code_package_max_files")
    total = sum(file.size for file in files)
    over = []
    if total > max_mb * 1_000_000:
        over.append(f"code_package_max_mb ({max_mb} MB)")
    if len(files) > max_files:
        over.append(f"code_package_max_files ({max_files} files)")
    if not over:
        return
    largest = sorted(files, key=lambda f: (-f.size, f.name))[:5]
    raise FlowDefinitionError(
        f"{source.label}: its code package from {source.root} would hold {len(files)} files, "
        f"{_size(total)}, more than [airstep] {' and '.join(over)} allows; the largest are "
        + ", ".join(f"{f.name} ({_size(f.size)})" for f in largest)
        + f". Leave what the flow's steps do not need out with lines such as 'data/' or "
        f"'*.csv' in {os.path.join(source.root, IGNORE_FILE)}, or raise [airstep] "
        + " and ".join(o.split(" ", 1)[0] for o in over)
        + "."
    )


def _limit(name: str) -> int:
    value = positive_int(name)
    assert value is not None, f"[airstep] {name} has a default"
    return value


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB"
    return f"{n / 1_000_000:.1f} MB"
