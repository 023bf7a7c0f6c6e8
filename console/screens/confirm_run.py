"""Confirmation before a destructive job runs, showing what its dry run found."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from console.bindings import translate_bindings
from console.format import job_settings, local_time
from console.i18n import N_, _
from jobs.records import RunRecord
from jobs.registry import JobSpec
from jobs.summary import format_counts

if TYPE_CHECKING:
    from console.app import CronConsoleApp


class ConfirmRunScreen(ModalScreen[bool]):
    """Ask whether to run a destructive job; dismiss with True to run it."""

    CSS_PATH = "confirm_run.tcss"
    BINDINGS = [
        Binding("y", "confirm", N_("Run it"), id="confirm"),
        Binding("n,escape", "cancel", N_("Cancel"), id="cancel"),
    ]

    def __init__(self, spec: JobSpec, preview: RunRecord) -> None:
        super().__init__()
        translate_bindings(self)
        self.spec = spec
        self.preview = preview

    def compose(self) -> ComposeResult:
        engine = cast("CronConsoleApp", self.app).engine
        zone = engine.zone
        shown = job_settings(self.spec, engine.settings)
        with Vertical(id="dialog"):
            yield Label(_("Run {job} now?").format(job=self.spec.id), id="dialog-title")
            yield Static(_(self.spec.description), id="dialog-description", markup=False)
            if shown:
                yield Static(_("Settings in force: {settings}").format(settings=", ".join(
                    f"{setting.value} ({setting.variable})" for setting in shown)),
                    id="dialog-settings", markup=False)
            yield Static(_("The dry run at {time} found: {summary}").format(
                time=local_time(self.preview.started_at, zone, seconds=True),
                summary=format_counts(self.preview.summary, planned=True)), id="dialog-preview", markup=False)
            yield Static(_("This job deletes data, and deleted rows cannot be restored. The real run "
                           "deletes what matches when it runs, so its counts can differ slightly from "
                           "the dry run's."), id="dialog-warning")
            with Horizontal(id="dialog-buttons"):
                yield Button(_("Run it"), variant="error", id="confirm")
                yield Button(_("Cancel"), variant="default", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
