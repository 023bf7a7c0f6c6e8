"""The queries the jobs run, and the batched delete and update that the cleanup jobs share.

Filters are built from the Core tables below with bound parameters only, so
the same statement runs on SQLite and PostgreSQL. Functions that run a query
take the session as the keyword argument ``session``. Cut-offs are aware
datetimes, normalised with :func:`storage.db.to_db`. "Older than a cut-off"
always means strictly before it: a row stamped exactly at the cut-off is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Table,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlmodel import Session, SQLModel

from storage.db import Database, to_db

logger = logging.getLogger(__name__)

SESSIONS: Table = SQLModel.metadata.tables["sessions"]
MESSAGES: Table = SQLModel.metadata.tables["messages"]
RESERVATIONS: Table = SQLModel.metadata.tables["reservations"]
CREDENTIALS: Table = SQLModel.metadata.tables["credentials"]
APP_LOGS: Table = SQLModel.metadata.tables["app_logs"]
BUSINESSES: Table = SQLModel.metadata.tables["businesses"]
JOB_RUNS: Table = SQLModel.metadata.tables["job_runs"]
REPORTS: Table = SQLModel.metadata.tables["reports"]

# Pause after each committed batch, in seconds, so that a writer waiting for
# SQLite's single write lock (the agent server inserts every few ms) can take
# it before the next batch does. Measured with bench/cleanup.py (2 cores,
# SQLite 3.40.1, 500 000 of 1 000 000 messages deleted in batches of 10 000),
# a writer inserting every 10 ms waited at most 109 ms with no pause. With a
# 2 ms pause the maximum was 64 and 109 ms in two runs, and with 5 ms it was
# 62 and 86 ms. Each pause
# adds to the clean-up's duration (50 x 2 ms of about 3.3 s here), and a
# longer pause pushed the ratio to a raw DELETE close to 1.5.
BATCH_PAUSE_SECONDS = 0.002

# Ids per ``IN (...)`` list. Older SQLite builds accept at most 999 bound
# parameters per statement, and delete_batch_size may be far larger.
IN_LIST_CHUNK = 500

Condition = ColumnElement[bool]


@dataclass
class BatchProgress:
    """Running totals of a batched delete or update."""

    rows: int = 0  # rows of the main table deleted or updated
    child_rows: int = 0  # rows of child tables deleted before their parents
    batches: int = 0  # committed transactions


# Hooks of a batched change: ``between_batches`` runs before each batch and
# may raise to stop the work, ``after_batch`` runs after each commit with the
# totals that include the batch just committed.
BetweenBatches = Callable[[BatchProgress], None]


def _execute(session: Session, statement: Executable) -> CursorResult[*tuple[Any, ...]]:
    # Core statements run on the session's connection, inside its transaction.
    # sqlmodel's Session.exec() is typed for its own select() only.
    return session.connection().execute(statement)


# --- Filters ----------------------------------------------------------------


def resolved_sessions_before(cutoff: datetime) -> Condition:
    """Sessions in ``resolved`` whose ``resolved_at`` is older than ``cutoff``."""
    return (SESSIONS.c.status == "resolved") & (SESSIONS.c.resolved_at < to_db(cutoff))


def idle_sessions(statuses: Sequence[str], cutoff: datetime) -> Condition:
    """Sessions in one of ``statuses`` whose last activity is older than ``cutoff``."""
    return SESSIONS.c.status.in_(list(statuses)) & (SESSIONS.c.last_activity_at < to_db(cutoff))


def old_sessions_before(cutoff: datetime) -> Condition:
    """Sessions that are not ``active`` and whose last activity is older than ``cutoff``."""
    return (SESSIONS.c.status != "active") & (SESSIONS.c.last_activity_at < to_db(cutoff))


def error_sessions(threshold: int) -> Condition:
    """Sessions in ``error``, or with at least ``threshold`` errors whatever their status."""
    return or_(SESSIONS.c.status == "error", SESSIONS.c.error_count >= threshold)


def messages_before(cutoff: datetime) -> Condition:
    return MESSAGES.c.created_at < to_db(cutoff)


def unprocessed_messages(cutoff: datetime) -> Condition:
    """Inbound messages still ``received`` that arrived before ``cutoff``."""
    return (
        (MESSAGES.c.direction == "inbound")
        & (MESSAGES.c.status == "received")
        & (MESSAGES.c.created_at < to_db(cutoff))
    )


def app_logs_before(cutoff: datetime) -> Condition:
    return APP_LOGS.c.created_at < to_db(cutoff)


def finished_job_runs_before(cutoff: datetime) -> Condition:
    """Job runs started before ``cutoff``, except those still ``running``."""
    return (JOB_RUNS.c.started_at < to_db(cutoff)) & (JOB_RUNS.c.status != "running")


def credentials_past_expiry(now: datetime) -> Condition:
    """Credentials whose ``expires_at`` has passed and whose status does not say so yet."""
    return (
        CREDENTIALS.c.expires_at.is_not(None)
        & (CREDENTIALS.c.expires_at < to_db(now))
        & (CREDENTIALS.c.status != "expired")
    )


def credentials_with_secret_expired_before(cutoff: datetime) -> Condition:
    """Credentials that expired before ``cutoff`` and still store a secret."""
    return (
        CREDENTIALS.c.secret.is_not(None)
        & CREDENTIALS.c.expires_at.is_not(None)
        & (CREDENTIALS.c.expires_at < to_db(cutoff))
    )


# --- Reads ------------------------------------------------------------------


def count_rows(table: Table, where: Condition, *, session: Session) -> int:
    """Count the rows of ``table`` that match ``where``."""
    statement = select(func.count()).select_from(table).where(where)
    return int(_execute(session, statement).scalar_one())


def count_session_messages(where: Condition, *, session: Session) -> int:
    """Count the messages that belong to the sessions matching ``where``."""
    matching = select(SESSIONS.c.id).where(where)
    statement = select(func.count()).select_from(MESSAGES).where(MESSAGES.c.session_id.in_(matching))
    return int(_execute(session, statement).scalar_one())


@dataclass(frozen=True)
class ErrorGroup:
    """Sessions in error of one business that share one last error."""

    business_id: int
    business_name: str
    last_error: str | None
    sessions: int


def error_session_groups(threshold: int, *, session: Session) -> list[ErrorGroup]:
    """Group the sessions in error by business and last error, largest groups first."""
    statement = (
        select(
            SESSIONS.c.business_id,
            BUSINESSES.c.name,
            SESSIONS.c.last_error,
            func.count().label("sessions"),
        )
        .select_from(SESSIONS.join(BUSINESSES, BUSINESSES.c.id == SESSIONS.c.business_id))
        .where(error_sessions(threshold))
        .group_by(SESSIONS.c.business_id, BUSINESSES.c.name, SESSIONS.c.last_error)
        .order_by(func.count().desc(), SESSIONS.c.business_id, SESSIONS.c.last_error)
    )
    return [
        ErrorGroup(int(row[0]), str(row[1]), row[2], int(row[3]))
        for row in _execute(session, statement).all()
    ]


@dataclass(frozen=True)
class UnprocessedSession:
    """A session with inbound messages still waiting, and the oldest of them."""

    session_id: int
    business_id: int
    messages: int
    oldest_at: datetime  # naive UTC, as stored


def unprocessed_message_sessions(cutoff: datetime, *, session: Session) -> list[UnprocessedSession]:
    """List the sessions that have unprocessed inbound messages, oldest waiting first."""
    oldest = func.min(MESSAGES.c.created_at)
    statement = (
        select(MESSAGES.c.session_id, SESSIONS.c.business_id, func.count(), oldest)
        .select_from(MESSAGES.join(SESSIONS, SESSIONS.c.id == MESSAGES.c.session_id))
        .where(unprocessed_messages(cutoff))
        .group_by(MESSAGES.c.session_id, SESSIONS.c.business_id)
        .order_by(oldest, MESSAGES.c.session_id)
    )
    return [
        UnprocessedSession(int(row[0]), int(row[1]), int(row[2]), row[3])
        for row in _execute(session, statement).all()
    ]


def count_by(table: Table, column: str, where: Condition, *, session: Session) -> dict[str, int]:
    """Count the rows matching ``where`` per value of ``column``."""
    key = table.c[column]
    statement = select(key, func.count()).select_from(table).where(where).group_by(key)
    return {str(row[0]): int(row[1]) for row in _execute(session, statement).all()}


def table_row_counts(tables: Sequence[Table], *, session: Session) -> dict[str, int]:
    """Count every row of each table, keyed by table name."""
    counts = {}
    for table in tables:
        counts[table.name] = int(_execute(session, select(func.count()).select_from(table)).scalar_one())
    return counts


# --- Batched changes --------------------------------------------------------


def _id_chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[start:start + IN_LIST_CHUNK]) for start in range(0, len(ids), IN_LIST_CHUNK)]


def _select_batch(
    table: Table, where: Condition, order_by: Sequence[ColumnElement[Any]], batch_size: int, *, session: Session
) -> list[int]:
    # FOR UPDATE locks the chosen rows on PostgreSQL until the batch commits, so
    # the agent cannot change them between this select and the delete. SQLite
    # ignores the clause, and there the delete re-applies the filter under the
    # write lock instead.
    statement = (
        select(table.c.id).where(where).order_by(*order_by, table.c.id).limit(batch_size).with_for_update()
    )
    return [int(row[0]) for row in _execute(session, statement).all()]


def _run_batches(
    database: Database,
    table: Table,
    where: Condition,
    apply: Callable[[Session, list[int]], tuple[int, int]],
    *,
    order_by: Sequence[ColumnElement[Any]],
    batch_size: int,
    between_batches: BetweenBatches | None,
    after_batch: BetweenBatches | None,
    pause_seconds: float | None,
) -> BatchProgress:
    pause = BATCH_PAUSE_SECONDS if pause_seconds is None else pause_seconds
    progress = BatchProgress()
    previous: list[int] = []
    while True:
        if between_batches is not None:
            between_batches(progress)
        with database.session() as session:
            ids = _select_batch(table, where, order_by, batch_size, session=session)
            changed, child_rows = apply(session, ids) if ids else (0, 0)
        if not ids:
            break
        # Counted only once the batch has committed: a batch that fails adds nothing.
        progress.rows += changed
        progress.child_rows += child_rows
        progress.batches += 1
        if after_batch is not None:
            after_batch(progress)
        if changed == 0 and ids == previous:
            # The same rows were selected again and none of them changed: the
            # change does not take them out of the filter. Stop rather than loop.
            logger.warning("Batch on %s changed none of %s selected rows twice; stopping", table.name, len(ids))
            break
        previous = ids
        if len(ids) < batch_size:
            break
        if pause > 0:
            time.sleep(pause)
    return progress


def delete_in_batches(
    database: Database,
    table: Table,
    where: Condition,
    *,
    order_by: Sequence[ColumnElement[Any]],
    batch_size: int,
    children: Sequence[tuple[Table, str]] = (),
    between_batches: BetweenBatches | None = None,
    after_batch: BetweenBatches | None = None,
    pause_seconds: float | None = None,
) -> BatchProgress:
    """Delete the rows of ``table`` matching ``where``, ``batch_size`` rows per transaction.

    Each batch selects the ids of the first ``batch_size`` matching rows in
    ``order_by`` order (then by id), deletes the rows of each ``children``
    table whose foreign-key column (named in the pair) points at them, then the
    rows themselves, and commits. Both deletes re-apply ``where``, so a row that
    stopped matching after the select is kept. ``order_by`` should be the
    indexed column of the filter: each batch then reads ``batch_size`` index
    entries, where ``ORDER BY id`` alone could sort every matching row per batch.

    ``between_batches`` runs before every batch and may raise to stop the work
    (a job passes its cancellation check). ``after_batch`` runs right after
    each commit with the totals so far, so a caller can keep a count of what
    is committed that stays exact when a later batch fails or is cancelled.
    After a batch commits the function sleeps ``pause_seconds`` (default :data:`BATCH_PAUSE_SECONDS`, read at
    call time) so that other writers get the database. A crash
    loses at most the batch in flight, and calling again finishes the work.
    """

    if not children:
        return _delete_without_children(
            database, table, where, order_by=order_by, batch_size=batch_size,
            between_batches=between_batches, after_batch=after_batch, pause_seconds=pause_seconds,
        )

    def apply(session: Session, ids: list[int]) -> tuple[int, int]:
        deleted = 0
        child_rows = 0
        for chunk in _id_chunks(ids):
            still_matching = select(table.c.id).where(table.c.id.in_(chunk), where)
            for child, foreign_key in children:
                result = _execute(session, delete(child).where(child.c[foreign_key].in_(still_matching)))
                child_rows += result.rowcount
            result = _execute(session, delete(table).where(table.c.id.in_(chunk), where))
            deleted += result.rowcount
        return deleted, child_rows

    return _run_batches(
        database, table, where, apply, order_by=order_by, batch_size=batch_size,
        between_batches=between_batches, after_batch=after_batch, pause_seconds=pause_seconds,
    )


def _delete_without_children(
    database: Database,
    table: Table,
    where: Condition,
    *,
    order_by: Sequence[ColumnElement[Any]],
    batch_size: int,
    between_batches: BetweenBatches | None,
    after_batch: BetweenBatches | None,
    pause_seconds: float | None,
) -> BatchProgress:
    # One statement per batch, DELETE ... WHERE id IN (SELECT id ... LIMIT n):
    # the ids never travel to Python, which makes a batch about twice as fast
    # as select-then-delete. The outer filter makes PostgreSQL re-check a row
    # that another transaction changed meanwhile.
    pause = BATCH_PAUSE_SECONDS if pause_seconds is None else pause_seconds
    progress = BatchProgress()
    batch = select(table.c.id).where(where).order_by(*order_by, table.c.id).limit(batch_size)
    statement = delete(table).where(table.c.id.in_(batch.scalar_subquery()), where)
    while True:
        if between_batches is not None:
            between_batches(progress)
        with database.session() as session:
            deleted = _execute(session, statement).rowcount
        if deleted == 0:
            break
        progress.rows += deleted
        progress.batches += 1
        if after_batch is not None:
            after_batch(progress)
        if deleted < batch_size:
            break
        if pause > 0:
            time.sleep(pause)
    return progress


def update_in_batches(
    database: Database,
    table: Table,
    where: Condition,
    values: Mapping[str, Any],
    *,
    order_by: Sequence[ColumnElement[Any]],
    batch_size: int,
    between_batches: BetweenBatches | None = None,
    after_batch: BetweenBatches | None = None,
    pause_seconds: float | None = None,
) -> BatchProgress:
    """Set ``values`` on the rows matching ``where``, ``batch_size`` rows per transaction.

    The new values must take a row out of ``where`` (for example a status
    change), because each batch selects the next matching rows. Batches,
    ordering, re-checking, hooks and pauses work as in :func:`delete_in_batches`.
    """

    def apply(session: Session, ids: list[int]) -> tuple[int, int]:
        updated = 0
        for chunk in _id_chunks(ids):
            result = _execute(session, update(table).where(table.c.id.in_(chunk), where).values(dict(values)))
            updated += result.rowcount
        return updated, 0

    return _run_batches(
        database, table, where, apply, order_by=order_by, batch_size=batch_size,
        between_batches=between_batches, after_batch=after_batch, pause_seconds=pause_seconds,
    )


def batches_needed(rows: int, batch_size: int) -> int:
    """Return how many transactions a batched change of ``rows`` rows commits (what a dry run reports)."""
    return -(-rows // batch_size) if rows else 0
