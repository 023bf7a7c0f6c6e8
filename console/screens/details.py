"""Job details: description, settings and their sources, next fire times, run history and each run's log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Sparkline, Static, TabbedContent, TabPane

from console.bindings import allowed, fit_footer, shown_bindings, translate_bindings
from console.format import (
    duration,
    job_settings,
    local_time,
    setting_label,
    short_time,
    source_label,
    state_label,
    status_label,
    trigger_label,
)
from console.i18n import N_, _, current_language, ngettext
from console.messages import JobsChanged, RunEnded
from jobs.cron import describe
from jobs.records import RunRecord
from jobs.summary import format_counts, format_summary
from storage.db import from_db

if TYPE_CHECKING:
    from console.app import CronConsoleApp

HISTORY_LIMIT = 50
FIRE_TIMES = 5
CHANGES_SHOWN = 5
# Below this width the footer is compact and leaves out the command palette and the tab keys,
# so that the others fit in 80 columns in both languages. The tabs stay clickable, and the
# help screen (?) and the command palette list every key.
NARROW_FOOTER_WIDTH = 120
HIDDEN_WHEN_NARROW = ("tab-overview", "tab-history")


class JobDetailsScreen(Screen[None]):
    """Everything about one job; the history tab shows the selected run's summary, error and log."""

    CSS_PATH = "details.tcss"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("escape", "back", N_("Back"), id="back", tooltip=N_("Go back to the job list")),
        Binding("o", "show_tab('overview')", N_("Overview"), id="tab-overview",
                tooltip=N_("Show the job's settings and next fire times")),
        Binding("h", "show_tab('history')", N_("History"), id="tab-history",
                tooltip=N_("Show the job's runs with their summary, error and log")),
        Binding("r", "run_job", N_("Run"), id="run", tooltip=N_("Run this job now")),
        Binding("d", "dry_run", N_("Dry run"), id="dry-run", tooltip=N_("Run this job without changing anything")),
        Binding("p", "toggle_pause", N_("Pause"), id="pause", tooltip=N_("Pause or resume this job")),
        Binding("e", "edit_schedule", N_("Schedule"), id="edit-schedule", tooltip=N_("Edit this job's schedule")),
        Binding("question_mark", "help", N_("Help"), id="help", tooltip=N_("List every key")),
    ]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        translate_bindings(self)
        # The full map. Below NARROW_FOOTER_WIDTH the screen uses a copy that leaves HIDDEN_WHEN_NARROW out of the footer.
        self.all_bindings = self._bindings
        self.job_id = job_id
        self.runs: list[RunRecord] = []

    @property
    def cron_app(self) -> CronConsoleApp:
        return cast("CronConsoleApp", self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return allowed(self.cron_app.engine.read_only, action)

    def compose(self) -> ComposeResult:
        spec = self.cron_app.engine.spec(self.job_id)
        yield Label(f"{self.job_id} — {_(spec.title)}", id="details-title", markup=False)
        with TabbedContent(id="tabs"):
            with TabPane(_("Overview"), id="overview"), VerticalScroll():
                yield Static(_(spec.description), id="description", markup=False)
                with Horizontal(id="overview-columns"):
                    yield DataTable(id="settings", cursor_type="none", show_cursor=False)
                    with Vertical(id="fire-times-box"):
                        yield Label(_("Next {count} fire times").format(count=FIRE_TIMES), classes="section")
                        yield Static("", id="fire-times", markup=False)
                yield Label(_("Recent changes"), classes="section")
                yield Static("", id="changes", markup=False)
            with TabPane(_("History"), id="history"):
                yield Label("", id="durations-label")
                yield Sparkline([], id="durations")
                yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
                with VerticalScroll(id="run-detail-box"):
                    yield Static("", id="run-detail", markup=False)
        yield Footer()

    def on_resize(self) -> None:
        fit_footer(self, self.all_bindings, HIDDEN_WHEN_NARROW, NARROW_FOOTER_WIDTH)

    def footer_and_hidden_bindings(self) -> list[Binding]:
        """Return every key the footer shows at full width, for the help screen and the command palette."""
        return shown_bindings(self, self.all_bindings)

    async def on_mount(self) -> None:
        fit_footer(self, self.all_bindings, HIDDEN_WHEN_NARROW, NARROW_FOOTER_WIDTH)
        settings = self.query_one("#settings", DataTable)
        settings.add_column(_("Setting"), key="setting")
        settings.add_column(_("Value"), key="value")
        settings.add_column(_("Source"), key="source")
        runs = self.query_one("#runs", DataTable)
        for key, label in (("started", N_("Started")), ("status", N_("Status")), ("duration", N_("Duration")),
                           ("trigger", N_("Trigger")), ("summary", N_("Summary"))):
            runs.add_column(_(label), key=key)
        self.show_overview()
        await self.load_history()
        await self.load_changes()

    # --- Overview -------------------------------------------------------------

    def show_overview(self) -> None:
        engine = self.cron_app.engine
        info = engine.job(self.job_id)
        rows: list[tuple[str, str, str]] = [
            (_("Schedule"), info.schedule, source_label(info.schedule_source)),
            (_("When"), describe(info.schedule, current_language()), ""),
            (_("Time-out"), _("{seconds} s").format(seconds=info.timeout_seconds), source_label(info.timeout_source)),
            (_("State"), state_label(info.state), ""),
            (_("Group"), _(info.spec.group), ""),
            (_("Deletes data"), _("yes") if info.spec.destructive else _("no"), ""),
        ]
        if info.spec.enabled_variable:
            value = "false" if info.disabled_by else "true"
            rows.append((_("Switch"), f"{info.spec.enabled_variable}={value}", ""))
        for setting in job_settings(info.spec, engine.settings):
            rows.append((setting.variable, setting.value, setting.source))
        if info.changed_by and info.changed_at:
            rows.append((_("Last changed"), local_time(info.changed_at, engine.zone), info.changed_by))
        table = self.query_one("#settings", DataTable)
        table.clear()
        for row in rows:
            table.add_row(*row)

        times = engine.next_fire_times(self.job_id, FIRE_TIMES)
        self.query_one("#fire-times", Static).update(
            "\n".join(local_time(instant, engine.zone) for instant in times))

    async def load_changes(self) -> None:
        engine = self.cron_app.engine
        changes = await engine.setting_changes(self.job_id, limit=CHANGES_SHOWN)
        lines = []
        for change in changes:
            changed_at = from_db(change.changed_at)
            lines.append(_("{time} {who}: {field} {old} → {new}").format(
                time=local_time(changed_at, engine.zone), who=change.changed_by, field=setting_label(change.field),
                old=change.old_value or "—", new=change.new_value or "—"))
        self.query_one("#changes", Static).update("\n".join(lines) or _("No operator changes."))

    # --- History --------------------------------------------------------------

    async def load_history(self) -> None:
        """Read the job's recent runs and show them with a sparkline of their durations."""
        engine = self.cron_app.engine
        self.runs = await engine.history(self.job_id, HISTORY_LIMIT)
        table = self.query_one("#runs", DataTable)
        cursor = table.cursor_row
        table.clear()
        for run in self.runs:
            label = status_label(run.status) + (_(" (dry run)") if run.dry_run else "")
            table.add_row(short_time(run.started_at, engine.zone), label, duration(run.duration_seconds),
                          trigger_label(run.trigger), format_counts(run.summary, planned=run.dry_run),
                          key=str(run.id))
        finished = [run.duration_seconds for run in reversed(self.runs) if run.duration_seconds is not None]
        self.query_one("#durations", Sparkline).data = finished
        self.query_one("#durations-label", Label).update(
            ngettext("Duration of the last run: {longest}",
                     "Durations of the last {count} runs, oldest first; longest {longest}", len(finished)).format(
                count=len(finished), longest=duration(max(finished))) if finished else _("No runs yet."))
        if self.runs:
            table.move_cursor(row=min(cursor, len(self.runs) - 1))
            self.show_run(self.runs[min(cursor, len(self.runs) - 1)])
        else:
            self.query_one("#run-detail", Static).update("")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs" and 0 <= event.cursor_row < len(self.runs):
            self.show_run(self.runs[event.cursor_row])

    def show_run(self, run: RunRecord) -> None:
        zone = self.cron_app.engine.zone
        text = Text()
        fields: list[tuple[str, Any]] = [
            (_("Run id"), run.id),
            (_("Status"), status_label(run.status)),
            (_("Started"), local_time(run.started_at, zone, seconds=True)),
            (_("Finished"), local_time(run.finished_at, zone, seconds=True) if run.finished_at else "—"),
            (_("Trigger"), trigger_label(run.trigger)
             + (f" ({run.requested_by})" if run.requested_by else "")),
            (_("Summary"), format_summary(run.summary, dry_run=run.dry_run)),
        ]
        for label, value in fields:
            text.append(f"{label}: ", "bold")
            text.append(f"{value}\n")
        if run.error:
            text.append(_("Error") + ":\n", "bold")
            text.append(run.error.rstrip() + "\n")
        text.append(_("Log") + ":\n", "bold")
        text.append(run.log.rstrip() if run.log else _("(no log lines)"))
        self.query_one("#run-detail", Static).update(text)

    # --- Events and actions -----------------------------------------------------

    def on_jobs_changed(self, message: JobsChanged) -> None:
        if self.job_id in message.job_ids:
            self.show_overview()

    async def on_run_ended(self, message: RunEnded) -> None:
        if message.job_id == self.job_id:
            await self.load_history()

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_back(self) -> None:
        self.dismiss(None)

    def action_run_job(self) -> None:
        self.cron_app.request_run(self.job_id)

    def action_dry_run(self) -> None:
        self.cron_app.request_run(self.job_id, dry_run=True)

    def action_toggle_pause(self) -> None:
        self.cron_app.request_toggle_pause(self.job_id)

    def action_edit_schedule(self) -> None:
        self.cron_app.open_schedule_editor(self.job_id)

    def action_help(self) -> None:
        self.cron_app.open_help(self, self.footer_and_hidden_bindings())
