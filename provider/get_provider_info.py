"""Provider metadata, registered under the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-airstep",
        "name": "airstep",
        "description": "Metaflow-style flows as native Airflow DAGs.",
        "versions": ["0.1.0"],
    }
