"""Pilot tests: press the console's real keys and check what the engine stored in the database."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlmodel import col, select
from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from console.app import CronConsoleApp
from console.screens.alerts import AlertsScreen
from console.screens.confirm_run import ConfirmRunScreen
from console.screens.details import JobDetailsScreen
from console.screens.help import HelpScreen
from console.screens.main import MainScreen
from console.screens.schedule_editor import ScheduleEditorScreen
from console.widgets.log_pane import LogPane
from storage.db import Database
from storage.models import Alert
from tests import ui_support
from tests.ui_support import job_setting, job_table, manual_runs, open_quit_dialog, start, wait_for

SIZE = (100, 30)


pytestmark = pytest.mark.usefixtures("ui_identity")


async def test_run_key_records_manual_run(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "check-inactive-sessions")
        await pilot.press("r")
        await wait_for(lambda: any(run.status == "succeeded" for run in manual_runs(app, "check-inactive-sessions")),
                       pilot)
        run = manual_runs(app, "check-inactive-sessions")[-1]
        assert run.requested_by == app.user
        assert run.dry_run is False
        assert job_table(app).selected_job_id == "check-inactive-sessions"


async def test_dry_run_key_records_dry_run(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-sessions")
        await pilot.press("d")
        await wait_for(lambda: len(manual_runs(app, "cleanup-sessions")) == 1
                       and manual_runs(app, "cleanup-sessions")[0].status == "succeeded", pilot)
        assert manual_runs(app, "cleanup-sessions")[0].dry_run is True
        assert not isinstance(app.screen, ConfirmRunScreen)


async def test_destructive_run_confirmed_after_dry_run(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-sessions")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmRunScreen), pilot)
        preview = manual_runs(app, "cleanup-sessions")
        assert [run.dry_run for run in preview] == [True]
        assert "to delete 2" in str(app.screen.query_one("#dialog-preview").render())

        await pilot.press("y")
        await wait_for(lambda: len(manual_runs(app, "cleanup-sessions")) == 2
                       and manual_runs(app, "cleanup-sessions")[1].status == "succeeded", pilot)
        assert manual_runs(app, "cleanup-sessions")[1].dry_run is False


async def test_destructive_run_declined_runs_nothing(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-old-messages")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmRunScreen), pilot)
        await pilot.press("n")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        await pilot.pause(0.2)
        assert [run.dry_run for run in manual_runs(app, "cleanup-old-messages")] == [True]


async def test_pause_key_persists_and_resumes(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "backup-data")
        await pilot.press("p")
        await wait_for(lambda: (setting := job_setting(app, "backup-data")) is not None and setting.paused, pilot)
        await wait_for(lambda: "paused" in str(job_table(app).get_cell("backup-data", "state")), pilot)
        assert job_table(app).selected_job_id == "backup-data"

        await pilot.press("p")
        await wait_for(lambda: not job_setting(app, "backup-data").paused, pilot)  # type: ignore[union-attr]
        assert app.engine.job("backup-data").next_run is not None


async def test_invalid_schedule_rejected_old_kept(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-old-logs")
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, ScheduleEditorScreen), pilot)
        await pilot.press("ctrl+a", "ctrl+k", *"61 * * * *")
        editor = app.screen
        assert isinstance(editor, ScheduleEditorScreen)
        assert editor.query_one(Input).has_class("-invalid")
        assert "minute" in editor.reason
        assert "61" in editor.reason

        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert app.screen is editor
        assert job_setting(app, "cleanup-old-logs") is None
        assert app.engine.job("cleanup-old-logs").schedule == "30 1 1 * *"

        await pilot.press("ctrl+a", "ctrl+k", *"15 4 * * 1-5", "enter")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        setting = job_setting(app, "cleanup-old-logs")
        assert setting is not None
        assert setting.schedule_override == "15 4 * * 1-5"
        assert app.engine.job("cleanup-old-logs").schedule_source == "operator"


async def test_schedule_reset_to_default(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        job_table(app).select_job("daily-report")
        await pilot.pause()
        assert app.engine.job("daily-report").schedule == "0 7 * * 1-5"
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, ScheduleEditorScreen), pilot)
        await pilot.press("ctrl+r")
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        assert app.engine.job("daily-report").schedule == "0 8 * * *"
        setting = job_setting(app, "daily-report")
        assert setting is not None
        assert setting.schedule_override is None


async def test_read_only_console_refuses_changes(tmp_path: Path) -> None:
    ui_support.seed_database(Database(ui_support.make_settings(tmp_path).database_url))
    app = ui_support.make_app(tmp_path, seed=False, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "check-inactive-sessions")
        await pilot.press("r", "d", "p", "e")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen)
        assert manual_runs(app, "check-inactive-sessions") == []
        assert job_setting(app, "check-inactive-sessions") is None

        footer_keys = {key.key for key in app.screen.query(FooterKey)}
        assert footer_keys.isdisjoint({"r", "d", "p", "e"}), "the footer offers no key that changes something"
        assert {"a", "q"} <= footer_keys, "watching keys stay"
        offered = {binding.action for binding in app.screen.footer_and_hidden_bindings()}
        assert offered.isdisjoint({"run_job", "dry_run", "toggle_pause", "edit_schedule"})
        assert "alerts" in offered

        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, JobDetailsScreen), pilot)
        await pilot.pause()
        details_keys = {key.key for key in app.screen.query(FooterKey)}
        assert details_keys.isdisjoint({"r", "d", "p", "e"}), "nor does the details screen"
        assert "escape" in details_keys


async def test_read_write_console_offers_changes(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "check-inactive-sessions")
        footer_keys = {key.key for key in app.screen.query(FooterKey)}
        assert {"r", "d", "p", "e"} <= footer_keys


async def test_alerts_screen_acknowledges(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, AlertsScreen) and len(app.screen.alerts) == 2, pilot)
        await pilot.press("a")
        await wait_for(lambda: len(app.screen.alerts) == 1, pilot)  # type: ignore[attr-defined]
        with app.engine.database.session() as session:
            acknowledged = session.exec(select(Alert).where(col(Alert.acknowledged_at).is_not(None))).all()
        assert len(acknowledged) == 1
        assert acknowledged[0].acknowledged_by == app.user
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_filter_keeps_matching_rows(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert job_table(app).row_count == 16
        await pilot.press("slash", *"cleanup-old")
        await pilot.pause()
        visible = {str(row.key.value) for row in job_table(app).ordered_rows}
        assert visible == {"cleanup-old-messages", "cleanup-old-logs", "cleanup-old-sessions"}
        await pilot.press("escape")
        await pilot.pause()
        assert job_table(app).row_count == 16


async def test_details_screen_shows_history(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-sessions")
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, JobDetailsScreen) and len(app.screen.runs) == 4, pilot)
        await pilot.press("h")
        await pilot.pause()
        detail = str(app.screen.query_one("#run-detail").render())
        assert "sessions deleted 118" in detail
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_log_keys_change_filters(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "check-inactive-sessions")
        pane = app.screen.query_one(LogPane)
        await pilot.press("l")
        assert pane.min_level == 30
        assert "WARNING" in str(pane.border_title)
        await pilot.press("j")
        assert pane.job_filter == "check-inactive-sessions"
        await pilot.press("j")
        assert pane.job_filter is None


async def test_help_lists_keys(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        descriptions = [binding.description for binding in app.screen.key_bindings]
        assert "Run" in descriptions
        assert "Quit" in descriptions
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_ui_responsive_during_slow_job(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "optimize-database")
        await pilot.press("r")
        await asyncio.to_thread(ui_support.slow_started.wait, 5)
        await wait_for(lambda: "running" in str(job_table(app).get_cell("optimize-database", "state")), pilot)

        # Keys still act at once while the job's worker thread runs.
        started = time.monotonic()
        await pilot.press("slash", *"optimize")
        await pilot.pause()
        assert job_table(app).row_count == 1
        await pilot.press("escape", "l")
        assert app.screen.query_one(LogPane).min_level == 30
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert time.monotonic() - started < 3.0
        assert manual_runs(app, "optimize-database")[-1].status == "running"

        ui_support.slow_release.set()
        await wait_for(lambda: manual_runs(app, "optimize-database")[-1].status == "succeeded", pilot)


async def test_quit_while_running_cancels(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    async with app.run_test(size=SIZE) as pilot:
        await open_quit_dialog(app, pilot, "optimize-database")
        await pilot.press("c")
        await wait_for(lambda: not app.is_running, pilot)
    assert manual_runs(app, "optimize-database")[-1].status == "cancelled"


async def test_quit_dialog_stay_keeps_running(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    async with app.run_test(size=SIZE) as pilot:
        await open_quit_dialog(app, pilot, "optimize-database")
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert app.is_running
        ui_support.slow_release.set()
        await wait_for(lambda: manual_runs(app, "optimize-database")[-1].status == "succeeded", pilot)


def keys_of(text: str) -> list[str]:
    """Return the key names that type ``text`` (Textual names the space key "space")."""
    return ["space" if character == " " else character for character in text]


async def open_editor_on(app: CronConsoleApp, pilot: Pilot[None], job_id: str, text: str) -> Input:
    await start(app, pilot, job_id)
    await pilot.press("e")
    await wait_for(lambda: isinstance(app.screen, ScheduleEditorScreen), pilot)
    await pilot.press("ctrl+a", "ctrl+k", *keys_of(text))
    field = app.screen.query_one(Input)
    assert field.value == text
    return field


async def test_editor_keys_pressed_without_pause(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        field = await open_editor_on(app, pilot, "cleanup-old-logs", "15 3 * * 1-5")
        await pilot.press(*["backspace"] * 12, *keys_of("0 4 * * *"))
        assert field.value == "0 4 * * *"


async def test_editor_keys_sent_in_one_burst(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        field = await open_editor_on(app, pilot, "cleanup-old-logs", "15 3 * * 1-5")
        ui_support.send_keys_at_once(app, ["backspace"] * 12 + keys_of("0 4 * * *"))
        await wait_for(lambda: field.value == "0 4 * * *", pilot, timeout=2)
        await pilot.pause(0.1)
        assert field.value == "0 4 * * *"
        assert not field.has_class("-invalid")


async def test_filter_keys_pressed_without_pause(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("slash", *"cleanup", *["backspace"] * 7, *"backup")
        assert app.screen.query_one("#job-filter", Input).value == "backup"
        visible = {str(row.key.value) for row in job_table(app).ordered_rows}
        assert visible == {"backup-data"}


async def test_filter_keys_sent_in_one_burst(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("slash", *"cleanup")
        field = app.screen.query_one("#job-filter", Input)
        ui_support.send_keys_at_once(app, ["backspace"] * 7 + list("backup"))
        await wait_for(lambda: field.value == "backup", pilot, timeout=2)
        await pilot.pause(0.1)
        assert field.value == "backup"
        assert {str(row.key.value) for row in job_table(app).ordered_rows} == {"backup-data"}


async def test_quit_dialog_closes_when_runs_end(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    async with app.run_test(size=SIZE) as pilot:
        await open_quit_dialog(app, pilot, "optimize-database")
        ui_support.slow_release.set()
        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        assert app.is_running
        await wait_for(lambda: any("press q again" in notification.message
                                   for notification in app._notifications), pilot, timeout=2)


async def test_confirm_dialog_shows_retention(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-sessions")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmRunScreen), pilot)
        text = str(app.screen.query_one("#dialog-settings").render())
        assert "30 days (CRON_CLEANUP_RESOLVED_SESSIONS_DAYS)" in text
        await pilot.press("n")


async def test_footer_fits_80_columns(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(app, pilot)
        from textual.widgets._footer import FooterKey

        keys = {key.key for key in app.screen.query(FooterKey)}
        assert {"r", "d", "p", "e", "slash", "a", "question_mark", "q"} <= keys
        right_edge = max(key.region.right for key in app.screen.query(FooterKey))
        assert right_edge <= 80
        await pilot.press("question_mark")
        listed = {binding.action for binding in app.screen.key_bindings}  # type: ignore[attr-defined]
        assert {"log_level", "log_job"} <= listed
