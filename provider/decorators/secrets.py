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

Where the value comes from (:mod:`provider.decorators.secret_sources`): in an Airflow
worker, Airflow's own ``Connection.get`` / ``Variable.get`` (through the deployment's secrets
backends: Vault, AWS Secrets Manager, GCP, ...), registered by
:mod:`provider.operators.secrets`. Anywhere else (a local run, a pod, a Batch job), Airflow's
environment convention: ``AIRFLOW_CONN_<ID>`` (a URI or JSON) and ``AIRFLOW_VAR_<KEY>``. A
remote step's operator resolves Airflow sources in the worker and hands them to the
container by reference, never by value (see the operators). Values are set only while the
step runs, never logged, never artifacts. A process that starts a step's task processes can
read the sources once, ahead (:func:`read_ahead`): an Airflow worker does, to register every
value with Airflow's secrets masker before any of them prints.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from provider.decorators.base import StepDecorator, make_step_decorator
from provider.decorators.secret_sources import (
    DEFAULT_TYPE,
    RESOLVERS,
    URI_FIX,
    SecretParseError,
    SecretSource,
)
from provider.exceptions import StepError

#: the variables a secret may not set: airstep's and Metaflow's own
RESERVED_PREFIXES = ("AIRSTEP_", "METAFLOW_")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretsError(StepError):
    """A secret could not be read, or its variables clash; the message never holds a value."""


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

    Inside :func:`read_ahead` (also in a process forked there) the sources are not read
    again: what was read ahead is used, and a source that failed then fails here.

    Refused, naming the source and variable but never a value: a variable given by two
    sources, one already set (unless ``allow_override``), an invalid or reserved name.
    """
    ahead = _read_ahead.get(id(deco))
    read = ahead[1] if ahead is not None and ahead[0] is deco else []
    found: dict[str, str] = {}
    given_by: dict[str, SecretSource] = {}
    for index, source in enumerate(deco.sources):
        values = read[index] if index < len(read) else _read(step_name, source, found)
        if isinstance(values, SecretsError):
            raise values
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


def _read(step_name: str, source: SecretSource, found: dict[str, str]) -> dict[str, str]:
    """What ``source`` gives; its failure as a :class:`SecretsError` that names no value
    (``found``: values already read, kept out of the message too)."""
    try:
        return RESOLVERS[source.type](source)
    except Exception as exc:  # noqa: BLE001 - any backend's failure, named with its source
        raise SecretsError(
            f"@secrets on step *{step_name}* could not read {source}: "
            f"{_failure(source, exc, found)}."
        ) from None


#: id(decorator) -> (the decorator, what each of its sources gave in order, the last maybe
#: the error that stopped the reading): values read by :func:`read_ahead`
_read_ahead: dict[int, tuple[SecretsDecorator, list[dict[str, str] | SecretsError]]] = {}


@contextlib.contextmanager
def read_ahead(
    step_name: str, deco: SecretsDecorator
) -> Iterator[list[tuple[SecretSource, dict[str, str]]]]:
    """Read the step's sources now, once; inside, this process and every process it forks
    take the values from here (:func:`secrets_environment`) instead of reading them again.

    Yields ``(source, variables)`` for every source read. An Airflow worker reads ahead
    before the task's processes start, to register each value with Airflow's secrets masker
    first: the worker relays their output into the task log. Reading stops at a source that
    cannot be read; the task then fails on it, with its error, as if it had read it itself.
    """
    read: list[dict[str, str] | SecretsError] = []
    found: dict[str, str] = {}
    for source in deco.sources:
        try:
            values = _read(step_name, source, found)
        except SecretsError as exc:
            read.append(exc)
            break
        read.append(values)
        found.update((k, v) for k, v in values.items() if isinstance(v, str))
    _read_ahead[id(deco)] = (deco, read)
    try:
        yield [
            (s, v)
            for s, v in zip(deco.sources, read, strict=False)
            if not isinstance(v, SecretsError)
        ]
    finally:
        _read_ahead.pop(id(deco), None)


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
