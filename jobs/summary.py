"""Readable text for a run's summary of counts, in the UI language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.i18n import N_, _

# Labels for every count the jobs of jobs/registry.py return, grouped by job;
# other keys are shown with their underscores turned into spaces.
KEY_LABELS = {
    # Shared by several jobs.
    "examined": N_("examined"),
    "changed": N_("changed"),
    "deleted": N_("deleted"),
    "deleted_messages": N_("messages deleted"),
    "deleted_sessions": N_("sessions deleted"),
    "batches": N_("batches"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "skipped": N_("skipped"),
    "alerts": N_("alerts"),
    "uncertain": N_("uncertain"),
    # Sessions in error and unprocessed messages.
    "sessions": N_("sessions"),
    "businesses": N_("businesses"),
    "oldest_minutes": N_("oldest waiting (min)"),
    # Credential checks and expiry.
    "valid": N_("valid"),
    "invalid": N_("invalid"),
    "expired": N_("expired"),
    "erased": N_("secrets erased"),
    "errors": N_("errors"),
    "skipped_erased": N_("skipped, secret erased"),
    "expiring_soon": N_("expiring soon"),
    # Reservation reminders.
    "skipped_business_disabled": N_("skipped, business disabled"),
    "skipped_no_credential": N_("skipped, no credential"),
    "skipped_credential_invalid": N_("skipped, credential invalid"),
    "skipped_no_sender": N_("skipped, no sender"),
    "skipped_quiet_hours": N_("skipped, quiet hours"),
    "skipped_claimed_elsewhere": N_("skipped, claimed by another console"),
    # Backup.
    "written": N_("copies written"),
    "bytes": N_("bytes"),
    "rows": N_("rows"),
    "pruned": N_("old copies removed"),
    "temporary_removed": N_("temporary files removed"),
    # Database optimisation.
    "tables_vacuumed": N_("tables vacuumed"),
    "analyzed": N_("analyzed"),
    "checkpointed_frames": N_("WAL frames checkpointed"),
    "vacuumed": N_("VACUUM run"),
    "vacuum_skipped": N_("VACUUM skipped"),
    "free_bytes": N_("free bytes"),
    "reclaimed_bytes": N_("bytes reclaimed"),
    # Old logs.
    "deleted_app_logs": N_("app log rows deleted"),
    "deleted_job_runs": N_("job runs deleted"),
    "deleted_log_files": N_("log files deleted"),
    "deleted_log_bytes": N_("log bytes deleted"),
    # Daily report.
    "sessions_opened": N_("sessions opened"),
    "sessions_resolved": N_("sessions resolved"),
    "sessions_abandoned": N_("sessions abandoned"),
    "sessions_in_error": N_("sessions in error"),
    "messages_in": N_("messages received"),
    "messages_out": N_("messages sent"),
    "messages_failed": N_("messages failed"),
    "reservations_made": N_("reservations made"),
    "reservations_reminded": N_("reservations reminded"),
    "job_runs": N_("job runs"),
    "job_runs_succeeded": N_("job runs succeeded"),
    "job_runs_completed": N_("job runs completed"),
    "job_success_rate": N_("job success rate"),
    # System performance.
    "cpu_percent": N_("CPU percent"),
    "cpu_count": N_("CPUs"),
    "rss_mb": N_("console memory MB"),
    "system_memory_percent": N_("system memory used percent"),
    "system_memory_available_mb": N_("system memory available MB"),
    "database_disk_free_mb": N_("database disk free MB"),
    "database_disk_free_percent": N_("database disk free percent"),
    "backup_disk_free_mb": N_("backup disk free MB"),
    "backup_disk_free_percent": N_("backup disk free percent"),
}


# A dry run counts what a real run would change, so under these keys its counts are worded as planned.
PLANNED_LABELS = {
    "changed": N_("to change"),
    "deleted": N_("to delete"),
    "deleted_messages": N_("messages to delete"),
    "deleted_sessions": N_("sessions to delete"),
    "erased": N_("secrets to erase"),
    "deleted_app_logs": N_("app log rows to delete"),
    "deleted_job_runs": N_("job runs to delete"),
    "deleted_log_files": N_("log files to delete"),
    "deleted_log_bytes": N_("log bytes to delete"),
}


def format_counts(summary: Mapping[str, Any] | None, *, planned: bool = False) -> str:
    """Render ``{"examined": 3, "deleted": 2}`` as ``examined 3, deleted 2`` (``to delete 2`` when ``planned``)."""
    if not summary:
        return _("no counts")
    parts = []
    for key, value in summary.items():
        if isinstance(value, dict | list):
            continue
        if planned and key in PLANNED_LABELS:
            label = _(PLANNED_LABELS[key])
        else:
            label = _(KEY_LABELS[key]) if key in KEY_LABELS else key.replace("_", " ")
        parts.append(f"{label} {value}")
    return ", ".join(parts) if parts else _("no counts")


def format_summary(summary: Mapping[str, Any] | None, *, dry_run: bool = False) -> str:
    """Render a run's summary. A dry run's summary reads ``dry run: examined 3, to delete 2``."""
    text = format_counts(summary, planned=dry_run)
    return _("dry run: {counts}").format(counts=text) if dry_run else text
