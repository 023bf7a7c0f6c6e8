"""The schedule editor: a cron expression checked as it is typed, with its next five fire times."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from console.bindings import translate_bindings
from console.format import local_time, source_label
from console.i18n import N_, _, current_language
from console.widgets.ordered_input import OrderedInput
from jobs.cron import describe
from jobs.errors import CronConsoleError, CronExpressionError

if TYPE_CHECKING:
    from console.app import CronConsoleApp

PREVIEW_COUNT = 5


class ScheduleEditorScreen(ModalScreen[str | None]):
    """Edit one job's schedule; dismisses with the new expression, or None when nothing changed.

    An invalid expression is never sent to the engine's ``set_schedule``; the
    reason stays on screen and the job keeps its schedule.
    """

    CSS_PATH = "schedule_editor.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", N_("Save"), id="save-schedule", tooltip=N_("Apply the expression now")),
        Binding("ctrl+r", "reset", N_("Reset to default"), id="reset-schedule",
                tooltip=N_("Go back to the environment's or the built-in schedule")),
        Binding("escape", "cancel", N_("Cancel"), id="cancel-schedule"),
    ]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        translate_bindings(self)
        self.job_id = job_id
        self.reason = ""

    @property
    def cron_app(self) -> CronConsoleApp:
        return cast("CronConsoleApp", self.app)

    def compose(self) -> ComposeResult:
        info = self.cron_app.engine.job(self.job_id)
        default = info.spec.default_schedule
        with Vertical(id="dialog"):
            yield Label(_("Schedule of {job}").format(job=self.job_id), id="dialog-title")
            yield Static(_("Current: {expression} ({source}); default: {default}").format(
                expression=info.schedule, source=source_label(info.schedule_source), default=default),
                id="current", markup=False)
            yield OrderedInput(value=info.schedule, id="expression",
                        placeholder=_("minute hour day-of-month month day-of-week, e.g. 0 2 * * *"))
            yield Static("", id="reason", markup=False)
            yield Static("", id="description", markup=False)
            yield Label(_("Next {count} fire times ({zone})").format(
                count=PREVIEW_COUNT, zone=self.cron_app.engine.zone.key), id="preview-title")
            yield Static("", id="preview", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button(_("Save"), variant="primary", id="save")
                yield Button(_("Reset to default"), id="reset")
                yield Button(_("Cancel"), id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self._check(self.query_one("#expression", Input).value)
        self.query_one("#expression", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check(event.value)

    def _check(self, expression: str) -> bool:
        """Validate ``expression`` and show its description and next fire times, or the reason it is invalid."""
        engine = self.cron_app.engine
        field = self.query_one("#expression", Input)
        reason = self.query_one("#reason", Static)
        try:
            times = engine.preview_schedule(expression, PREVIEW_COUNT)
        except CronExpressionError as error:
            field.add_class("-invalid")
            self.reason = error.message
            reason.update(_("Invalid: {reason}").format(reason=error.message))
            reason.add_class("-invalid")
            self.query_one("#description", Static).update("")
            self.query_one("#preview", Static).update("")
            return False
        field.remove_class("-invalid")
        self.reason = ""
        reason.remove_class("-invalid")
        reason.update(_("Valid"))
        self.query_one("#description", Static).update(describe(expression, current_language()))
        self.query_one("#preview", Static).update(
            "\n".join(local_time(instant, engine.zone) for instant in times))
        return True

    async def on_input_submitted(self, _event: Input.Submitted) -> None:
        await self.action_save()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            await self.action_save()
        elif event.button.id == "reset":
            await self.action_reset()
        else:
            self.action_cancel()

    async def action_save(self) -> None:
        expression = self.query_one("#expression", Input).value.strip()
        if not self._check(expression):
            self.notify(_("The schedule was not changed: {reason}").format(
                reason=self.reason), severity="error",
                title=_("Invalid cron expression"))
            return
        await self._apply(expression)

    async def action_reset(self) -> None:
        await self._apply(None)

    async def _apply(self, expression: str | None) -> None:
        app = self.cron_app
        try:
            info = await app.engine.set_schedule(self.job_id, expression, app.user)
        except CronConsoleError as error:
            app.report_error(error)
            return
        self.notify(_("{job} now runs on {expression} ({source}).").format(
            job=self.job_id, expression=info.schedule, source=source_label(info.schedule_source)))
        self.dismiss(info.schedule)

    def action_cancel(self) -> None:
        self.dismiss(None)
