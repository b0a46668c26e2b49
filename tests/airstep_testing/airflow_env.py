"""A throwaway Airflow for these tests: temp AIRFLOW_HOME, SQLite, the repo's dags/ folder.

Airflow reads its configuration when it is first imported, so the environment
is set here, when pytest loads this plugin, before any test module imports Airflow.
Helpers for the tests live in ``dagrun_helpers.py``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
_HOME = tempfile.mkdtemp(prefix="airstep-airflow-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ.update(
    {
        "AIRFLOW_HOME": _HOME,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_REPO / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRSTEP_DATASTORE_ROOT": os.path.join(_HOME, "datastore"),
        # the examples' @kubernetes / @batch steps run in the worker unless a test says otherwise
        "AIRSTEP_LOCAL_OVERRIDE": "true",
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """An initialised metadata DB (SQLite, about a second)."""
    from airflow.utils import db

    db.initdb()
