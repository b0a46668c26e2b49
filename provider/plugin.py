"""The airstep Airflow plugin: a task's cards, served inside Airflow's API server.

Registered under the ``airflow.plugins`` entry point, the plugin mounts a small FastAPI
app at :data:`~provider.operators.card_link.CARDS_URL_PREFIX`. A request names a task
instance the way Airflow does (DAG, run, task, map index); it passes Airflow's own
security dependencies first (a JWT, as a bearer token or the UI's session cookie, and
read access to the DAG's task instances, asked of the configured auth manager), so a user
who cannot see a DAG cannot see its cards. The app then follows the pointer the task
pushed to XCom to the flow task and returns its card from the datastore. The task
instance of a chunk (a wide foreach) points to each of its flow tasks: its page lists
them, each a link (``&item=<task id>``) to that task's cards; an ``item`` the pointer
does not name is refused, so a URL cannot be bent to reach another task's cards.

The app is built on its first request: Airflow imports plugins in many processes (the
scheduler, the DAG processor, workers), and only the API server serves them.
"""

# no ``from __future__ import annotations``: FastAPI reads the route's annotations at runtime,
# and SessionDep is imported inside build_app()
import html
from typing import Any
from urllib.parse import urlencode

from airflow.plugins_manager import AirflowPlugin

from provider.operators.card_link import CARDS_URL_PREFIX, TASK_POINTER_KEY, CardPointer


def build_app() -> Any:
    """The FastAPI app of the cards (imports the API server's modules)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.common.db.common import SessionDep
    from airflow.api_fastapi.core_api.security import requires_access_dag
    from fastapi import Depends, FastAPI, HTTPException, Query
    from fastapi.responses import HTMLResponse

    app = FastAPI(title="airstep cards", docs_url=None, redoc_url=None, openapi_url=None)
    can_read = Depends(requires_access_dag("GET", DagAccessEntity.TASK_INSTANCE))

    @app.get("/{dag_id}", dependencies=[can_read], response_class=HTMLResponse)
    def task_cards(
        dag_id: str,
        session: SessionDep,
        run_id: str = Query(...),
        task_id: str = Query(...),
        map_index: int = Query(-1),
        item: str | None = Query(None, description="which flow task, when a chunk runs several"),
        card: int | None = Query(None, description="which card, when the task has several"),
    ) -> HTMLResponse:
        pointer = _task_pointer(session, dag_id, run_id, task_id, map_index)
        if pointer is None:
            raise HTTPException(
                404,
                f"Task {task_id} (map index {map_index}) of run {run_id} of DAG {dag_id} has "
                "no cards: its step has no @card, or the task has not started.",
            )
        query: dict[str, Any] = {"run_id": run_id, "task_id": task_id, "map_index": map_index}
        if item is None and len(pointer.task_ids) > 1:
            return HTMLResponse(_chunk_index(pointer, query))
        if item is not None and item not in pointer.task_ids:
            raise HTTPException(
                404,
                f"Task {task_id} (map index {map_index}) of run {run_id} of DAG {dag_id} does "
                f"not run flow task {item!r}.",
            )
        flow_task = item if item is not None else pointer.task_ids[0]
        if item is not None:
            query["item"] = item
        cards = _cards(pointer, flow_task)
        if not cards:
            raise HTTPException(
                404,
                f"Task {pointer.flow}/{pointer.run_id}/{pointer.step}/{flow_task} has no "
                "cards yet: they are stored when the step ends, or when it calls "
                "current.card.refresh().",
            )
        if card is None and len(cards) > 1:
            return HTMLResponse(_index(cards, query))
        index = card or 0
        if not 0 <= index < len(cards):
            raise HTTPException(404, f"The task has {len(cards)} cards; card={index} is not one.")
        return HTMLResponse(cards[index].html)

    return app


def _task_pointer(
    session: Any, dag_id: str, run_id: str, task_id: str, map_index: int
) -> CardPointer | None:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.scalars(
        select(XComModel).where(
            XComModel.dag_id == dag_id,
            XComModel.run_id == run_id,
            XComModel.task_id == task_id,
            XComModel.map_index == map_index,
            XComModel.key == TASK_POINTER_KEY,
        )
    ).first()
    if row is None:
        return None
    return CardPointer.from_xcom(XComModel.deserialize_value(row))


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
    """An ASGI app that builds the real one on its first request."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            self._app = build_app()
        await self._app(scope, receive, send)


class AirstepPlugin(AirflowPlugin):
    """Serves the cards of airstep tasks (the tasks' "Card" links lead here)."""

    name = "airstep"
    fastapi_apps = [{"app": _LazyApp(), "url_prefix": CARDS_URL_PREFIX, "name": "airstep cards"}]
