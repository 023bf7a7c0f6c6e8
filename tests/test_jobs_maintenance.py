"""backup-data, optimize-database and cleanup-old-logs."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from jobs.context import JobContext
from jobs.maintenance import backup_data, cleanup_old_logs, optimize_database
from storage import backup
from storage.db import Database
from storage.queries import APP_LOGS, JOB_RUNS, MESSAGES
from tests.conftest import DEFAULT_NOW
from tests.rows import (
    add_app_log,
    add_business,
    add_job_run,
    add_message,
    add_session,
    alerts,
    count,
    ids,
)

NOW = DEFAULT_NOW
SECOND = timedelta(seconds=1)
MakeContext = Callable[..., JobContext]


def fill(database: Database, messages: int = 50) -> int:
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    for index in range(messages):
        add_message(database, session_id, created_at=NOW - timedelta(minutes=index), body="x" * 200)
    return session_id


# --- backup-data --------------------------------------------------------------


def test_backup_sqlite_verified_private(sqlite_database: Database, tmp_path: Path, settings: Any) -> None:
    fill(sqlite_database)
    directory = tmp_path / "backups"
    old = backup.backup_path(directory, "test", ".sqlite3", NOW - timedelta(days=15))
    recent = backup.backup_path(directory, "test", ".sqlite3", NOW - timedelta(days=13))
    stale_temporary = Path(f"{backup.backup_path(directory, 'test', '.sqlite3', NOW - timedelta(days=2))}.tmp")
    other = directory / "notes.txt"
    directory.mkdir()
    for path in (old, recent, stale_temporary, other):
        path.write_bytes(b"x")
    context = JobContext(job_id="backup-data", run_id=None, settings=settings.model_copy(
        update={"database_url": str(sqlite_database.url)}), database=sqlite_database, clock=None,  # type: ignore[arg-type]
        now=NOW)

    summary = backup_data(context)

    final = backup.backup_path(directory, "test", ".sqlite3", NOW)
    assert summary["written"] == 1
    assert summary["pruned"] == 1
    assert summary["temporary_removed"] == 1
    assert summary["rows"] == 52
    assert stat.S_IMODE(final.stat().st_mode) == 0o600
    assert sorted(path.name for path in directory.iterdir()) == sorted([final.name, recent.name, other.name])
    copy = sqlite3.connect(final)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM messages").fetchone()[0] == 50
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    copy.close()


def test_backup_dry_run_writes_nothing(database: Database, make_context: MakeContext, tmp_path: Path) -> None:
    fill(database, messages=3)
    directory = tmp_path / "backups"
    directory.mkdir()
    prefix = backup.backup_prefix(database)
    suffix = backup.backup_suffix(database)
    old = backup.backup_path(directory, prefix, suffix, NOW - timedelta(days=30))
    old.write_bytes(b"x")

    summary = backup_data(make_context("backup-data", dry_run=True))

    assert summary["pruned"] == 1
    assert summary["bytes"] > 0
    assert [path.name for path in directory.iterdir()] == [old.name]


def test_backup_real_run(database: Database, make_context: MakeContext, tmp_path: Path) -> None:
    fill(database, messages=20)

    summary = backup_data(make_context("backup-data"))

    [written] = backup.list_backups(tmp_path / "backups", backup.backup_prefix(database), backup.backup_suffix(database))
    assert summary["rows"] == 22
    assert summary["bytes"] == written[1].stat().st_size
    assert stat.S_IMODE(written[1].stat().st_mode) == 0o600
    assert not list((tmp_path / "backups").glob("*.tmp"))


def test_backup_completes_under_writes(sqlite_database: Database, tmp_path: Path) -> None:
    session_id = fill(sqlite_database, messages=2000)
    stop = threading.Event()
    written = 0

    def writer() -> None:
        nonlocal written
        connection = sqlite3.connect(sqlite_database.sqlite_path, timeout=5)  # type: ignore[arg-type]
        while not stop.is_set():
            connection.execute("INSERT INTO messages (session_id, direction, body, status, created_at) "
                               "VALUES (?, 'inbound', 'x', 'received', '2026-06-17 10:00:00')", (session_id,))
            connection.commit()
            written += 1
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while written < 20:
            stop.wait(0.001)
        result = backup.backup_sqlite(sqlite_database.sqlite_path, tmp_path / "b", now=NOW)  # type: ignore[arg-type]
    finally:
        stop.set()
        thread.join()

    assert written >= 20
    assert result.row_counts["messages"] >= 2020
    assert result.row_counts["messages"] <= count(sqlite_database, MESSAGES)


def test_backup_verification_failure(sqlite_database: Database, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fill(sqlite_database, messages=5)
    real_copy = backup._copy_sqlite_snapshot

    def copy_then_claim_more(source: Path, target: Path, tables: Any) -> dict[str, int]:
        expected = real_copy(source, target, tables)
        return {**expected, "messages": expected["messages"] + 1}

    monkeypatch.setattr(backup, "_copy_sqlite_snapshot", copy_then_claim_more)
    with pytest.raises(backup.BackupError, match="has 5 rows in messages, expected 6"):
        backup.backup_sqlite(sqlite_database.sqlite_path, tmp_path / "b", now=NOW)  # type: ignore[arg-type]
    assert list((tmp_path / "b").iterdir()) == []


def test_backup_pg_dump_missing(database: Database, make_context: MakeContext,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    if database.is_sqlite:
        pytest.skip("pg_dump is only used for PostgreSQL")
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(backup.BackupError, match="pg_dump was not found on PATH"):
        backup_data(make_context("backup-data"))


def test_pg_dump_argv_has_no_password(monkeypatch: pytest.MonkeyPatch) -> None:
    url = Database("postgresql+psycopg://cron:s3cret@db.internal:5433/agent?options=-csearch_path%3Dtenant")
    arguments, environment = backup._postgres_command_environment(url.url)

    assert "s3cret" not in " ".join(arguments)
    assert environment["PGPASSWORD"] == "s3cret"
    assert arguments[:5] == ["--no-password", "--host", "db.internal", "--port", "5433"]
    assert backup._search_path_schema(url.url) == "tenant"
    url.dispose()


# --- optimize-database ----------------------------------------------------------


def test_optimize_sqlite_vacuums(sqlite_database: Database, settings: Any) -> None:
    fill(sqlite_database, messages=2000)
    with sqlite_database.session() as session:
        session.connection().execute(delete(MESSAGES))
    context = JobContext(job_id="optimize-database", run_id=None, settings=settings,
                         database=sqlite_database, clock=None, now=NOW)  # type: ignore[arg-type]

    dry = optimize_database(JobContext(job_id="optimize-database", run_id=None, settings=settings,
                                       database=sqlite_database, clock=None, now=NOW, dry_run=True))  # type: ignore[arg-type]
    summary = optimize_database(context)

    assert dry["vacuumed"] == 1
    assert summary["analyzed"] == 1
    assert summary["vacuumed"] == 1
    assert summary["reclaimed_bytes"] > 100_000
    assert summary["free_bytes"] == dry["free_bytes"]
    again = optimize_database(context)
    assert again["vacuumed"] == 0
    assert again["vacuum_skipped"] == 1


def test_optimize_skips_without_space(database: Database, make_context: MakeContext,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if not database.is_sqlite:
        pytest.skip("the disk check concerns SQLite's VACUUM")
    fill(database, messages=500)
    with database.session() as session:
        session.connection().execute(delete(MESSAGES))
    usage = shutil.disk_usage("/")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage._replace(free=1000))

    summary = optimize_database(make_context("optimize-database"))

    assert summary["vacuumed"] == 0
    assert summary["vacuum_skipped"] == 1
    assert summary["alerts"] == 1
    [alert] = alerts(database)
    assert alert.kind == "vacuum_skipped"
    assert alert.message.startswith("VACUUM of the database was skipped: 0 MB free in")


def test_optimize_postgres(database: Database, make_context: MakeContext) -> None:
    if database.is_sqlite:
        pytest.skip("PostgreSQL case")
    fill(database, messages=10)

    tables = len(backup.backup_tables())
    expected = {"tables_vacuumed": tables, "analyzed": tables}
    assert optimize_database(make_context("optimize-database", dry_run=True)) == expected
    assert optimize_database(make_context("optimize-database")) == expected


# --- cleanup-old-logs -------------------------------------------------------------


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "logs"
    folder.mkdir()
    yield folder


def touch(path: Path, age: timedelta, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    instant = (NOW - age).timestamp()
    os.utime(path, (instant, instant), follow_symlinks=False)
    return path


def test_cleanup_old_logs(database: Database, make_context: MakeContext, log_dir: Path, tmp_path: Path) -> None:
    logs_cutoff = NOW - timedelta(days=30)
    runs_cutoff = NOW - timedelta(days=90)
    add_app_log(database, created_at=logs_cutoff - SECOND)
    kept_logs = {add_app_log(database, created_at=logs_cutoff), add_app_log(database, created_at=NOW)}
    add_job_run(database, job_id="backup-data", started_at=runs_cutoff - SECOND, status="failed")
    kept_runs = {
        add_job_run(database, job_id="backup-data", started_at=runs_cutoff - timedelta(days=3), status="running"),
        add_job_run(database, job_id="backup-data", started_at=runs_cutoff),
    }
    old_file = touch(log_dir / "cron-console.log.1", timedelta(days=31), size=100)
    old_nested = touch(log_dir / "2026" / "agent.log", timedelta(days=40), size=50)
    fresh_file = touch(log_dir / "cron-console.log", timedelta(days=29))
    outside = touch(tmp_path / "elsewhere.log", timedelta(days=100))
    link = log_dir / "link.log"
    link.symlink_to(outside)
    os.utime(link, (0, 0), follow_symlinks=False)

    dry = cleanup_old_logs(make_context("cleanup-old-logs", dry_run=True))
    assert old_file.exists()
    real = cleanup_old_logs(make_context("cleanup-old-logs"))

    assert real == {"deleted_app_logs": 1, "deleted_job_runs": 1, "deleted_log_files": 2,
                    "deleted_log_bytes": 150, "batches": 2}
    assert dry == real
    assert ids(database, APP_LOGS) == kept_logs
    assert ids(database, JOB_RUNS) == kept_runs
    assert not old_file.exists()
    assert not old_nested.exists()
    assert fresh_file.exists()
    assert link.is_symlink()
    assert outside.exists()


def test_cleanup_old_logs_batches(database: Database, make_context: MakeContext) -> None:
    for index in range(10):
        add_app_log(database, created_at=NOW - timedelta(days=31, minutes=index))

    summary = cleanup_old_logs(make_context("cleanup-old-logs", delete_batch_size=3))

    assert summary["deleted_app_logs"] == 10
    assert summary["batches"] == 4
    assert summary["deleted_log_files"] == 0
    assert count(database, APP_LOGS) == 0
