"""Trigger and watch a flow in Airflow's UI, in a real (headless) Chromium.

The browser is Debian's ``chromium`` driven through Selenium with Debian's
``chromium-driver`` (``.ci/run`` installs both; nothing is downloaded at test time).
Airflow 3's UI is a React app: the test finds elements by ``data-testid``, form
field names, button values and visible text, and waits for each with a bound.

Screenshots go to ``$AIRSTEP_SCREENSHOTS`` when set (``make screenshots`` sets it to
``docs/``, the README's pictures), else to the test's temporary folder, so a plain
``make test`` leaves the work tree clean. On a failure the page at that moment is
saved there as ``failure.png``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from airstep_testing.airflow_server import PASSWORD, USER

pytestmark = [pytest.mark.slow, pytest.mark.airflow]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=en-US",
    "--window-size=1400,1000",
]
#: the longest any one UI wait may take (a page, a dialog, a log)
UI_WAIT = 30
#: the longest the triggered run may take
RUN_WAIT = 150


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium via Selenium, with a fresh profile; always quit after the module."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        message = f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)  # .ci/run installs them: a CI run must not skip this
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="airstep-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # an explicit driver path: Selenium Manager (which could download a driver) never runs
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(UI_WAIT)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("AIRSTEP_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_trigger_from_the_form_and_watch_the_mapped_run(browser, airflow_server, api, screenshots):
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    base = airflow_server.url
    # React re-renders elements while a check reads them: a stale one means "look again"
    wait = WebDriverWait(browser, UI_WAIT, ignored_exceptions=(StaleElementReferenceException,))

    def css(selector: str) -> tuple[str, str]:
        return (By.CSS_SELECTOR, selector)

    def body_has(text: str) -> Callable[[Any], bool]:
        return lambda d: text in d.find_element(By.TAG_NAME, "body").text

    def click(locator: tuple[str, str]) -> None:
        for attempt in range(3):
            try:
                wait.until(EC.element_to_be_clickable(locator)).click()
                return
            except StaleElementReferenceException:
                if attempt == 2:
                    raise

    def shot(name: str) -> None:
        browser.save_screenshot(str(screenshots / name))

    try:
        # log in (the simple auth manager's form)
        browser.get(base + "/")
        wait.until(EC.element_to_be_clickable((By.NAME, "username"))).send_keys(USER)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        click(css("button[type=submit]"))
        wait.until(EC.presence_of_element_located(css("[data-testid=nav-dags-link]")))

        # the DAG's page, its trigger form, and two parameters changed in the form
        browser.get(base + "/dags/TrainSweepFlow")
        click(css("[data-testid=trigger-dag-button]"))
        epochs = wait.until(EC.element_to_be_clickable((By.NAME, "element_epochs")))
        assert epochs.get_attribute("value") == "30"  # the flow's default
        epochs.send_keys(Keys.CONTROL, "a")
        epochs.send_keys("7")
        rates = browser.find_element(By.NAME, "element_rates")
        rates.send_keys(Keys.CONTROL, "a")
        rates.send_keys("[0.3, 0.1, 0.03]")
        wait.until(body_has("passes of gradient descent over the data"))  # the help text
        shot("trigger-form.png")
        click(css("[data-testid=trigger-dag-submit]"))

        # the UI opens the new run's page
        wait.until(EC.url_contains("/dags/TrainSweepFlow/runs/"))
        run_id = unquote(browser.current_url.split("/runs/", 1)[1].split("/")[0].split("?")[0])
        run = api.run("TrainSweepFlow", run_id)
        assert run["conf"] == {"epochs": 7, "samples": 2000, "rates": [0.3, 0.1, 0.03]}
        assert run["triggered_by"] == "ui"

        # watch it until the run's own badge (not a task's) says Success: the page polls
        # while the run is active
        def run_badge_says_success(driver) -> bool:
            header = "[data-testid=header-card] [data-testid=state-badge]"
            badges = driver.find_elements(*css(header))
            return any(b.text.strip() == "Success" for b in badges)

        try:
            WebDriverWait(
                browser,
                RUN_WAIT,
                poll_frequency=1,
                ignored_exceptions=(StaleElementReferenceException,),
            ).until(run_badge_says_success)
        except TimeoutException:
            state = api.run("TrainSweepFlow", run_id)["state"]
            raise AssertionError(f"the run page never showed Success; the run is {state}") from None
        assert api.run("TrainSweepFlow", run_id)["state"] == "success"

        # the graph: one node per step, the mapped step with its count
        click(css("button[value=graph]"))
        wait.until(EC.text_to_be_present_in_element(css("[data-testid=rf__node-train]"), "[3]"))
        for step in ("start", "choose", "end"):
            wait.until(EC.presence_of_element_located(css(f"[data-testid=rf__node-{step}]")))
        wait.until(
            lambda d: d.find_element(*css("[data-testid=rf__node-end]")).text.count("success")
        )
        shot("graph.png")

        # the grid, then the run's cell of the mapped step: one row per item, with its label
        click(css("[data-testid=grid-view-button]"))
        click(css(f'[data-testid="grid-{run_id}-train"]'))
        wait.until(EC.url_contains("/tasks/train"))
        labels = ["learning_rates[0]=0.3", "learning_rates[1]=0.1", "learning_rates[2]=0.03"]
        for label in labels:
            wait.until(body_has(label))
        assert "learning_rates[3]" not in browser.find_element(By.TAG_NAME, "body").text
        # move the pointer off the grid, whose cells show a tooltip on hover
        try:
            label_link = browser.find_element(By.LINK_TEXT, labels[0])
            ActionChains(browser).move_to_element(label_link).perform()
            wait.until_not(body_has("Task ID: train"))
        except (StaleElementReferenceException, TimeoutException):
            pass  # only the picture would show the tooltip
        shot("grid.png")

        # one item's task: its log shows what the step printed
        click((By.LINK_TEXT, labels[0]))
        wait.until(EC.url_contains("/tasks/train/mapped/0"))
        wait.until(body_has(f"TrainSweepFlow/{run_id}/train/0: rate=0.3 w="))
        wait.until(body_has("loss="))
        shot("task-log.png")
    except BaseException:
        try:
            shot("failure.png")
            print(f"page at the failure: {browser.current_url} -> {screenshots / 'failure.png'}")
        except WebDriverException:
            pass
        raise


def test_a_task_card_opens_from_its_card_link(browser, airflow_server, api, screenshots):
    """The "Card" link of a task (Details tab, Extra Links) opens its card, served by the
    airstep plugin inside Airflow's API server with the browser's own login."""
    from urllib.parse import quote

    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    base = airflow_server.url
    wait = WebDriverWait(browser, UI_WAIT, ignored_exceptions=(StaleElementReferenceException,))
    run_id = api.trigger("TrainReportFlow", {"epochs": 40, "rates": [1.0, 0.3, 0.05]})
    assert api.wait_run("TrainReportFlow", run_id, timeout=RUN_WAIT)["state"] == "success"

    def body_has(text: str) -> Callable[[Any], bool]:
        return lambda d: text in d.find_element(By.TAG_NAME, "body").text

    try:
        browser.get(base + "/")
        nav = (By.CSS_SELECTOR, "[data-testid=nav-dags-link]")
        # the login form, unless another test of this module has logged in already
        wait.until(lambda d: d.find_elements(By.NAME, "username") or d.find_elements(*nav))
        if browser.find_elements(By.NAME, "username"):
            browser.find_element(By.NAME, "username").send_keys(USER)
            browser.find_element(By.NAME, "password").send_keys(PASSWORD)
            browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(EC.presence_of_element_located(nav))

        # the join's task: its Details tab lists the extra links, "Card" among them
        run_path = f"/dags/TrainReportFlow/runs/{quote(run_id, safe='')}"
        browser.get(base + run_path + "/tasks/choose/details")
        card_link = wait.until(EC.presence_of_element_located((By.LINK_TEXT, "Card")))
        href = card_link.get_attribute("href")
        assert href.startswith(base + "/airstep/cards/TrainReportFlow?")

        # the card, with the browser's session (no token in the URL)
        browser.get(href)
        wait.until(body_has("Best learning rate"))
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "validation accuracy" in page and "training loss per epoch" in page
        assert browser.find_elements(By.CSS_SELECTOR, "svg polyline")  # the loss curves
        rows = browser.find_elements(By.CSS_SELECTOR, "table tbody tr")
        assert len(rows) == 3  # one per learning rate
        browser.set_window_size(1100, 1000)
        shot_path = screenshots / "card.png"
        browser.save_screenshot(str(shot_path))

        # a mapped task's own card: the item it trained
        browser.get(base + run_path + "/tasks/train/mapped/2/details")
        href = wait.until(EC.presence_of_element_located((By.LINK_TEXT, "Card"))).get_attribute(
            "href"
        )
        assert "map_index=2" in href
        browser.get(href)
        wait.until(body_has("Training with learning rate 0.05"))
    except BaseException:
        try:
            browser.save_screenshot(str(screenshots / "failure-card.png"))
            print(f"page at the failure: {browser.current_url}")
        except WebDriverException:
            pass
        raise
    finally:
        browser.set_window_size(1400, 1000)
