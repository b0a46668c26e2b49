"""@secrets: the source syntax (Metaflow's), the checks, and a local run that reads every
kind of source without storing or printing a value."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provider import Run, secrets, step
from provider.decorators.secret_sources import SecretSource, parse_connection
from provider.decorators.secrets import SecretsError, secrets_environment
from provider.exceptions import InvalidDecoratorError

FLOW = Path(__file__).resolve().parents[1] / "airflow" / "flows" / "secrets_flow.py"
VALUES = {
    "login": "dbuser",
    "password": "p@ss:w/rd-7f3a",
    "token": "tok-9d1e44c2",
    "aws_user": "aws-user-51c0",
    "aws_pass": "aws-pass-e7b2",
    "file_key": "file-value-0a6f",
}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def decorated(**attributes):
    func = secrets(**attributes)(step(lambda self: None))
    return func.decorators[0]


def test_sources_are_written_as_in_metaflow():
    deco = decorated(
        sources=[
            "aws-secrets-manager.db/creds",
            "api_token",
            {"type": "airflow-connection", "id": "team_db", "options": {"env_var_prefix": "DB"}},
            {"id": "key", "role": "arn:aws:iam::1:role/r"},
        ],
        role="arn:aws:iam::1:role/default",
    )
    assert deco.sources == [
        SecretSource("aws-secrets-manager", "db/creds", {}, "arn:aws:iam::1:role/default"),
        SecretSource("airflow-variable", "api_token", {}, "arn:aws:iam::1:role/default"),
        SecretSource(
            "airflow-connection", "team_db", {"env_var_prefix": "DB"}, "arn:aws:iam::1:role/default"
        ),
        SecretSource("airflow-variable", "key", {}, "arn:aws:iam::1:role/r"),
    ]


@pytest.mark.parametrize(
    "sources, message",
    [
        ("x", r"sources='x' is invalid; give a list"),
        ([3], r"3 is neither 'TYPE.ID' nor a dict"),
        (["vault.db"], r"unknown type 'vault'; the types are airflow-connection, "),
        ([{"type": "airflow-variable"}], r"needs an 'id' string"),
        ([{"id": "a", "optoins": {}}], r"unknown key\(s\) optoins"),
        (["aws-secrets-manager."], r"names no secret after its type"),
    ],
)
def test_a_bad_source_fails_when_the_decorator_is_applied(sources, message):
    with pytest.raises(InvalidDecoratorError, match=message):
        decorated(sources=sources)


def test_values_become_variables_and_clashes_name_the_sources(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_CONFIG", json.dumps({"A": "1", "B": 2}))
    monkeypatch.setenv("AIRFLOW_VAR_PLAIN", "just-a-value")
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_DB", "postgres://u%40x:pw%2F1@db.local:5432/sales")
    deco = decorated(sources=["config", "plain", "airflow-connection.team_db"])
    assert secrets_environment("s", deco) == {
        "A": "1",
        "B": "2",
        "PLAIN": "just-a-value",
        "TEAM_DB_CONN_TYPE": "postgres",
        "TEAM_DB_LOGIN": "u@x",
        "TEAM_DB_PASSWORD": "pw/1",
        "TEAM_DB_HOST": "db.local",
        "TEAM_DB_PORT": "5432",
        "TEAM_DB_SCHEMA": "sales",
    }
    clash = decorated(sources=["config", {"type": "inline", "options": {"env_vars": {"A": "x"}}}])
    with pytest.raises(SecretsError, match=r"inline and airflow-variable.config both set A"):
        secrets_environment("s", clash)
    monkeypatch.setenv("A", "set before")
    with pytest.raises(SecretsError, match=r"would replace A, which is already set.*allow_over"):
        secrets_environment("s", decorated(sources=["config"]))
    assert secrets_environment("s", decorated(sources=["config"], allow_override=True))["A"] == "1"
    reserved = decorated(sources=[{"type": "inline", "options": {"env_vars": {"AIRSTEP_X": "1"}}}])
    with pytest.raises(SecretsError, match=r"AIRSTEP_X.*reserved"):
        secrets_environment("s", reserved)


def test_a_missing_secret_names_the_step_and_source_but_no_value(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_NOPE", raising=False)
    with pytest.raises(SecretsError, match=r"step \*train\* could not read airflow-variable.nope"):
        secrets_environment("train", decorated(sources=["nope"]))


def test_connections_in_airflows_json_form_are_read_too():
    facts = parse_connection(json.dumps({"conn_type": "http", "host": "h", "extra": {"k": 1}}))
    assert facts == {"conn_type": "http", "host": "h", "extra": {"k": 1}}


def test_a_local_run_reads_every_kind_of_source_and_stores_no_value(
    datastore, moto_server, tmp_path
):
    sm = moto_server.client("secretsmanager")
    creds = json.dumps({"AWS_USER": VALUES["aws_user"], "AWS_PASS": VALUES["aws_pass"]})
    try:
        sm.create_secret(Name="airstep/test-creds", SecretString=creds)
    except sm.exceptions.ResourceExistsException:  # the moto server lives for the session
        sm.put_secret_value(SecretId="airstep/test-creds", SecretString=creds)
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(f"# for the flow\nFILE_KEY={VALUES['file_key']}\n")
    uri = f"postgres://{VALUES['login']}:{VALUES['password'].replace('/', '%2F')}@db.local/x"
    env = {
        **os.environ,
        "AIRFLOW_CONN_TEAM_DB": uri.replace("@db", "@db", 1).replace("p@ss", "p%40ss"),
        "AIRFLOW_VAR_API_TOKEN": VALUES["token"],
        "SECRETS_FILE": str(secrets_file),
    }
    proc = subprocess.run(
        [sys.executable, str(FLOW), "run", "--run-id", "local"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    data = Run("SecretsFlow/local").data
    assert data.seen_start["TEAM_DB_LOGIN"] == sha(VALUES["login"])
    assert data.seen_start["TEAM_DB_PASSWORD"] == sha(VALUES["password"])
    assert data.seen_start["API_TOKEN"] == sha(VALUES["token"])
    assert data.seen_start["AWS_PASS"] == sha(VALUES["aws_pass"])
    assert data.seen_start["FILE_KEY"] == sha(VALUES["file_key"])
    assert data.seen_k8s["TEAM_DB_PASSWORD"] == sha(VALUES["password"])
    assert data.seen_batch["AWS_USER"] == sha(VALUES["aws_user"])
    assert data.left_after_step is False
    assert "start got 7 secrets" in proc.stdout + proc.stderr
    leaked = [
        (path, name)
        for path in datastore.rglob("*")
        if path.is_file()
        for name, value in VALUES.items()
        if value.encode() in path.read_bytes()
    ]
    assert not leaked, leaked
    for name, value in VALUES.items():
        assert value not in proc.stdout + proc.stderr, name


def test_a_secret_and_environment_setting_one_variable_is_refused(monkeypatch):
    from provider import environment
    from provider.decorators.resolve import step_environment
    from provider.flow.parse import StepNode

    monkeypatch.setenv("AIRFLOW_VAR_MODE", "from-secret")
    func = environment(vars={"MODE": "plain"})(secrets(sources=["mode"])(step(lambda self: 0)))
    node = StepNode(name="train", func=func, is_join=False)
    node.decorators = {d.name: d for d in func.decorators}
    with pytest.raises(SecretsError, match=r"step \*train\* sets MODE, which @environment sets"):
        step_environment(node)
    func.decorators[0].attributes["allow_override"] = True
    assert step_environment(node) == {"MODE": "from-secret"}


@pytest.mark.parametrize(
    "uri",
    [
        "postgres://user:pw7x/ss-9c1d@db.local/sales",  # "/" ends the host part in the password
        "postgres://user:1234/ss-9c1d@db.local/sales",  # ... and looks like a port
        "postgres://user:pw7x#ss-9c1d@db.local/sales",  # "#" starts a fragment
        "postgres://user:5678?ss-9c1d@db.local/sales",  # "?" starts a query
        "postgres://us/ss-9c1d:pw7x@db.local/sales",  # in the login
    ],
)
def test_a_connection_uri_that_does_not_parse_names_the_variable_and_the_fix_not_the_value(
    monkeypatch, uri
):
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_DB", uri)
    with pytest.raises(SecretsError) as caught:
        secrets_environment("load", decorated(sources=["airflow-connection.team_db"]))
    message = str(caught.value)
    assert "step *load*" in message and "airflow-connection.team_db" in message
    assert "AIRFLOW_CONN_TEAM_DB" in message and "'/' as %2F" in message
    for piece in ("pw7x", "ss-9c1d", "1234", "5678", "db.local", "sales"):
        assert piece not in message, (piece, message)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_connection_json_that_does_not_parse_quotes_no_value(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_DB", '{"password": "pw-6e0b" "login": 1}')
    with pytest.raises(SecretsError, match=r"AIRFLOW_CONN_TEAM_DB is not valid JSON") as caught:
        secrets_environment("load", decorated(sources=["airflow-connection.team_db"]))
    assert "pw-6e0b" not in str(caught.value)


def test_a_parser_message_that_could_quote_a_value_is_not_shown(tmp_path):
    path = tmp_path / "bad.json"
    path.write_bytes(b'{"KEY": "caf\xe9-3f0a"}')  # not UTF-8: the decoder quotes the byte
    with pytest.raises(SecretsError) as caught:
        secrets_environment("load", decorated(sources=[f"local-file.{path}"]))
    message = str(caught.value)
    assert "could not read local-file." in message and "UnicodeDecodeError" in message
    assert "0xe9" not in message and "position" not in message
