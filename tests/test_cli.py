"""The command line, in-process through main() and as a real process for the headless service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_jobs_json_lists_sixteen(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--json", "--database", database_url]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 16
    backup = next(row for row in rows if row["id"] == "backup-data")
    assert backup["schedule"] == "0 3 * * *"
    assert backup["state"] == "scheduled"
    assert backup["next_run"].endswith(("+02:00", "+03:00"))


def test_next_shows_dst_offsets(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["next", "backup-data", "--count", "3", "--after", "2026-03-28T12:00", "--database", database_url])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "2026-03-29T04:00:00+03:00  EEST",
        "2026-03-30T03:00:00+03:00  EEST",
        "2026-03-31T03:00:00+03:00  EEST",
    ]


def test_next_rejects_bad_after(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "backup-data", "--after", "yesterday", "--database", database_url]) == 2
    assert "'yesterday' is not an ISO-8601" in capsys.readouterr().err


def test_run_dry_run_then_history(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "check-inactive-sessions", "--dry-run", "--json", "--database", database_url]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["status"] == "succeeded"
    assert run["dry_run"] is True
    assert run["trigger"] == "cli"

    assert main(["history", "check-inactive-sessions", "--json", "--database", database_url]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [entry["id"] for entry in history] == [run["id"]]


def test_run_failure_exit_status(database_url: str, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Point the backup folder at a file, so backup-data cannot write its copy.
    blocker = Path("not-a-folder")
    blocker.write_text("")
    monkeypatch.setenv("CRON_BACKUP_DIR", str(blocker / "backups"))
    assert main(["run", "backup-data", "--database", database_url]) == 1
    captured = capsys.readouterr()
    assert "backup-data: failed" in captured.out
    assert "Traceback" not in captured.out
    assert "NotADirectoryError" in captured.out or "FileExistsError" in captured.out


def test_unreachable_database_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    # Nothing listens on port 9; the driver's connection error becomes one line and status 2.
    code = main(["jobs", "--database", "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=3"])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("Database error:")
    assert "Traceback" not in error
    assert "127.0.0.1" in error


def test_check_config_marks_command_line(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--database", database_url]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("CRON_DATABASE_URL"))
    assert "(command line)" in line


def test_unknown_job_exit_status(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "no-such-job", "--database", database_url]) == 2
    assert "No job has the id 'no-such-job'" in capsys.readouterr().err


def test_invalid_config_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CRON_TIMEZONE", "Mars/Olympus")
    assert main(["jobs"]) == 2
    error = capsys.readouterr().err
    assert "CRON_TIMEZONE='Mars/Olympus'" in error
    assert error.count("\n") <= 3, "one message, not a traceback"


def test_check_config_shows_sources(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CRON_CLEANUP_OLD_LOGS_DAYS", "12")
    monkeypatch.setenv("CRON_DATABASE_URL", "postgresql+psycopg://agent:hunter2@127.0.0.1/agent")
    assert main(["check-config"]) == 0
    output = capsys.readouterr().out
    assert "CRON_CLEANUP_OLD_LOGS_DAYS" in output
    line = next(line for line in output.splitlines() if line.startswith("CRON_CLEANUP_OLD_LOGS_DAYS"))
    assert "12" in line
    assert "(environment)" in line
    assert "hunter2" not in output


def test_romanian_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--language", "ro", "--help"])
    assert exited.value.code == 0
    output = capsys.readouterr().out
    assert "rulează" in output.lower()
    assert output.startswith("utilizare: cron-console")


def test_demo_data_rejects_zero(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--sessions", "0", "--database", database_url]) == 2
    assert "--sessions 0 is invalid" in capsys.readouterr().err


def test_demo_data_small(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--sessions", "300", "--businesses", "5", "--database", database_url]) == 0
    assert "sessions" in capsys.readouterr().out
    assert main(["demo-data", "--sessions", "300", "--database", database_url]) == 2
    assert "--replace" in capsys.readouterr().err


def test_headless_stops_on_sigterm(tmp_path: Path) -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("CRON_")}
    environment.update({"CRON_DATABASE_URL": f"sqlite:///{tmp_path / 'headless.db'}",
                        "CRON_LOG_DIR": str(tmp_path / "logs"), "PYTHONPATH": str(ROOT)})
    process = subprocess.Popen(
        [sys.executable, "-m", "console", "--no-ui", "--log-format", "json"],
        cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Headless service running" in line:
            break
    else:
        pytest.fail("the service ended before it was running: " + "".join(lines))
    process.send_signal(signal.SIGTERM)
    remaining, _unused = process.communicate(timeout=60)
    lines.extend(remaining.splitlines(keepends=True))
    assert process.returncode == 0, "".join(lines)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    messages = [record["message"] for record in records]
    assert any(message.startswith("Received SIGTERM") for message in messages)
    assert "Engine stopped" in messages
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
