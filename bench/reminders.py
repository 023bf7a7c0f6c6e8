"""Benchmark reservation-reminders against the provider simulator.

The script seeds a SQLite database with ``--count`` confirmed reservations due
for a reminder, starts the simulator in a separate process (so that its
threads do not compete with the job for the interpreter lock) with a fixed
``--latency`` per response, and runs the real ``reservation_reminders`` job once.

With ``provider_concurrency`` requests in flight per provider and each response
taking ``latency`` seconds, no run can send more than
``providers × concurrency / latency`` reminders per second. The script prints
the measured rate, that bound and their ratio. Goal: a ratio of at least 0.8.

Usage: ``.venv/bin/python bench/reminders.py [--count N] [--latency S] [--concurrency N]
[--channel whatsapp|sms|mixed] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlmodel import col, delete, func, select  # noqa: E402

from jobs.clock import SystemClock  # noqa: E402
from jobs.context import JobContext  # noqa: E402
from jobs.providers import ProviderHub  # noqa: E402
from jobs.reminders import reservation_reminders  # noqa: E402
from jobs.settings import Settings  # noqa: E402
from storage.db import Database, to_db  # noqa: E402
from storage.models import Business, Credential, Reservation  # noqa: E402

RATIO_GOAL = 0.8
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def seed(database: Database, count: int, channel: str, now_offset_hours: float = 6.0) -> int:
    """Create one business with a Meta and a Twilio credential and ``count`` due reservations; return its id."""
    now = SystemClock().now()
    database.create_schema()
    with database.session() as session:
        business = Business(name="Bench Bistro", language="ro")
        session.add(business)
        session.flush()
        assert business.id is not None
        session.add(Credential(business_id=business.id, provider="meta", account_ref="106540352242922",
                               secret="demo-meta-valid-1", status="valid"))
        session.add(Credential(business_id=business.id, provider="twilio", account_ref="AC" + "0" * 32,
                               secret="demo-twilio-valid-1", sender="+15005550006", status="valid"))
        for n in range(count):
            chosen = channel
            if channel == "mixed":
                chosen = "whatsapp" if n % 2 else "sms"
            session.add(Reservation(
                business_id=business.id, session_id=None, customer_name=f"Customer {n}",
                customer_phone=f"+4070{n:07d}", channel=chosen, party_size=2, status="confirmed",
                starts_at=to_db(now + timedelta(hours=now_offset_hours, seconds=n)), created_at=to_db(now),
            ))
        return business.id


def remove_seed(database: Database, business_id: int) -> None:
    """Delete the benchmark's business with its reservations and credentials."""
    with database.session() as session:
        for model in (Reservation, Credential):
            session.execute(delete(model).where(col(model.business_id) == business_id))
        session.execute(delete(Business).where(col(Business.id) == business_id))


def start_simulator(latency: float) -> tuple[subprocess.Popen[str], str]:
    """Start ``python -m jobs.providers.simulator`` on a free port; return the process and its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.providers.simulator", "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    base_url = first_line.split(" on ", 1)[1].split(";", 1)[0]
    return process, base_url


async def run_job(settings: Settings, database: Database) -> tuple[dict[str, object], float]:
    clock = SystemClock()
    context = JobContext(job_id="reservation-reminders", run_id=None, settings=settings, database=database,
                         clock=clock, now=clock.now())
    async with ProviderHub(settings) as hub:
        context.providers = hub
        started = time.perf_counter()
        summary = await reservation_reminders(context)
        elapsed = time.perf_counter() - started
    return summary, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000, help="reservations to remind")
    parser.add_argument("--latency", type=float, default=0.020, help="simulator response latency (s)")
    parser.add_argument("--concurrency", type=int, default=8, help="provider_concurrency")
    parser.add_argument("--channel", choices=("whatsapp", "sms", "mixed"), default="whatsapp",
                        help="channel of the reservations; mixed uses both providers at once")
    parser.add_argument("--database-url", help="database to seed, with the schema created if missing; the seeded "
                        "rows are deleted afterwards (default: a new SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-reminders-") as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        database = Database(url)
        business_id = seed(database, args.count, args.channel)
        process, base_url = start_simulator(args.latency)
        try:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                database_url=url, meta_graph_url=base_url, twilio_api_url=base_url,
                provider_concurrency=args.concurrency, reminder_quiet_hours="",
            )
            summary, elapsed = asyncio.run(run_job(settings, database))
        finally:
            process.terminate()
            process.wait(timeout=10)

        with database.session() as session:
            stored = session.exec(
                select(func.count()).select_from(Reservation).where(col(Reservation.reminder_sent_at).is_not(None))
            ).one()
        remove_seed(database, business_id)
        database.dispose()

    providers = 2 if args.channel == "mixed" else 1
    bound = providers * args.concurrency / args.latency
    rate = int(str(summary["sent"])) / elapsed
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"database {'SQLite' if url.startswith('sqlite') else url.split(':', 1)[0]}")
    print(f"reminders: {args.count} via {args.channel}, latency {args.latency * 1000:.0f} ms, "
          f"concurrency {args.concurrency} per provider")
    print(f"summary: {summary}")
    print(f"stored as sent: {stored}")
    print(f"elapsed: {elapsed:.2f} s, rate: {rate:.0f} reminders/s, bound: {bound:.0f} reminders/s")
    ratio = rate / bound
    print(f"ratio: {ratio:.2f} (goal: at least {RATIO_GOAL})")
    return 0 if ratio >= RATIO_GOAL and stored == args.count else 1


if __name__ == "__main__":
    raise SystemExit(main())
