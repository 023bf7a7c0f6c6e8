"""The headless service: the same engine as the TUI, with logs on stdout and signals for shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from jobs.clock import Clock
from jobs.engine import Engine
from jobs.errors import CronConsoleError
from jobs.settings import Settings

logger = logging.getLogger(__name__)


async def serve(settings: Settings, *, clock: Clock | None = None,
                ready: Callable[[Engine], None] | None = None,
                stop_event: asyncio.Event | None = None) -> int:
    """Run the engine until SIGTERM or SIGINT (or ``stop_event``); return the process exit status.

    On a signal, running jobs get CRON_STOP_GRACE_SECONDS to finish, then are
    cancelled and recorded. A second signal cancels them at once.
    """
    loop = asyncio.get_running_loop()
    stop = stop_event or asyncio.Event()
    signals_seen = 0
    engine = Engine(settings, clock=clock)
    stopping: asyncio.Task[None] | None = None

    def on_signal(signum: int) -> None:
        nonlocal signals_seen, stopping
        signals_seen += 1
        name = signal.Signals(signum).name
        if signals_seen == 1:
            logger.info("Received %s; stopping after running jobs finish (up to %.0f s)",
                        name, settings.stop_grace_seconds)
            stop.set()
        else:
            logger.warning("Received %s again; cancelling running jobs now", name)
            stopping = asyncio.ensure_future(engine.stop(grace_seconds=0))

    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signal support
            pass

    try:
        await engine.start()
    except CronConsoleError as error:
        logger.error("Start-up failed: %s", error.message)
        return 2
    except OperationalError as error:
        detail = str(error.orig or error).strip().splitlines()[0]
        logger.error("Start-up failed: cannot use the database %s: %s", engine.database.display_name, detail)
        return 2
    except Exception:
        logger.exception("Start-up failed")
        return 1
    # Objects built at start-up stay for the process's life; freezing them keeps
    # full garbage collections (and the pauses they cause in the scheduler) short.
    gc.freeze()
    if ready is not None:
        ready(engine)
    logger.info("Headless service running; send SIGTERM or press Ctrl+C to stop")
    try:
        await stop.wait()
    finally:
        await engine.stop()
        if stopping is not None:
            await stopping
        for signum in installed:
            loop.remove_signal_handler(signum)
    return 0
