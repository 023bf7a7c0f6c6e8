"""Open alerts, newest first, with acknowledge and the highlighted alert in full below the table."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static

from console.bindings import allowed, translate_bindings
from console.format import local_time, severity_label, short_time
from console.i18n import N_, _
from console.messages import AlertsChanged
from jobs.errors import CronConsoleError
from jobs.records import AlertRecord

if TYPE_CHECKING:
    from console.app import CronConsoleApp


def alert_detail(alert: AlertRecord, zone: ZoneInfo) -> Text:
    """Build the detail text of ``alert``: its fields, the acknowledgement when recorded, and the whole message."""
    fields: list[tuple[str, str]] = [
        (_("Raised"), local_time(alert.created_at, zone, seconds=True)),
        (_("Severity"), severity_label(alert.severity)),
        (_("Job"), alert.job_id or "—"),
        (_("Kind"), alert.kind),
    ]
    if alert.acknowledged_at is not None:
        fields.append((_("Acknowledged at"), local_time(alert.acknowledged_at, zone, seconds=True)))
    if alert.acknowledged_by:
        fields.append((_("Acknowledged by"), alert.acknowledged_by))
    text = Text()
    for label, value in fields:
        text.append(f"{label}: ", "bold")
        text.append(f"{value}\n")
    text.append(_("Message") + ":\n", "bold")
    text.append(alert.message.rstrip())
    return text


class AlertsScreen(Screen[None]):
    """Alerts not acknowledged yet, and the highlighted one in full."""

    CSS_PATH = "alerts.tcss"
    BINDINGS = [
        # A priority binding, so that Enter reaches the screen before the table, which would only post RowSelected.
        # It comes first because the footer then shows it in the same place whichever widget has the focus.
        Binding("enter", "toggle_detail", N_("Message"), id="toggle-detail", priority=True,
                tooltip=N_("Move between the alert list and the selected alert's full message")),
        Binding("a", "acknowledge", N_("Acknowledge"), id="acknowledge",
                tooltip=N_("Acknowledge the selected alert")),
        Binding("A", "acknowledge_all", N_("Acknowledge all"), id="acknowledge-all"),
        Binding("escape", "back", N_("Back"), id="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)
        self.alerts: list[AlertRecord] = []

    @property
    def cron_app(self) -> CronConsoleApp:
        return cast("CronConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        yield Label("", id="alerts-title")
        yield DataTable(id="alerts", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="alert-detail-box"):
            yield Static("", id="alert-detail", markup=False)
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return allowed(self.cron_app.engine.read_only, action)

    async def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(_("Raised"), key="raised")
        table.add_column(_("Severity"), key="severity")
        table.add_column(_("Job"), key="job")
        table.add_column(_("Message"), key="message")
        await self.reload()
        table.focus()

    async def reload(self) -> None:
        """Read the open alerts again and rebuild the table (alerts come and go as a set)."""
        engine = self.cron_app.engine
        self.alerts = await engine.alerts()
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for alert in self.alerts:
            table.add_row(short_time(alert.created_at, engine.zone), severity_label(alert.severity),
                          alert.job_id or "—", alert.message.splitlines()[0] if alert.message else "",
                          key=str(alert.id))
        if self.alerts:
            row = min(cursor, len(self.alerts) - 1)
            table.move_cursor(row=row)
            self.show_alert(self.alerts[row])
        else:
            self.show_alert(None)
        self.query_one("#alerts-title", Label).update(
            _("Open alerts: {count}").format(count=len(self.alerts)) if self.alerts else _("No open alerts."))

    def show_alert(self, alert: AlertRecord | None) -> None:
        """Show ``alert`` in full below the table, or hide the detail area when there is none."""
        box = self.query_one("#alert-detail-box", VerticalScroll)
        detail = self.query_one("#alert-detail", Static)
        if alert is None:
            detail.update("")
            box.display = False
            if box.has_focus:
                self.query_one(DataTable).focus()
            return
        detail.update(alert_detail(alert, self.cron_app.engine.zone))
        box.display = True
        box.scroll_home(animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.alerts):
            self.show_alert(self.alerts[event.cursor_row])

    async def on_alerts_changed(self, _message: AlertsChanged) -> None:
        await self.reload()

    def action_toggle_detail(self) -> None:
        """Focus the detail area, where the arrow and page keys scroll a long message, or the table again."""
        box = self.query_one("#alert-detail-box", VerticalScroll)
        if box.has_focus or not box.display:
            self.query_one(DataTable).focus()
        else:
            box.focus()

    async def action_acknowledge(self) -> None:
        table = self.query_one(DataTable)
        if not self.alerts:
            self.notify(_("No open alerts."))
            return
        await self._acknowledge([self.alerts[table.cursor_row].id])

    async def action_acknowledge_all(self) -> None:
        if self.alerts:
            await self._acknowledge([alert.id for alert in self.alerts])

    async def _acknowledge(self, alert_ids: list[int]) -> None:
        app = self.cron_app
        try:
            count = await app.engine.acknowledge_alerts(alert_ids, app.user)
        except CronConsoleError as error:
            app.report_error(error)
            return
        self.notify(_("Acknowledged {count} alert(s).").format(count=count))
        await self.reload()

    def action_back(self) -> None:
        self.dismiss(None)
