"""Content-addressed blobs, atomic manifests and lazy loading."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import run_flow

from provider import Flow
from provider.datastore import FlowDataStore, LocalStorage, load_object, save_object
from provider.exceptions import DataStoreError


def blob_files(root: Path, flow: str) -> list[Path]:
    return [p for p in (root / flow / "blobs").rglob("*") if p.is_file()]


def test_same_bytes_are_stored_once(tmp_path):
    storage = LocalStorage(str(tmp_path))
    a = save_object(storage, "F", {"k": [1, 2, 3]})
    b = save_object(storage, "F", {"k": [1, 2, 3]})
    c = save_object(storage, "F", {"k": [1, 2, 4]})
    assert a == b and a.sha != c.sha
    assert len(blob_files(tmp_path, "F")) == 2
    assert load_object(storage, "F", a.sha) == {"k": [1, 2, 3]}


def test_large_objects_spool_and_compress(tmp_path):
    storage = LocalStorage(str(tmp_path))
    value = bytes(range(256)) * (64 * 1024)  # 16 MiB, compressible
    ref = save_object(storage, "F", value)
    (path,) = blob_files(tmp_path, "F")
    assert ref.size > len(value) and path.stat().st_size < len(value) // 10
    assert load_object(storage, "F", ref.sha) == value
    assert not list((tmp_path / ".tmp").iterdir())  # the spool file was moved, not left


def test_missing_blob_names_the_problem(tmp_path):
    sha = "deadbeef" * 8  # an address (a SHA-256) with no blob behind it
    with pytest.raises(DataStoreError, match=f"Artifact blob {sha} is missing"):
        load_object(LocalStorage(str(tmp_path)), "F", sha)


def test_unpicklable_by_pickle_artifacts_round_trip(datastore):
    proc = run_flow("artifacts_flow.py", "run")
    assert proc.returncode == 0, proc.stderr
    run = Flow("ArtifactsFlow").latest_run
    start = run["start"].task.data
    assert start.shift(1) == 11  # a closure
    assert (start.point.x, start.point.y) == (1, 2)  # a class of the flow file
    assert run.data.first == 10 and run.data.count == 4
    # big and copy_of_big share one blob; each step re-stores nothing it did not change
    manifest = FlowDataStore("ArtifactsFlow").read_manifest(run.id, "start", "0")
    assert manifest.artifacts["big"].sha == manifest.artifacts["copy_of_big"].sha
    sizes = [p.stat().st_size for p in blob_files(datastore, "ArtifactsFlow")]
    assert sum(sizes) < 2 * 1024 * 1024


def test_a_killed_task_leaves_no_visible_output(datastore, tmp_path):
    flow = tmp_path / "killed_flow.py"
    flow.write_text(
        "import os\n"
        "from provider import FlowSpec, step\n"
        "class KilledFlow(FlowSpec):\n"
        "    @step\n"
        "    def start(self):\n"
        "        self.x = 1\n"
        "        self.next(self.end)\n"
        "    @step\n"
        "    def end(self):\n"
        "        self.half = 'written'\n"
        "        os._exit(9)\n"
        "if __name__ == '__main__':\n"
        "    KilledFlow()\n"
    )
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(flow), "run"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "exited with status 9" in proc.stderr
    run = Flow("KilledFlow").latest_run
    assert run["start"].task.successful and run["start"].task.data.x == 1
    end = run["end"]["0"]
    assert not end.successful and not run.successful
    assert not os.path.exists(
        datastore / "KilledFlow" / "runs" / run.id / "end" / "0" / "task.json"
    )
    with pytest.raises(DataStoreError, match="has not finished successfully"):
        _ = end.data


def test_runtime_errors_name_the_step_and_keep_what_was_stored(datastore):
    proc = run_flow("bad_runtime_flow.py", "run", env={"MODE": "foreach"})
    assert proc.returncode == 1
    assert (
        "Foreach in step *start*: self.items is a int (5), which cannot be split into items"
        in proc.stderr
    )
    proc = run_flow("bad_runtime_flow.py", "run", env={"MODE": "merge"})
    assert proc.returncode == 1
    assert "Step *join* cannot merge artifact(s) value: their values differ" in proc.stderr
    assert "exclude=['value']" in proc.stderr
    run = Flow("BadRuntimeFlow").latest_run
    assert run["start"].task.data.kept == "stored before the error"
    assert [t.data.value for t in run["each"]] == [1, 2]
