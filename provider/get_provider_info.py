"""Provider metadata, registered under the ``apache_airflow_provider`` entry point.

Airflow imports this module while it starts (``import airflow`` reads provider
config), so it must stay free of Airflow and other heavy imports. The ``config``
section is :data:`provider.settings.OPTIONS`, the table the code reads its
settings from.
"""

from __future__ import annotations

from typing import Any

from provider.settings import OPTIONS, SECTION

VERSION_ADDED = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-airstep",
        "name": "airstep",
        "description": "Metaflow-style flows as native Airflow DAGs.",
        "versions": [VERSION_ADDED],
        "integrations": [
            {
                "integration-name": "airstep",
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "airstep",
                "python-modules": [
                    "provider.operators.step",
                    "provider.operators.kubernetes",
                    "provider.operators.batch",
                    "provider.operators.status",
                ],
            }
        ],
        "config": {
            SECTION: {
                "description": "Settings of airstep flows running as Airflow DAGs.",
                "options": {opt.name: opt.provider_info(VERSION_ADDED) for opt in OPTIONS},
            }
        },
    }
