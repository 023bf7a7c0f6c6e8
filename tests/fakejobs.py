"""Job functions for engine tests, steered through module-level events instead of sleeps."""

from __future__ import annotations

import asyncio
import threading

from jobs.context import JobContext, Summary

release = threading.Event()
started = threading.Event()
calls: list[str] = []


def reset() -> None:
    release.clear()
    started.clear()
    calls.clear()


def quick(ctx: JobContext) -> Summary:
    calls.append(ctx.job_id)
    ctx.logger.info("quick job examined 3 rows")
    ctx.raise_alert("test", "warning", "three rows looked odd")
    return {"examined": 3, "deleted": 1}


def provider_probe(ctx: JobContext) -> Summary:
    """Report whether the run was given provider clients."""
    return {"examined": 0 if ctx.providers is None else 1}


def blocking(ctx: JobContext) -> Summary:
    """Run until ``release`` is set, checking for cancellation between 10 ms waits."""
    started.set()
    while not release.wait(0.01):
        ctx.check_cancelled()
    calls.append(ctx.job_id)
    return {"examined": 1}


def failing(ctx: JobContext) -> Summary:
    raise RuntimeError("the table is on fire")


async def async_blocking(ctx: JobContext) -> Summary:
    started.set()
    while not release.is_set():
        await asyncio.sleep(0.01)
    return {"sent": 1}
