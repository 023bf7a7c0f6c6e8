"""Vixie-cron expressions and their fire times across daylight-saving changes.

APScheduler 3.11's ``CronTrigger`` numbers weekdays from Monday, combines day
of month and day of week with AND and mishandles some DST changes, so
operators' expressions are parsed and evaluated here and APScheduler only gets
:class:`VixieCronTrigger`, which calls :meth:`CronSchedule.next_after`.

Fire times are a pure function of (schedule, after, zone). The rules:

* five fields (minute, hour, day of month, month, day of week) with ``*``,
  lists, ranges, ``*/n`` and ``a-b/n`` steps, month and weekday names, 0 and 7
  both Sunday, and the ``@hourly`` … ``@yearly`` macros;
* when day of month and day of week are both restricted (neither starts with
  ``*``), a day matches if either matches; otherwise both must match;
* a *fixed-time* job (neither minute nor hour starts with ``*``) whose local
  time falls in a skipped hour fires once at the instant the clock jumps, and
  fires only at the first of a repeated hour's two occurrences;
* any other job follows elapsed time: firings in a skipped hour do not exist,
  and in a repeated hour it fires in both occurrences, as Vixie cron does.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from console.i18n import N_, _
from jobs.errors import CronExpressionError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTH_NAMES = {name: number for number, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)}
WEEKDAY_NAMES = {name: number for number, name in enumerate(
    ["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


@dataclass(frozen=True)
class _FieldSpec:
    label: str
    low: int
    high: int
    names: dict[str, int] | None = None


FIELD_SPECS = (
    _FieldSpec(N_("minute"), 0, 59),
    _FieldSpec(N_("hour"), 0, 23),
    _FieldSpec(N_("day of month"), 1, 31),
    _FieldSpec(N_("month"), 1, 12, MONTH_NAMES),
    _FieldSpec(N_("day of week"), 0, 7, WEEKDAY_NAMES),
)

# Maximum search for the next matching day: a 29 February schedule can wait
# eight years when the search crosses a non-leap century year.
_MAX_SEARCH_DAYS = 366 * 9


def _field_error(expression: str, spec: _FieldSpec, value: str, reason: str) -> CronExpressionError:
    message = _("{field} field: {value!r} {reason}").format(
        field=_(spec.label), value=value, reason=reason
    )
    return CronExpressionError(expression, message, field=spec.label)


def _parse_number(expression: str, spec: _FieldSpec, text: str) -> int:
    lowered = text.lower()
    if spec.names and lowered in spec.names:
        return spec.names[lowered]
    if not text.isdigit():
        if spec.names:
            reason = _("is not a number or a known name; expected {low}-{high} or {names}").format(
                low=spec.low, high=spec.high, names="/".join(spec.names)
            )
        else:
            reason = _("is not a number; expected {low}-{high}").format(low=spec.low, high=spec.high)
        raise _field_error(expression, spec, text, reason)
    number = int(text)
    if not spec.low <= number <= spec.high:
        raise _field_error(
            expression, spec, text,
            _("is out of range; expected {low}-{high}").format(low=spec.low, high=spec.high),
        )
    return number


def _parse_field(expression: str, spec: _FieldSpec, text: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise _field_error(expression, spec, text, _("has an empty list item"))
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise _field_error(
                    expression, spec, part, _("has an invalid step; expected a whole number above 0")
                )
            step = int(step_text)
            if base != "*" and "-" not in base:
                raise _field_error(
                    expression, spec, part, _("has a step after a single value; use */n or a-b/n")
                )
        if base == "*":
            start, end = spec.low, spec.high
        elif "-" in base:
            start_text, _dash, end_text = base.partition("-")
            start = _parse_number(expression, spec, start_text)
            end = _parse_number(expression, spec, end_text)
            if start > end:
                raise _field_error(
                    expression, spec, part, _("is a range whose start is above its end")
                )
        else:
            start = end = _parse_number(expression, spec, base)
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    """A parsed five-field cron expression. Build it with :meth:`parse`."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday … 6 = Saturday
    day_of_month_star: bool
    day_of_week_star: bool
    fixed_time: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """Parse ``expression``; raise :class:`CronExpressionError` naming the field and value."""
        text = " ".join(expression.split())
        if not text:
            raise CronExpressionError(expression, _("The cron expression is empty; expected five fields such as '0 2 * * *'."))
        if text.startswith("@"):
            if text.lower() not in MACROS:
                raise CronExpressionError(
                    expression,
                    _("Unknown macro {value!r}; expected one of {macros}.").format(
                        value=text, macros=", ".join(MACROS)
                    ),
                )
            fields = MACROS[text.lower()].split()
        else:
            fields = text.split()
        if len(fields) != 5:
            raise CronExpressionError(
                expression,
                _("{value!r} has {count} fields; expected five: minute hour day-of-month month day-of-week.").format(
                    value=text, count=len(fields)
                ),
            )

        parsed = [_parse_field(expression, spec, field) for spec, field in zip(FIELD_SPECS, fields, strict=True)]
        minutes, hours, days_of_month, months, days_of_week = parsed
        schedule = cls(
            expression=text,
            minutes=minutes,
            hours=hours,
            days_of_month=days_of_month,
            months=months,
            days_of_week=frozenset(day % 7 for day in days_of_week),
            day_of_month_star=fields[2].startswith("*"),
            day_of_week_star=fields[4].startswith("*"),
            fixed_time=not (fields[0].startswith("*") or fields[1].startswith("*")),
        )
        schedule._check_can_fire()
        return schedule

    def _check_can_fire(self) -> None:
        if self.day_of_month_star or not self.day_of_week_star:
            return
        # Day of month alone decides: some chosen month must have a chosen day.
        # February counts as 29 days, because leap years come round.
        longest = {month: 29 if month == 2 else calendar.monthrange(2001, month)[1] for month in self.months}
        if all(min(self.days_of_month) > longest[month] for month in self.months):
            raise CronExpressionError(
                self.expression,
                _("{field} field: day {day} never occurs in the chosen months, so {value!r} can never fire.").format(
                    field=_(FIELD_SPECS[2].label), day=min(self.days_of_month), value=self.expression
                ),
                field=FIELD_SPECS[2].label,
            )

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days_of_month
        in_week = (day.isoweekday() % 7) in self.days_of_week
        if self.day_of_month_star or self.day_of_week_star:
            return in_month and in_week
        return in_month or in_week

    def _instants_on(self, day: date, zone: ZoneInfo) -> list[datetime]:
        instants: set[datetime] = set()
        for hour in sorted(self.hours):
            for minute in sorted(self.minutes):
                instants.update(self._resolve(datetime.combine(day, time(hour, minute)), zone))
        return sorted(instants)

    def _resolve(self, wall: datetime, zone: ZoneInfo) -> list[datetime]:
        """Map a local wall-clock time to the UTC instants at which it fires."""
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        first_exists = first.astimezone(zone).replace(tzinfo=None) == wall
        if first == second:
            return [first]
        if first_exists:
            # A repeated wall time: ``first`` is its earlier occurrence.
            return [first] if self.fixed_time else [first, second]
        # A skipped wall time: fixed-time jobs fire when the clock jumps.
        return [_transition_between(second, first, zone)] if self.fixed_time else []

    def iter_after(self, after: datetime, zone: ZoneInfo) -> Iterator[datetime]:
        """Yield the fire times strictly after ``after`` as aware UTC datetimes, in order."""
        after_utc = _as_utc(after)
        day = after_utc.astimezone(zone).date() - timedelta(days=1)
        last = after_utc
        empty_days = 0
        while empty_days <= _MAX_SEARCH_DAYS:
            if self.matches_day(day):
                for instant in self._instants_on(day, zone):
                    if instant > last:
                        last = instant
                        empty_days = 0
                        yield instant
            empty_days += 1
            day += timedelta(days=1)

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime:
        """Return the first fire time strictly after ``after``."""
        for instant in self.iter_after(after, zone):
            return instant
        raise CronExpressionError(
            self.expression,
            _("{value!r} has no fire time within nine years.").format(value=self.expression),
        )

    def next_times(self, after: datetime, zone: ZoneInfo, count: int) -> list[datetime]:
        times: list[datetime] = []
        for instant in self.iter_after(after, zone):
            times.append(instant)
            if len(times) >= count:
                break
        return times

    def times_between(self, start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
        """Return the fire times in the half-open interval (start, end]."""
        end_utc = _as_utc(end)
        times: list[datetime] = []
        for instant in self.iter_after(start, zone):
            if instant > end_utc:
                break
            times.append(instant)
        return times


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {instant!r}")
    return instant.astimezone(UTC)


def _transition_between(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """Find the instant in (low, high] at which ``zone``'s UTC offset changes, to the second."""
    offset_before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if middle.astimezone(zone).utcoffset() == offset_before:
            low = middle
        else:
            high = middle
    return high


def validate_expression(expression: str) -> CronSchedule:
    """Parse ``expression`` or raise :class:`CronExpressionError`; a convenience for settings and editors."""
    return CronSchedule.parse(expression)


def describe(expression: str, language: str = "en") -> str:
    """Return a readable description of ``expression`` in ``language`` (``en`` or ``ro``).

    Uses cron-descriptor, with day-of-week 0 as Sunday as in Vixie cron. Returns
    the expression itself when the library cannot describe it.
    """
    from cron_descriptor import CasingTypeEnum, ExpressionDescriptor, Options

    text = " ".join(expression.split())
    schedule_text = MACROS.get(text.lower(), text)
    options = Options()
    options.use_24hour_time_format = True
    options.casing_type = CasingTypeEnum.Sentence
    options.locale_code = "ro_RO" if language == "ro" else "en_US"
    options.day_of_week_start_index_zero = True
    try:
        description = str(ExpressionDescriptor(schedule_text, options).get_description())
    except Exception:  # noqa: BLE001 - any failure of a cosmetic description falls back to the text
        return text
    if language == "ro":
        # cron-descriptor 2.2's ro_RO catalogue leaves weekday and month names in English.
        description = _ROMANIAN_NAMES.sub(lambda match: _ROMANIAN_NAME_MAP[match.group(0)], description)
    return description


_ROMANIAN_NAME_MAP = {
    "Monday": "luni", "Tuesday": "marți", "Wednesday": "miercuri", "Thursday": "joi", "Friday": "vineri",
    "Saturday": "sâmbătă", "Sunday": "duminică",
    "January": "ianuarie", "February": "februarie", "March": "martie", "April": "aprilie", "May": "mai",
    "June": "iunie", "July": "iulie", "August": "august", "September": "septembrie", "October": "octombrie",
    "November": "noiembrie", "December": "decembrie",
}
_ROMANIAN_NAMES = re.compile(r"\b(" + "|".join(_ROMANIAN_NAME_MAP) + r")\b")


class VixieCronTrigger(BaseTrigger):  # type: ignore[misc]
    """APScheduler trigger that fires at :meth:`CronSchedule.next_after` in a fixed zone."""

    def __init__(self, schedule: CronSchedule, zone: ZoneInfo) -> None:
        self.schedule = schedule
        self.zone = zone

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        if previous_fire_time is not None:
            return self.schedule.next_after(previous_fire_time, self.zone)
        return self.schedule.next_after(now - timedelta(microseconds=1), self.zone)

    def __str__(self) -> str:
        return f"cron[{self.schedule.expression}]"

    def __repr__(self) -> str:
        return f"<VixieCronTrigger ({self.schedule.expression!r}, zone={self.zone.key!r})>"

    def __getstate__(self) -> dict[str, Any]:
        return {"expression": self.schedule.expression, "zone": self.zone.key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.schedule = CronSchedule.parse(state["expression"])
        self.zone = ZoneInfo(state["zone"])
