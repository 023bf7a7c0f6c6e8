"""The injected clock: the only place that reads the current time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """A source of the current instant as an aware UTC ``datetime``."""

    def now(self) -> datetime: ...


def local_time(instant: datetime, zone: ZoneInfo, *, with_date: bool = True, seconds: bool = False) -> str:
    """Format ``instant`` in ``zone`` with its UTC offset, as the screens show it: ``2026-06-17 13:00 +03:00``."""
    local = instant.astimezone(zone)
    offset = local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else ""
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    day = local.strftime("%Y-%m-%d ") if with_date else ""
    return f"{day}{clock} {offset}".rstrip()


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when a test sets or advances it. Safe to read from worker threads."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"FakeClock needs an aware datetime, got naive {start!r}")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError(f"FakeClock needs an aware datetime, got naive {instant!r}")
        with self._lock:
            self._now = instant.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by ``delta`` or by ``timedelta(**kwargs)``; return the new instant."""
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._now += step
            return self._now
