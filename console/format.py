"""Times, durations and statuses as the screens show them, in the UI language.

Every instant is shown in the engine's zone with its UTC offset, so that a
daylight-saving change is visible (``2026-10-25 03:30 +02:00``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from console.i18n import N_, _, current_language, ngettext
from jobs.clock import local_time as local_time  # re-exported: the screens import it from here
from jobs.registry import JobSpec
from jobs.settings import Settings, variable_name

STATUS_LABELS = {
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
    "timed_out": N_("timed out"),
    "cancelled": N_("cancelled"),
    "interrupted": N_("interrupted"),
    "skipped": N_("skipped"),
    "missed": N_("missed"),
    "running": N_("running"),
}

# One-character marks next to a status, readable without colour.
STATUS_MARKS = {
    "succeeded": "✓",
    "failed": "✗",
    "timed_out": "⌛",
    "cancelled": "⊘",
    "interrupted": "!",
    "skipped": "»",
    "missed": "»",
    "running": "▶",
}

STATE_LABELS = {
    "scheduled": N_("scheduled"),
    "running": N_("running"),
    "paused": N_("paused"),
    "disabled": N_("disabled"),
    "manual": N_("manual only"),
}

SOURCE_LABELS = {
    "default": N_("default"),
    "environment": N_("environment"),
    "operator": N_("operator"),
}

SETTING_LABELS = {
    "paused": N_("paused"),
    "schedule": N_("schedule"),
    "timeout": N_("time-out"),
}

# Run triggers, the values of storage.models.RUN_TRIGGERS.
TRIGGER_LABELS = {
    "schedule": N_("schedule"),
    "manual": N_("manual"),
    "api": N_("api"),
    "cli": N_("cli"),
    "catch-up": N_("catch-up"),
}

SEVERITY_LABELS = {
    "info": N_("info"),
    "warning": N_("warning"),
    "critical": N_("critical"),
}


def status_label(status: str) -> str:
    """Return the translated name of a run status, or the status itself when unknown."""
    return _(STATUS_LABELS[status]) if status in STATUS_LABELS else status


def state_label(state: str) -> str:
    return _(STATE_LABELS[state]) if state in STATE_LABELS else state


def source_label(source: str) -> str:
    return _(SOURCE_LABELS[source]) if source in SOURCE_LABELS else source


def setting_label(field: str) -> str:
    """Return the translated name of a ``job_setting_changes.field`` value."""
    return _(SETTING_LABELS[field]) if field in SETTING_LABELS else field


def trigger_label(trigger: str) -> str:
    """Return the translated name of a run's trigger, or the trigger itself when unknown."""
    return _(TRIGGER_LABELS[trigger]) if trigger in TRIGGER_LABELS else trigger


def severity_label(severity: str) -> str:
    return _(SEVERITY_LABELS[severity]) if severity in SEVERITY_LABELS else severity


def decimal(value: float, digits: int = 1) -> str:
    """Format ``value`` with ``digits`` decimals and the UI language's decimal mark: ``1.5`` or ``1,5``."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if current_language() == "ro" else text


def short_time(instant: datetime, zone: ZoneInfo) -> str:
    """Format ``instant`` compactly for a table cell, without the year.

    English puts the month first (``06-17 13:00 +03:00``) and Romanian the
    day (``17.06 13:00 +03:00``), as each language writes dates.
    """
    local = instant.astimezone(zone)
    offset = local.strftime("%z")
    day = local.strftime("%d.%m" if current_language() == "ro" else "%m-%d")
    return f"{day} {local.strftime('%H:%M')} {offset[:3]}:{offset[3:]}"


def span(delta: timedelta) -> str:
    """Format a length of time to the minute above one minute: ``3 h 12 min``, ``2 d 4 h``, ``42 s``."""
    total = int(abs(delta).total_seconds())
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return _("{days} d {hours} h").format(days=days, hours=hours) if hours else _("{days} d").format(days=days)
    if hours:
        return (_("{hours} h {minutes} min").format(hours=hours, minutes=minutes) if minutes
                else _("{hours} h").format(hours=hours))
    if minutes:
        return _("{minutes} min").format(minutes=minutes)
    return _("{seconds} s").format(seconds=seconds)


def relative(instant: datetime, now: datetime) -> str:
    """Say how far ``instant`` is from ``now``: ``in 3 h 12 min`` or ``5 min ago``."""
    delta = instant - now
    if abs(delta) < timedelta(seconds=1):
        return _("now")
    if delta > timedelta(0):
        return _("in {span}").format(span=span(delta))
    return _("{span} ago").format(span=span(delta))


def duration(seconds: float | None) -> str:
    """Format a run's duration: ``0.4 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return _("{seconds} s").format(seconds=decimal(seconds))
    whole = int(round(seconds))
    if whole < 60:
        return _("{seconds} s").format(seconds=whole)
    hours, rest = divmod(whole, 3_600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("{hours} h {minutes:02d} min").format(hours=hours, minutes=minutes)
    return _("{minutes} min {seconds:02d} s").format(minutes=minutes, seconds=secs)


def elapsed(since: datetime, now: datetime) -> str:
    """Format time elapsed as a clock: ``0:42``, ``12:05``, ``1:02:05``."""
    total = max(0, int((now - since).total_seconds()))
    hours, rest = divmod(total, 3_600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


@dataclass(frozen=True)
class ShownSetting:
    """One setting a job reads, as the screens show it."""

    variable: str  # e.g. CRON_CLEANUP_RESOLVED_SESSIONS_DAYS
    value: str  # with its unit, e.g. "30 days"
    source: str  # translated "default" or "environment"


def setting_value(field_name: str, value: object) -> str:
    """Format a :class:`Settings` value with the unit its field name ends with: ``30 days``, ``500 MB``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, int):
        if field_name.endswith("_days"):
            return ngettext("{count} day", "{count} days", value).format(count=value)
        if field_name.endswith("_hours"):
            return ngettext("{count} hour", "{count} hours", value).format(count=value)
        if field_name.endswith("_minutes"):
            return ngettext("{count} minute", "{count} minutes", value).format(count=value)
    if field_name.endswith("_mb"):
        return f"{value} MB"
    if field_name.endswith("_percent"):
        return f"{value:g}%" if isinstance(value, float) else f"{value}%"
    return "" if value is None else str(value)


def job_settings(spec: JobSpec, settings: Settings) -> list[ShownSetting]:
    """Return the effective values of the settings ``spec`` reads (:attr:`JobSpec.settings`)."""
    # NOTE: "environment" also covers a value from the env file or the command line;
    # `cron-console check-config` shows which one.
    return [
        ShownSetting(
            variable=variable_name(field_name),
            value=setting_value(field_name, getattr(settings, field_name)),
            source=source_label("environment" if field_name in settings.model_fields_set else "default"),
        )
        for field_name in spec.settings
    ]
