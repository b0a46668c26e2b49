"""Where ``@secrets`` values come from: each type of source, and how its text becomes variables.

:mod:`provider.decorators.secrets` reads the sources of a step through :data:`RESOLVERS`;
an Airflow worker replaces the Airflow ones (:func:`register_resolver`, from
:mod:`provider.operators.secrets`). Anywhere else (a local run, a pod, a Batch job) Airflow
sources follow Airflow's environment convention: ``AIRFLOW_CONN_<ID>`` (a URI or JSON) and
``AIRFLOW_VAR_<KEY>``, or the values an AWS Batch job's operator stored for it
(``AIRSTEP_SECRETS_ARN``). No message here quotes a value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

#: a source without a type names an Airflow variable
DEFAULT_TYPE = "airflow-variable"
#: in an AWS Batch job: the ARN of the Secrets Manager secret that holds the step's Airflow
#: sources, read in the worker (see provider.operators.secrets)
HANDOFF_ARN_VARIABLE = "AIRSTEP_SECRETS_ARN"


class SecretParseError(ValueError):
    """A secret's text could not be parsed; the message holds no part of the text."""


#: how to write a connection URI whose login or password has reserved characters
URI_FIX = (
    "percent-encode its login and password (urllib.parse.quote(value, safe='')): '/' as %2F, "
    "'@' as %40, ':' as %3A, '?' as %3F, '#' as %23; or give the connection as JSON"
)


@dataclass(frozen=True)
class SecretSource:
    """One source of ``@secrets``: where the values are and how they become variables."""

    type: str
    id: str
    options: dict[str, Any] = field(default_factory=dict)
    role: str | None = None

    def __str__(self) -> str:
        return f"{self.type}.{self.id}" if self.id else self.type


Resolver = Callable[[SecretSource], dict[str, str]]


def env_name(text: str) -> str:
    """``my-db/creds`` -> ``MY_DB_CREDS``: a name usable as an environment variable."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text.rsplit(":", 1)[-1]).upper()
    return f"_{name}" if name[:1].isdigit() else name


def as_variables(source: SecretSource, value: str) -> dict[str, str]:
    """A secret's string as variables: a JSON object's keys, else one variable."""
    if source.options.get("json", True):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in parsed.items()}
    return {source.options.get("env_var_name") or env_name(source.id): value}


def connection_variables(source: SecretSource, facts: dict[str, Any]) -> dict[str, str]:
    """A connection's fields as ``<PREFIX>_LOGIN`` etc.; empty fields are left out."""
    prefix = source.options.get("env_var_prefix") or env_name(source.id)
    found = {}
    for key in ("conn_type", "login", "password", "host", "port", "schema"):
        if facts.get(key) not in (None, ""):
            found[f"{prefix}_{key.upper()}"] = str(facts[key])
    extra = facts.get("extra")
    if extra:
        found[f"{prefix}_EXTRA"] = extra if isinstance(extra, str) else json.dumps(extra)
    return found


def parse_connection(text: str) -> dict[str, Any]:
    """An ``AIRFLOW_CONN_*`` value (Airflow's URI or JSON form) as its fields.

    Raises :class:`SecretParseError`, whose message quotes nothing of ``text``, for a URI
    whose login or password has an unencoded ``/``, ``?`` or ``#`` (the URI's parts then
    split inside the password) and for text that is neither a URI nor JSON.
    """
    text = text.strip()
    if text.startswith("{"):
        try:
            facts = json.loads(text)
        except ValueError as exc:
            line, column = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
            raise SecretParseError(f"is not valid JSON (line {line}, column {column})") from None
        return dict(facts) if isinstance(facts, dict) else {}
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # its message quotes the port it read: a piece of the password
        raise SecretParseError(f"is not a URI that can be read; {URI_FIX}") from None
    query_keys = parts.query.split("=", 1)[0]
    if "@" not in parts.netloc and "@" in parts.path + parts.fragment + query_keys:
        # "user:pa/ss@host": the authority ended at the "/", in the password
        raise SecretParseError(
            f"has an '@' after its host part, so its login or password has an unencoded "
            f"'/', '?' or '#'; {URI_FIX}"
        )
    extra = dict(parse_qsl(parts.query))
    return {
        "conn_type": parts.scheme.replace("-", "_") or None,
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "host": unquote(parts.hostname) if parts.hostname else None,
        "port": port,
        "schema": unquote(parts.path.lstrip("/")) or None,
        "extra": json.dumps(extra) if extra else None,
    }


# -- where values come from -------------------------------------------------------------------


def _handoff(arn: str) -> dict[str, str]:
    """The values an AWS Batch task's operator stored for it (read once per process)."""
    if arn not in _HANDOFFS:
        import boto3

        region = arn.split(":")[3] if arn.count(":") >= 5 else None
        client = boto3.client("secretsmanager", region_name=region or None)
        _HANDOFFS[arn] = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
    return _HANDOFFS[arn]


_HANDOFFS: dict[str, dict[str, str]] = {}


def _from_environment(name: str, source: SecretSource) -> str:
    value = os.environ.get(name)
    arn = os.environ.get(HANDOFF_ARN_VARIABLE)
    if value is None and arn:
        value = _handoff(arn).get(name)
    if value is None:
        raise LookupError(
            f"no {name} in this process's environment (outside an Airflow worker an Airflow "
            f"source is read from Airflow's variable {name}); set it, or run under Airflow"
        )
    return value


def _airflow_variable(source: SecretSource) -> dict[str, str]:
    return as_variables(source, _from_environment(f"AIRFLOW_VAR_{source.id.upper()}", source))


def _airflow_connection(source: SecretSource) -> dict[str, str]:
    name = f"AIRFLOW_CONN_{source.id.upper()}"
    try:
        facts = parse_connection(_from_environment(name, source))
    except SecretParseError as exc:
        raise SecretParseError(f"{name} {exc}") from None
    return connection_variables(source, facts)


def _aws_secrets_manager(source: SecretSource) -> dict[str, str]:
    import boto3

    session = boto3.session.Session()
    if source.role:
        sts = session.client("sts")
        creds = sts.assume_role(RoleArn=source.role, RoleSessionName="airstep-secrets")
        c = creds["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )
    client = session.client("secretsmanager", region_name=source.options.get("region"))
    answer = client.get_secret_value(SecretId=source.id)
    value = answer.get("SecretString")
    if value is None:
        value = bytes(answer["SecretBinary"]).decode("utf-8")
    return as_variables(source, value)


def _local_file(source: SecretSource) -> dict[str, str]:
    with open(os.path.expanduser(source.id), encoding="utf-8") as fh:
        text = fh.read()
    if text.lstrip().startswith("{"):
        return as_variables(source, text)
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise SecretParseError(f"line {number} of {source.id} is not NAME=value")
        found[name.strip()] = value.strip().strip("'\"")
    return found


def _inline(source: SecretSource) -> dict[str, str]:
    return dict(source.options.get("env_vars") or {})


#: type -> how a process reads it; an Airflow worker replaces the Airflow ones
RESOLVERS: dict[str, Resolver] = {
    "airflow-variable": _airflow_variable,
    "airflow-connection": _airflow_connection,
    "aws-secrets-manager": _aws_secrets_manager,
    "local-file": _local_file,
    "inline": _inline,
}


def register_resolver(kind: str, resolver: Resolver) -> None:
    """Read sources of ``kind`` with ``resolver`` in this process (the Airflow operators
    register Airflow's Connection and Variable)."""
    RESOLVERS[kind] = resolver
