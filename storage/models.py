"""The tables: the agent's data the jobs maintain, and the console's own records."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

SESSION_STATUSES = ("active", "inactive", "abandoned", "resolved", "error", "closed")
CHANNELS = ("whatsapp", "sms", "web")
MESSAGE_STATUSES = ("received", "processed", "failed")
RESERVATION_STATUSES = ("confirmed", "cancelled", "completed")
CREDENTIAL_STATUSES = ("valid", "invalid", "expired", "unknown")
PROVIDERS = ("meta", "twilio")
RUN_STATUSES = ("running", "succeeded", "failed", "timed_out", "cancelled", "skipped", "interrupted", "missed")
RUN_TRIGGERS = ("schedule", "manual", "api", "cli", "catch-up")


# --- Agent data -------------------------------------------------------------


class Business(SQLModel, table=True):
    __tablename__ = "businesses"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    timezone: str = "Europe/Bucharest"
    language: str = "ro"  # language of the reminders sent to this business's customers
    reminders_enabled: bool = True


class ChatSession(SQLModel, table=True):
    """A customer conversation (the table is ``sessions``; the class name avoids SQLModel's ``Session``)."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_status_last_activity", "status", "last_activity_at"),
        Index("ix_sessions_status_resolved", "status", "resolved_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="businesses.id", index=True)
    channel: str = Field(index=True)
    customer_phone: str
    status: str = Field(index=True)
    created_at: datetime = Field(index=True)
    last_activity_at: datetime = Field(index=True)
    resolved_at: datetime | None = Field(default=None, index=True)
    error_count: int = Field(default=0, index=True)
    last_error: str | None = None


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_direction_status_created", "direction", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(
        sa_column=Column(Integer, ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    direction: str = Field(index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(index=True)
    created_at: datetime = Field(index=True)
    processed_at: datetime | None = None


class Reservation(SQLModel, table=True):
    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_status_starts", "status", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="businesses.id", index=True)
    session_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("sessions.id", ondelete="SET NULL"), nullable=True, index=True),
    )
    customer_name: str
    customer_phone: str
    channel: str = Field(index=True)
    starts_at: datetime = Field(index=True)
    party_size: int = 2
    status: str = Field(index=True)
    created_at: datetime | None = Field(default=None, index=True)
    reminder_sent_at: datetime | None = Field(default=None, index=True)
    reminder_attempts: int = Field(default=0, index=True)
    last_reminder_error: str | None = None
    # Set when a send may have reached the provider without a response (a read
    # time-out): such a reminder is never sent again automatically.
    reminder_uncertain_at: datetime | None = Field(default=None, index=True)
    reminder_message_id: str | None = None


class Credential(SQLModel, table=True):
    __tablename__ = "credentials"

    id: int | None = Field(default=None, primary_key=True)
    business_id: int = Field(foreign_key="businesses.id", index=True)
    provider: str = Field(index=True)
    account_ref: str  # Meta phone-number id or Twilio account SID
    sender: str | None = None  # Twilio "From" number; unused for Meta
    secret: str | None = None  # access token or auth token: never logged or shown unmasked
    status: str = Field(default="unknown", index=True)
    expires_at: datetime | None = Field(default=None, index=True)
    last_validated_at: datetime | None = Field(default=None, index=True)
    last_error: str | None = None
    synced_at: datetime | None = Field(default=None, index=True)
    secret_erased_at: datetime | None = Field(default=None, index=True)


class AppLog(SQLModel, table=True):
    __tablename__ = "app_logs"

    id: int | None = Field(default=None, primary_key=True)
    level: str = Field(index=True)
    source: str
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(index=True)


# --- Console data -----------------------------------------------------------


class JobRun(SQLModel, table=True):
    """One execution of a job. ``(job_id, scheduled_at)`` is unique, so one firing runs once."""

    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "scheduled_at", name="uq_job_runs_job_scheduled"),
        Index("ix_job_runs_job_started", "job_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(index=True)
    scheduled_at: datetime | None = None  # the firing this run serves; NULL for manual runs
    trigger: str
    instance_id: str
    host: str
    pid: int
    requested_by: str | None = None
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None
    status: str = Field(index=True)
    dry_run: bool = False
    summary: str | None = Field(default=None, sa_column=Column(Text))  # JSON object of counts
    error: str | None = Field(default=None, sa_column=Column(Text))
    log: str | None = Field(default=None, sa_column=Column(Text))  # the run's own log lines


class JobSetting(SQLModel, table=True):
    """An operator's change to a job that survives a restart."""

    __tablename__ = "job_settings"

    job_id: str = Field(primary_key=True)
    paused: bool = False
    schedule_override: str | None = None
    timeout_override: int | None = None
    changed_by: str | None = None
    changed_at: datetime | None = None


class JobSettingChange(SQLModel, table=True):
    """Audit record of one operator change: who, when, the old and the new value."""

    __tablename__ = "job_setting_changes"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(index=True)
    field: str
    old_value: str | None = None
    new_value: str | None = None
    changed_by: str
    changed_at: datetime = Field(index=True)


class Alert(SQLModel, table=True):
    __tablename__ = "alerts"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    severity: str = Field(index=True)  # "info", "warning" or "critical"
    message: str = Field(sa_column=Column(Text, nullable=False))
    job_id: str | None = Field(default=None, index=True)
    run_id: int | None = None
    created_at: datetime = Field(index=True)
    acknowledged_at: datetime | None = Field(default=None, index=True)
    acknowledged_by: str | None = None


class Report(SQLModel, table=True):
    __tablename__ = "reports"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True)
    data: str = Field(sa_column=Column(Text, nullable=False))  # JSON
    created_at: datetime


class Instance(SQLModel, table=True):
    """A console process that ran the scheduler; ``last_seen_at`` is its heartbeat."""

    __tablename__ = "instances"

    id: int | None = Field(default=None, primary_key=True)
    instance_id: str = Field(index=True)
    host: str
    pid: int
    started_at: datetime
    last_seen_at: datetime = Field(index=True)
    stopped_at: datetime | None = None
