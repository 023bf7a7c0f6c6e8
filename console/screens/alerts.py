"""Open alerts, newest first, with acknowledge."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label

from console.bindings import translate_bindings
from console.format import severity_label, short_time
from console.i18n import N_, _
from console.messages import AlertsChanged
from jobs.errors import CronConsoleError
from jobs.records import AlertRecord

if TYPE_CHECKING:
    from console.app import CronConsoleApp


class AlertsScreen(Screen[None]):
    """Alerts not acknowledged yet."""

    CSS_PATH = "alerts.tcss"
    BINDINGS = [
        Binding("a,enter", "acknowledge", N_("Acknowledge"), id="acknowledge",
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
        yield Footer()

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
            table.move_cursor(row=min(cursor, len(self.alerts) - 1))
        self.query_one("#alerts-title", Label).update(
            _("Open alerts: {count}").format(count=len(self.alerts)) if self.alerts else _("No open alerts."))

    async def on_alerts_changed(self, _message: AlertsChanged) -> None:
        await self.reload()

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
