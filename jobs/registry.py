"""The catalogue of the sixteen jobs: ids, default schedules, groups and entry points."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from console.i18n import N_
from jobs.context import JobContext, Summary
from jobs.settings import JOB_IDS

JobFunction = Callable[[JobContext], Summary | Awaitable[Summary]]

GROUP_MAIN = N_("main")
GROUP_SCHEDULED_TASKS = N_("scheduled tasks")
GROUP_CLEANUP = N_("cleanup")


@dataclass(frozen=True)
class JobSpec:
    """One job's definition. ``title`` and ``description`` are English source strings for ``_()``."""

    id: str
    title: str
    description: str
    default_schedule: str
    group: str
    target: str  # "module:function"; a coroutine function runs on the loop, a plain one in a worker thread
    destructive: bool = False  # deletes data, so the console shows a dry-run count and requires confirmation
    changes_data: bool = True  # False for jobs that only read and alert
    enabled_by: str | None = None  # the Settings field that switches the job off, e.g. "backup_enabled"
    # Settings fields the job reads; the console shows their effective values.
    settings: tuple[str, ...] = ()
    uses_providers: bool = False  # needs the HTTP clients of Meta and Twilio (ctx.providers)

    def load(self) -> JobFunction:
        module_name, _colon, function_name = self.target.partition(":")
        function: JobFunction = getattr(importlib.import_module(module_name), function_name)
        return function

    @property
    def enabled_variable(self) -> str | None:
        return f"CRON_{self.enabled_by.upper()}" if self.enabled_by else None


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "cleanup-sessions", N_("Clean up resolved sessions"),
        N_("Delete resolved sessions older than CRON_CLEANUP_RESOLVED_SESSIONS_DAYS, with their messages."),
        "0 2 * * *", GROUP_MAIN, "jobs.sessions:cleanup_sessions", destructive=True,
        settings=("cleanup_resolved_sessions_days", "delete_batch_size"),
    ),
    JobSpec(
        "check-inactive-sessions", N_("Mark inactive sessions"),
        N_("Active sessions idle for CRON_CLEANUP_INACTIVE_SESSIONS_HOURS become inactive."),
        "0 */6 * * *", GROUP_MAIN, "jobs.sessions:check_inactive_sessions",
        settings=("cleanup_inactive_sessions_hours", "delete_batch_size"),
    ),
    JobSpec(
        "reservation-reminders", N_("Send reservation reminders"),
        N_("Remind confirmed reservations starting within CRON_REMINDER_LEAD_HOURS through the business's WhatsApp or SMS credential."),
        "0 */2 * * *", GROUP_MAIN, "jobs.reminders:reservation_reminders", uses_providers=True,
        enabled_by="reminders_enabled",
        settings=("reminder_lead_hours", "reminder_max_attempts", "reminder_quiet_hours"),
    ),
    JobSpec(
        "backup-data", N_("Back up the database"),
        N_("Consistent online copy of the database into CRON_BACKUP_DIR, verified, owner-only, old copies pruned."),
        "0 3 * * *", GROUP_MAIN, "jobs.maintenance:backup_data", enabled_by="backup_enabled",
        settings=("backup_dir", "backup_retention_days"),
    ),
    JobSpec(
        "validate-credentials", N_("Validate provider credentials"),
        N_("Ask Meta and Twilio whether each credential still works; alert on those that stopped working."),
        "0 4 * * *", GROUP_MAIN, "jobs.provider_checks:validate_credentials", uses_providers=True,
        settings=("provider_concurrency", "provider_max_retries"),
    ),
    JobSpec(
        "daily-report", N_("Daily activity report"),
        N_("Yesterday's sessions, messages, reservations and job runs, stored in reports."),
        "0 8 * * *", GROUP_MAIN, "jobs.reports:daily_report", enabled_by="reports_enabled",
    ),
    JobSpec(
        "check-system-performance", N_("Check system performance"),
        N_("Sample CPU, memory and free disk; alert above CRON_MEMORY_THRESHOLD_MB or CRON_CPU_THRESHOLD_PERCENT."),
        "*/30 * * * *", GROUP_MAIN, "jobs.monitoring:check_system_performance",
        changes_data=False, enabled_by="monitoring_enabled",
        settings=("memory_threshold_mb", "cpu_threshold_percent"),
    ),
    JobSpec(
        "check-abandoned-sessions", N_("Mark abandoned sessions"),
        N_("Active or inactive sessions idle for CRON_CLEANUP_ABANDONED_SESSIONS_HOURS become abandoned."),
        "0 */4 * * *", GROUP_SCHEDULED_TASKS, "jobs.sessions:check_abandoned_sessions",
        settings=("cleanup_abandoned_sessions_hours", "delete_batch_size"),
    ),
    JobSpec(
        "sync-credentials", N_("Sync credentials"),
        N_("Refresh token expiry and account status from the providers; alert on credentials expiring soon."),
        "0 */12 * * *", GROUP_SCHEDULED_TASKS, "jobs.provider_checks:sync_credentials", uses_providers=True,
        settings=("credential_expiry_warning_days", "provider_concurrency", "provider_max_retries"),
    ),
    JobSpec(
        "check-unprocessed-messages", N_("Check unprocessed messages"),
        N_("Count inbound messages still received after CRON_UNPROCESSED_MESSAGES_MINUTES; alert with the sessions affected."),
        "*/30 * * * *", GROUP_SCHEDULED_TASKS, "jobs.messages:check_unprocessed_messages", changes_data=False,
        settings=("unprocessed_messages_minutes",),
    ),
    JobSpec(
        "check-error-sessions", N_("Check sessions in error"),
        N_("Alert on sessions in error or with many errors, grouped by business and last error."),
        "0 */2 * * *", GROUP_SCHEDULED_TASKS, "jobs.sessions:check_error_sessions", changes_data=False,
        settings=("session_error_threshold",),
    ),
    JobSpec(
        "cleanup-old-messages", N_("Clean up old messages"),
        N_("Delete messages older than CRON_CLEANUP_OLD_MESSAGES_DAYS."),
        "30 2 * * 0", GROUP_CLEANUP, "jobs.messages:cleanup_old_messages", destructive=True,
        settings=("cleanup_old_messages_days", "delete_batch_size"),
    ),
    JobSpec(
        "cleanup-old-logs", N_("Clean up old logs"),
        N_("Delete app_logs rows and log files older than CRON_CLEANUP_OLD_LOGS_DAYS and job runs older than CRON_JOB_HISTORY_DAYS."),
        "30 1 1 * *", GROUP_CLEANUP, "jobs.maintenance:cleanup_old_logs", destructive=True,
        settings=("cleanup_old_logs_days", "job_history_days", "log_dir", "delete_batch_size"),
    ),
    JobSpec(
        "optimize-database", N_("Optimize the database"),
        N_("SQLite: checkpoint, ANALYZE and VACUUM when disk space allows; PostgreSQL: VACUUM (ANALYZE)."),
        "30 3 * * 0", GROUP_CLEANUP, "jobs.maintenance:optimize_database",
    ),
    JobSpec(
        "cleanup-old-sessions", N_("Clean up old sessions"),
        N_("Delete sessions that are not active and idle longer than CRON_CLEANUP_OLD_SESSIONS_DAYS, with their messages."),
        "15 2 1 * *", GROUP_CLEANUP, "jobs.sessions:cleanup_old_sessions", destructive=True,
        settings=("cleanup_old_sessions_days", "delete_batch_size"),
    ),
    JobSpec(
        "cleanup-expired-credentials", N_("Expire credentials"),
        N_("Credentials past expires_at become expired; their secret is erased after CRON_EXPIRED_CREDENTIAL_GRACE_DAYS."),
        "0 1 * * *", GROUP_CLEANUP, "jobs.credentials:cleanup_expired_credentials",
        settings=("expired_credential_grace_days",),
    ),
)

assert tuple(spec.id for spec in JOBS) == JOB_IDS, "registry and settings list different job ids"

JOBS_BY_ID: dict[str, JobSpec] = {spec.id: spec for spec in JOBS}


def get_spec(job_id: str) -> JobSpec:
    """Return the job with ``job_id``; raise :class:`jobs.errors.JobNotFoundError` naming the known ids."""
    from console.i18n import _
    from jobs.errors import JobNotFoundError

    try:
        return JOBS_BY_ID[job_id]
    except KeyError:
        raise JobNotFoundError(
            _("No job has the id {job_id!r}; expected one of: {ids}.").format(job_id=job_id, ids=", ".join(JOB_IDS))
        ) from None
