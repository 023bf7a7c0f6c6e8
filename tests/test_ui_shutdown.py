"""Tests that the console stops its engine gracefully on a closed terminal, SIGHUP or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select as sql_select
from textual.pilot import Pilot

from console.app import CronConsoleApp
from storage.db import Database
from storage.models import Instance, JobRun
from tests import ui_support
from tests.ui_support import wait_for

SIZE = (100, 30)
REPOSITORY = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.usefixtures("ui_identity")


def last_run(app: CronConsoleApp, job_id: str) -> JobRun:
    with app.engine.database.session() as session:
        runs = session.exec(sql_select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)).all()
    return runs[-1]


async def start_slow_run(app: CronConsoleApp, pilot: Pilot[None]) -> None:
    await ui_support.wait_until_ready(app)
    app.engine.start_job("optimize-database", requested_by="test")
    await asyncio.to_thread(ui_support.slow_started.wait, 5)
    assert app.engine.job("optimize-database").running_since is not None


async def test_closed_terminal_cancels_and_exits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    terminal = {"open": True}
    app.terminal_alive = lambda: terminal["open"]
    async with app.run_test(size=SIZE) as pilot:
        await start_slow_run(app, pilot)
        await pilot.pause(1.5)
        assert app.is_running, "an open terminal keeps the console running"

        terminal["open"] = False
        await wait_for(lambda: not app.is_running, pilot)

    assert last_run(app, "optimize-database").status == "cancelled"
    assert "Stopping the console of instance test-instance: the terminal closed" in caplog.text


@pytest.mark.parametrize("number", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
async def test_signal_cancels_runs_and_exits(tmp_path: Path, number: signal.Signals) -> None:
    app = ui_support.make_app(tmp_path, slow=["optimize-database"])
    async with app.run_test(size=SIZE) as pilot:
        await start_slow_run(app, pilot)
        os.kill(os.getpid(), number)
        await wait_for(lambda: not app.is_running, pilot)

    assert last_run(app, "optimize-database").status == "cancelled"
    handlers = asyncio.get_running_loop()._signal_handlers  # type: ignore[attr-defined]
    assert number not in handlers, "the handler is removed when the console ends"


def read_until(master: int, marker: bytes, timeout: float) -> bytes:
    """Read the terminal's output until ``marker`` appears, and fail after ``timeout`` seconds."""
    output = b""
    deadline = time.monotonic() + timeout
    while marker not in output:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"{marker!r} not shown within {timeout} s; last output: {output[-300:]!r}")
        ready, _write, _error = select.select([master], [], [], remaining)
        if ready:
            try:
                output += os.read(master, 65536)
            except OSError as error:  # the child closed the terminal: it has ended
                raise AssertionError(f"the console ended before showing {marker!r}: {output[-300:]!r}") from error
    return output


def wait_exit(pid: int, timeout: float) -> int | None:
    """Return the exit status of ``pid``, or None if it is still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            return status
        time.sleep(0.05)
    return None


def test_hung_up_terminal_ends_process(tmp_path: Path) -> None:
    database = tmp_path / "console.db"
    Database(f"sqlite:///{database}").create_schema()
    environment = {
        **os.environ,
        "CRON_DATABASE_URL": f"sqlite:///{database}",
        "CRON_LOG_DIR": str(tmp_path / "logs"),
        "CRON_BACKUP_DIR": str(tmp_path / "backups"),
        "CRON_INSTANCE_ID": "pty-test",
        "CRON_LANGUAGE": "en",
        "TERM": "xterm-256color",
        "COLUMNS": "100",
        "LINES": "30",
    }
    pid, master = pty.fork()
    if pid == 0:  # the child: the console in a terminal of its own
        os.chdir(tmp_path)  # contains no cron.env, so only the variables above apply
        os.execve(sys.executable, [sys.executable, "-m", "console"], environment)

    try:
        read_until(master, b"Jobs", timeout=30)
        read_until(master, b"scheduler running", timeout=30)
    finally:
        os.close(master)  # hang up, as a closed SSH session or terminal window does
    status = wait_exit(pid, timeout=20)
    if status is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise AssertionError("the console kept running after its terminal hung up")

    assert os.waitstatus_to_exitcode(status) == 0
    with Database(f"sqlite:///{database}").session() as session:
        instance = session.exec(sql_select(Instance).where(Instance.instance_id == "pty-test")).one()
    assert instance.stopped_at is not None, "the engine recorded its stop"
