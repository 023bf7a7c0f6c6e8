"""The one-line header: instance, database, time zone with the clock, and the scheduler's state."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from console.i18n import ngettext

APP_NAME = "cron-console"
# Below this width the application's name is left out, leaving room for the database.
NARROW_WIDTH = 120
# The database part is shortened to no fewer than this many cells. With less room it is left out.
DATABASE_MIN_WIDTH = 8
PARTS = ("instance", "database", "zone", "time", "scheduler")
ALERT_SIGN = "⚠"


class StatusHeader(Widget):
    """A header whose parts are set with :meth:`show`. When the line is short, the database gives way first.

    The header draws its line itself instead of holding one label per part,
    because five labels in a row added about 5 ms to start-up (measured with bench/ui.py).
    """

    COMPONENT_CLASSES = {"status-header--app", "status-header--muted", "status-header--stopped",
                         "status-header--alerts", "status-header--critical"}

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
    StatusHeader > .status-header--alerts {
        color: $warning;
        text-style: bold;
    }
    StatusHeader > .status-header--critical {
        background: $error;
        color: $text;
        text-style: bold;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.parts: dict[str, str] = dict.fromkeys(PARTS, "")
        self.scheduler_ok = True
        self.open_alerts = 0
        self.critical_alerts = 0

    def show(self, *, instance: str, database: str, zone: str, time: str, scheduler: str,
             scheduler_ok: bool) -> None:
        """Set the parts. The header repaints only when one of them changed."""
        parts = {"instance": instance, "database": database, "zone": zone, "time": time, "scheduler": scheduler}
        if parts != self.parts or scheduler_ok != self.scheduler_ok:
            self.parts = parts
            self.scheduler_ok = scheduler_ok
            self.refresh()

    def show_alerts(self, open_alerts: int, critical: int) -> None:
        """Set the number of open alerts and how many of them are critical. Zero hides the part."""
        if (open_alerts, critical) != (self.open_alerts, self.critical_alerts):
            self.open_alerts, self.critical_alerts = open_alerts, critical
            self.refresh()

    def alerts_text(self) -> str:
        if not self.open_alerts:
            return ""
        count = ngettext("{count} alert", "{count} alerts", self.open_alerts).format(count=self.open_alerts)
        return f"{ALERT_SIGN} {count}"

    def render(self) -> Text:
        width = self.size.width
        alerts = self.alerts_text()
        clock = f"{self.parts['zone']} {self.parts['time']}".strip()
        pieces: list[tuple[str, str | None]] = []
        if width >= NARROW_WIDTH:
            pieces.append((APP_NAME, "status-header--app"))
        pieces.append((self.parts["instance"], None))
        pieces.append((self.parts["database"], "status-header--muted"))
        pieces.append((clock, None))
        pieces.append((self.parts["scheduler"], None if self.scheduler_ok else "status-header--stopped"))
        if alerts:
            pieces.append((alerts, "status-header--critical" if self.critical_alerts else "status-header--alerts"))

        # Each piece has one cell of padding on either side. When the line is too
        # short, the database goes first, then the time zone's name.
        fixed = sum(len(text) + 2 for text, style in pieces if style != "status-header--muted")
        room = width - fixed - 2
        if room < DATABASE_MIN_WIDTH:
            pieces = [piece for piece in pieces if piece[1] != "status-header--muted"]
            if fixed > width and self.parts["zone"]:
                pieces = [(self.parts["time"], None) if text == clock and style is None else (text, style)
                          for text, style in pieces]

        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for text, component in pieces:
            if component == "status-header--muted":
                if len(text) > room:
                    text = text[: max(0, room - 1)] + "…"
                text = text.ljust(room)
            style = self.get_component_rich_style(component, partial=True) if component else ""
            line.append(f" {text} ", style=style)
        line.truncate(width)
        return line
