"""The job table: one row per job, updated cell by cell, sorted by next run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from console.format import (
    STATUS_MARKS,
    duration,
    elapsed,
    percent,
    relative,
    short_time,
    state_label,
    status_label,
)
from console.i18n import N_, _, current_language
from console.widgets.theme import theme_style
from jobs.cron import describe
from jobs.engine import JobInfo

COLUMNS = (
    ("job", N_("Job")),
    ("state", N_("State")),
    ("next", N_("Next run")),
    ("until", N_("In")),
    ("last", N_("Last run")),
    ("rate", N_("Success")),
    ("schedule", N_("Schedule")),
    ("description", N_("When")),
    ("title", N_("Title")),
)
STATE_COLOURS = {"running": "success", "paused": "warning", "disabled": "foreground-muted",
                 "manual": "foreground-muted"}
STATUS_COLOURS = {"succeeded": "success", "failed": "error", "timed_out": "error", "interrupted": "error",
                  "cancelled": "warning", "skipped": "warning", "missed": "warning"}


class JobTable(DataTable[Text | str]):
    """Every job (or those matching :attr:`filter_text`), soonest next run first.

    :meth:`show_jobs` changes only the cells whose text changed and never
    clears the table, so the cursor stays on the same job and the scroll
    position is kept.
    """

    DEFAULT_CSS = """
    JobTable {
        height: 1fr;
        border: round $primary 50%;
        scrollbar-size-vertical: 1;
    }
    JobTable:focus {
        border: round $primary;
    }
    """

    def __init__(self, zone: ZoneInfo, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.zone = zone
        self.filter_text = ""
        self._cells: dict[str, tuple[Text | str, ...]] = {}
        self._sort_keys: dict[str, tuple[int, float, int]] = {}
        self._descriptions: dict[str, str] = {}
        self._rows_added = False

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(_(label), key=key)

    @property
    def selected_job_id(self) -> str | None:
        """The id of the job under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        try:
            row_key, _column = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return None if row_key.value is None else str(row_key.value)

    def select_job(self, job_id: str) -> None:
        with contextlib.suppress(RowDoesNotExist):
            self.move_cursor(row=self.get_row_index(job_id))

    def show_jobs(self, infos: Iterable[JobInfo], now: datetime) -> None:
        """Bring the rows in line with ``infos``: update changed cells, add and remove filtered rows, re-sort."""
        selected = self.selected_job_id
        visible: set[str] = set()
        for order, info in enumerate(infos):
            if not self._matches(info):
                continue
            visible.add(info.id)
            cells = self._cells_for(info, now)
            next_run = info.next_run.timestamp() if info.next_run else float("inf")
            self._sort_keys[info.id] = (0 if info.state == "running" else 1, next_run, order)
            previous = self._cells.get(info.id)
            if previous is None:
                self.add_row(*cells, key=info.id)
                self._rows_added = True
            else:
                for (column, _label), old, new in zip(COLUMNS, previous, cells, strict=True):
                    if old != new:
                        self.update_cell(info.id, column, new, update_width=True)
            self._cells[info.id] = cells

        for job_id in [job_id for job_id in self._cells if job_id not in visible]:
            self.remove_row(job_id)
            del self._cells[job_id]
        self._sort_if_needed(selected)

    def on_idle(self, _event: events.Idle) -> None:
        # DataTable sizes the columns for new rows in its own idle handler, which runs
        # after this one, but keeps the lines of rows it drew before at the old widths.
        # Redrawing once afterwards stops rows from staying cut at the headers' widths.
        if self._rows_added:
            self._rows_added = False
            self.call_later(self.notify_style_update)

    def _sort_if_needed(self, selected: str | None) -> None:
        current = [str(row.key.value) for row in self.ordered_rows]
        ordered = sorted(current, key=self._sort_keys.__getitem__)
        if ordered == current:
            return
        self.sort("job", key=lambda job_id: self._sort_keys[str(job_id)])
        if selected is not None and selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected), scroll=False)

    def _matches(self, info: JobInfo) -> bool:
        needle = self.filter_text.strip().lower()
        if not needle:
            return True
        haystack = " ".join((info.id, _(info.spec.title), _(info.spec.group), state_label(info.state)))
        return needle in haystack.lower()

    def _cells_for(self, info: JobInfo, now: datetime) -> tuple[Text | str, ...]:
        return (
            info.id,
            self._state_cell(info, now),
            short_time(info.next_run, self.zone) if info.next_run else "—",
            relative(info.next_run, now) if info.next_run else "—",
            self._last_run_cell(info),
            percent(info.success_rate),
            info.schedule,
            self._description(info.schedule),
            _(info.spec.title),
        )

    def _state_cell(self, info: JobInfo, now: datetime) -> Text:
        text = state_label(info.state)
        if info.state == "running" and info.running_since is not None:
            text = f"{text} {elapsed(info.running_since, now)}"
            if info.running_dry_run:
                text = _("{state} (dry run)").format(state=text)
        elif info.state == "disabled" and info.disabled_by:
            text = _("{state} by {variable}").format(state=text, variable=info.disabled_by)
        return Text(text, self._style(STATE_COLOURS.get(info.state)))

    def _last_run_cell(self, info: JobInfo) -> Text | str:
        run = info.last_run
        if run is None:
            return "—"
        mark = STATUS_MARKS.get(run.status, "?")
        text = f"{mark} {status_label(run.status)} {short_time(run.started_at, self.zone)} · {duration(run.duration_seconds)}"
        return Text(text, self._style(STATUS_COLOURS.get(run.status)))

    def _description(self, expression: str) -> str:
        key = f"{current_language()}:{expression}"
        if key not in self._descriptions:
            self._descriptions[key] = describe(expression, current_language())
        return self._descriptions[key]

    def _style(self, variable: str | None) -> Style | str:
        return theme_style(self.app, variable) if variable else ""
