"""Tests of the header line: its parts, what gives way when it is short, and the open-alert count."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color

from console.screens.alerts import AlertsScreen
from console.widgets.status_header import StatusHeader
from tests import ui_support
from tests.ui_support import wait_for


class HeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusHeader()


def show_parts(header: StatusHeader, instance: str = "vm-7") -> None:
    header.show(instance=instance, database="postgresql://cron@db.internal:5432/cron", zone="Europe/Bucharest",
                time="13:00:00 +03:00", scheduler="scheduler running", scheduler_ok=True)


def rendered(header: StatusHeader) -> str:
    return header.render().plain


pytestmark = pytest.mark.usefixtures("ui_identity")


async def test_wide_header_shows_every_part() -> None:
    app = HeaderApp()
    async with app.run_test(size=(160, 5)):
        header = app.query_one(StatusHeader)
        show_parts(header)
        header.show_alerts(3, 1)
        line = rendered(header)

        for part in ("cron-console", "vm-7", "postgresql://cron@db.internal:5432/cron",
                     "Europe/Bucharest 13:00:00 +03:00", "scheduler running", "⚠ 3 alerts"):
            assert part in line
        assert len(line) == 160


async def test_narrow_header_keeps_alerts_and_state() -> None:
    app = HeaderApp()
    async with app.run_test(size=(80, 5)):
        header = app.query_one(StatusHeader)
        show_parts(header, instance="cron-prod-01.internal")
        header.show_alerts(12, 0)
        line = rendered(header)

        assert "⚠ 12 alerts" in line
        assert "scheduler running" in line
        assert "13:00:00 +03:00" in line
        assert "postgresql" not in line, "the database gives way first"
        assert "Europe/Bucharest" not in line, "then the time zone's name"
        assert len(line) <= 80


async def test_narrow_header_without_alerts_keeps_zone() -> None:
    app = HeaderApp()
    async with app.run_test(size=(80, 5)):
        header = app.query_one(StatusHeader)
        show_parts(header)
        line = rendered(header)

        assert "⚠" not in line
        assert "Europe/Bucharest 13:00:00 +03:00" in line
        assert "postgresql://cron@…" in line, "the database is shortened, not dropped"


async def test_critical_alerts_use_error_colour() -> None:
    app = HeaderApp()
    async with app.run_test(size=(160, 5)):
        header = app.query_one(StatusHeader)
        show_parts(header)
        error = Color.parse(app.theme_variables["error"])

        header.show_alerts(2, 0)
        warning_span = next(span for span in header.render().spans if span.style)
        header.show_alerts(2, 1)
        text = header.render()
        alert_start = text.plain.index("⚠")
        critical_style = next(span.style for span in text.spans if span.start <= alert_start < span.end)

        assert not isinstance(critical_style, str) and critical_style.bgcolor is not None
        assert Color.from_rich_color(critical_style.bgcolor) == error
        assert warning_span.style != critical_style


async def test_header_counts_open_alerts(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await ui_support.wait_until_ready(app)
        header = app.screen.query_one(StatusHeader)
        await wait_for(lambda: header.open_alerts == 2, pilot)
        assert header.critical_alerts == 1
        assert "⚠ 2 alerts" in rendered(header)

        await pilot.press("a")
        await wait_for(lambda: isinstance(app.screen, AlertsScreen) and len(app.screen.alerts) == 2, pilot)
        await pilot.press("A")
        await wait_for(lambda: header.open_alerts == 0, pilot)
        assert "⚠" not in rendered(header)


async def test_run_alerts_make_one_notification(tmp_path: Path) -> None:
    app = ui_support.make_app(tmp_path, alerting=["check-error-sessions"])
    async with app.run_test(size=(100, 30)) as pilot:
        await ui_support.wait_until_ready(app)
        header = app.screen.query_one(StatusHeader)
        await wait_for(lambda: header.open_alerts == 2, pilot)
        app.clear_notifications()

        await app.engine.run_job("check-error-sessions", requested_by="test")
        await wait_for(lambda: header.open_alerts == 5, pilot)
        await wait_for(lambda: any("new alerts" in notice.message for notice in app._notifications), pilot)

        notices = [notice for notice in app._notifications if notice.title == "Alert from check-error-sessions"]
        assert len(notices) == 1, [notice.message for notice in notices]
        assert notices[0].message.startswith("3 new alerts, the first:\ntest alert number 1")
        assert notices[0].severity == "error", "one of them is critical"
        assert header.critical_alerts == 2
