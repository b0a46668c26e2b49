"""Who started a run, and its tags: the facts namespaces are made of.

A run's tags start as ``run --tag NAME`` gave them (in the run record). ``Run.add_tag``
and its kin change them later without rewriting the run record, which the run's
executor may be rewriting at that moment: every change is a new :class:`RunTags`
record ``<flow>/tags/<run>/<n>.json``, created exclusively (``put_new``). Two clients
changing tags at once cannot both create record *n*: the loser reads the winner's
tags and tries *n + 1*, so no change is lost. The highest *n* holds the tags.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from provider.datastore.flowstore import FlowDataStore
from provider.datastore.ids import check_run_id
from provider.datastore.records import RunRecord, RunTags, decode, encode
from provider.datastore.user import username
from provider.exceptions import MetaflowTaggingError

#: the longest tag accepted
MAX_TAG_LENGTH = 512


class TaggingError(MetaflowTaggingError):
    """A tag change was refused: an empty or too long tag, or a system tag."""


def system_tags(record: RunRecord | None) -> frozenset[str]:
    """``user:NAME``, ``runtime:local|airflow`` and, with ``@project``, ``project:NAME`` and
    ``project_branch:BRANCH``: the tags airstep gives a run (Metaflow's system tags)."""
    if record is None:
        return frozenset()
    tags = {f"runtime:{record.executor or 'airflow'}"}
    if record.user:
        tags.add(f"user:{record.user}")
    if record.project:
        tags.add(f"project:{record.project}")
    if record.branch:
        tags.add(f"project_branch:{record.branch}")
    return frozenset(tags)


def _prefix(store: FlowDataStore, run_id: str) -> str:
    return f"{store.flow_name}/tags/{check_run_id(run_id, store.flow_name)}"


def _changes(store: FlowDataStore, run_id: str) -> list[int]:
    names = store.storage.list_dir(_prefix(store, run_id))
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def user_tags(store: FlowDataStore, run_id: str, record: RunRecord | None = None) -> frozenset[str]:
    """The run's user tags now: the last change's, or the run record's."""
    changes = _changes(store, run_id)
    if changes:
        key = f"{_prefix(store, run_id)}/{changes[-1]}.json"
        return frozenset(decode(RunTags, store.storage.get_bytes(key), key).tags)
    record = record if record is not None else store.read_run(run_id)
    return frozenset(record.tags if record else ())


def change_tags(
    store: FlowDataStore,
    run_id: str,
    change: Callable[[frozenset[str]], Iterable[str]],
) -> frozenset[str]:
    """Apply ``change`` (old user tags -> new ones) atomically; returns the new tags."""
    for _ in range(100):
        changes = _changes(store, run_id)
        old = user_tags(store, run_id)
        new = frozenset(change(old))
        if new == old:
            return old
        number = changes[-1] + 1 if changes else 1
        key = f"{_prefix(store, run_id)}/{number}.json"
        if store.storage.put_new(key, encode(RunTags(tuple(sorted(new))))):
            return new
    raise TaggingError(
        f"The tags of run {store.flow_name}/{run_id} changed 100 times while this change "
        "was being made; try again."
    )


def check_tags(tags: Iterable[str], what: str) -> list[str]:
    """The tags, or a :class:`TaggingError` naming the bad one."""
    checked = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise TaggingError(f"{what}: tag {tag!r} is invalid; a tag is a non-empty string.")
        if len(tag) > MAX_TAG_LENGTH:
            raise TaggingError(
                f"{what}: tag {tag[:40]!r}... is {len(tag)} characters long; a tag has at most "
                f"{MAX_TAG_LENGTH}."
            )
        checked.append(tag)
    return checked


def run_identity(store: FlowDataStore, run_id: str) -> tuple[str, frozenset[str]]:
    """Who started the run and its user tags: what ``current.username`` and ``current.tags``
    give inside its steps."""
    record = store.read_run(run_id)
    user = record.user if record is not None and record.user else username()
    return user, user_tags(store, run_id, record)
