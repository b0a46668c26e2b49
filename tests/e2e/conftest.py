"""One real Airflow for the end-to-end tests of this folder (started once, stopped after the last).

Its DAGs folder is a copy of the repo's ``dags/*.py`` plus flows that exist only here
(``e2e_flows/``): one that fails validation (an import error), one whose step raises (a
failed task with a traceback in its log) and one whose card holds a script (which the
sandboxed card page must not run). The repo's ``dags/`` stays clean.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from airstep_testing.airflow_server import REPO, AirflowServer, Api, wait_for

E2E_FLOWS = Path(__file__).parent / "e2e_flows"
#: the DAG ids the DAG processor must have parsed before the tests start
EXPECTED_DAGS = ("TrainSweepFlow", "FailingStepFlow")


@pytest.fixture(scope="package")
def airflow_server(tmp_path_factory) -> Iterator[AirflowServer]:
    """A running ``airflow standalone`` (via ``scripts/airflow-dev``), always stopped after."""
    home = tmp_path_factory.mktemp("airflow-dev")
    dags = home / "dags"
    dags.mkdir()
    for path in [*sorted((REPO / "dags").glob("*.py")), *sorted(E2E_FLOWS.glob("*.py"))]:
        shutil.copy(path, dags / path.name)
    server = AirflowServer(home=home, dags=dags)
    try:
        server.start()
        print(
            f"\nAirflow standalone ready in {server.startup_seconds:.1f}s at {server.url}",
            file=sys.stderr,
        )
        api = Api(server.url)
        try:
            wait_for(
                lambda: {d["dag_id"] for d in api.get("/dags", limit=100)["dags"]}.issuperset(
                    EXPECTED_DAGS
                ),
                timeout=120,
                what=f"the DAG processor to parse {', '.join(EXPECTED_DAGS)}",
                interval=2,
            )
        except TimeoutError as exc:
            errors = api.get("/importErrors", limit=100)["import_errors"]
            details = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)
            raise TimeoutError(f"{exc}\nimport errors:\n{details}") from None
        finally:
            api.close()
        yield server
    except BaseException:
        print(f"--- end of {server.log} ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


@pytest.fixture(scope="package")
def api(airflow_server) -> Iterator[Api]:
    client = Api(airflow_server.url)
    yield client
    client.close()
