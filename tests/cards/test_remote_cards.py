"""Remote steps write their cards the same way: a pod on the fake Kubernetes API server and
Batch jobs on moto_server render them in the runtime and store them in S3 (moto); their
tasks keep their provider links and get the Card link too."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "airflow"))
from dagrun_helpers import load_module, states, sync_dag, xcom_values  # noqa: E402

from provider import Run  # noqa: E402

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

FLOW = Path(__file__).parent / "flows" / "remote_card_flow.py"


def test_cards_of_kubernetes_and_batch_steps(
    monkeypatch, s3_bucket, batch_env, fake_k8s, local_batch_runner, fast_batch_polling, airflow_db
):
    monkeypatch.setenv("AIRSTEP_LOCAL_OVERRIDE", "false")
    monkeypatch.setenv("AIRSTEP_DATASTORE_ROOT", s3_bucket)
    monkeypatch.setenv("AIRSTEP_BATCH_QUEUE", batch_env)
    fake_k8s.secrets["aws-credentials"] = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    dag = load_module(FLOW).RemoteCardFlow.to_dag()
    kinds = {t.task_id: t.task_type for t in dag.tasks}
    assert (kinds["on_pod"], kinds["each"]) == ("KubernetesStepOperator", "BatchStepOperator")
    sync_dag(dag)
    run = dag.test()
    assert run.state == "success", states(run)

    flow_run = Run(f"RemoteCardFlow/{run.run_id}", root=s3_bucket)
    assert "rendered <strong>in a pod</strong>" in flow_run["on_pod"].task.cards[0].html
    items = {t.id: t.cards[0].html for t in flow_run["each"].tasks()}
    assert "item <strong>2</strong>" in items["1"]
    assert len([j for j in local_batch_runner.jobs if "each" in " ".join(j.command)]) == 2

    cards = xcom_values(run, "_link_CardLink")
    assert sorted(cards) == [("each", 0), ("each", 1), ("on_pod", -1)]
    # the provider links stay beside the Card link
    assert sorted(xcom_values(run, "_link_BatchJobDetailsLink")) == [("each", 0), ("each", 1)]
    assert ("on_pod", -1) in xcom_values(run, "_link_KubernetesPodLink")
