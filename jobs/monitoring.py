"""check-system-performance: sample CPU, memory and free disk, and alert above the thresholds."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil

from console.i18n import _
from jobs.context import JobContext, Summary

# psutil measures CPU use as the average over a blocking interval (s). The
# job runs in a worker thread, so blocking for one second holds up nothing else.
CPU_SAMPLE_SECONDS = 1.0
MB = 2**20


def check_system_performance(ctx: JobContext) -> Summary:
    """Sample the machine and raise a warning alert for each threshold exceeded.

    Measured: system-wide CPU use (%), this process's resident memory (MB),
    system memory in use (%) and available (MB), and the free space of the
    file systems that hold the SQLite database and ``CRON_BACKUP_DIR``. The
    alerts compare the process memory with ``CRON_MEMORY_THRESHOLD_MB`` and
    the CPU use with ``CRON_CPU_THRESHOLD_PERCENT``. A PostgreSQL database
    lives on its server, so ``database_disk_*`` are null then. The job changes
    no data, so a dry run only logs the alerts it would raise.
    """
    cpu_percent = round(float(psutil.cpu_percent(interval=CPU_SAMPLE_SECONDS)), 1)
    rss_mb = round(psutil.Process().memory_info().rss / MB, 1)
    memory = psutil.virtual_memory()
    database_path = ctx.database.sqlite_path
    database_disk = _disk_usage(database_path.resolve().parent) if database_path is not None else None
    backup_disk = _disk_usage(ctx.settings.backup_dir.resolve())

    summary: Summary = {
        "cpu_percent": cpu_percent,
        "cpu_count": psutil.cpu_count() or 1,
        "rss_mb": rss_mb,
        "system_memory_percent": round(float(memory.percent), 1),
        "system_memory_available_mb": round(memory.available / MB, 1),
        "database_disk_free_mb": database_disk[0] if database_disk else None,
        "database_disk_free_percent": database_disk[1] if database_disk else None,
        "backup_disk_free_mb": backup_disk[0],
        "backup_disk_free_percent": backup_disk[1],
    }
    ctx.logger.info(
        "CPU %s%%, console memory %s MB, system memory %s%% used, free disk: database %s MB, backups %s MB",
        cpu_percent, rss_mb, summary["system_memory_percent"], summary["database_disk_free_mb"], backup_disk[0],
    )

    alerts = 0
    memory_threshold = ctx.settings.memory_threshold_mb
    if rss_mb > memory_threshold:
        ctx.raise_alert("high_memory", "warning", _(
            "The console uses {used} MB of memory, above the threshold of {threshold} MB "
            "(CRON_MEMORY_THRESHOLD_MB)."
        ).format(used=rss_mb, threshold=memory_threshold))
        alerts += 1
    cpu_threshold = ctx.settings.cpu_threshold_percent
    if cpu_percent > cpu_threshold:
        ctx.raise_alert("high_cpu", "warning", _(
            "Average CPU use in the last {seconds} s: {used}%, above the threshold of {threshold}% "
            "(CRON_CPU_THRESHOLD_PERCENT)."
        ).format(used=cpu_percent, seconds=CPU_SAMPLE_SECONDS, threshold=cpu_threshold))
        alerts += 1
    summary["alerts"] = alerts
    return summary


def _disk_usage(folder: Path) -> tuple[float, float]:
    """Return the free space (MB) and free share (%) of the file system holding ``folder`` or its nearest parent."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            usage = shutil.disk_usage(candidate)
            return round(usage.free / MB, 1), round(100.0 * usage.free / usage.total, 1) if usage.total else 0.0
    return 0.0, 0.0
