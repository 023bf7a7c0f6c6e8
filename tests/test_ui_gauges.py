"""The resource gauges: one widget that draws label, value and sparkline for each of five gauges."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.color import Color
from textual.geometry import Region
from textual.strip import Strip

from console.widgets import gauges
from console.widgets.gauges import (
    HISTORY_LENGTH,
    FixedSampler,
    ResourceGauges,
    ResourceSample,
    sparkline_levels,
    sparkline_text,
)
from tests import ui_support

# 40 cells wide: 36 inside the border and padding, so 11 cells of sparkline after the label and value.
GAUGES_WIDTH = 40
SPARKLINE_WIDTH = 11


class _GaugesApp(App[None]):
    CSS = f"ResourceGauges {{ width: {GAUGES_WIDTH}; }}"

    def __init__(self, samples: Sequence[ResourceSample], *, memory_threshold_mb: int = 500,
                 cpu_threshold_percent: float = 90.0) -> None:
        super().__init__()
        self.sampler = FixedSampler(samples)
        self.memory_threshold_mb = memory_threshold_mb
        self.cpu_threshold_percent = cpu_threshold_percent

    def compose(self) -> ComposeResult:
        yield ResourceGauges(self.sampler, memory_threshold_mb=self.memory_threshold_mb,
                             cpu_threshold_percent=self.cpu_threshold_percent, id="gauges")


@pytest.fixture(autouse=True)
def _no_periodic_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the interval from adding samples while a test runs, so each history contains only the samples the test took."""
    monkeypatch.setattr(gauges, "SAMPLE_INTERVAL_SECONDS", 3600.0)


def line_text(widget: ResourceGauges, y: int) -> str:
    return widget.render_line(y).text


def value_style(strip: Strip, value: str) -> Style:
    """Return the style of the segment that draws ``value``."""
    segment = next(segment for segment in strip if segment.text == value)
    assert segment.style is not None
    return segment.style


def test_sparkline_spans_all_bars() -> None:
    assert sparkline_text([0, 1, 2, 3, 4, 5, 6, 7], 20) == "▁▂▃▄▅▆▇█"


def test_sparkline_scales_to_min_and_max() -> None:
    assert sparkline_text([50.0, 100.0], 10) == "▁█"
    assert sparkline_text([100.0, 50.0, 75.0], 10) == "█▁▅"
    assert sparkline_levels([1000.0, 1001.0, 1007.0], 10) == [0, 1, 7]


def test_sparkline_keeps_newest_when_narrow() -> None:
    # The scale comes from the whole history (0 to 9), and only the newest three values are drawn.
    assert sparkline_levels(list(range(10)), 3) == [5, 6, 7]
    assert sparkline_text(list(range(10)), 3) == "▆▇█"


def test_sparkline_scale_from_floor_to_ceiling() -> None:
    assert sparkline_levels([25.0, 100.0], 10, floor=0.0, ceiling=100.0) == [2, 7]
    assert sparkline_levels([80.0, 80.1], 10, floor=0.0) == [7, 7], "a small change in a large value stays small"
    assert sparkline_levels([50.0, 200.0], 10, floor=0.0, ceiling=100.0) == [2, 7], "a value above the ceiling"
    assert sparkline_levels([0.0, 0.0], 10, floor=0.0, ceiling=100.0) == [0, 0]


def test_sparkline_empty_flat_and_no_room() -> None:
    assert sparkline_text([], 10) == ""
    assert sparkline_text([42.0, 42.0, 42.0], 10) == "▁▁▁"
    assert sparkline_text([1.0, 2.0], 0) == ""


async def test_gauges_draw_known_sequence() -> None:
    app = _GaugesApp(ui_support.SAMPLES)
    async with app.run_test(size=(60, 12)) as pilot:
        widget = app.query_one(ResourceGauges)
        for _sample in ui_support.SAMPLES[1:]:
            await widget.refresh_sample()
        await pilot.pause()

        assert not widget.children
        assert widget.outer_size.height == 7
        assert widget.border_title == "Resources"
        assert widget.last_sample == ui_support.SAMPLES[-1]
        assert list(widget.gauges["cpu"].history) == [5.0, 9.0, 30.0, 12.0, 48.0, 20.0, 12.0]

        # Each bar is round(7 * value / top). The top is 100 for the percentages, the
        # 500 MB threshold for the console's memory and the largest value for the disks.
        sparkline = " " * 4 + "▁▂▃▂▄▂▂"
        assert line_text(widget, 0) == "CPU".ljust(13) + "12%".rjust(11) + " " + sparkline
        assert line_text(widget, 1) == "Console mem".ljust(13) + "86/500 MB".rjust(11) + " " + " " * 4 + "▂" * 7
        assert line_text(widget, 2) == "System mem".ljust(13) + "60%".rjust(11) + " " + " " * 4 + "▅" * 7
        assert line_text(widget, 3) == "Free db".ljust(13) + "120.5 GB".rjust(11) + " " + " " * 4 + "█" * 7
        assert line_text(widget, 4) == "Free backups".ljust(13) + "80.2 GB".rjust(11) + " " + " " * 4 + "█" * 7
        assert all(len(line_text(widget, y)) == GAUGES_WIDTH - 4 for y in range(5))
        assert not any(gauge.high for gauge in widget.gauges.values())


async def test_gauges_mark_values_over_threshold() -> None:
    calm = ResourceSample(cpu_percent=40.0, process_memory_mb=120.0, system_memory_percent=50.0,
                          database_disk_free_gb=10.0, backup_disk_free_gb=10.0)
    busy = ResourceSample(cpu_percent=95.0, process_memory_mb=612.0, system_memory_percent=99.0,
                          database_disk_free_gb=10.0, backup_disk_free_gb=10.0)
    app = _GaugesApp([calm], memory_threshold_mb=500, cpu_threshold_percent=90.0)
    async with app.run_test(size=(60, 12)) as pilot:
        widget = app.query_one(ResourceGauges)
        calm_cpu_style = value_style(widget.render_line(0), "40%")
        assert not widget.gauges["cpu"].high
        assert not calm_cpu_style.bold

        widget.show(busy)
        await pilot.pause()

        assert widget.gauges["cpu"].high
        assert widget.gauges["process-memory"].high
        assert not widget.gauges["system-memory"].high  # system memory has no threshold
        assert "95%" in line_text(widget, 0)
        assert "612/500 MB" in line_text(widget, 1)
        error = Color.parse(app.theme_variables["error"])
        for y, value in ((0, "95%"), (1, "612/500 MB")):
            style = value_style(widget.render_line(y), value)
            assert style.bold
            assert style.color is not None
            assert Color.from_rich_color(style.color) == error
        assert not value_style(widget.render_line(2), "99%").bold
        # The newest bar of a high gauge takes the error colour too.
        newest_bar = list(widget.render_line(0))[-1]
        assert newest_bar.text == "█"
        assert newest_bar.style is not None and newest_bar.style.color is not None
        assert Color.from_rich_color(newest_bar.style.color) == error


async def test_show_repaints_widget() -> None:
    app = _GaugesApp([ui_support.SAMPLE])
    async with app.run_test(size=(60, 12)) as pilot:
        widget = app.query_one(ResourceGauges)
        # render_lines draws the border too and caches lines until the widget is refreshed.
        before = [strip.text for strip in widget.render_lines(Region(0, 0, *widget.outer_size))]
        assert before[0].startswith("╭─ Resources ─")
        assert "12%" in before[1]

        widget.show(ResourceSample(cpu_percent=77.0, process_memory_mb=90.0, system_memory_percent=50.0,
                                   database_disk_free_gb=1.0, backup_disk_free_gb=1.0))
        await pilot.pause()
        after = [strip.text for strip in widget.render_lines(Region(0, 0, *widget.outer_size))]
        assert "77%" in after[1]
        assert after[1].endswith("▂▆ │")


async def test_threshold_is_exclusive() -> None:
    at_limit = ResourceSample(cpu_percent=90.0, process_memory_mb=500.0, system_memory_percent=50.0,
                              database_disk_free_gb=10.0, backup_disk_free_gb=10.0)
    app = _GaugesApp([at_limit], memory_threshold_mb=500, cpu_threshold_percent=90.0)
    async with app.run_test(size=(60, 12)):
        widget = app.query_one(ResourceGauges)
        assert not widget.gauges["cpu"].high
        assert not widget.gauges["process-memory"].high


async def test_unmeasured_disk_shows_dash() -> None:
    no_backup = ResourceSample(cpu_percent=10.0, process_memory_mb=90.0, system_memory_percent=50.0,
                               database_disk_free_gb=55.0, backup_disk_free_gb=None)
    app = _GaugesApp([no_backup])
    async with app.run_test(size=(60, 12)):
        widget = app.query_one(ResourceGauges)
        await widget.refresh_sample()

        assert widget.gauges["disk-backup"].text == "—"
        assert not widget.gauges["disk-backup"].history
        assert line_text(widget, 4) == "Free backups".ljust(13) + "—".rjust(11) + " " * (1 + SPARKLINE_WIDTH)
        assert line_text(widget, 3).endswith("55.0 GB " + " " * 9 + "██")


async def test_history_keeps_newest_values() -> None:
    app = _GaugesApp([ui_support.SAMPLE])
    async with app.run_test(size=(60, 12)):
        widget = app.query_one(ResourceGauges)
        for cpu in range(HISTORY_LENGTH + 5):
            widget.show(ResourceSample(cpu_percent=float(cpu), process_memory_mb=90.0, system_memory_percent=50.0,
                                       database_disk_free_gb=1.0, backup_disk_free_gb=1.0))

        history = widget.gauges["cpu"].history
        assert len(history) == HISTORY_LENGTH
        assert history[0] == 5.0
        assert history[-1] == float(HISTORY_LENGTH + 4)
        assert line_text(widget, 0).endswith("▅"), "64% on a scale of 0 to 100"
        assert line_text(widget, 0)[-SPARKLINE_WIDTH:] == sparkline_text(history, SPARKLINE_WIDTH, floor=0.0,
                                                                         ceiling=100.0)


async def test_gauges_follow_theme() -> None:
    app = _GaugesApp([ui_support.SAMPLE])
    async with app.run_test(size=(60, 12)) as pilot:
        app.theme = "textual-dark"
        await pilot.pause()
        widget = app.query_one(ResourceGauges)
        dark_label = list(widget.render_line(0))[0].style

        app.theme = "textual-light"
        await pilot.pause()
        light_label = list(widget.render_line(0))[0].style

        assert dark_label is not None and light_label is not None
        assert dark_label.color != light_label.color
        assert dark_label.bgcolor != light_label.bgcolor


class _NarrowGaugesApp(_GaugesApp):
    CSS = "ResourceGauges { width: 20; }"


async def test_narrow_gauges_crop_lines() -> None:
    app = _NarrowGaugesApp([ui_support.SAMPLE])
    async with app.run_test(size=(60, 12)):
        widget = app.query_one(ResourceGauges)
        # 16 cells inside the border: the label and the first three cells of "  86/500 MB".
        assert line_text(widget, 1) == "Console mem".ljust(13) + "  8"
