"""The same flow with @card as an Airflow DAG under ``dag.test()``: the cards are stored by the
runtime as locally, every task of a step with @card (mapped ones included) has a "Card" link
to the plugin and a pointer to its flow task, and other tasks have neither."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "airflow"))
from dagrun_helpers import load_module, states, sync_dag, xcom_values  # noqa: E402

from provider import Run  # noqa: E402

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

FLOW = Path(__file__).parent / "flows" / "card_flow.py"


def test_cards_links_and_pointers_under_dag_test(airflow_db):
    from provider.operators.card_link import TASK_POINTER_KEY, CardLink, card_url

    dag = load_module(FLOW).CardFlow.to_dag()
    sync_dag(dag)
    dag_run = dag.test(run_conf={"rows": 4})
    assert dag_run.state == "success", states(dag_run)

    run = Run(f"CardFlow/{dag_run.run_id}")
    items = {t.id: t.cards[0].html for t in run["each"].tasks()}
    assert "item <strong>a</strong>" in items["0"] and "item <strong>b</strong>" in items["1"]
    results = run["end"].task.cards[0].html
    assert "<td>3</td><td>9</td>" in results and "<svg" in results
    assert "Broken could not be rendered" in results
    assert run["end"].task.data.live == [(False, True, True)]

    pointers = xcom_values(dag_run, TASK_POINTER_KEY)
    assert pointers[("each", 1)] == {
        "flow": "CardFlow", "run_id": dag_run.run_id, "step": "each", "task_id": "1",
    }  # fmt: skip
    assert ("join", -1) not in pointers and ("start", -1) in pointers

    links = xcom_values(dag_run, CardLink().xcom_key)
    assert links[("each", 1)] == card_url("CardFlow", dag_run.run_id, "each", 1)
    assert "map_index=1" in links[("each", 1)] and "task_id=each" in links[("each", 1)]
    assert ("join", -1) not in links  # no @card: no link
