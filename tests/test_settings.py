"""Settings: environment and env file, validation messages, origins and the example file."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import ConfigError
from jobs.settings import (
    Settings,
    describe_origins,
    load_settings,
    unknown_variables,
    variable_name,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "cron.env.example"


def test_defaults_without_env_file() -> None:
    settings = load_settings()
    assert settings.timezone == "Europe/Bucharest"
    assert settings.cleanup_old_messages_days == 90
    assert settings.schedules == {}


def test_env_file_and_environment_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("CRON_CLEANUP_OLD_MESSAGES_DAYS=60\nCRON_TIMEZONE=Europe/London\n"
                        "CRON_SCHEDULE_BACKUP_DATA=15 3 * * *\nCRON_TIMEOUT_BACKUP_DATA=900\n")
    monkeypatch.setenv("CRON_TIMEZONE", "UTC")
    settings = load_settings(env_file)
    assert settings.cleanup_old_messages_days == 60
    assert settings.timezone == "UTC", "the environment wins over the env file"
    assert settings.schedules == {"backup-data": "15 3 * * *"}
    assert settings.timeouts == {"backup-data": 900}

    origins = {origin.variable: origin for origin in describe_origins(settings, env_file)}
    assert origins["CRON_TIMEZONE"].source == "environment"
    assert origins["CRON_CLEANUP_OLD_MESSAGES_DAYS"].source == f"env file {env_file}"
    assert origins["CRON_CLEANUP_OLD_LOGS_DAYS"].source == "default"
    assert origins["CRON_SCHEDULE_BACKUP_DATA"].value == "15 3 * * *"


def test_default_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "cron.env").write_text("CRON_BACKUP_RETENTION_DAYS=3\n")
    assert load_settings().backup_retention_days == 3


def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "absent.env")


@pytest.mark.parametrize(
    ("variable", "value", "fragments"),
    [
        ("CRON_TIMEZONE", "Europe/Bucharestt", ["CRON_TIMEZONE='Europe/Bucharestt'", "IANA"]),
        ("CRON_CLEANUP_OLD_MESSAGES_DAYS", "-3", ["CRON_CLEANUP_OLD_MESSAGES_DAYS='-3'", "expected a value of at least 0"]),
        ("CRON_DATABASE_URL", "not a url", ["CRON_DATABASE_URL='not a url'", "sqlite:///PATH"]),
        ("CRON_DATABASE_URL", "mysql://root@localhost/x", ["unsupported database"]),
        ("CRON_SCHEDULE_BACKUP_DATA", "0 0 31 2 *", ["CRON_SCHEDULE_BACKUP_DATA='0 0 31 2 *'", "can never fire"]),
        ("CRON_SCHEDULE_BACKUP_DATA", "61 * * * *", ["minute field", "'61'"]),
        ("CRON_SCHEDULE_NO_SUCH_JOB", "0 1 * * *", ["CRON_SCHEDULE_NO_SUCH_JOB", "no job has the id"]),
        ("CRON_TIMEOUT_BACKUP_DATA", "soon", ["CRON_TIMEOUT_BACKUP_DATA='soon'", "whole number of seconds"]),
        ("CRON_REMINDER_QUIET_HOURS", "22-07", ["HH:MM-HH:MM"]),
        ("CRON_META_GRAPH_URL", "graph.facebook.com", ["invalid URL"]),
        ("CRON_LANGUAGE", "de", ["ro or en"]),
        ("CRON_BACKUP_ENABLED", "maybe", ["CRON_BACKUP_ENABLED='maybe'", "expected true or false"]),
        ("CRON_PROVIDER_CONCURRENCY", "eight", ["expected a whole number"]),
    ],
    ids=["zone", "negative-days", "database-url", "database-kind", "never-fires", "minute-range",
         "unknown-job", "timeout", "quiet-hours", "url", "language", "boolean", "integer"],
)
def test_invalid_value_names_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                      fragments: list[str]) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    for fragment in fragments:
        assert fragment in caught.value.message


def test_invalid_url_password_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRON_DATABASE_URL", "mysql://agent:s3cret-pass@db.internal/agent")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "s3cret-pass" not in caught.value.message
    assert "db.internal" in caught.value.message


def test_database_password_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRON_DATABASE_URL", "postgresql+psycopg://agent:s3cret-pass@db.internal/agent")
    settings = load_settings()
    origins = {origin.variable: origin for origin in describe_origins(settings, None)}
    assert "s3cret-pass" not in origins["CRON_DATABASE_URL"].value
    assert "***" in origins["CRON_DATABASE_URL"].value


def test_unknown_variable_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRON_TIMEZON", "UTC")
    assert unknown_variables(None) == ["CRON_TIMEZON"]


def test_example_documents_every_setting() -> None:
    text = EXAMPLE.read_text()
    for name in Settings.model_fields:
        if name in ("schedules", "timeouts"):
            continue
        assert f"# {variable_name(name)}=" in text, f"{variable_name(name)} is missing from cron.env.example"
