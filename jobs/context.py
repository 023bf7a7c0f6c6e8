"""The context a job receives when it runs, and the summary type it returns."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

from jobs.clock import Clock, local_time
from jobs.settings import Settings
from storage.db import Database
from storage.queries import BatchProgress, BetweenBatches

# Counts a job reports, e.g. {"examined": 120, "deleted": 118}. A dry run
# returns the same keys with the counts a real run at the same instant would
# produce. Values are JSON-serialisable.
Summary = dict[str, Any]

AlertSink = Callable[[str, str, str], int | None]


class JobCancelled(Exception):
    """Raised inside a job by :meth:`JobContext.check_cancelled` after a time-out or a stop."""


@dataclass
class JobContext:
    """Everything one run of a job may use.

    ``now`` is the run's reference instant (aware UTC), read once when the run
    starts: every cut-off is computed from it, so a dry run and a real run at
    the same instant select the same rows.
    """

    job_id: str
    run_id: int | None
    settings: Settings
    database: Database
    clock: Clock
    now: datetime
    dry_run: bool = False
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = field(
        default_factory=lambda: logging.getLogger("jobs")
    )
    cancel_event: threading.Event = field(default_factory=threading.Event)
    alert_sink: AlertSink | None = None
    # Provider clients for the jobs that call Meta and Twilio; None when no
    # provider is configured.
    providers: Any = None
    # Free-form per-run scratch space that the engine copies into the summary
    # of a run that fails half-way, so partial progress is not lost.
    progress: MutableMapping[str, Any] = field(default_factory=dict)

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` when the run was timed out or the console is stopping.

        Long jobs call this between batches; it is the only point at which a
        job running in a worker thread can be stopped.
        """
        if self.cancel_event.is_set():
            raise JobCancelled(f"{self.job_id} run {self.run_id} was cancelled")

    def local_time(self, instant: datetime) -> str:
        """Format ``instant`` for a user-facing message in the engine's zone (``CRON_TIMEZONE``)."""
        return local_time(instant, self.settings.zone())

    def raise_alert(self, kind: str, severity: str, message: str) -> int | None:
        """Record an alert and publish it; a dry run only logs what it would raise.

        ``severity`` is ``info``, ``warning`` or ``critical``. ``message`` is
        shown to operators and must not contain a secret. Returns the alert id,
        or None in a dry run.
        """
        if self.dry_run or self.alert_sink is None:
            self.logger.info("Would raise %s alert %s: %s", severity, kind, message)
            return None
        return self.alert_sink(kind, severity, message)


class BatchHooks(TypedDict):
    """The hooks of :func:`storage.queries.delete_in_batches` and ``update_in_batches``."""

    between_batches: BetweenBatches
    after_batch: BetweenBatches


def batch_hooks(
    ctx: JobContext,
    rows_key: str,
    *,
    child_rows_key: str | None = None,
    batches_key: str | None = None,
    batches_before: int = 0,
) -> BatchHooks:
    """Build the hooks that let a batched change be cancelled and keep its committed counts.

    After each commit the totals go into ``ctx.progress`` under the summary
    keys given (``batches_before`` adds the batches of an earlier change that
    shares ``batches_key``). The engine records ``ctx.progress`` as the summary
    of a run that is cancelled, times out or fails, so it always matches what
    the database kept. Before each batch a time-out or a stop cancels the job.
    """

    def record(progress: BatchProgress) -> None:
        ctx.progress[rows_key] = progress.rows
        if child_rows_key is not None:
            ctx.progress[child_rows_key] = progress.child_rows
        if batches_key is not None:
            ctx.progress[batches_key] = batches_before + progress.batches

    def check(progress: BatchProgress) -> None:
        record(progress)
        ctx.check_cancelled()

    return {"between_batches": check, "after_batch": record}
