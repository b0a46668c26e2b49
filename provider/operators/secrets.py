"""``@secrets`` under Airflow: Airflow's connections and variables, never a value in a spec.

In the worker, :func:`use_airflow_secrets` makes ``airflow-connection`` and
``airflow-variable`` sources read through ``airflow.sdk``'s ``Connection.get`` and
``Variable.get``, so they come from the deployment's secrets backends (Vault, AWS
Secrets Manager, GCP Secret Manager, ...), its environment or its metadata DB, as
Airflow itself reads them.

A step in a container has no Airflow: its operator reads the step's Airflow sources
in the worker (:func:`airflow_handoff`) and hands them over by reference, under
Airflow's own variable names (``AIRFLOW_CONN_<ID>`` as JSON, ``AIRFLOW_VAR_<KEY>``),
which the runtime in the container reads:

- Kubernetes: a Secret object made for the pod, referenced from the pod's env by
  ``secretKeyRef`` and deleted when the task ends (see
  :class:`~provider.operators.kubernetes.KubernetesStepOperator`);
- AWS Batch: a Secrets Manager secret made for the job, whose ARN (not its value) is in
  the job's environment as ``AIRSTEP_SECRETS_ARN``; the job reads it with its role, and
  the secret is deleted when the task ends.

``aws-secrets-manager``, ``local-file`` and ``inline`` sources are read in the
container itself.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from provider.decorators.secrets import (
    HANDOFF_ARN_VARIABLE,
    SecretSource,
    as_variables,
    connection_variables,
    register_resolver,
)
from provider.flow.graph import StepNode

AIRFLOW_TYPES = ("airflow-connection", "airflow-variable")


def _connection_facts(conn_id: str) -> dict[str, Any]:
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    return {
        "conn_type": conn.conn_type,
        "login": conn.login,
        "password": conn.password,
        "host": conn.host,
        "port": conn.port,
        "schema": conn.schema,
        "extra": conn.extra or None,
    }


def _variable_value(key: str) -> str:
    from airflow.sdk import Variable

    return str(Variable.get(key))


def use_airflow_secrets() -> None:
    """Read Airflow sources through Airflow in this process (the worker)."""
    register_resolver(
        "airflow-connection",
        lambda s: connection_variables(s, _connection_facts(s.id)),
    )
    register_resolver("airflow-variable", lambda s: as_variables(s, _variable_value(s.id)))


def airflow_sources(node: StepNode) -> list[SecretSource]:
    deco = node.decorators.get("secrets")
    return [s for s in deco.sources if s.type in AIRFLOW_TYPES] if deco else []


def airflow_handoff(node: StepNode) -> dict[str, str]:
    """The step's Airflow sources, read now, under the names a container reads them by."""
    found = {}
    for source in airflow_sources(node):
        if source.type == "airflow-connection":
            name = f"AIRFLOW_CONN_{source.id.upper()}"
            found[name] = json.dumps(_connection_facts(source.id))
        else:
            found[f"AIRFLOW_VAR_{source.id.upper()}"] = _variable_value(source.id)
    return found


def handoff_name(*parts: str) -> str:
    """A fresh name for one task attempt's handoff secret."""
    return "-".join([*parts, uuid.uuid4().hex[:8]])


def create_batch_handoff(client: Any, name: str, values: dict[str, str]) -> dict[str, str]:
    """Store the values in a new Secrets Manager secret; the job's env names its ARN."""
    answer = client.create_secret(
        Name=name,
        SecretString=json.dumps(values),
        Description="airstep: @secrets of one AWS Batch task, deleted when the task ends",
        Tags=[{"Key": "app.kubernetes.io/managed-by", "Value": "airstep"}],
    )
    return {HANDOFF_ARN_VARIABLE: answer["ARN"]}
