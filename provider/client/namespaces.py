"""Which runs a reader sees: its namespace, a tag (``user:alice`` by default: your runs).

As in Metaflow, :func:`namespace` chooses the tag for the rest of the process,
``namespace(None)`` reads every run, and :func:`default_namespace` goes back to
``user:<you>``. Asking for a run by id outside the namespace raises
:class:`NamespaceMismatch`.
"""

from __future__ import annotations

from typing import Any

from provider.datastore.user import username
from provider.exceptions import AirstepError, MetaflowNamespaceMismatch


class NamespaceMismatch(MetaflowNamespaceMismatch):
    """A run was asked for by id that is not in the current namespace."""

    def __init__(self, message: str) -> None:
        AirstepError.__init__(self, message)


_DEFAULT = object()
_namespace: Any = _DEFAULT


def default_namespace() -> str:
    """Go back to the default namespace, ``user:<you>`` (your runs), and return it."""
    global _namespace
    _namespace = _DEFAULT
    return f"user:{username()}"


def namespace(ns: str | None) -> str | None:
    """Read only runs tagged ``ns`` (``"user:alice"``, or any tag); None reads every run."""
    global _namespace
    if ns is not None and (not isinstance(ns, str) or not ns):
        raise ValueError(
            f"namespace({ns!r}) is invalid; give a tag such as 'user:alice', or None for all runs."
        )
    _namespace = ns
    return ns


def get_namespace() -> str | None:
    """The current namespace: ``user:<you>`` unless :func:`namespace` changed it."""
    # the default follows $AIRSTEP_USER (a worker process may serve several users' runs)
    return f"user:{username()}" if _namespace is _DEFAULT else _namespace
