"""The one-line header: instance, database, time zone with the clock, and the scheduler's state."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

APP_NAME = "cron-console"
# Below this width the application's name is left out, leaving room for the database.
NARROW_WIDTH = 120
# The database part keeps at least this many cells; the rest of the line is cut at the right.
DATABASE_MIN_WIDTH = 8
PARTS = ("instance", "database", "clock", "scheduler")


class StatusHeader(Widget):
    """A header whose parts are set with :meth:`show`; the database part is shortened first.

    The header draws its line itself instead of holding one label per part,
    because five labels in a row added about 5 ms to start-up (measured with bench/ui.py).
    """

    COMPONENT_CLASSES = {"status-header--app", "status-header--muted", "status-header--stopped"}

    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    StatusHeader > .status-header--app {
        text-style: bold;
        background: $primary;
        color: $text;
    }
    StatusHeader > .status-header--muted {
        color: $text-muted;
    }
    StatusHeader > .status-header--stopped {
        color: $warning;
        text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.parts: dict[str, str] = dict.fromkeys(PARTS, "")
        self.scheduler_ok = True

    def show(self, *, instance: str, database: str, clock: str, scheduler: str, scheduler_ok: bool) -> None:
        """Set the parts; the header repaints only when one of them changed."""
        parts = {"instance": instance, "database": database, "clock": clock, "scheduler": scheduler}
        if parts != self.parts or scheduler_ok != self.scheduler_ok:
            self.parts = parts
            self.scheduler_ok = scheduler_ok
            self.refresh()

    def render(self) -> Text:
        width = self.size.width
        pieces: list[tuple[str, str | None]] = []
        if width >= NARROW_WIDTH:
            pieces.append((APP_NAME, "status-header--app"))
        pieces.append((self.parts["instance"], None))
        pieces.append((self.parts["database"], "status-header--muted"))
        pieces.append((self.parts["clock"], None))
        pieces.append((self.parts["scheduler"], None if self.scheduler_ok else "status-header--stopped"))

        # Each piece has one cell of padding on either side, as the labels had.
        fixed = sum(len(text) + 2 for text, style in pieces if style != "status-header--muted")
        room = max(DATABASE_MIN_WIDTH, width - fixed - 2)
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for text, component in pieces:
            if component == "status-header--muted" and len(text) > room:
                text = text[: max(0, room - 1)] + "…"
            if component == "status-header--muted":
                text = text.ljust(room)
            style = self.get_component_rich_style(component, partial=True) if component else ""
            line.append(f" {text} ", style=style)
        line.truncate(width)
        return line
