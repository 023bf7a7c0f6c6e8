"""Message jobs: delete old messages, alert on inbound messages still unprocessed."""

from __future__ import annotations

from datetime import timedelta

from console.i18n import _, ngettext
from jobs.context import JobContext, Summary, batch_hooks
from storage.db import from_db
from storage.queries import (
    MESSAGES,
    batches_needed,
    count_rows,
    delete_in_batches,
    messages_before,
    unprocessed_message_sessions,
)

# The unprocessed-messages alert names this many sessions; the counts cover all.
ALERT_MAX_SESSIONS = 20


def cleanup_old_messages(ctx: JobContext) -> Summary:
    """Delete messages created before ``CRON_CLEANUP_OLD_MESSAGES_DAYS``, in batches.

    Summary: ``examined``, ``deleted``, ``batches``.
    """
    cutoff = ctx.now - timedelta(days=ctx.settings.cleanup_old_messages_days)
    where = messages_before(cutoff)
    batch_size = ctx.settings.delete_batch_size
    with ctx.database.session() as session:
        examined = count_rows(MESSAGES, where, session=session)

    if ctx.dry_run:
        ctx.logger.info("Dry run: would delete %s messages created before %s", examined, cutoff.isoformat())
        return {"examined": examined, "deleted": examined, "batches": batches_needed(examined, batch_size)}

    ctx.progress["examined"] = examined
    progress = delete_in_batches(
        ctx.database, MESSAGES, where,
        order_by=[MESSAGES.c.created_at],
        batch_size=batch_size,
        **batch_hooks(ctx, "deleted", batches_key="batches"),
    )
    ctx.logger.info(
        "Deleted %s messages created before %s in %s batches", progress.rows, cutoff.isoformat(), progress.batches
    )
    return {"examined": examined, "deleted": progress.rows, "batches": progress.batches}


def check_unprocessed_messages(ctx: JobContext) -> Summary:
    """Raise a warning alert when inbound messages are still ``received`` after the threshold.

    Threshold: ``CRON_UNPROCESSED_MESSAGES_MINUTES``. The alert gives the
    count, the sessions affected (the oldest waiting first) and the longest
    wait. Summary: ``examined`` (messages), ``sessions``, ``businesses``,
    ``oldest_minutes``, ``alerts``.
    """
    cutoff = ctx.now - timedelta(minutes=ctx.settings.unprocessed_messages_minutes)
    with ctx.database.session() as session:
        waiting = unprocessed_message_sessions(cutoff, session=session)

    if not waiting:
        ctx.logger.info("No unprocessed inbound message older than %s", cutoff.isoformat())
        return {"examined": 0, "sessions": 0, "businesses": 0, "oldest_minutes": 0, "alerts": 0}

    messages = sum(item.messages for item in waiting)
    businesses = len({item.business_id for item in waiting})
    oldest_at = from_db(waiting[0].oldest_at)
    assert oldest_at is not None
    oldest_minutes = int((ctx.now - oldest_at).total_seconds() // 60)

    shown = ", ".join(f"#{item.session_id}" for item in waiting[:ALERT_MAX_SESSIONS])
    if len(waiting) > ALERT_MAX_SESSIONS:
        shown += " " + _("and {count} more").format(count=len(waiting) - ALERT_MAX_SESSIONS)
    message = ngettext(
        "{messages} inbound message waits unprocessed for more than {minutes} minutes"
        " (oldest: {oldest} minutes) in {sessions} sessions of {businesses} businesses: {shown}",
        "{messages} inbound messages wait unprocessed for more than {minutes} minutes"
        " (oldest: {oldest} minutes) in {sessions} sessions of {businesses} businesses: {shown}",
        messages,
    ).format(
        messages=messages, minutes=ctx.settings.unprocessed_messages_minutes, oldest=oldest_minutes,
        sessions=len(waiting), businesses=businesses, shown=shown,
    )
    ctx.raise_alert("unprocessed_messages", "warning", message)
    ctx.logger.info(
        "Found %s unprocessed inbound messages in %s sessions; oldest waits %s minutes",
        messages, len(waiting), oldest_minutes,
    )
    return {
        "examined": messages, "sessions": len(waiting), "businesses": businesses,
        "oldest_minutes": oldest_minutes, "alerts": 1,
    }
