"""Footer tests of the job details screen: at 80x24 every key it shows is whole, in English and Romanian."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Footer, TabbedContent
from textual.widgets._footer import FooterKey

from console.app import CronConsoleApp
from console.i18n import set_language
from console.screens.details import HIDDEN_WHEN_NARROW, JobDetailsScreen
from console.screens.help import HelpScreen
from console.widgets.job_table import JobTable
from tests import ui_support
from tests.ui_support import wait_for

LANGUAGES = ("en", "ro")
# Keys the narrow footer of the details screen shows: back, run, dry run, pause, schedule, help and quit.
NARROW_KEYS = {"escape", "r", "d", "p", "e", "question_mark", "q"}


async def open_details(app: CronConsoleApp, pilot: Pilot[None], job_id: str) -> JobDetailsScreen:
    """Wait for the engine and the job table, then open ``job_id``'s details with the enter key."""
    await ui_support.wait_until_ready(app)
    await wait_for(lambda: bool(app.screen.query(JobTable)) and app.screen.query_one(JobTable).row_count > 0,
                   pilot)
    app.screen.query_one(JobTable).select_job(job_id)
    await pilot.pause()
    await pilot.press("enter")
    await wait_for(lambda: isinstance(app.screen, JobDetailsScreen), pilot)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, JobDetailsScreen)
    return screen


def footer_keys(screen: JobDetailsScreen) -> list[FooterKey]:
    return list(screen.query_one(Footer).query(FooterKey))


@pytest.mark.parametrize("language", LANGUAGES)
async def test_details_footer_fits_80_columns(tmp_path: Path, language: str) -> None:
    ui_support.ensure_catalogues()
    set_language(language)
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_details(app, pilot, "daily-report")
        keys = footer_keys(screen)

        assert {key.key for key in keys} >= NARROW_KEYS
        for key in keys:
            assert key.region.width > 0, f"{key.key} has no width"
            assert key.region.x >= 0, f"{key.key} starts left of the screen: {key.region}"
            assert key.region.right <= 80, f"{key.key} ({key.description}) ends past column 80: {key.region}"
        for index, key in enumerate(keys):
            for other in keys[index + 1:]:
                assert not key.region.overlaps(other.region), (
                    f"{key.key} {key.region} overlaps {other.key} {other.region}")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_details_footer_text_at_80_columns(tmp_path: Path, language: str) -> None:
    ui_support.ensure_catalogues()
    set_language(language)
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_details(app, pilot, "daily-report")
        footer = screen.query_one(Footer)
        line = "".join(segment.text for segment in screen._compositor.render_strips()[footer.region.y])

        for key in footer_keys(screen):
            expected_text = f"{key.key_display} {key.description}"
            assert expected_text in line, f"{expected_text!r} is not whole in the footer line {line!r}"


async def test_details_narrow_footer_hidden_keys_work(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_details(app, pilot, "cleanup-sessions")
        visible_keys = {key.key for key in footer_keys(screen)}
        assert "o" not in visible_keys
        assert "h" not in visible_keys
        assert not any(key.has_class("-command-palette") for key in footer_keys(screen))

        await pilot.press("h")
        assert screen.query_one(TabbedContent).active == "history"
        await pilot.press("o")
        assert screen.query_one(TabbedContent).active == "overview"

        await pilot.press("question_mark")
        await wait_for(lambda: isinstance(app.screen, HelpScreen), pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = {binding.id for binding in help_screen.key_bindings}
        assert set(HIDDEN_WHEN_NARROW) <= listed
        await pilot.press("escape")
        assert app.screen is screen


async def test_details_wide_footer_shows_all_keys(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_details(app, pilot, "cleanup-sessions")
        keys = footer_keys(screen)
        assert {key.key for key in keys} >= NARROW_KEYS | {"o", "h", "ctrl+p"}
        assert max(key.region.right for key in keys) <= 160
