"""The demo data generator: sizes, determinism, the refusal to fill a used database, and work for every job."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Table, select

from jobs.context import JobContext
from jobs.credentials import cleanup_expired_credentials
from jobs.errors import CronConsoleError
from jobs.maintenance import backup_data, cleanup_old_logs, optimize_database
from jobs.messages import check_unprocessed_messages, cleanup_old_messages
from jobs.monitoring import check_system_performance
from jobs.reports import daily_report
from jobs.sessions import (
    check_abandoned_sessions,
    check_error_sessions,
    check_inactive_sessions,
    cleanup_old_sessions,
    cleanup_sessions,
)
from storage.db import Database, to_db
from storage.demo import generate_demo_data
from storage.queries import (
    BUSINESSES,
    CREDENTIALS,
    JOB_RUNS,
    MESSAGES,
    RESERVATIONS,
    SESSIONS,
)
from tests.conftest import DEFAULT_NOW
from tests.rows import count

NOW = DEFAULT_NOW
MakeContext = Callable[..., JobContext]
SMALL = {"sessions": 800, "businesses": 12, "messages_per_session": 4}


def rows(database: Database, table: Table) -> list[tuple[object, ...]]:
    with database.session() as session:
        return [tuple(row) for row in session.connection().execute(select(table).order_by(table.c.id))]


def test_counts_match_rows(database: Database) -> None:
    counts = generate_demo_data(database, now=NOW, **SMALL)

    assert counts["businesses"] == 12
    assert counts["sessions"] == 800
    assert 800 <= counts["messages"] <= 800 * 7
    assert count(database, MESSAGES) == counts["messages"]
    assert count(database, RESERVATIONS) == counts["reservations"]
    assert count(database, CREDENTIALS) == counts["credentials"]
    assert count(database, JOB_RUNS) == counts["job_runs"]
    assert counts["app_logs"] == 600


def test_same_seed_same_rows(tmp_path: Path) -> None:
    first = Database(f"sqlite:///{tmp_path / 'a.db'}")
    second = Database(f"sqlite:///{tmp_path / 'b.db'}")
    other = Database(f"sqlite:///{tmp_path / 'c.db'}")
    generate_demo_data(first, now=NOW, seed=3, **SMALL)
    generate_demo_data(second, now=NOW, seed=3, **SMALL)
    generate_demo_data(other, now=NOW, seed=4, **SMALL)

    for table in (BUSINESSES, SESSIONS, MESSAGES, RESERVATIONS, CREDENTIALS):
        assert rows(first, table) == rows(second, table), table.name
    assert rows(first, SESSIONS) != rows(other, SESSIONS)
    for database in (first, second, other):
        database.dispose()


def test_rejects_used_database(database: Database) -> None:
    generate_demo_data(database, now=NOW, **SMALL)

    with pytest.raises(CronConsoleError, match="already contains 800 sessions"):
        generate_demo_data(database, now=NOW, **SMALL)
    counts = generate_demo_data(database, now=NOW, seed=9, replace=True, **{**SMALL, "sessions": 300})

    assert count(database, SESSIONS) == 300
    assert count(database, MESSAGES) == counts["messages"]
    assert count(database, JOB_RUNS) == 33


def test_business_and_credential_shapes(sqlite_database: Database) -> None:
    generate_demo_data(sqlite_database, now=NOW, **SMALL)
    with sqlite_database.session() as session:
        connection = session.connection()
        zones = [row[0] for row in connection.execute(select(BUSINESSES.c.timezone))]
        credentials = connection.execute(select(
            CREDENTIALS.c.provider, CREDENTIALS.c.account_ref, CREDENTIALS.c.secret, CREDENTIALS.c.sender,
            CREDENTIALS.c.expires_at)).all()

    assert zones.count("Europe/Bucharest") > len(zones) / 2
    for provider, account_ref, secret, sender, _expires in credentials:
        if provider == "meta":
            assert account_ref.isdigit()
        else:
            assert re.fullmatch(r"AC[0-9a-f]{32}", account_ref)
            assert sender.startswith("+40")
        if secret is not None:
            assert re.fullmatch(rf"demo-{provider}-(valid|invalid|expired|expiring)-\d+", secret)
    states = {secret.split("-")[2] for _p, _a, secret, _s, _e in credentials if secret}
    assert states == {"valid", "invalid", "expired", "expiring"}
    expiring_soon = [e for _p, _a, s, _s, e in credentials
                     if e is not None and to_db(NOW) < e.replace(tzinfo=NOW.tzinfo) < to_db(NOW + timedelta(days=7))]
    assert expiring_soon


def test_reservations_need_reminders(sqlite_database: Database) -> None:
    generate_demo_data(sqlite_database, now=NOW, **SMALL)
    due = (RESERVATIONS.c.status == "confirmed") & RESERVATIONS.c.reminder_sent_at.is_(None) \
        & (RESERVATIONS.c.starts_at > to_db(NOW)) & (RESERVATIONS.c.starts_at < to_db(NOW + timedelta(hours=24)))

    assert count(sqlite_database, RESERVATIONS, due) > 0
    assert count(sqlite_database, RESERVATIONS, due & (RESERVATIONS.c.reminder_attempts > 0)) > 0
    for status in ("confirmed", "cancelled", "completed"):
        assert count(sqlite_database, RESERVATIONS, RESERVATIONS.c.status == status) > 0


JOBS_AND_WORK = [
    pytest.param(cleanup_sessions, "deleted", id="cleanup-sessions"),
    pytest.param(check_inactive_sessions, "changed", id="check-inactive-sessions"),
    pytest.param(check_abandoned_sessions, "changed", id="check-abandoned-sessions"),
    pytest.param(cleanup_old_sessions, "deleted", id="cleanup-old-sessions"),
    pytest.param(check_error_sessions, "alerts", id="check-error-sessions"),
    pytest.param(cleanup_old_messages, "deleted", id="cleanup-old-messages"),
    pytest.param(check_unprocessed_messages, "alerts", id="check-unprocessed-messages"),
    pytest.param(cleanup_old_logs, "deleted_app_logs", id="cleanup-old-logs"),
    pytest.param(cleanup_expired_credentials, "erased", id="cleanup-expired-credentials"),
    pytest.param(daily_report, "sessions_opened", id="daily-report"),
    pytest.param(backup_data, "written", id="backup-data"),
    pytest.param(optimize_database, "analyzed", id="optimize-database"),
    pytest.param(check_system_performance, "cpu_count", id="check-system-performance"),
]


@pytest.mark.parametrize(("job", "key"), JOBS_AND_WORK)
def test_every_job_finds_work(job: Callable[[JobContext], dict[str, object]], key: str,
                              database: Database, make_context: MakeContext) -> None:
    generate_demo_data(database, now=NOW, **SMALL)

    summary = job(make_context("demo", dry_run=True))

    assert summary[key], summary
