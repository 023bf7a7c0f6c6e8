"""Shared set-up for the UI tests: a seeded database, stand-in jobs and a console built by ``build_app``.

Every job of the catalogue is replaced by a stand-in from this module, so the
screens do not depend on what the real jobs find. APScheduler never fires on
its own, but the engine still computes next runs from the schedules.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from sqlmodel import col, select
from textual.pilot import Pilot

from console.app import CronConsoleApp, build_app
from console.screens.main import MainScreen
from console.screens.quit import QuitScreen
from console.widgets.gauges import FixedSampler, ResourceSample
from console.widgets.job_table import JobTable
from jobs import records
from jobs.clock import FakeClock
from jobs.context import JobContext, Summary
from jobs.cron import CronSchedule
from jobs.engine import Engine, with_job_spec
from jobs.records import ProcessIdentity
from jobs.registry import JOBS, JobSpec
from jobs.settings import Settings
from storage.db import Database
from storage.models import JobRun, JobSetting

# A Wednesday in summer time (Europe/Bucharest is UTC+3), far from either DST change.
NOW = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
DATABASE_FILE = "console.db"
SAMPLE = ResourceSample(cpu_percent=12.0, process_memory_mb=86.0, system_memory_percent=61.0,
                        database_disk_free_gb=120.5, backup_disk_free_gb=80.25)
SAMPLES = [
    ResourceSample(cpu_percent=cpu, process_memory_mb=80.0 + index, system_memory_percent=60.0 + index % 3,
                   database_disk_free_gb=120.5, backup_disk_free_gb=80.25)
    for index, cpu in enumerate((5.0, 9.0, 30.0, 12.0, 48.0, 20.0, 12.0))
]
# The pid in "Engine starting" log lines; fixed so the log pane is the same on every run.
FIXED_IDENTITY = ProcessIdentity(instance_id="test-instance", host="test-host", pid=4242)

# Steering for the slow stand-in job.
slow_started = threading.Event()
slow_release = threading.Event()


def quick_job(ctx: JobContext) -> Summary:
    ctx.logger.info("examined 3 rows")
    if ctx.dry_run:
        return {"examined": 3, "deleted": 2}
    return {"examined": 3, "deleted": 2}


def alerting_job(ctx: JobContext) -> Summary:
    """Raise three alerts in one run, the last one critical."""
    for number, severity in enumerate(("warning", "warning", "critical"), start=1):
        ctx.raise_alert("test-alert", severity, f"test alert number {number}")
    return {"examined": 3}


def slow_job(ctx: JobContext) -> Summary:
    """Run until :data:`slow_release` is set, checking for cancellation every 10 ms."""
    slow_started.set()
    ctx.logger.info("slow job started")
    while not slow_release.wait(0.01):
        ctx.check_cancelled()
    return {"examined": 1}


class NeverTrigger(BaseTrigger):  # type: ignore[misc]
    """A trigger that never fires, so that wall-clock time cannot start a job during a test."""

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        return None


def never_fire(_spec: JobSpec, _schedule: CronSchedule) -> BaseTrigger:
    return NeverTrigger()


def stand_in_specs(slow: Iterable[str] = (), alerting: Iterable[str] = ()) -> list[JobSpec]:
    """Return the catalogue with every target replaced.

    ``slow`` ids run :func:`slow_job`, ``alerting`` ids :func:`alerting_job` and the rest :func:`quick_job`.
    """
    targets = {**dict.fromkeys(slow, "slow_job"), **dict.fromkeys(alerting, "alerting_job")}
    return [with_job_spec(spec, target=f"tests.ui_support:{targets.get(spec.id, 'quick_job')}") for spec in JOBS]


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{DATABASE_FILE}",  # relative: the tests run in tmp_path
        "backup_dir": tmp_path / "backups",
        "log_dir": tmp_path / "logs",
        "instance_id": "test-instance",
        "stop_grace_seconds": 0.5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def seed_database(database: Database) -> None:
    """Create the schema and a few runs, settings and alerts, the same on every call."""
    database.create_schema()
    identity = ProcessIdentity("seed", "seed-host", 1)
    runs = [
        ("cleanup-sessions", "succeeded", timedelta(hours=-8), 4.2, {"examined": 120, "deleted_sessions": 118}),
        ("cleanup-sessions", "succeeded", timedelta(days=-1, hours=-8), 3.1, {"examined": 90, "deleted_sessions": 90}),
        ("cleanup-sessions", "failed", timedelta(days=-2, hours=-8), 0.4, {"examined": 0}),
        ("cleanup-sessions", "succeeded", timedelta(days=-3, hours=-8), 5.9, {"examined": 200, "deleted_sessions": 199}),
        ("check-inactive-sessions", "succeeded", timedelta(hours=-4), 0.8, {"examined": 12, "changed": 3}),
        ("backup-data", "timed_out", timedelta(hours=-7), 3600.0, {}),
        ("check-unprocessed-messages", "succeeded", timedelta(minutes=-30), 0.2, {"examined": 4}),
    ]
    for job_id, status, offset, seconds, summary in runs:
        started = NOW + offset
        run = records.claim_run(database, identity=identity, job_id=job_id, trigger="schedule",
                                scheduled_at=started, started_at=started, dry_run=False, requested_by=None)
        assert run is not None
        error = "RuntimeError: database is locked" if status == "failed" else (
            "Cancelled after its time-out of 3600 s." if status == "timed_out" else None)
        log = f"{started.isoformat()} INFO jobs.run.{job_id}: examined rows"
        records.finish_run(database, run.id, status=status, finished_at=started + timedelta(seconds=seconds),
                           summary=summary, error=error, log=log)

    records.save_job_setting(database, job_id="sync-credentials", field_name="paused", old_value="false",
                             new_value="true", changed_by="ana", now=NOW - timedelta(days=1), paused=True)
    records.save_job_setting(database, job_id="daily-report", field_name="schedule", old_value="0 8 * * *",
                             new_value="0 7 * * 1-5", changed_by="ana", now=NOW - timedelta(days=2),
                             schedule_override="0 7 * * 1-5")
    records.insert_alert(database, kind="credential-invalid", severity="critical",
                         message="Meta credential 12 of Bistro Dunărea was rejected: token expired",
                         job_id="validate-credentials", run_id=None, now=NOW - timedelta(hours=5))
    records.insert_alert(database, kind="unprocessed-messages", severity="warning",
                         message="7 inbound messages are still unprocessed after 15 minutes",
                         job_id="check-unprocessed-messages", run_id=None, now=NOW - timedelta(minutes=30))


def make_app(tmp_path: Path, *, seed: bool = True, read_only: bool = False, slow: Iterable[str] = (),
             alerting: Iterable[str] = (), settings: Settings | None = None) -> CronConsoleApp:
    """Build the console as the CLI does, with stand-in jobs, a fixed clock and fixed gauges."""
    settings = settings or make_settings(tmp_path)
    database = Database(settings.database_url)
    if seed:
        seed_database(database)
    engine = Engine(settings, database=database, clock=FakeClock(NOW), specs=stand_in_specs(slow, alerting),
                    read_only=read_only, trigger_factory=never_fire)
    return build_app(settings, engine=engine, sampler=FixedSampler(SAMPLES))


async def wait_until_ready(app: CronConsoleApp, timeout: float = 10.0) -> None:
    """Wait until the engine has started and the main screen has mounted its job table, gauges and log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not app.engine_ready or not any(
            screen.body_mounted for screen in app.screen_stack if isinstance(screen, MainScreen)):
        if loop.time() > deadline:
            raise TimeoutError("the engine did not start or the main screen was not built within the time limit")
        await asyncio.sleep(0.02)


def ensure_catalogues() -> None:
    """Compile each ``.po`` catalogue to its ``.mo`` when the ``.mo`` is missing or older, as ``make catalogues`` does."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from console.i18n import LOCALE_DIR

    for po_path in LOCALE_DIR.glob("*/LC_MESSAGES/*.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as source:
            catalogue = read_po(source, locale=po_path.parent.parent.name)
        temporary = mo_path.with_suffix(".mo.tmp")
        with temporary.open("wb") as target:
            write_mo(target, catalogue, use_fuzzy=True)
        temporary.replace(mo_path)


def send_keys_at_once(app: CronConsoleApp, keys: Iterable[str]) -> None:
    """Post ``keys`` to the app without waiting between them, as a terminal does with keys typed fast.

    ``Pilot.press`` waits for the app to be idle after each key, so it hides
    any ordering problem between keys. This function sends them as the
    terminal driver does: one message per key, all before the app handles the first.
    """
    from textual import events

    assert app._driver is not None
    for key in keys:
        character = {"space": " ", "backspace": None}.get(key, key if len(key) == 1 else None)
        event = events.Key(key, character)
        event.set_sender(app)
        app._driver.send_message(event)


async def wait_for(condition: Callable[[], bool], pilot: Pilot[None], timeout: float = 10.0) -> None:
    """Let the app run until ``condition`` is true, and fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)


def job_table(app: CronConsoleApp) -> JobTable:
    return app.screen.query_one(JobTable)


async def start(app: CronConsoleApp, pilot: Pilot[None], job_id: str | None = None) -> None:
    """Wait for the engine and the job table's rows, then put the cursor on ``job_id`` if given."""
    await wait_until_ready(app)
    await wait_for(lambda: bool(app.screen.query(JobTable)) and job_table(app).row_count > 0, pilot)
    await pilot.pause()
    if job_id is not None:
        job_table(app).select_job(job_id)
        await pilot.pause()
        assert job_table(app).selected_job_id == job_id


async def open_quit_dialog(app: CronConsoleApp, pilot: Pilot[None], job_id: str) -> None:
    """Run the slow stand-in ``job_id`` from the job table, then press q while it runs."""
    await start(app, pilot, job_id)
    await pilot.press("r")
    await asyncio.to_thread(slow_started.wait, 5)
    await pilot.press("q")
    await wait_for(lambda: isinstance(app.screen, QuitScreen), pilot)


def manual_runs(app: CronConsoleApp, job_id: str) -> list[JobRun]:
    """Return the runs of ``job_id`` started by hand, oldest first."""
    with app.engine.database.session() as session:
        return list(session.exec(select(JobRun).where(JobRun.job_id == job_id, JobRun.trigger == "manual")
                                 .order_by(col(JobRun.id))).all())


def job_setting(app: CronConsoleApp, job_id: str) -> JobSetting | None:
    with app.engine.database.session() as session:
        return session.get(JobSetting, job_id)
