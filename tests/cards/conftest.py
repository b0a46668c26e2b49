"""Fixtures of the cards' Airflow tests: CardFlow run once as a DAG under ``dag.test()``, and
Airflow's own API app (with the airstep plugin) to request its cards from."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "airflow"))
from dagrun_helpers import load_module, states, sync_dag  # noqa: E402

FLOW = Path(__file__).parent / "flows" / "card_flow.py"


@pytest.fixture(scope="package")
def dag_run(airflow_db):
    """CardFlow's DAG, run once (rows=4) for the tests of this folder. A test that changes what
    the run wrote puts it back (``card_helpers``)."""
    dag = load_module(FLOW).CardFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test(run_conf={"rows": 4})
    assert dag_run.state == "success", states(dag_run)
    return dag_run


@pytest.fixture
def cards_api(airflow_db, tmp_path, monkeypatch):
    """Airflow's own API app, in this process, with the plugin loaded from its entry point and
    an auth manager under which the user "outsider" may not see DAG CardFlow; and a function
    that makes a user's headers."""
    from airflow.api_fastapi.app import create_app, get_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "limited_auth.OneDagHiddenAuthManager")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,outsider:admin")
    monkeypatch.setenv(
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(tmp_path / "passwords.json")
    )
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "cards-test-secret")
    purge_cached_app()
    try:
        client = TestClient(create_app(apps="core"))
        manager = get_auth_manager()

        def as_user(name: str) -> dict[str, str]:
            user = SimpleAuthManagerUser(username=name, role="admin")
            return {"Authorization": f"Bearer {manager.generate_jwt(user)}"}

        yield client, as_user
    finally:
        purge_cached_app()
