"""``@secrets(sources=[...])``: secret values in the step's environment, resolved in the task.

A source is written as in Metaflow: ``"TYPE.ID"`` (``"aws-secrets-manager.db-creds"``),
a bare ``"ID"`` (an Airflow variable), or a dict ``{"type": ..., "id": ..., "options":
{...}, "role": ...}``. Types:

- ``airflow-connection.CONN_ID``: ``<PREFIX>_LOGIN``, ``_PASSWORD``, ``_HOST``, ``_PORT``,
  ``_SCHEMA``, ``_CONN_TYPE`` and ``_EXTRA`` (the extras as JSON); the prefix is the
  connection id in capitals, or ``options={"env_var_prefix": "DB"}``;
- ``airflow-variable.KEY``: a JSON object gives one variable per key; any other value one
  variable named ``KEY`` in capitals, or ``options={"env_var_name": ...}``;
- ``aws-secrets-manager.NAME_OR_ARN``: the same rules for the secret's string
  (``options={"region": ...}``);
- ``local-file.PATH``: a JSON object or ``NAME=value`` lines from a file (relative to the
  working directory);
- ``inline``: ``options={"env_vars": {...}}``, for tests (the values are in the code).

Where the value comes from: in an Airflow worker, Airflow's own ``Connection.get`` /
``Variable.get`` (through the deployment's secrets backends: Vault, AWS Secrets Manager,
GCP, ...), registered by :mod:`provider.operators.secrets`. Anywhere else (a local run,
a pod, a Batch job), Airflow's environment convention: ``AIRFLOW_CONN_<ID>`` (a URI or
JSON) and ``AIRFLOW_VAR_<KEY>``. A remote step's operator resolves Airflow sources in
the worker and hands them to the container by reference, never by value (see the
operators). Values are set only while the step runs, never logged, never artifacts.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from provider.decorators.base import StepDecorator, make_step_decorator
from provider.exceptions import StepError

#: a source without a type names an Airflow variable
DEFAULT_TYPE = "airflow-variable"
#: the variables a secret may not set: airstep's and Metaflow's own
RESERVED_PREFIXES = ("AIRSTEP_", "METAFLOW_")
#: in an AWS Batch job: the ARN of the Secrets Manager secret that holds the step's Airflow
#: sources, read in the worker (see provider.operators.secrets)
HANDOFF_ARN_VARIABLE = "AIRSTEP_SECRETS_ARN"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretsError(StepError):
    """A secret could not be read, or its variables clash; the message never holds a value."""


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


# -- the decorator -----------------------------------------------------------------------------


class SecretsDecorator(StepDecorator):
    """Secret values as environment variables of the step, read when the task starts."""

    name = "secrets"
    defaults: ClassVar[dict[str, Any]] = {"sources": [], "role": None, "allow_override": False}

    def validate(self) -> None:
        sources = self.attributes["sources"]
        if not isinstance(sources, list | tuple):
            raise self.fail("sources", "give a list, e.g. sources=['airflow-connection.my_db']")
        self.check_type("role", str, "an IAM role ARN")
        self.check_type("allow_override", bool, "True or False")
        self.sources = [self._source(s) for s in sources]

    def _source(self, spec: Any) -> SecretSource:
        role = self.attributes["role"]
        if isinstance(spec, str):
            kind, dot, secret_id = spec.partition(".")
            if not dot:
                kind, secret_id = DEFAULT_TYPE, spec
            source = SecretSource(kind, secret_id, {}, role)
        elif isinstance(spec, dict):
            unknown = sorted(set(spec) - {"type", "id", "options", "role"})
            if unknown:
                raise self.fail("sources", f"{spec!r} has unknown key(s) {', '.join(unknown)}")
            options = spec.get("options", {})
            if not isinstance(options, dict):
                raise self.fail("sources", f"the options of {spec!r} must be a dict")
            kind = spec.get("type", DEFAULT_TYPE)
            secret_id = spec.get("id", "" if kind == "inline" else None)
            if not isinstance(secret_id, str):
                raise self.fail("sources", f"{spec!r} needs an 'id' string")
            source = SecretSource(kind, secret_id, options, spec.get("role", role))
        else:
            raise self.fail("sources", f"{spec!r} is neither 'TYPE.ID' nor a dict")
        if source.type not in RESOLVERS:
            raise self.fail(
                "sources",
                f"{spec!r} has the unknown type {source.type!r}; the types are "
                f"{', '.join(sorted(RESOLVERS))}",
            )
        if source.type != "inline" and not source.id:
            raise self.fail("sources", f"{spec!r} names no secret after its type")
        return source


def secrets_environment(step_name: str, deco: SecretsDecorator) -> dict[str, str]:
    """Read every source of the step's ``@secrets``; the variables they give.

    Refused, naming the source and variable but never a value: a variable given by two
    sources, one already set (unless ``allow_override``), an invalid or reserved name.
    """
    found: dict[str, str] = {}
    given_by: dict[str, SecretSource] = {}
    for source in deco.sources:
        try:
            values = RESOLVERS[source.type](source)
        except Exception as exc:  # noqa: BLE001 - any backend's failure, named with its source
            raise SecretsError(
                f"@secrets on step *{step_name}* could not read {source}: "
                f"{_failure(source, exc, found)}."
            ) from None
        for name, value in values.items():
            problem = _variable_problem(name, value)
            if problem:
                raise SecretsError(
                    f"@secrets on step *{step_name}*: {source} gives the variable {name!r}, "
                    f"which {problem}."
                )
            if name in given_by:
                raise SecretsError(
                    f"@secrets on step *{step_name}*: {source} and {given_by[name]} both set "
                    f"{name}; give one of them options={{'env_var_name': ...}} or drop one."
                )
            if name in os.environ and not deco.attributes["allow_override"]:
                raise SecretsError(
                    f"@secrets on step *{step_name}*: {source} would replace {name}, which is "
                    "already set; unset it, or pass @secrets(allow_override=True)."
                )
            given_by[name] = source
            found[name] = value
    return found


def _variable_problem(name: Any, value: Any) -> str | None:
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        return "is not a valid environment variable name"
    if name.startswith(RESERVED_PREFIXES):
        return f"starts with one of {', '.join(RESERVED_PREFIXES)} (reserved)"
    if not isinstance(value, str):
        return f"has a {type(value).__name__} value, not a string"
    return None


def _failure(source: SecretSource, exc: Exception, found: dict[str, str]) -> str:
    """Why a source could not be read, in words that hold no value: a parser's own message
    (``ValueError``) may quote a piece of what it parsed, so it is not shown."""
    if isinstance(exc, SecretParseError):
        return str(exc)
    if isinstance(exc, ValueError):
        fix = ""
        if source.type == "airflow-connection":
            variable = f"AIRFLOW_CONN_{source.id.upper()}"
            fix = f"; if {variable} (or the secrets backend's value) is a URI, {URI_FIX}"
        return (
            f"its value could not be parsed ({type(exc).__name__}; the parser's message is not "
            f"shown, as it may quote a part of the value){fix}"
        )
    return f"{type(exc).__name__}: {_without_values(str(exc), found)}"


def _without_values(message: str, values: dict[str, str]) -> str:
    for value in values.values():
        if len(value) >= 4:
            message = message.replace(value, "***")
    return message


secrets = make_step_decorator(SecretsDecorator)
