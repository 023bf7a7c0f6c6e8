"""Configuration: one ``Settings`` object read from the environment and an env file.

Every variable starts with ``CRON_``. Besides the fields below, two families of
per-job variables exist, keyed by the job id upper-cased with dashes as
underscores: ``CRON_SCHEDULE_<ID>`` (a cron expression) and
``CRON_TIMEOUT_<ID>`` (seconds). Environment variables win over the env file.
"""

from __future__ import annotations

import os
import re
import socket
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from console.i18n import _
from jobs.cron import CronSchedule
from jobs.errors import ConfigError, CronExpressionError

ENV_PREFIX = "CRON_"
SCHEDULE_PREFIX = "CRON_SCHEDULE_"
TIMEOUT_PREFIX = "CRON_TIMEOUT_"
DEFAULT_ENV_FILE = Path("cron.env")
SECRET_FIELDS = frozenset({"database_url"})

# The sixteen job ids, in the order of the catalogue. The registry in
# ``jobs.registry`` contains their definitions; settings only need the names.
JOB_IDS = (
    "cleanup-sessions",
    "check-inactive-sessions",
    "reservation-reminders",
    "backup-data",
    "validate-credentials",
    "daily-report",
    "check-system-performance",
    "check-abandoned-sessions",
    "sync-credentials",
    "check-unprocessed-messages",
    "check-error-sessions",
    "cleanup-old-messages",
    "cleanup-old-logs",
    "optimize-database",
    "cleanup-old-sessions",
    "cleanup-expired-credentials",
)

# Placeholders a reminder template may use; anything else is rejected at start-up.
REMINDER_PLACEHOLDERS = ("customer_name", "business_name", "starts_at_local", "party_size")

_QUIET_HOURS = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def env_key(job_id: str) -> str:
    """Return the ``<ID>`` part of a job's variables: ``cleanup-sessions`` → ``CLEANUP_SESSIONS``."""
    return job_id.upper().replace("-", "_")


def variable_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def _job_id_for_key(prefix: str, key: str) -> str:
    """Map the ``<ID>`` of a per-job variable to its job id; raise ValueError for an unknown one."""
    known = {env_key(job_id): job_id for job_id in JOB_IDS}
    if key.upper() not in known:
        raise ValueError(_("{variable}: no job has the id {key}; expected one of {ids}").format(
            variable=prefix + key, key=key, ids=", ".join(known)))
    return known[key.upper()]


class _JobOverridesSource(PydanticBaseSettingsSource):
    """Collect ``CRON_SCHEDULE_<ID>`` and ``CRON_TIMEOUT_<ID>`` from the env file and the environment."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Path | None) -> None:
        super().__init__(settings_cls)
        self.env_file = env_file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        merged: dict[str, str] = {}
        if self.env_file is not None and self.env_file.is_file():
            merged.update({k: v for k, v in dotenv_values(self.env_file).items() if v is not None})
        merged.update(os.environ)
        schedules = {k[len(SCHEDULE_PREFIX):]: v for k, v in merged.items() if k.startswith(SCHEDULE_PREFIX)}
        timeouts = {k[len(TIMEOUT_PREFIX):]: v for k, v in merged.items() if k.startswith(TIMEOUT_PREFIX)}
        return {"schedules": schedules, "timeouts": timeouts}


class Settings(BaseSettings):
    """Every setting of the console. Field descriptions feed ``check-config`` and ``cron.env.example``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", env_file_encoding="utf-8", validate_default=True
    )

    # Global switches, named as in the system this console replaces.
    enabled: bool = Field(True, description="false: nothing fires on a schedule; manual runs still work")
    timezone: str = Field("Europe/Bucharest", description="IANA time zone in which schedules are read")
    language: str | None = Field(None, description="ro or en for screens and messages; empty: from the locale")
    memory_threshold_mb: int = Field(500, ge=1, description="alert when the console's memory exceeds this (MB)")
    cpu_threshold_percent: float = Field(80.0, gt=0, le=100, description="alert when CPU use exceeds this (%)")
    backup_enabled: bool = Field(True, description="false disables backup-data")
    reminders_enabled: bool = Field(True, description="false disables reservation-reminders")
    reports_enabled: bool = Field(True, description="false disables daily-report")
    monitoring_enabled: bool = Field(True, description="false disables check-system-performance")

    # Retention and thresholds.
    cleanup_resolved_sessions_days: int = Field(30, ge=0, description="delete resolved sessions older than this (days)")
    cleanup_old_sessions_days: int = Field(180, ge=0, description="delete non-active sessions idle longer than this (days)")
    cleanup_inactive_sessions_hours: int = Field(24, ge=0, description="active sessions idle this long become inactive (hours)")
    cleanup_abandoned_sessions_hours: int = Field(48, ge=0, description="open sessions idle this long become abandoned (hours)")
    cleanup_old_messages_days: int = Field(90, ge=0, description="delete messages older than this (days)")
    cleanup_old_logs_days: int = Field(30, ge=0, description="delete app_logs rows and log files older than this (days)")
    job_history_days: int = Field(90, ge=0, description="delete job runs older than this (days)")
    unprocessed_messages_minutes: int = Field(15, ge=0, description="inbound messages still received after this are unprocessed (minutes)")
    session_error_threshold: int = Field(3, ge=1, description="sessions with at least this many errors are reported")
    credential_expiry_warning_days: int = Field(7, ge=0, description="alert on credentials expiring within this (days)")
    expired_credential_grace_days: int = Field(7, ge=0, description="erase an expired credential's secret after this (days)")

    # Reminders and providers.
    reminder_lead_hours: int = Field(24, ge=1, description="remind reservations starting within this (hours)")
    reminder_max_attempts: int = Field(3, ge=1, description="give up a reminder after this many failed attempts")
    reminder_quiet_hours: str = Field("21:00-09:00", description="no reminder is sent in this local interval (HH:MM-HH:MM, empty: none)")
    meta_graph_url: str = Field("https://graph.facebook.com", description="base URL of Meta's Graph API")
    meta_api_version: str = Field("v21.0", description="Graph API version in request paths")
    twilio_api_url: str = Field("https://api.twilio.com", description="base URL of Twilio's REST API")
    provider_connect_timeout_seconds: float = Field(5.0, gt=0, description="connect time-out for provider calls (s)")
    provider_read_timeout_seconds: float = Field(20.0, gt=0, description="read time-out for provider calls (s)")
    provider_concurrency: int = Field(8, ge=1, le=200, description="concurrent requests per provider")
    provider_max_retries: int = Field(3, ge=0, le=10, description="retries of a rate-limited or 5xx provider call")
    provider_max_retry_delay_seconds: float = Field(30.0, gt=0, description="maximum wait before a retry (s); a longer Retry-After fails the call instead")
    reminder_template_ro: str = Field(
        "Bună ziua, {customer_name}! Vă reamintim rezervarea la {business_name} pe {starts_at_local}, pentru {party_size} persoane.",
        description="SMS reminder text for businesses whose language is ro; placeholders: " + ", ".join(f"{{{name}}}" for name in REMINDER_PLACEHOLDERS),
    )
    reminder_template_en: str = Field(
        "Hello {customer_name}, this is a reminder of your reservation at {business_name} on {starts_at_local}, party of {party_size}.",
        description="SMS reminder text for businesses whose language is en (and any other language); same placeholders as the ro text",
    )
    whatsapp_template_name: str = Field("reservation_reminder", description="approved WhatsApp template sent as the reminder; its body takes the four placeholders in the order customer_name, business_name, starts_at_local, party_size")
    whatsapp_template_language_ro: str = Field("ro", description="WhatsApp template language code for ro businesses")
    whatsapp_template_language_en: str = Field("en", description="WhatsApp template language code for en businesses")

    # Storage, files and the engine.
    database_url: str = Field("sqlite:///var/cron-console.db", description="SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    backup_dir: Path = Field(Path("var/backups"), description="folder for database backups")
    backup_retention_days: int = Field(14, ge=0, description="delete backups older than this (days)")
    log_dir: Path = Field(Path("var/log"), description="folder whose old log files cleanup-old-logs deletes")
    delete_batch_size: int = Field(10_000, ge=1, le=100_000, description="rows deleted per transaction by cleanup jobs")
    job_timeout_seconds: int = Field(3600, ge=1, description="default time limit of one run (s); CRON_TIMEOUT_<ID> overrides it per job")
    catch_up_hours: float = Field(6, ge=0, description="on start, run a job once if its last firing was missed within this (hours); 0 disables")
    stop_grace_seconds: float = Field(30, ge=0, description="on stop, running jobs get this long to finish before they are cancelled (s)")
    instance_id: str = Field(default_factory=socket.gethostname, description="name of this console instance in job runs")

    schedules: dict[str, str] = Field(default_factory=dict, description="CRON_SCHEDULE_<ID> overrides")
    timeouts: dict[str, int] = Field(default_factory=dict, description="CRON_TIMEOUT_<ID> overrides (s)")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env_file = getattr(dotenv_settings, "env_file", None)
        path = Path(env_file) if isinstance(env_file, str | Path) else None
        return (init_settings, env_settings, dotenv_settings, _JobOverridesSource(settings_cls, path))

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(_("unknown time zone; expected an IANA name such as Europe/Bucharest")) from error
        return value

    @field_validator("language")
    @classmethod
    def _check_language(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if value.lower() not in ("en", "ro"):
            raise ValueError(_("unsupported language; expected ro or en"))
        return value.lower()

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as error:
            raise ValueError(
                _("unreadable database URL; expected sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DATABASE")
            ) from error
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(_("unsupported database; expected a sqlite:/// or postgresql:// URL"))
        if url.get_backend_name() == "sqlite" and not url.database:
            raise ValueError(_("the SQLite URL names no file; expected sqlite:///PATH"))
        return value

    @field_validator("reminder_quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        if value.strip() and not _QUIET_HOURS.match(value):
            raise ValueError(_("invalid interval; expected HH:MM-HH:MM such as 21:00-09:00, or empty"))
        return value.strip()

    @field_validator("reminder_template_ro", "reminder_template_en")
    @classmethod
    def _check_reminder_template(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(_("empty reminder text; expected a text with placeholders such as {customer_name}"))
        try:
            fields = [(name, conversion, spec) for _text, name, spec, conversion in string.Formatter().parse(value)
                      if name is not None]
        except ValueError as error:
            raise ValueError(_("unbalanced braces ({reason}); write a literal brace as {{{{ or }}}}").format(
                reason=error)) from error
        expected = ", ".join(f"{{{name}}}" for name in REMINDER_PLACEHOLDERS)
        for name, conversion, spec in fields:
            if name not in REMINDER_PLACEHOLDERS or conversion or spec:
                shown = "{" + name
                if conversion:
                    shown += f"!{conversion}"
                if spec:
                    shown += f":{spec}"
                shown += "}"
                raise ValueError(_("unknown placeholder {placeholder}; expected only {expected}").format(
                    placeholder=shown, expected=expected))
        return value

    @field_validator("whatsapp_template_name")
    @classmethod
    def _check_whatsapp_template_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9_]{1,512}", value):
            raise ValueError(_("invalid template name; expected lower-case letters, digits and underscores"))
        return value

    @field_validator("whatsapp_template_language_ro", "whatsapp_template_language_en")
    @classmethod
    def _check_whatsapp_language(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", value):
            raise ValueError(_("invalid language code; expected a WhatsApp code such as ro, en or en_US"))
        return value

    @field_validator("meta_graph_url", "twilio_api_url")
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(_("invalid URL; expected http:// or https:// followed by a host"))
        return value.rstrip("/")

    @field_validator("schedules", mode="before")
    @classmethod
    def _check_schedules(cls, value: Mapping[str, str]) -> dict[str, str]:
        checked: dict[str, str] = {}
        for key, expression in value.items():
            job_id = _job_id_for_key(SCHEDULE_PREFIX, key)
            try:
                CronSchedule.parse(expression)
            except CronExpressionError as error:
                raise ValueError(f"{SCHEDULE_PREFIX}{key}={expression!r}: {error.message}") from error
            checked[job_id] = expression
        return checked

    @field_validator("timeouts", mode="before")
    @classmethod
    def _check_timeouts(cls, value: Mapping[str, str | int]) -> dict[str, int]:
        checked: dict[str, int] = {}
        for key, seconds in value.items():
            job_id = _job_id_for_key(TIMEOUT_PREFIX, key)
            text = str(seconds).strip()
            if not text.isdigit() or int(text) < 1:
                raise ValueError(_("{variable}={value!r}: expected a whole number of seconds above 0").format(
                    variable=TIMEOUT_PREFIX + key, value=seconds))
            checked[job_id] = int(text)
        return checked

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def timeout_for(self, job_id: str) -> int:
        return self.timeouts.get(job_id, self.job_timeout_seconds)


def resolve_env_file(env_file: Path | None) -> Path | None:
    """Return ``env_file``, else ``./cron.env`` when it exists, else None."""
    if env_file is not None:
        return env_file
    return DEFAULT_ENV_FILE if DEFAULT_ENV_FILE.is_file() else None


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment and ``env_file`` (default ``./cron.env`` when present).

    ``overrides`` are values the command line was given explicitly; they win
    over both. Raises :class:`ConfigError` naming the variable, the value and
    what is expected.
    """
    if env_file is not None and not env_file.is_file():
        raise ConfigError(_("Env file {path} not found; pass an existing file to --env-file.").format(path=env_file))
    path = resolve_env_file(env_file)
    try:
        return Settings(_env_file=path, **overrides)  # type: ignore[call-arg]
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, path)) from None


def _format_validation_error(error: ValidationError, env_file: Path | None) -> str:
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        reason = str(problem["msg"]).removeprefix("Value error, ")
        if field in ("schedules", "timeouts"):
            lines.append(reason)
            continue
        reason = _pydantic_reason(problem) or reason
        value = problem.get("input")
        shown = repr(mask_url(str(value))) if field in SECRET_FIELDS else repr(value)
        lines.append(_("{variable}={value} is invalid: {reason}.").format(
            variable=variable_name(field), value=shown, reason=reason.rstrip(".")))
    where = _(" (env file: {path})").format(path=env_file) if env_file else ""
    return _("fix these settings{where}:").format(where=where) + "\n  " + "\n  ".join(lines)


def _pydantic_reason(problem: Any) -> str | None:
    """Return pydantic's built-in complaints in the UI language; None for the validators' own text."""
    context = problem.get("ctx") or {}
    kind = problem.get("type", "")
    if kind == "bool_parsing":
        return _("expected true or false")
    if kind in ("int_parsing", "int_from_float"):
        return _("expected a whole number")
    if kind == "float_parsing":
        return _("expected a number")
    if kind == "greater_than_equal":
        return _("expected a value of at least {limit}").format(limit=context.get("ge"))
    if kind == "greater_than":
        return _("expected a value above {limit}").format(limit=context.get("gt"))
    if kind == "less_than_equal":
        return _("expected a value of at most {limit}").format(limit=context.get("le"))
    return None


@dataclass(frozen=True)
class SettingOrigin:
    """The source of an effective setting, with its variable and displayed value."""

    variable: str
    value: str
    source: str  # "default", "environment", "env file <path>" or "command line"


def describe_origins(settings: Settings, env_file: Path | None, cli_fields: frozenset[str] = frozenset()) -> list[SettingOrigin]:
    """List every setting with its effective value (secrets masked) and its source."""
    path = resolve_env_file(env_file)
    file_values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path else {}

    def source_of(variable: str, field_name: str | None = None) -> str:
        if field_name is not None and field_name in cli_fields:
            return _("command line")
        if variable in os.environ:
            return _("environment")
        if variable in file_values:
            return _("env file {path}").format(path=path)
        return _("default")

    origins = []
    for name in Settings.model_fields:
        if name in ("schedules", "timeouts"):
            continue
        variable = variable_name(name)
        value = getattr(settings, name)
        if name == "database_url":
            shown = mask_url(str(value))
        elif isinstance(value, bool):
            shown = str(value).lower()
        else:
            shown = "" if value is None else str(value)
        origins.append(SettingOrigin(variable, shown, source_of(variable, name)))
    for job_id, expression in sorted(settings.schedules.items()):
        variable = SCHEDULE_PREFIX + env_key(job_id)
        origins.append(SettingOrigin(variable, expression, source_of(variable)))
    for job_id, seconds in sorted(settings.timeouts.items()):
        variable = TIMEOUT_PREFIX + env_key(job_id)
        origins.append(SettingOrigin(variable, str(seconds), source_of(variable)))
    return origins


def unknown_variables(env_file: Path | None) -> list[str]:
    """Return ``CRON_*`` names that match no setting, so that a typo does not pass unnoticed."""
    path = resolve_env_file(env_file)
    names = set(os.environ)
    if path:
        names |= set(dotenv_values(path))
    known = {variable_name(name) for name in Settings.model_fields}
    return sorted(
        name for name in names
        if name.startswith(ENV_PREFIX) and name not in known
        and not name.startswith((SCHEDULE_PREFIX, TIMEOUT_PREFIX))
        and not name.startswith("CRON_TEST_")
    )


def mask_url(url: str) -> str:
    """Hide the password of a database URL; an unreadable URL is shown up to its '@', if any."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url if "@" not in url else "***@" + url.rsplit("@", 1)[1]
