"""Shared fixtures: a real database per backend, settings isolated from the developer's, a fake clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from console.i18n import set_language
from jobs.clock import FakeClock
from jobs.context import JobContext
from jobs.settings import Settings
from storage.db import Database, to_db
from storage.models import Alert

POSTGRES_URL = os.environ.get("CRON_TEST_POSTGRES_URL", "")
POSTGRES_SKIP_REASON = "CRON_TEST_POSTGRES_URL is not set; set it to a PostgreSQL URL to run the PostgreSQL cases"

# The provider simulator fixtures, for the reminder and credential tests.
pytest_plugins = ("tests.provider_fixtures",)

# A Wednesday in summer time, far from either DST change.
DEFAULT_NOW = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Keep the developer's CRON_* variables, cron.env and locale out of every test."""
    for name in list(os.environ):
        if name.startswith("CRON_") and not name.startswith("CRON_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.chdir(tmp_path)
    set_language("en")
    yield
    set_language("en")


def create_postgres_database() -> tuple[Database, Callable[[], None]]:
    """Create a schema of its own on the test server, so that parallel runs never share tables."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(POSTGRES_URL)
    with admin.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    database = Database(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")

    def drop() -> None:
        database.dispose()
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    return database, drop


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database with the schema created, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'test.db'}")
        db.create_schema()
        yield db
        db.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIP_REASON)
    db, drop = create_postgres_database()
    db.create_schema()
    try:
        yield db
    finally:
        drop()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'test.db'}")
    db.create_schema()
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DEFAULT_NOW)


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    """Default settings pointed at the test database and at folders under the test's tmp_path."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database.url.render_as_string(hide_password=False),
        backup_dir=tmp_path / "backups",
        log_dir=tmp_path / "logs",
        instance_id="test-instance",
    )


@pytest.fixture
def make_context(settings: Settings, database: Database, clock: FakeClock) -> Callable[..., JobContext]:
    """Build a JobContext whose alerts are stored in the test database, as the engine stores them."""

    def build(job_id: str, *, dry_run: bool = False, now: datetime | None = None, **overrides: Any) -> JobContext:
        run_settings = settings.model_copy(update=overrides) if overrides else settings

        def sink(kind: str, severity: str, message: str) -> int | None:
            with database.session() as session:
                alert = Alert(kind=kind, severity=severity, message=message, job_id=job_id,
                              created_at=to_db(clock.now()))
                session.add(alert)
                session.flush()
                return alert.id

        return JobContext(
            job_id=job_id, run_id=None, settings=run_settings, database=database, clock=clock,
            now=now or clock.now(), dry_run=dry_run, alert_sink=sink,
        )

    return build


@pytest.fixture
def ui_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Give the console a fixed process identity and reset the slow stand-in job's events."""
    from jobs import records
    from tests import ui_support

    monkeypatch.setattr(records, "current_process", lambda _instance: ui_support.FIXED_IDENTITY)
    ui_support.slow_started.clear()
    ui_support.slow_release.clear()
    yield
    ui_support.slow_release.set()
