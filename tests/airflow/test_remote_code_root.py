"""to_dag(code_root=...) under dag.test(): a @kubernetes step (a pod on the fake Kubernetes API
server) gets a code package rooted at the DAGs folder, imports its team's package from it as
Airflow's worker does, and the package holds nothing of the other team beside it."""

from __future__ import annotations

import importlib.util
import io
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
from dagrun_helpers import states, sync_dag

from provider import Run
from provider.datastore import FlowDataStore, storage_for
from provider.exceptions import FlowDefinitionError

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TEAM_FLOW = """
from provider import FlowSpec, kubernetes, step
from team.lib.maths import triple


class CodeRootFlow(FlowSpec):
    @kubernetes(secrets=["aws-credentials"])
    @step
    def start(self):
        self.value = triple(5)
        self.next(self.end)

    @step
    def end(self):
        pass


dag = CodeRootFlow.to_dag(code_root=CODE_ROOT)
"""


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def load(path: Path):
    name = f"airstep_code_root_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dags(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "dags"
    monkeypatch.syspath_prepend(str(root))  # as Airflow puts its DAGs folder on sys.path
    write(root / "team" / "__init__.py")
    write(root / "team" / "lib" / "__init__.py")
    write(root / "team" / "lib" / "maths.py", "def triple(x):\n    return 3 * x\n")
    write(root / "other_team" / "their_flow.py", "dag = TheirFlow.to_dag()\n")
    write(root / "other_team" / "secrets.yaml", "token: abc\n")
    return root


def test_a_remote_step_runs_from_a_package_rooted_at_the_code_root(
    dags, monkeypatch, s3_bucket, fake_k8s, airflow_db
):
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    flow_file = write(
        dags / "team" / "flows" / "code_root_flow.py", TEAM_FLOW.replace("CODE_ROOT", '"../.."')
    )
    dag = load(flow_file).dag
    sync_dag(dag)
    run = dag.test()
    assert run.state == "success", states(run)
    assert Run(f"CodeRootFlow/{run.run_id}", root=s3_bucket).data.value == 15

    (pod,) = fake_k8s.pods.values()
    args = pod["spec"]["containers"][0]["args"]
    flow_file_arg = next(a for a in args if a.startswith("--flow-file"))
    assert flow_file_arg.endswith("team/flows/code_root_flow.py")
    package_arg = next(a for a in args if a.startswith("--code-package"))
    key = package_arg.split("=", 1)[1] if "=" in package_arg else args[args.index(package_arg) + 1]
    data = FlowDataStore("CodeRootFlow", storage_for(s3_bucket)).storage.get_bytes(key)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.getnames() == [
            "team/__init__.py",
            "team/flows/code_root_flow.py",
            "team/lib/__init__.py",
            "team/lib/maths.py",
        ]


def test_a_code_root_that_does_not_hold_the_flow_fails_at_parse_time(dags):
    flow_file = write(
        dags / "team" / "flows" / "code_root_flow.py",
        TEAM_FLOW.replace("CODE_ROOT", '"../../other_team"'),
    )
    with pytest.raises(FlowDefinitionError, match=r"^Flow CodeRootFlow: code_root='\.\./\.\./"):
        load(flow_file)
