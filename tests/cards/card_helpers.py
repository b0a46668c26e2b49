"""Helpers of the cards' Airflow tests: change what a run wrote for the length of a block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def replaced_xcom(
    dag_run: Any, task_id: str, map_index: int, key: str, value: Any
) -> Iterator[None]:
    """The task instance's XCom ``key`` holds ``value`` (stored as Airflow stores a pushed value)
    while the block runs; then what it held before."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select, update

    where = (
        XComModel.dag_id == dag_run.dag_id,
        XComModel.run_id == dag_run.run_id,
        XComModel.task_id == task_id,
        XComModel.map_index == map_index,
        XComModel.key == key,
    )

    def put(raw: Any) -> None:
        with create_session() as session:
            session.execute(update(XComModel).where(*where).values(value=raw))

    with create_session() as session:
        before = session.scalars(select(XComModel.value).where(*where)).one()
    put(XComModel.serialize_value(value))
    try:
        yield
    finally:
        put(before)


@contextlib.contextmanager
def replaced_key(storage: Any, key: str, data: bytes) -> Iterator[None]:
    """The datastore holds ``data`` at ``key`` while the block runs; then what it held."""
    before = storage.get_bytes(key)
    storage.put_bytes(key, data)
    try:
        yield
    finally:
        storage.put_bytes(key, before)
