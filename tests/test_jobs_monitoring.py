"""check-system-performance: the figures it samples and the alerts over its thresholds."""

from __future__ import annotations

from collections.abc import Callable

import psutil
import pytest

from jobs import monitoring
from jobs.context import JobContext
from storage.db import Database
from tests.rows import alerts

MakeContext = Callable[..., JobContext]


@pytest.fixture(autouse=True)
def _fixed_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # psutil samples CPU over a blocking interval; the tests set the figure instead.
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 12.5)


def test_figures_without_alert(database: Database, make_context: MakeContext) -> None:
    summary = monitoring.check_system_performance(make_context("check-system-performance",
                                                               memory_threshold_mb=100_000))

    assert summary["cpu_percent"] == 12.5
    assert summary["alerts"] == 0
    assert 1 < summary["rss_mb"] < 100_000
    assert 0 < summary["system_memory_percent"] <= 100
    assert summary["backup_disk_free_mb"] > 0
    if database.is_sqlite:
        assert summary["database_disk_free_mb"] > 0
    else:
        assert summary["database_disk_free_mb"] is None
    assert alerts(database) == []


def test_alerts_over_thresholds(database: Database, make_context: MakeContext,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 97.0)

    summary = monitoring.check_system_performance(make_context(
        "check-system-performance", memory_threshold_mb=1, cpu_threshold_percent=90))

    assert summary["alerts"] == 2
    memory_alert, cpu_alert = alerts(database)
    assert memory_alert.kind == "high_memory"
    assert "above the threshold of 1 MB" in memory_alert.message
    assert cpu_alert.kind == "high_cpu"
    assert cpu_alert.message.startswith("Average CPU use in the last 1.0 s: 97.0%, above the threshold of 90")


def test_at_threshold_no_alert(database: Database, make_context: MakeContext,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 80.0)

    summary = monitoring.check_system_performance(make_context(
        "check-system-performance", memory_threshold_mb=100_000, cpu_threshold_percent=80))

    assert summary["alerts"] == 0


def test_dry_run_records_no_alert(database: Database, make_context: MakeContext) -> None:
    summary = monitoring.check_system_performance(make_context(
        "check-system-performance", dry_run=True, memory_threshold_mb=1))

    assert summary["alerts"] == 1
    assert alerts(database) == []
