"""Run tags on log records, and the per-run collection of log lines.

The engine sets :data:`current_run` before it starts a job. ``asyncio`` copies
context variables into tasks and into ``asyncio.to_thread`` workers, so every
record a job logs, from any module, carries its job id and run id.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RunTag:
    job_id: str
    run_id: int


current_run: ContextVar[RunTag | None] = ContextVar("current_run", default=None)

MAX_LINES_PER_RUN = 500


class RunContextFilter(logging.Filter):
    """Add ``job_id`` and ``run_id`` attributes (None outside a run) to every record it filters."""

    def filter(self, record: logging.LogRecord) -> bool:
        tag = current_run.get()
        if not hasattr(record, "job_id"):
            record.job_id = tag.job_id if tag else None
        if not hasattr(record, "run_id"):
            record.run_id = tag.run_id if tag else None
        return True


class RunLogCollector(logging.Handler):
    """Keep the last :data:`MAX_LINES_PER_RUN` formatted lines of each run in progress."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._lines: dict[int, deque[str]] = {}
        self._guard = threading.Lock()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def open(self, run_id: int) -> None:
        with self._guard:
            self._lines[run_id] = deque(maxlen=MAX_LINES_PER_RUN)

    def emit(self, record: logging.LogRecord) -> None:
        tag = current_run.get()
        if tag is None:
            return
        with self._guard:
            lines = self._lines.get(tag.run_id)
        if lines is None:
            return
        try:
            lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a malformed record must not break the job that logged it
            self.handleError(record)

    def close_run(self, run_id: int) -> str:
        """Return the run's lines joined by newlines and forget them."""
        with self._guard:
            lines = self._lines.pop(run_id, None)
        return "\n".join(lines) if lines else ""
