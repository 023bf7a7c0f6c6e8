"""The engine: APScheduler's ``AsyncIOScheduler`` wrapped with the console's run semantics.

One :class:`Engine` is embedded by the TUI and by the headless service; the
one-shot CLI uses it without starting the scheduler. APScheduler only decides
*when* a firing is due; everything else is done here:

* every run is claimed in ``job_runs`` before it starts, and the unique
  ``(job_id, scheduled_at)`` pair lets several instances share one database
  and still run each firing once;
* a firing that arrives while the job runs is recorded ``skipped``;
* each run has a time limit, after which it is cancelled and recorded
  ``timed_out``. An exception is recorded ``failed`` with its traceback and
  affects no other job;
* on start, runs left ``running`` by a dead process become ``interrupted``,
  and a firing missed while no instance was up runs once (catch-up) or is
  recorded ``missed``;
* pause, resume, schedule and time-out edits apply at once, persist in
  ``job_settings`` with an audit row, and survive a restart.

Synchronous jobs and all database work run in worker threads, so a long job
never delays the scheduler or the screen sharing the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from console.i18n import _
from jobs import records
from jobs.clock import Clock, SystemClock, local_time
from jobs.context import JobCancelled, JobContext, Summary
from jobs.cron import CronSchedule, VixieCronTrigger
from jobs.errors import CronConsoleError, JobBusyError, ReadOnlyError
from jobs.events import (
    AlertAcknowledged,
    AlertRaised,
    EngineEvent,
    EventBus,
    RunFailed,
    RunFinished,
    RunSkipped,
    RunStarted,
    SettingsChanged,
)
from jobs.records import AlertRecord, ProcessIdentity, RunRecord
from jobs.registry import JOBS, JobSpec
from jobs.runlog import RunContextFilter, RunLogCollector, RunTag, current_run
from jobs.settings import Settings
from storage.db import Database, from_db

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30.0
READ_ONLY_REFRESH_SECONDS = 5.0
# After a time-out or a stop, how long a job gets to reach its next
# check_cancelled() before the run is recorded without waiting for it.
CANCEL_WAIT_SECONDS = 10.0
# Catch-up looks at most this far back for missed firings.
CATCH_UP_HORIZON = timedelta(days=366)

TriggerFactory = Callable[[JobSpec, CronSchedule], BaseTrigger]


class JobDisabledError(CronConsoleError):
    title = "Job disabled"


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job for screens and commands. Times are aware UTC."""

    spec: JobSpec
    schedule: str
    schedule_source: str  # "default", "environment" or "operator"
    timeout_seconds: int
    timeout_source: str
    paused: bool
    disabled_by: str | None  # the variable that switched the job off, e.g. CRON_BACKUP_ENABLED
    scheduling_enabled: bool  # False when CRON_ENABLED=false
    next_run: datetime | None
    running_since: datetime | None
    running_run_id: int | None
    running_dry_run: bool
    last_run: RunRecord | None
    success_rate: float | None  # share of the recent finished runs that succeeded, 0..1
    changed_by: str | None = None
    changed_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def state(self) -> str:
        """``running``, ``disabled``, ``paused``, ``manual`` (CRON_ENABLED=false) or ``scheduled``."""
        if self.running_since is not None:
            return "running"
        if self.disabled_by:
            return "disabled"
        if self.paused:
            return "paused"
        if not self.scheduling_enabled:
            return "manual"
        return "scheduled"


@dataclass
class _JobState:
    spec: JobSpec
    schedule: CronSchedule
    schedule_source: str
    timeout_seconds: int
    timeout_source: str
    paused: bool = False
    changed_by: str | None = None
    changed_at: datetime | None = None
    last_run: RunRecord | None = None
    recent_statuses: list[str] = field(default_factory=list)
    remote_running: RunRecord | None = None  # a run seen in the database, from another process


@dataclass
class _ActiveRun:
    run_id: int | None
    context: JobContext | None = None
    work: asyncio.Future[Any] | None = None
    started_at: datetime | None = None
    dry_run: bool = False
    cancel_reason: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    # A synchronous job runs in a worker thread that only stops at its next
    # check_cancelled(). When the run is recorded before the thread ends, the
    # thread rewrites the summary once it ends, and the lock orders the two writes.
    threaded: bool = False
    thread_lock: threading.Lock = field(default_factory=threading.Lock)
    thread_ended: bool = False
    final_summary: Summary | None = None
    recorded_before_thread_ended: bool = False


class _EngineExecutor(BaseExecutor):  # type: ignore[misc]
    """APScheduler executor that hands each due firing to the engine.

    Overlap is the engine's business (a busy job records ``skipped``), so this
    executor keeps no instance count and never raises MaxInstancesReachedError.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine

    def submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self._do_submit_job(job, run_times)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self._engine._on_due(job.id, run_times[-1])


class Engine:
    """The scheduler, the job registry and the run bookkeeping behind every face of the console."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: Database | None = None,
        clock: Clock | None = None,
        specs: Sequence[JobSpec] = JOBS,
        read_only: bool = False,
        trigger_factory: TriggerFactory | None = None,
        cancel_wait_seconds: float = CANCEL_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self.database = database or Database(settings.database_url)
        self.clock: Clock = clock or SystemClock()
        self.zone = settings.zone()
        self.read_only = read_only
        self.identity: ProcessIdentity = records.current_process(settings.instance_id)
        self.bus = EventBus()
        self.scheduler: AsyncIOScheduler | None = None
        self.providers: Any = None
        self._provider_hub_lock = asyncio.Lock()
        self._specs = {spec.id: spec for spec in specs}
        self._trigger_factory = trigger_factory or (lambda _spec, schedule: VixieCronTrigger(schedule, self.zone))
        self._cancel_wait = cancel_wait_seconds
        self._states: dict[str, _JobState] = {}
        self._active: dict[str, _ActiveRun] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._instance_row: int | None = None
        self._background: asyncio.Task[None] | None = None
        self._run_logs = RunLogCollector()
        self._run_filter = RunContextFilter()
        self._opened = False
        self._started = False
        self._stopping = False

    # --- Lifecycle ----------------------------------------------------------

    def open(self) -> None:
        """Create the schema and load job settings and recent runs. Idempotent; no scheduler."""
        if self._opened:
            return
        if not self.read_only:
            self.database.create_schema()
        self._load_states()
        # A run's own log keeps its INFO lines even when the console shows only warnings.
        jobs_logger = logging.getLogger("jobs")
        if jobs_logger.getEffectiveLevel() > logging.INFO:
            jobs_logger.setLevel(logging.INFO)
        self._install_log_capture()
        self._opened = True

    def close(self) -> None:
        """Release what :meth:`open` took, for one-shot commands that never :meth:`start`."""
        self._remove_log_capture()
        self.database.dispose()
        self._opened = False

    async def start(self) -> None:
        """Start on the running event loop: recover, catch up, and schedule every enabled job."""
        if self._started:
            return
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.open)
        logger.info("Engine starting (instance %s, pid %s, database %s, zone %s, read-only %s)",
                    self.identity.instance_id, self.identity.pid, self.database.display_name,
                    self.zone.key, self.read_only)
        self._started = True

        if self.read_only:
            self._background = asyncio.create_task(self._refresh_loop(), name="engine-refresh")
            return

        now = self.clock.now()
        interrupted = await asyncio.to_thread(
            records.mark_interrupted, self.database, identity=self.identity, now=now,
            message=_("The console process ended while this run was in progress."),
        )
        if interrupted:
            logger.warning("Marked %d run(s) left running by a dead process as interrupted: %s",
                           len(interrupted), interrupted)
            await asyncio.to_thread(self._load_states)
        self._instance_row, last_seen = await asyncio.to_thread(
            records.register_instance, self.database, identity=self.identity, now=now)

        self.scheduler = AsyncIOScheduler(event_loop=self._loop, timezone=self.zone)
        self.scheduler.add_executor(_EngineExecutor(self), alias="engine")
        for state in self._states.values():
            if self._is_schedulable(state):
                self._add_to_scheduler(state)
        self.scheduler.start()
        if not self.settings.enabled:
            logger.warning("CRON_ENABLED=false: nothing fires on a schedule; manual runs still work")

        if last_seen is not None and self.settings.enabled:
            await self._catch_up(last_seen, now)
        self._background = asyncio.create_task(self._heartbeat_loop(), name="engine-heartbeat")
        logger.info("Engine started with %d scheduled job(s)",
                    sum(1 for state in self._states.values() if self._is_schedulable(state)))

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop scheduling, give running jobs ``grace_seconds`` to finish, then cancel and record them."""
        if not self._started:
            return
        grace = self.settings.stop_grace_seconds if grace_seconds is None else grace_seconds
        self._stopping = True
        logger.info("Engine stopping; %d run(s) in progress, grace %.0f s", len(self._active), grace)
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background

        active = [run for run in self._active.values() if run.work is not None]
        if active:
            await asyncio.wait([asyncio.ensure_future(run.done.wait()) for run in active], timeout=grace)
            for run in self._active.values():
                if not run.done.is_set():
                    self._cancel_run(run, "cancelled")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._cancel_wait + 5)

        if self.providers is not None:
            with contextlib.suppress(Exception):
                await self.providers.aclose()
            self.providers = None
        if self._instance_row is not None:
            await asyncio.to_thread(records.heartbeat, self.database, row_id=self._instance_row,
                                    now=self.clock.now(), stopped=True)
        self._remove_log_capture()
        self._started = False
        self._stopping = False
        logger.info("Engine stopped")

    def subscribe(self, subscriber: Callable[[EngineEvent], None]) -> Callable[[], None]:
        """Call ``subscriber`` on the loop's thread for every event; return an unsubscribe function."""
        return self.bus.subscribe(subscriber)

    # --- Views --------------------------------------------------------------

    def jobs(self) -> list[JobInfo]:
        """Return every job in catalogue order, from memory only, so a once-a-second tick stays cheap."""
        return [self._info(state) for state in self._states.values()]

    def job(self, job_id: str) -> JobInfo:
        return self._info(self._state(job_id))

    def next_fire_times(self, job_id: str, count: int = 5, after: datetime | None = None) -> list[datetime]:
        state = self._state(job_id)
        return state.schedule.next_times(after or self.clock.now(), self.zone, count)

    def preview_schedule(self, expression: str, count: int = 5, after: datetime | None = None) -> list[datetime]:
        """Validate ``expression`` and return its next ``count`` fire times; raises CronExpressionError."""
        return CronSchedule.parse(expression).next_times(after or self.clock.now(), self.zone, count)

    def spec(self, job_id: str) -> JobSpec:
        return self._state(job_id).spec

    async def history(self, job_id: str, limit: int = 50) -> list[RunRecord]:
        self._state(job_id)
        return await asyncio.to_thread(records.recent_runs, self.database, job_id=job_id, limit=limit)

    async def setting_changes(self, job_id: str, limit: int = 50) -> list[Any]:
        self._state(job_id)
        return await asyncio.to_thread(records.setting_changes, self.database, job_id=job_id, limit=limit)

    async def alerts(self, *, include_acknowledged: bool = False, limit: int = 200) -> list[AlertRecord]:
        return await asyncio.to_thread(records.list_alerts, self.database,
                                       include_acknowledged=include_acknowledged, limit=limit)

    async def acknowledge_alerts(self, alert_ids: list[int], by: str) -> int:
        self._require_writable()
        now = self.clock.now()
        count = await asyncio.to_thread(records.acknowledge_alerts, self.database, alert_ids=alert_ids,
                                        by=by, now=now)
        for alert_id in alert_ids:
            self.bus.publish(AlertAcknowledged(alert_id, by, now))
        logger.info("%s acknowledged %d alert(s): %s", by, count, alert_ids)
        return count

    # --- Operator actions ---------------------------------------------------

    async def run_job(self, job_id: str, *, dry_run: bool = False, trigger: str = "manual",
                      requested_by: str | None = None) -> RunRecord:
        """Run a job now and wait for it; return the finished run.

        Raises :class:`JobBusyError` when the job is already running in this
        process, :class:`JobDisabledError` when its switch is off, and
        :class:`ReadOnlyError` in a read-only console.
        """
        state = self._check_can_start(job_id)
        record = await self._execute(state, trigger=trigger, scheduled_at=None, dry_run=dry_run,
                                     requested_by=requested_by)
        assert record is not None
        return record

    def start_job(self, job_id: str, *, dry_run: bool = False, trigger: str = "manual",
                  requested_by: str | None = None) -> asyncio.Task[RunRecord]:
        """Start :meth:`run_job` as a task and return it; validation errors are raised at once."""
        self._check_can_start(job_id)
        task = asyncio.create_task(self.run_job(job_id, dry_run=dry_run, trigger=trigger,
                                                requested_by=requested_by), name=f"run-{job_id}")
        self._track(task)
        return task

    async def fire(self, job_id: str, scheduled_at: datetime, *, trigger: str = "schedule") -> RunRecord | None:
        """Handle one due firing as the scheduler does; tests and benchmarks call it directly.

        Returns the run, a ``skipped`` or ``missed`` record, or None when
        another instance already claimed the firing.
        """
        state = self._state(job_id)
        lateness = self.clock.now() - scheduled_at
        window = timedelta(hours=self.settings.catch_up_hours)
        if trigger == "schedule" and lateness > max(window, timedelta(minutes=1)):
            return await self._record_missed(state, [scheduled_at])
        return await self._execute(state, trigger=trigger, scheduled_at=scheduled_at, dry_run=False,
                                   requested_by=None)

    async def pause(self, job_id: str, by: str) -> None:
        await self._set_paused(job_id, True, by)

    async def resume(self, job_id: str, by: str) -> None:
        await self._set_paused(job_id, False, by)

    async def set_schedule(self, job_id: str, expression: str | None, by: str) -> JobInfo:
        """Set the operator's schedule, or with None go back to the env or default one.

        The expression is validated first; on a :class:`CronExpressionError`
        nothing changes.
        """
        self._require_writable()
        state = self._state(job_id)
        if expression is None:
            fallback = self.settings.schedules.get(job_id)
            new_schedule = CronSchedule.parse(fallback or state.spec.default_schedule)
            source = "environment" if fallback else "default"
            stored = None
        else:
            new_schedule = CronSchedule.parse(expression)
            source, stored = "operator", new_schedule.expression
        old = state.schedule.expression
        now = self.clock.now()
        await asyncio.to_thread(records.save_job_setting, self.database, job_id=job_id, field_name="schedule",
                                old_value=old, new_value=new_schedule.expression, changed_by=by, now=now,
                                schedule_override=stored)
        state.schedule, state.schedule_source = new_schedule, source
        state.changed_by, state.changed_at = by, now
        self._reschedule(state)
        logger.info("%s changed the schedule of %s from %r to %r", by, job_id, old, new_schedule.expression)
        self.bus.publish(SettingsChanged(job_id, "schedule", old, new_schedule.expression, by, now))
        return self._info(state)

    async def set_timeout(self, job_id: str, seconds: int | None, by: str) -> JobInfo:
        self._require_writable()
        state = self._state(job_id)
        if seconds is not None and seconds < 1:
            raise CronConsoleError(_("Time-out {value} is invalid; expected a whole number of seconds above 0.")
                                   .format(value=seconds))
        old = str(state.timeout_seconds)
        now = self.clock.now()
        await asyncio.to_thread(records.save_job_setting, self.database, job_id=job_id, field_name="timeout",
                                old_value=old, new_value=None if seconds is None else str(seconds),
                                changed_by=by, now=now, timeout_override=seconds)
        if seconds is None:
            state.timeout_seconds = self.settings.timeout_for(job_id)
            state.timeout_source = "environment" if job_id in self.settings.timeouts else "default"
        else:
            state.timeout_seconds, state.timeout_source = seconds, "operator"
        state.changed_by, state.changed_at = by, now
        logger.info("%s changed the time-out of %s from %s to %s s", by, job_id, old, state.timeout_seconds)
        self.bus.publish(SettingsChanged(job_id, "timeout", old, str(state.timeout_seconds), by, now))
        return self._info(state)

    # --- Internals: state ---------------------------------------------------

    def _state(self, job_id: str) -> _JobState:
        if not self._opened:
            self.open()
        try:
            return self._states[job_id]
        except KeyError:
            from jobs.registry import get_spec

            get_spec(job_id)  # raises JobNotFoundError with the list of ids
            raise

    def _check_can_start(self, job_id: str) -> _JobState:
        self._require_writable()
        state = self._state(job_id)
        disabled_by = self._disabled_by(state.spec)
        if disabled_by:
            raise JobDisabledError(_("{job_id} is disabled by {variable}=false; set it to true to run the job.")
                                   .format(job_id=job_id, variable=disabled_by))
        if job_id in self._active:
            raise JobBusyError(_("{job_id} is already running; wait for the run in progress to finish.")
                               .format(job_id=job_id))
        return state

    def _require_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(_("This console is read-only; start it without --read-only to run or change jobs."))

    def _load_states(self) -> None:
        stored = records.load_job_settings(self.database)
        runs = records.latest_runs(self.database, job_ids=list(self._specs))
        states: dict[str, _JobState] = {}
        for job_id, spec in self._specs.items():
            setting = stored.get(job_id)
            schedule, source = self._initial_schedule(spec, setting.schedule_override if setting else None)
            if setting is not None and setting.timeout_override:
                timeout, timeout_source = setting.timeout_override, "operator"
            else:
                timeout = self.settings.timeout_for(job_id)
                timeout_source = "environment" if job_id in self.settings.timeouts else "default"
            last, statuses, running = runs.get(job_id, (None, [], None))
            state = _JobState(spec, schedule, source, timeout, timeout_source,
                              paused=bool(setting and setting.paused),
                              changed_by=setting.changed_by if setting else None,
                              changed_at=from_db(setting.changed_at) if setting and setting.changed_at else None,
                              last_run=last, recent_statuses=statuses)
            if running is not None and job_id not in self._active:
                state.remote_running = running
            states[job_id] = state
        self._states = states

    def _initial_schedule(self, spec: JobSpec, override: str | None) -> tuple[CronSchedule, str]:
        if override:
            try:
                return CronSchedule.parse(override), "operator"
            except CronConsoleError as error:
                logger.error("Ignoring the stored schedule %r of %s: %s", override, spec.id, error)
        env_value = self.settings.schedules.get(spec.id)
        if env_value:
            return CronSchedule.parse(env_value), "environment"
        return CronSchedule.parse(spec.default_schedule), "default"

    def _disabled_by(self, spec: JobSpec) -> str | None:
        if spec.enabled_by and not getattr(self.settings, spec.enabled_by, True):
            return spec.enabled_variable
        return None

    def _is_schedulable(self, state: _JobState) -> bool:
        return self.settings.enabled and not state.paused and self._disabled_by(state.spec) is None

    def _info(self, state: _JobState) -> JobInfo:
        active = self._active.get(state.spec.id)
        remote = state.remote_running
        running_since: datetime | None = None
        running_id: int | None = None
        if active is not None:
            running_since, running_id = active.started_at, active.run_id
        elif remote is not None:
            running_since, running_id = remote.started_at, remote.id
        finished = [status for status in state.recent_statuses]
        rate = (sum(1 for status in finished if status == "succeeded") / len(finished)) if finished else None
        next_run = None
        if self._is_schedulable(state):
            next_run = state.schedule.next_after(self.clock.now(), self.zone)
        return JobInfo(
            spec=state.spec, schedule=state.schedule.expression, schedule_source=state.schedule_source,
            timeout_seconds=state.timeout_seconds, timeout_source=state.timeout_source, paused=state.paused,
            disabled_by=self._disabled_by(state.spec), scheduling_enabled=self.settings.enabled,
            next_run=next_run, running_since=running_since, running_run_id=running_id,
            running_dry_run=bool(active.dry_run) if active else bool(remote and remote.dry_run),
            last_run=state.last_run, success_rate=rate, changed_by=state.changed_by, changed_at=state.changed_at,
        )

    async def _set_paused(self, job_id: str, paused: bool, by: str) -> None:
        self._require_writable()
        state = self._state(job_id)
        if state.paused == paused:
            return
        now = self.clock.now()
        await asyncio.to_thread(records.save_job_setting, self.database, job_id=job_id, field_name="paused",
                                old_value=str(state.paused).lower(), new_value=str(paused).lower(),
                                changed_by=by, now=now, paused=paused)
        state.paused = paused
        state.changed_by, state.changed_at = by, now
        self._reschedule(state)
        logger.info("%s %s %s", by, "paused" if paused else "resumed", job_id)
        self.bus.publish(SettingsChanged(job_id, "paused", str(not paused).lower(), str(paused).lower(), by, now))

    # --- Internals: APScheduler ---------------------------------------------

    def _add_to_scheduler(self, state: _JobState) -> None:
        assert self.scheduler is not None
        self.scheduler.add_job(
            _never_called, trigger=self._trigger_factory(state.spec, state.schedule), id=state.spec.id,
            name=state.spec.id, executor="engine", coalesce=True, max_instances=1_000_000,
            misfire_grace_time=None, replace_existing=True,
        )

    def _reschedule(self, state: _JobState) -> None:
        if self.scheduler is None:
            return
        present = self.scheduler.get_job(state.spec.id) is not None
        if self._is_schedulable(state):
            self._add_to_scheduler(state)  # replace_existing also swaps in a new trigger
        elif present:
            self.scheduler.remove_job(state.spec.id)

    def _on_due(self, job_id: str, scheduled_at: datetime) -> None:
        """Called by the executor on the loop's thread when a firing is due."""
        logger.debug("Firing of %s due at %s", job_id, scheduled_at.isoformat())
        self._track(asyncio.ensure_future(self._fire_safely(job_id, scheduled_at)))

    async def _fire_safely(self, job_id: str, scheduled_at: datetime) -> None:
        try:
            await self.fire(job_id, scheduled_at)
        except Exception:
            logger.exception("Handling the firing of %s at %s failed", job_id, scheduled_at.isoformat())

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._tasks.discard)

    # --- Internals: running a job -------------------------------------------

    async def _execute(self, state: _JobState, *, trigger: str, scheduled_at: datetime | None,
                       dry_run: bool, requested_by: str | None) -> RunRecord | None:
        job_id = state.spec.id
        if job_id in self._active:
            return await self._record_skipped(state, scheduled_at, trigger,
                                              _("the previous run is still in progress"))

        active = _ActiveRun(run_id=None, dry_run=dry_run)
        self._active[job_id] = active  # reserved before the first await, so two firings cannot both start
        try:
            started_at = self.clock.now()
            run = await asyncio.to_thread(
                records.claim_run, self.database, identity=self.identity, job_id=job_id, trigger=trigger,
                scheduled_at=scheduled_at, started_at=started_at, dry_run=dry_run, requested_by=requested_by)
            if run is None:
                logger.info("Firing of %s at %s already claimed by another instance", job_id,
                            scheduled_at.isoformat() if scheduled_at else "-")
                return None
            other = await asyncio.to_thread(records.find_other_live_run, self.database, identity=self.identity,
                                            job_id=job_id, own_run_id=run.id, now=started_at)
            if other is not None:
                reason = _("run {run_id} is still in progress in instance {instance}").format(
                    run_id=other.id, instance=other.instance_id)
                record = await asyncio.to_thread(records.finish_run, self.database, run.id, status="skipped",
                                                 finished_at=started_at, summary={}, error=reason, log=None)
                logger.warning("Skipped %s run %s: %s", job_id, run.id, reason)
                self.bus.publish(RunSkipped(job_id, run.id, "skipped", reason, scheduled_at))
                return record
            if self._stopping:
                reason = _("Cancelled because the console was stopping.")
                return await asyncio.to_thread(records.finish_run, self.database, run.id, status="cancelled",
                                               finished_at=self.clock.now(), summary={}, error=reason, log=None)
            return await self._run(state, active, run)
        finally:
            active.done.set()
            if self._active.get(job_id) is active:
                del self._active[job_id]

    async def _run(self, state: _JobState, active: _ActiveRun, run: RunRecord) -> RunRecord:
        spec = state.spec
        if spec.uses_providers:
            await self._ensure_provider_hub()
        context = JobContext(
            job_id=spec.id, run_id=run.id, settings=self.settings, database=self.database, clock=self.clock,
            now=run.started_at, dry_run=run.dry_run, logger=logging.getLogger(f"jobs.run.{spec.id}"),
            alert_sink=self._alert_sink(spec.id, run.id), providers=self.providers,
        )
        active.run_id, active.context, active.started_at = run.id, context, run.started_at
        if active.cancel_reason:  # stop() came while the run was being claimed
            context.cancel_event.set()
            active.cancel_requested.set()
        self._run_logs.open(run.id)
        self.bus.publish(RunStarted(spec.id, run.id, run.trigger, run.dry_run, run.started_at, run.scheduled_at))
        logger.info("Run %s of %s started (trigger %s%s)", run.id, spec.id, run.trigger,
                    ", dry run" if run.dry_run else "")

        token = current_run.set(RunTag(spec.id, run.id))
        try:
            function = spec.load()
            if inspect.iscoroutinefunction(function):
                active.work = asyncio.ensure_future(function(context))
            else:
                active.threaded = True
                active.work = asyncio.ensure_future(
                    asyncio.to_thread(self._run_in_thread, function, context, active))
        finally:
            current_run.reset(token)

        finished = await self._wait_for_work(active, state)
        status, summary, error = self._outcome(active, run, finished=finished, timeout=state.timeout_seconds)
        finished_at = self.clock.now()
        log_text = self._run_logs.close_run(run.id)
        record = await asyncio.to_thread(self._record_outcome, active, run.id, status=status, finished=finished,
                                         finished_at=finished_at, summary=summary, error=error, log=log_text)
        if not run.dry_run:
            state.last_run = record
            state.recent_statuses = [status, *state.recent_statuses][: records.SUCCESS_RATE_WINDOW]

        if status == "succeeded":
            logger.info("Run %s of %s succeeded in %.1f s: %s", run.id, spec.id,
                        (finished_at - run.started_at).total_seconds(), _log_summary(summary))
            self.bus.publish(RunFinished(spec.id, run.id, run.dry_run, run.started_at, finished_at, summary))
        else:
            logger.error("Run %s of %s ended %s: %s", run.id, spec.id, status,
                         (error or "").strip().splitlines()[-1] if error else status)
            self.bus.publish(RunFailed(spec.id, run.id, status, run.dry_run, run.started_at, finished_at,
                                       error or status, summary))
        return record

    async def _wait_for_work(self, active: _ActiveRun, state: _JobState) -> bool:
        """Wait until the job ends, times out or is cancelled, and return whether it ended.

        After a time-out or a stop the job gets ``cancel_wait_seconds`` to
        reach its next cancellation point. A worker thread keeps committing
        the batch in flight meanwhile, so the run is recorded only after the
        thread ends, and its summary then counts that batch.
        """
        work = active.work
        assert work is not None
        cancel_requested = asyncio.ensure_future(active.cancel_requested.wait())
        try:
            await asyncio.wait({work, cancel_requested}, timeout=state.timeout_seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancel_requested.cancel()
        if work.done():
            return True
        if active.cancel_reason is None:
            logger.warning("Run %s of %s passed its time-out of %s s; cancelling it",
                           active.run_id, state.spec.id, state.timeout_seconds)
            self._cancel_run(active, "timed_out")
        await asyncio.wait({work}, timeout=self._cancel_wait)
        return work.done()

    def _run_in_thread(self, function: Callable[[JobContext], Any], context: JobContext,
                       active: _ActiveRun) -> Any:
        """Call a synchronous job in the worker thread, and fix its summary if the run was recorded first."""
        result: Any = None
        try:
            result = function(context)
            return result
        finally:
            with active.thread_lock:
                active.thread_ended = True
                active.final_summary = result if isinstance(result, dict) else dict(context.progress)
                late = active.recorded_before_thread_ended
            if late:
                self._record_late_summary(active, context.job_id, active.final_summary)

    def _record_late_summary(self, active: _ActiveRun, job_id: str, summary: Summary) -> None:
        assert active.run_id is not None
        try:
            records.update_run_summary(self.database, active.run_id, summary)
        except Exception:
            logger.exception("Updating the summary of run %s of %s after its worker thread ended failed",
                             active.run_id, job_id)
            return
        logger.warning("Run %s of %s reached its cancellation point after it was recorded; "
                       "its summary now counts what it committed: %s", active.run_id, job_id, summary)

    def _record_outcome(self, active: _ActiveRun, run_id: int, *, status: str, finished: bool,
                        finished_at: datetime, summary: Summary, error: str | None,
                        log: str | None) -> RunRecord:
        """Write the run's outcome from a worker thread, with the committed counts of a job thread still running."""
        if finished or not active.threaded:
            return records.finish_run(self.database, run_id, status=status, finished_at=finished_at,
                                      summary=summary, error=error, log=log)
        with active.thread_lock:
            if active.thread_ended:
                summary = dict(active.final_summary or {})
            else:
                assert active.context is not None
                summary = dict(active.context.progress)
                active.recorded_before_thread_ended = True
            return records.finish_run(self.database, run_id, status=status, finished_at=finished_at,
                                      summary=summary, error=error, log=log)

    def _outcome(self, active: _ActiveRun, run: RunRecord, *, finished: bool,
                 timeout: int) -> tuple[str, Summary, str | None]:
        work = active.work
        assert work is not None
        reason = active.cancel_reason
        partial = dict(active.context.progress) if active.context else {}
        reason_text = {
            "timed_out": _("Cancelled after its time-out of {seconds} s.").format(seconds=timeout),
            "cancelled": _("Cancelled because the console was stopping."),
        }
        if not finished:
            return reason or "timed_out", partial, reason_text.get(reason or "timed_out", "") + " " + _(
                "The job had not reached a cancellation point; its worker thread may still be finishing a batch.")
        if work.cancelled():
            return reason or "cancelled", partial, reason_text.get(reason or "cancelled")
        exception = work.exception()
        if isinstance(exception, JobCancelled | asyncio.CancelledError):
            return reason or "cancelled", partial, reason_text.get(reason or "cancelled")
        if exception is not None:
            text = "".join(traceback.format_exception(exception))
            if isinstance(exception, CronConsoleError):
                text = f"{exception.message}\n\n{text}"
            return "failed", partial, text
        summary = work.result()
        if not isinstance(summary, dict):
            summary = {"result": summary} if summary is not None else {}
        if reason:
            return reason, summary, reason_text.get(reason)
        return "succeeded", summary, None

    def _cancel_run(self, active: _ActiveRun, reason: str) -> None:
        active.cancel_reason = active.cancel_reason or reason
        active.cancel_requested.set()
        if active.context is not None:
            active.context.cancel_event.set()
        if active.work is None or active.work.done():
            return
        if active.threaded:
            # Cancelling the to_thread future would not stop the thread, and the
            # run would be recorded while the thread still commits a batch.
            # The job stops at its next check_cancelled() instead.
            logger.info("Requested a stop of run %s of %s; waiting up to %.0f s for its next cancellation point",
                        active.run_id, active.context.job_id if active.context else "-", self._cancel_wait)
        else:
            active.work.cancel()  # a coroutine job stops at its current await

    async def _record_skipped(self, state: _JobState, scheduled_at: datetime | None, trigger: str,
                              reason: str) -> RunRecord | None:
        now = self.clock.now()
        record = await asyncio.to_thread(
            records.claim_run, self.database, identity=self.identity, job_id=state.spec.id, trigger=trigger,
            scheduled_at=scheduled_at, started_at=now, dry_run=False, requested_by=None, status="skipped",
            summary={}, error=reason)
        if record is None:
            return None
        logger.warning("Skipped the firing of %s at %s: %s", state.spec.id,
                       scheduled_at.isoformat() if scheduled_at else "-", reason)
        self.bus.publish(RunSkipped(state.spec.id, record.id, "skipped", reason, scheduled_at))
        return record

    async def _record_missed(self, state: _JobState, firings: list[datetime]) -> RunRecord | None:
        """Record one ``missed`` row for ``firings`` (oldest first), keyed by the latest of them."""
        now = self.clock.now()
        summary = {"missed_firings": len(firings), "first": firings[0].isoformat(), "last": firings[-1].isoformat()}
        reason = _("{count} firing(s) missed while no console was running, from {first} to {last}").format(
            count=len(firings), first=local_time(firings[0], self.zone), last=local_time(firings[-1], self.zone))
        record = await asyncio.to_thread(
            records.claim_run, self.database, identity=self.identity, job_id=state.spec.id, trigger="schedule",
            scheduled_at=firings[-1], started_at=now, dry_run=False, requested_by=None, status="missed",
            summary=summary, error=reason)
        if record is not None:
            logger.warning("Recorded %d missed firing(s) of %s, the last at %s", len(firings), state.spec.id,
                           firings[-1].isoformat())
            self.bus.publish(RunSkipped(state.spec.id, record.id, "missed", reason, firings[-1]))
        return record

    async def _catch_up(self, last_seen: datetime, now: datetime) -> None:
        """Run once each job whose last firing fell while no instance was up, if recent enough."""
        start = max(last_seen, now - CATCH_UP_HORIZON)
        window = timedelta(hours=self.settings.catch_up_hours)
        for state in list(self._states.values()):
            if not self._is_schedulable(state):
                continue
            firings = state.schedule.times_between(start, now, self.zone)
            if not firings:
                continue
            latest = firings[-1]
            if await asyncio.to_thread(records.has_run_for, self.database, job_id=state.spec.id, scheduled_at=latest):
                continue
            catch_up = window > timedelta(0) and now - latest <= window
            older = firings[:-1] if catch_up else firings
            if older:
                await self._record_missed(state, older)
            if catch_up:
                logger.info("Catching up %s: its firing at %s was missed", state.spec.id, latest.isoformat())
                self._track(asyncio.ensure_future(self._catch_up_run(state, latest)))

    async def _catch_up_run(self, state: _JobState, scheduled_at: datetime) -> None:
        try:
            await self._execute(state, trigger="catch-up", scheduled_at=scheduled_at, dry_run=False,
                                requested_by=None)
        except Exception:
            logger.exception("Catch-up run of %s failed to start", state.spec.id)

    # --- Internals: alerts, logs, background ---------------------------------

    def _alert_sink(self, job_id: str, run_id: int) -> Callable[[str, str, str], int | None]:
        def sink(kind: str, severity: str, message: str) -> int | None:
            alert, is_new = records.insert_alert(self.database, kind=kind, severity=severity, message=message,
                                                 job_id=job_id, run_id=run_id, now=self.clock.now())
            if not is_new:
                logger.info("Alert %s from %s run %s is still open; not raised again: %s",
                            alert.id, job_id, run_id, message)
                return alert.id
            log = logger.warning if severity in ("warning", "critical") else logger.info
            log("Alert %s (%s) from %s run %s: %s", alert.id, severity, job_id, run_id, message)
            self._publish_threadsafe(AlertRaised(alert.id, kind, severity, message, job_id, alert.created_at))
            return alert.id

        return sink

    def _publish_threadsafe(self, event: EngineEvent) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            self.bus.publish(event)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.bus.publish(event)
        else:
            loop.call_soon_threadsafe(self.bus.publish, event)

    def _install_log_capture(self) -> None:
        root = logging.getLogger()
        if self._run_logs not in root.handlers:
            root.addHandler(self._run_logs)

    def _remove_log_capture(self) -> None:
        logging.getLogger().removeHandler(self._run_logs)

    async def _ensure_provider_hub(self) -> None:
        """Create the provider clients on the first run that needs them.

        Building the HTTP client loads the CA bundle, which keeps the GIL for
        about 15 ms (measured on this project's 2-core machine). Doing it at
        start would delay the console's first frames, and most runs never need it.
        """
        async with self._provider_hub_lock:
            if self.providers is None:
                self.providers = await asyncio.to_thread(self._create_provider_hub)

    def _create_provider_hub(self) -> Any:
        try:
            from jobs.providers import ProviderHub  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            return None
        try:
            return ProviderHub(self.settings)
        except Exception:
            logger.exception("Creating the provider clients failed; provider jobs will report it")
            return None

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                assert self._instance_row is not None
                await asyncio.to_thread(records.heartbeat, self.database, row_id=self._instance_row,
                                        now=self.clock.now())
            except Exception:
                logger.exception("Heartbeat of instance %s failed", self.identity.instance_id)

    async def _refresh_loop(self) -> None:
        """In a read-only console, follow what other processes record in the database."""
        while True:
            await asyncio.sleep(READ_ONLY_REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:
                logger.exception("Refreshing the job list from the database failed")

    async def refresh(self) -> None:
        """Reload job settings and recent runs from the database (for read-only watchers)."""
        await asyncio.to_thread(self._load_states)


def _never_called() -> None:  # pragma: no cover - the engine executor never calls the job's function
    raise AssertionError("jobs are run by the engine executor, not by APScheduler")


def with_job_spec(spec: JobSpec, **changes: Any) -> JobSpec:
    """Return a copy of ``spec`` with ``changes`` (for tests and benchmarks that need a variant job)."""
    return replace(spec, **changes)


def _log_summary(summary: Summary) -> str:
    """Format a summary for a log line: ``examined=71 valid=57``, or ``-`` when it is empty."""
    return " ".join(f"{key}={value}" for key, value in summary.items()) or "-"
