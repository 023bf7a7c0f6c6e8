"""The help screen: every key of the screen it was opened from, with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static

from console.bindings import translate_bindings
from console.i18n import N_, _


class HelpScreen(ModalScreen[None]):
    """A table of keys; any of the close keys returns to the previous screen."""

    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", N_("Close"), id="close-help")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        translate_bindings(self)
        self.key_bindings = bindings

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(_("Keys"), id="dialog-title")
            yield DataTable(id="help-keys", cursor_type="none", zebra_stripes=True)
            yield Static(_("Ctrl+P opens the command palette, where every key is also listed by name. "
                           "The mouse works too: click a row to open its job."), id="help-note")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column(_("Key"), key="key")
        table.add_column(_("Action"), key="action")
        table.add_column(_("What it does"), key="tooltip")
        for binding in self.key_bindings:
            key = self.app.get_key_display(binding)
            table.add_row(key, binding.description, binding.tooltip or "")

    def action_close(self) -> None:
        self.dismiss(None)
