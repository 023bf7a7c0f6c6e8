"""The main screen: job table, resource gauges, log pane, header and footer."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input

from console.bindings import allowed, fit_footer, shown_bindings, translate_bindings
from console.format import local_time
from console.i18n import N_, _
from console.messages import AlertsChanged, EngineReady, JobsChanged
from console.widgets.gauges import ResourceGauges, Sampler
from console.widgets.job_table import JobTable
from console.widgets.log_pane import LogPane
from console.widgets.ordered_input import OrderedInput
from console.widgets.status_header import StatusHeader

if TYPE_CHECKING:
    from console.app import CronConsoleApp

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
# Open alerts are counted on every alert event and this often, to see those raised by other instances.
ALERT_COUNT_SECONDS = 30.0
ALERT_COUNT_LIMIT = 1000
# Below this width the footer is compact and leaves out the command palette and these keys,
# so that the others fit in 80 columns in both languages. The help screen (?) lists every key.
NARROW_FOOTER_WIDTH = 120
HIDDEN_WHEN_NARROW = ("log-level", "log-job")


class MainScreen(Screen[None]):
    """The screen an operator watches; its keys act on the job under the cursor."""

    # main.tcss is loaded by the app (CronConsoleApp.CSS_PATH).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("r", "run_job", N_("Run"), id="run", tooltip=N_("Run the selected job now")),
        Binding("d", "dry_run", N_("Dry run"), id="dry-run",
                tooltip=N_("Run the selected job without changing anything")),
        Binding("p", "toggle_pause", N_("Pause"), id="pause", tooltip=N_("Pause or resume the selected job")),
        Binding("e", "edit_schedule", N_("Schedule"), id="edit-schedule",
                tooltip=N_("Edit the selected job's schedule")),
        Binding("enter", "details", N_("Details"), id="details", tooltip=N_("Open the selected job's details")),
        Binding("slash", "filter", N_("Filter"), id="filter", tooltip=N_("Filter the jobs by text")),
        Binding("l", "log_level", N_("Log level"), id="log-level",
                tooltip=N_("Show log records from the next level up")),
        Binding("j", "log_job", N_("Log job"), id="log-job",
                tooltip=N_("Show only the selected job's log records, or all again")),
        Binding("a", "alerts", N_("Alerts"), id="alerts", tooltip=N_("Show and acknowledge open alerts")),
        Binding("question_mark", "help", N_("Help"), id="help", tooltip=N_("List every key")),
        Binding("escape", "clear_filter", N_("Clear filter"), id="clear-filter", show=False),
    ]

    def __init__(self, sampler: Sampler) -> None:
        super().__init__()
        translate_bindings(self)
        self.all_bindings = self._bindings
        self.sampler = sampler
        self.body_mounted = False

    @property
    def cron_app(self) -> CronConsoleApp:
        return cast("CronConsoleApp", self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return allowed(self.cron_app.engine.read_only, action)

    def compose(self) -> ComposeResult:
        # The first frame shows only the header and the footer.
        # The job table, the gauges and the log pane are mounted just after it (see on_mount).
        yield StatusHeader(id="header")
        yield Footer()

    def _body(self) -> list[Widget]:
        engine = self.cron_app.engine
        table = JobTable(engine.zone, id="jobs")
        table.border_title = _("Jobs")
        bottom = Horizontal(
            ResourceGauges(self.sampler, memory_threshold_mb=engine.settings.memory_threshold_mb,
                           cpu_threshold_percent=engine.settings.cpu_threshold_percent, id="gauges"),
            LogPane(self.cron_app.log_handler, engine.zone, id="log"),
            id="bottom",
        )
        return [table, bottom]

    async def _mount_body(self) -> None:
        await self.mount_all(self._body(), before=self.query_one(Footer))
        self.body_mounted = True
        self.refresh_view()
        self.set_interval(TICK_SECONDS, self.refresh_view)
        self.set_interval(ALERT_COUNT_SECONDS, self.count_alerts)
        self.count_alerts()
        self.query_one(JobTable).focus()

    def on_resize(self) -> None:
        self._fit_footer()

    def _fit_footer(self) -> None:
        fit_footer(self, self.all_bindings, HIDDEN_WHEN_NARROW, NARROW_FOOTER_WIDTH)

    def footer_and_hidden_bindings(self) -> list[Binding]:
        """Return every key the footer shows at full width, for the help screen and the command palette."""
        return shown_bindings(self, self.all_bindings)

    def on_mount(self) -> None:
        self._fit_footer()
        self.refresh_view()
        # Building the table, the gauges and the log pane takes several times as long
        # as the header and the footer. Queued with call_later, their mount runs after
        # the first frame is drawn (bench/ui.py times both frames).
        self.call_later(self._mount_body)

    # --- Updates ------------------------------------------------------------

    def refresh_view(self) -> None:
        """Re-read the jobs from the engine's memory and update changed cells and the header."""
        engine = self.cron_app.engine
        now = engine.clock.now()
        if self.body_mounted:
            self.query_one(JobTable).show_jobs(engine.jobs(), now)
        self.query_one(StatusHeader).show(
            instance=engine.identity.instance_id,
            database=engine.database.display_name,
            zone=engine.zone.key,
            time=local_time(now, engine.zone, with_date=False, seconds=True),
            scheduler=self.cron_app.scheduler_state(),
            scheduler_ok=self.cron_app.scheduler_running(),
        )

    def on_jobs_changed(self, _message: JobsChanged) -> None:
        self.refresh_view()

    def on_engine_ready(self, _message: EngineReady) -> None:
        self.refresh_view()
        self.count_alerts()

    def on_alerts_changed(self, _message: AlertsChanged) -> None:
        self.count_alerts()

    def count_alerts(self) -> None:
        """Count the open alerts in a worker and show the number in the header."""
        if self.cron_app.engine_ready:
            self._count_alerts()

    @work(exclusive=True, group="alert-count")
    async def _count_alerts(self) -> None:
        try:
            alerts = await self.cron_app.engine.alerts(limit=ALERT_COUNT_LIMIT)
        except Exception:
            logger.exception("Counting the open alerts failed; the header keeps the previous count")
            return
        critical = sum(1 for alert in alerts if alert.severity == "critical")
        self.query_one(StatusHeader).show_alerts(len(alerts), critical)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.cron_app.open_details(str(event.row_key.value))

    # --- Filter -------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "job-filter":
            table = self.query_one(JobTable)
            table.filter_text = event.value
            self.refresh_view()
            table.border_title = _("Jobs · filter: {text}").format(text=event.value) if event.value else _("Jobs")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "job-filter":
            self.query_one(JobTable).focus()

    async def action_filter(self) -> None:
        if not self.body_mounted:
            return
        fields = self.query("#job-filter").results(Input)
        field = next(fields, None)
        if field is None:
            # Mounted on first use, because mounting an input at start costs start-up time.
            field = OrderedInput(placeholder=_("Filter jobs by id, title, group or state; Esc clears"),
                                 id="job-filter")
            await self.mount(field, before=self.query_one(JobTable))
        field.add_class("-visible")
        field.focus()

    def action_clear_filter(self) -> None:
        field = next(self.query("#job-filter").results(Input), None)
        if field is None:
            return
        field.value = ""
        field.remove_class("-visible")
        self.query_one(JobTable).focus()

    # --- Job actions --------------------------------------------------------

    def _selected(self) -> str | None:
        if not self.body_mounted:
            return None
        job_id = self.query_one(JobTable).selected_job_id
        if job_id is None:
            self.notify(_("No job is selected; move the cursor to a job first."), severity="warning")
        return job_id

    def action_run_job(self) -> None:
        if job_id := self._selected():
            self.cron_app.request_run(job_id)

    def action_dry_run(self) -> None:
        if job_id := self._selected():
            self.cron_app.request_run(job_id, dry_run=True)

    def action_toggle_pause(self) -> None:
        if job_id := self._selected():
            self.cron_app.request_toggle_pause(job_id)

    def action_edit_schedule(self) -> None:
        if job_id := self._selected():
            self.cron_app.open_schedule_editor(job_id)

    def action_details(self) -> None:
        if job_id := self._selected():
            self.cron_app.open_details(job_id)

    def action_alerts(self) -> None:
        self.cron_app.open_alerts()

    def action_help(self) -> None:
        self.cron_app.open_help(self, self.footer_and_hidden_bindings())

    # --- Log pane -----------------------------------------------------------

    def action_log_level(self) -> None:
        if self.body_mounted:
            self.query_one(LogPane).cycle_level()

    def action_log_job(self) -> None:
        if not self.body_mounted:
            return
        pane = self.query_one(LogPane)
        if pane.job_filter is not None:
            pane.set_job_filter(None)
        elif job_id := self._selected():
            pane.set_job_filter(job_id)
