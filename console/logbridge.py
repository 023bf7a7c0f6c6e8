"""A logging handler that hands records to the TUI without touching widgets from other threads.

Jobs log from worker threads and the engine from the event loop. The handler
only appends a small :class:`LogEntry` to a bounded deque under a lock; the
log pane drains the deque on a timer on the UI thread and writes each batch
at once. When the pane falls behind, the oldest entries are dropped and
counted in :attr:`UILogHandler.dropped`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from jobs.clock import Clock
from jobs.runlog import RunContextFilter

# Entries waiting for the pane; at 2,000 records a second and a 0.2 s drain
# interval a batch contains about 400, so this leaves ample room.
DEFAULT_CAPACITY = 10_000
# Loggers the console lowers to DEBUG while the TUI runs, so that the pane's
# level filter can show their debug records; other libraries stay as configured.
CONSOLE_LOGGERS = ("jobs", "storage", "console")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log record reduced to what the pane shows and filters on."""

    time: datetime  # from the engine's clock, aware UTC
    level: int
    logger: str
    message: str
    job_id: str | None
    run_id: int | None


class UILogHandler(logging.Handler):
    """Collect records into a lock-protected bounded deque for the log pane to drain."""

    def __init__(self, clock: Clock, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(level=logging.DEBUG)
        self.clock = clock
        self.addFilter(RunContextFilter())
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._guard = threading.Lock()
        self.dropped = 0
        self._saved_levels: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {record.exc_info[1]!r}"
            entry = LogEntry(self.clock.now(), record.levelno, record.name, message,
                             getattr(record, "job_id", None), getattr(record, "run_id", None))
        except Exception:  # noqa: BLE001 - a malformed record must not break the code that logged it
            self.handleError(record)
            return
        with self._guard:
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
            self._entries.append(entry)

    def drain(self) -> list[LogEntry]:
        """Remove and return every waiting entry, oldest first."""
        with self._guard:
            entries = list(self._entries)
            self._entries.clear()
        return entries

    def attach(self) -> None:
        """Add the handler to the root logger and let the console's own loggers emit DEBUG."""
        logging.getLogger().addHandler(self)
        for name in CONSOLE_LOGGERS:
            logger = logging.getLogger(name)
            self._saved_levels[name] = logger.level
            if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
                logger.setLevel(logging.DEBUG)

    def detach(self) -> None:
        """Undo :meth:`attach`."""
        logging.getLogger().removeHandler(self)
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_levels.clear()
