"""The Textual console around the engine, and :func:`build_app`, the factory the CLI and the tests share."""

from __future__ import annotations

import asyncio
import functools
import gc
import getpass
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from console.bindings import shown_bindings, translate_bindings
from console.format import duration, status_label
from console.i18n import N_, _, ngettext
from console.logbridge import UILogHandler
from console.messages import AlertsChanged, EngineReady, JobsChanged, RunEnded
from console.screens.alerts import AlertsScreen
from console.screens.confirm_run import ConfirmRunScreen
from console.screens.details import JobDetailsScreen
from console.screens.help import HelpScreen
from console.screens.main import MainScreen
from console.screens.quit import QuitChoice, QuitScreen
from console.screens.schedule_editor import ScheduleEditorScreen
from console.widgets.gauges import PsutilSampler, Sampler
from console.widgets.log_pane import LogPane
from jobs.clock import Clock
from jobs.engine import Engine
from jobs.errors import CronConsoleError
from jobs.events import (
    AlertAcknowledged,
    AlertRaised,
    EngineEvent,
    RunFailed,
    RunFinished,
    RunSkipped,
)
from jobs.settings import Settings
from jobs.summary import format_summary
from storage.db import Database

logger = logging.getLogger(__name__)

# Titles of errors defined outside console/ without N_(), listed here so that
# message extraction finds them and _(error.title) can translate them.
OTHER_ERROR_TITLES = (N_("Job disabled"), N_("No provider client"), N_("Backup failed"))

# When the operator chooses to cancel running jobs on quit, they get this long
# to reach a cancellation point before the engine records them as cancelled.
# NOTE: not 0, because Engine.stop() reads a grace of 0 as "wait without a time limit".
CANCEL_GRACE_SECONDS = 0.5
TERMINAL_CHECK_SECONDS = 1.0
# New alerts are gathered this long before they are shown, so that one run's alerts make one notification.
ALERT_NOTICE_DELAY_SECONDS = 0.5
SHUTDOWN_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class CronConsoleApp(App[None]):
    """The operations console: shows the engine's jobs and turns the operator's keys into engine calls.

    The engine starts on the app's loop once the app is mounted and stops when
    the app unmounts. Every change goes through the engine, which records who
    made it (:attr:`user`).
    """

    # The main screen's styles load with the app's: a screen's own CSS_PATH makes
    # Textual parse every style sheet again when the screen is first shown.
    CSS_PATH = ["app.tcss", "screens/main.tcss"]
    TITLE = "cron-console"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", N_("Quit"), id="quit", tooltip=N_("Quit, asking first if jobs are running")),
        Binding("ctrl+q", "quit", N_("Quit"), id="quit-ctrl", show=False, priority=True),
        # Declared here so that its footer label is translated; otherwise Textual adds it in English.
        Binding("ctrl+p", "command_palette", N_("Palette"), id="command-palette", show=False,
                priority=True, tooltip=N_("Open the command palette")),
    ]

    def __init__(self, engine: Engine, *, sampler: Sampler, user: str) -> None:
        super().__init__()
        translate_bindings(self)
        self.engine = engine
        self.sampler = sampler
        self.user = user
        self.log_handler = UILogHandler(engine.clock)
        self.engine_ready = False
        self.stopping = False
        self._unsubscribe: Callable[[], None] | None = None
        self._changed_jobs: set[str] = set()
        self._requested: set[tuple[str, bool]] = set()
        self._signals: list[int] = []
        self._new_alerts: list[AlertRaised] = []
        self.terminal_lost = False
        # Returns False once the terminal is gone; None when the app has no terminal (tests, headless).
        self.terminal_alive: Callable[[], bool] | None = None

    # --- Lifecycle ----------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(self.sampler)

    def on_mount(self) -> None:
        self.log_handler.attach()
        self._unsubscribe = self.engine.subscribe(self._on_engine_event)
        # The engine opens the database in a worker thread; the first frame does not wait for it.
        self.run_worker(self._start_engine(), name="engine-start", group="engine")
        self._install_signal_handlers()
        if self.terminal_alive is None and not self.is_headless and sys.__stdin__ is not None:
            fileno = sys.__stdin__.fileno()
            if os.isatty(fileno):
                self.terminal_alive = functools.partial(os.isatty, fileno)
        if self.terminal_alive is not None:
            self.set_interval(TERMINAL_CHECK_SECONDS, self._check_terminal)

    def _install_signal_handlers(self) -> None:
        """Stop gracefully on SIGHUP (the terminal or the SSH session closed) and SIGTERM."""
        loop = asyncio.get_running_loop()
        for number in SHUTDOWN_SIGNALS:
            try:
                loop.add_signal_handler(number, self._on_signal, number)
            except (NotImplementedError, RuntimeError, ValueError):
                logger.warning("Cannot handle %s here; it will end the console without stopping the engine",
                               signal.Signals(number).name)
                continue
            self._signals.append(number)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for number in self._signals:
            loop.remove_signal_handler(number)
        self._signals.clear()

    def _on_signal(self, number: int) -> None:
        # SIGHUP usually means the terminal is gone, but an operator may also send it by hand.
        lost = number == signal.SIGHUP and self.terminal_alive is not None and not self.terminal_alive()
        self.shut_down(signal.Signals(number).name, terminal_lost=lost)

    def _check_terminal(self) -> None:
        # After a hang-up the terminal reads as end of file, and Textual's input thread
        # then spins on it. The console can no longer be seen or used, so it stops.
        if self.terminal_alive is not None and not self.terminal_alive():
            self.shut_down("the terminal closed", terminal_lost=True)

    def shut_down(self, reason: str, *, terminal_lost: bool = False) -> None:
        """Stop the engine, cancelling running jobs after CRON_STOP_GRACE_SECONDS, then exit.

        Used where the quit dialog cannot be shown or used: a signal, or a terminal that went away.
        """
        if terminal_lost and not self.terminal_lost:
            self.terminal_lost = True
            self._release_terminal()
        if self.stopping:
            return
        self.stopping = True
        logger.warning("Stopping the console of instance %s: %s", self.engine.identity.instance_id, reason)
        self.run_worker(self._stop_and_exit(self.engine.settings.stop_grace_seconds), group="engine")

    def _release_terminal(self) -> None:
        """Stop reading from and writing to a terminal that hung up."""
        if self.is_headless or self._driver is None:
            return
        # Textual's writer thread dies on the first write to a hung-up terminal, and its
        # queue then fills and blocks the event loop, so frames are dropped from here on.
        self._driver.write = lambda _data: None  # type: ignore[method-assign,assignment]
        exit_event = getattr(self._driver, "exit_event", None)
        if exit_event is not None:
            exit_event.set()  # ends the input thread, which spins on end of file

    async def _start_engine(self) -> None:
        try:
            await self.engine.start()
            # Move everything built so far (widgets, styles, imported modules) out of
            # the collector's reach: a full collection then scans only newer objects,
            # which shortens the 50-100 ms pauses bench/ui.py measured without it.
            gc.freeze()
        except Exception as error:
            logger.exception("The engine failed to start")
            message = error.message if isinstance(error, CronConsoleError) else str(error)
            self.notify(message, title=_("The engine failed to start"), severity="error", timeout=30)
            self._broadcast(lambda: EngineReady(error=message))
            return
        self.engine_ready = True
        self._broadcast(EngineReady)

    async def on_unmount(self) -> None:
        self._remove_signal_handlers()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.engine.stop(grace_seconds=self.engine.settings.stop_grace_seconds)
        self.log_handler.detach()

    # --- Engine events --------------------------------------------------------

    def _on_engine_event(self, event: EngineEvent) -> None:
        """Turn an engine event into messages; called on the loop's thread, the app's own."""
        if isinstance(event, AlertRaised | AlertAcknowledged):
            self._broadcast(AlertsChanged)
            if isinstance(event, AlertRaised):
                # A run may raise many alerts at once, for example one per expired credential.
                # They are gathered for a moment and shown as one notification per job.
                if not self._new_alerts:
                    self.set_timer(ALERT_NOTICE_DELAY_SECONDS, self._notify_new_alerts)
                self._new_alerts.append(event)
            if isinstance(event, AlertAcknowledged):
                return
        job_id = getattr(event, "job_id", None)
        if job_id is None:
            return
        # Merge a flood: events that arrive before the next message-loop turn become one JobsChanged.
        if not self._changed_jobs:
            self.call_later(self._flush_changed_jobs)
        self._changed_jobs.add(job_id)
        if isinstance(event, RunFinished | RunFailed | RunSkipped):
            self._report_run_end(event)

    def _notify_new_alerts(self) -> None:
        alerts, self._new_alerts = self._new_alerts, []
        by_job: dict[str | None, list[AlertRaised]] = {}
        for alert in alerts:
            by_job.setdefault(alert.job_id, []).append(alert)
        for job_id, raised in by_job.items():
            severity: SeverityLevel = "error" if any(alert.severity == "critical" for alert in raised) else "warning"
            title = _("Alert from {job}").format(job=job_id or "-")
            if len(raised) == 1:
                self.notify(raised[0].message, title=title, severity=severity)
                continue
            message = ngettext(
                "{count} new alert, the first:\n{message}\nPress a to see them all.",
                "{count} new alerts, the first:\n{message}\nPress a to see them all.",
                len(raised),
            ).format(count=len(raised), message=raised[0].message)
            self.notify(message, title=title, severity=severity)

    def _flush_changed_jobs(self) -> None:
        changed = frozenset(self._changed_jobs)
        self._changed_jobs.clear()
        self._broadcast(lambda: JobsChanged(changed))

    def _report_run_end(self, event: RunFinished | RunFailed | RunSkipped) -> None:
        dry_run = getattr(event, "dry_run", False)
        self._broadcast(lambda: RunEnded(event.job_id, event.run_id, event.status, dry_run))
        requested = (event.job_id, dry_run) in self._requested
        self._requested.discard((event.job_id, dry_run))
        if isinstance(event, RunFinished):
            if requested:
                self.notify(_("{job} {status} in {duration}: {summary}").format(
                    job=event.job_id, status=status_label(event.status),
                    duration=duration(event.duration_seconds),
                    summary=format_summary(event.summary, dry_run=event.dry_run)))
        elif isinstance(event, RunFailed):
            lines = event.error.strip().splitlines()
            self.notify(lines[-1] if lines else event.status, severity="error", timeout=10,
                        title=_("{job} {status}").format(job=event.job_id, status=status_label(event.status)))
        elif requested:
            self.notify(event.reason, title=_("{job} {status}").format(
                job=event.job_id, status=status_label(event.status)), severity="warning")

    def _broadcast(self, make_message: Callable[[], object]) -> None:
        """Post a fresh message to every screen on the stack (a message can be posted only once)."""
        for screen in self.screen_stack:
            message = make_message()
            screen.post_message(message)  # type: ignore[arg-type]

    # --- Header ---------------------------------------------------------------

    def scheduler_running(self) -> bool:
        scheduler = self.engine.scheduler
        return bool(scheduler is not None and scheduler.running) and self.engine.settings.enabled

    def scheduler_state(self) -> str:
        if self.engine.read_only:
            return _("read-only")
        if not self.engine_ready:
            return _("starting")
        if self.engine.scheduler is None or not self.engine.scheduler.running:
            return _("scheduler stopped")
        if not self.engine.settings.enabled:
            return _("CRON_ENABLED=false: manual runs only")
        return _("scheduler running")

    # --- Operator requests ----------------------------------------------------

    def report_error(self, error: CronConsoleError) -> None:
        """Show an error an operator can act on as a notification."""
        self.notify(error.message, title=_(error.title), severity="error", timeout=10)

    def _refuse_if_read_only(self) -> bool:
        if self.engine.read_only:
            self.notify(_("This console is read-only; start it without --read-only to run or change jobs."),
                        title=_("Read-only console"), severity="warning")
            return True
        return False

    def request_run(self, job_id: str, *, dry_run: bool = False) -> None:
        """Run ``job_id`` now; a destructive job first runs a dry run and shows its counts for confirmation."""
        if self._refuse_if_read_only():
            return
        self.run_worker(self._run_flow(job_id, dry_run), group="operator", exit_on_error=False)

    async def _run_flow(self, job_id: str, dry_run: bool) -> None:
        spec = self.engine.spec(job_id)
        try:
            if spec.destructive and not dry_run:
                self.notify(_("Dry run of {job} first, to show what a real run would delete.").format(job=job_id))
                preview = await self.engine.run_job(job_id, dry_run=True, requested_by=self.user)
                if preview.status != "succeeded":
                    self.notify(_("The dry run ended {status}; the job was not run.").format(
                        status=status_label(preview.status)), title=job_id, severity="error")
                    return
                # Show the dry run's log lines behind the dialog before it opens.
                self._drain_log_panes()
                confirmed = await self.push_screen_wait(ConfirmRunScreen(spec, preview))
                if not confirmed:
                    self.notify(_("{job} was not run.").format(job=job_id))
                    return
            self.engine.start_job(job_id, dry_run=dry_run, requested_by=self.user)
            self._requested.add((job_id, dry_run))
            self.notify(_("{job}: dry run started.").format(job=job_id) if dry_run
                        else _("{job}: run started.").format(job=job_id))
        except CronConsoleError as error:
            self.report_error(error)

    def _drain_log_panes(self) -> None:
        for screen in self.screen_stack:
            for pane in screen.query(LogPane):
                pane.drain()

    def request_toggle_pause(self, job_id: str) -> None:
        if self._refuse_if_read_only():
            return
        self.run_worker(self._toggle_pause(job_id), group="operator", exit_on_error=False)

    async def _toggle_pause(self, job_id: str) -> None:
        try:
            if self.engine.job(job_id).paused:
                await self.engine.resume(job_id, self.user)
                self.notify(_("{job} resumed.").format(job=job_id))
            else:
                await self.engine.pause(job_id, self.user)
                self.notify(_("{job} paused; it will not fire until resumed.").format(job=job_id))
        except CronConsoleError as error:
            self.report_error(error)

    def open_schedule_editor(self, job_id: str) -> None:
        if self._refuse_if_read_only():
            return
        self.push_screen(ScheduleEditorScreen(job_id))

    def open_details(self, job_id: str) -> None:
        self.push_screen(JobDetailsScreen(job_id))

    def open_alerts(self) -> None:
        if not isinstance(self.screen, AlertsScreen):
            self.push_screen(AlertsScreen())

    def open_help(self, screen: Screen[Any], bindings: list[Binding] | None = None) -> None:
        """Open the list of keys of ``screen`` (``bindings`` when given) and of the app."""
        screen_bindings = shown_bindings(screen) if bindings is None else bindings
        self.push_screen(HelpScreen(screen_bindings + shown_bindings(self)))

    # --- Quit -----------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit; when jobs of this console are running, ask whether to wait for them or cancel them."""
        if self.stopping:
            self.notify(_("Already stopping; waiting for the running jobs."), severity="warning")
            return
        # NOTE: this also counts a run in progress in another instance sharing the database,
        # which stopping this console does not affect.
        running = [info for info in self.engine.jobs() if info.running_since is not None]
        if self.engine.read_only or not running:
            self.exit()
            return
        self.push_screen(QuitScreen([info.id for info in running]), self._on_quit_choice)

    def _on_quit_choice(self, choice: QuitChoice | None) -> None:
        if choice is None:
            return
        self.stopping = True
        running = [info for info in self.engine.jobs() if info.running_since is not None]
        if choice == "wait":
            grace = float(max((info.timeout_seconds for info in running), default=0)) or CANCEL_GRACE_SECONDS
            self.notify(_("Waiting for {count} running job(s) to finish…").format(count=len(running)),
                        timeout=grace)
        else:
            grace = CANCEL_GRACE_SECONDS
            self.notify(_("Cancelling {count} running job(s)…").format(count=len(running)))
        self.run_worker(self._stop_and_exit(grace), group="engine")

    async def _stop_and_exit(self, grace: float) -> None:
        await self.engine.stop(grace_seconds=grace)
        if self.terminal_lost and not self.is_headless:
            # Textual's exit would write to the dead terminal and wait for its writer
            # thread forever. The engine has stopped and recorded everything, so end here.
            logger.warning("Console of instance %s ended without its terminal", self.engine.identity.instance_id)
            logging.shutdown()
            os._exit(0)
        self.exit()

    # --- Command palette ------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Offer every footer key of ``screen`` and of the app, then the theme and screenshot commands."""
        all_bindings = getattr(screen, "all_bindings", None)
        for node, bindings in ((screen, all_bindings), (self, None)):
            for binding in shown_bindings(node, bindings):
                yield SystemCommand(binding.description, binding.tooltip or binding.description,
                                    _bound_action(node, binding.action))
        yield SystemCommand(_("Theme"), _("Change the colour theme"), self.action_change_theme)
        yield SystemCommand(_("Screenshot"), _("Save an SVG screenshot of the screen"),
                            lambda: self.set_timer(0.1, self.deliver_screenshot))


def _bound_action(node: object, action: str) -> Callable[[], object]:
    assert isinstance(node, App | Screen)

    def run() -> object:
        return node.run_action(action)

    return run


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    read_only: bool = False,
    database: Database | None = None,
    engine: Engine | None = None,
    sampler: Sampler | None = None,
) -> CronConsoleApp:
    """Build the console for ``settings``; the CLI calls ``build_app(settings, read_only=...).run()``.

    Tests pass a fixed ``clock``, a seeded ``database`` or a ready ``engine``
    (for instance with a job spec variant) and a ``sampler`` with fixed values.
    An ``engine`` given here is used as it is, and ``clock``, ``read_only``
    and ``database`` are then ignored.
    """
    if engine is None:
        engine = Engine(settings, database=database, clock=clock, read_only=read_only)
    if sampler is None:
        database_path = engine.database.sqlite_path
        sampler = PsutilSampler(database_path.parent if database_path else None, settings.backup_dir)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    return CronConsoleApp(engine, sampler=sampler, user=user)

