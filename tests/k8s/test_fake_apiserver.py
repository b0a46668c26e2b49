"""The fake Kubernetes API server, driven by the kubernetes client and a KubernetesPodOperator."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest
from airstep_testing.fake_apiserver import _selector_matches, validate_pod
from kubernetes import client, config


@pytest.fixture
def api(fake_k8s) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(fake_k8s.kubeconfig))


def _pod(name: str, command: list[str], **container) -> client.V1Pod:
    base = client.V1Container(name="base", image="python:3.12", command=command, **container)
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "t"}),
        spec=client.V1PodSpec(restart_policy="Never", containers=[base]),
    )


def _wait_phase(api, name: str, phases=("Succeeded", "Failed"), timeout=10.0) -> client.V1Pod:
    deadline = time.monotonic() + timeout
    while (pod := api.read_namespaced_pod(name, "default")).status.phase not in phases:
        assert time.monotonic() < deadline, f"pod {name} stuck in {pod.status.phase}"
        time.sleep(0.05)
    return pod


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- the kubernetes client -------------------------------------------------------------------


def test_client_runs_pod_and_reads_log(fake_k8s, api):
    created = api.create_namespaced_pod("default", _pod("hello", ["python", "-c", "print('hi')"]))
    meta = created.metadata
    assert meta.uid and meta.resource_version and meta.creation_timestamp
    assert created.status.phase == "Pending"

    pod = _wait_phase(api, "hello")
    assert pod.status.phase == "Succeeded"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    log = api.read_namespaced_pod_log("hello", "default", container="base", _preload_content=False)
    assert log.data.decode() == "hi\n"
    log = api.read_namespaced_pod_log("hello", "default", timestamps=True, _preload_content=False)
    stamp, _, line = log.data.decode().rstrip("\n").partition(" ")
    assert line == "hi" and len(stamp) == len("2024-01-01T00:00:00.000000000Z")
    assert fake_k8s.pods["hello"]["spec"]["containers"][0]["command"][0] == "python"
    events = api.list_namespaced_event("default", field_selector="involvedObject.name=hello")
    assert [e.reason for e in events.items] == ["Scheduled", "Pulled", "Created", "Started"]


def test_env_working_dir_and_follow_stream(fake_k8s, api, tmp_path):
    fake_k8s.secrets["creds"] = {"token": "s3cret"}
    script = (
        "import os, time; print(os.getcwd()); time.sleep(0.3); "
        "print(os.environ['A'], os.environ['B'], os.environ['T'], os.environ['POD'])"
    )
    secret = client.V1SecretKeySelector(name="creds", key="token")
    field = client.V1ObjectFieldSelector(field_path="metadata.name")
    env = [
        client.V1EnvVar(name="A", value="1"),
        client.V1EnvVar(name="B", value="$(A)-2"),
        client.V1EnvVar(name="T", value_from=client.V1EnvVarSource(secret_key_ref=secret)),
        client.V1EnvVar(name="POD", value_from=client.V1EnvVarSource(field_ref=field)),
    ]
    pod = _pod("envy", ["python3", "-c", script], env=env, working_dir=str(tmp_path))
    api.create_namespaced_pod("default", pod)
    _wait_phase(api, "envy", ("Running", "Succeeded"))
    stream = api.read_namespaced_pod_log("envy", "default", follow=True, _preload_content=False)
    chunks = list(stream.stream(amt=None))  # ends when the container does
    assert b"".join(chunks).decode() == f"{tmp_path}\n1 1-2 s3cret envy\n"
    assert _wait_phase(api, "envy").status.phase == "Succeeded"


def test_pending_while_start_delay(fake_k8s, api):
    fake_k8s.start_delay = 0.5
    api.create_namespaced_pod("default", _pod("slow", ["python", "-c", "print(1)"]))
    pod = api.read_namespaced_pod("slow", "default")
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    with pytest.raises(client.ApiException, match="waiting to start"):
        api.read_namespaced_pod_log("slow", "default")
    assert _wait_phase(api, "slow").status.phase == "Succeeded"


def test_selectors_patch_and_delete(fake_k8s, api):
    api.create_namespaced_pod("default", _pod("sel", ["python", "-c", "pass"]))
    select = "app=t,already_checked!=True,!airflow-worker"
    found = api.list_namespaced_pod("default", label_selector=select).items
    assert [p.metadata.name for p in found] == ["sel"]
    patch = {"metadata": {"labels": {"already_checked": "True"}}}
    api.patch_namespaced_pod("sel", "default", patch)
    assert api.list_namespaced_pod("default", label_selector=select).items == []
    labels = api.read_namespaced_pod("sel", "default").metadata.labels
    assert labels == {"app": "t", "already_checked": "True"}
    _wait_phase(api, "sel")
    api.delete_namespaced_pod("sel", "default")
    with pytest.raises(client.ApiException) as err:
        api.read_namespaced_pod("sel", "default")
    assert err.value.status == 404
    assert "sel" in fake_k8s.pods  # kept for assertions
    assert _selector_matches("a in (x, y),b notin (z),c", {"a": "y", "c": "1"}.get)
    assert not _selector_matches("a in (x, y)", {"a": "q"}.get)


def test_delete_sigterm_then_sigkill_after_grace(fake_k8s, api):
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up'); time.sleep(60)"
    )
    api.create_namespaced_pod("default", _pod("stubborn", ["python", "-c", script]))
    fake_k8s.wait_for(lambda: fake_k8s.records["stubborn"].lines)
    pid = fake_k8s.pid("stubborn")
    started = time.monotonic()
    api.delete_namespaced_pod("stubborn", "default", grace_period_seconds=1)
    fake_k8s.wait_for(lambda: not fake_k8s.records["stubborn"].live)
    assert 0.9 < time.monotonic() - started < 5
    assert fake_k8s.records["stubborn"].exit_code == 137 and not _alive(pid)


def test_validation(fake_k8s, api):
    validate_pod({"containers": [{"name": "base", "image": "x", "command": ["true"]}]})
    with pytest.raises(Exception, match="bogus"):
        validate_pod({"containers": [{"name": "base", "image": "x", "bogus": 1}]})
    bad = api.api_client.sanitize_for_serialization(_pod("bad", ["true"]))
    bad["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(client.ApiException) as err:
        api.create_namespaced_pod("default", bad)
    assert err.value.status == 422 and "imagePullPolicyy" in err.value.body
    with pytest.raises(client.ApiException) as err:
        api.create_namespaced_pod("default", _pod("Bad_Name", ["true"]))
    assert err.value.status == 422
    assert fake_k8s.pods == {}


def test_substitutions_are_configurable(fake_k8s, api):
    entrypoint = [sys.executable, "-c", "import sys; print(sys.argv[1:])"]
    fake_k8s.substitutions["my-entrypoint"] = entrypoint
    api.create_namespaced_pod("default", _pod("ep", ["my-entrypoint", "a"], args=["b"]))
    assert _wait_phase(api, "ep").status.phase == "Succeeded"
    assert fake_k8s.logs("ep") == "['a', 'b']\n"


# ---- a real KubernetesPodOperator, executed outside a DAG run --------------------------------


class _TI:
    dag_id, task_id, map_index, try_number = "dag", "task", -1, 1

    def __init__(self):
        self.xcom: dict = {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


def _kpo(script: str, **kwargs):
    """A KPO running ``python -c script``, a minimal context, and the log lines KPO reads."""
    from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    class Lines(KubernetesPodOperatorCallback):
        lines: list[str] = []

        @classmethod
        def progress_callback(cls, *, line, **kw):
            cls.lines.append(line.rstrip("\n"))  # KPO adds "\n" to the last line of a stream

    op = KubernetesPodOperator(
        task_id="task",
        name="kpo",
        image="python:3.12",
        cmds=["python", "-c"],
        arguments=[script],
        env_vars={"GREETING": "hello"},
        get_logs=True,
        startup_check_interval_seconds=1,
        callbacks=[Lines],
        **kwargs,
    )
    ti = _TI()
    return op, {"ti": ti, "task_instance": ti, "run_id": "manual__1", "dag": None}, Lines.lines


def test_kpo_succeeds_and_streams_logs(fake_k8s, capfd):
    script = "import os; print(os.environ['GREETING'], 'from the pod')"
    op, context, lines = _kpo(
        script, kubernetes_conn_id=None, config_file=fake_k8s.kubeconfig, in_cluster=False
    )
    op.execute(context)
    assert lines == ["hello from the pod"]
    assert "[base] hello from the pod" in capfd.readouterr().out
    name = context["ti"].xcom["pod_name"]
    pod = fake_k8s.pods[name]
    assert pod["status"]["phase"] == "Succeeded"
    assert "deletionTimestamp" in pod["metadata"]  # on_finish_action="delete_pod"
    assert pod["metadata"]["labels"]["dag_id"] == "dag"
    assert pod["spec"]["containers"][0]["env"] == [{"name": "GREETING", "value": "hello"}]
    validate_pod(pod)  # what KPO sent, with the server's metadata and status, is a valid Pod
    pods = "/api/v1/namespaces/default/pods"
    calls = {(m, p.replace(name, "{name}")) for m, p, _ in fake_k8s.requests}
    assert calls - {("GET", "/api/v1/namespaces/default/events")} == {
        ("GET", pods),
        ("POST", pods),
        ("GET", pods + "/{name}"),
        ("GET", pods + "/{name}/log"),
        ("DELETE", pods + "/{name}"),
    }


def test_kpo_failure_raises(fake_k8s):
    """Through the kubernetes_default connection the fixture sets (AIRFLOW_CONN_...)."""
    from airflow.providers.common.compat.sdk import AirflowException

    script = "import sys; print('boom'); sys.exit(1)"
    op, context, lines = _kpo(script, on_finish_action="keep_pod")
    with pytest.raises(AirflowException, match="returned a failure"):
        op.execute(context)
    assert lines == ["boom"]
    pod = fake_k8s.pods[context["ti"].xcom["pod_name"]]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    assert pod["metadata"]["labels"]["already_checked"] == "True"  # patched, kept
    assert "deletionTimestamp" not in pod["metadata"]


@pytest.mark.parametrize("how", ["on_kill", "evict"])
def test_kpo_killed_pod_stops_process(fake_k8s, how):
    op, context, lines = _kpo("import time; print('started'); time.sleep(60)")
    errors: list[BaseException] = []

    def run():
        try:
            op.execute(context)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    # running, and KPO is following its log (op.pod is set once create_pod has returned)
    fake_k8s.wait_for(lambda: op.pod and any(p.endswith("/log") for _, p, _ in fake_k8s.requests))
    (name,) = fake_k8s.records
    fake_k8s.wait_for(lambda: fake_k8s.records[name].lines)
    pid = fake_k8s.pid(name)
    if how == "on_kill":
        op.on_kill()  # DELETE the pod: SIGTERM; it disappears, KPO's next read gets a 404
    else:
        fake_k8s.evict(name, reason="Terminated", message="spot instance reclaimed")
    thread.join(15)
    assert not thread.is_alive() and errors, "KPO should fail once its pod is stopped"
    assert fake_k8s.records[name].exit_code == 128 + 15 and not _alive(pid)
    if how == "evict":
        assert fake_k8s.pods[name]["status"]["reason"] == "Terminated"
        assert "returned a failure" in str(errors[0])
