"""Engine semantics with a fake clock: claims, overlap, time-outs, failures, catch-up, settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from jobs.clock import FakeClock
from jobs.engine import Engine, JobDisabledError, with_job_spec
from jobs.errors import CronExpressionError, JobBusyError, ReadOnlyError
from jobs.events import AlertRaised, RunFailed, RunFinished, RunSkipped, RunStarted, SettingsChanged
from jobs.registry import JOBS_BY_ID
from jobs.settings import Settings
from storage.db import Database, to_db
from storage.models import Alert, JobRun, JobSetting, JobSettingChange
from tests import fakejobs

QUICK = with_job_spec(JOBS_BY_ID["cleanup-sessions"], target="tests.fakejobs:quick")  # 0 2 * * *
BLOCKING = with_job_spec(JOBS_BY_ID["check-inactive-sessions"], target="tests.fakejobs:blocking")  # 0 */6 * * *
FAILING = with_job_spec(JOBS_BY_ID["check-error-sessions"], target="tests.fakejobs:failing")
ASYNC_BLOCKING = with_job_spec(JOBS_BY_ID["reservation-reminders"], target="tests.fakejobs:async_blocking")
DISABLED = with_job_spec(JOBS_BY_ID["backup-data"], target="tests.fakejobs:quick")
PROVIDER_PROBE = with_job_spec(JOBS_BY_ID["validate-credentials"], target="tests.fakejobs:provider_probe")
SPECS = (QUICK, BLOCKING, FAILING, ASYNC_BLOCKING, DISABLED, PROVIDER_PROBE)


@pytest.fixture(autouse=True)
def _reset_fake_jobs() -> None:
    fakejobs.reset()


@pytest.fixture
def make_engine(settings: Settings, database: Database, clock: FakeClock) -> Callable[..., Engine]:
    def build(**overrides: Any) -> Engine:
        read_only = overrides.pop("read_only", False)
        # Catch-up may start the blocking fake jobs; a short grace keeps stop() quick.
        engine_settings = settings.model_copy(update={"backup_enabled": False, "stop_grace_seconds": 0.2,
                                                      **overrides})
        return Engine(engine_settings, database=database, clock=clock, specs=SPECS, read_only=read_only,
                      cancel_wait_seconds=2)
    return build


@pytest.fixture
async def engine(make_engine: Callable[..., Engine]) -> AsyncIterator[Engine]:
    started = make_engine()
    await started.start()
    yield started
    fakejobs.release.set()
    await started.stop(grace_seconds=2)


async def _wait_started() -> None:
    for _attempt in range(500):
        if fakejobs.started.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the blocking job never started")


def _runs(database: Database, job_id: str) -> list[JobRun]:
    with database.session() as session:
        return list(session.exec(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)).all())


async def test_manual_run_recorded_with_summary(engine: Engine, database: Database) -> None:
    events: list[Any] = []
    engine.subscribe(events.append)

    record = await engine.run_job("cleanup-sessions", requested_by="ana")

    assert record.status == "succeeded"
    assert record.summary == {"examined": 3, "deleted": 1}
    rows = _runs(database, "cleanup-sessions")
    assert len(rows) == 1
    assert rows[0].trigger == "manual"
    assert rows[0].requested_by == "ana"
    assert rows[0].scheduled_at is None
    assert "quick job examined 3 rows" in (rows[0].log or "")
    assert [type(event) for event in events] == [RunStarted, AlertRaised, RunFinished]
    with database.session() as session:
        alert = session.exec(select(Alert)).one()
    assert alert.run_id == record.id
    assert engine.job("cleanup-sessions").last_run == record
    assert engine.job("cleanup-sessions").success_rate == 1.0


async def test_provider_clients_built_on_demand(engine: Engine) -> None:
    assert engine.providers is None, "starting the engine builds no HTTP client"
    await engine.run_job("cleanup-sessions")
    assert engine.providers is None, "a database job builds no HTTP client"

    first = await engine.run_job("validate-credentials")
    hub = engine.providers
    second = await engine.run_job("validate-credentials")

    assert (first.summary, second.summary) == ({"examined": 1}, {"examined": 1})
    assert hub is not None and engine.providers is hub, "later runs share the first run's clients"


async def test_dry_run_flag_and_no_alert(engine: Engine, database: Database) -> None:
    record = await engine.run_job("cleanup-sessions", dry_run=True)
    assert record.dry_run is True
    with database.session() as session:
        assert session.exec(select(Alert)).all() == []
    assert engine.job("cleanup-sessions").last_run is None, "a dry run is not the job's last real run"


async def test_overlapping_firing_is_skipped(engine: Engine, database: Database, clock: FakeClock) -> None:
    first = datetime(2026, 6, 17, 6, 0, tzinfo=UTC)
    running = asyncio.create_task(engine.fire("check-inactive-sessions", first))
    await _wait_started()
    assert engine.job("check-inactive-sessions").state == "running"

    skipped = await engine.fire("check-inactive-sessions", first + timedelta(hours=6))
    assert skipped is not None
    assert skipped.status == "skipped"
    assert "still in progress" in (skipped.error or "")
    with pytest.raises(JobBusyError):
        await engine.run_job("check-inactive-sessions")

    fakejobs.release.set()
    finished = await running
    assert finished is not None
    assert finished.status == "succeeded"
    assert [row.status for row in _runs(database, "check-inactive-sessions")] == ["succeeded", "skipped"]


async def test_same_firing_runs_once_across_engines(make_engine: Callable[..., Engine], database: Database) -> None:
    first, second = make_engine(), make_engine()
    firing = datetime(2026, 6, 17, 23, 0, tzinfo=UTC)
    results = await asyncio.gather(first.fire("cleanup-sessions", firing), second.fire("cleanup-sessions", firing))
    assert sorted(result is None for result in results) == [False, True]
    assert fakejobs.calls == ["cleanup-sessions"]
    assert len(_runs(database, "cleanup-sessions")) == 1


async def test_timeout_cancels_thread_job(engine: Engine, database: Database) -> None:
    await engine.set_timeout("check-inactive-sessions", 1, "ana")
    record = await engine.run_job("check-inactive-sessions")
    assert record.status == "timed_out"
    assert "time-out of 1 s" in (record.error or "")
    assert fakejobs.calls == [], "the job stopped at its cancellation point"
    assert engine.job("check-inactive-sessions").state == "scheduled"


async def test_timeout_cancels_coroutine_job(engine: Engine) -> None:
    await engine.set_timeout("reservation-reminders", 1, "ana")
    record = await engine.run_job("reservation-reminders")
    assert record.status == "timed_out"


async def test_failure_is_isolated(engine: Engine, database: Database) -> None:
    events: list[Any] = []
    engine.subscribe(events.append)
    failed = await engine.run_job("check-error-sessions")
    assert failed.status == "failed"
    assert "RuntimeError: the table is on fire" in (failed.error or "")
    assert "Traceback" in (failed.error or "")
    assert isinstance(events[-1], RunFailed)

    after = await engine.run_job("cleanup-sessions")
    assert after.status == "succeeded"
    assert engine.scheduler is not None
    assert engine.scheduler.running


async def test_late_firing_is_missed(engine: Engine, clock: FakeClock) -> None:
    firing = clock.now() - timedelta(hours=7)  # beyond the default 6 h catch-up window
    record = await engine.fire("cleanup-sessions", firing)
    assert record is not None
    assert record.status == "missed"
    assert fakejobs.calls == []


async def test_catch_up_after_downtime(make_engine: Callable[..., Engine], database: Database,
                                       clock: FakeClock) -> None:
    clock.set(datetime(2026, 6, 17, 21, 0, tzinfo=UTC))  # 00:00 local on 18 June
    first = make_engine()
    await first.start()
    await first.stop()

    # Down across 02:00 local (23:00 UTC) on 18 June; back at 01:00 UTC, two hours later.
    clock.set(datetime(2026, 6, 18, 1, 0, tzinfo=UTC))
    second = make_engine()
    fakejobs.release.set()  # reservation-reminders (async_blocking) also missed its 23:00 UTC firing
    await second.start()
    await asyncio.wait(set(second._tasks), timeout=5)
    await second.stop()

    runs = _runs(database, "cleanup-sessions")
    assert [(row.trigger, row.status) for row in runs] == [("catch-up", "succeeded")]
    assert runs[0].scheduled_at == datetime(2026, 6, 17, 23, 0, tzinfo=UTC)
    # check-inactive-sessions fires every 6 h local; 00:00 local was its last firing before the stop,
    # and none fell inside the downtime, so nothing is caught up for it.
    assert _runs(database, "check-inactive-sessions") == []


async def test_old_misses_recorded_not_run(make_engine: Callable[..., Engine], database: Database,
                                           clock: FakeClock) -> None:
    clock.set(datetime(2026, 6, 10, 0, 0, tzinfo=UTC))
    first = make_engine()
    await first.start()
    await first.stop()

    clock.set(datetime(2026, 6, 17, 12, 0, tzinfo=UTC))  # a week later, 13 h after the last 02:00 local
    second = make_engine()
    await second.start()
    await second.stop()

    runs = _runs(database, "cleanup-sessions")
    assert [row.status for row in runs] == ["missed"]
    assert '"missed_firings": 7' in (runs[0].summary or "")
    # The firings at 02:00 Bucharest time from 11 to 17 June, shown as the screens show times.
    assert runs[0].error is not None
    assert "from 2026-06-11 02:00 +03:00 to 2026-06-17 02:00 +03:00" in runs[0].error
    assert fakejobs.calls == []


async def test_catch_up_disabled_by_zero(make_engine: Callable[..., Engine], database: Database,
                                         clock: FakeClock) -> None:
    clock.set(datetime(2026, 6, 17, 21, 0, tzinfo=UTC))
    first = make_engine(catch_up_hours=0)
    await first.start()
    await first.stop()
    clock.set(datetime(2026, 6, 18, 1, 0, tzinfo=UTC))
    second = make_engine(catch_up_hours=0)
    await second.start()
    await second.stop()
    assert [row.status for row in _runs(database, "cleanup-sessions")] == ["missed"]


async def test_dead_process_runs_become_interrupted(make_engine: Callable[..., Engine], database: Database,
                                                    clock: FakeClock) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)
    engine = make_engine()
    with database.session() as session:
        session.add(JobRun(job_id="cleanup-sessions", trigger="schedule", instance_id="test-instance",
                           host=engine.identity.host, pid=dead_pid, started_at=to_db(clock.now()),
                           scheduled_at=to_db(clock.now()), status="running"))
    await engine.start()
    await engine.stop()
    runs = _runs(database, "cleanup-sessions")
    assert runs[0].status == "interrupted"
    assert runs[0].finished_at is not None


async def test_pause_persists_across_restart(make_engine: Callable[..., Engine], database: Database) -> None:
    first = make_engine()
    await first.start()
    events: list[Any] = []
    first.subscribe(events.append)
    await first.pause("cleanup-sessions", "ana")
    assert first.job("cleanup-sessions").state == "paused"
    assert first.job("cleanup-sessions").next_run is None
    assert first.scheduler is not None
    assert first.scheduler.get_job("cleanup-sessions") is None
    assert isinstance(events[-1], SettingsChanged)
    await first.stop()

    second = make_engine()
    await second.start()
    assert second.job("cleanup-sessions").paused
    assert second.job("cleanup-sessions").changed_by == "ana"
    await second.resume("cleanup-sessions", "ion")
    assert second.scheduler is not None
    assert second.scheduler.get_job("cleanup-sessions") is not None
    await second.stop()

    with database.session() as session:
        changes = session.exec(select(JobSettingChange).order_by(JobSettingChange.id)).all()
    assert [(c.field, c.old_value, c.new_value, c.changed_by) for c in changes] == [
        ("paused", "false", "true", "ana"), ("paused", "true", "false", "ion")]


async def test_schedule_edit_applies_and_persists(make_engine: Callable[..., Engine], database: Database,
                                                  clock: FakeClock) -> None:
    first = make_engine()
    await first.start()
    info = await first.set_schedule("cleanup-sessions", "15 4 * * mon", "ana")
    assert info.schedule == "15 4 * * mon"
    assert info.schedule_source == "operator"
    assert info.next_run == datetime(2026, 6, 22, 1, 15, tzinfo=UTC)  # Monday 04:15 EEST
    assert first.scheduler is not None
    assert first.scheduler.get_job("cleanup-sessions").trigger.schedule.expression == "15 4 * * mon"
    await first.stop()

    second = make_engine()
    second.open()
    assert second.job("cleanup-sessions").schedule == "15 4 * * mon"
    reset = await second.set_schedule("cleanup-sessions", None, "ion")
    assert reset.schedule == "0 2 * * *"
    assert reset.schedule_source == "default"
    with database.session() as session:
        stored = session.get(JobSetting, "cleanup-sessions")
    assert stored is not None
    assert stored.schedule_override is None


async def test_invalid_schedule_keeps_old(engine: Engine, database: Database) -> None:
    with pytest.raises(CronExpressionError, match="day of month"):
        await engine.set_schedule("cleanup-sessions", "0 0 31 2 *", "ana")
    assert engine.job("cleanup-sessions").schedule == "0 2 * * *"
    with database.session() as session:
        assert session.exec(select(JobSetting)).all() == []
        assert session.exec(select(JobSettingChange)).all() == []


async def test_env_schedule_and_timeout_sources(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(schedules={"cleanup-sessions": "0 5 * * *"}, timeouts={"cleanup-sessions": 42})
    engine.open()
    info = engine.job("cleanup-sessions")
    assert (info.schedule, info.schedule_source) == ("0 5 * * *", "environment")
    assert (info.timeout_seconds, info.timeout_source) == (42, "environment")


async def test_disabled_job_visible_but_not_run(engine: Engine) -> None:
    info = engine.job("backup-data")
    assert info.state == "disabled"
    assert info.disabled_by == "CRON_BACKUP_ENABLED"
    assert info.next_run is None
    with pytest.raises(JobDisabledError, match="CRON_BACKUP_ENABLED"):
        await engine.run_job("backup-data")


async def test_global_switch_off_keeps_manual_runs(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(enabled=False)
    await engine.start()
    assert engine.job("cleanup-sessions").state == "manual"
    assert engine.scheduler is not None
    assert engine.scheduler.get_jobs() == []
    record = await engine.run_job("cleanup-sessions")
    assert record.status == "succeeded"
    await engine.stop()


async def test_read_only_engine_rejects_changes(make_engine: Callable[..., Engine]) -> None:
    writer = make_engine()
    writer.open()
    watcher = make_engine(read_only=True)
    await watcher.start()
    with pytest.raises(ReadOnlyError):
        await watcher.run_job("cleanup-sessions")
    with pytest.raises(ReadOnlyError):
        await watcher.pause("cleanup-sessions", "ana")
    assert watcher.scheduler is None
    await watcher.stop()


async def test_stop_cancels_running_job(make_engine: Callable[..., Engine], database: Database) -> None:
    engine = make_engine()
    await engine.start()
    task = engine.start_job("check-inactive-sessions")
    await _wait_started()
    await engine.stop(grace_seconds=0)
    record = await task
    assert record.status == "cancelled"
    assert _runs(database, "check-inactive-sessions")[0].status == "cancelled"


async def test_firing_skipped_while_other_process_runs(engine: Engine, database: Database,
                                                       clock: FakeClock) -> None:
    # A live process on this host (the test runner's parent) has a run of the job in progress.
    import os

    with database.session() as session:
        session.add(JobRun(job_id="cleanup-sessions", trigger="manual", instance_id="other",
                           host=engine.identity.host, pid=os.getppid(), started_at=to_db(clock.now()),
                           status="running"))
    record = await engine.fire("cleanup-sessions", clock.now())
    assert record is not None
    assert record.status == "skipped"
    assert "instance other" in (record.error or "")
    assert fakejobs.calls == []


async def test_scheduler_uses_engine_fire_times(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    await engine.start()
    assert engine.scheduler is not None
    job = engine.scheduler.get_job("cleanup-sessions")
    real_now = datetime.now(UTC)
    expected = engine._state("cleanup-sessions").schedule.next_after(real_now - timedelta(seconds=5), engine.zone)
    assert job.next_run_time == expected
    await engine.stop()


async def test_event_subscriber_error_does_not_stop_others(engine: Engine) -> None:
    seen: list[Any] = []

    def broken(_event: Any) -> None:
        raise ValueError("subscriber bug")

    engine.subscribe(broken)
    engine.subscribe(seen.append)
    await engine.run_job("cleanup-sessions")
    assert any(isinstance(event, RunFinished) for event in seen)


async def test_skipped_event_published(engine: Engine) -> None:
    seen: list[Any] = []
    engine.subscribe(seen.append)
    running = asyncio.create_task(engine.fire("check-inactive-sessions", datetime(2026, 6, 17, 6, tzinfo=UTC)))
    await _wait_started()
    await engine.fire("check-inactive-sessions", datetime(2026, 6, 17, 12, tzinfo=UTC))
    fakejobs.release.set()
    await running
    assert any(isinstance(event, RunSkipped) and event.status == "skipped" for event in seen)


async def test_open_alert_not_raised_twice(engine: Engine, database: Database) -> None:
    seen: list[Any] = []
    engine.subscribe(seen.append)
    await engine.run_job("cleanup-sessions")
    await engine.run_job("cleanup-sessions")
    with database.session() as session:
        alerts = session.exec(select(Alert)).all()
    assert len(alerts) == 1
    assert sum(isinstance(event, AlertRaised) for event in seen) == 1

    await engine.acknowledge_alerts([alerts[0].id or 0], "ana")
    await engine.run_job("cleanup-sessions")
    with database.session() as session:
        assert len(session.exec(select(Alert)).all()) == 2, "an acknowledged alert is raised again"
