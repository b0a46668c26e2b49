"""to_dag(code_root=...): a package rooted above the flow file's folder, whose imports work in
the container as they do in Airflow's worker (where the DAGs folder is importable)."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from provider import Flow
from provider.datastore import FlowDataStore
from provider.datastore.code import package_code, upload_code
from provider.datastore.code_files import code_source
from provider.exceptions import FlowDefinitionError

TEAM_FLOW = """
from provider import FlowSpec, step
from team.lib.maths import triple


class TeamFlow(FlowSpec):
    @step
    def start(self):
        self.value = triple(5)
        self.next(self.end)

    @step
    def end(self):
        pass


dag = TeamFlow.to_dag(code_root="../..")
"""


def write(path: Path, text: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def dags(tmp_path) -> Path:
    """A DAGs folder: our team's package with a flow in a subfolder, and another team's."""
    root = tmp_path / "dags"
    write(root / "team" / "__init__.py")
    write(root / "team" / "flows" / "team_flow.py", TEAM_FLOW)
    write(root / "team" / "lib" / "__init__.py")
    write(root / "team" / "lib" / "maths.py", "def triple(x):\n    return 3 * x\n")
    write(root / "other_team" / "their_flow.py", TEAM_FLOW.replace("TeamFlow", "TheirFlow"))
    write(root / "other_team" / "secrets.yaml", "token: abc\n")
    return root


def names(package: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as tar:
        return tar.getnames()


def test_a_code_root_above_the_flow_ships_the_flows_package_and_no_other_team(dags):
    flow_file = dags / "team" / "flows" / "team_flow.py"
    source = code_source(str(flow_file), "../..", "TeamFlow")
    assert source.root == str(dags) and source.flow_path == "team/flows/team_flow.py"
    assert code_source(str(flow_file), str(dags), "TeamFlow") == source  # absolute works too
    assert names(package_code(source)) == [
        "team/__init__.py",
        "team/flows/team_flow.py",
        "team/lib/__init__.py",
        "team/lib/maths.py",
    ]


def test_a_task_runs_from_a_package_rooted_above_its_flow(dags, datastore, tmp_path):
    source = code_source(str(dags / "team" / "flows" / "team_flow.py"), "../..", "TeamFlow")
    key = upload_code(FlowDataStore("TeamFlow"), source)
    elsewhere = tmp_path / "pod"
    elsewhere.mkdir()
    command = [sys.executable, "-m", "provider.runtime", "--flow", "TeamFlow", "--run-id", "r1"]
    command += ["--code-package", key, "--flow-file", source.flow_path]
    for step in ("start", "end"):
        proc = subprocess.run(
            [*command, "--step", step], capture_output=True, text=True, cwd=str(elsewhere)
        )
        assert proc.returncode == 0, proc.stderr
    assert Flow("TeamFlow")["r1"].data.value == 15


@pytest.mark.parametrize("code_root", ["../../other_team", "elsewhere", "team_flow.py"])
def test_a_code_root_that_does_not_hold_the_flow_is_refused_with_the_fix(dags, code_root):
    flow_file = dags / "team" / "flows" / "team_flow.py"
    with pytest.raises(FlowDefinitionError) as refused:
        code_source(str(flow_file), code_root, "TeamFlow")
    assert str(refused.value).startswith(f"Flow TeamFlow: code_root={code_root!r} is ")
    assert f"which is not a folder that holds the flow file {flow_file}; give " in str(
        refused.value
    )
