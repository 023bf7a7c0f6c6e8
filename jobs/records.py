"""Snapshots the engine hands to its callers, and the database work behind job runs.

The functions here are synchronous and take the ``Database``. The engine runs
them in worker threads, so the event loop never waits on the database.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.db import Database, from_db, to_db
from storage.models import Alert, Instance, JobRun, JobSetting, JobSettingChange

# An instance whose heartbeat is older than this is taken for dead.
INSTANCE_STALE_AFTER = timedelta(minutes=5)
# How many recent finished runs make up a job's success rate.
SUCCESS_RATE_WINDOW = 20
FINISHED_STATUSES = ("succeeded", "failed", "timed_out", "cancelled", "interrupted")


@dataclass(frozen=True)
class RunRecord:
    """One row of ``job_runs`` with aware UTC times and a decoded summary."""

    id: int
    job_id: str
    trigger: str
    status: str
    dry_run: bool
    started_at: datetime
    scheduled_at: datetime | None = None
    finished_at: datetime | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    requested_by: str | None = None
    instance_id: str = ""
    log: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def from_row(cls, row: JobRun) -> RunRecord:
        assert row.id is not None
        started = from_db(row.started_at)
        assert started is not None
        return cls(
            id=row.id,
            job_id=row.job_id,
            trigger=row.trigger,
            status=row.status,
            dry_run=row.dry_run,
            started_at=started,
            scheduled_at=from_db(row.scheduled_at),
            finished_at=from_db(row.finished_at),
            summary=json.loads(row.summary) if row.summary else {},
            error=row.error,
            requested_by=row.requested_by,
            instance_id=row.instance_id,
            log=row.log,
        )


@dataclass(frozen=True)
class AlertRecord:
    id: int
    kind: str
    severity: str
    message: str
    job_id: str | None
    created_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None

    @classmethod
    def from_row(cls, row: Alert) -> AlertRecord:
        assert row.id is not None
        created = from_db(row.created_at)
        assert created is not None
        return cls(row.id, row.kind, row.severity, row.message, row.job_id, created,
                   from_db(row.acknowledged_at), row.acknowledged_by)


@dataclass(frozen=True)
class ProcessIdentity:
    instance_id: str
    host: str
    pid: int


# --- Runs -------------------------------------------------------------------


def claim_run(database: Database, *, identity: ProcessIdentity, job_id: str, trigger: str,
              scheduled_at: datetime | None, started_at: datetime, dry_run: bool,
              requested_by: str | None, status: str = "running",
              summary: dict[str, Any] | None = None, error: str | None = None) -> RunRecord | None:
    """Insert a run row; return None when another process already claimed this firing.

    The unique ``(job_id, scheduled_at)`` constraint makes the insert the
    claim: of several instances sharing the database, one wins each firing.
    """
    row = JobRun(
        job_id=job_id, scheduled_at=to_db(scheduled_at), trigger=trigger,
        instance_id=identity.instance_id, host=identity.host, pid=identity.pid,
        requested_by=requested_by, started_at=to_db(started_at), status=status, dry_run=dry_run,
        summary=json.dumps(summary, default=str) if summary is not None else None, error=error,
        finished_at=to_db(started_at) if status != "running" else None,
    )
    try:
        with database.session() as session:
            session.add(row)
            session.flush()
            session.refresh(row)
            return RunRecord.from_row(row)
    except IntegrityError:
        return None


def finish_run(database: Database, run_id: int, *, status: str, finished_at: datetime,
               summary: dict[str, Any] | None, error: str | None, log: str | None) -> RunRecord:
    with database.session() as session:
        row = session.get(JobRun, run_id)
        assert row is not None, f"job run {run_id} vanished"
        row.status = status
        row.finished_at = to_db(finished_at)
        row.summary = json.dumps(summary or {}, default=str)
        row.error = error
        row.log = log or None
        session.add(row)
        session.flush()
        return RunRecord.from_row(row)


def update_run_summary(database: Database, run_id: int, summary: dict[str, Any]) -> None:
    """Replace the summary of a run that is already recorded, keeping its status and error."""
    with database.session() as session:
        row = session.get(JobRun, run_id)
        assert row is not None, f"job run {run_id} vanished"
        row.summary = json.dumps(summary, default=str)
        session.add(row)


def _process_alive(identity: ProcessIdentity, host: str, pid: int) -> bool:
    return host == identity.host and (pid == identity.pid or psutil.pid_exists(pid))


def live_hosts_and_pids(database: Database, *, now: datetime) -> set[tuple[str, int]]:
    """Return (host, pid) of instances whose heartbeat is recent and that have not stopped."""
    with database.session() as session:
        rows = session.exec(
            select(Instance.host, Instance.pid).where(
                col(Instance.stopped_at).is_(None),
                col(Instance.last_seen_at) >= to_db(now - INSTANCE_STALE_AFTER),
            )
        ).all()
    return {(host, pid) for host, pid in rows}


def find_other_live_run(database: Database, *, identity: ProcessIdentity, job_id: str,
                        own_run_id: int, now: datetime) -> RunRecord | None:
    """Return a run of ``job_id`` still in progress in another live process, if any."""
    with database.session() as session:
        rows = session.exec(
            select(JobRun).where(JobRun.job_id == job_id, JobRun.status == "running", JobRun.id != own_run_id)
        ).all()
    if not rows:
        return None
    live = live_hosts_and_pids(database, now=now)
    for row in rows:
        if row.host == identity.host:
            if row.pid != identity.pid and psutil.pid_exists(row.pid):
                return RunRecord.from_row(row)
        elif (row.host, row.pid) in live:
            return RunRecord.from_row(row)
    return None


def mark_interrupted(database: Database, *, identity: ProcessIdentity, now: datetime, message: str) -> list[int]:
    """Turn ``running`` rows of processes that no longer exist into ``interrupted``; return their ids."""
    live = live_hosts_and_pids(database, now=now)
    with database.session() as session:
        rows = session.exec(select(JobRun).where(JobRun.status == "running")).all()
        stale = [
            row for row in rows
            if not (_process_alive(identity, row.host, row.pid) and row.pid != identity.pid)
            and (row.host == identity.host or (row.host, row.pid) not in live)
        ]
        for row in stale:
            row.status = "interrupted"
            row.finished_at = to_db(now)
            row.error = message
            session.add(row)
        return [row.id for row in stale if row.id is not None]


def recent_runs(database: Database, *, job_id: str, limit: int) -> list[RunRecord]:
    with database.session() as session:
        rows = session.exec(
            select(JobRun).where(JobRun.job_id == job_id)
            .order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc()).limit(limit)
        ).all()
        return [RunRecord.from_row(row) for row in rows]


def latest_runs(database: Database, *, job_ids: list[str]) -> dict[str, tuple[RunRecord | None, list[str], RunRecord | None]]:
    """For each job: its latest finished run, recent finished statuses (newest first) and a run in progress."""
    result: dict[str, tuple[RunRecord | None, list[str], RunRecord | None]] = {}
    with database.session() as session:
        for job_id in job_ids:
            finished = session.exec(
                select(JobRun).where(JobRun.job_id == job_id, col(JobRun.status).in_(FINISHED_STATUSES),
                                     col(JobRun.dry_run).is_(False))
                .order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc()).limit(SUCCESS_RATE_WINDOW)
            ).all()
            running = session.exec(
                select(JobRun).where(JobRun.job_id == job_id, JobRun.status == "running")
                .order_by(col(JobRun.started_at).desc()).limit(1)
            ).first()
            result[job_id] = (
                RunRecord.from_row(finished[0]) if finished else None,
                [row.status for row in finished],
                RunRecord.from_row(running) if running else None,
            )
    return result


def has_run_for(database: Database, *, job_id: str, scheduled_at: datetime) -> bool:
    with database.session() as session:
        count = session.exec(
            select(func.count()).select_from(JobRun).where(
                JobRun.job_id == job_id, JobRun.scheduled_at == to_db(scheduled_at))
        ).one()
    return bool(count)


# --- Instances --------------------------------------------------------------


def register_instance(database: Database, *, identity: ProcessIdentity, now: datetime) -> tuple[int, datetime | None]:
    """Record this process as an instance; return its row id and the last heartbeat seen before it."""
    with database.session() as session:
        last_seen = session.exec(select(func.max(Instance.last_seen_at))).one()
        row = Instance(instance_id=identity.instance_id, host=identity.host, pid=identity.pid,
                       started_at=to_db(now), last_seen_at=to_db(now))
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id, from_db(last_seen)


def heartbeat(database: Database, *, row_id: int, now: datetime, stopped: bool = False) -> None:
    values: dict[str, Any] = {"last_seen_at": to_db(now)}
    if stopped:
        values["stopped_at"] = to_db(now)
    with database.session() as session:
        session.execute(update(Instance).where(col(Instance.id) == row_id).values(**values))


# --- Settings and alerts ----------------------------------------------------


def load_job_settings(database: Database) -> dict[str, JobSetting]:
    with database.session() as session:
        return {row.job_id: row for row in session.exec(select(JobSetting)).all()}


def save_job_setting(database: Database, *, job_id: str, field_name: str, old_value: str | None,
                     new_value: str | None, changed_by: str, now: datetime, **values: Any) -> None:
    """Update the job's ``job_settings`` row and append the change to the audit table, in one transaction."""
    with database.session() as session:
        row = session.get(JobSetting, job_id) or JobSetting(job_id=job_id)
        for name, value in values.items():
            setattr(row, name, value)
        row.changed_by = changed_by
        row.changed_at = to_db(now)
        session.add(row)
        session.add(JobSettingChange(job_id=job_id, field=field_name, old_value=old_value,
                                     new_value=new_value, changed_by=changed_by, changed_at=to_db(now)))


def setting_changes(database: Database, *, job_id: str, limit: int = 50) -> list[JobSettingChange]:
    with database.session() as session:
        return list(session.exec(
            select(JobSettingChange).where(JobSettingChange.job_id == job_id)
            .order_by(col(JobSettingChange.changed_at).desc(), col(JobSettingChange.id).desc()).limit(limit)
        ).all())


def insert_alert(database: Database, *, kind: str, severity: str, message: str, job_id: str | None,
                 run_id: int | None, now: datetime) -> tuple[AlertRecord, bool]:
    """Store an alert unless the same one (job, kind and message) is still open.

    Returns the alert and whether it is new, so a check that finds the same
    problem every 30 minutes does not bury the operator in copies.
    """
    with database.session() as session:
        existing = session.exec(
            select(Alert).where(Alert.job_id == job_id, Alert.kind == kind, Alert.message == message,
                                col(Alert.acknowledged_at).is_(None)).limit(1)
        ).first()
        if existing is not None:
            return AlertRecord.from_row(existing), False
        row = Alert(kind=kind, severity=severity, message=message, job_id=job_id, run_id=run_id,
                    created_at=to_db(now))
        session.add(row)
        session.flush()
        return AlertRecord.from_row(row), True


def list_alerts(database: Database, *, include_acknowledged: bool = False, limit: int = 200) -> list[AlertRecord]:
    with database.session() as session:
        query = select(Alert)
        if not include_acknowledged:
            query = query.where(col(Alert.acknowledged_at).is_(None))
        rows = session.exec(query.order_by(col(Alert.created_at).desc(), col(Alert.id).desc()).limit(limit)).all()
        return [AlertRecord.from_row(row) for row in rows]


def acknowledge_alerts(database: Database, *, alert_ids: list[int], by: str, now: datetime) -> int:
    with database.session() as session:
        result = session.execute(
            update(Alert).where(col(Alert.id).in_(alert_ids), or_(col(Alert.acknowledged_at).is_(None)))
            .values(acknowledged_at=to_db(now), acknowledged_by=by)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def current_process(instance_id: str) -> ProcessIdentity:
    import socket

    return ProcessIdentity(instance_id=instance_id, host=socket.gethostname(), pid=os.getpid())
