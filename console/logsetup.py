"""Logging configuration for the headless service, the one-shot commands and the TUI."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from jobs.runlog import RunContextFilter

PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FILE_NAME = "cron-console.log"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, job_id, run_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            entry["job_id"] = job_id
            entry["run_id"] = getattr(record, "run_id", None)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", *, log_format: str = "plain", stream: TextIO | None = None,
                      log_dir: Path | None = None) -> None:
    """Send records to ``stream`` (stdout by default; None with ``log_dir`` for the TUI) and a daily file.

    Replaces handlers set by an earlier call, so it can run once per process
    and again in tests.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_cron_console", False):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level.upper())
    formatter: logging.Formatter = JsonLineFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT)
    context_filter = RunContextFilter()

    targets: list[logging.Handler] = []
    if stream is not None or log_dir is None:
        targets.append(logging.StreamHandler(stream or sys.stdout))
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            targets.append(logging.handlers.TimedRotatingFileHandler(
                log_dir / LOG_FILE_NAME, when="midnight", backupCount=0, encoding="utf-8"))
        except OSError as error:
            logging.getLogger(__name__).warning("Cannot write logs under %s: %s", log_dir, error)
    for handler in targets:
        handler.setLevel(level.upper())
        handler.setFormatter(formatter)
        handler.addFilter(context_filter)
        handler._cron_console = True  # type: ignore[attr-defined]
        root.addHandler(handler)

    # APScheduler logs every job it adds at INFO; the engine logs what matters.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
