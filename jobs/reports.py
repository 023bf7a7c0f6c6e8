"""daily-report: yesterday's activity, stored in ``reports`` and announced as an info alert."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert

from console.i18n import _
from jobs.context import JobContext, Summary
from storage.db import to_db
from storage.queries import (
    JOB_RUNS,
    MESSAGES,
    REPORTS,
    RESERVATIONS,
    SESSIONS,
    count_by,
    count_rows,
)

# Runs that reached an end of their own. The success rate is succeeded runs over
# these, because skipped, missed and running runs did no work (yet).
COMPLETED_STATUSES = ("succeeded", "failed", "timed_out", "cancelled", "interrupted")


def report_window(now: datetime, timezone: str) -> tuple[date, datetime, datetime]:
    """Return yesterday's local date in ``timezone`` and its start and end as aware UTC instants.

    The window runs from local midnight to local midnight, so it lasts 23 or
    25 hours on the days the clocks change.
    """
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    day = today - timedelta(days=1)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(today, time(0), tzinfo=zone).astimezone(UTC)
    return day, start, end


def build_report(ctx: JobContext, start: datetime, end: datetime) -> dict[str, Any]:
    """Count the activity between ``start`` (inclusive) and ``end`` (exclusive).

    NOTE: the schema records no time of the change to ``abandoned`` or
    ``error``, so those two counts take the sessions now in that status whose
    last activity fell in the window.
    """
    low, high = to_db(start), to_db(end)

    def within(column: Any) -> Any:
        return (column >= low) & (column < high)

    with ctx.database.session() as session:
        opened_by_channel = count_by(SESSIONS, "channel", within(SESSIONS.c.created_at), session=session)
        resolved = count_rows(SESSIONS, within(SESSIONS.c.resolved_at), session=session)
        abandoned = count_rows(
            SESSIONS, (SESSIONS.c.status == "abandoned") & within(SESSIONS.c.last_activity_at), session=session)
        in_error = count_rows(
            SESSIONS, (SESSIONS.c.status == "error") & within(SESSIONS.c.last_activity_at), session=session)
        messages = count_by(MESSAGES, "direction", within(MESSAGES.c.created_at), session=session)
        failed_messages = count_rows(
            MESSAGES, (MESSAGES.c.status == "failed") & within(MESSAGES.c.created_at), session=session)
        reservations_made = count_rows(RESERVATIONS, within(RESERVATIONS.c.created_at), session=session)
        reservations_reminded = count_rows(RESERVATIONS, within(RESERVATIONS.c.reminder_sent_at), session=session)
        runs = count_by(JOB_RUNS, "status", within(JOB_RUNS.c.started_at), session=session)

    completed = sum(runs.get(status, 0) for status in COMPLETED_STATUSES)
    succeeded = runs.get("succeeded", 0)
    return {
        "sessions_opened": sum(opened_by_channel.values()),
        "sessions_opened_by_channel": dict(sorted(opened_by_channel.items())),
        "sessions_resolved": resolved,
        "sessions_abandoned": abandoned,
        "sessions_in_error": in_error,
        "messages_in": messages.get("inbound", 0),
        "messages_out": messages.get("outbound", 0),
        "messages_failed": failed_messages,
        "reservations_made": reservations_made,
        "reservations_reminded": reservations_reminded,
        "job_runs": sum(runs.values()),
        "job_runs_by_status": dict(sorted(runs.items())),
        "job_runs_succeeded": succeeded,
        "job_runs_completed": completed,
        # A share between 0 and 1, or None when no run completed that day.
        "job_success_rate": round(succeeded / completed, 4) if completed else None,
    }


def daily_report(ctx: JobContext) -> Summary:
    """Store yesterday's activity (a local calendar day in ``CRON_TIMEZONE``) and announce it.

    The report is one row of ``reports`` per day: a rerun replaces the row of
    the same day. An info alert gives the main figures. A dry run computes the
    report and stores nothing. The summary contains the report's counts plus
    ``day``, ``hours`` (23, 24 or 25), ``stored`` and ``replaced``.
    """
    day, start, end = report_window(ctx.now, ctx.settings.timezone)
    hours = round((end - start).total_seconds() / 3600)
    data = build_report(ctx, start, end)
    document = {"day": day.isoformat(), "timezone": ctx.settings.timezone, "start": start.isoformat(),
                "end": end.isoformat(), "hours": hours, **data}

    with ctx.database.session() as session:
        existing = count_rows(REPORTS, REPORTS.c.day == day, session=session)
        if not ctx.dry_run:
            # Delete and insert in one transaction: a concurrent reader sees the
            # old row or the new one, and the unique day column rejects a second
            # instance that writes the same day at the same moment.
            session.connection().execute(delete(REPORTS).where(REPORTS.c.day == day))
            session.connection().execute(insert(REPORTS).values(
                day=day, data=json.dumps(document, sort_keys=True), created_at=to_db(ctx.now)))

    rate = data["job_success_rate"]
    rate_text = _("no completed job run") if rate is None else f"{rate * 100:.1f}%"
    ctx.raise_alert("daily_report", "info", _(
        "Daily report for {day}: {opened} sessions opened, {resolved} resolved, {abandoned} abandoned, "
        "{in_error} in error; {messages_in} messages in, {messages_out} out; {reservations} reservations made, "
        "{reminded} reminded; {runs} job runs, success rate {rate}."
    ).format(
        day=day.isoformat(), opened=data["sessions_opened"], resolved=data["sessions_resolved"],
        abandoned=data["sessions_abandoned"], in_error=data["sessions_in_error"],
        messages_in=data["messages_in"], messages_out=data["messages_out"],
        reservations=data["reservations_made"], reminded=data["reservations_reminded"],
        runs=data["job_runs"], rate=rate_text,
    ))
    ctx.logger.info("%s daily report for %s (%s hours, %s to %s)",
                    "Would store" if ctx.dry_run else "Stored", day, hours, start.isoformat(), end.isoformat())

    flat_counts = {key: value for key, value in data.items() if not isinstance(value, dict)}
    return {"day": day.isoformat(), "hours": hours, **flat_counts, "stored": 1, "replaced": int(existing > 0)}
