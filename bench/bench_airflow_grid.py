"""A 10,000-wide foreach under Airflow's scheduler, and how fast the UI shows it.

``scripts/airflow-dev`` (``airflow standalone``: scheduler, LocalExecutor, API server, SQLite)
in a temporary folder, with Airflow's default ``[core] max_map_length`` (1,024) and airstep's
default ``max_map_tasks`` (256): a 100-wide run of ``WideBenchFlow`` (one task instance per
item), then a 10,000-wide run of the same flow (250 chunks of 40 items). For each, the time the
scheduler took to finish the run, then in headless Chromium (Selenium with Debian's
``chromium`` and ``chromium-driver``, as the end-to-end tests) the load time of:

* the DAG's grid (``/dags/WideBenchFlow``) until its cell of the run's ``work`` step shows;
* the run's page (``/dags/WideBenchFlow/runs/<run>``) until the same cell shows;
* the list of the ``work`` step's mapped task instances until its first row shows.

Each page is loaded ``--loads`` times in the same browser session; the table prints the
median and the slowest. The 10,000-wide run's grid also holds the 100-wide run (a DAG's grid
shows its latest runs). Figures on a shared 2-core machine are noisy.

Usage: python bench/bench_airflow_grid.py [--wide 10000] [--narrow 100] [--loads 5]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the Airflow server helper of the end-to-end tests
sys.path.insert(0, str(Path(__file__).resolve().parent))

from airstep_testing.airflow_server import PASSWORD, USER, AirflowServer, Api, wait_for  # noqa: E402
from bench_airflow_wide import WIDE_FLOW, expected_total  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--lang=en-US", "--window-size=1400,1000",
]  # fmt: skip
DAG = "WideBenchFlow"
#: the longest one page may take to show
PAGE_WAIT = 120


def browser(profile: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(300)
    return driver


def log_in(driver: Any, base: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 60)
    driver.get(base + "/")
    wait.until(EC.element_to_be_clickable((By.NAME, "username"))).send_keys(USER)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=nav-dags-link]")))


def load_time(driver: Any, url: str, ready: Callable[[Any], bool]) -> float:
    """Seconds from asking for the page until ``ready`` holds (a fresh load each time);
    NaN when it did not within ``PAGE_WAIT`` (the grid cells the page had are printed)."""
    from selenium.common.exceptions import (
        StaleElementReferenceException,
        TimeoutException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    began = time.perf_counter()
    driver.get(url)
    try:
        WebDriverWait(
            driver, PAGE_WAIT, poll_frequency=0.05,
            ignored_exceptions=(StaleElementReferenceException, WebDriverException),
        ).until(ready)  # fmt: skip
    except TimeoutException:
        cells = [
            e.get_attribute("data-testid")
            for e in driver.find_elements(By.CSS_SELECTOR, "[data-testid^=grid-]")
        ]
        print(f"    {url} not ready in {PAGE_WAIT} s; grid cells: {cells[:8]}", file=sys.stderr)
        return math.nan
    return time.perf_counter() - began


def has(selector: str) -> Callable[[Any], bool]:
    from selenium.webdriver.common.by import By

    return lambda d: bool(d.find_elements(By.CSS_SELECTOR, selector))


def either(*checks: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda d: any(check(d) for check in checks)


def body_has(text: str) -> Callable[[Any], bool]:
    from selenium.webdriver.common.by import By

    return lambda d: text in d.find_element(By.TAG_NAME, "body").text


def measure(driver: Any, base: str, run_id: str, first_label: str, loads: int) -> dict:
    from urllib.parse import quote

    run = quote(run_id, safe="")
    cell = f'[data-testid="grid-{run_id}-work"]'
    pages = {
        "grid": (f"{base}/dags/{DAG}", has(cell)),
        "run page": (f"{base}/dags/{DAG}/runs/{run}", has(cell)),
        "mapped list": (
            f"{base}/dags/{DAG}/runs/{run}/tasks/work/mapped",
            either(body_has(first_label), has("table tbody tr")),
        ),
    }
    return {
        name: [load_time(driver, url, ready) for _ in range(loads)]
        for name, (url, ready) in pages.items()
    }


def run_width(api: Api, width: int, timeout: float) -> tuple[str, float, int]:
    """Trigger a run of ``width`` items; its id, seconds to success, work task instances."""
    from urllib.parse import quote

    from provider import Run

    run_id = api.trigger(DAG, {"width": width})
    began = time.perf_counter()
    run = api.wait_run(DAG, run_id, timeout=timeout)
    seconds = time.perf_counter() - began
    if run["state"] != "success":
        raise SystemExit(f"the {width}-wide run {run_id} ended {run['state']}")
    assert Run(f"{DAG}/{run_id}")["join"]["0"].data.total == expected_total(width)
    path = f"/dags/{DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances/work/listMapped"
    work = api.get(path, limit=1)["total_entries"]
    return run_id, seconds, work


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wide", type=int, default=10_000)
    parser.add_argument("--narrow", type=int, default=100)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--run-timeout", type=float, default=3600)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="airstep-grid-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "wide_bench_flow.py").write_text(WIDE_FLOW)
    server = AirflowServer(home / "airflow", dags, start_timeout=300)
    (home / "airflow").mkdir()
    # where scripts/airflow-dev keeps the datastore, read here to check the join's result
    os.environ["AIRSTEP_DATASTORE_ROOT"] = str(home / "airflow" / "datastore")
    driver = None
    rows = []
    try:
        server.start()
        print(f"airflow standalone up in {server.startup_seconds:.0f} s: {server.url}", flush=True)
        api = Api(server.url)
        wait_for(lambda: api.get(f"/dags/{DAG}"), 300, f"DAG {DAG} to be parsed", interval=2)
        driver = browser(str(home / "chromium"))
        log_in(driver, server.url)
        for width, first in ((args.narrow, "items["), (args.wide, "items[")):
            run_id, seconds, work = run_width(api, width, args.run_timeout)
            print(f"  {width} items: {work} task instances, success in {seconds:.0f} s", flush=True)
            times = measure(driver, server.url, run_id, first, args.loads)
            for page, values in times.items():
                rows.append((width, work, seconds, page, values))
                print(f"    {page}: {', '.join(f'{v:.2f}' for v in values)} s", flush=True)
    except BaseException:
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    print()
    print(
        f"A wide foreach under the scheduler (LocalExecutor, SQLite, default limits; 2 shared "
        f"cores, noisy): page load until shown, {args.loads} loads each"
    )
    print(f"{'items':>7}{'work TIs':>10}{'run s':>8}  {'page':<13}{'median s':>10}{'max s':>8}")
    for width, work, seconds, page, values in rows:
        median = statistics.median(values)  # NaN when a load timed out
        print(f"{width:>7}{work:>10}{seconds:>8.0f}  {page:<13}{median:>10.2f}{max(values):>8.2f}")


if __name__ == "__main__":
    main()
