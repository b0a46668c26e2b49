"""``@secrets`` under Airflow: Airflow's connections and variables, never a value in a spec.

In the worker, :func:`airflow_secrets` makes ``airflow-connection`` and
``airflow-variable`` sources read through ``airflow.sdk``'s ``Connection.get`` and
``Variable.get``, so they come from the deployment's secrets backends (Vault, AWS
Secrets Manager, GCP Secret Manager, ...), its environment or its metadata DB, as
Airflow itself reads them.

A step in a container has no Airflow: its operator reads the step's Airflow sources
in the worker (:func:`airflow_handoff`) and hands them over by reference, under
Airflow's own variable names (``AIRFLOW_CONN_<ID>`` as JSON, ``AIRFLOW_VAR_<KEY>``),
which the runtime in the container reads:

- Kubernetes: a Secret object made for the pod, referenced from the pod's env by
  ``secretKeyRef``, owned by the pod (or the gang's Job or JobSet) and deleted when the task
  ends (see :mod:`~provider.operators.kubernetes_secrets`);
- AWS Batch: a Secrets Manager secret made for the job, whose ARN (not its value) is in
  the job's environment as ``AIRSTEP_SECRETS_ARN``; the job reads it with its role, and
  the secret is deleted when the task ends or is killed (``on_kill``). Its name starts
  with one prefix per Airflow task (:func:`batch_handoff_prefix`): a try deletes what
  earlier tries of its task left (a killed worker runs neither).

``aws-secrets-manager``, ``local-file`` and ``inline`` sources are read in the
container itself.

Masking: every value the worker reads goes through Airflow's ``mask_secret`` in the task's
process, which tells the supervisor too; the supervisor writes the task log, masked. A step
in the worker has its sources read once, before any of its task processes starts
(:func:`masked_secrets`): the processes (a chunk's, a gang's, forked from the task's
process) print through the supervisor, and take the values read here. For a container,
the values of its Airflow and inline sources are masked in the worker, which relays the
container's log; values a container reads itself (``aws-secrets-manager``, ``local-file``)
never reach the worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from provider.decorators.secret_sources import (
    HANDOFF_ARN_VARIABLE,
    RESOLVERS,
    SecretSource,
    as_variables,
    connection_variables,
    register_resolver,
)
from provider.decorators.secrets import read_ahead
from provider.flow.graph import StepNode

AIRFLOW_TYPES = ("airflow-connection", "airflow-variable")

log = logging.getLogger(__name__)


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


@contextlib.contextmanager
def airflow_secrets() -> Iterator[None]:
    """Inside, Airflow sources are read through Airflow (in the worker, its secrets backends);
    after, as before: a process that runs other code afterwards reads them as it did."""
    saved = {kind: RESOLVERS[kind] for kind in ("airflow-connection", "airflow-variable")}
    register_resolver(
        "airflow-connection",
        lambda s: connection_variables(s, _connection_facts(s.id)),
    )
    register_resolver("airflow-variable", lambda s: as_variables(s, _variable_value(s.id)))
    try:
        yield
    finally:
        RESOLVERS.update(saved)


def airflow_sources(node: StepNode) -> list[SecretSource]:
    deco = node.decorators.get("secrets")
    return [s for s in deco.sources if s.type in AIRFLOW_TYPES] if deco else []


def airflow_handoff(node: StepNode) -> dict[str, str]:
    """The step's Airflow sources, read now, under the names a container reads them by.

    The variables they give the step, and its ``inline`` ones, are registered with
    Airflow's secrets masker first: the operator relays the container's output into the
    task log.
    """
    found, read = {}, []
    for source in airflow_sources(node):
        if source.type == "airflow-connection":
            facts = _connection_facts(source.id)
            found[f"AIRFLOW_CONN_{source.id.upper()}"] = json.dumps(facts)
            read.append((source, connection_variables(source, facts)))
        else:
            value = _variable_value(source.id)
            found[f"AIRFLOW_VAR_{source.id.upper()}"] = value
            read.append((source, as_variables(source, value)))
    deco = node.decorators.get("secrets")
    inline = [s for s in deco.sources if s.type == "inline"] if deco else []
    mask_values([*read, *((s, RESOLVERS["inline"](s)) for s in inline)])
    return found


@contextlib.contextmanager
def masked_secrets(node: StepNode) -> Iterator[None]:
    """Inside, the step's ``@secrets`` are read once, here (through Airflow), every value
    registered with Airflow's secrets masker, and the task, run here or in processes forked
    from here, takes its values from what was read (:func:`~provider.decorators.secrets.
    read_ahead`) rather than reading them itself.

    For a step run in the worker: its processes' output reaches the task log through the
    supervisor, which masks only what it was told before the output arrives.
    """
    deco = node.decorators.get("secrets")
    if deco is None:
        yield
        return
    with airflow_secrets(), read_ahead(node.name, deco) as read:
        mask_values(read)
        yield


def mask_values(read: Iterable[tuple[SecretSource, dict[str, Any]]]) -> None:
    """Register each variable's value with Airflow's secrets masker, in this process and in
    its supervisor (a connection's type, a word like ``postgres``, is no secret)."""
    mask_secret = _airflow_mask_secret()
    for source, variables in read:
        for name, value in variables.items():
            if not isinstance(value, str):
                continue  # refused when the step's environment is made
            if source.type == "airflow-connection" and name.endswith("_CONN_TYPE"):
                continue
            mask_secret(value)


def _airflow_mask_secret() -> Any:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # Airflow 3.1
        from airflow.sdk.execution_time.secrets_masker import mask_secret
    return mask_secret


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


def batch_handoff_prefix(
    flow: str, step: str, dag_id: str, task_id: str, run_id: str, map_index: int | None
) -> str:
    """The start of the name of every hand-off secret of one Airflow task, whatever its try:
    ``airstep-<flow>-<step>-<digest of the task's identity>-`` (the job's role may read
    ``airstep-*``)."""
    identity = json.dumps([dag_id, task_id, run_id, -1 if map_index is None else map_index])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", f"airstep-{flow}-{step}")[:200]
    return f"{base}-{digest}-"


def sweep_batch_handoffs(client: Any, prefix: str) -> list[str]:
    """Delete the hand-off secrets whose name starts with ``prefix``: those an earlier try of
    the task left (its worker was killed before it could delete them). Returns their names.
    Best effort: what cannot be listed or deleted is left, with a warning."""
    swept = []
    try:
        pages = client.get_paginator("list_secrets").paginate(
            Filters=[{"Key": "name", "Values": [prefix]}]
        )
        names = [s["Name"] for page in pages for s in page["SecretList"]]
    except Exception as exc:  # noqa: BLE001 - the task runs on without the sweep
        log.warning("Could not list the secrets an earlier try left (%s*): %s", prefix, exc)
        return []
    for name in names:
        if name.startswith(prefix):  # the filter is a prefix match without case
            delete_batch_handoff(client, name)
            swept.append(name)
    if swept:
        log.info("Deleted %d secret(s) an earlier try of this task left: %s", len(swept), swept)
    return swept


def delete_batch_handoff(client: Any, secret_id: str) -> None:
    """Delete a hand-off secret at once (no recovery window: nothing reads it any more)."""
    try:
        client.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    except Exception as exc:  # noqa: BLE001 - the task's outcome stands; say what is left
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code != "ResourceNotFoundException":
            log.warning("Could not delete the secret %s: %s", secret_id, exc)
