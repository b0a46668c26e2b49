"""Cards in a real Airflow (``airflow standalone``): every task of a step with @card has a
"Card" link to the airstep plugin inside the API server, which serves the card only to a
user Airflow lets see the DAG, sandboxed: a card's own script does not run in the browser.

The server and the ``api`` client come from this folder's conftest.py, the browser (Debian's
headless Chromium) from test_airflow_ui.py.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import httpx
import pytest
from airstep_testing.airflow_server import wait_for

from .test_airflow_ui import UI_WAIT, browser  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

DAG = "TrainReportFlow"


@pytest.fixture(scope="module")
def report_run(api) -> str:
    wait_for(lambda: api.get(f"/dags/{DAG}")["dag_id"] == DAG, 120, f"{DAG} to be parsed", 2)
    run_id = api.trigger(DAG, {"epochs": 8, "rates": [1.0, 0.3]})
    run = api.wait_run(DAG, run_id)
    assert run["state"] == "success", run
    return run_id


def links(
    api, run_id: str, task_id: str, map_index: int = -1, dag: str = DAG
) -> dict[str, str | None]:
    path = f"/dags/{dag}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/links"
    return api.get(path, map_index=map_index)["extra_links"]


def test_card_links_lead_to_the_cards_of_each_task(api, report_run):
    # a mapped step: each item's task links to its own card
    first, second = (links(api, report_run, "train", i)["Card"] for i in (0, 1))
    assert first and second and first != second
    assert first.startswith(api.base_url + "/airstep/cards/TrainReportFlow?")
    page = api.client.get(second)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Training with learning rate 0.3" in page.text
    assert "<svg" in page.text and "validation accuracy" in page.text
    assert "<script" not in page.text and 'http-equiv="refresh"' not in page.text  # final

    # the join's results card: the comparison table of both rates
    results = api.client.get(links(api, report_run, "choose")["Card"])
    assert results.status_code == 200
    assert "Best learning rate" in results.text and "<th>validation loss</th>" in results.text

    # a step without @card has no Card link
    assert "Card" not in links(api, report_run, "end")


def test_a_card_is_refused_without_a_login(api, report_run):
    url = links(api, report_run, "choose")["Card"]
    with httpx.Client(timeout=30) as anonymous:
        refused = anonymous.get(url)
        assert refused.status_code == 401, refused.text
        assert "Best learning rate" not in refused.text
        forged = anonymous.get(url, headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code in (401, 403) and "Best learning rate" not in forged.text
    # the UI's session cookie is a login too
    with httpx.Client(timeout=30, cookies={"_token": api.token}) as browser_like:
        with_cookie = browser_like.get(url)
        assert with_cookie.status_code == 200 and "Best learning rate" in with_cookie.text


def test_a_task_without_a_card_or_of_another_dag_is_not_found(api, report_run):
    base = links(api, report_run, "choose")["Card"]
    # the same task instance named under another DAG: that DAG's task has no pointer
    other = base.replace("/airstep/cards/TrainReportFlow?", "/airstep/cards/TrainSweepFlow?")
    response = api.client.get(other)
    assert response.status_code == 404
    assert "has no cards" in response.json()["detail"]


SCRIPT_DAG = "ScriptCardFlow"  # e2e_flows/script_card_flow.py


def test_a_cards_script_does_not_run_in_the_browser(api, airflow_server, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait_for(lambda: api.get(f"/dags/{SCRIPT_DAG}")["dag_id"], 120, f"{SCRIPT_DAG} to be parsed", 2)
    run_id = api.trigger(SCRIPT_DAG)
    assert api.wait_run(SCRIPT_DAG, run_id)["state"] == "success"
    url = links(api, run_id, "start", dag=SCRIPT_DAG)["Card"]
    served = api.client.get(url)
    assert served.status_code == 200 and "<script>document.title" in served.text
    assert served.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert served.headers["x-content-type-options"] == "nosniff"

    # the browser's own login (the UI's session cookie), then the card
    browser.get(airflow_server.url + "/api/v2/version")
    browser.add_cookie({"name": "_token", "value": api.token, "path": "/"})
    browser.get(url)
    body = WebDriverWait(browser, UI_WAIT).until(
        lambda d: (b := d.find_element(By.TAG_NAME, "body")) and "with a script" in b.text and b
    )
    time.sleep(1)  # what a script fetched would have arrived by now
    assert browser.title == f"{SCRIPT_DAG}/{run_id}/start/0"  # not "SCRIPT RAN"
    assert browser.find_element(By.ID, "marker").text == "script did not run"
    assert "fetched" not in body.text  # no request to the REST API with the user's login
