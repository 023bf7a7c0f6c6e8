"""The help screen: every key of the screen it was opened from, with what it does."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

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
            # A Rich table in a Static wraps long descriptions to the dialog's width; a DataTable would cut them.
            with VerticalScroll(id="help-scroll"):
                yield Static(self._keys_table(), id="help-keys")
            yield Static(_("Ctrl+P opens the command palette, where every key is also listed by name. "
                           "The mouse works too: click a row to select its job, click it again to open it, "
                           "and click a key in the footer to press it."), id="help-note")
        yield Footer()

    def _keys_table(self) -> Table:
        table = Table(box=None, expand=True, header_style="bold", padding=(0, 1))
        table.add_column(_("Key"), no_wrap=True)
        table.add_column(_("Action"), no_wrap=True)
        table.add_column(_("What it does"), ratio=1)
        for binding in self.key_bindings:
            table.add_row(self.app.get_key_display(binding), binding.description, binding.tooltip or "")
        return table

    def action_close(self) -> None:
        self.dismiss(None)
