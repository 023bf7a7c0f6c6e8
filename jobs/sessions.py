"""Session jobs: lifecycle changes (inactive, abandoned), clean-ups and the error check."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement

from console.i18n import _
from jobs.context import JobContext, Summary, batch_hooks
from storage.queries import (
    MESSAGES,
    SESSIONS,
    Condition,
    ErrorGroup,
    batches_needed,
    count_rows,
    count_session_messages,
    delete_in_batches,
    error_session_groups,
    idle_sessions,
    old_sessions_before,
    resolved_sessions_before,
    update_in_batches,
)

# An error alert lists this many businesses, and this many distinct errors for
# each, so that the message stays readable; the counts always cover them all.
ALERT_MAX_BUSINESSES = 10
ALERT_MAX_ERRORS_PER_BUSINESS = 3
ALERT_ERROR_TEXT_CHARS = 120


def _delete_sessions(ctx: JobContext, where: Condition, order_by: ColumnElement[Any], description: str) -> Summary:
    """Delete the sessions matching ``where`` with their messages, or count them in a dry run.

    ``order_by`` is the indexed time column of the filter, walked batch by batch.
    """
    batch_size = ctx.settings.delete_batch_size
    with ctx.database.session() as session:
        examined = count_rows(SESSIONS, where, session=session)
        messages = count_session_messages(where, session=session)

    if ctx.dry_run:
        ctx.logger.info("Dry run: would delete %s %s sessions and %s messages", examined, description, messages)
        return {
            "examined": examined, "deleted": examined, "deleted_messages": messages,
            "batches": batches_needed(examined, batch_size),
        }

    ctx.progress["examined"] = examined
    progress = delete_in_batches(
        ctx.database, SESSIONS, where,
        order_by=[order_by],
        batch_size=batch_size,
        children=[(MESSAGES, "session_id")],
        **batch_hooks(ctx, "deleted", child_rows_key="deleted_messages", batches_key="batches"),
    )
    ctx.logger.info(
        "Deleted %s %s sessions and %s messages in %s batches",
        progress.rows, description, progress.child_rows, progress.batches,
    )
    return {
        "examined": examined, "deleted": progress.rows, "deleted_messages": progress.child_rows,
        "batches": progress.batches,
    }


def cleanup_sessions(ctx: JobContext) -> Summary:
    """Delete ``resolved`` sessions resolved before the retention, with their messages.

    Retention: ``CRON_CLEANUP_RESOLVED_SESSIONS_DAYS``. Summary: ``examined``,
    ``deleted``, ``deleted_messages``, ``batches``.
    """
    cutoff = ctx.now - timedelta(days=ctx.settings.cleanup_resolved_sessions_days)
    return _delete_sessions(ctx, resolved_sessions_before(cutoff), SESSIONS.c.resolved_at, "resolved")


def cleanup_old_sessions(ctx: JobContext) -> Summary:
    """Delete sessions that are not ``active`` and idle longer than the retention, with their messages.

    Retention: ``CRON_CLEANUP_OLD_SESSIONS_DAYS``, measured from
    ``last_activity_at``. Summary keys as in :func:`cleanup_sessions`.
    """
    cutoff = ctx.now - timedelta(days=ctx.settings.cleanup_old_sessions_days)
    return _delete_sessions(ctx, old_sessions_before(cutoff), SESSIONS.c.last_activity_at, "old")


def _change_status(ctx: JobContext, where: Condition, new_status: str) -> Summary:
    """Set ``new_status`` on the sessions matching ``where``, or count them in a dry run."""
    batch_size = ctx.settings.delete_batch_size
    with ctx.database.session() as session:
        examined = count_rows(SESSIONS, where, session=session)

    if ctx.dry_run:
        ctx.logger.info("Dry run: would mark %s sessions %s", examined, new_status)
        return {"examined": examined, "changed": examined, "batches": batches_needed(examined, batch_size)}

    ctx.progress["examined"] = examined
    progress = update_in_batches(
        ctx.database, SESSIONS, where, {"status": new_status},
        order_by=[SESSIONS.c.last_activity_at],
        batch_size=batch_size,
        **batch_hooks(ctx, "changed", batches_key="batches"),
    )
    ctx.logger.info("Marked %s sessions %s in %s batches", progress.rows, new_status, progress.batches)
    return {"examined": examined, "changed": progress.rows, "batches": progress.batches}


def check_inactive_sessions(ctx: JobContext) -> Summary:
    """Mark ``active`` sessions idle for ``CRON_CLEANUP_INACTIVE_SESSIONS_HOURS`` as ``inactive``.

    Summary: ``examined``, ``changed``, ``batches``.
    """
    cutoff = ctx.now - timedelta(hours=ctx.settings.cleanup_inactive_sessions_hours)
    return _change_status(ctx, idle_sessions(["active"], cutoff), "inactive")


def check_abandoned_sessions(ctx: JobContext) -> Summary:
    """Mark ``active`` or ``inactive`` sessions idle for ``CRON_CLEANUP_ABANDONED_SESSIONS_HOURS`` as ``abandoned``.

    Summary: ``examined``, ``changed``, ``batches``.
    """
    cutoff = ctx.now - timedelta(hours=ctx.settings.cleanup_abandoned_sessions_hours)
    return _change_status(ctx, idle_sessions(["active", "inactive"], cutoff), "abandoned")


def check_error_sessions(ctx: JobContext) -> Summary:
    """Raise one warning alert about the sessions in error, grouped by business and last error.

    A session counts when its status is ``error`` or its ``error_count`` is at
    least ``CRON_SESSION_ERROR_THRESHOLD``. No alert is raised when there is
    none. Summary: ``examined`` (sessions), ``businesses``, ``alerts``.
    """
    threshold = ctx.settings.session_error_threshold
    with ctx.database.session() as session:
        groups = error_session_groups(threshold, session=session)

    total = sum(group.sessions for group in groups)
    businesses = len({group.business_id for group in groups})
    if total == 0:
        ctx.logger.info("No session in error")
        return {"examined": 0, "businesses": 0, "alerts": 0}

    ctx.raise_alert("error_sessions", "warning", _format_error_alert(groups, total, businesses, threshold))
    ctx.logger.info("Found %s sessions in error across %s businesses", total, businesses)
    return {"examined": total, "businesses": businesses, "alerts": 1}


def _format_error_alert(groups: list[ErrorGroup], total: int, businesses: int, threshold: int) -> str:
    by_business: dict[int, list[ErrorGroup]] = {}
    for group in groups:
        by_business.setdefault(group.business_id, []).append(group)
    ranked = sorted(by_business.values(), key=lambda items: (-sum(g.sessions for g in items), items[0].business_id))

    lines = [
        _("{total} sessions in error (status error or at least {threshold} errors) across {businesses} businesses:")
        .format(total=total, threshold=threshold, businesses=businesses)
    ]
    for items in ranked[:ALERT_MAX_BUSINESSES]:
        errors = "; ".join(
            _("{error} ({count})").format(error=_shorten(item.last_error), count=item.sessions)
            for item in items[:ALERT_MAX_ERRORS_PER_BUSINESS]
        )
        if len(items) > ALERT_MAX_ERRORS_PER_BUSINESS:
            errors += "; " + _("{count} other errors").format(count=len(items) - ALERT_MAX_ERRORS_PER_BUSINESS)
        lines.append(_("- {business}: {count} sessions; last errors: {errors}").format(
            business=items[0].business_name, count=sum(item.sessions for item in items), errors=errors))
    if len(ranked) > ALERT_MAX_BUSINESSES:
        lines.append(_("… and {count} more businesses").format(count=len(ranked) - ALERT_MAX_BUSINESSES))
    return "\n".join(lines)


def _shorten(error: str | None) -> str:
    if not error:
        return _("no error text")
    text = " ".join(error.split())
    return text if len(text) <= ALERT_ERROR_TEXT_CHARS else text[:ALERT_ERROR_TEXT_CHARS - 1] + "…"
