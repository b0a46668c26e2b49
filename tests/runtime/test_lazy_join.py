"""A join over many inputs reads only what it touches."""

from __future__ import annotations

import importlib.util

from helpers import FLOWS, run_flow

from provider import Flow
from provider.datastore import FlowDataStore
from provider.runtime.run import run_task
from provider.runtime.task import TaskRequest


class CountingStore(FlowDataStore):
    def __init__(self, name):
        super().__init__(name)
        self.manifests = 0
        self.blobs = 0

    def read_manifest(self, *args):
        self.manifests += 1
        return super().read_manifest(*args)

    def load_artifact(self, sha):
        self.blobs += 1
        return super().load_artifact(sha)


def test_join_over_200_inputs_reads_one_of_them(datastore):
    assert (
        run_flow("artifacts_flow.py", "run", "--width", "200", "--max-num-splits", "300").returncode
        == 0
    )
    run = Flow("ArtifactsFlow").latest_run
    spec = importlib.util.spec_from_file_location("artifacts_flow", FLOWS / "artifacts_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    store = CountingStore("ArtifactsFlow")
    # run the join again as a second attempt, in this process, and count what it reads
    manifest = run_task(module.ArtifactsFlow, TaskRequest(run.id, "join", "0", attempt=1), store)
    assert manifest.attempt == 1
    assert store.manifests <= 3  # the split (for the width) and the one input it touched
    assert store.blobs <= 2
    assert run["join"].task.data.count == 200
