"""Benchmark the console: key-to-frame latency, start-up time and scheduler lateness.

Run with ``.venv/bin/python bench/ui.py`` from the repository root. It prints:

(a) the time from a key press to the frame that shows its effect. It is
    measured while idle and while cleanup-old-messages deletes one million
    rows from a temporary SQLite file (goal: p99 under 50 ms in the cleanup).
(b) the time from building the app to its first frame under ``run_test()``,
    for the console and for a bare Textual app (goal: at most 1.5 times).
    The console's first frame contains the header and the footer. The job
    table, the gauges and the log pane mount right after it. The jobs are
    listed once the engine has read the database. The script prints the
    times to the complete screen and to the job list too.
(c) how late the scheduler starts 16 jobs due every second while the log
    pane receives 2,000 records a second. The same jobs also run in a bare
    APScheduler ``AsyncIOScheduler`` (goal: p99 under 20 ms, no run skipped).

Frames are timed where Textual hands a rendered update to the driver
(``App._display``); under ``run_test()`` the headless driver then skips the
terminal write, so the figures leave out the terminal's own drawing time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apscheduler.events import EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED, JobSubmissionEvent  # noqa: E402
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from apscheduler.triggers.base import BaseTrigger  # noqa: E402
from apscheduler.triggers.interval import IntervalTrigger  # noqa: E402
from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import Footer, Static  # noqa: E402

from console.app import CronConsoleApp, build_app  # noqa: E402
from console.widgets.gauges import FixedSampler, ResourceSample  # noqa: E402
from console.widgets.job_table import JobTable  # noqa: E402
from console.widgets.log_pane import LogPane  # noqa: E402
from jobs.context import JobContext, Summary  # noqa: E402
from jobs.cron import CronSchedule  # noqa: E402
from jobs.engine import Engine, with_job_spec  # noqa: E402
from jobs.events import EngineEvent, RunSkipped, RunStarted  # noqa: E402
from jobs.registry import JOBS, JobSpec  # noqa: E402
from jobs.settings import Settings  # noqa: E402
from storage.db import Database  # noqa: E402

SIZE = (120, 40)
SAMPLE = ResourceSample(cpu_percent=10.0, process_memory_mb=90.0, system_memory_percent=50.0,
                        database_disk_free_gb=100.0, backup_disk_free_gb=100.0)
LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


class NeverTrigger(BaseTrigger):  # type: ignore[misc]
    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        return None


def never_fire(_spec: JobSpec, _schedule: CronSchedule) -> BaseTrigger:
    return NeverTrigger()


def every_second(_spec: JobSpec, _schedule: CronSchedule) -> BaseTrigger:
    return IntervalTrigger(seconds=1)


def trivial_job(ctx: JobContext) -> Summary:
    return {"examined": 0}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def describe_ms(values: list[float]) -> str:
    milliseconds = [value * 1000 for value in values]
    return (f"n={len(values)} p50={percentile(milliseconds, 0.5):.1f} ms p99={percentile(milliseconds, 0.99):.1f} ms "
            f"max={max(milliseconds):.1f} ms")


def describe_startup(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:.1f} ms "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")


def make_settings(folder: Path, database: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": f"sqlite:///{database}", "backup_dir": folder / "backups",
                              "log_dir": folder / "logs", "instance_id": "bench", "stop_grace_seconds": 1}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def watch_frames(app: App[Any]) -> Callable[[Callable[[], bool]], asyncio.Event]:
    """Wrap ``app._display``; return a function that arms an event set on the first frame where a condition holds."""
    original = app._display
    armed: list[tuple[Callable[[], bool], asyncio.Event]] = []
    app.frame_times = []  # type: ignore[attr-defined]

    def display(screen: Any, renderable: Any) -> None:
        original(screen, renderable)
        if renderable is None:
            return
        now = time.perf_counter()
        app.frame_times.append(now)  # type: ignore[attr-defined]
        for condition, event in list(armed):
            if condition():
                event.frame_time = now  # type: ignore[attr-defined]
                event.set()
                armed.remove((condition, event))

    app._display = display  # type: ignore[method-assign]

    def arm(condition: Callable[[], bool]) -> asyncio.Event:
        event = asyncio.Event()
        armed.append((condition, event))
        return event

    return arm


async def key_to_frame(app: CronConsoleApp, arm: Callable[[Callable[[], bool]], asyncio.Event],
                       keep_going: Callable[[int], bool]) -> list[float]:
    """Press ``l`` (next log level) repeatedly; time each press to the first frame showing the new level."""
    pane = app.screen.query_one(LogPane)
    latencies: list[float] = []
    count = 0
    while keep_going(count):
        expected = LOG_LEVELS[(LOG_LEVELS.index(pane.min_level) + 1) % len(LOG_LEVELS)]
        event = arm(lambda expected=expected: pane.min_level == expected)  # type: ignore[misc]
        started = time.perf_counter()
        assert app._driver is not None
        app._driver.send_message(events.Key("l", "l"))
        await asyncio.wait_for(event.wait(), 10)
        latencies.append(event.frame_time - started)  # type: ignore[attr-defined]
        count += 1
        await asyncio.sleep(0.02 + (count % 5) * 0.006)
    return latencies


# --- (a) key to frame ---------------------------------------------------------


def build_message_rows(path: Path, rows: int) -> None:
    """Create the schema and ``rows`` messages 200 days old (so cleanup-old-messages deletes all of them)."""
    Database(f"sqlite:///{path}").create_schema()
    old = (datetime.now(UTC) - timedelta(days=200)).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("INSERT INTO businesses (id, name, timezone, language, reminders_enabled) "
                       "VALUES (1, 'Bench', 'Europe/Bucharest', 'ro', 1)")
    sessions = 1000
    connection.executemany(
        "INSERT INTO sessions (id, business_id, channel, customer_phone, status, created_at, last_activity_at, "
        "error_count) VALUES (?, 1, 'whatsapp', '+40700000000', 'resolved', ?, ?, 0)",
        [(number, old, old) for number in range(1, sessions + 1)])
    chunk = 100_000
    for start in range(0, rows, chunk):
        connection.executemany(
            "INSERT INTO messages (session_id, direction, body, status, created_at) VALUES (?, 'in', ?, 'processed', ?)",
            [(1 + (number % sessions), "Bună ziua, aș dori o rezervare.", old)
             for number in range(start, min(rows, start + chunk))])
        connection.commit()
    connection.close()


async def measure_keys(folder: Path, rows: int, idle_samples: int) -> dict[str, Any]:
    database = folder / "cleanup.db"
    print(f"(a) building {rows:,} old messages in {database} …", flush=True)
    began = time.perf_counter()
    build_message_rows(database, rows)
    print(f"    built in {time.perf_counter() - began:.1f} s", flush=True)

    settings = make_settings(folder, database)
    engine = Engine(settings, trigger_factory=never_fire)
    app = build_app(settings, engine=engine, sampler=FixedSampler([SAMPLE]))
    arm = watch_frames(app)
    async with app.run_test(size=SIZE) as pilot:
        while not app.engine_ready:
            await asyncio.sleep(0.01)
        await pilot.pause(0.5)
        idle = await key_to_frame(app, arm, lambda count: count < idle_samples)

        task = engine.start_job("cleanup-old-messages", requested_by="bench")
        job_started = time.perf_counter()
        busy = await key_to_frame(app, arm, lambda _count: not task.done())
        record = await task
        job_seconds = time.perf_counter() - job_started
    return {"idle": idle, "busy": busy, "job_seconds": job_seconds, "status": record.status,
            "summary": record.summary}


# --- (b) start-up ---------------------------------------------------------------


class BareApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("hello")
        yield Footer()


def screen_complete(app: App[Any]) -> bool:
    """Return whether the app's first screen has every widget mounted.

    The console mounts its job table, gauges and log pane right after its first frame.
    The bare app is complete at its first frame.
    """
    return not isinstance(app, CronConsoleApp) or bool(app.screen.query(LogPane))


def jobs_listed(app: App[Any]) -> bool:
    """Return whether the job table has rows, which needs the engine's first read of the database."""
    return not isinstance(app, CronConsoleApp) or any(table.row_count for table in app.screen.query(JobTable))


async def startup_seconds(make_app: Callable[[], App[Any]]) -> dict[str, float]:
    """Return the seconds from building the app to its first frame, its complete screen and its job list."""
    began = time.perf_counter()
    app = make_app()
    arm = watch_frames(app)
    events = {"first": arm(lambda: True), "complete": arm(lambda: screen_complete(app)),
              "listed": arm(lambda: jobs_listed(app))}
    async with app.run_test(size=SIZE):
        for event in events.values():
            await asyncio.wait_for(event.wait(), 30)
        times = {name: event.frame_time - began for name, event in events.items()}  # type: ignore[attr-defined]
    return times


async def measure_startup(folder: Path, repeats: int) -> dict[str, list[float]]:
    database = folder / "startup.db"
    Database(f"sqlite:///{database}").create_schema()

    # Read once, outside the timings: the CLI reads the settings before it builds the app,
    # as a bare app's arguments are parsed before it starts.
    settings = make_settings(folder, database)

    def console() -> App[Any]:
        return build_app(settings, engine=Engine(settings, trigger_factory=never_fire),
                         sampler=FixedSampler([SAMPLE]))

    results: dict[str, list[float]] = {"bare": [], "first": [], "complete": [], "listed": []}
    await startup_seconds(BareApp)  # warm-up: first imports of Textual's lazy modules
    await startup_seconds(console)
    for _repeat in range(repeats):
        results["bare"].append((await startup_seconds(BareApp))["first"])
        for name, seconds in (await startup_seconds(console)).items():
            results[name].append(seconds)
    return results


# --- (c) scheduler lateness --------------------------------------------------------


def flood_logs(stop: threading.Event, per_second: int, counter: list[int]) -> None:
    """Log ``per_second`` records a second from a thread, in bursts every 10 ms."""
    logger = logging.getLogger("jobs.bench.flood")
    burst = max(1, per_second // 100)
    next_tick = time.perf_counter()
    while not stop.is_set():
        for _index in range(burst):
            logger.info("flood record %s", counter[0])
            counter[0] += 1
        next_tick += 0.01
        delay = next_tick - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


async def measure_engine_lateness(folder: Path, seconds: float, records_per_second: int) -> dict[str, Any]:
    database = folder / "lateness.db"
    settings = make_settings(folder, database)
    specs = [with_job_spec(spec, target="__main__:trivial_job") for spec in JOBS]
    engine = Engine(settings, specs=specs, trigger_factory=every_second)
    app = build_app(settings, engine=engine, sampler=FixedSampler([SAMPLE]))
    start_lateness: list[float] = []
    submit_lateness: list[float] = []
    skipped: list[str] = []
    missed_apscheduler: list[str] = []

    def on_event(event: EngineEvent) -> None:
        if isinstance(event, RunStarted) and event.scheduled_at is not None:
            start_lateness.append((event.started_at - event.scheduled_at).total_seconds())
        elif isinstance(event, RunSkipped):
            skipped.append(f"{event.job_id}: {event.status} {event.reason}")

    original_on_due = engine._on_due

    def on_due(job_id: str, scheduled_at: datetime) -> None:
        submit_lateness.append((datetime.now(UTC) - scheduled_at).total_seconds())
        original_on_due(job_id, scheduled_at)

    engine._on_due = on_due  # type: ignore[method-assign]
    engine.subscribe(on_event)
    stop = threading.Event()
    counter = [0]
    async with app.run_test(size=SIZE) as pilot:
        while not app.engine_ready:
            await asyncio.sleep(0.01)
        assert engine.scheduler is not None
        engine.scheduler.add_listener(lambda event: missed_apscheduler.append(event.job_id), EVENT_JOB_MISSED)
        await pilot.pause(1.0)
        start_lateness.clear()
        submit_lateness.clear()
        flooder = threading.Thread(target=flood_logs, args=(stop, records_per_second, counter), daemon=True)
        began = time.perf_counter()
        flooder.start()
        await asyncio.sleep(seconds)
        stop.set()
        flooder.join()
        elapsed = time.perf_counter() - began
    return {"start": start_lateness, "submit": submit_lateness, "skipped": skipped,
            "missed": missed_apscheduler, "records_per_second": counter[0] / elapsed,
            "dropped": app.log_handler.dropped}


async def measure_bare_lateness(seconds: float) -> dict[str, Any]:
    scheduler = AsyncIOScheduler(timezone=UTC)
    start_lateness: list[float] = []
    submit_lateness: list[float] = []
    missed: list[str] = []

    async def trivial(scheduled: list[datetime]) -> None:
        start_lateness.append((datetime.now(UTC) - scheduled[0]).total_seconds())

    scheduled_by_job: dict[str, list[datetime]] = {}

    def on_submitted(event: JobSubmissionEvent) -> None:
        scheduled_by_job[event.job_id][0] = event.scheduled_run_times[-1]
        submit_lateness.append((datetime.now(UTC) - event.scheduled_run_times[-1]).total_seconds())

    scheduler.add_listener(on_submitted, EVENT_JOB_SUBMITTED)
    scheduler.add_listener(lambda event: missed.append(event.job_id), EVENT_JOB_MISSED)
    for number in range(16):
        job_id = f"bare-{number}"
        scheduled_by_job[job_id] = [datetime.now(UTC)]
        scheduler.add_job(trivial, IntervalTrigger(seconds=1), id=job_id, args=[scheduled_by_job[job_id]],
                          coalesce=True, max_instances=1, misfire_grace_time=None)
    scheduler.start()
    await asyncio.sleep(1.0)
    start_lateness.clear()
    submit_lateness.clear()
    await asyncio.sleep(seconds)
    scheduler.shutdown(wait=False)
    return {"start": start_lateness, "submit": submit_lateness, "missed": missed}


def report_keys(folder: Path, options: argparse.Namespace) -> None:
    keys = asyncio.run(measure_keys(folder, options.rows, options.idle_samples))
    print(f"(a) key to frame, idle:                {describe_ms(keys['idle'])}")
    print(f"(a) key to frame, during the cleanup:  {describe_ms(keys['busy'])}")
    print(f"    cleanup-old-messages: {keys['status']} in {keys['job_seconds']:.1f} s, {keys['summary']}")


def report_startup(folder: Path, options: argparse.Namespace) -> None:
    startup = asyncio.run(measure_startup(folder, options.startup_repeats))
    bare = statistics.median(startup["bare"])
    print(f"(b) first frame, bare Textual app: {describe_startup(startup['bare'])}")
    for key, label in (("first", "first frame, console:         "),
                       ("complete", "complete screen, console:     "),
                       ("listed", "jobs listed, console:         ")):
        print(f"(b) {label} {describe_startup(startup[key])}; "
              f"ratio {statistics.median(startup[key]) / bare:.2f}")


def report_lateness(folder: Path, options: argparse.Namespace) -> None:
    engine = asyncio.run(measure_engine_lateness(folder, options.seconds, options.records_per_second))
    bare_scheduler = asyncio.run(measure_bare_lateness(options.seconds))
    print(f"(c) console, log records a second: {engine['records_per_second']:.0f}, "
          f"dropped by the pane's queue: {engine['dropped']}")
    print(f"(c) console lateness at submission: {describe_ms(engine['submit'])}")
    print(f"(c) console lateness at run start:  {describe_ms(engine['start'])}")
    print(f"(c) console skipped or missed runs: {len(engine['skipped'])} engine, "
          f"{len(engine['missed'])} APScheduler")
    print(f"(c) bare lateness at submission:    {describe_ms(bare_scheduler['submit'])}")
    print(f"(c) bare lateness at run start:     {describe_ms(bare_scheduler['start'])}")
    print(f"(c) bare missed runs: {len(bare_scheduler['missed'])}")
    ratio = percentile(engine["start"], 0.99) / max(percentile(bare_scheduler["start"], 0.99), 1e-6)
    print(f"(c) p99 at run start, console / bare: {ratio:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="messages deleted during (a)")
    parser.add_argument("--idle-samples", type=int, default=200, help="key presses measured while idle")
    parser.add_argument("--startup-repeats", type=int, default=30, help="start-ups of each app in (b)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each lateness run in (c), s")
    parser.add_argument("--parts", default="abc", help="which measurements to run, for example 'b' or 'ac'")
    parser.add_argument("--records-per-second", type=int, default=2000, help="log records a second in (c)")
    options = parser.parse_args()

    logging.getLogger().setLevel(logging.WARNING)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pid {os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="cron-console-bench-") as directory:
        folder = Path(directory)
        os.chdir(folder)

        if "a" in options.parts:
            report_keys(folder, options)
        if "b" in options.parts:
            report_startup(folder, options)
        if "c" in options.parts:
            report_lateness(folder, options)


if __name__ == "__main__":
    main()
