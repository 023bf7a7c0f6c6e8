"""The session jobs on SQLite and PostgreSQL: selection boundaries, dry runs, batches, reruns, alerts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from jobs.context import JobCancelled, JobContext
from jobs.sessions import (
    check_abandoned_sessions,
    check_error_sessions,
    check_inactive_sessions,
    cleanup_old_sessions,
    cleanup_sessions,
)
from storage.db import Database
from storage.queries import MESSAGES, RESERVATIONS, SESSIONS
from tests.conftest import DEFAULT_NOW
from tests.rows import (
    add_business,
    add_message,
    add_reservation,
    add_session,
    alerts,
    column_values,
    count,
    ids,
)

NOW = DEFAULT_NOW
SECOND = timedelta(seconds=1)
MakeContext = Callable[..., JobContext]


def test_cleanup_sessions_boundary(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    cutoff = NOW - timedelta(days=30)
    outside = add_session(database, business, status="resolved", last_activity_at=cutoff - SECOND,
                          resolved_at=cutoff - SECOND)
    at_cutoff = add_session(database, business, status="resolved", last_activity_at=cutoff, resolved_at=cutoff)
    inside = add_session(database, business, status="resolved", last_activity_at=cutoff + SECOND,
                         resolved_at=cutoff + SECOND)
    old_but_closed = add_session(database, business, status="closed", last_activity_at=cutoff - timedelta(days=9))
    for session_id in (outside, at_cutoff, inside):
        add_message(database, session_id, created_at=cutoff - timedelta(hours=1))
        add_message(database, session_id, created_at=cutoff - timedelta(hours=2))

    summary = cleanup_sessions(make_context("cleanup-sessions"))

    assert summary == {"examined": 1, "deleted": 1, "deleted_messages": 2, "batches": 1}
    assert ids(database, SESSIONS) == {at_cutoff, inside, old_but_closed}
    assert count(database, MESSAGES) == 4
    assert count(database, MESSAGES, MESSAGES.c.session_id == outside) == 0


def test_cleanup_sessions_keeps_reservation(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    old = NOW - timedelta(days=60)
    session_id = add_session(database, business, status="resolved", last_activity_at=old, resolved_at=old)
    reservation = add_reservation(database, business, starts_at=old, session_id=session_id, status="completed")

    cleanup_sessions(make_context("cleanup-sessions"))

    assert count(database, SESSIONS) == 0
    assert ids(database, RESERVATIONS) == {reservation}
    assert column_values(database, RESERVATIONS, "session_id", reservation) is None


def test_cleanup_sessions_batches_and_dry_run(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    old = NOW - timedelta(days=31)
    for index in range(10):
        session_id = add_session(database, business, status="resolved", last_activity_at=old,
                                 resolved_at=old - timedelta(minutes=index))
        add_message(database, session_id, created_at=old)
    add_session(database, business, status="resolved", last_activity_at=NOW, resolved_at=NOW)

    dry = cleanup_sessions(make_context("cleanup-sessions", dry_run=True, delete_batch_size=3))
    assert count(database, SESSIONS) == 11
    real = cleanup_sessions(make_context("cleanup-sessions", delete_batch_size=3))

    assert real == {"examined": 10, "deleted": 10, "deleted_messages": 10, "batches": 4}
    assert dry == real
    assert count(database, SESSIONS) == 1
    assert count(database, MESSAGES) == 0


def test_cleanup_sessions_rerun_after_cancel(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    old = NOW - timedelta(days=40)
    for _index in range(10):
        add_session(database, business, status="resolved", last_activity_at=old, resolved_at=old)
    context = make_context("cleanup-sessions", delete_batch_size=3)
    calls = 0

    def cancel_after_two_batches() -> None:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise JobCancelled("stop")

    context.check_cancelled = cancel_after_two_batches  # type: ignore[method-assign]
    with pytest.raises(JobCancelled):
        cleanup_sessions(context)
    assert count(database, SESSIONS) == 4
    assert context.progress["deleted"] == 6

    rerun = cleanup_sessions(make_context("cleanup-sessions", delete_batch_size=3))
    assert rerun["deleted"] == 4
    assert count(database, SESSIONS) == 0
    assert cleanup_sessions(make_context("cleanup-sessions"))["deleted"] == 0


def test_cleanup_old_sessions_boundary(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    cutoff = NOW - timedelta(days=180)
    deleted = {
        add_session(database, business, status=status, last_activity_at=cutoff - SECOND)
        for status in ("inactive", "abandoned", "resolved", "error", "closed")
    }
    kept = {
        add_session(database, business, status="active", last_activity_at=cutoff - timedelta(days=30)),
        add_session(database, business, status="closed", last_activity_at=cutoff),
        add_session(database, business, status="abandoned", last_activity_at=cutoff + SECOND),
    }
    for session_id in deleted | kept:
        add_message(database, session_id, created_at=cutoff - timedelta(days=1))

    dry = cleanup_old_sessions(make_context("cleanup-old-sessions", dry_run=True))
    real = cleanup_old_sessions(make_context("cleanup-old-sessions"))

    assert real == {"examined": 5, "deleted": 5, "deleted_messages": 5, "batches": 1}
    assert dry == real
    assert ids(database, SESSIONS) == kept
    assert count(database, MESSAGES) == 3


def test_check_inactive_boundary(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    cutoff = NOW - timedelta(hours=24)
    idle = add_session(database, business, status="active", last_activity_at=cutoff - SECOND)
    at_cutoff = add_session(database, business, status="active", last_activity_at=cutoff)
    recent = add_session(database, business, status="active", last_activity_at=cutoff + SECOND)
    resolved = add_session(database, business, status="resolved", last_activity_at=cutoff - timedelta(days=2))

    dry = check_inactive_sessions(make_context("check-inactive-sessions", dry_run=True))
    assert column_values(database, SESSIONS, "status", idle) == "active"
    real = check_inactive_sessions(make_context("check-inactive-sessions"))

    assert real == {"examined": 1, "changed": 1, "batches": 1}
    assert dry == real
    assert column_values(database, SESSIONS, "status", idle) == "inactive"
    assert column_values(database, SESSIONS, "status", at_cutoff) == "active"
    assert column_values(database, SESSIONS, "status", recent) == "active"
    assert column_values(database, SESSIONS, "status", resolved) == "resolved"
    assert check_inactive_sessions(make_context("check-inactive-sessions"))["changed"] == 0


def test_check_abandoned_batches(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    cutoff = NOW - timedelta(hours=48)
    for index in range(10):
        add_session(database, business, status="active" if index % 2 else "inactive",
                    last_activity_at=cutoff - timedelta(minutes=index + 1))
    kept_inactive = add_session(database, business, status="inactive", last_activity_at=cutoff + SECOND)
    kept_error = add_session(database, business, status="error", last_activity_at=cutoff - timedelta(days=5))

    dry = check_abandoned_sessions(make_context("check-abandoned-sessions", dry_run=True, delete_batch_size=3))
    real = check_abandoned_sessions(make_context("check-abandoned-sessions", delete_batch_size=3))

    assert real == {"examined": 10, "changed": 10, "batches": 4}
    assert dry == real
    assert count(database, SESSIONS, SESSIONS.c.status == "abandoned") == 10
    assert column_values(database, SESSIONS, "status", kept_inactive) == "inactive"
    assert column_values(database, SESSIONS, "status", kept_error) == "error"


def test_check_error_sessions_alert(database: Database, make_context: MakeContext) -> None:
    salon = add_business(database, "Salon Ioana")
    clinic = add_business(database, "Clinica Zâmbet")
    for _index in range(3):
        add_session(database, salon, status="error", last_activity_at=NOW, error_count=1, last_error="LLM timeout")
    add_session(database, salon, status="active", last_activity_at=NOW, error_count=3, last_error="Meta 131047")
    add_session(database, clinic, status="error", last_activity_at=NOW, error_count=0, last_error=None)
    add_session(database, clinic, status="active", last_activity_at=NOW, error_count=2, last_error="below threshold")

    summary = check_error_sessions(make_context("check-error-sessions"))

    assert summary == {"examined": 5, "businesses": 2, "alerts": 1}
    [alert] = alerts(database)
    assert alert.kind == "error_sessions"
    assert alert.severity == "warning"
    lines = alert.message.splitlines()
    assert lines[0].startswith("5 sessions in error")
    assert lines[1] == "- Salon Ioana: 4 sessions; last errors: LLM timeout (3); Meta 131047 (1)"
    assert lines[2] == "- Clinica Zâmbet: 1 sessions; last errors: no error text (1)"
    assert "below threshold" not in alert.message


def test_check_error_sessions_quiet_and_dry(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    add_session(database, business, status="active", last_activity_at=NOW, error_count=2)
    assert check_error_sessions(make_context("check-error-sessions"))["alerts"] == 0
    add_session(database, business, status="error", last_activity_at=NOW, error_count=5, last_error="x")

    summary = check_error_sessions(make_context("check-error-sessions", dry_run=True))

    assert summary["alerts"] == 1
    assert alerts(database) == []
