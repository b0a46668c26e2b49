"""The airstep Airflow plugin: a task's cards, served inside Airflow's API server.

Registered under the ``airflow.plugins`` entry point, the plugin mounts a small FastAPI
app at :data:`~provider.operators.card_link.CARDS_URL_PREFIX`. A request names a task
instance the way Airflow does (DAG, run, task, map index); it passes Airflow's own
security dependencies first (a JWT, as a bearer token or the UI's session cookie, and
read access to the DAG's task instances, asked of the configured auth manager), so a user
who cannot see a DAG cannot see its cards.

What it trusts. The flow and step come from the DAG's own serialized task (its
:data:`~provider.operators.card_link.CARD_TASK_PARAM`, written by the DAG processor from
the DAG file), the flow's run id from the DAG id and Airflow's run id
(:func:`~provider.datastore.ids.flow_run_id`). From the pointer the task pushed to XCom it
takes only the flow task ids, each checked; a pointer whose flow, run or step are not the
DAG's is refused. The task instance of a chunk (a wide foreach) points to each of its flow
tasks: its page lists them, each a link (``&item=<task id>``) to that task's cards; an
``item`` the pointer does not name is refused.

What it reads and sends. JSON (the serialized DAG, the XCom pointer, the task's
``cards.json``) and bytes (the card's HTML): nothing is unpickled here. A card stored by an
earlier airstep (a pickle) is answered with 410 and says to run the task again. Every
response carries :data:`~provider.cards.page.CARD_HEADERS`: the page is sandboxed (no script
runs, nothing is fetched, it has an origin of its own, not Airflow's), and it is never
sniffed as anything but what it says. A card that its running task still refreshes reloads
through a ``Refresh`` header (a sandboxed page's own meta refresh is refused by browsers).

The app is built on its first request: Airflow imports plugins in many processes (the
scheduler, the DAG processor, workers), and only the API server serves them.
"""

# no ``from __future__ import annotations``: FastAPI reads the route's annotations at runtime,
# and SessionDep / DagBagDep are imported inside build_app()
import html
import json
from typing import Any
from urllib.parse import urlencode

from airflow.plugins_manager import AirflowPlugin

from provider.operators.card_link import (
    CARDS_URL_PREFIX,
    TASK_POINTER_KEY,
    CardPointer,
    card_task,
)


def build_app(dag_bag: Any = None) -> Any:
    """The FastAPI app of the cards (imports the API server's modules). ``dag_bag`` is the
    API server's own (its serialized DAGs, cached); without one the app makes its own."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.common.dagbag import DagBagDep, create_dag_bag
    from airflow.api_fastapi.common.db.common import SessionDep
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, HTTPException, Query, Request
    from fastapi.responses import HTMLResponse

    from provider.cards.page import CARD_HEADERS
    from provider.datastore.bytes_blobs import PickledBlob
    from provider.exceptions import DataStoreError, InvalidId

    app = FastAPI(title="airstep cards", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dag_bag = dag_bag if dag_bag is not None else create_dag_bag()
    can_read = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))

    @app.middleware("http")
    async def sandboxed(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.update(CARD_HEADERS)
        return response

    @app.get("/{dag_id}", dependencies=[can_read], response_class=HTMLResponse)
    def task_cards(
        dag_id: str,
        session: SessionDep,
        dag_bag: DagBagDep,
        run_id: str = Query(...),
        task_id: str = Query(...),
        map_index: int = Query(-1),
        item: str | None = Query(None, description="which flow task, when a chunk runs several"),
        card: int | None = Query(None, description="which card, when the task has several"),
    ) -> HTMLResponse:
        where = f"Task {task_id} (map index {map_index}) of run {run_id} of DAG {dag_id}"
        try:
            pointer = _checked_pointer(session, dag_bag, dag_id, run_id, task_id, map_index)
        except InvalidId as exc:
            raise HTTPException(400, f"{where}: {exc}") from None
        except _NoCards as exc:
            raise HTTPException(404, f"{where} {exc}") from None
        query: dict[str, Any] = {"run_id": run_id, "task_id": task_id, "map_index": map_index}
        if item is None and len(pointer.task_ids) > 1:
            return HTMLResponse(_chunk_index(pointer, query))
        if item is not None and item not in pointer.task_ids:
            raise HTTPException(404, f"{where} does not run flow task {item!r}.")
        flow_task = item if item is not None else pointer.task_ids[0]
        if item is not None:
            query["item"] = item
        pathspec = f"{pointer.flow}/{pointer.run_id}/{pointer.step}/{flow_task}"
        try:
            cards = _cards(pointer, flow_task)
            if not cards:
                raise HTTPException(
                    404,
                    f"Task {pathspec} has no cards yet: they are stored when the step ends, "
                    "or when it calls current.card.refresh().",
                )
            if card is None and len(cards) > 1:
                return HTMLResponse(_index(cards, query))
            index = card or 0
            if not 0 <= index < len(cards):
                raise HTTPException(
                    404, f"Task {pathspec} has {len(cards)} cards; card={index} is not one."
                )
            return HTMLResponse(cards[index].html, headers=cards[index].headers)
        except PickledBlob as exc:
            raise HTTPException(410, str(exc)) from None
        except DataStoreError as exc:
            detail = f"The cards of task {pathspec} cannot be read: {exc}"
            raise HTTPException(500, detail) from None

    return app


class _NoCards(Exception):
    """A task instance has no cards to show; the message ends the sentence that names it."""


def _checked_pointer(
    session: Any, dag_bag: Any, dag_id: str, run_id: str, task_id: str, map_index: int
) -> CardPointer:
    """The flow tasks of a task instance: flow and step from the DAG's serialized task, the
    run from the DAG and Airflow's run, the task ids from the task's XCom pointer (checked).
    Raises :class:`_NoCards` when there is nothing to show, and InvalidId for an id that
    cannot name a place in the datastore."""
    from airflow.api_fastapi.common.dagbag import get_dag_for_run_or_latest_version
    from airflow.exceptions import TaskNotFound
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select

    from provider.datastore.ids import check_flow_name, check_step_name, check_task_id, flow_run_id

    dag_run = session.scalars(
        select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).one_or_none()
    if dag_run is None:
        raise _NoCards("has no cards: the DAG has no such run.")
    dag = get_dag_for_run_or_latest_version(dag_bag, dag_run, dag_id, session)
    try:
        identity = card_task(dag.get_task(task_id).params)
    except TaskNotFound:
        identity = None
    if identity is None:
        raise _NoCards("has no cards: its DAG has no such task, or its step has no @card.")
    flow = check_flow_name(identity[0])
    step = check_step_name(identity[1], flow)
    expected_run = flow_run_id(flow, dag_id, run_id)
    pointer = CardPointer.from_xcom(_pointer_value(session, dag_id, run_id, task_id, map_index))
    if pointer is None:
        raise _NoCards("has no cards yet: the task has not started.")
    if (pointer.flow, pointer.run_id, pointer.step) != (flow, expected_run, step):
        raise _NoCards(
            f"has no cards this server may show: the pointer in its XCom names "
            f"{pointer.flow!r}/{pointer.run_id!r}/{pointer.step!r}, not the DAG's "
            f"{flow}/{expected_run}/{step}. Run the task again to write its pointer anew."
        )
    for task in pointer.task_ids:
        check_task_id(task, f"{flow}/{expected_run}/{step}")
    return pointer


def _pointer_value(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    """The task instance's pointer as plain JSON (no Airflow decoder: it may import classes)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    value = session.scalars(
        select(XComModel.value).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.map_index == map_index,
            XComModel.key == TASK_POINTER_KEY,
        )
    ).first()
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _cards(pointer: CardPointer, task_id: str) -> list[Any]:
    from provider.cards.store import read_cards
    from provider.datastore.flowstore import FlowDataStore
    from provider.operators.base import worker_storage

    store = FlowDataStore(pointer.flow, worker_storage())
    return read_cards(store, pointer.run_id, pointer.step, task_id)


def _index(cards: list[Any], query: dict[str, Any]) -> str:
    """A page that lists a task's cards, each a link to itself."""
    items = "".join(
        f'<li><a href="?{html.escape(urlencode({**query, "card": i}))}">'
        f"{html.escape(c.label)}</a> ({html.escape(c.type)} card)</li>"
        for i, c in enumerate(cards)
    )
    return _page(cards[0].pathspec, items)


def _chunk_index(pointer: CardPointer, query: dict[str, Any]) -> str:
    """A page that lists the flow tasks of a chunk, each a link to its cards. It reads no
    card: a chunk may hold hundreds of tasks, and the datastore may be remote."""
    items = "".join(
        f'<li><a href="?{html.escape(urlencode({**query, "item": t}))}">'
        f"{html.escape(f'{pointer.flow}/{pointer.run_id}/{pointer.step}/{t}')}</a></li>"
        for t in pointer.task_ids
    )
    title = f"{pointer.flow}/{pointer.run_id}/{pointer.step}: {len(pointer.task_ids)} tasks"
    return _page(title, items)


def _page(title: str, items: str) -> str:
    title = html.escape(title)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body style='font-family:sans-serif;margin:24px'><h1>{title}</h1><ul>{items}</ul>"
        "</body></html>"
    )


class _LazyApp:
    """An ASGI app that builds the real one on its first request, with the DAG bag of the
    API server it is mounted in (the app that calls it first)."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            parent = getattr(scope.get("app"), "state", None)
            self._app = build_app(getattr(parent, "dag_bag", None))
        await self._app(scope, receive, send)


class AirstepPlugin(AirflowPlugin):
    """Serves the cards of airstep tasks (the tasks' "Card" links lead here)."""

    name = "airstep"
    fastapi_apps = [{"app": _LazyApp(), "url_prefix": CARDS_URL_PREFIX, "name": "airstep cards"}]
