"""Mouse tests: click rows, footer keys, tabs and dialog buttons of the real console and check the effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Footer, Input, TabbedContent
from textual.widgets._footer import FooterKey

from console.app import CronConsoleApp
from console.screens.confirm_run import ConfirmRunScreen
from console.screens.details import JobDetailsScreen
from console.screens.help import HelpScreen
from console.screens.main import MainScreen
from console.screens.schedule_editor import ScheduleEditorScreen
from tests import ui_support
from tests.ui_support import job_setting, job_table, manual_runs, open_quit_dialog, start, wait_for

SIZE = (100, 30)


pytestmark = pytest.mark.usefixtures("ui_identity")


def footer_key(app: CronConsoleApp, key: str) -> FooterKey:
    """Return the footer key of the current screen bound to ``key``, for instance "p" or "escape"."""
    matches = [item for item in app.screen.query_one(Footer).query(FooterKey) if item.key == key]
    assert matches, f"the footer of {type(app.screen).__name__} shows no {key!r} key"
    return matches[0]


async def click_row(app: CronConsoleApp, pilot: Pilot[None], row_index: int) -> None:
    """Click the first cell of the table's row ``row_index``, counted from the top with no scrolling."""
    jobs = job_table(app)
    assert jobs.scroll_y == 0
    # The border and padding (the gutter), then the header, then one line per row.
    offset = (3, jobs.styles.gutter.top + jobs.header_height + row_index)
    assert await pilot.click(jobs, offset=offset)
    await pilot.pause()


async def open_details(app: CronConsoleApp, pilot: Pilot[None], job_id: str) -> JobDetailsScreen:
    await start(app, pilot, job_id)
    await pilot.press("enter")
    await wait_for(lambda: isinstance(app.screen, JobDetailsScreen), pilot)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, JobDetailsScreen)
    return screen


async def test_row_click_moves_cursor(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert job_table(app).cursor_row == 0
        target = str(job_table(app).ordered_rows[4].key.value)

        await click_row(app, pilot, 4)

        assert job_table(app).cursor_row == 4
        assert job_table(app).selected_job_id == target
        assert isinstance(app.screen, MainScreen)


async def test_second_row_click_opens_details(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        target = str(job_table(app).ordered_rows[2].key.value)

        await click_row(app, pilot, 2)
        await click_row(app, pilot, 2)

        await wait_for(lambda: isinstance(app.screen, JobDetailsScreen), pilot)
        assert app.screen.job_id == target  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["100x30", "80x24"])
async def test_footer_pause_click_persists(tmp_path: Path, size: tuple[int, int]) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await start(app, pilot, "backup-data")

        assert await pilot.click(footer_key(app, "p"))

        await wait_for(lambda: (setting := job_setting(app, "backup-data")) is not None and setting.paused, pilot)
        await wait_for(lambda: "paused" in str(job_table(app).get_cell("backup-data", "state")), pilot)
        assert app.engine.job("backup-data").paused
        assert job_table(app).selected_job_id == "backup-data"


async def test_details_tab_clicks_switch_tabs(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_details(app, pilot, "cleanup-sessions")
        tabs = screen.query_one(TabbedContent)
        assert tabs.active == "overview"

        assert await pilot.click("#--content-tab-history")
        await pilot.pause()
        assert tabs.active == "history"
        assert screen.query_one("#runs").display

        assert await pilot.click("#--content-tab-overview")
        await pilot.pause()
        assert tabs.active == "overview"


async def test_details_back_click_returns_to_jobs(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await open_details(app, pilot, "cleanup-sessions")

        assert await pilot.click(footer_key(app, "escape"))

        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        assert job_table(app).selected_job_id == "cleanup-sessions"


async def test_details_footer_pause_click_persists(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_details(app, pilot, "backup-data")

        assert await pilot.click(footer_key(app, "p"))

        await wait_for(lambda: (setting := job_setting(app, "backup-data")) is not None and setting.paused, pilot)
        assert isinstance(app.screen, JobDetailsScreen)


async def test_details_help_click_lists_tab_keys(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_details(app, pilot, "cleanup-sessions")

        assert await pilot.click(footer_key(app, "question_mark"))

        await wait_for(lambda: isinstance(app.screen, HelpScreen), pilot)
        listed = {binding.action for binding in app.screen.key_bindings}  # type: ignore[attr-defined]
        assert {"show_tab('overview')", "show_tab('history')", "back"} <= listed


async def test_confirm_button_click_runs_job(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-sessions")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmRunScreen), pilot)
        assert [run.dry_run for run in manual_runs(app, "cleanup-sessions")] == [True]

        assert await pilot.click(app.screen.query_one("#confirm", Button))

        await wait_for(lambda: len(manual_runs(app, "cleanup-sessions")) == 2
                       and manual_runs(app, "cleanup-sessions")[1].status == "succeeded", pilot)
        assert manual_runs(app, "cleanup-sessions")[1].dry_run is False
        assert isinstance(app.screen, MainScreen)


async def test_cancel_button_click_runs_nothing(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot, "cleanup-old-messages")
        await pilot.press("r")
        await wait_for(lambda: isinstance(app.screen, ConfirmRunScreen), pilot)

        assert await pilot.click(app.screen.query_one("#cancel", Button))

        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        await pilot.pause(0.2)
        assert [run.dry_run for run in manual_runs(app, "cleanup-old-messages")] == [True]


@pytest.mark.parametrize("size", [(80, 24), SIZE], ids=["80x24", "100x30"])
async def test_editor_save_click_persists(tmp_path: Path, size: tuple[int, int]) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await start(app, pilot, "cleanup-old-logs")
        await pilot.press("e")
        await wait_for(lambda: isinstance(app.screen, ScheduleEditorScreen), pilot)
        # Textual names the space key "space".
        await pilot.press("ctrl+a", "ctrl+k", *["space" if key == " " else key for key in "15 4 * * 1-5"])
        assert app.screen.query_one("#expression", Input).value == "15 4 * * 1-5"

        assert await pilot.click(app.screen.query_one("#save", Button))

        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        setting = job_setting(app, "cleanup-old-logs")
        assert setting is not None
        assert setting.schedule_override == "15 4 * * 1-5"
        assert app.engine.job("cleanup-old-logs").schedule_source == "operator"


async def test_quit_stay_click_keeps_running(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    async with app.run_test(size=SIZE) as pilot:
        await open_quit_dialog(app, pilot, "optimize-database")

        assert await pilot.click(app.screen.query_one("#stay", Button))

        await wait_for(lambda: isinstance(app.screen, MainScreen), pilot)
        assert app.is_running
        assert manual_runs(app, "optimize-database")[-1].status == "running"
        ui_support.slow_release.set()
        await wait_for(lambda: manual_runs(app, "optimize-database")[-1].status == "succeeded", pilot)


async def test_quit_cancel_click_cancels_jobs(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    async with app.run_test(size=SIZE) as pilot:
        await open_quit_dialog(app, pilot, "optimize-database")

        assert await pilot.click(app.screen.query_one("#cancel", Button))

        await wait_for(lambda: not app.is_running, pilot)
    assert manual_runs(app, "optimize-database")[-1].status == "cancelled"
