"""Snapshots of every screen and modal, in English and Romanian, at 80x24 and 160x48.

The clock is fixed, the database seeded, the gauges fed one fixed sample and
the scheduler never fires, so a snapshot changes only when the screen does.
Update them with ``pytest tests/test_ui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from console.app import CronConsoleApp
from console.i18n import set_language
from console.widgets import gauges
from console.widgets.gauges import FixedSampler, ResourceGauges
from console.widgets.job_table import JobTable
from console.widgets.log_pane import LogPane
from tests import ui_support

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
LANGUAGES = ("en", "ro")

Navigate = Callable[[CronConsoleApp, Pilot[None]], Awaitable[None]]


@pytest.fixture(autouse=True)
def _single_gauge_sample(ui_identity: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # One sample only: a second one, taken or not depending on how long a test runs, adds a bar.
    monkeypatch.setattr(gauges, "SAMPLE_INTERVAL_SECONDS", 3600.0)


def gauges_sampled(app: CronConsoleApp) -> bool:
    """Return whether the gauges are mounted (the main screen mounts them just after its first frame) and show a sample."""
    found = [gauges for stacked in app.screen_stack for gauges in stacked.query(ResourceGauges)]
    return bool(found) and all(gauges.last_sample is not None for gauges in found)


async def settle(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    """Wait until the gauges have a sample and no log record is waiting for the pane, then stop cursor blinking."""
    quiet_checks = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not gauges_sampled(app):
        await pilot.pause(0.05)
    while quiet_checks < 3 and time.monotonic() < deadline:
        await pilot.pause(0.05)
        # The log pane may sit on a screen under a modal, so drain it on every screen of the stack.
        for stacked in app.screen_stack:
            for pane in stacked.query(LogPane):
                pane.drain()
        quiet_checks = quiet_checks + 1 if not app.log_handler.drain() else 0
    for field in app.screen.query(Input):
        field.cursor_blink = False
    # A DataTable sizes its columns on idle after rows change. On a busy machine the
    # screenshot could otherwise catch rows drawn at the headers' widths. This wait has
    # its own time limit, because the waits above may have used up theirs.
    sized_by = time.monotonic() + 10
    while any(table._require_update_dimensions for stacked in app.screen_stack for table in stacked.query(DataTable)):
        if time.monotonic() > sized_by:
            raise AssertionError("a DataTable did not size its columns within 10 s")
        await pilot.pause(0.05)
    await pilot.pause()


async def select(app: CronConsoleApp, pilot: Pilot[None], job_id: str) -> None:
    """Wait for the engine, put the cursor on ``job_id`` and let the log pane catch up.

    Settling before a modal opens matters: the screen under a modal is drawn
    as it was, so a log line written later would show up or not by timing.
    """
    await ui_support.wait_until_ready(app)
    await pilot.pause()
    app.screen.query_one(JobTable).select_job(job_id)
    await settle(app, pilot)


async def main_screen(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "cleanup-sessions")


async def details_overview(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "daily-report")
    await pilot.press("enter")
    await pilot.pause(0.2)


async def details_history(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "cleanup-sessions")
    await pilot.press("enter")
    await pilot.pause(0.2)
    await pilot.press("h")


async def schedule_editor(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "cleanup-old-logs")
    await pilot.press("e")
    await pilot.pause(0.1)
    # Sundays of October and November: summer time ends on 25 October 2026, so the offset changes.
    await pilot.press("ctrl+a", "ctrl+k", *"30 3 * 10,11 0")


async def schedule_editor_invalid(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "cleanup-old-logs")
    await pilot.press("e")
    await pilot.pause(0.1)
    await pilot.press("ctrl+a", "ctrl+k", *"0 25 * * *", "ctrl+s")


async def alerts(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "check-system-performance")
    await pilot.press("a")
    await pilot.pause(0.2)


async def confirm_destructive(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "cleanup-sessions")
    await pilot.press("r")
    deadline = time.monotonic() + 5
    while not app.screen.query("#dialog-preview") and time.monotonic() < deadline:
        await pilot.pause(0.05)


async def quit_while_running(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "optimize-database")
    await pilot.press("r")
    await asyncio.to_thread(ui_support.slow_started.wait, 5)
    await settle(app, pilot)
    await pilot.press("q")
    await pilot.pause(0.1)


async def help_screen(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await select(app, pilot, "check-system-performance")
    await pilot.press("question_mark")


SCREENS: dict[str, Navigate] = {
    "main": main_screen,
    "details-overview": details_overview,
    "details-history": details_history,
    "schedule-editor": schedule_editor,
    "schedule-editor-invalid": schedule_editor_invalid,
    "alerts": alerts,
    "confirm-destructive": confirm_destructive,
    "quit-while-running": quit_while_running,
    "help": help_screen,
}


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize("language", LANGUAGES, ids=list(LANGUAGES))
@pytest.mark.parametrize("screen", list(SCREENS), ids=list(SCREENS))
def test_screen_snapshot(snap_compare: Callable[..., bool], tmp_path: Path, screen: str, language: str,
                         size: str) -> None:
    ui_support.ensure_catalogues()
    set_language(language)
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    app.sampler = FixedSampler([ui_support.SAMPLE])
    # Toasts are off: one raised under a modal stays drawn on the screen behind it.
    app.notify = lambda *_args, **_kwargs: None  # type: ignore[method-assign]
    navigate = SCREENS[screen]

    async def run_before(pilot: Pilot[None]) -> None:
        await navigate(app, pilot)
        await settle(app, pilot)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
