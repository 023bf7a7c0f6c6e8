"""local_time: instants in the engine's zone with their UTC offset, as alerts and screens show them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from jobs.clock import local_time

BUCHAREST = ZoneInfo("Europe/Bucharest")


def test_local_time_winter_offset() -> None:
    assert local_time(datetime(2026, 12, 6, 22, 48, tzinfo=UTC), BUCHAREST) == "2026-12-07 00:48 +02:00"


def test_local_time_summer_offset() -> None:
    assert local_time(datetime(2026, 6, 17, 10, 0, tzinfo=UTC), BUCHAREST) == "2026-06-17 13:00 +03:00"


def test_local_time_across_dst_end() -> None:
    # 03:30 local happens twice on 2026-10-25, and only the offset distinguishes the two.
    first = local_time(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), BUCHAREST)
    second = local_time(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BUCHAREST)
    assert first == "2026-10-25 03:30 +03:00"
    assert second == "2026-10-25 03:30 +02:00"


def test_local_time_options() -> None:
    instant = datetime(2026, 6, 17, 10, 0, 5, tzinfo=UTC)
    assert local_time(instant, BUCHAREST, with_date=False, seconds=True) == "13:00:05 +03:00"
    assert local_time(instant, ZoneInfo("UTC")) == "2026-06-17 10:00 +00:00"
