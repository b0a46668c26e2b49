"""What the airstep plugin trusts when it serves a card inside Airflow's API server: nothing is
unpickled (a card is JSON and bytes), every page is sandboxed, and the pointer a task wrote to
XCom names task ids only: the flow, run and step come from the DAG, and a pointer that says
otherwise is refused. The run and the API app are this folder's conftest.py fixtures."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import cloudpickle
import pytest
from card_helpers import replaced_key, replaced_xcom

sys.path.insert(0, str(Path(__file__).parents[1] / "airflow"))
from dagrun_helpers import load_module, states, sync_dag  # noqa: E402

from provider.cards.page import CARD_POLICY  # noqa: E402
from provider.datastore.flowstore import FlowDataStore  # noqa: E402
from provider.datastore.records import CardEntry, TaskCards, decode, encode  # noqa: E402
from provider.datastore.storage import storage_for  # noqa: E402

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

FLOW = Path(__file__).parent / "flows" / "card_flow.py"
POINTER = "airstep_task"


@pytest.fixture
def no_unpickling(monkeypatch):
    """Every way to unpickle raises (and is counted) while the test runs."""
    calls: list[str] = []

    def refuse(name: str):
        def unpickle(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called while serving a card")

        return unpickle

    class RefusingUnpickler(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            calls.append("pickle.Unpickler")
            raise AssertionError("pickle.Unpickler was made while serving a card")

    for module, name in [(pickle, "loads"), (pickle, "load"), (cloudpickle, "loads"),
                         (cloudpickle, "load")]:  # fmt: skip
        monkeypatch.setattr(module, name, refuse(f"{module.__name__}.{name}"))
    monkeypatch.setattr(pickle, "Unpickler", RefusingUnpickler)
    try:
        import dill
    except ImportError:
        pass
    else:
        monkeypatch.setattr(dill, "loads", refuse("dill.loads"))
        monkeypatch.setattr(dill, "load", refuse("dill.load"))
    return calls


@pytest.fixture(scope="module")
def copy_run(dag_run):
    """CardFlow as a second DAG, ``CardFlowCopy``: its runs are ``CardFlowCopy@<run id>``."""
    dag = load_module(FLOW).CardFlow.to_dag(dag_id="CardFlowCopy")
    sync_dag(dag)
    run = dag.test()
    assert run.state == "success", states(run)
    return run


def cards_key(run_id: str, step: str, task_id: str = "0") -> str:
    return FlowDataStore("CardFlow").task_prefix(run_id, step, task_id) + "/cards.json"


def test_a_card_is_served_from_json_and_bytes_without_unpickling(dag_run, cards_api, no_unpickling):
    from provider.operators.card_link import card_url

    client, as_user = cards_api
    url = card_url("CardFlow", dag_run.run_id, "end", -1)
    index = client.get(url, headers=as_user("admin"))
    card = client.get(url + "&card=0", headers=as_user("admin"))
    item = client.get(card_url("CardFlow", dag_run.run_id, "each", 1), headers=as_user("admin"))
    assert index.status_code == card.status_code == item.status_code == 200
    assert ">results</a>" in index.text and "<td>3</td><td>9</td>" in card.text
    assert "item <strong>b</strong>" in item.text
    assert no_unpickling == []


def test_every_page_is_sandboxed_and_never_sniffed(dag_run, cards_api):
    from provider.operators.card_link import card_url

    client, as_user = cards_api
    url = card_url("CardFlow", dag_run.run_id, "end", -1)
    pages = [
        client.get(url, headers=as_user("admin")),  # the index of the task's two cards
        client.get(url + "&card=0", headers=as_user("admin")),  # a card
        client.get(url + "&card=7", headers=as_user("admin")),  # no such card: an error
        client.get(card_url("CardFlow", dag_run.run_id, "join", -1), headers=as_user("admin")),
    ]
    assert [p.status_code for p in pages] == [200, 200, 404, 404]
    for page in pages:
        assert page.headers["content-security-policy"] == CARD_POLICY
        assert page.headers["x-content-type-options"] == "nosniff"
        assert "refresh" not in page.headers  # final cards
    assert CARD_POLICY.startswith("sandbox; default-src 'none';")


def test_a_card_stored_as_a_pickle_by_an_earlier_airstep_is_refused_unread(
    dag_run, cards_api, no_unpickling
):
    from provider.operators.card_link import card_url

    store = FlowDataStore("CardFlow", storage_for())
    old_page = "<html><body>stored the old way</body></html>"
    sha = store.save_artifact(old_page).sha  # how cards were stored: a pickled str
    record = encode(TaskCards((CardEntry("default", None, sha),)))
    client, as_user = cards_api
    with replaced_key(store.storage, cards_key(dag_run.run_id, "start"), record):
        response = client.get(card_url("CardFlow", dag_run.run_id, "start", -1),
                              headers=as_user("admin"))  # fmt: skip
    assert response.status_code == 410, response.text
    detail = response.json()["detail"]
    assert f"task CardFlow/{dag_run.run_id}/start/0 was stored by an earlier airstep" in detail
    assert "run the task again" in detail and "stored the old way" not in response.text
    assert no_unpickling == []


def test_a_live_card_reloads_by_its_refresh_header(dag_run, cards_api):
    from provider.operators.card_link import card_url

    storage = storage_for()
    key = cards_key(dag_run.run_id, "start")
    (entry,) = decode(TaskCards, storage.get_bytes(key), key).cards
    live = CardEntry(entry.type, entry.id, entry.sha, False, 2.0, entry.rendered_at)
    client, as_user = cards_api
    with replaced_key(storage, key, encode(TaskCards((live,)))):
        response = client.get(card_url("CardFlow", dag_run.run_id, "start", -1),
                              headers=as_user("admin"))  # fmt: skip
    assert response.status_code == 200 and "Hello from" in response.text
    # a sandboxed page's own <meta http-equiv="refresh"> does not run: the server asks instead
    assert response.headers["refresh"] == "2"
    assert response.headers["content-security-policy"] == CARD_POLICY


def test_a_dag_whose_id_is_not_the_flows_name_serves_the_cards_of_its_own_runs(copy_run, cards_api):
    from provider.operators.card_link import card_url

    client, as_user = cards_api
    card = client.get(card_url("CardFlowCopy", copy_run.run_id, "end", -1) + "&card=1",
                      headers=as_user("admin"))  # fmt: skip
    assert card.status_code == 200, card.text
    assert f"CardFlow/CardFlowCopy@{copy_run.run_id}/end/0" in card.text


@pytest.mark.parametrize(
    ("tamper", "status"),
    [
        pytest.param({"flow": "../x"}, 404, id="flow-climbing-out"),
        pytest.param({"flow": "OtherFlow"}, 404, id="another-flow"),
        pytest.param({"step": "start"}, 404, id="another-step"),
        pytest.param({"run_id": "copy"}, 404, id="a-run-of-another-dag"),
        pytest.param({"task_id": "0/../../../start/0"}, 400, id="task-id-with-slash"),
        pytest.param({"task_ids": ["0", "../1"]}, 400, id="chunk-task-id-climbing"),
    ],
)
def test_a_tampered_pointer_is_refused_and_serves_nothing(
    dag_run, copy_run, cards_api, tamper, status
):
    from provider.operators.card_link import card_url

    pointer = {"flow": "CardFlow", "run_id": dag_run.run_id, "step": "end", "task_id": "0"}
    if tamper.get("run_id") == "copy":  # the same step's task in a run of DAG CardFlowCopy
        tamper = {"run_id": f"CardFlowCopy@{copy_run.run_id}"}
    if "task_ids" in tamper:
        del pointer["task_id"]
    pointer.update(tamper)
    client, as_user = cards_api
    url = card_url("CardFlow", dag_run.run_id, "end", -1)
    with replaced_xcom(dag_run, "end", -1, POINTER, pointer):
        refused = [client.get(url + query, headers=as_user("admin"))
                   for query in ("", "&card=0", "&item=0", "&item=../1")]  # fmt: skip
    for response in refused:
        assert response.status_code in (status, 404), response.text
        assert "results" not in response.text and "<td>" not in response.text
    assert refused[0].status_code == status
    assert "Task end (map index -1) of run" in refused[0].json()["detail"]
    # the pointer put back, the card is served again
    assert client.get(url + "&card=0", headers=as_user("admin")).status_code == 200
