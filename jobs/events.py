"""Events the engine publishes to its subscribers (the TUI, the headless log, tests).

Subscribers are called on the event loop's thread, in the order they
subscribed. A subscriber that raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunStarted:
    job_id: str
    run_id: int
    trigger: str
    dry_run: bool
    started_at: datetime
    scheduled_at: datetime | None = None


@dataclass(frozen=True)
class RunFinished:
    """A run that succeeded."""

    job_id: str
    run_id: int
    dry_run: bool
    started_at: datetime
    finished_at: datetime
    summary: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "succeeded"

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunFailed:
    """A run that ended ``failed``, ``timed_out``, ``cancelled`` or ``interrupted``."""

    job_id: str
    run_id: int
    status: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime
    error: str
    summary: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class RunSkipped:
    """A firing that did not run (``skipped`` because the job was busy, or ``missed``)."""

    job_id: str
    run_id: int | None
    status: str
    reason: str
    scheduled_at: datetime | None


@dataclass(frozen=True)
class SettingsChanged:
    job_id: str
    field: str  # "paused", "schedule" or "timeout"
    old_value: str | None
    new_value: str | None
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class AlertRaised:
    alert_id: int
    kind: str
    severity: str
    message: str
    job_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class AlertAcknowledged:
    alert_id: int
    acknowledged_by: str
    acknowledged_at: datetime


EngineEvent = RunStarted | RunFinished | RunFailed | RunSkipped | SettingsChanged | AlertRaised | AlertAcknowledged
Subscriber = Callable[[EngineEvent], None]


class EventBus:
    """Synchronous fan-out of engine events."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber``; return a function that removes it again."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: EngineEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception("Event subscriber %r failed on %s", subscriber, type(event).__name__)
