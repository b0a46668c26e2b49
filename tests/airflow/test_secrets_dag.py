"""@secrets under dag.test(): Airflow's Variable and Connection (from the metadata DB, so
only Airflow's own lookup finds them) reach a step in the worker, in a pod (through a
Secret made for it and deleted after) and in a Batch job (through a Secrets Manager secret
made for it and deleted after); no value is in a pod spec, a job, the datastore or a log."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import re
import sys
import time
import uuid

import pytest
from dagrun_helpers import TEST_FLOWS, states, sync_dag

from provider import Run

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

VALUES = {
    "login": "dbuser-3c1",
    "password": "db-pass-8e2f91",
    "token": "tok-airflow-77ab",
    "aws_user": "aws-user-2f9d",
    "aws_pass": "aws-pass-c40e",
    "file_key": "file-value-b18c",
}


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def fresh_module(path):
    name = f"airstep_secrets_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def airflow_secrets(airflow_db, monkeypatch, moto_server, tmp_path):
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session

    monkeypatch.setenv("AIRSTEP_USER", "airflow-user")  # the user the worker runs as
    monkeypatch.delenv("AIRFLOW_VAR_API_TOKEN", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_TEAM_DB", raising=False)
    Variable.set("api_token", VALUES["token"])
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "team_db").delete()
        session.add(
            Connection(
                conn_id="team_db",
                conn_type="postgres",
                login=VALUES["login"],
                password=VALUES["password"],
                host="db.internal",
            )
        )
    sm = moto_server.client("secretsmanager")
    creds = {"AWS_USER": VALUES["aws_user"], "AWS_PASS": VALUES["aws_pass"]}
    try:
        sm.create_secret(Name="airstep/test-creds", SecretString=json.dumps(creds))
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId="airstep/test-creds", SecretString=json.dumps(creds))
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(f"FILE_KEY={VALUES['file_key']}\n")
    monkeypatch.setenv("SECRETS_FILE", str(secrets_file))
    yield sm
    Variable.delete("api_token")


@pytest.fixture
def remote_settings(
    monkeypatch, s3_bucket, batch_env, fake_k8s, local_batch_runner, fast_batch_polling, airflow_db
):
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    monkeypatch.setenv("AIRSTEP_BATCH_QUEUE", batch_env)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    return s3_bucket


def leaks(text: str) -> list[str]:
    return [name for name, value in VALUES.items() if value in text]


def test_secrets_reach_worker_pod_and_job_by_reference_only(
    airflow_secrets, remote_settings, fake_k8s, local_batch_runner, moto_server, capfd
):
    module = fresh_module(TEST_FLOWS / "secrets_flow.py")
    dag = module.SecretsFlow.to_dag()
    sync_dag(dag)
    run = dag.test()
    assert run.state == "success", states(run)

    flow_run = Run(f"SecretsFlow/{run.run_id}", root=remote_settings)
    data = flow_run.data
    # every value arrived where the step ran
    assert data.seen_start["TEAM_DB_LOGIN"] == sha(VALUES["login"])
    assert data.seen_start["TEAM_DB_PASSWORD"] == sha(VALUES["password"])
    assert data.seen_start["API_TOKEN"] == sha(VALUES["token"])
    assert data.seen_start["AWS_USER"] == sha(VALUES["aws_user"])
    assert data.seen_start["FILE_KEY"] == sha(VALUES["file_key"])
    assert data.seen_k8s == {
        "TEAM_DB_LOGIN": sha(VALUES["login"]),
        "TEAM_DB_PASSWORD": sha(VALUES["password"]),
        "API_TOKEN": sha(VALUES["token"]),
    }
    assert data.seen_batch == {
        "API_TOKEN": sha(VALUES["token"]),
        "AWS_USER": sha(VALUES["aws_user"]),
        "AWS_PASS": sha(VALUES["aws_pass"]),
    }

    # a user-defined wrapper ran in the pod and in the job, where current knows the user
    assert data.wrapped_in == [("on_batch", "airflow-user", []), ("on_k8s", "airflow-user", [])]
    assert flow_run.system_tags == {"user:airflow-user", "runtime:airflow"}
    join = flow_run["join"].task
    assert sorted(t.step_name for t in join.parent_tasks) == ["on_batch", "on_k8s"]
    assert sorted(t.step_name for t in flow_run["start"].task.child_tasks) == ["on_batch", "on_k8s"]

    # the pod: its spec references a Secret made for it, which is gone now
    (pod,) = [p for p in fake_k8s.pods.values() if "on" in p["metadata"]["labels"]["airstep/step"]]
    assert not leaks(json.dumps(pod))
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    ref = env["AIRFLOW_VAR_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert env["AIRFLOW_CONN_TEAM_DB"]["valueFrom"]["secretKeyRef"]["name"] == ref["name"]
    assert fake_k8s.secret_log == [("created", ref["name"]), ("deleted", ref["name"])]
    assert ref["name"] not in fake_k8s.secrets

    # the Batch job: its environment names a Secrets Manager secret, deleted now
    (job,) = [j for j in local_batch_runner.jobs if "on_batch" in " ".join(j.command)]
    assert not leaks(json.dumps(job.environment)) and not leaks(" ".join(job.command))
    arn = job.environment["AIRSTEP_SECRETS_ARN"]
    names = [s["Name"] for s in airflow_secrets.list_secrets()["SecretList"]]
    assert names == ["airstep/test-creds"], f"the handoff {arn} is left"
    batch = moto_server.client("batch")
    definitions = batch.describe_job_definitions()["jobDefinitions"]
    assert definitions and not leaks(json.dumps(definitions, default=str))

    # nothing in the datastore, the steps' logs or the Airflow task logs
    s3 = moto_server.client("s3")
    bucket, prefix = remote_settings[len("s3://") :].split("/", 1)
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    assert keys
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert not leaks(body.decode("latin-1")), key
    for step in ("start", "on_k8s", "on_batch"):
        assert "got" in flow_run[step].task.stdout
        assert not leaks(flow_run[step].task.stdout), step
    out, err = capfd.readouterr()
    assert not leaks(out + err)


def test_every_node_of_a_gang_gets_the_secrets(
    airflow_secrets, remote_settings, fake_k8s, local_batch_runner
):
    module = fresh_module(TEST_FLOWS / "secret_gang_flow.py")
    dag = module.SecretGangFlow.to_dag()
    sync_dag(dag)
    run = dag.test()
    assert run.state == "success", states(run)
    data = Run(f"SecretGangFlow/{run.run_id}", root=remote_settings).data
    token = sha(VALUES["token"])
    assert data.pod_views == [(0, token), (1, token)]
    assert data.job_views == [(0, token), (1, token)]
    (job,) = [o for o in fake_k8s.jobs.created if o["kind"] == "Job"]
    assert not leaks(json.dumps(job))
    assert [event for event, _ in fake_k8s.secret_log] == ["created", "deleted"]
    (batch_job,) = [j for j in local_batch_runner.jobs if j.num_nodes]
    (nodes,) = batch_job.request["nodeOverrides"]["nodePropertyOverrides"]
    env = {e["name"]: e["value"] for e in nodes["containerOverrides"]["environment"]}
    assert env["AIRSTEP_SECRETS_ARN"].startswith("arn:aws:secretsmanager:")
    assert not leaks(json.dumps(batch_job.request))
    names = [s["Name"] for s in airflow_secrets.list_secrets()["SecretList"]]
    assert names == ["airstep/test-creds"]


@pytest.fixture
def airflow_only_secrets(airflow_db, monkeypatch):
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session

    monkeypatch.delenv("AIRFLOW_VAR_API_TOKEN", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_TEAM_DB", raising=False)
    Variable.set("api_token", VALUES["token"])
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "team_db").delete()
        session.add(
            Connection(
                conn_id="team_db",
                conn_type="postgres",
                login=VALUES["login"],
                password=VALUES["password"],
                host="db.internal",
            )
        )
    yield
    Variable.delete("api_token")


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "new-process"])
def test_every_node_of_a_gang_in_the_worker_gets_the_airflow_secrets(
    airflow_only_secrets, monkeypatch, forked
):
    """In the worker (local_override), a gang's nodes are forked, or started as new processes
    when the worker runs other threads: either way each node gets the Airflow variable."""
    import provider.runtime.gang as gang_module

    threads = 1 if forked else 2
    monkeypatch.setattr(gang_module.threading, "active_count", lambda: threads)
    dag = fresh_module(TEST_FLOWS / "secret_gang_flow.py").SecretGangFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success", states(dag_run)
    data = Run(f"SecretGangFlow/{dag_run.run_id}").data
    token = sha(VALUES["token"])
    assert data.pod_views == [(0, token), (1, token)]
    assert data.job_views == [(0, token), (1, token)]


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "new-process"])
def test_every_item_of_a_chunked_foreach_gets_the_airflow_secrets_and_stores_none(
    airflow_only_secrets, monkeypatch, capfd, forked
):
    import os
    from pathlib import Path

    import provider.operators.step as step_module

    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "10")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "10")  # 40 items: 10 chunks of 4
    threads = 1 if forked else 2
    monkeypatch.setattr(step_module.threading, "active_count", lambda: threads)
    dag = fresh_module(TEST_FLOWS / "wide_secrets_flow.py").WideSecretsFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test()
    assert dag_run.state == "success", states(dag_run)

    flow_run = Run(f"WideSecretsFlow/{dag_run.run_id}")
    expected = {
        "TEAM_DB_LOGIN": sha(VALUES["login"]),
        "TEAM_DB_PASSWORD": sha(VALUES["password"]),
        "API_TOKEN": sha(VALUES["token"]),
    }
    assert flow_run["join"].task.data.seen == [(i, expected) for i in range(40)]
    assert flow_run["join"].task.data.left_after_step is False
    for name in ("AIRFLOW_VAR_API_TOKEN", "AIRFLOW_CONN_TEAM_DB", "API_TOKEN"):
        assert name not in os.environ, name  # the worker's environment is as it was

    # nothing in the datastore, the items' logs or the Airflow task logs
    files = [p for p in Path(os.environ["AIRSTEP_DATASTORE_ROOT"]).rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert not leaks(path.read_bytes().decode("latin-1")), path
    for task in flow_run["work"]:
        assert f"item {task.index} got 3 secrets" in task.stdout
        assert not leaks(task.stdout), task.id
    out, err = capfd.readouterr()
    assert not leaks(out + err)


@pytest.fixture
def masked_values(airflow_db, monkeypatch):
    """Values of this test only (Airflow's masker keeps what it was told for the process)."""
    from airflow.models import Connection, Variable
    from airflow.utils.session import create_session

    tag = uuid.uuid4().hex[:8]
    values = {
        "MASKED_DB_LOGIN": f"login-{tag}",
        "MASKED_DB_PASSWORD": f"pass-{tag}",
        "MASKED_DB_HOST": f"db-{tag}.internal",
        "TEAM_SETTING": f"setting-{tag}",
        "INLINE_VALUE": f"inline-{tag}",
    }
    monkeypatch.setenv("MASKED_INLINE", values["INLINE_VALUE"])
    Variable.set("team_setting", values["TEAM_SETTING"])
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "masked_db").delete()
        session.add(
            Connection(
                conn_id="masked_db",
                conn_type="postgres",
                login=values["MASKED_DB_LOGIN"],
                password=values["MASKED_DB_PASSWORD"],
                host=values["MASKED_DB_HOST"],
            )
        )
    yield values
    Variable.delete("team_setting")


def test_every_secret_a_step_in_the_worker_prints_is_masked_in_the_task_log(
    masked_values, monkeypatch, capfd
):
    """Airflow 3's task log is written by the supervisor: it reads each line the task's
    process prints and passes it through its structlog processors, whose ``mask_logs``
    redacts what its secrets masker holds. The masker holds what ``mask_secret`` told it,
    from the task's process, before the line arrived. Under dag.test() the supervisor runs
    in this process: the test records what it was told, and passes each printed line
    through the same processor."""
    import airflow.sdk.execution_time.supervisor as supervisor
    from airflow.sdk.log import mask_logs

    import provider.operators.step as step_module

    told: list[str] = []
    handle = supervisor.handle_mask_secret

    def recording(msg):
        told.append(msg.value)
        return handle(msg)

    monkeypatch.setattr(supervisor, "handle_mask_secret", recording)
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")
    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "3")  # 6 items: 3 chunks of 2
    monkeypatch.setattr(step_module.threading, "active_count", lambda: 1)  # items are forked
    dag = fresh_module(TEST_FLOWS / "masked_secrets_flow.py").MaskedSecretsFlow.to_dag()
    sync_dag(dag)
    capfd.readouterr()
    dag_run = dag.test()
    out, err = capfd.readouterr()
    assert dag_run.state == "success", states(dag_run)

    # the supervisor was told every value before the task's processes printed it
    assert set(masked_values.values()) <= set(told)
    shown = re.compile(r"(start|item \d+) (MASKED_DB_\w+|TEAM_SETTING|INLINE_VALUE)=")
    printed = [line for line in (out + err).splitlines() if shown.search(line)]
    assert {shown.search(line)[1] for line in printed} == {
        "start",
        *(f"item {i}" for i in range(6)),
    }
    assert len(printed) == 7 * len(masked_values)
    for line in printed:
        logged = mask_logs(None, "info", {"event": line, "logger": "task.stdout"})["event"]
        assert logged.endswith("=***"), logged
        assert not [v for v in masked_values.values() if v in logged], logged


WORKER = """
import datetime, importlib.util, sys
sys.path.insert(0, {helpers!r})
from dagrun_helpers import sync_dag
spec = importlib.util.spec_from_file_location("held_secrets_flow", {flow_file!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
dag = getattr(module, {flow!r}).to_dag()
sync_dag(dag)
when = datetime.datetime.fromisoformat({logical!r})
dag.test(logical_date=when, run_after=when, run_conf={{"hold": 300}})
"""
HELD = TEST_FLOWS / "held_secrets_flow.py"
#: the logical date of every held run: a second dag.test() is the same run (same run id)
HELD_WHEN = "2024-01-01T00:00:00+00:00"


class HeldWorker:
    """A worker process running ``dag.test()`` of a held flow (its steps wait 300 s)."""

    def __init__(self, flow: str, log_path) -> None:
        import subprocess

        script = WORKER.format(
            helpers=str(TEST_FLOWS.parent), flow_file=str(HELD), flow=flow, logical=HELD_WHEN
        )
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def said(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        import os

        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL the worker and whatever it started."""
        import os
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextlib.contextmanager
def held_worker(flow: str, tmp_path):
    worker = HeldWorker(flow, tmp_path / "worker.log")
    try:
        yield worker
    finally:
        worker.kill()


def run_held_again(flow: str):
    """The held run once more, in this process, without waiting: its tasks start again."""
    import datetime

    dag = getattr(fresh_module(HELD), flow).to_dag()
    sync_dag(dag)
    when = datetime.datetime.fromisoformat(HELD_WHEN)
    return dag.test(logical_date=when, run_after=when, run_conf={"hold": 0})


def delete_owner(fake_k8s, owner: dict) -> None:
    """Delete what owns a Secret, as the next try, on_kill or a user would."""
    from kubernetes import client, config

    api = config.new_client_from_config(fake_k8s.kubeconfig)
    if owner["kind"] == "Pod":
        client.CoreV1Api(api).delete_namespaced_pod(owner["name"], "default")
    elif owner["kind"] == "Job":
        client.BatchV1Api(api).delete_namespaced_job(
            owner["name"], "default", propagation_policy="Background"
        )
    else:
        group, version = owner["apiVersion"].split("/")
        client.CustomObjectsApi(api).delete_namespaced_custom_object(
            group, version, "default", "jobsets", owner["name"], propagation_policy="Background"
        )


@pytest.mark.parametrize(
    "flow, gang",
    [("HeldPodFlow", None), ("HeldGangFlow", "indexed_job"), ("HeldGangFlow", "jobset")],
    ids=["pod", "job", "jobset"],
)
def test_a_killed_worker_leaves_no_secret_once_its_pods_are_gone_and_the_next_start_sweeps(
    airflow_secrets, remote_settings, fake_k8s, monkeypatch, tmp_path, flow, gang
):
    if gang:
        monkeypatch.setenv("AIRFLOW__AIRSTEP__KUBERNETES_GANG", gang)
    with held_worker(flow, tmp_path) as worker:

        def owned():
            found = [(n, m) for n, m in fake_k8s.secret_meta.items() if m.get("ownerReferences")]
            running = [r for r in fake_k8s.records.values() if r.state == "running"]
            return found[0] if found and running else None

        try:
            name, meta = fake_k8s.wait_for(owned, timeout=120)
        except TimeoutError:
            pytest.fail(f"no owned Secret and running pod; the worker said:\n{worker.said()}")
        worker.kill()  # the worker dies: no finally, no on_kill

    (owner,) = meta["ownerReferences"]
    assert owner["kind"] == {"HeldPodFlow": "Pod", "indexed_job": "Job"}.get(gang or flow, "JobSet")
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "airstep"
    assert meta["labels"]["task_id"] == "wait"
    assert name in fake_k8s.secrets  # its pods still run: the Secret is still needed
    delete_owner(fake_k8s, owner)
    fake_k8s.wait_for(lambda: name not in fake_k8s.secrets, timeout=30)
    assert name in fake_k8s.collected

    # a worker killed between making the Secret and its pod leaves one with no owner: the
    # task's next start deletes it, and leaves another task's alone
    labels = dict(meta["labels"])
    fake_k8s.secrets["left-by-a-killed-try"] = {"AIRFLOW_VAR_API_TOKEN": "x"}
    fake_k8s.secret_meta["left-by-a-killed-try"] = {"labels": labels}
    fake_k8s.secrets["another-tasks"] = {"AIRFLOW_VAR_API_TOKEN": "x"}
    fake_k8s.secret_meta["another-tasks"] = {"labels": {**labels, "task_id": "other"}}
    run = run_held_again(flow)
    assert run.state == "success", states(run)
    assert "left-by-a-killed-try" not in fake_k8s.secrets
    assert sorted(fake_k8s.secrets) == ["another-tasks", "aws-credentials"]


def batch_handoffs(sm) -> list[str]:
    listed = sm.list_secrets(Filters=[{"Key": "name", "Values": ["airstep-HeldBatchFlow-"]}])
    return sorted(s["Name"] for s in listed["SecretList"])


def wait_until(predicate, timeout: float, what: str, worker: HeldWorker):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen; the worker said:\n{worker.said()}")
        time.sleep(0.05)
    return found


def held_job(local_batch_runner, moto_server, status: str):
    """The held step's job, once AWS Batch (moto) says it is in ``status``."""
    jobs = [j for j in local_batch_runner.jobs if "--step=wait" in j.command]
    if not jobs:
        return None
    (found,) = moto_server.client("batch").describe_jobs(jobs=[jobs[-1].job_id])["jobs"]
    return jobs[-1] if found["status"] == status else None


def running_held_job(sm, local_batch_runner, moto_server, worker: HeldWorker):
    """The held step's job, once it runs with its hand-off secret made."""
    return wait_until(
        lambda: batch_handoffs(sm) and held_job(local_batch_runner, moto_server, "RUNNING"),
        120,
        "a running job with its secret",
        worker,
    )


def test_a_batch_tasks_next_try_deletes_the_secret_a_killed_worker_left(
    airflow_secrets, remote_settings, local_batch_runner, moto_server, tmp_path
):
    with held_worker("HeldBatchFlow", tmp_path) as worker:
        job = running_held_job(airflow_secrets, local_batch_runner, moto_server, worker)
        worker.kill()  # no finally, no on_kill
    left = batch_handoffs(airflow_secrets)
    assert len(left) == 1 and left[0].startswith("airstep-HeldBatchFlow-wait-")
    moto_server.client("batch").terminate_job(jobId=job.job_id, reason="the test")

    run = run_held_again("HeldBatchFlow")
    assert run.state == "success", states(run)
    assert batch_handoffs(airflow_secrets) == []


def test_on_kill_deletes_a_batch_tasks_secret(
    airflow_secrets, remote_settings, local_batch_runner, moto_server, tmp_path
):
    import signal

    with held_worker("HeldBatchFlow", tmp_path) as worker:
        running_held_job(airflow_secrets, local_batch_runner, moto_server, worker)
        worker.signal(signal.SIGTERM)  # Airflow's task runner calls on_kill
        ended = lambda: held_job(local_batch_runner, moto_server, "FAILED")  # noqa: E731
        wait_until(ended, 60, "the job's end (on_kill terminates it)", worker)
        worker.kill()  # before the task's own wait could see the job end and run finally
    assert batch_handoffs(airflow_secrets) == []
