"""Row builders for the job tests: each inserts one row with sensible defaults and returns its id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlmodel import select as model_select

from storage.db import Database, to_db
from storage.models import Alert
from storage.queries import (
    APP_LOGS,
    BUSINESSES,
    CREDENTIALS,
    JOB_RUNS,
    MESSAGES,
    RESERVATIONS,
    SESSIONS,
)


def _insert(database: Database, table: Table, values: dict[str, Any]) -> int:
    with database.session() as session:
        result = session.connection().execute(insert(table).values(values).returning(table.c.id))
        return int(result.scalar_one())


def _times(values: dict[str, Any]) -> dict[str, Any]:
    return {key: to_db(value) if isinstance(value, datetime) else value for key, value in values.items()}


def add_business(database: Database, name: str = "Restaurant Casa Veche", **values: Any) -> int:
    return _insert(database, BUSINESSES, {"name": name, "timezone": "Europe/Bucharest", "language": "ro",
                                          "reminders_enabled": True, **values})


def add_session(database: Database, business_id: int, *, status: str, last_activity_at: datetime,
                **values: Any) -> int:
    row = {"business_id": business_id, "channel": "whatsapp", "customer_phone": "+40722000000",
           "status": status, "created_at": last_activity_at, "last_activity_at": last_activity_at,
           "error_count": 0, **values}
    return _insert(database, SESSIONS, _times(row))


def add_message(database: Database, session_id: int, *, created_at: datetime, **values: Any) -> int:
    row = {"session_id": session_id, "direction": "inbound", "body": "Bună ziua", "status": "processed",
           "created_at": created_at, **values}
    return _insert(database, MESSAGES, _times(row))


def add_reservation(database: Database, business_id: int, *, starts_at: datetime, **values: Any) -> int:
    row = {"business_id": business_id, "customer_name": "Ana Pop", "customer_phone": "+40722000001",
           "channel": "whatsapp", "starts_at": starts_at, "party_size": 2, "status": "confirmed",
           "reminder_attempts": 0, **values}
    return _insert(database, RESERVATIONS, _times(row))


def add_credential(database: Database, business_id: int, **values: Any) -> int:
    row = {"business_id": business_id, "provider": "meta", "account_ref": "105556667778889",
           "secret": "demo-meta-valid-1", "status": "valid", **values}
    return _insert(database, CREDENTIALS, _times(row))


def add_app_log(database: Database, *, created_at: datetime, **values: Any) -> int:
    row = {"level": "INFO", "source": "agent", "message": "webhook received", "created_at": created_at, **values}
    return _insert(database, APP_LOGS, _times(row))


def add_job_run(database: Database, *, job_id: str, started_at: datetime, status: str = "succeeded",
                **values: Any) -> int:
    row = {"job_id": job_id, "trigger": "manual", "instance_id": "test", "host": "test", "pid": 1,
           "started_at": started_at, "status": status, "dry_run": False, **values}
    return _insert(database, JOB_RUNS, _times(row))


def count(database: Database, table: Table, where: Any = None) -> int:
    statement = select(func.count()).select_from(table)
    if where is not None:
        statement = statement.where(where)
    with database.session() as session:
        return int(session.connection().execute(statement).scalar_one())


def ids(database: Database, table: Table, where: Any = None) -> set[int]:
    statement = select(table.c.id)
    if where is not None:
        statement = statement.where(where)
    with database.session() as session:
        return {int(row[0]) for row in session.connection().execute(statement)}


def column_values(database: Database, table: Table, column: str, row_id: int) -> Any:
    with database.session() as session:
        return session.connection().execute(select(table.c[column]).where(table.c.id == row_id)).scalar_one()


def alerts(database: Database) -> list[Alert]:
    with database.session() as session:
        return list(session.exec(model_select(Alert).order_by(Alert.id)))  # type: ignore[arg-type]
