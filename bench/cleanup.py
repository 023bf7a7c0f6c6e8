"""Benchmark cleanup-old-messages against one raw DELETE, with an agent-like writer running alongside.

The script builds a SQLite database of ``--rows`` messages (half older than
the 90-day retention), copies it, then:

1. runs the real ``cleanup_old_messages`` job on one copy;
2. runs ``DELETE FROM messages WHERE created_at < ?`` through the ``sqlite3``
   command-line program on the other copy.

During each, a separate process inserts one message every 10 ms, as the
agent server does, and records how long each insert waited until it
committed. The script prints both durations, their ratio and the writer's
waits. Goals: ratio at most 1.5, and no writer wait of 200 ms or more.

Usage: ``.venv/bin/python bench/cleanup.py [--rows N] [--batch-size N] [--pause S] [--folder DIR]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.clock import FakeClock  # noqa: E402
from jobs.context import JobContext  # noqa: E402
from jobs.messages import cleanup_old_messages  # noqa: E402
from jobs.settings import Settings  # noqa: E402
from storage import queries  # noqa: E402
from storage.db import Database  # noqa: E402

NOW = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
RETENTION_DAYS = 90
WRITER_INTERVAL_SECONDS = 0.010
WAIT_GOAL_SECONDS = 0.200
RATIO_GOAL = 1.5
SESSIONS = 1000
# The text form SQLAlchemy's SQLite dialect stores for a DateTime column.
STORED_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def build(path: Path, rows: int) -> None:
    """Create the schema and insert ``rows`` messages spread over 180 days, the older half past the retention."""
    database = Database(f"sqlite:///{path}")
    database.create_schema()
    database.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("INSERT INTO businesses (id, name, timezone, language, reminders_enabled) "
                       "VALUES (1, 'Restaurant Casa Veche', 'Europe/Bucharest', 'ro', 1)")
    stamp = NOW.strftime(STORED_FORMAT)
    connection.executemany(
        "INSERT INTO sessions (id, business_id, channel, customer_phone, status, created_at, last_activity_at, "
        "error_count) VALUES (?, 1, 'whatsapp', '+40722000000', 'active', ?, ?, 0)",
        ((number, stamp, stamp) for number in range(1, SESSIONS + 1)))
    span = timedelta(days=2 * RETENTION_DAYS).total_seconds()
    start = NOW - timedelta(days=2 * RETENTION_DAYS)

    # Ids grow with time, as they do when the agent inserts messages as they come.
    def messages() -> object:
        for number in range(rows):
            created = start + timedelta(seconds=span * (number + 0.5) / rows)
            yield (number % SESSIONS + 1, "inbound" if number % 2 else "outbound",
                   "Bună ziua, aș dori o rezervare pentru 4 persoane sâmbătă la ora 19.", "processed",
                   created.strftime(STORED_FORMAT))

    connection.executemany(
        "INSERT INTO messages (session_id, direction, body, status, created_at) VALUES (?, ?, ?, ?, ?)",
        messages())  # type: ignore[arg-type]
    connection.commit()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def writer(path: str, stop: Event, ready: Event, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """Insert a message every 10 ms until ``stop``; send back every insert's wait in seconds."""
    connection = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    connection.execute("PRAGMA busy_timeout=5000")
    stamp = NOW.strftime(STORED_FORMAT)
    waits = []
    ready.set()
    while not stop.is_set():
        began = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute("INSERT INTO messages (session_id, direction, body, status, created_at) "
                           "VALUES (1, 'inbound', 'Mai aveți loc diseară?', 'received', ?)", (stamp,))
        connection.execute("COMMIT")
        waits.append(time.perf_counter() - began)
        time.sleep(WRITER_INTERVAL_SECONDS)
    connection.close()
    results.put(waits)


def with_writer(path: Path, work: object) -> tuple[float, list[float]]:
    """Run ``work()`` while the writer process inserts into ``path``; return its duration and the writer's waits."""
    context = multiprocessing.get_context("spawn")
    stop, ready = context.Event(), context.Event()
    results: multiprocessing.Queue[list[float]] = context.Queue()
    process = context.Process(target=writer, args=(str(path), stop, ready, results))
    process.start()
    ready.wait()
    time.sleep(0.2)  # let the writer reach its steady rhythm before the work starts
    began = time.perf_counter()
    work()  # type: ignore[operator]
    elapsed = time.perf_counter() - began
    stop.set()
    waits = results.get()
    process.join()
    return elapsed, waits


def run_job(path: Path, batch_size: int) -> dict[str, object]:
    url = f"sqlite:///{path}"
    database = Database(url)
    settings = Settings(_env_file=None, database_url=url, delete_batch_size=batch_size)  # type: ignore[call-arg]
    summary = cleanup_old_messages(JobContext(
        job_id="cleanup-old-messages", run_id=None, settings=settings, database=database,
        clock=FakeClock(NOW), now=NOW))
    database.dispose()
    return summary


def run_raw_delete(path: Path) -> None:
    cutoff = (NOW - timedelta(days=RETENTION_DAYS)).strftime(STORED_FORMAT)
    # The same busy timeout and foreign-key setting as the console's own connections.
    script = f"PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON; DELETE FROM messages WHERE created_at < '{cutoff}';"
    subprocess.run(["sqlite3", str(path), script], check=True, stdout=subprocess.DEVNULL)


def describe(waits: list[float]) -> str:
    ordered = sorted(waits)
    p99 = ordered[int(len(ordered) * 0.99) - 1] if ordered else 0.0
    return (f"{len(waits)} inserts, max wait {max(waits, default=0) * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, over 200 ms: {sum(wait >= WAIT_GOAL_SECONDS for wait in waits)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="messages in the database (default 1000000)")
    default_batch = int(Settings.model_fields["delete_batch_size"].default)
    parser.add_argument("--batch-size", type=int, default=default_batch,
                        help=f"rows deleted per transaction (default {default_batch}, CRON_DELETE_BATCH_SIZE)")
    parser.add_argument("--pause", type=float, default=queries.BATCH_PAUSE_SECONDS,
                        help=f"pause after each batch in seconds (default {queries.BATCH_PAUSE_SECONDS})")
    parser.add_argument("--folder", type=Path, help="where to build the databases (default: a temporary folder)")
    arguments = parser.parse_args()
    if shutil.which("sqlite3") is None:
        print("The sqlite3 command-line program is not on PATH; install it (Debian: apt-get install sqlite3).",
              file=sys.stderr)
        return 2

    folder = arguments.folder or Path(tempfile.mkdtemp(prefix="cron-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    job_copy, raw_copy = folder / "job.db", folder / "raw.db"
    for path in (job_copy, raw_copy):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    version = subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[0]
    print(f"machine: {os.cpu_count()} logical cores, {platform.machine()}, {platform.system()} {platform.release()}")
    print(f"SQLite: {sqlite3.sqlite_version} in Python {platform.python_version()}, sqlite3 program {version}")
    print(f"folder: {folder}")

    began = time.perf_counter()
    build(job_copy, arguments.rows)
    shutil.copyfile(job_copy, raw_copy)
    print(f"built {arguments.rows} messages in {time.perf_counter() - began:.1f} s "
          f"({job_copy.stat().st_size / 2**20:.0f} MB)")

    queries.BATCH_PAUSE_SECONDS = arguments.pause
    summary: dict[str, object] = {}

    def job() -> None:
        summary.update(run_job(job_copy, arguments.batch_size))

    job_seconds, job_waits = with_writer(job_copy, job)
    raw_seconds, raw_waits = with_writer(raw_copy, lambda: run_raw_delete(raw_copy))

    ratio = job_seconds / raw_seconds
    print(f"cleanup-old-messages (batch {arguments.batch_size}, pause {arguments.pause * 1000:.0f} ms): "
          f"{job_seconds:.2f} s, deleted {summary.get('deleted')} in {summary.get('batches')} batches")
    print(f"  writer during the job: {describe(job_waits)}")
    print(f"raw DELETE through sqlite3: {raw_seconds:.2f} s")
    print(f"  writer during the raw DELETE: {describe(raw_waits)}")
    print(f"ratio job / raw: {ratio:.2f} (goal at most {RATIO_GOAL})")
    job_ok = max(job_waits, default=0) < WAIT_GOAL_SECONDS
    print(f"goals: ratio {'met' if ratio <= RATIO_GOAL else 'NOT met'}, "
          f"writer wait under 200 ms during the job {'met' if job_ok else 'NOT met'}")
    if arguments.folder is None:
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
