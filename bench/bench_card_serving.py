"""Serving a card from Airflow's API server: the airstep plugin's response for a 200 KB card
whose page is read as a pickled blob (how cards were stored before: ``load_artifact``,
reproduced here as the baseline) and as bytes (now: ``load_bytes``), in one run, through
Airflow's own API app in this process (auth, DB lookups and all); and the datastore read alone.

A flow with one @card step runs once under ``dag.test()`` in a temporary Airflow (SQLite);
its card, a table sized to --kb, is then stored both ways, and the two are requested in
alternating rounds, so a busy machine slows both alike. The table shows the median and the
90th percentile of --requests requests each, after a warm-up.

Usage: python bench/bench_card_serving.py [--kb 200] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

FLOW = '''"""One step whose card is a table of about KB kilobytes (an Airflow DAG)."""
from provider import FlowSpec, Parameter, card, current, step
from provider.cards import Table


class CardServingBench(FlowSpec):
    kb = Parameter("kb", default=200)

    @card(type="blank")
    @step
    def start(self):
        rows = [[i, f"run-{i:06d}", i * 0.001, "ok" if i % 3 else "retry"]
                for i in range(int(self.kb) * 1024 // 67)]
        current.card.append(Table(rows, headers=["n", "name", "rate", "status"]))
        self.next(self.end)

    @step
    def end(self):
        pass


dag = CardServingBench.to_dag()
'''


def timed(call: Any, times: int) -> list[float]:
    out = []
    for _ in range(times):
        began = time.perf_counter()
        call()
        out.append(time.perf_counter() - began)
    return out


def p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kb", type=int, default=200, help="the card's size (200)")
    parser.add_argument("--requests", type=int, default=300, help="requests per way (300)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="airstep-bench-"))
    (home / "dags").mkdir()
    (home / "dags" / "card_serving_bench.py").write_text(FLOW)
    (home / "passwords.json").write_text('{"admin": "admin"}')  # none generated and printed
    os.environ.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__LOGGING__LOGGING_LEVEL="ERROR",
        AIRFLOW__API__ACCESS_LOGS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__API_AUTH__JWT_SECRET="bench-card-serving-secret-of-enough-length-for-hmac",
        AIRSTEP_DATASTORE_ROOT=str(home / "datastore"),
    )
    sys.path.insert(0, str(ROOT))
    try:
        rows = run(home, args)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(rows)


def run(home: Path, args: argparse.Namespace) -> str:
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db
    from fastapi.testclient import TestClient

    import provider.cards.store as card_store
    from provider.datastore import FlowDataStore, load_object, save_object, storage_for
    from provider.datastore.bytes_blobs import load_bytes
    from provider.datastore.records import CardEntry, TaskCards, decode, encode
    from provider.operators.card_link import card_url

    db.initdb()
    bag = DagBag(dag_folder=str(home / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag_run = bag.get_dag("CardServingBench").test(run_conf={"kb": args.kb})
    assert dag_run.state == "success", dag_run.state

    store = FlowDataStore("CardServingBench", storage_for())
    key = f"{store.task_prefix(dag_run.run_id, 'start', '0')}/cards.json"
    new_record = store.storage.get_bytes(key)
    (entry,) = decode(TaskCards, new_record, key).cards
    page = load_bytes(store.storage, store.flow_name, entry.sha).decode()
    pickled_sha = save_object(store.storage, store.flow_name, page).sha  # the old way
    old_entry = CardEntry(entry.type, entry.id, pickled_sha, entry.final, None, entry.rendered_at)
    old_record = encode(TaskCards((old_entry,)))
    new_html = card_store.Card.html

    def old_html(card: Any) -> str:  # the plugin's read before: an unpickled str
        return str(load_object(card._store.storage, card._store.flow_name, card.entry.sha))

    def use(way: str) -> None:
        store.storage.put_bytes(key, old_record if way == "pickled" else new_record)
        card_store.Card.html = property(old_html) if way == "pickled" else new_html

    client = TestClient(create_app(apps="core"))
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    headers = {"Authorization": f"Bearer {token}"}
    url = card_url("CardServingBench", dag_run.run_id, "start", -1)

    def request() -> None:
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and len(response.content) == len(page.encode())

    reads = {
        "pickled": lambda: load_object(store.storage, store.flow_name, pickled_sha),
        "bytes": lambda: load_bytes(store.storage, store.flow_name, entry.sha),
    }
    served: dict[str, list[float]] = {"pickled": [], "bytes": []}
    read: dict[str, list[float]] = {"pickled": [], "bytes": []}
    rounds = 10
    for way in served:  # warm-up
        use(way)
        timed(request, 20)
    for _ in range(rounds):
        for way in served:
            use(way)
            served[way] += timed(request, args.requests // rounds)
            read[way] += timed(reads[way], args.requests // rounds)
    use("bytes")

    sizes = {
        way: os.path.getsize(Path(store.root).joinpath(*blob.split("/")))
        for way, blob in (
            ("pickled", f"CardServingBench/blobs/{pickled_sha[:2]}/{pickled_sha}"),
            ("bytes", f"CardServingBench/blobs/{entry.sha[:2]}/{entry.sha}"),
        )
    }
    base = statistics.median(served["pickled"])
    lines = [
        f"A {len(page.encode()) / 1024:.0f} KB card served by the airstep plugin (Airflow's API "
        f"app in process), {len(served['bytes'])} requests each way, ms",
        f"{'card stored as':<24}{'blob KB':>9}{'read':>8}{'response':>10}{'p90':>8}{'ratio':>8}",
    ]
    for way, label in (("pickled", "pickled str (before)"), ("bytes", "UTF-8 bytes (now)")):
        median = statistics.median(served[way])
        lines.append(
            f"{label:<24}{sizes[way] / 1024:>9.1f}{statistics.median(read[way]) * 1000:>8.2f}"
            f"{median * 1000:>10.2f}{p90(served[way]) * 1000:>8.2f}{median / base:>8.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
