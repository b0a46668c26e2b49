"""The same flow with @card as an Airflow DAG under ``dag.test()``: the cards are stored by the
runtime as locally, every task of a step with @card (mapped ones included) has a "Card" link
to the plugin and a pointer to its flow task, and other tasks have neither. The run and the
API app are this folder's conftest.py fixtures."""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "airflow"))
from dagrun_helpers import load_module, states, sync_dag, xcom_values  # noqa: E402

from provider import Run  # noqa: E402

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

FLOW = Path(__file__).parent / "flows" / "card_flow.py"


def test_cards_links_and_pointers_under_dag_test(dag_run):
    from provider.operators.card_link import TASK_POINTER_KEY, CardLink, card_url

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


def test_only_tasks_of_steps_with_card_carry_the_link_in_the_serialized_dag(airflow_db):
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.to_dict(load_module(FLOW).CardFlow.to_dag())
    tasks = [t["__var"] for t in serialized["dag"]["tasks"]]
    links = {t["task_id"]: t.get("_operator_extra_links") for t in tasks}
    assert links["start"] == links["each"] == links["end"] == {"Card": "_link_CardLink"}
    assert links["join"] is None  # no @card: no link

    # the flow and step of each such task survive serialization: the plugin reads them there
    from provider.operators.card_link import card_task

    dag = DagSerialization.from_dict(serialized)
    for step in ("start", "each", "end"):
        assert card_task(dag.get_task(step).params) == ("CardFlow", step)
    assert card_task(dag.get_task("join").params) is None


def test_the_plugin_serves_a_card_only_to_a_user_who_may_see_the_dag(dag_run, cards_api):
    from provider.operators.card_link import card_url

    client, as_user = cards_api
    url = card_url("CardFlow", dag_run.run_id, "end", -1)
    index = client.get(url, headers=as_user("admin"))  # two cards: a page that lists them
    assert index.status_code == 200 and ">results</a>" in index.text
    card = client.get(url + "&card=0", headers=as_user("admin"))
    assert card.status_code == 200 and "<td>3</td><td>9</td>" in card.text
    item = client.get(card_url("CardFlow", dag_run.run_id, "each", 1), headers=as_user("admin"))
    assert "item <strong>b</strong>" in item.text

    # an admin of everything else, who may not see this DAG, gets no card
    refused = client.get(url + "&card=0", headers=as_user("outsider"))
    assert refused.status_code == 403 and "<td>3</td>" not in refused.text
    # nor does a request without a login
    assert client.get(url + "&card=0").status_code == 401
    # a task without @card has none to show
    missing = client.get(card_url("CardFlow", dag_run.run_id, "join", -1), headers=as_user("admin"))
    assert missing.status_code == 404 and "has no cards" in missing.json()["detail"]


def test_the_card_link_of_a_chunk_lists_its_tasks_each_a_link_to_its_cards(
    airflow_db, monkeypatch, cards_api
):
    from provider.operators.card_link import TASK_POINTER_KEY, CardLink, card_url

    monkeypatch.setenv("AIRFLOW__AIRSTEP__MAX_MAP_TASKS", "1")  # every foreach: one chunk
    dag = load_module(FLOW).CardFlow.to_dag()
    sync_dag(dag)
    chunked = dag.test(run_conf={"rows": 2})
    assert chunked.state == "success", states(chunked)
    pointers = xcom_values(chunked, TASK_POINTER_KEY)
    assert pointers[("each", 0)] == {
        "flow": "CardFlow", "run_id": chunked.run_id, "step": "each", "task_ids": ["0", "1"],
    }  # fmt: skip
    url = card_url("CardFlow", chunked.run_id, "each", 0)
    assert xcom_values(chunked, CardLink().xcom_key)[("each", 0)] == url

    client, as_user = cards_api
    index = client.get(url, headers=as_user("admin"))
    assert index.status_code == 200, index.text
    assert "CardFlow/" + chunked.run_id + "/each: 2 tasks" in index.text
    links = re.findall(r'href="\?([^"]+)"', index.text)
    assert [dict(parse_qsl(html.unescape(q)))["item"] for q in links] == ["0", "1"]
    second = client.get(url + "&item=1", headers=as_user("admin"))
    assert second.status_code == 200 and "item <strong>b</strong>" in second.text
    first = client.get(url + "&item=0&card=0", headers=as_user("admin"))
    assert "item <strong>a</strong>" in first.text
    # only the chunk's own tasks: an item it does not run is refused
    other = client.get(url + "&item=7", headers=as_user("admin"))
    assert other.status_code == 404 and "does not run flow task '7'" in other.json()["detail"]
    assert client.get(url + "&item=1", headers=as_user("outsider")).status_code == 403
