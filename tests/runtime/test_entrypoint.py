"""``python -m provider.runtime``: one task in a fresh process, code from a code package."""

from __future__ import annotations

import os
import subprocess
import sys

from provider import Flow
from provider.datastore import FlowDataStore
from provider.datastore.code import package_code, upload_code

FLOW = """
from helper import triple
from provider import FlowSpec, Parameter, step


class PackagedFlow(FlowSpec):
    n = Parameter("n", default=2)

    @step
    def start(self):
        self.value = triple(self.n)
        self.next(self.end)

    @step
    def end(self):
        pass


dag = PackagedFlow.to_dag()
"""


def entrypoint(*args: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "provider.runtime", *args], capture_output=True, text=True, cwd=cwd
    )


def test_a_task_runs_from_a_code_package_with_its_helper_module(datastore, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "packaged_flow.py").write_text(FLOW)
    (src / "helper.py").write_text("def triple(x):\n    return 3 * x\n")
    store = FlowDataStore("PackagedFlow")
    key = upload_code(store, str(src / "packaged_flow.py"))
    assert upload_code(store, str(src / "packaged_flow.py")) == key  # same code, same package
    assert package_code(str(src / "packaged_flow.py")) == package_code(
        str(src / "packaged_flow.py")
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    common = [
        "--flow",
        "PackagedFlow",
        "--code-package",
        key,
        "--flow-file",
        "packaged_flow.py",
        "--run-id",
        "r1",
    ]
    proc = entrypoint(*common, "--step", "start", "--params-json", '{"n": 5}', cwd=str(elsewhere))
    assert proc.returncode == 0, proc.stderr
    assert entrypoint(*common, "--step", "end", cwd=str(elsewhere)).returncode == 0
    assert Flow("PackagedFlow")["r1"].data.value == 15


def test_a_failing_task_exits_1_with_the_users_traceback(datastore, tmp_path):
    (tmp_path / "broken_flow.py").write_text(
        "from provider import FlowSpec, step\n"
        "class BrokenFlow(FlowSpec):\n"
        "    @step\n"
        "    def start(self):\n"
        "        raise KeyError('missing thing')\n"
        "        self.next(self.end)\n"
        "    @step\n"
        "    def end(self):\n"
        "        pass\n"
    )
    proc = entrypoint(
        "--flow-file",
        str(tmp_path / "broken_flow.py"),
        "--run-id",
        "r",
        "--step",
        "start",
        cwd=str(tmp_path),
    )
    assert proc.returncode == 1
    assert "KeyError: 'missing thing'" in proc.stderr
    assert "provider/runtime" not in proc.stderr
    assert not Flow("BrokenFlow")["r"]["start"]["0"].successful
    assert os.environ.get("AIRSTEP_IN_TASK") is None  # the test process is untouched
