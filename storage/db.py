"""Engine and session set-up for SQLite (the default) and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

from storage import models  # noqa: F401  (registers the tables on SQLModel.metadata)

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000


@overload
def to_db(instant: datetime) -> datetime: ...
@overload
def to_db(instant: None) -> None: ...
def to_db(instant: datetime | None) -> datetime | None:
    """Normalise an aware datetime to UTC for storage; reject a naive one, whose zone is unknown."""
    if instant is None:
        return None
    if instant.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {instant!r}")
    return instant.astimezone(UTC)


@overload
def from_db(value: datetime) -> datetime: ...
@overload
def from_db(value: None) -> None: ...
def from_db(value: datetime | None) -> datetime | None:
    """Return a stored datetime as aware UTC (SQLite keeps UTC without an offset)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """One database: its SQLAlchemy engine and a session factory, safe to share between threads."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url: URL = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            path = self.sqlite_path
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            )
            event.listen(self.engine, "connect", _configure_sqlite)
        else:
            self.engine = create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)

    @property
    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or not self.url.database or self.url.database == ":memory:":
            return None
        return Path(self.url.database)

    @property
    def display_name(self) -> str:
        """The URL without its password, for headers and logs."""
        return self.url.render_as_string(hide_password=True)

    def create_schema(self) -> None:
        """Create missing tables and indexes; existing ones are left as they are."""
        SQLModel.metadata.create_all(self.engine)
        logger.info("Schema ready on %s", self.display_name)

    def drop_schema(self) -> None:
        SQLModel.metadata.drop_all(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session that commits on success and rolls back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
