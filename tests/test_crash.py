"""A cleanup killed with SIGKILL mid-way loses nothing it should keep, and a rerun finishes the work."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from jobs.clock import FakeClock
from jobs.context import JobContext
from jobs.messages import cleanup_old_messages
from jobs.settings import Settings
from storage.db import Database, to_db
from storage.queries import MESSAGES, messages_before
from tests.conftest import DEFAULT_NOW
from tests.rows import add_business, add_session, count, ids

NOW = DEFAULT_NOW
OLD_ROWS = 300
BATCH_SIZE = 5
POLL_DEADLINE_SECONDS = 60

CHILD = textwrap.dedent("""
    import sys
    from datetime import datetime
    import storage.queries
    from jobs.clock import FakeClock
    from jobs.context import JobContext
    from jobs.messages import cleanup_old_messages
    from jobs.settings import Settings
    from storage.db import Database

    # A long pause between batches keeps the run going long enough to be killed mid-way.
    storage.queries.BATCH_PAUSE_SECONDS = 0.05
    url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    settings = Settings(_env_file=None, database_url=url, delete_batch_size=int(sys.argv[3]))
    database = Database(url)
    cleanup_old_messages(JobContext(job_id="cleanup-old-messages", run_id=None, settings=settings,
                                    database=database, clock=FakeClock(now), now=now))
""")


def test_killed_cleanup_then_rerun(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    database = Database(url)
    database.create_schema()
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    cutoff = NOW - timedelta(days=90)
    with database.session() as session:
        session.connection().execute(insert(MESSAGES), [
            {"session_id": session_id, "direction": "inbound", "body": f"old {index}", "status": "processed",
             "created_at": to_db(cutoff - timedelta(seconds=index + 1))} for index in range(OLD_ROWS)])
        session.connection().execute(insert(MESSAGES), [
            {"session_id": session_id, "direction": "inbound", "body": f"kept {index}", "status": "processed",
             "created_at": to_db(cutoff + timedelta(seconds=index))} for index in range(50)])
    old = messages_before(cutoff)
    kept = ids(database, MESSAGES, ~old)
    assert len(kept) == 50

    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, NOW.isoformat(), str(BATCH_SIZE)],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + POLL_DEADLINE_SECONDS
    remaining = OLD_ROWS
    try:
        # Poll until some batches committed but not all, then kill at once.
        while time.monotonic() < deadline and child.poll() is None:
            remaining = count(database, MESSAGES, old)
            if remaining <= OLD_ROWS - 4 * BATCH_SIZE:
                break
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
    finally:
        _stdout, stderr = child.communicate()
    assert child.returncode == -signal.SIGKILL, stderr.decode()

    after_kill = count(database, MESSAGES, old)
    assert 0 < after_kill < OLD_ROWS
    assert ids(database, MESSAGES, ~old) == kept
    check = sqlite3.connect(tmp_path / "crash.db")
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()

    rerun = cleanup_old_messages(JobContext(
        job_id="cleanup-old-messages", run_id=None,
        settings=Settings(_env_file=None, database_url=url, delete_batch_size=BATCH_SIZE),  # type: ignore[call-arg]
        database=database, clock=FakeClock(NOW), now=NOW))

    assert rerun["deleted"] == after_kill
    assert count(database, MESSAGES, old) == 0
    assert ids(database, MESSAGES) == kept
    database.dispose()
