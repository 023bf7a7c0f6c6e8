"""The summary of a cancelled or timed-out batched job counts exactly the rows that were committed.

A hook on SQLAlchemy's commit events runs in the job's worker thread right
after a chosen batch commits, and cancels the run from there. The tests then
compare the recorded counts with the rows left in the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from jobs.clock import FakeClock
from jobs.context import JobCancelled, JobContext
from jobs.credentials import cleanup_expired_credentials
from jobs.engine import Engine
from jobs.maintenance import cleanup_old_logs
from jobs.registry import JOBS_BY_ID
from jobs.sessions import check_inactive_sessions, cleanup_old_sessions, cleanup_sessions
from jobs.settings import Settings
from storage.db import Database
from storage.queries import APP_LOGS, CREDENTIALS, JOB_RUNS, MESSAGES, SESSIONS
from tests.conftest import DEFAULT_NOW
from tests.rows import (
    add_app_log,
    add_business,
    add_credential,
    add_job_run,
    add_message,
    add_session,
    count,
)

NOW = DEFAULT_NOW
MakeContext = Callable[..., JobContext]
# Only a safety net against a hang: the hook's waits end within milliseconds.
HOOK_WAIT_SECONDS = 30


@contextmanager
def after_committed_batch(database: Database, statement: str, table: str, batch: int,
                          action: Callable[[], None]) -> Iterator[list[int]]:
    """Call ``action`` right after the ``batch``-th commit of a ``statement`` (DELETE/UPDATE) on ``table``.

    ``action`` runs in the thread that committed, before the batch loop goes
    on. Yields the list of commit counts seen, for a check that the hook ran.
    """
    prefix = f"{statement} {table} " if statement == "UPDATE" else f"{statement} FROM {table} "
    changed = threading.local()
    seen: list[int] = []

    def mark(_connection: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.lstrip().upper().startswith(prefix.upper()):
            changed.pending = True

    def committed(_session: Session) -> None:
        if not getattr(changed, "pending", False):
            return
        changed.pending = False
        seen.append(len(seen) + 1)
        if len(seen) == batch:
            action()

    event.listen(database.engine, "after_cursor_execute", mark)
    event.listen(Session, "after_commit", committed)
    try:
        yield seen
    finally:
        event.remove(Session, "after_commit", committed)
        event.remove(database.engine, "after_cursor_execute", mark)


class _SettledHandler(logging.Handler):
    """Follow the engine's log: ``settled`` once it recorded the run or waits for the job's thread."""

    def __init__(self) -> None:
        super().__init__()
        self.settled = threading.Event()
        self.recorded = threading.Event()
        self.summary_fixed = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("Requested a stop of run"):
            self.settled.set()
        if " ended " in text:
            self.settled.set()
            self.recorded.set()
        if "after it was recorded" in text:
            self.summary_fixed.set()


@pytest.fixture
def settled_handler() -> Iterator[_SettledHandler]:
    handler = _SettledHandler()
    engine_logger = logging.getLogger("jobs.engine")
    engine_logger.addHandler(handler)
    yield handler
    engine_logger.removeHandler(handler)


def _engine(settings: Settings, database: Database, clock: FakeClock,
            cancel_wait_seconds: float = HOOK_WAIT_SECONDS) -> Engine:
    specs = (JOBS_BY_ID["cleanup-old-messages"], JOBS_BY_ID["cleanup-sessions"])
    run_settings = settings.model_copy(update={"enabled": False, "delete_batch_size": 5})
    return Engine(run_settings, database=database, clock=clock, specs=specs,
                  cancel_wait_seconds=cancel_wait_seconds)


def _add_old_messages(database: Database, total: int) -> None:
    session_id = add_session(database, add_business(database), status="active", last_activity_at=NOW)
    for index in range(total):
        add_message(database, session_id, created_at=NOW - timedelta(days=100, minutes=index))


async def test_stopped_message_cleanup_counts_committed_batch(
    settings: Settings, database: Database, clock: FakeClock, settled_handler: _SettledHandler
) -> None:
    _add_old_messages(database, 23)
    engine = _engine(settings, database, clock)
    await engine.start()
    loop = asyncio.get_running_loop()
    stopping: list[Any] = []

    def stop_and_wait() -> None:
        # The operator quits with "cancel" while the next batch would start.
        stopping.append(asyncio.run_coroutine_threadsafe(engine.stop(grace_seconds=0), loop))
        assert settled_handler.settled.wait(HOOK_WAIT_SECONDS), "the engine never reacted to the stop"

    with after_committed_batch(database, "DELETE", "messages", 2, stop_and_wait) as seen:
        record = await engine.start_job("cleanup-old-messages")
    await asyncio.wrap_future(stopping[0])

    assert seen == [1, 2], "the run was cancelled right after its second batch"
    assert record.status == "cancelled"
    assert count(database, MESSAGES) == 13, "two batches of 5 were committed"
    assert record.summary.get("deleted") == 10
    assert record.summary == {"examined": 23, "deleted": 10, "batches": 2}


async def test_summary_fixed_when_thread_ends_late(
    settings: Settings, database: Database, clock: FakeClock, settled_handler: _SettledHandler
) -> None:
    # With no wait after the stop, the run is recorded while its thread still
    # has a committed batch that no checkpoint has counted yet.
    _add_old_messages(database, 23)
    engine = _engine(settings, database, clock, cancel_wait_seconds=0)
    await engine.start()
    loop = asyncio.get_running_loop()
    stopping: list[Any] = []

    def stop_and_wait_for_record() -> None:
        stopping.append(asyncio.run_coroutine_threadsafe(engine.stop(grace_seconds=0), loop))
        assert settled_handler.recorded.wait(HOOK_WAIT_SECONDS), "the engine never recorded the run"

    with after_committed_batch(database, "DELETE", "messages", 2, stop_and_wait_for_record):
        record = await engine.start_job("cleanup-old-messages")
        fixed = await asyncio.to_thread(settled_handler.summary_fixed.wait, HOOK_WAIT_SECONDS)
    await asyncio.wrap_future(stopping[0])
    stored = await engine.history("cleanup-old-messages", limit=1)

    assert record.status == "cancelled"
    assert record.summary.get("deleted") == 5, "recorded before the thread counted its second batch"
    assert fixed, "the thread never rewrote the summary"
    assert count(database, MESSAGES) == 13
    assert stored[0].status == "cancelled"
    assert stored[0].summary == {"examined": 23, "deleted": 10, "batches": 2}


async def test_timed_out_session_cleanup_counts_committed_batch(
    settings: Settings, database: Database, clock: FakeClock, settled_handler: _SettledHandler
) -> None:
    business = add_business(database)
    old = NOW - timedelta(days=40)
    for _index in range(12):
        session_id = add_session(database, business, status="resolved", last_activity_at=old, resolved_at=old)
        add_message(database, session_id, created_at=old)
        add_message(database, session_id, created_at=old)
    engine = _engine(settings, database, clock)
    await engine.start()
    await engine.set_timeout("cleanup-sessions", 1, "ana")

    def wait_for_time_out() -> None:
        assert settled_handler.settled.wait(HOOK_WAIT_SECONDS), "the run never timed out"

    try:
        with after_committed_batch(database, "DELETE", "sessions", 1, wait_for_time_out):
            record = await engine.run_job("cleanup-sessions")
    finally:
        await engine.stop(grace_seconds=0)

    assert record.status == "timed_out"
    assert count(database, SESSIONS) == 7
    assert count(database, MESSAGES) == 14
    assert record.summary.get("deleted") == 5
    assert record.summary.get("deleted_messages") == 10
    assert record.summary == {"examined": 12, "deleted": 5, "deleted_messages": 10, "batches": 1}


def _cancel(context: JobContext) -> Callable[[], None]:
    return context.cancel_event.set


def test_cancelled_cleanup_sessions_progress(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    old = NOW - timedelta(days=40)
    for _index in range(7):
        session_id = add_session(database, business, status="resolved", last_activity_at=old, resolved_at=old)
        add_message(database, session_id, created_at=old)
    context = make_context("cleanup-sessions", delete_batch_size=3)

    with after_committed_batch(database, "DELETE", "sessions", 1, _cancel(context)), pytest.raises(JobCancelled):
        cleanup_sessions(context)

    assert count(database, SESSIONS) == 4
    assert count(database, MESSAGES) == 4
    assert context.progress.get("deleted_messages") == 3
    assert context.progress == {"examined": 7, "deleted": 3, "deleted_messages": 3, "batches": 1}


def test_cancelled_cleanup_old_sessions_progress(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    old = NOW - timedelta(days=200)
    for _index in range(7):
        session_id = add_session(database, business, status="abandoned", last_activity_at=old)
        add_message(database, session_id, created_at=old)
    context = make_context("cleanup-old-sessions", delete_batch_size=3)

    with after_committed_batch(database, "DELETE", "sessions", 2, _cancel(context)), pytest.raises(JobCancelled):
        cleanup_old_sessions(context)

    assert count(database, SESSIONS) == 1
    assert count(database, MESSAGES) == 1
    assert context.progress.get("deleted_messages") == 6
    assert context.progress == {"examined": 7, "deleted": 6, "deleted_messages": 6, "batches": 2}


def test_cancelled_status_change_progress(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    for _index in range(7):
        add_session(database, business, status="active", last_activity_at=NOW - timedelta(days=3))
    context = make_context("check-inactive-sessions", delete_batch_size=3)

    with after_committed_batch(database, "UPDATE", "sessions", 1, _cancel(context)), pytest.raises(JobCancelled):
        check_inactive_sessions(context)

    assert count(database, SESSIONS, SESSIONS.c.status == "inactive") == 3
    assert context.progress == {"examined": 7, "changed": 3, "batches": 1}


def test_cancelled_cleanup_old_logs_keeps_first_table(database: Database, make_context: MakeContext) -> None:
    # The app_logs loop ends with a short batch; the cancel comes in the job_runs loop.
    for index in range(7):
        add_app_log(database, created_at=NOW - timedelta(days=100, minutes=index))
        add_job_run(database, job_id="backup-data", started_at=NOW - timedelta(days=200, minutes=index))
    context = make_context("cleanup-old-logs", delete_batch_size=3)

    with after_committed_batch(database, "DELETE", "job_runs", 1, _cancel(context)), pytest.raises(JobCancelled):
        cleanup_old_logs(context)

    assert count(database, APP_LOGS) == 0
    assert count(database, JOB_RUNS) == 4
    assert context.progress.get("deleted_app_logs") == 7
    assert context.progress.get("deleted_job_runs") == 3
    assert context.progress == {
        "deleted_app_logs": 7, "deleted_job_runs": 3, "deleted_log_files": 0, "deleted_log_bytes": 0,
        "batches": 4,
    }


def test_cancelled_credential_cleanup_keeps_expired(database: Database, make_context: MakeContext) -> None:
    # Four credentials to mark expired (batches of 3 and 1), then four old secrets to erase.
    business = add_business(database)
    for index in range(4):
        add_credential(database, business, secret=f"demo-meta-expiring-{index}", expires_at=NOW - timedelta(hours=1))
        add_credential(database, business, secret=f"demo-meta-expired-{index}", status="expired",
                       expires_at=NOW - timedelta(days=30))
    context = make_context("cleanup-expired-credentials", delete_batch_size=3)

    with after_committed_batch(database, "UPDATE", "credentials", 3, _cancel(context)), \
            pytest.raises(JobCancelled):
        cleanup_expired_credentials(context)

    assert count(database, CREDENTIALS, CREDENTIALS.c.status == "expired") == 8
    assert count(database, CREDENTIALS, CREDENTIALS.c.secret.is_(None)) == 3
    assert context.progress.get("expired") == 4
    assert context.progress.get("erased") == 3
    assert context.progress == {"expired": 4, "erased": 3, "alerts": 0}
