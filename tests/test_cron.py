"""Cron expressions: Vixie parsing rules and fire times across both DST changes of Europe/Bucharest."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.base import BaseTrigger

from jobs.cron import CronSchedule, VixieCronTrigger, describe
from jobs.errors import CronExpressionError

BUCHAREST = ZoneInfo("Europe/Bucharest")
# 2026: clocks go 03:00 EET -> 04:00 EEST on 29 March, 04:00 EEST -> 03:00 EET on 25 October.
SPRING_WINDOW = (date(2026, 3, 27), date(2026, 3, 31))
FALL_WINDOW = (date(2026, 10, 23), date(2026, 10, 27))


def _utc_minutes(first_day: date, last_day: date, zone: ZoneInfo) -> list[datetime]:
    start = datetime.combine(first_day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    minutes = []
    instant = start
    while instant < end:
        minutes.append(instant)
        instant += timedelta(minutes=1)
    return minutes


def _reference_fixed_time(hour: int, minute: int, window: tuple[date, date]) -> list[datetime]:
    """Per local day, the first real minute whose wall time is at or past hour:minute."""
    fires: dict[date, datetime] = {}
    for instant in _utc_minutes(*window, BUCHAREST):
        local = instant.astimezone(BUCHAREST)
        if local.date() not in fires and (local.hour, local.minute) >= (hour, minute):
            fires[local.date()] = instant
    return sorted(fires.values())


def _reference_wildcard(minutes: set[int], hours: set[int], window: tuple[date, date]) -> list[datetime]:
    """Every real minute whose wall-clock fields match: elapsed-time semantics."""
    return [
        instant for instant in _utc_minutes(*window, BUCHAREST)
        if instant.astimezone(BUCHAREST).minute in minutes and instant.astimezone(BUCHAREST).hour in hours
    ]


def _engine_fires(expression: str, window: tuple[date, date]) -> list[datetime]:
    schedule = CronSchedule.parse(expression)
    start = datetime.combine(window[0], time(0), tzinfo=BUCHAREST).astimezone(UTC) - timedelta(microseconds=1)
    end = datetime.combine(window[1] + timedelta(days=1), time(0), tzinfo=BUCHAREST).astimezone(UTC)
    return [instant for instant in schedule.times_between(start, end, BUCHAREST) if instant < end]


@pytest.mark.parametrize("window", [SPRING_WINDOW, FALL_WINDOW], ids=["spring-forward", "fall-back"])
@pytest.mark.parametrize("hour", range(24))
def test_fixed_time_job_every_hour_across_dst(hour: int, window: tuple[date, date]) -> None:
    for minute in (0, 30):
        expected = _reference_fixed_time(hour, minute, window)
        actual = _engine_fires(f"{minute} {hour} * * *", window)
        assert actual == expected, f"{minute} {hour} * * *"
        assert len(actual) == (window[1] - window[0]).days + 1, "one run per local day, never skipped or doubled"


@pytest.mark.parametrize("window", [SPRING_WINDOW, FALL_WINDOW], ids=["spring-forward", "fall-back"])
@pytest.mark.parametrize(
    ("expression", "minutes", "hours"),
    [
        ("*/30 * * * *", {0, 30}, set(range(24))),
        ("0 */2 * * *", {0}, set(range(0, 24, 2))),
        ("0 * * * *", {0}, set(range(24))),
        ("15 */6 * * *", {15}, {0, 6, 12, 18}),
    ],
    ids=["every-30-min", "every-2-h", "hourly", "every-6-h"],
)
def test_wildcard_job_follows_elapsed_time(expression: str, minutes: set[int], hours: set[int],
                                           window: tuple[date, date]) -> None:
    assert _engine_fires(expression, window) == _reference_wildcard(minutes, hours, window)


def test_skipped_hour_runs_at_the_jump() -> None:
    schedule = CronSchedule.parse("30 3 * * *")
    fire = schedule.next_after(datetime(2026, 3, 28, 22, 0, tzinfo=UTC), BUCHAREST)
    assert fire == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert fire.astimezone(BUCHAREST).isoformat() == "2026-03-29T04:00:00+03:00"


def test_repeated_hour_runs_once_at_first_occurrence() -> None:
    schedule = CronSchedule.parse("30 3 * * *")
    fires = schedule.next_times(datetime(2026, 10, 24, 22, 0, tzinfo=UTC), BUCHAREST, 2)
    assert fires[0].astimezone(BUCHAREST).isoformat() == "2026-10-25T03:30:00+03:00"
    assert fires[1].astimezone(BUCHAREST).isoformat() == "2026-10-26T03:30:00+02:00"


def test_two_skipped_times_collapse_into_one_run() -> None:
    schedule = CronSchedule.parse("0,30 3 * * *")
    fires = schedule.times_between(datetime(2026, 3, 28, 22, 0, tzinfo=UTC),
                                   datetime(2026, 3, 29, 21, 0, tzinfo=UTC), BUCHAREST)
    assert fires == [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("expression", "first", "expected"),
    [
        # 1 June 2026 is a Monday. Both day fields restricted: either matches (Vixie OR).
        ("0 0 15 * mon", datetime(2026, 5, 31, 20, 0, tzinfo=UTC), ["2026-06-01", "2026-06-08", "2026-06-15"]),
        # Day of week starts with '*': both must match.
        ("0 0 1-10 * */7", datetime(2026, 5, 31, 0, 0, tzinfo=UTC), ["2026-06-07"]),
        ("0 0 * * 7", datetime(2026, 6, 1, 0, 0, tzinfo=UTC), ["2026-06-07"]),
        ("0 0 * * 0", datetime(2026, 6, 1, 0, 0, tzinfo=UTC), ["2026-06-07"]),
        ("0 0 * * sun", datetime(2026, 6, 1, 0, 0, tzinfo=UTC), ["2026-06-07"]),
        ("0 12 * jun mon-fri", datetime(2026, 6, 5, 12, 0, tzinfo=UTC), ["2026-06-08"]),
        ("@monthly", datetime(2026, 6, 2, 0, 0, tzinfo=UTC), ["2026-07-01"]),
        ("0 0 29 2 *", datetime(2026, 3, 1, 0, 0, tzinfo=UTC), ["2028-02-29"]),
    ],
    ids=["dom-or-dow", "dow-star-and", "seven-is-sunday", "zero-is-sunday", "sun-name", "names-range",
         "macro", "leap-day"],
)
def test_vixie_day_rules(expression: str, first: datetime, expected: list[str]) -> None:
    schedule = CronSchedule.parse(expression)
    fires = schedule.next_times(first, BUCHAREST, len(expected))
    assert [fire.astimezone(BUCHAREST).date().isoformat() for fire in fires] == expected


def test_steps_and_lists_expand() -> None:
    schedule = CronSchedule.parse("1-10/3,45 8-18/5 * * *")
    assert schedule.minutes == frozenset({1, 4, 7, 10, 45})
    assert schedule.hours == frozenset({8, 13, 18})


@pytest.mark.parametrize(
    ("expression", "field", "fragment"),
    [
        ("0 0 * * * *", None, "6 fields"),
        ("0 24 * * *", "hour", "'24' is out of range"),
        ("5-1 * * * *", "minute", "start is above its end"),
        ("0 0 * foo *", "month", "'foo' is not a number"),
        ("0 0 31 2 *", "day of month", "can never fire"),
        ("0 0 30,31 2 *", "day of month", "can never fire"),
        ("*/0 * * * *", "minute", "invalid step"),
        ("5/10 * * * *", "minute", "step after a single value"),
        ("@reboot", None, "Unknown macro"),
        ("", None, "empty"),
        ("0 0 * * 8", "day of week", "'8' is out of range"),
        ("0,,5 * * * *", "minute", "empty list item"),
    ],
    ids=["six-fields", "hour-range", "reversed-range", "unknown-name", "feb-31", "feb-30-31", "zero-step",
         "single-step", "reboot", "empty", "weekday-8", "empty-item"],
)
def test_invalid_expression_names_field_and_value(expression: str, field: str | None, fragment: str) -> None:
    with pytest.raises(CronExpressionError) as caught:
        CronSchedule.parse(expression)
    assert fragment in caught.value.message
    assert caught.value.field == field


def test_feb_30_with_weekday_can_fire() -> None:
    # With both day fields restricted a day matches on either, so Mondays in February fire.
    schedule = CronSchedule.parse("0 0 30 2 mon")
    fire = schedule.next_after(datetime(2026, 2, 1, tzinfo=UTC), BUCHAREST)
    assert fire.astimezone(BUCHAREST).date() == date(2026, 2, 2)


def test_apscheduler_trigger_chains_fire_times() -> None:
    schedule = CronSchedule.parse("*/30 * * * *")
    trigger = VixieCronTrigger(schedule, BUCHAREST)
    assert isinstance(trigger, BaseTrigger)
    now = datetime(2026, 10, 25, 0, 10, tzinfo=UTC)  # 03:10 EEST, inside the hour that repeats
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, now)
    third = trigger.get_next_fire_time(second, now)
    assert [instant.astimezone(BUCHAREST).isoformat() for instant in (first, second, third)] == [
        "2026-10-25T03:30:00+03:00", "2026-10-25T03:00:00+02:00", "2026-10-25T03:30:00+02:00"]


def test_trigger_fires_at_now_when_due() -> None:
    trigger = VixieCronTrigger(CronSchedule.parse("0 2 * * *"), BUCHAREST)
    due = datetime(2026, 6, 16, 23, 0, tzinfo=UTC)  # 02:00 EEST
    assert trigger.get_next_fire_time(None, due) == due


@pytest.mark.parametrize(("language", "fragment"), [("en", "02:30"), ("ro", "02:30")])
def test_describe_in_both_languages(language: str, fragment: str) -> None:
    text = describe("30 2 * * 0", language)
    assert fragment in text
    assert text != "30 2 * * 0"


def test_describe_differs_by_language() -> None:
    assert describe("*/30 * * * *", "en") != describe("*/30 * * * *", "ro")


def test_describe_romanian_day_and_month_names() -> None:
    text = describe("0 12 * jun mon-fri", "ro")
    assert "luni" in text
    assert "vineri" in text
    assert "iunie" in text
    assert "Monday" not in text
