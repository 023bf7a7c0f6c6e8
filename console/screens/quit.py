"""The question asked on quit while jobs are running: wait for them, cancel them, or stay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Label, Static

from console.bindings import translate_bindings
from console.i18n import N_, _
from console.messages import JobsChanged, RunEnded

if TYPE_CHECKING:
    from console.app import CronConsoleApp

QuitChoice = Literal["wait", "cancel"]


class QuitScreen(ModalScreen[QuitChoice | None]):
    """Dismiss with ``"wait"``, ``"cancel"``, or None to keep the console open.

    The list of running jobs follows the engine: a job that finishes leaves
    it, and when none is left the dialog closes with None and shows a notification.
    """

    CSS_PATH = "quit.tcss"
    BINDINGS = [
        Binding("w", "choose('wait')", N_("Wait for them"), id="quit-wait"),
        Binding("c", "choose('cancel')", N_("Cancel them"), id="quit-cancel"),
        Binding("escape", "stay", N_("Stay"), id="quit-stay"),
    ]

    def __init__(self, running: list[str]) -> None:
        super().__init__()
        translate_bindings(self)
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(_("Jobs are still running"), id="dialog-title")
            yield Static(", ".join(self.running), id="dialog-jobs", markup=False)
            yield Static(_("Waiting lets them finish within their time-out. Cancelling stops them at their "
                           "next cancellation point and records them as cancelled."), id="dialog-text")
            with Horizontal(id="dialog-buttons"):
                yield Button(_("Wait for them"), variant="primary", id="wait")
                yield Button(_("Cancel them"), variant="error", id="cancel")
                yield Button(_("Stay"), id="stay")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def on_jobs_changed(self, _message: JobsChanged) -> None:
        self._refresh_running()

    def on_run_ended(self, _message: RunEnded) -> None:
        self._refresh_running()

    def _refresh_running(self) -> None:
        engine = cast("CronConsoleApp", self.app).engine
        running = [info.id for info in engine.jobs() if info.running_since is not None]
        if running == self.running:
            return
        self.running = running
        if not running:
            self.notify(_("The running jobs have finished; press q again to quit."))
            self.dismiss(None)
            return
        self.query_one("#dialog-jobs", Static).update(", ".join(running))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        choice = event.button.id
        self.dismiss(choice if choice in ("wait", "cancel") else None)  # type: ignore[arg-type]

    def action_choose(self, choice: QuitChoice) -> None:
        self.dismiss(choice)

    def action_stay(self) -> None:
        self.dismiss(None)
