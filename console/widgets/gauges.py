"""Resource gauges: CPU, the console's memory, system memory and free disk, each with a sparkline.

Samples come from a :class:`Sampler`, so that tests can inject fixed values;
:class:`PsutilSampler` reads the real machine.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psutil
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from console.i18n import _

HISTORY_LENGTH = 60
SAMPLE_INTERVAL_SECONDS = 2.0
MEGABYTE = 1024 * 1024
GIGABYTE = 1024 * MEGABYTE


@dataclass(frozen=True)
class ResourceSample:
    """One reading of the machine. A disk is None when its folder cannot be measured."""

    cpu_percent: float
    process_memory_mb: float
    system_memory_percent: float
    database_disk_free_gb: float | None
    backup_disk_free_gb: float | None


class Sampler(Protocol):
    """A source of :class:`ResourceSample`; ``sample`` may block briefly and runs in a worker thread."""

    def sample(self) -> ResourceSample: ...


def _existing_parent(path: Path) -> Path:
    """Return ``path`` or its nearest existing ancestor (a backup folder may not exist yet)."""
    current = path.resolve()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


class PsutilSampler:
    """Read CPU, memory and disk with psutil."""

    def __init__(self, database_folder: Path | None, backup_folder: Path | None) -> None:
        self.database_folder = database_folder
        self.backup_folder = backup_folder
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # the first reading is meaningless; start the interval now
        psutil.cpu_percent(None)

    def sample(self) -> ResourceSample:
        return ResourceSample(
            cpu_percent=psutil.cpu_percent(None),
            process_memory_mb=self._process.memory_info().rss / MEGABYTE,
            system_memory_percent=psutil.virtual_memory().percent,
            database_disk_free_gb=self._free_gb(self.database_folder),
            backup_disk_free_gb=self._free_gb(self.backup_folder),
        )

    @staticmethod
    def _free_gb(folder: Path | None) -> float | None:
        if folder is None:
            return None
        try:
            return psutil.disk_usage(str(_existing_parent(folder))).free / GIGABYTE
        except OSError:
            return None


@dataclass
class FixedSampler:
    """Return the given samples in turn, then the last one forever (for tests and benchmarks)."""

    samples: Sequence[ResourceSample]
    _index: int = field(default=0, init=False)

    def sample(self) -> ResourceSample:
        sample = self.samples[min(self._index, len(self.samples) - 1)]
        self._index += 1
        return sample


class Gauge(Horizontal):
    """A label, a value and a sparkline of recent values on one line."""

    DEFAULT_CSS = """
    Gauge {
        height: 1;
    }
    Gauge > .gauge--label {
        width: 13;
        color: $text-muted;
    }
    Gauge > .gauge--value {
        width: 12;  /* "1024/500 MB" and a space */
        text-align: right;
        padding-right: 1;
    }
    Gauge.-high > .gauge--value {
        color: $error;
        text-style: bold;
    }
    Gauge > Sparkline {
        width: 1fr;
    }
    Gauge.-high > Sparkline > .sparkline--max-color {
        color: $error;
    }
    """

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.history: deque[float] = deque(maxlen=HISTORY_LENGTH)

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="gauge--label")
        yield Label("—", classes="gauge--value")
        yield Sparkline([], summary_function=max)

    def show(self, value: float | None, text: str, *, high: bool = False) -> None:
        """Display ``text`` and add ``value`` to the sparkline; None records nothing."""
        self.query_one(".gauge--value", Label).update(text)
        self.set_class(high, "-high")
        if value is not None:
            self.history.append(value)
            self.query_one(Sparkline).data = list(self.history)


class ResourceGauges(Vertical):
    """The five gauges, sampled every :data:`SAMPLE_INTERVAL_SECONDS` in a worker thread."""

    DEFAULT_CSS = """
    ResourceGauges {
        border: round $primary 50%;
        border-title-color: $text-muted;
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, sampler: Sampler, *, memory_threshold_mb: int, cpu_threshold_percent: float,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.sampler = sampler
        self.memory_threshold_mb = memory_threshold_mb
        self.cpu_threshold_percent = cpu_threshold_percent

    def compose(self) -> ComposeResult:
        yield Gauge(_("CPU"), id="gauge-cpu")
        yield Gauge(_("Console mem"), id="gauge-process-memory")
        yield Gauge(_("System mem"), id="gauge-system-memory")
        yield Gauge(_("Free db"), id="gauge-disk-database")
        yield Gauge(_("Free backups"), id="gauge-disk-backup")

    async def on_mount(self) -> None:
        self.border_title = _("Resources")
        await self.refresh_sample()
        self.set_interval(SAMPLE_INTERVAL_SECONDS, self.refresh_sample)

    async def refresh_sample(self) -> None:
        """Take one sample off the UI thread and show it."""
        sample = await asyncio.to_thread(self.sampler.sample)
        self.show(sample)

    def show(self, sample: ResourceSample) -> None:
        self.query_one("#gauge-cpu", Gauge).show(
            sample.cpu_percent, f"{sample.cpu_percent:.0f}%",
            high=sample.cpu_percent > self.cpu_threshold_percent)
        self.query_one("#gauge-process-memory", Gauge).show(
            sample.process_memory_mb, f"{sample.process_memory_mb:.0f}/{self.memory_threshold_mb} MB",
            high=sample.process_memory_mb > self.memory_threshold_mb)
        self.query_one("#gauge-system-memory", Gauge).show(
            sample.system_memory_percent, f"{sample.system_memory_percent:.0f}%")
        for gauge_id, free in (("#gauge-disk-database", sample.database_disk_free_gb),
                               ("#gauge-disk-backup", sample.backup_disk_free_gb)):
            text = "—" if free is None else _("{free:.1f} GB").format(free=free)
            self.query_one(gauge_id, Gauge).show(free, text)
