"""Provider metadata, registered under the ``apache_airflow_provider`` entry point.

Airflow imports this module while it starts (``import airflow`` reads provider
config), so it must stay free of Airflow and other heavy imports.
"""

from __future__ import annotations

from typing import Any

VERSION_ADDED = "0.1.0"


def _option(
    description: str, type_: str, example: str | None, default: str | None
) -> dict[str, Any]:
    return {
        "description": description,
        "version_added": VERSION_ADDED,
        "type": type_,
        "example": example,
        "default": default,
    }


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
                ],
            }
        ],
        "config": {
            "airstep": {
                "description": "Settings of airstep flows running as Airflow DAGs.",
                "options": {
                    "datastore_root": _option(
                        "Where flow artifacts and task records are kept: a folder shared by the "
                        "workers, or s3://bucket/prefix (needed by @kubernetes and @batch "
                        "steps). Unset: $AIRSTEP_DATASTORE_ROOT, else ~/.airstep.",
                        "string",
                        "s3://my-bucket/airstep",
                        None,
                    ),
                    "default_image": _option(
                        "The container image of @kubernetes and @batch steps that name no "
                        "image. It needs Python and airstep's runtime dependencies.",
                        "string",
                        "registry.example.com/airstep-step:0.1.0",
                        None,
                    ),
                    "default_compute": _option(
                        "Where steps that only declare @resources run: kubernetes, batch or "
                        "local (in the Airflow worker).",
                        "string",
                        "kubernetes",
                        "local",
                    ),
                    "kubernetes_namespace": _option(
                        "The namespace of @kubernetes steps that name none.",
                        "string",
                        "airstep",
                        "default",
                    ),
                    "kubernetes_pod_link": _option(
                        'A URL template for the "Kubernetes pod" link of @kubernetes '
                        "steps' tasks, naming {namespace} and {pod}. Unset: no link.",
                        "string",
                        "https://k8s.example.com/#/pod/{namespace}/{pod}",
                        None,
                    ),
                    "batch_queue": _option(
                        "The AWS Batch job queue of @batch steps that name none. Unset: "
                        "$AIRSTEP_BATCH_QUEUE.",
                        "string",
                        "airstep-queue",
                        None,
                    ),
                    "aws_conn_id": _option(
                        "The Airflow AWS connection the workers use for an s3:// datastore "
                        "(endpoint, region, credentials); its endpoint and region are passed "
                        "to remote steps. Unset: boto3's usual sources.",
                        "string",
                        "aws_default",
                        None,
                    ),
                    "local_override": _option(
                        "Run every step in the Airflow worker, ignoring @kubernetes and @batch "
                        "(for development). Unset: $AIRSTEP_LOCAL_OVERRIDE, else False.",
                        "boolean",
                        "True",
                        None,
                    ),
                },
            }
        },
    }
