"""The log pane: records of the engine and the jobs, coloured by level, filterable."""

from __future__ import annotations

import logging
from collections import deque
from zoneinfo import ZoneInfo

from rich.style import Style
from rich.text import Text
from textual.widgets import RichLog

from console.format import decimal, local_time
from console.i18n import _
from console.logbridge import LogEntry, UILogHandler
from console.widgets.theme import theme_style

# Records kept for re-filtering; the widget itself keeps the same number of lines.
HISTORY_SIZE = 2_000
DRAIN_INTERVAL_SECONDS = 0.2
# Most lines written per drain. Rendering (and wrapping) a line costs the event
# loop time that the scheduler shares, and a flood of records scrolls past
# faster than anyone reads, so the pane shows the newest ones and counts the rest.
# Every record stays in the history, so changing a filter shows them again.
MAX_LINES_PER_DRAIN = 60
# Most lines a filter change writes back from the history: rewriting all 2,000
# stalled key presses for 60-75 ms in bench/ui.py.
MAX_LINES_PER_REWRITE = 400
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
LEVEL_THEME_COLOURS = {
    logging.DEBUG: "foreground-muted",
    logging.INFO: "foreground",
    logging.WARNING: "warning",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}


class LogPane(RichLog):
    """Show the entries of a :class:`UILogHandler`, newest at the bottom.

    The handler is drained every :data:`DRAIN_INTERVAL_SECONDS` and each batch
    is written as one block, whatever the number of records in it.
    """

    DEFAULT_CSS = """
    LogPane {
        border: round $primary 50%;
        border-title-color: $text-muted;
        background: $surface;
        scrollbar-size-vertical: 1;
    }
    LogPane:focus {
        border: round $primary;
    }
    """

    def __init__(self, handler: UILogHandler, zone: ZoneInfo, *, id: str | None = None) -> None:
        super().__init__(max_lines=HISTORY_SIZE, min_width=20, wrap=True, id=id)
        self.handler = handler
        self.zone = zone
        self.min_level = logging.INFO
        self.job_filter: str | None = None
        self._history: deque[LogEntry] = deque(maxlen=HISTORY_SIZE)
        self._styles: dict[int, Style] = {}

    def on_mount(self) -> None:
        self._update_styles()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._restyle())
        self._update_title()
        self.set_interval(DRAIN_INTERVAL_SECONDS, self.drain)

    def drain(self) -> None:
        """Move waiting records from the handler into the pane, in one write."""
        entries = self.handler.drain()
        if not entries:
            return
        self._history.extend(entries)
        matching = [entry for entry in entries if self._matches(entry)]
        hidden = len(matching) - MAX_LINES_PER_DRAIN
        if hidden > 0:
            self.write(Text(_("… {count} more records in the last {seconds} s").format(
                count=hidden, seconds=decimal(DRAIN_INTERVAL_SECONDS)), style=self._styles.get(logging.DEBUG, "")),
                scroll_end=False)
            matching = matching[-MAX_LINES_PER_DRAIN:]
        self._write(matching)

    def set_min_level(self, level: int) -> None:
        self.min_level = level
        self._rewrite()

    def cycle_level(self) -> int:
        """Switch to the next level of :data:`LEVELS` (wrapping round) and return it."""
        index = LEVELS.index(self.min_level) if self.min_level in LEVELS else 0
        self.set_min_level(LEVELS[(index + 1) % len(LEVELS)])
        return self.min_level

    def set_job_filter(self, job_id: str | None) -> None:
        """Show only the records of ``job_id``'s runs, or with None the records of everything."""
        self.job_filter = job_id
        self._rewrite()

    def _matches(self, entry: LogEntry) -> bool:
        if entry.level < self.min_level:
            return False
        return self.job_filter is None or entry.job_id == self.job_filter

    def _rewrite(self) -> None:
        self._update_title()
        self.clear()
        matching = [entry for entry in self._history if self._matches(entry)]
        hidden = len(matching) - MAX_LINES_PER_REWRITE
        if hidden > 0:
            self.write(Text(_("… {count} older records are not shown").format(count=hidden),
                            style=self._styles.get(logging.DEBUG, "")), scroll_end=False)
            matching = matching[-MAX_LINES_PER_REWRITE:]
        self._write(matching)

    def _write(self, entries: list[LogEntry]) -> None:
        if not entries:
            return
        block = Text()
        for index, entry in enumerate(entries):
            if index:
                block.append("\n")
            block.append(local_time(entry.time, self.zone, with_date=False, seconds=True)[:8] + " ")
            block.append(f"{logging.getLevelName(entry.level)[:4]:<4} ", self._styles.get(entry.level))
            if entry.job_id:
                block.append(f"[{entry.job_id}] ", Style(bold=True))
            block.append(entry.message, self._styles.get(entry.level) if entry.level >= logging.WARNING else None)
        # Scroll at once rather than after the next refresh: under a modal, the pane's screen is
        # not refreshed, and a deferred scroll would land whenever that screen comes back.
        follow = self.auto_scroll and self.is_vertical_scroll_end
        self.write(block, scroll_end=False)
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def _update_title(self) -> None:
        level = logging.getLevelName(self.min_level)
        jobs = self.job_filter or _("all jobs")
        self.border_title = _("Log · {level}+ · {jobs}").format(level=level, jobs=jobs)

    def _update_styles(self) -> None:
        self._styles = {level: theme_style(self.app, name) for level, name in LEVEL_THEME_COLOURS.items()}

    def _restyle(self) -> None:
        self._update_styles()
        self._rewrite()
