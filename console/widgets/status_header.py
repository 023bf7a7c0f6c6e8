"""The one-line header: instance, database, time zone with the clock, and the scheduler's state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label


class StatusHeader(Horizontal):
    """A header whose parts are set with :meth:`show`; the database part is shortened first."""

    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    StatusHeader > Label {
        padding: 0 1;
        height: 1;
    }
    StatusHeader > #header-app {
        text-style: bold;
        background: $primary;
        color: $text;
    }
    StatusHeader > #header-database {
        width: 1fr;
        min-width: 8;
        text-overflow: ellipsis;
        text-wrap: nowrap;
        color: $text-muted;
    }
    StatusHeader > #header-scheduler.-stopped {
        color: $warning;
        text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Label("cron-console", id="header-app")
        for part in ("instance", "database", "clock", "scheduler"):
            yield Label("", id=f"header-{part}", markup=False)

    def show(self, *, instance: str, database: str, clock: str, scheduler: str, scheduler_ok: bool) -> None:
        """Update the parts whose text changed (a Label repaints on every update)."""
        for part, text in (("instance", instance), ("database", database), ("clock", clock),
                           ("scheduler", scheduler)):
            if self._shown.get(part) != text:
                self._shown[part] = text
                self.query_one(f"#header-{part}", Label).update(text)
        self.query_one("#header-scheduler", Label).set_class(not scheduler_ok, "-stopped")
