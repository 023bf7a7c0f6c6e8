"""Property tests on SQLite: a clean-up deletes exactly the rows outside its retention, as its dry run counted."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies
from sqlalchemy import insert, select

from jobs.clock import FakeClock
from jobs.context import JobContext
from jobs.messages import cleanup_old_messages
from jobs.sessions import cleanup_sessions
from jobs.settings import Settings
from storage.db import Database, to_db
from storage.queries import BUSINESSES, MESSAGES, SESSIONS
from tests.conftest import DEFAULT_NOW

NOW = DEFAULT_NOW
# Ages in seconds around the cut-off: the boundary itself, one second either
# side, and values spread over a year.
RETENTION_DAYS = 90
CUTOFF_SECONDS = RETENTION_DAYS * 86_400
ages = strategies.one_of(
    strategies.sampled_from([CUTOFF_SECONDS - 1, CUTOFF_SECONDS, CUTOFF_SECONDS + 1]),
    strategies.integers(min_value=0, max_value=400 * 86_400),
)
PROPERTY_SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def context(database: Database, *, dry_run: bool, batch_size: int, **overrides: object) -> JobContext:
    job_settings = Settings(_env_file=None, delete_batch_size=batch_size, **overrides)  # type: ignore[call-arg, arg-type]
    return JobContext(job_id="property", run_id=None, settings=job_settings, database=database,
                      clock=FakeClock(NOW), now=NOW, dry_run=dry_run)


def fresh_database(folder: str) -> Database:
    database = Database(f"sqlite:///{Path(folder) / 'property.db'}")
    database.create_schema()
    return database


@PROPERTY_SETTINGS
@given(message_ages=strategies.lists(ages, max_size=40), batch_size=strategies.integers(min_value=1, max_value=7))
def test_cleanup_old_messages_exact(message_ages: list[int], batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = fresh_database(folder)
        with database.session() as session:
            connection = session.connection()
            business = connection.execute(insert(BUSINESSES).values(name="B").returning(BUSINESSES.c.id)).scalar_one()
            session_id = connection.execute(insert(SESSIONS).values(
                business_id=business, channel="web", customer_phone="+40", status="active",
                created_at=to_db(NOW), last_activity_at=to_db(NOW), error_count=0).returning(SESSIONS.c.id)).scalar_one()
            ids_by_age = {}
            for age in message_ages:
                message_id = connection.execute(insert(MESSAGES).values(
                    session_id=session_id, direction="inbound", body="x", status="processed",
                    created_at=to_db(NOW - timedelta(seconds=age))).returning(MESSAGES.c.id)).scalar_one()
                ids_by_age[message_id] = age

        dry = cleanup_old_messages(context(database, dry_run=True, batch_size=batch_size,
                                           cleanup_old_messages_days=RETENTION_DAYS))
        real = cleanup_old_messages(context(database, dry_run=False, batch_size=batch_size,
                                            cleanup_old_messages_days=RETENTION_DAYS))
        with database.session() as session:
            remaining = {row[0] for row in session.connection().execute(select(MESSAGES.c.id))}
        database.dispose()

    expected_kept = {message_id for message_id, age in ids_by_age.items() if age <= CUTOFF_SECONDS}
    assert remaining == expected_kept
    assert real["deleted"] == len(ids_by_age) - len(expected_kept)
    assert dry == real


statuses = strategies.sampled_from(["active", "inactive", "abandoned", "resolved", "error", "closed"])


@PROPERTY_SETTINGS
@given(sessions=strategies.lists(strategies.tuples(statuses, ages, strategies.integers(0, 3)), max_size=25),
       batch_size=strategies.integers(min_value=1, max_value=5))
def test_cleanup_sessions_exact(sessions: list[tuple[str, int, int]], batch_size: int) -> None:
    retention_days = RETENTION_DAYS
    with tempfile.TemporaryDirectory() as folder:
        database = fresh_database(folder)
        expected_gone: set[int] = set()
        all_ids: set[int] = set()
        messages_of_gone = 0
        with database.session() as session:
            connection = session.connection()
            business = connection.execute(insert(BUSINESSES).values(name="B").returning(BUSINESSES.c.id)).scalar_one()
            for status, age, messages in sessions:
                stamp = to_db(NOW - timedelta(seconds=age))
                session_id = connection.execute(insert(SESSIONS).values(
                    business_id=business, channel="web", customer_phone="+40", status=status, created_at=stamp,
                    last_activity_at=stamp, resolved_at=stamp if status == "resolved" else None,
                    error_count=0).returning(SESSIONS.c.id)).scalar_one()
                for _index in range(messages):
                    connection.execute(insert(MESSAGES).values(
                        session_id=session_id, direction="inbound", body="x", status="processed", created_at=stamp))
                all_ids.add(session_id)
                if status == "resolved" and age > retention_days * 86_400:
                    expected_gone.add(session_id)
                    messages_of_gone += messages

        dry = cleanup_sessions(context(database, dry_run=True, batch_size=batch_size,
                                       cleanup_resolved_sessions_days=retention_days))
        real = cleanup_sessions(context(database, dry_run=False, batch_size=batch_size,
                                        cleanup_resolved_sessions_days=retention_days))
        with database.session() as session:
            remaining = {row[0] for row in session.connection().execute(select(SESSIONS.c.id))}
            orphans = session.connection().execute(
                select(MESSAGES.c.id).where(MESSAGES.c.session_id.not_in(remaining))).all()
        database.dispose()

    assert remaining == all_ids - expected_gone
    assert orphans == []
    assert real["deleted"] == len(expected_gone)
    assert real["deleted_messages"] == messages_of_gone
    assert dry == real
