"""The batched delete and update helpers, and the query plans of the batch selects on SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from storage import queries
from storage.db import Database, to_db
from storage.queries import (
    APP_LOGS,
    MESSAGES,
    SESSIONS,
    BatchProgress,
    batches_needed,
    delete_in_batches,
    messages_before,
    resolved_sessions_before,
    update_in_batches,
)
from tests.conftest import DEFAULT_NOW
from tests.rows import add_business, add_message, add_session, count, ids

NOW = DEFAULT_NOW


def add_logs(database: Database, rows: int, *, age: timedelta) -> None:
    stamp = to_db(NOW - age)
    with database.session() as session:
        session.connection().execute(insert(APP_LOGS), [
            {"level": "INFO", "source": "agent", "message": f"line {index}", "created_at": stamp}
            for index in range(rows)])


def test_delete_beyond_in_list_chunk(database: Database) -> None:
    add_logs(database, queries.IN_LIST_CHUNK * 2 + 7, age=timedelta(days=40))
    add_logs(database, 5, age=timedelta(days=1))

    progress = delete_in_batches(
        database, APP_LOGS, queries.app_logs_before(NOW - timedelta(days=30)),
        order_by=[APP_LOGS.c.created_at], batch_size=queries.IN_LIST_CHUNK * 2, pause_seconds=0)

    assert progress.rows == queries.IN_LIST_CHUNK * 2 + 7
    assert progress.batches == 2
    assert count(database, APP_LOGS) == 5


def test_between_batches_sees_progress(database: Database) -> None:
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    for index in range(7):
        add_message(database, session_id, created_at=NOW - timedelta(days=100, minutes=index))
    seen: list[int] = []

    def record_then_stop(progress: BatchProgress) -> None:
        seen.append(progress.rows)
        if progress.batches == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        delete_in_batches(database, MESSAGES, messages_before(NOW - timedelta(days=90)),
                          order_by=[MESSAGES.c.created_at], batch_size=3, between_batches=record_then_stop,
                          pause_seconds=0)

    assert seen == [0, 3, 6]
    assert count(database, MESSAGES) == 1


def test_children_follow_filter(database: Database) -> None:
    business = add_business(database)
    old = NOW - timedelta(days=40)
    doomed = add_session(database, business, status="resolved", last_activity_at=old, resolved_at=old)
    kept = add_session(database, business, status="active", last_activity_at=old)
    for session_id in (doomed, kept, doomed):
        add_message(database, session_id, created_at=old)

    progress = delete_in_batches(
        database, SESSIONS, resolved_sessions_before(NOW - timedelta(days=30)),
        order_by=[SESSIONS.c.resolved_at], batch_size=10, children=[(MESSAGES, "session_id")], pause_seconds=0)

    assert (progress.rows, progress.child_rows, progress.batches) == (1, 2, 1)
    assert ids(database, SESSIONS) == {kept}
    assert count(database, MESSAGES) == 1


def test_update_stops_when_rows_stay(database: Database) -> None:
    business = add_business(database)
    for _index in range(4):
        add_session(database, business, status="active", last_activity_at=NOW)

    # A change that leaves the rows matching must not loop forever.
    progress = update_in_batches(
        database, SESSIONS, SESSIONS.c.status == "active", {"status": "active"},
        order_by=[SESSIONS.c.last_activity_at], batch_size=10, pause_seconds=0)

    assert progress.rows == 4
    assert progress.batches == 1


@pytest.mark.parametrize(("rows", "batch_size", "expected"), [
    (0, 3, 0), (1, 3, 1), (3, 3, 1), (10, 3, 4), (9, 3, 3)], ids=["none", "one", "exact", "ten-by-three", "nine"])
def test_batches_needed(rows: int, batch_size: int, expected: int) -> None:
    assert batches_needed(rows, batch_size) == expected


@pytest.mark.parametrize(("table", "where", "order", "index"), [
    pytest.param(MESSAGES, messages_before(NOW), MESSAGES.c.created_at, "ix_messages_created_at", id="messages"),
    pytest.param(SESSIONS, resolved_sessions_before(NOW), SESSIONS.c.resolved_at, "ix_sessions_status_resolved",
                 id="resolved-sessions"),
    pytest.param(SESSIONS, queries.idle_sessions(["active"], NOW), SESSIONS.c.last_activity_at, None,
                 id="idle-sessions"),
])
def test_batch_select_uses_index(sqlite_database: Database, table: object, where: queries.Condition,
                                 order: object, index: str | None) -> None:
    statement = select(SESSIONS.c.id if table is SESSIONS else MESSAGES.c.id).where(where) \
        .order_by(order, (SESSIONS if table is SESSIONS else MESSAGES).c.id).limit(100)
    compiled = statement.compile(sqlite_database.engine, compile_kwargs={"literal_binds": True})
    with sqlite_database.engine.connect() as connection:
        plan = " ".join(str(row[3]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}"))

    assert "TEMP B-TREE" not in plan, plan
    assert "USING" in plan, plan
    assert "INDEX" in plan, plan
    if index is not None:
        assert index in plan, plan
