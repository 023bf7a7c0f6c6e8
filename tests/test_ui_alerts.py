"""Pilot tests of the alerts screen: the detail area under the table and the keys of a read-only console."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import DataTable, Footer, Static
from textual.widgets._footer import FooterKey

from console.app import CronConsoleApp
from console.i18n import set_language
from console.screens.alerts import AlertsScreen, alert_detail
from console.screens.main import MainScreen
from jobs import records
from jobs.records import AlertRecord
from storage.models import Alert
from tests import ui_support
from tests.ui_support import wait_for

SIZE = (80, 24)
LANGUAGES = ("en", "ro")
ZONE = ZoneInfo("Europe/Bucharest")

# Longer than any column of the table at 160 columns, with a last word that shows whether the end is cut.
LONG_MESSAGE = (
    "Twilio credential 7 of Pensiunea Valea Prahovei was rejected three times in a row: HTTP 401 "
    "Authenticate, error 20003. The provider reports that the auth token was rotated; paste the new "
    "token in the admin panel under Providers > Twilio and run validate-credentials again. "
    "Until then no SMS reminder goes out for this tenant. LAST-WORD"
)


pytestmark = pytest.mark.usefixtures("ui_identity")


def add_long_alert(app: CronConsoleApp, message: str = LONG_MESSAGE) -> None:
    """Insert an alert newer than the seeded ones, so that it is the first row."""
    records.insert_alert(app.engine.database, kind="credential-invalid", severity="critical", message=message,
                         job_id="validate-credentials", run_id=None, now=ui_support.NOW - timedelta(minutes=5))


async def open_alerts(app: CronConsoleApp, pilot: Pilot[None], count: int) -> AlertsScreen:
    await ui_support.wait_until_ready(app)
    await pilot.pause()
    await pilot.press("a")
    await wait_for(lambda: isinstance(app.screen, AlertsScreen) and len(app.screen.alerts) == count, pilot)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, AlertsScreen)
    return screen


def detail_text(screen: AlertsScreen) -> str:
    return str(screen.query_one("#alert-detail", Static).content)


def footer_keys(screen: AlertsScreen) -> list[FooterKey]:
    return list(screen.query_one(Footer).query(FooterKey))


async def test_detail_shows_whole_long_message(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    add_long_alert(app)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_alerts(app, pilot, 3)
        assert len(LONG_MESSAGE) > 160, "the message must be longer than the screen is wide"

        text = detail_text(screen)
        assert LONG_MESSAGE in text
        assert "2026-06-17 12:55:00 +03:00" in text
        assert "critical" in text
        assert "validate-credentials" in text
        assert "credential-invalid" in text

        detail = screen.query_one("#alert-detail", Static)
        assert detail.region.right <= 160, f"the detail ends past the screen: {detail.region}"
        assert detail.size.height >= 8, "the long message is not wrapped over several lines"


async def test_detail_follows_cursor(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    add_long_alert(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 3)
        assert LONG_MESSAGE in detail_text(screen)

        await pilot.press("down")
        await pilot.pause()
        text = detail_text(screen)
        assert "7 inbound messages are still unprocessed after 15 minutes" in text
        assert LONG_MESSAGE not in text
        assert "check-unprocessed-messages" in text

        await pilot.press("down")
        await pilot.pause()
        assert "Meta credential 12 of Bistro Dunărea was rejected: token expired" in detail_text(screen)

        await pilot.press("up", "up")
        await pilot.pause()
        assert LONG_MESSAGE in detail_text(screen)


async def test_enter_moves_focus_to_detail_and_back(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    add_long_alert(app, LONG_MESSAGE * 4)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 3)
        table = screen.query_one(DataTable)
        box = screen.query_one("#alert-detail-box", VerticalScroll)
        assert app.focused is table

        await pilot.press("enter")
        await pilot.pause()
        assert screen.focused is box
        await pilot.press("end")
        await pilot.pause()
        assert box.scroll_y > 0, "the detail area does not scroll a message longer than its height"

        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is table
        assert isinstance(app.screen, AlertsScreen)
        assert len(screen.alerts) == 3, "Enter must not acknowledge"


async def test_long_message_leaves_table_rows_visible(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    add_long_alert(app, LONG_MESSAGE * 4)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 3)
        table = screen.query_one(DataTable)
        # The round border and the header take three lines, and each of the three alerts needs one more.
        assert table.region.height >= 6, f"the table is squeezed to {table.region}"
        box = screen.query_one("#alert-detail-box", VerticalScroll)
        assert box.region.bottom <= SIZE[1] - 1, "the detail area runs into the footer"


async def test_detail_hidden_without_alerts(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 2)
        await pilot.press("A")
        await wait_for(lambda: not screen.alerts, pilot)
        await pilot.pause()
        assert not screen.query_one("#alert-detail-box", VerticalScroll).display
        assert detail_text(screen) == ""


def test_detail_shows_acknowledgement_when_recorded() -> None:
    set_language("en")
    created = ui_support.NOW - timedelta(hours=1)
    alert = AlertRecord(5, "backup-failed", "critical", "Backup failed", "backup-data", created,
                        acknowledged_at=ui_support.NOW, acknowledged_by="ana")
    text = alert_detail(alert, ZONE).plain
    assert "Acknowledged at: 2026-06-17 13:00:00 +03:00" in text
    assert "Acknowledged by: ana" in text

    open_alert = AlertRecord(6, "backup-failed", "critical", "Backup failed", None, created)
    open_text = alert_detail(open_alert, ZONE).plain
    assert "Acknowledged" not in open_text
    assert "Job: —" in open_text


@pytest.mark.parametrize("language", LANGUAGES)
async def test_footer_fits_80_columns(tmp_path: Path, language: str) -> None:
    ui_support.ensure_catalogues()
    set_language(language)
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 2)
        keys = footer_keys(screen)
        assert {key.key for key in keys} >= {"enter", "a", "A", "escape"}
        for key in keys:
            assert key.region.right <= SIZE[0], f"{key.key} ({key.description}) ends past column 80: {key.region}"
        for index, key in enumerate(keys):
            for other in keys[index + 1:]:
                assert not key.region.overlaps(other.region), f"{key.key} overlaps {other.key}"


async def test_footer_has_acknowledge_keys(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 2)
        actions = {key.action for key in footer_keys(screen)}
        assert "acknowledge" in actions
        assert "acknowledge_all" in actions


async def test_read_only_footer_hides_acknowledge(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 2)
        keys = footer_keys(screen)
        actions = {key.action for key in keys}
        assert "acknowledge" not in actions
        assert "acknowledge_all" not in actions
        assert {key.key for key in keys} >= {"enter", "escape"}


async def test_read_only_acknowledge_keys_do_nothing(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_alerts(app, pilot, 2)
        await pilot.press("a", "A")
        await pilot.pause(0.2)
        assert isinstance(app.screen, AlertsScreen)
        assert len(screen.alerts) == 2
        with app.engine.database.session() as session:
            acknowledged = session.exec(select(Alert).where(col(Alert.acknowledged_at).is_not(None))).all()
        assert acknowledged == []
        # The keys are disabled as the main screen's run keys are, so the engine never rejects a request.
        assert [notification.message for notification in app._notifications] == []

        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
