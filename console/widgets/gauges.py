"""Resource gauges: CPU, the console's memory, system memory and free disk, each with a sparkline.

Samples come from a :class:`Sampler`, so that tests can inject fixed values;
:class:`PsutilSampler` reads the real machine. :class:`ResourceGauges` is a
single Line API widget that draws all five lines itself, because twenty child
widgets (a row, two labels and a ``Sparkline`` per gauge) were slow to mount.
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
from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from console.format import decimal
from console.i18n import _

HISTORY_LENGTH = 60
SAMPLE_INTERVAL_SECONDS = 2.0
MEGABYTE = 1024 * 1024
GIGABYTE = 1024 * MEGABYTE

SPARKLINE_BARS = "▁▂▃▄▅▆▇█"
LABEL_WIDTH = 13
VALUE_WIDTH = 12  # "1024/500 MB" right-aligned, then a space before the sparkline
NO_VALUE = "—"


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
            free: int = psutil.disk_usage(str(_existing_parent(folder))).free
            return free / GIGABYTE
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


def sparkline_levels(history: Sequence[float], width: int, *, floor: float | None = None,
                     ceiling: float | None = None) -> list[int]:
    """Scale the newest ``width`` values of ``history`` to bar indexes into :data:`SPARKLINE_BARS`.

    The scale runs from ``floor`` to ``ceiling``, each defaulting to the minimum
    or the maximum of the whole history, so a bar keeps its height while older
    values scroll out of view. A value above ``ceiling`` raises the top of the scale.
    A history with no extent gets the lowest bar.
    """
    if not history or width <= 0:
        return []
    minimum = min(history) if floor is None else min(floor, min(history))
    maximum = max(history) if ceiling is None else max(ceiling, max(history))
    extent = maximum - minimum
    top = len(SPARKLINE_BARS) - 1
    drawn = list(history)[-width:]
    if extent == 0:
        return [0] * len(drawn)
    return [round((value - minimum) / extent * top) for value in drawn]


def sparkline_text(history: Sequence[float], width: int, *, floor: float | None = None,
                   ceiling: float | None = None) -> str:
    """Draw ``history`` as block characters, the newest value last and at most ``width`` of them."""
    levels = sparkline_levels(history, width, floor=floor, ceiling=ceiling)
    return "".join(SPARKLINE_BARS[level] for level in levels)


@dataclass
class GaugeLine:
    """One gauge: its label, the text of its value, whether the value is over its threshold, and recent values."""

    label: str
    # The sparkline's scale: from zero, so that a small change in a large value
    # (a few MB of 80 GB free) does not look like a fall to nothing.
    floor: float | None = 0.0
    ceiling: float | None = None
    text: str = NO_VALUE
    high: bool = False
    history: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_LENGTH))

    def show(self, value: float | None, text: str, *, high: bool = False) -> None:
        """Set the value text and add ``value`` to the history, unless it is None (a disk that cannot be measured)."""
        self.text = text
        self.high = high
        if value is not None:
            self.history.append(value)


class ResourceGauges(Widget):
    """The five gauges, sampled every :data:`SAMPLE_INTERVAL_SECONDS` in a worker thread.

    Each line contains the label, the value right-aligned and a sparkline filling
    the rest of the width. The colours come from the component classes, so
    they follow the theme.
    """

    COMPONENT_CLASSES = {
        "resource-gauges--label",
        "resource-gauges--value",
        "resource-gauges--value-high",
        "resource-gauges--sparkline-min",
        "resource-gauges--sparkline-max",
        "resource-gauges--sparkline-max-high",
    }

    DEFAULT_CSS = """
    ResourceGauges {
        border: round $primary 50%;
        border-title-color: $text-muted;
        width: 1fr;
        height: auto;
        padding: 0 1;
    }
    ResourceGauges > .resource-gauges--label {
        color: $text-muted;
    }
    ResourceGauges > .resource-gauges--value-high {
        color: $error;
        text-style: bold;
    }
    ResourceGauges > .resource-gauges--sparkline-min {
        color: $primary 30%;
    }
    ResourceGauges > .resource-gauges--sparkline-max {
        color: $primary;
    }
    ResourceGauges > .resource-gauges--sparkline-max-high {
        color: $error;
    }
    """

    def __init__(self, sampler: Sampler, *, memory_threshold_mb: int, cpu_threshold_percent: float,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.sampler = sampler
        self.memory_threshold_mb = memory_threshold_mb
        self.cpu_threshold_percent = cpu_threshold_percent
        self.last_sample: ResourceSample | None = None
        self.gauges: dict[str, GaugeLine] = {
            "cpu": GaugeLine(_("CPU"), ceiling=100.0),
            "process-memory": GaugeLine(_("Console mem"), ceiling=float(memory_threshold_mb)),
            "system-memory": GaugeLine(_("System mem"), ceiling=100.0),
            "disk-database": GaugeLine(_("Free db")),
            "disk-backup": GaugeLine(_("Free backups")),
        }
        self._lines = list(self.gauges.values())
        self.border_title = _("Resources")

    async def on_mount(self) -> None:
        await self.refresh_sample()
        self.set_interval(SAMPLE_INTERVAL_SECONDS, self.refresh_sample)

    async def refresh_sample(self) -> None:
        """Take one sample off the UI thread and show it."""
        sample = await asyncio.to_thread(self.sampler.sample)
        self.show(sample)

    def show(self, sample: ResourceSample) -> None:
        """Update every gauge from ``sample`` and repaint."""
        self.last_sample = sample
        self.gauges["cpu"].show(
            sample.cpu_percent, f"{sample.cpu_percent:.0f}%",
            high=sample.cpu_percent > self.cpu_threshold_percent)
        self.gauges["process-memory"].show(
            sample.process_memory_mb, f"{sample.process_memory_mb:.0f}/{self.memory_threshold_mb} MB",
            high=sample.process_memory_mb > self.memory_threshold_mb)
        self.gauges["system-memory"].show(
            sample.system_memory_percent, f"{sample.system_memory_percent:.0f}%")
        for key, free in (("disk-database", sample.database_disk_free_gb),
                          ("disk-backup", sample.backup_disk_free_gb)):
            text = NO_VALUE if free is None else _("{free} GB").format(free=decimal(free))
            self.gauges[key].show(free, text)
        self.refresh()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base_style = self.rich_style
        if not 0 <= y < len(self._lines):
            return Strip.blank(width, base_style)
        gauge = self._lines[y]

        label = set_cell_size(gauge.label, LABEL_WIDTH)
        value = gauge.text
        if cell_len(value) > VALUE_WIDTH - 1:
            value = set_cell_size(value, VALUE_WIDTH - 1)
        value_padding = " " * (VALUE_WIDTH - 1 - cell_len(value))
        value_component = "resource-gauges--value-high" if gauge.high else "resource-gauges--value"
        segments = [
            Segment(label, self.get_component_rich_style("resource-gauges--label")),
            Segment(value_padding, base_style),
            Segment(value, self.get_component_rich_style(value_component)),
            Segment(" ", base_style),
        ]

        sparkline_width = width - LABEL_WIDTH - VALUE_WIDTH
        levels = sparkline_levels(gauge.history, sparkline_width, floor=gauge.floor, ceiling=gauge.ceiling)
        if levels:
            bar_styles = self._bar_styles(gauge.high)
            segments.append(Segment(" " * (sparkline_width - len(levels)), base_style))
            segments.extend(Segment(SPARKLINE_BARS[level], bar_styles[level]) for level in levels)
        return Strip(segments).crop_extend(0, width, base_style)

    def _bar_styles(self, high: bool) -> list[Style]:
        """Return one style per bar height, blended from the minimum colour to the maximum colour."""
        low_style = self.get_component_rich_style("resource-gauges--sparkline-min")
        high_component = "resource-gauges--sparkline-max-high" if high else "resource-gauges--sparkline-max"
        high_style = self.get_component_rich_style(high_component)
        if low_style.color is None or high_style.color is None:
            return [high_style] * len(SPARKLINE_BARS)
        low_color = Color.from_rich_color(low_style.color)
        high_color = Color.from_rich_color(high_style.color)
        top = len(SPARKLINE_BARS) - 1
        return [high_style + Style(color=low_color.blend(high_color, level / top).rich_color)
                for level in range(len(SPARKLINE_BARS))]
