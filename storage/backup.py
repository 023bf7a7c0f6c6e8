"""Database backups: a consistent online copy, verified, renamed into place, old copies pruned.

SQLite is copied with the online backup API in a single step
(``sqlite3.Connection.backup(pages=-1)``) inside a read transaction that the
backup shares. That read transaction is one snapshot: in WAL mode other
connections keep writing while it lasts, and nothing restarts the copy. A
step-wise copy (a few pages per step) restarts whenever another connection
writes, so on a busy database it may never finish. ``VACUUM INTO`` would also
finish, but it cannot run inside a transaction, so its row counts could not be
compared with a snapshot of the source. Here the counts taken in the shared
snapshot must equal the counts of the copy exactly.

PostgreSQL is dumped with ``pg_dump`` in its custom format, from a snapshot
exported by a repeatable-read transaction that also counts the rows, and the
dump is verified by streaming its data through ``pg_restore``.

Every backup is written under a ``.tmp`` name, verified, made readable by the
owner only (0600), and only then renamed to its final name.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import URL
from sqlmodel import SQLModel

from console.i18n import _
from jobs.errors import CronConsoleError
from storage.db import Database

logger = logging.getLogger(__name__)

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
SQLITE_SUFFIX = ".sqlite3"
POSTGRES_SUFFIX = ".pgdump"
TEMPORARY_SUFFIX = ".tmp"
# A temporary file older than this was left by a run that crashed: the
# longest backup is expected to take far less than a day.
STALE_TEMPORARY_AGE = timedelta(days=1)
# How often a running pg_dump or pg_restore is checked for cancellation (s).
POLL_SECONDS = 0.5

_COPY_LINE = re.compile(rb'^COPY (?:"?[^"\s.]+"?\.)?"?([^"\s.(]+)"? ')


class BackupError(CronConsoleError):
    """A backup could not be written or did not pass verification."""

    title = "Backup failed"


@dataclass(frozen=True)
class BackupResult:
    """A verified backup in its final place."""

    path: Path
    size_bytes: int
    row_counts: dict[str, int] = field(default_factory=dict)  # per table, equal in source snapshot and copy


def backup_tables() -> list[Table]:
    """Return every table of the schema, in dependency order."""
    return list(SQLModel.metadata.sorted_tables)


def backup_prefix(database: Database) -> str:
    """Return the file-name prefix of this database's backups: the SQLite file stem or the PostgreSQL database name."""
    if database.is_sqlite:
        path = database.sqlite_path
        return path.stem if path is not None else "memory"
    return database.url.database or "postgres"


def backup_suffix(database: Database) -> str:
    return SQLITE_SUFFIX if database.is_sqlite else POSTGRES_SUFFIX


def backup_path(directory: Path, prefix: str, suffix: str, now: datetime) -> Path:
    """Return the final path of a backup taken at ``now``: ``<prefix>-<UTC stamp><suffix>``."""
    return directory / f"{prefix}-{now.astimezone(UTC).strftime(STAMP_FORMAT)}{suffix}"


def _stamp_of(path: Path, prefix: str, suffix: str) -> datetime | None:
    name = path.name
    if not (name.startswith(prefix + "-") and name.endswith(suffix)):
        return None
    stamp = name[len(prefix) + 1:len(name) - len(suffix)]
    try:
        return datetime.strptime(stamp, STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def list_backups(directory: Path, prefix: str, suffix: str) -> list[tuple[datetime, Path]]:
    """List this database's backups in ``directory``, oldest first, with the instant in each name."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        stamp = _stamp_of(path, prefix, suffix)
        if stamp is not None and path.is_file() and not path.is_symlink():
            found.append((stamp, path))
    return sorted(found)


def prune_backups(
    directory: Path, prefix: str, suffix: str, *, cutoff: datetime, keep: Path | None = None, dry_run: bool = False
) -> list[Path]:
    """Delete this database's backups whose name stamp is before ``cutoff``, except ``keep``.

    Temporary files left by a crashed backup are not touched here (see
    :func:`remove_stale_temporaries`). Returns the paths deleted, or the paths
    a real run would delete when ``dry_run`` is true.
    """
    pruned = []
    for stamp, path in list_backups(directory, prefix, suffix):
        if stamp >= cutoff or (keep is not None and path == keep):
            continue
        if not dry_run:
            path.unlink(missing_ok=True)
        pruned.append(path)
    return pruned


def remove_stale_temporaries(
    directory: Path, prefix: str, suffix: str, *, now: datetime, dry_run: bool = False
) -> list[Path]:
    """Delete temporary backup files (and SQLite journals beside them) older than :data:`STALE_TEMPORARY_AGE`."""
    removed = []
    for stamp, path in list_backups(directory, prefix, suffix + TEMPORARY_SUFFIX):
        if stamp >= now - STALE_TEMPORARY_AGE:
            continue
        if not dry_run:
            _remove_with_journal(path)
        removed.append(path)
    return removed


def _remove_with_journal(path: Path) -> None:
    for candidate in (path, Path(f"{path}-journal"), Path(f"{path}-wal"), Path(f"{path}-shm")):
        candidate.unlink(missing_ok=True)


def prepare_directory(directory: Path) -> None:
    """Create the backup folder readable by the owner only, when missing."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _create_private_file(path: Path) -> None:
    # Create the file with mode 0600 before SQLite or pg_dump opens it, so the
    # copy is never readable by others, not even while it is being written.
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(descriptor)


def _finish(temporary: Path, final: Path) -> int:
    """Flush ``temporary`` to disk, make it owner-only and rename it to ``final``; return its size."""
    with temporary.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return final.stat().st_size


# --- SQLite -----------------------------------------------------------------


def backup_sqlite(source: Path, directory: Path, *, now: datetime, prefix: str | None = None) -> BackupResult:
    """Copy the SQLite database ``source`` into ``directory`` while other connections keep writing.

    Raises :class:`BackupError` when the copy fails ``PRAGMA integrity_check``
    or its row counts differ from the source snapshot; the temporary file is
    removed then.
    """
    prepare_directory(directory)
    final = backup_path(directory, prefix or source.stem, SQLITE_SUFFIX, now)
    temporary = Path(f"{final}{TEMPORARY_SUFFIX}")
    if final.exists():
        raise BackupError(_("Backup {path} already exists; run the backup again a second later.").format(path=final))
    tables = [table.name for table in backup_tables()]

    _create_private_file(temporary)
    try:
        expected = _copy_sqlite_snapshot(source, temporary, tables)
        counts = verify_sqlite_backup(temporary, expected)
        size = _finish(temporary, final)
    except BaseException:
        _remove_with_journal(temporary)
        raise
    logger.info("Wrote SQLite backup %s (%s bytes, %s rows)", final, size, sum(counts.values()))
    return BackupResult(final, size, counts)


def _copy_sqlite_snapshot(source: Path, target: Path, tables: Sequence[str]) -> dict[str, int]:
    """Count the rows of ``tables`` and copy every page of ``source`` into ``target`` from one snapshot."""
    # Opened read-write although it only reads: a read-only connection to a WAL
    # database fails when the -shm file does not exist yet.
    source_connection = sqlite3.connect(source, timeout=5.0, isolation_level=None)
    target_connection = sqlite3.connect(target, isolation_level=None)
    try:
        # The read transaction starts with the first SELECT and pins the
        # snapshot. backup() reuses a read transaction that its source
        # connection already holds, so the copy shows exactly what was counted.
        source_connection.execute("BEGIN")
        existing = {row[0] for row in source_connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [name for name in tables if name not in existing]
        if missing:
            raise BackupError(_("The database {path} has no table {tables}; run the console once to create the schema.")
                              .format(path=source, tables=", ".join(missing)))
        expected = {name: _count_sqlite(source_connection, name) for name in tables}
        source_connection.backup(target_connection, pages=-1)
        source_connection.execute("COMMIT")
        # The copy inherits WAL mode from the source's header; a backup is a
        # single file, so switch it to a rollback journal.
        target_connection.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as error:
        raise BackupError(_("Copying {path} failed: {error}").format(path=source, error=error)) from error
    finally:
        target_connection.close()
        source_connection.close()
    return expected


def _count_sqlite(connection: sqlite3.Connection, table: str) -> int:
    # ``table`` comes from the schema's own metadata, never from user input;
    # identifiers cannot be bound as parameters, so it is quoted here.
    quoted = '"' + table.replace('"', '""') + '"'
    return int(connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0])


def verify_sqlite_backup(path: Path, expected: dict[str, int]) -> dict[str, int]:
    """Check a SQLite copy: ``PRAGMA integrity_check`` must return ``ok`` and each table's rows must match.

    Returns the row counts of the copy. Raises :class:`BackupError` naming
    the first difference.
    """
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(_("The backup {path} failed the integrity check: {problems}").format(
                path=path, problems="; ".join(str(problem) for problem in problems[:5])))
        counts = {name: _count_sqlite(connection, name) for name in expected}
    except sqlite3.Error as error:
        raise BackupError(_("Verifying the backup {path} failed: {error}").format(path=path, error=error)) from error
    finally:
        connection.close()
    _compare_counts(path, expected, counts)
    return counts


def _compare_counts(path: Path, expected: dict[str, int], actual: dict[str, int]) -> None:
    for name, count in expected.items():
        if actual.get(name) != count:
            raise BackupError(_("The backup {path} has {actual} rows in {table}, expected {expected}.").format(
                path=path, actual=actual.get(name), table=name, expected=count))


# --- PostgreSQL -------------------------------------------------------------


def postgres_tool(name: str) -> str:
    """Return the path of a PostgreSQL client program, or raise :class:`BackupError` saying how to install it."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(_(
            "{program} was not found on PATH, so the PostgreSQL database cannot be backed up. "
            "Install the PostgreSQL client programs of the server's major version "
            "(Debian: apt-get install postgresql-client), or set CRON_BACKUP_ENABLED=false."
        ).format(program=name))
    return found


def _search_path_schema(url: URL) -> str | None:
    options = url.query.get("options")
    text_options = " ".join(options) if isinstance(options, tuple) else (options or "")
    match = re.search(r"search_path\s*=\s*([^\s,]+)", text_options)
    return match.group(1) if match else None


def _postgres_command_environment(url: URL) -> tuple[list[str], dict[str, str]]:
    """Return connection arguments for the client programs, and their environment.

    The password goes into PGPASSWORD, never into the arguments, which other
    users of the machine can read in the process list.
    """
    arguments = ["--no-password"]
    if url.host:
        arguments += ["--host", url.host]
    if url.port:
        arguments += ["--port", str(url.port)]
    if url.username:
        arguments += ["--username", url.username]
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    sslmode = url.query.get("sslmode")
    if isinstance(sslmode, str):
        environment["PGSSLMODE"] = sslmode
    return arguments, environment


def backup_postgres(
    database: Database,
    directory: Path,
    *,
    now: datetime,
    check_cancelled: Callable[[], None] | None = None,
) -> BackupResult:
    """Dump the PostgreSQL database with ``pg_dump -Fc`` into ``directory`` and verify it.

    ``check_cancelled`` is called while the programs run and may raise to stop
    them; the programs are then killed and the temporary file removed. Raises
    :class:`BackupError` when a program is missing or fails, or when the rows
    in the dump differ from the exported snapshot.
    """
    pg_dump = postgres_tool("pg_dump")
    pg_restore = postgres_tool("pg_restore")
    prepare_directory(directory)
    final = backup_path(directory, backup_prefix(database), POSTGRES_SUFFIX, now)
    temporary = Path(f"{final}{TEMPORARY_SUFFIX}")
    if final.exists():
        raise BackupError(_("Backup {path} already exists; run the backup again a second later.").format(path=final))
    connection_arguments, environment = _postgres_command_environment(database.url)
    schema = _search_path_schema(database.url)
    tables = backup_tables()

    _create_private_file(temporary)
    try:
        with database.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                # The exported snapshot is the one the counts below read, and
                # pg_dump --snapshot dumps from it while this transaction stays open.
                snapshot = str(connection.execute(text("SELECT pg_export_snapshot()")).scalar_one())
                expected = {t.name: int(connection.execute(select(func.count()).select_from(t)).scalar_one())
                            for t in tables}
                command = [pg_dump, *connection_arguments, "--format=custom", f"--snapshot={snapshot}",
                           f"--file={temporary}", "--dbname", str(database.url.database)]
                if schema:
                    command += ["--schema", schema]
                _run_program(command, environment, database.url, check_cancelled)
        counts = verify_postgres_backup(temporary, expected, pg_restore=pg_restore, check_cancelled=check_cancelled)
        size = _finish(temporary, final)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    logger.info("Wrote PostgreSQL backup %s (%s bytes, %s rows)", final, size, sum(counts.values()))
    return BackupResult(final, size, counts)


def _run_program(
    command: list[str], environment: dict[str, str], url: URL, check_cancelled: Callable[[], None] | None
) -> None:
    program = Path(command[0]).name
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(process, check_cancelled)
    except BaseException:
        process.kill()
        process.wait()
        raise
    assert process.stderr is not None
    error_text = process.stderr.read().decode(errors="replace").strip()
    process.stderr.close()
    if process.returncode != 0:
        raise BackupError(_("{program} failed with exit status {status}: {error}").format(
            program=program, status=process.returncode, error=_without_password(error_text, url)[-2000:]))


def _wait(process: subprocess.Popen[bytes], check_cancelled: Callable[[], None] | None) -> None:
    while True:
        try:
            process.wait(timeout=POLL_SECONDS)
            return
        except subprocess.TimeoutExpired:
            if check_cancelled is not None:
                check_cancelled()


def _without_password(message: str, url: URL) -> str:
    password = url.password
    return message.replace(str(password), "***") if password else message


def verify_postgres_backup(
    path: Path,
    expected: dict[str, int],
    *,
    pg_restore: str,
    check_cancelled: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Count the rows of each table in a custom-format dump by streaming its data through ``pg_restore``.

    Returns the counts. Raises :class:`BackupError` when pg_restore cannot
    read the dump or a count differs from ``expected``.
    """
    counts: dict[str, int] = dict.fromkeys(expected, 0)
    process = subprocess.Popen(
        [pg_restore, "--data-only", "--file=-", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    current: str | None = None
    try:
        for number, line in enumerate(process.stdout):
            if current is None:
                match = _COPY_LINE.match(line)
                if match:
                    current = match.group(1).decode()
                    counts.setdefault(current, 0)
            elif line == b"\\.\n":
                current = None
            else:
                # COPY text format escapes newlines inside values, so each line is one row.
                counts[current] += 1
            if number % 100_000 == 0 and check_cancelled is not None:
                check_cancelled()
        process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    error_text = process.stderr.read().decode(errors="replace").strip()
    process.stdout.close()
    process.stderr.close()
    if process.returncode != 0:
        raise BackupError(_("pg_restore could not read the backup {path} (exit status {status}): {error}").format(
            path=path, status=process.returncode, error=error_text[-2000:]))
    _compare_counts(path, expected, counts)
    return {name: counts[name] for name in expected}


def database_size_bytes(database: Database) -> int:
    """Return the size of the database: the SQLite file with its WAL, or ``pg_database_size``."""
    if database.is_sqlite:
        path = database.sqlite_path
        if path is None:
            return 0
        return sum(candidate.stat().st_size for candidate in (path, Path(f"{path}-wal")) if candidate.exists())
    with database.engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
