"""daily-report: the local calendar day (23 and 25 hours on DST days), its counts, and replacing the row."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from jobs.context import JobContext
from jobs.reports import daily_report, report_window
from storage.db import Database
from storage.queries import REPORTS
from tests.rows import (
    add_business,
    add_job_run,
    add_message,
    add_reservation,
    add_session,
    alerts,
    count,
)

MakeContext = Callable[..., JobContext]
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("now", "day", "start", "hours"),
    [
        pytest.param(datetime(2026, 6, 17, 5, 0, tzinfo=UTC), "2026-06-16",
                     datetime(2026, 6, 15, 21, 0, tzinfo=UTC), 24, id="summer"),
        pytest.param(datetime(2026, 3, 30, 5, 0, tzinfo=UTC), "2026-03-29",
                     datetime(2026, 3, 28, 22, 0, tzinfo=UTC), 23, id="spring-forward"),
        pytest.param(datetime(2026, 10, 26, 6, 0, tzinfo=UTC), "2026-10-25",
                     datetime(2026, 10, 24, 21, 0, tzinfo=UTC), 25, id="fall-back"),
        pytest.param(datetime(2026, 6, 16, 21, 30, tzinfo=UTC), "2026-06-16",
                     datetime(2026, 6, 15, 21, 0, tzinfo=UTC), 24, id="just-after-local-midnight"),
    ],
)
def test_report_window(now: datetime, day: str, start: datetime, hours: int) -> None:
    report_day, window_start, window_end = report_window(now, "Europe/Bucharest")

    assert report_day.isoformat() == day
    assert window_start == start
    assert window_end - window_start == timedelta(hours=hours)


def test_daily_report_counts_fall_back_day(database: Database, make_context: MakeContext) -> None:
    now = datetime(2026, 10, 26, 6, 0, tzinfo=UTC)
    start = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)
    end = start + timedelta(hours=25)
    business = add_business(database)
    first = add_session(database, business, status="resolved", created_at=start, last_activity_at=start,
                        resolved_at=end - SECOND)
    add_session(database, business, status="active", created_at=start - SECOND, last_activity_at=end)
    add_session(database, business, status="abandoned", created_at=end - SECOND, last_activity_at=end - SECOND,
                channel="sms")
    add_session(database, business, status="error", created_at=end, last_activity_at=end, error_count=3)
    add_message(database, first, created_at=start)
    add_message(database, first, created_at=end - timedelta(hours=24, minutes=30), direction="outbound")
    add_message(database, first, created_at=end)
    add_reservation(database, business, starts_at=end, created_at=start + timedelta(hours=3),
                    reminder_sent_at=start + timedelta(hours=4))
    add_job_run(database, job_id="backup-data", started_at=start + SECOND)
    add_job_run(database, job_id="backup-data", started_at=start + 2 * SECOND, status="failed")
    add_job_run(database, job_id="backup-data", started_at=start + 3 * SECOND, status="skipped")
    add_job_run(database, job_id="backup-data", started_at=end, status="failed")

    summary = daily_report(make_context("daily-report", now=now))

    assert summary["day"] == "2026-10-25"
    assert summary["hours"] == 25
    assert summary["sessions_opened"] == 2
    assert summary["sessions_resolved"] == 1
    assert summary["sessions_abandoned"] == 1
    assert summary["sessions_in_error"] == 0
    assert summary["messages_in"] == 1
    assert summary["messages_out"] == 1
    assert summary["reservations_made"] == 1
    assert summary["reservations_reminded"] == 1
    assert summary["job_runs"] == 3
    assert summary["job_success_rate"] == 0.5
    assert summary["replaced"] == 0
    with database.session() as session:
        [row] = session.connection().execute(select(REPORTS.c.day, REPORTS.c.data)).all()
    data = json.loads(row[1])
    assert row[0].isoformat() == "2026-10-25"
    assert data["sessions_opened_by_channel"] == {"sms": 1, "whatsapp": 1}
    assert data["job_runs_by_status"] == {"failed": 1, "skipped": 1, "succeeded": 1}
    [alert] = alerts(database)
    assert alert.kind == "daily_report"
    assert alert.severity == "info"
    assert alert.message.startswith("Daily report for 2026-10-25: 2 sessions opened, 1 resolved")
    assert alert.message.endswith("3 job runs, success rate 50.0%.")


def test_daily_report_rerun_replaces(database: Database, make_context: MakeContext) -> None:
    now = datetime(2026, 6, 17, 5, 0, tzinfo=UTC)
    business = add_business(database)
    first = daily_report(make_context("daily-report", now=now))
    add_session(database, business, status="active", last_activity_at=now - timedelta(hours=10))

    second = daily_report(make_context("daily-report", now=now))

    assert first["sessions_opened"] == 0
    assert first["job_success_rate"] is None
    assert second["sessions_opened"] == 1
    assert second["replaced"] == 1
    assert count(database, REPORTS) == 1
    with database.session() as session:
        data = json.loads(session.connection().execute(select(REPORTS.c.data)).scalar_one())
    assert data["sessions_opened"] == 1


def test_daily_report_dry_run(database: Database, make_context: MakeContext) -> None:
    summary = daily_report(make_context("daily-report", dry_run=True))

    assert summary["stored"] == 1
    assert count(database, REPORTS) == 0
    assert alerts(database) == []
