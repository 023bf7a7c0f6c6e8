"""Maintenance jobs: backup-data, optimize-database and cleanup-old-logs."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from console.i18n import _
from jobs.context import JobContext, Summary, batch_hooks
from storage import backup
from storage.queries import (
    APP_LOGS,
    JOB_RUNS,
    app_logs_before,
    batches_needed,
    count_rows,
    delete_in_batches,
    finished_job_runs_before,
)

# VACUUM rebuilds the database in a temporary file (about the size of the
# database) and then writes every page through the WAL (about the size again).
# The margin covers growth while it runs.
VACUUM_SPACE_MARGIN = 1.1
# ANALYZE reads about this many rows per index instead of every row, which
# keeps it fast on large tables (PRAGMA analysis_limit, SQLite 3.32 or later).
ANALYSIS_LIMIT = 1000


# --- backup-data --------------------------------------------------------------


def backup_data(ctx: JobContext) -> Summary:
    """Write a verified, owner-only backup into ``CRON_BACKUP_DIR`` and prune old ones.

    SQLite uses the online backup API and PostgreSQL ``pg_dump`` (see
    :mod:`storage.backup`). Backups whose name stamp is older than
    ``CRON_BACKUP_RETENTION_DAYS`` are deleted after the new one is verified,
    so a failed backup never removes the previous ones. A dry run writes
    nothing: ``bytes`` is then the size of the database, an estimate of the
    copy's size. Summary: ``written``, ``bytes``, ``rows``, ``pruned``,
    ``temporary_removed``.
    """
    database = ctx.database
    directory = ctx.settings.backup_dir.resolve()
    prefix = backup.backup_prefix(database)
    suffix = backup.backup_suffix(database)
    cutoff = ctx.now - timedelta(days=ctx.settings.backup_retention_days)

    if ctx.dry_run:
        would_prune = backup.prune_backups(directory, prefix, suffix, cutoff=cutoff, dry_run=True)
        stale = backup.remove_stale_temporaries(directory, prefix, suffix, now=ctx.now, dry_run=True)
        size = backup.database_size_bytes(database)
        ctx.logger.info("Dry run: would back up %s bytes into %s and prune %s old backups",
                        size, directory, len(would_prune))
        return {"written": 1, "bytes": size, "rows": 0, "pruned": len(would_prune), "temporary_removed": len(stale)}

    stale = backup.remove_stale_temporaries(directory, prefix, suffix, now=ctx.now)
    _check_space_for_backup(ctx, directory)
    if database.is_sqlite:
        source = database.sqlite_path
        if source is None:
            raise backup.BackupError(_("An in-memory SQLite database cannot be backed up; "
                                       "set CRON_DATABASE_URL to a sqlite:///PATH file."))
        ctx.check_cancelled()
        result = backup.backup_sqlite(source, directory, now=ctx.now, prefix=prefix)
    else:
        result = backup.backup_postgres(database, directory, now=ctx.now, check_cancelled=ctx.check_cancelled)

    pruned = backup.prune_backups(directory, prefix, suffix, cutoff=cutoff, keep=result.path)
    for path in pruned:
        ctx.logger.info("Deleted backup %s, older than %s days", path.name, ctx.settings.backup_retention_days)
    rows = sum(result.row_counts.values())
    ctx.logger.info("Backed up %s rows into %s (%s bytes); pruned %s old backups",
                    rows, result.path, result.size_bytes, len(pruned))
    return {
        "written": 1, "bytes": result.size_bytes, "rows": rows, "pruned": len(pruned),
        "temporary_removed": len(stale),
    }


def _check_space_for_backup(ctx: JobContext, directory: Path) -> None:
    needed = backup.database_size_bytes(ctx.database)
    free = shutil.disk_usage(directory if directory.exists() else _existing_parent(directory)).free
    if free < needed:
        raise backup.BackupError(_(
            "Not enough free disk space for a backup in {directory}: {free} MB free, about {needed} MB needed. "
            "Free some space or point CRON_BACKUP_DIR at a larger disk."
        ).format(directory=directory, free=free // 2**20, needed=needed // 2**20 + 1))


def _existing_parent(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


# --- optimize-database ----------------------------------------------------------


@dataclass(frozen=True)
class VacuumPlan:
    """Whether VACUUM may run, and the reason when it may not."""

    allowed: bool
    reason: str  # English, for the log; empty when allowed
    alert: str | None = None  # user-facing text when the operator should act


def optimize_database(ctx: JobContext) -> Summary:
    """Checkpoint, analyse and (when space allows) vacuum SQLite; ``VACUUM (ANALYZE)`` PostgreSQL.

    SQLite: a passive WAL checkpoint (SQLite's PASSIVE mode does not wait for
    other readers or writers),
    ``ANALYZE`` with a row limit and ``PRAGMA optimize``, then ``VACUUM`` when
    the file has free pages and the disks hold a second copy of it. A VACUUM
    skipped for lack of space raises a warning alert that gives the numbers.
    Summary: ``checkpointed_frames``, ``analyzed``, ``vacuumed``,
    ``vacuum_skipped``, ``free_bytes``, ``reclaimed_bytes``, ``alerts``.

    PostgreSQL: ``VACUUM (ANALYZE)`` of each console table in autocommit mode.
    Summary: ``tables_vacuumed``, ``analyzed`` (both the number of tables).
    """
    if ctx.database.is_sqlite:
        return _optimize_sqlite(ctx)
    return _optimize_postgres(ctx)


def _optimize_postgres(ctx: JobContext) -> Summary:
    tables = backup.backup_tables()
    if ctx.dry_run:
        ctx.logger.info("Dry run: would run VACUUM (ANALYZE) on %s tables", len(tables))
        return {"tables_vacuumed": len(tables), "analyzed": len(tables)}
    # VACUUM cannot run inside a transaction block.
    with ctx.database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        preparer = connection.dialect.identifier_preparer
        for table in tables:
            ctx.check_cancelled()
            # Table names come from the schema's metadata and are quoted by the dialect.
            connection.execute(text(f"VACUUM (ANALYZE) {preparer.format_table(table)}"))
            ctx.logger.info("VACUUM (ANALYZE) %s done", table.name)
    return {"tables_vacuumed": len(tables), "analyzed": len(tables)}


def _optimize_sqlite(ctx: JobContext) -> Summary:
    path = ctx.database.sqlite_path
    with ctx.database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        page_size = int(connection.exec_driver_sql("PRAGMA page_size").scalar_one())
        page_count = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
        free_pages = int(connection.exec_driver_sql("PRAGMA freelist_count").scalar_one())
        size_before = page_size * page_count
        free_bytes = page_size * free_pages
        plan = _plan_vacuum(path, size_before, free_pages)

        if ctx.dry_run:
            ctx.logger.info("Dry run: would checkpoint, analyse and %s",
                            "vacuum" if plan.allowed else f"skip VACUUM ({plan.reason})")
            return {
                "checkpointed_frames": 0, "analyzed": 1, "vacuumed": int(plan.allowed),
                "vacuum_skipped": int(not plan.allowed), "free_bytes": free_bytes,
                "reclaimed_bytes": free_bytes if plan.allowed else 0, "alerts": int(plan.alert is not None),
            }

        # PASSIVE copies what it can without waiting for readers or writers.
        busy, log_frames, checkpointed = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        ctx.logger.info("WAL checkpoint: %s of %s frames copied (busy=%s)", checkpointed, log_frames, busy)
        ctx.check_cancelled()
        connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        connection.exec_driver_sql("ANALYZE")
        connection.exec_driver_sql("PRAGMA optimize")
        ctx.logger.info("ANALYZE and PRAGMA optimize done")
        ctx.check_cancelled()

        vacuumed = 0
        size_after = size_before
        if plan.allowed:
            # VACUUM holds the write lock until it ends: the agent's writes wait
            # (up to their busy timeout) for the whole rebuild.
            connection.exec_driver_sql("VACUUM")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            size_after = page_size * int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
            vacuumed = 1
            ctx.logger.info("VACUUM done: %s bytes before, %s after", size_before, size_after)
        else:
            ctx.logger.warning("VACUUM skipped: %s", plan.reason)

    alerts = 0
    if plan.alert is not None:
        ctx.raise_alert("vacuum_skipped", "warning", plan.alert)
        alerts = 1
    return {
        "checkpointed_frames": int(checkpointed if checkpointed is not None and checkpointed > 0 else 0),
        "analyzed": 1, "vacuumed": vacuumed, "vacuum_skipped": 1 - vacuumed, "free_bytes": free_bytes,
        "reclaimed_bytes": max(size_before - size_after, 0), "alerts": alerts,
    }


def _plan_vacuum(path: Path | None, size: int, free_pages: int) -> VacuumPlan:
    """Decide whether VACUUM may run: the file must have free pages and the disks must hold the copies."""
    if path is None:
        return VacuumPlan(False, "in-memory database")
    if free_pages == 0:
        return VacuumPlan(False, "no free pages to reclaim")

    # Space needed per file system: the temporary copy goes to SQLite's
    # temporary folder, the rewritten pages to the WAL beside the database.
    temporary_folder = Path(os.environ.get("SQLITE_TMPDIR") or tempfile.gettempdir())
    needs: dict[int, tuple[Path, int]] = {}
    for folder in (path.resolve().parent, temporary_folder):
        device = os.stat(folder).st_dev
        where, needed = needs.get(device, (folder, 0))
        needs[device] = (where, needed + int(size * VACUUM_SPACE_MARGIN))
    for folder, needed in needs.values():
        free = shutil.disk_usage(folder).free
        if free < needed:
            reason = f"{free // 2**20} MB free in {folder}, {needed // 2**20 + 1} MB needed"
            alert = _(
                "VACUUM of the database was skipped: {free} MB free in {folder}, about {needed} MB needed. "
                "Free some disk space; the next optimize-database run will try again."
            ).format(free=free // 2**20, folder=folder, needed=needed // 2**20 + 1)
            return VacuumPlan(False, reason, alert)
    return VacuumPlan(True, "")


# --- cleanup-old-logs -------------------------------------------------------------


def cleanup_old_logs(ctx: JobContext) -> Summary:
    """Delete old ``app_logs`` rows, old files under ``CRON_LOG_DIR`` and old job runs.

    ``app_logs`` rows and log files older than ``CRON_CLEANUP_OLD_LOGS_DAYS``
    go (files by modification time, symbolic links never followed nor
    deleted), and so do job runs started before ``CRON_JOB_HISTORY_DAYS``,
    except runs still ``running``. Summary: ``deleted_app_logs``,
    ``deleted_job_runs``, ``deleted_log_files``, ``deleted_log_bytes``,
    ``batches``.
    """
    logs_cutoff = ctx.now - timedelta(days=ctx.settings.cleanup_old_logs_days)
    runs_cutoff = ctx.now - timedelta(days=ctx.settings.job_history_days)
    logs_where = app_logs_before(logs_cutoff)
    runs_where = finished_job_runs_before(runs_cutoff)
    batch_size = ctx.settings.delete_batch_size
    files = _old_log_files(ctx, ctx.settings.log_dir, logs_cutoff)
    file_bytes = sum(size for _path, size in files)

    if ctx.dry_run:
        with ctx.database.session() as session:
            app_logs = count_rows(APP_LOGS, logs_where, session=session)
            job_runs = count_rows(JOB_RUNS, runs_where, session=session)
        ctx.logger.info("Dry run: would delete %s app_logs rows, %s job runs and %s log files (%s bytes)",
                        app_logs, job_runs, len(files), file_bytes)
        return {
            "deleted_app_logs": app_logs, "deleted_job_runs": job_runs, "deleted_log_files": len(files),
            "deleted_log_bytes": file_bytes,
            "batches": batches_needed(app_logs, batch_size) + batches_needed(job_runs, batch_size),
        }

    ctx.progress.update({
        "deleted_app_logs": 0, "deleted_job_runs": 0, "deleted_log_files": 0, "deleted_log_bytes": 0,
        "batches": 0,
    })
    logs = delete_in_batches(
        ctx.database, APP_LOGS, logs_where, order_by=[APP_LOGS.c.created_at], batch_size=batch_size,
        **batch_hooks(ctx, "deleted_app_logs", batches_key="batches"),
    )
    runs = delete_in_batches(
        ctx.database, JOB_RUNS, runs_where, order_by=[JOB_RUNS.c.started_at], batch_size=batch_size,
        **batch_hooks(ctx, "deleted_job_runs", batches_key="batches", batches_before=logs.batches),
    )
    deleted_files = 0
    deleted_bytes = 0
    for path, size in files:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            ctx.logger.warning("Could not delete log file %s: %s", path, error)
            continue
        deleted_files += 1
        deleted_bytes += size
    ctx.logger.info("Deleted %s app_logs rows, %s job runs and %s log files (%s bytes)",
                    logs.rows, runs.rows, deleted_files, deleted_bytes)
    return {
        "deleted_app_logs": logs.rows, "deleted_job_runs": runs.rows, "deleted_log_files": deleted_files,
        "deleted_log_bytes": deleted_bytes, "batches": logs.batches + runs.batches,
    }


def _old_log_files(ctx: JobContext, folder: Path, cutoff: datetime) -> list[tuple[Path, int]]:
    """List regular files under ``folder`` last modified before ``cutoff``, with their sizes."""
    if not folder.is_dir():
        ctx.logger.info("Log folder %s does not exist; no log file to delete", folder)
        return []
    limit = cutoff.astimezone(UTC).timestamp()
    found = []
    for root, _directories, names in os.walk(folder, followlinks=False):
        for name in names:
            path = Path(root, name)
            try:
                status = path.lstat()
            except OSError:
                continue
            if path.is_symlink() or not path.is_file():
                continue
            if status.st_mtime < limit:
                found.append((path, status.st_size))
    return sorted(found)

