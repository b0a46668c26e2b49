"""[airstep] aws_conn_id: the worker reaches an s3:// datastore through an Airflow connection."""

from __future__ import annotations

import json

from provider.operators.base import aws_connection_env, worker_storage


def test_the_s3_datastore_uses_the_airflow_aws_connection(monkeypatch, moto_server, s3_bucket):
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_server.endpoint_url, "region_name": "eu-west-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AIRSTEP_S3", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__AIRSTEP__AWS_CONN_ID", "airstep_s3")
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)  # only the connection knows the way
    storage = worker_storage(s3_bucket)
    storage.put_bytes("F/runs/r/run.json", b'{"ok": true}')
    assert storage.get_bytes("F/runs/r/run.json") == b'{"ok": true}'
    assert aws_connection_env() == {
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def test_without_a_connection_setting_nothing_is_added(monkeypatch):
    monkeypatch.delenv("AIRFLOW__AIRSTEP__AWS_CONN_ID", raising=False)
    assert aws_connection_env() == {}
