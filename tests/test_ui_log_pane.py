"""The log pane under a flood of records: a bounded write per drain, nothing lost from history."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from textual.app import App, ComposeResult

from console.logbridge import UILogHandler
from console.widgets.log_pane import MAX_LINES_PER_DRAIN, MAX_LINES_PER_REWRITE, LogPane
from jobs.clock import FakeClock


class _PaneApp(App[None]):
    def __init__(self, handler: UILogHandler) -> None:
        super().__init__()
        self.handler = handler

    def compose(self) -> ComposeResult:
        yield LogPane(self.handler, ZoneInfo("Europe/Bucharest"), id="log")


async def test_flood_writes_newest_and_counts_rest() -> None:
    handler = UILogHandler(FakeClock(datetime(2026, 6, 17, 10, tzinfo=UTC)))
    app = _PaneApp(handler)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(LogPane)
        pane.clear()
        source = logging.getLogger("tests.flood")
        for number in range(500):
            handler.handle(source.makeRecord("tests.flood", logging.INFO, __file__, 1, "record %s",
                                             (number,), None))
        pane.drain()
        await pilot.pause()

        lines = [line.text for line in pane.lines]
        hidden = 500 - MAX_LINES_PER_DRAIN
        assert any(f"{hidden} more records" in line for line in lines)
        assert any("record 499" in line for line in lines)
        assert not any(f"record {hidden - 1} " in line + " " for line in lines)
        assert len(pane._history) == 500

        pane.set_min_level(logging.INFO)  # a rewrite shows the newest part of the history again
        await pilot.pause()
        rewritten = [line.text for line in pane.lines]
        assert any(f"record {hidden - 1} " in line + " " for line in rewritten)
        assert any(f"{500 - MAX_LINES_PER_REWRITE} older records" in line for line in rewritten)
        assert not any("record 0 " in line + " " for line in rewritten)
