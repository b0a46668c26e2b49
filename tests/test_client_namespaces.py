"""The client's namespaces and tag changes, over run records written directly.

What Metaflow's client gives for the same calls is compared in
tests/flow/test_metaflow_side_by_side.py; here: concurrency, old records, messages.
"""

from __future__ import annotations

import threading
import time

import pytest

import provider
from provider import Flow, NamespaceMismatch, Run, TaggingError
from provider.datastore import FlowDataStore, storage_for
from provider.datastore.records import RunRecord


@pytest.fixture
def store(datastore, monkeypatch):
    monkeypatch.setenv("AIRSTEP_USER", "alice")
    store = FlowDataStore("TagFlow", storage_for(str(datastore)))
    provider.default_namespace()  # whatever a test before left
    yield store
    provider.default_namespace()


def make_run(store, run_id, user="alice", tags=(), executor="local"):
    record = RunRecord("TagFlow", run_id, time.time(), status="ok", executor=executor, tags=tags)
    assert store.create_run(RunRecord(**{**record.__dict__, "user": user}))


def test_runs_are_read_in_their_owners_namespace_by_default(store):
    make_run(store, "mine", tags=("nightly",))
    make_run(store, "bobs", user="bob", executor=None)
    assert provider.get_namespace() == "user:alice"
    assert [r.id for r in Flow("TagFlow")] == ["mine"]
    assert Run("TagFlow/mine").tags == {"nightly", "user:alice", "runtime:local"}
    with pytest.raises(
        NamespaceMismatch,
        match=r"TagFlow/bobs is not in the namespace 'user:alice'.*namespace\(None\)",
    ):
        Run("TagFlow/bobs")
    provider.namespace("runtime:airflow")
    assert [r.id for r in Flow("TagFlow")] == ["bobs"]
    provider.namespace(None)
    assert sorted(r.id for r in Flow("TagFlow")) == ["bobs", "mine"]
    provider.namespace("user:carol")
    with pytest.raises(
        NamespaceMismatch, match=r"Flow TagFlow has no run in the namespace 'user:carol'"
    ):
        Flow("TagFlow")
    with pytest.raises(ValueError, match=r"namespace\(''\) is invalid"):
        provider.namespace("")


def test_a_run_recorded_without_an_owner_is_in_every_namespace(store):
    record = RunRecord("TagFlow", "old", time.time(), status="ok")
    store.storage.put_bytes(
        f"{store.run_prefix('old')}/run.json",
        b'{"flow":"TagFlow","run_id":"old","created_at":1.0,"status":"ok","tags":["x"]}',
    )
    assert record.user is None
    provider.namespace("user:carol")
    assert Run("TagFlow/old").user_tags == {"x"}


def test_tag_changes_racing_each_other_all_land(store):
    make_run(store, "r1", tags=("start",))
    run = Run("TagFlow/r1")

    def add(i):
        Run("TagFlow/r1").add_tag(f"t{i}")

    threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert run.user_tags == {"start", *(f"t{i}" for i in range(12))}
    # the executor rewriting the run record does not undo a tag change
    store.update_run("r1", status="ok", finished_at=time.time())
    run.replace_tag("start", "started")
    assert "started" in run.user_tags and "start" not in run.user_tags


def test_bad_tag_changes_name_the_run_and_the_tag(store):
    make_run(store, "r1")
    run = Run("TagFlow/r1")
    with pytest.raises(TaggingError, match=r"Run TagFlow/r1: tag '' is invalid"):
        run.add_tag("")
    with pytest.raises(TaggingError, match=r"at most 512"):
        run.add_tag("x" * 513)
    with pytest.raises(TaggingError, match=r"user:alice is a system tag"):
        run.remove_tag("user:alice")
    assert run.user_tags == frozenset()
