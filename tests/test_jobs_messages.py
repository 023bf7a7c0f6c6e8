"""cleanup-old-messages and check-unprocessed-messages on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from jobs.context import JobContext
from jobs.messages import check_unprocessed_messages, cleanup_old_messages
from storage.db import Database
from storage.queries import MESSAGES
from tests.conftest import DEFAULT_NOW
from tests.rows import add_business, add_message, add_session, alerts, count, ids

NOW = DEFAULT_NOW
SECOND = timedelta(seconds=1)
MakeContext = Callable[..., JobContext]


def test_cleanup_old_messages_boundary(database: Database, make_context: MakeContext) -> None:
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    cutoff = NOW - timedelta(days=90)
    outside = add_message(database, session_id, created_at=cutoff - SECOND)
    at_cutoff = add_message(database, session_id, created_at=cutoff)
    inside = add_message(database, session_id, created_at=cutoff + SECOND)

    dry = cleanup_old_messages(make_context("cleanup-old-messages", dry_run=True))
    assert count(database, MESSAGES) == 3
    real = cleanup_old_messages(make_context("cleanup-old-messages"))

    assert real == {"examined": 1, "deleted": 1, "batches": 1}
    assert dry == real
    assert outside not in ids(database, MESSAGES)
    assert ids(database, MESSAGES) == {at_cutoff, inside}


def test_cleanup_old_messages_batches(database: Database, make_context: MakeContext) -> None:
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    for index in range(10):
        add_message(database, session_id, created_at=NOW - timedelta(days=91, minutes=index))
    recent = add_message(database, session_id, created_at=NOW)

    dry = cleanup_old_messages(make_context("cleanup-old-messages", dry_run=True, delete_batch_size=3))
    real = cleanup_old_messages(make_context("cleanup-old-messages", delete_batch_size=3))
    rerun = cleanup_old_messages(make_context("cleanup-old-messages", delete_batch_size=3))

    assert real == {"examined": 10, "deleted": 10, "batches": 4}
    assert dry == real
    assert rerun == {"examined": 0, "deleted": 0, "batches": 0}
    assert ids(database, MESSAGES) == {recent}


def test_cleanup_old_messages_retention_setting(database: Database, make_context: MakeContext) -> None:
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    add_message(database, session_id, created_at=NOW - timedelta(days=8))
    kept = add_message(database, session_id, created_at=NOW - timedelta(days=6))

    summary = cleanup_old_messages(make_context("cleanup-old-messages", cleanup_old_messages_days=7))

    assert summary["deleted"] == 1
    assert ids(database, MESSAGES) == {kept}


def test_check_unprocessed_boundary(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    first = add_session(database, business, status="active", last_activity_at=NOW)
    second = add_session(database, business, status="active", last_activity_at=NOW)
    cutoff = NOW - timedelta(minutes=15)
    add_message(database, first, created_at=cutoff - timedelta(minutes=45), status="received")
    add_message(database, first, created_at=cutoff - SECOND, status="received")
    add_message(database, second, created_at=cutoff - timedelta(minutes=5), status="received")
    add_message(database, second, created_at=cutoff, status="received")
    add_message(database, second, created_at=cutoff - timedelta(hours=3), status="processed")
    add_message(database, second, created_at=cutoff - timedelta(hours=3), status="received", direction="outbound")

    summary = check_unprocessed_messages(make_context("check-unprocessed-messages"))

    assert summary == {"examined": 3, "sessions": 2, "businesses": 1, "oldest_minutes": 60, "alerts": 1}
    [alert] = alerts(database)
    assert alert.kind == "unprocessed_messages"
    assert alert.severity == "warning"
    assert alert.message.startswith("3 inbound messages wait unprocessed for more than 15 minutes (oldest: 60")
    assert alert.message.endswith(f"#{first}, #{second}")


def test_check_unprocessed_none(database: Database, make_context: MakeContext) -> None:
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    add_message(database, session_id, created_at=NOW - timedelta(minutes=14), status="received")

    summary = check_unprocessed_messages(make_context("check-unprocessed-messages"))

    assert summary["alerts"] == 0
    assert summary["examined"] == 0
    assert alerts(database) == []


def test_check_unprocessed_lists_first_sessions(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    for index in range(23):
        session_id = add_session(database, business, status="active", last_activity_at=NOW)
        add_message(database, session_id, created_at=NOW - timedelta(minutes=100 - index), status="received")

    summary = check_unprocessed_messages(make_context("check-unprocessed-messages", dry_run=True))

    assert summary["sessions"] == 23
    assert alerts(database) == []
