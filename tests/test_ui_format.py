"""Summary labels, trigger names and job settings as the screens show them, in both languages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from console.format import decimal, duration, job_settings, short_time, trigger_label
from console.i18n import set_language
from jobs.registry import JOBS, JOBS_BY_ID
from jobs.settings import Settings
from jobs.summary import KEY_LABELS, format_counts, format_summary
from tests import ui_support

# One key of each kind the jobs return; every key of jobs/*.py is in KEY_LABELS.
JOB_KEYS = ("sessions", "businesses", "oldest_minutes", "batches", "valid", "invalid", "expired", "errors",
            "skipped_erased", "written", "bytes", "rows", "pruned", "temporary_removed",
            "skipped_quiet_hours", "skipped_no_credential", "expiring_soon")


@pytest.fixture
def romanian() -> Iterator[None]:
    ui_support.ensure_catalogues()
    set_language("ro")
    yield
    set_language("en")


@pytest.mark.parametrize("key", JOB_KEYS)
def test_summary_key_has_label(key: str) -> None:
    assert key in KEY_LABELS


def test_summary_translated(romanian: None) -> None:
    text = format_summary({"sessions": 4, "businesses": 2, "skipped_quiet_hours": 1})
    assert text == "sesiuni 4, afaceri 2, omise, ore de liniște 1"


def test_trigger_translated(romanian: None) -> None:
    assert trigger_label("schedule") == "programare"
    assert trigger_label("catch-up") == "recuperare"
    assert trigger_label("unknown") == "unknown"


def test_job_settings_show_values() -> None:
    settings = Settings(_env_file=None, cleanup_resolved_sessions_days=45)  # type: ignore[call-arg]
    shown = job_settings(JOBS_BY_ID["cleanup-sessions"], settings)
    assert shown[0].variable == "CRON_CLEANUP_RESOLVED_SESSIONS_DAYS"
    assert shown[0].value == "45 days"
    assert shown[0].source == "environment"
    assert shown[1].source == "default"


def test_job_settings_fields_exist() -> None:
    for spec in JOBS:
        for field_name in spec.settings:
            assert field_name in Settings.model_fields, f"{spec.id}: {field_name}"


def test_day_plural_romanian(romanian: None) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    shown = job_settings(JOBS_BY_ID["cleanup-sessions"], settings)
    assert shown[0].value == "30 de zile"


def test_decimal_mark_follows_language(romanian: None) -> None:
    assert decimal(1.25, 2) == "1,25"
    assert duration(0.4) == "0,4 s"
    assert short_time(datetime(2026, 6, 17, 10, 0, tzinfo=UTC), ZoneInfo("Europe/Bucharest")) == "17.06 13:00 +03:00"


def test_english_decimal_and_month_first() -> None:
    assert decimal(1.25, 2) == "1.25"
    assert duration(0.4) == "0.4 s"
    assert short_time(datetime(2026, 6, 17, 10, 0, tzinfo=UTC), ZoneInfo("Europe/Bucharest")) == "06-17 13:00 +03:00"


def test_dry_run_counts_read_as_planned() -> None:
    summary = {"examined": 3, "deleted": 2, "deleted_messages": 9}
    assert format_summary(summary) == "examined 3, deleted 2, messages deleted 9"
    assert format_summary(summary, dry_run=True) == "dry run: examined 3, to delete 2, messages to delete 9"
    assert format_counts(summary, planned=True) == "examined 3, to delete 2, messages to delete 9"


def test_dry_run_counts_romanian(romanian: None) -> None:
    assert format_counts({"deleted": 2}, planned=True) == "de șters 2"
    assert format_summary({"deleted": 2}, dry_run=True) == "simulare: de șters 2"
