"""Textual messages that carry engine events to the screens.

The app subscribes to the engine and posts these to every screen on the
stack. Events for the same job that arrive before the screens catch up are
merged into one :class:`JobsChanged`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class EngineReady(Message):
    """The engine has started (or failed to start) and its job list can be read."""

    error: str | None = None


@dataclass
class JobsChanged(Message):
    """One or more jobs changed state, settings or last run; re-read them from the engine."""

    job_ids: frozenset[str]


@dataclass
class RunEnded(Message):
    """A run finished, failed or was skipped; its record is in the database."""

    job_id: str
    run_id: int | None
    status: str
    dry_run: bool


@dataclass
class AlertsChanged(Message):
    """An alert was raised or acknowledged."""
