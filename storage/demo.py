"""Demo data: a realistic, deterministic agent database in which every job finds work.

Everything derives from ``random.Random(seed)`` and the ``now`` argument, so
one seed and one instant always give the same rows. Rows are inserted with
Core ``insert()`` in chunks, one transaction per chunk.

Credential secrets follow a convention that the provider simulator reads:
``demo-meta-<state>-<n>`` and ``demo-twilio-<state>-<n>``, where ``state`` is
``valid``, ``invalid``, ``expired`` or ``expiring`` and ``n`` numbers the
credential.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, func, insert, select
from sqlmodel import Session

from console.i18n import _
from jobs.errors import CronConsoleError
from storage.db import Database, to_db
from storage.queries import (
    APP_LOGS,
    BUSINESSES,
    CREDENTIALS,
    JOB_RUNS,
    MESSAGES,
    RESERVATIONS,
    SESSIONS,
)

logger = logging.getLogger(__name__)

CHUNK_ROWS = 5000

# Emptied by replace=True, children before parents. Console tables (job runs,
# alerts, reports, settings) are kept.
AGENT_TABLES = (MESSAGES, RESERVATIONS, CREDENTIALS, SESSIONS, APP_LOGS, BUSINESSES)

_KINDS = ("Restaurant", "Bistro", "Salon", "Clinica", "Cabinet Stomatologic", "Frizeria", "Cafeneaua",
          "Pensiunea", "Spa", "Trattoria", "Pizzeria", "Clinica Veterinară")
_NAMES = ("Casa Veche", "La Mama", "Dunărea", "Carpați", "Bucovina", "Floarea Soarelui", "Ana", "Ioana", "Maria",
          "Lotus", "Aroma", "Zâmbet", "Hanul Vechi", "Cocoșul de Aur", "Perla", "Trei Stejari", "Moara Veche",
          "Doina", "Miorița", "Crinul Alb")
_CITIES = ("București", "Cluj-Napoca", "Iași", "Timișoara", "Brașov", "Constanța", "Sibiu", "Oradea", "Craiova",
           "Suceava")
# Mostly Romanian tenants; a few abroad, whose customers get English reminders.
_OTHER_ZONES = (("Europe/Chisinau", "ro"), ("Europe/London", "en"), ("Europe/Berlin", "en"),
                ("Europe/Madrid", "en"))
_FIRST_NAMES = ("Andrei", "Maria", "Elena", "Ion", "Mihai", "Ioana", "Alexandru", "Cristina", "Gabriel", "Ana",
                "Vlad", "Raluca", "Bogdan", "Diana", "Radu", "Simona")
_LAST_NAMES = ("Popescu", "Ionescu", "Popa", "Dumitru", "Stan", "Stoica", "Gheorghe", "Rusu", "Munteanu",
               "Matei", "Constantin", "Marin", "Ene", "Lazăr")
_INBOUND_RO = ("Bună ziua, aș dori o rezervare pentru {n} persoane sâmbătă la ora 19.",
               "Aveți locuri libere diseară?", "Cât costă o programare la tuns?",
               "Pot muta programarea de mâine la ora 15?", "Mulțumesc, o zi bună!",
               "Sunteți deschiși duminică?", "Vreau să anulez rezervarea, vă rog.")
_OUTBOUND_RO = ("Bună ziua! Sigur, pentru câte persoane doriți rezervarea?",
                "Rezervarea dumneavoastră pentru {n} persoane este confirmată.",
                "Programul nostru este de luni până sâmbătă, 10:00–22:00.",
                "Am mutat programarea. Vă așteptăm!", "Cu plăcere! O zi frumoasă!")
_INBOUND_EN = ("Hello, I'd like to book a table for {n} on Saturday at 7pm.", "Do you have anything free tonight?",
               "Can I move tomorrow's appointment to 3pm?", "Thanks, have a nice day!")
_OUTBOUND_EN = ("Hello! Of course, for how many people?", "Your booking for {n} is confirmed.",
                "We are open Monday to Saturday, 10:00–22:00.", "You're welcome!")
_ERRORS = ("LLM provider timeout after 30 s", "Meta API error 131047: re-engagement message outside 24 h window",
           "Twilio error 21610: recipient unsubscribed", "Tool call failed: calendar service unavailable",
           "Message rejected: template not approved")
_LOG_SOURCES = ("agent", "webhook.meta", "webhook.twilio", "llm", "calendar")
_LOG_MESSAGES = {
    "DEBUG": ("Prompt assembled in {n} ms", "Cache hit for business settings"),
    "INFO": ("Webhook received from {source}", "Session {n} resolved by the agent", "Reply sent in {n} ms"),
    "WARNING": ("Slow LLM response: {n} ms", "Retrying provider call ({n}/3)"),
    "ERROR": ("Provider call failed: HTTP 503", "Could not parse the customer's date: '{n} mai'"),
}

# Session profiles: (weight, status, minimum idle hours, maximum idle hours).
# Idle hours are the time between the last activity and ``now``; the ranges
# put sessions on both sides of every retention the jobs apply.
_PROFILES: tuple[tuple[int, str, float, float], ...] = (
    (9, "active", 0.0, 23.0),  # busy right now
    (4, "active", 24.5, 47.0),  # check-inactive-sessions
    (3, "active", 49.0, 24 * 20),  # check-abandoned-sessions
    (3, "inactive", 25.0, 47.0),
    (3, "inactive", 49.0, 24 * 25),  # check-abandoned-sessions
    (9, "abandoned", 48.0, 24 * 170),
    (3, "abandoned", 24 * 181, 24 * 400),  # cleanup-old-sessions
    (24, "resolved", 0.5, 24 * 29.5),
    (18, "resolved", 24 * 30.5, 24 * 179),  # cleanup-sessions
    (8, "resolved", 24 * 181, 24 * 420),  # both clean-ups
    (4, "error", 0.2, 24 * 60),  # check-error-sessions
    (1, "error", 24 * 185, 24 * 300),
    (3, "closed", 1.0, 24 * 170),
    (2, "closed", 24 * 182, 24 * 365),
)


def generate_demo_data(
    database: Database,
    *,
    now: datetime,
    seed: int = 7,
    sessions: int = 30_000,
    businesses: int = 40,
    messages_per_session: int = 10,
    replace: bool = False,
) -> dict[str, int]:
    """Fill the agent tables with demo rows and return the number of rows inserted per table.

    ``now`` (aware) anchors every timestamp. Each session gets between one and
    twice ``messages_per_session`` messages, ``messages_per_session`` on
    average. Raises :class:`CronConsoleError` when the database already contains
    sessions, unless ``replace`` is true: the agent tables are then emptied
    first (the console's job runs, alerts and reports are kept).
    """
    if now.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got naive {now!r}")
    if sessions < 1 or businesses < 1 or messages_per_session < 1:
        raise CronConsoleError(_("Demo data needs at least one session, one business and one message per session; "
                                 "got sessions={sessions}, businesses={businesses}, messages={messages}.")
                               .format(sessions=sessions, businesses=businesses, messages=messages_per_session),
                               title="Invalid demo size")
    now = now.astimezone(UTC)
    rng = random.Random(seed)
    database.create_schema()
    _empty_or_reject(database, replace)

    counts: dict[str, int] = {}
    business_rows = _businesses(rng, businesses)
    business_ids = _insert_returning_ids(database, BUSINESSES, business_rows)
    counts["businesses"] = len(business_ids)
    languages = {business_id: row["language"] for business_id, row in zip(business_ids, business_rows, strict=True)}

    session_rows = [_session(rng, now, business_ids) for _index in range(sessions)]
    session_ids = _insert_returning_ids(database, SESSIONS, session_rows)
    counts["sessions"] = len(session_ids)

    counts["messages"] = _insert_chunked(database, MESSAGES, _messages(
        rng, now, session_ids, session_rows, languages, messages_per_session))
    counts["reservations"] = _insert_chunked(database, RESERVATIONS, _reservations(
        rng, now, session_ids, session_rows))
    counts["credentials"] = _insert_chunked(database, CREDENTIALS, _credentials(rng, now, business_ids))
    counts["app_logs"] = _insert_chunked(database, APP_LOGS, _app_logs(rng, now, max(600, sessions // 5)))
    counts["job_runs"] = _insert_job_runs(database, _job_runs(rng, now))
    logger.info("Demo data inserted (seed %s): %s", seed, ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


# --- Writing ------------------------------------------------------------------


def _empty_or_reject(database: Database, replace: bool) -> None:
    with database.session() as session:
        existing = int(session.connection().execute(select(func.count()).select_from(SESSIONS)).scalar_one())
        if existing and not replace:
            raise CronConsoleError(_(
                "The database {database} already contains {count} sessions, and demo data needs an empty database. "
                "Pass --replace to empty the agent tables first, or point CRON_DATABASE_URL at another database."
            ).format(database=database.display_name, count=existing), title="Database not empty")
        if replace:
            for table in AGENT_TABLES:
                session.connection().execute(delete(table))
            logger.info("Emptied the agent tables of %s before inserting demo data", database.display_name)


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK_ROWS):
        yield rows[start:start + CHUNK_ROWS]


def _insert_returning_ids(database: Database, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    ids: list[int] = []
    for chunk in _chunks(rows):
        with database.session() as session:
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            ids.extend(int(row[0]) for row in session.connection().execute(statement, list(chunk)))
    return ids


def _insert_chunked(database: Database, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    for chunk in _chunks(rows):
        with database.session() as session:
            _execute_many(session, table, chunk)
    return len(rows)


def _execute_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    # executemany needs the same keys in every row: absent columns become NULL.
    columns = sorted({key for row in rows for key in row})
    session.connection().execute(insert(table), [{column: row.get(column) for column in columns} for row in rows])


def _insert_job_runs(database: Database, rows: list[dict[str, Any]]) -> int:
    # (job_id, scheduled_at) is unique, and the console may already have runs.
    with database.session() as session:
        existing = {(row[0], row[1]) for row in session.connection().execute(
            select(JOB_RUNS.c.job_id, JOB_RUNS.c.scheduled_at).where(JOB_RUNS.c.scheduled_at.is_not(None)))}
        fresh = [row for row in rows if (row["job_id"], row["scheduled_at"]) not in existing]
        if fresh:
            _execute_many(session, JOB_RUNS, fresh)
    return len(fresh)


# --- Rows ---------------------------------------------------------------------


def _phone(rng: random.Random) -> str:
    return f"+407{rng.randint(20, 99)}{rng.randint(0, 999_999):06d}"


def _businesses(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    while len(rows) < count:
        name = f"{rng.choice(_KINDS)} {rng.choice(_NAMES)} {rng.choice(_CITIES)}"
        if name in names:
            name = f"{name} {len(rows) + 1}"
        names.add(name)
        zone, language = ("Europe/Bucharest", "ro") if rng.random() < 0.85 else rng.choice(_OTHER_ZONES)
        if zone == "Europe/Bucharest" and rng.random() < 0.05:
            language = "en"
        rows.append({"name": name, "timezone": zone, "language": language,
                     "reminders_enabled": rng.random() < 0.92})
    return rows


def _session(rng: random.Random, now: datetime, business_ids: Sequence[int]) -> dict[str, Any]:
    weights = [profile[0] for profile in _PROFILES]
    _weight, status, low, high = rng.choices(_PROFILES, weights=weights)[0]
    last_activity = now - timedelta(hours=rng.uniform(low, high))
    created = last_activity - timedelta(minutes=rng.uniform(1, 240))
    error_count = 0
    last_error = None
    if status == "error":
        error_count = rng.randint(3, 7)
        last_error = rng.choice(_ERRORS)
    elif status == "active" and rng.random() < 0.08:
        error_count = rng.randint(1, 4)
        last_error = rng.choice(_ERRORS)
    return {
        "business_id": rng.choice(business_ids),
        "channel": rng.choices(("whatsapp", "sms", "web"), weights=(60, 25, 15))[0],
        "customer_phone": _phone(rng),
        "status": status,
        "created_at": to_db(created),
        "last_activity_at": to_db(last_activity),
        "resolved_at": to_db(last_activity) if status == "resolved" else None,
        "error_count": error_count,
        "last_error": last_error,
    }


def _messages(
    rng: random.Random,
    now: datetime,
    session_ids: Sequence[int],
    session_rows: Sequence[dict[str, Any]],
    languages: dict[int, str],
    average: int,
) -> list[dict[str, Any]]:
    rows = []
    for session_id, session in zip(session_ids, session_rows, strict=True):
        english = languages[session["business_id"]] == "en"
        inbound_texts = _INBOUND_EN if english else _INBOUND_RO
        outbound_texts = _OUTBOUND_EN if english else _OUTBOUND_RO
        count = rng.randint(1, 2 * average - 1)
        start: datetime = session["created_at"]
        span = (session["last_activity_at"] - start).total_seconds()
        # An open session whose customer wrote last may still wait for the agent.
        waiting = session["status"] == "active" and rng.random() < 0.15
        for index in range(count):
            created = start + timedelta(seconds=span * index / max(count - 1, 1))
            inbound = index % 2 == 0 or (waiting and index == count - 1)
            status = "processed"
            processed_at: datetime | None = created + timedelta(seconds=rng.uniform(1, 20))
            if inbound and waiting and index == count - 1:
                status, processed_at = "received", None
            elif rng.random() < 0.01:
                status = "failed"
            text = rng.choice(inbound_texts if inbound else outbound_texts).format(n=rng.randint(2, 8))
            rows.append({
                "session_id": session_id, "direction": "inbound" if inbound else "outbound", "body": text,
                "status": status, "created_at": created,
                "processed_at": min(processed_at, now) if processed_at else None,
            })
    return rows


def _reservations(
    rng: random.Random, now: datetime, session_ids: Sequence[int], session_rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for session_id, session in zip(session_ids, session_rows, strict=True):
        if rng.random() > 0.25:
            continue
        created: datetime = session["last_activity_at"]
        row: dict[str, Any] = {
            "business_id": session["business_id"], "session_id": session_id,
            "customer_name": f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            "customer_phone": session["customer_phone"],
            "channel": "sms" if session["channel"] == "sms" else "whatsapp",
            "party_size": rng.randint(1, 8), "created_at": created, "reminder_attempts": 0,
        }
        kind = rng.random()
        if kind < 0.25:
            # Starts within the next 24 h and needs a reminder; a few already failed.
            row.update(status="confirmed", starts_at=to_db(now + timedelta(hours=rng.uniform(0.5, 23.5))))
            if rng.random() < 0.15:
                row.update(reminder_attempts=rng.randint(1, 3),
                           last_reminder_error="Twilio error 30003: unreachable destination handset")
        elif kind < 0.40:
            row.update(status="confirmed", starts_at=to_db(now + timedelta(hours=rng.uniform(2, 20))))
            row.update(reminder_sent_at=to_db(now - timedelta(hours=rng.uniform(0.1, 1.9))), reminder_attempts=1)
        elif kind < 0.55:
            row.update(status="confirmed", starts_at=to_db(now + timedelta(days=rng.uniform(1.1, 30))))
        elif kind < 0.70:
            row.update(status="cancelled", starts_at=created + timedelta(days=rng.uniform(1, 10)))
        else:
            starts = created + timedelta(days=rng.uniform(0.2, 5))
            row.update(status="confirmed", starts_at=starts)
            if starts < to_db(now):
                row.update(status="completed", reminder_sent_at=starts - timedelta(hours=rng.uniform(3, 23)),
                           reminder_attempts=1)
        rows.append(row)
    return rows


def _credentials(rng: random.Random, now: datetime, business_ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = []
    number = 0
    for business_id in business_ids:
        for provider in ("meta", "twilio"):
            if provider == "twilio" and rng.random() < 0.2:
                continue
            number += 1
            state = rng.choices(("valid", "invalid", "expired", "expiring"), weights=(70, 8, 12, 10))[0]
            row: dict[str, Any] = {
                "business_id": business_id, "provider": provider,
                "secret": f"demo-{provider}-{state}-{number}", "last_error": None,
                "last_validated_at": to_db(now - timedelta(hours=rng.uniform(1, 30))),
                "synced_at": to_db(now - timedelta(hours=rng.uniform(1, 12))),
            }
            if provider == "meta":
                row.update(account_ref=str(rng.randint(10**14, 10**15 - 1)), sender=None)
            else:
                row.update(account_ref="AC" + "".join(rng.choice("0123456789abcdef") for _i in range(32)),
                           sender=_phone(rng))
            if state == "valid":
                row.update(status=rng.choice(("valid", "valid", "valid", "unknown")),
                           expires_at=to_db(now + timedelta(days=rng.uniform(20, 60))) if provider == "meta" else None)
            elif state == "invalid":
                row.update(status="invalid", last_error="Authentication failed (provider error 190)")
            elif state == "expiring":
                row.update(status="valid", expires_at=to_db(now + timedelta(days=rng.uniform(0.5, 6.5))))
            else:
                # Some expired before the grace days of their secret, and
                # some still have status valid, so cleanup-expired-credentials has work.
                days = rng.choice((rng.uniform(0.2, 6), rng.uniform(8, 40)))
                row.update(status=rng.choice(("valid", "expired")), expires_at=to_db(now - timedelta(days=days)))
            rows.append(row)
    # A few whose secret was already erased by an earlier clean-up.
    for business_id in business_ids[:2]:
        number += 1
        rows.append({
            "business_id": business_id, "provider": "meta", "account_ref": str(rng.randint(10**14, 10**15 - 1)),
            "sender": None, "secret": None, "status": "expired", "last_error": None,
            "expires_at": to_db(now - timedelta(days=40)), "secret_erased_at": to_db(now - timedelta(days=30)),
            "last_validated_at": None, "synced_at": None,
        })
    return rows


def _app_logs(rng: random.Random, now: datetime, count: int) -> list[dict[str, Any]]:
    rows = []
    for _index in range(count):
        level = rng.choices(tuple(_LOG_MESSAGES), weights=(20, 60, 15, 5))[0]
        source = rng.choice(_LOG_SOURCES)
        rows.append({
            "level": level, "source": source,
            "message": rng.choice(_LOG_MESSAGES[level]).format(n=rng.randint(1, 3000), source=source),
            "created_at": to_db(now - timedelta(days=rng.uniform(0, 60))),
        })
    return rows


_DEMO_ZONE = ZoneInfo("Europe/Bucharest")


def _job_runs(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    """Past runs of a few daily jobs over the last 10 days, and one run older than the 90-day history."""
    rows = []
    for job_id, hour in (("backup-data", 3), ("cleanup-sessions", 2), ("cleanup-expired-credentials", 1)):
        for days_ago in [*range(1, 11), 120]:
            # Daily jobs fire at local time in the default CRON_TIMEZONE, so place the runs there.
            local_day = (now - timedelta(days=days_ago)).astimezone(_DEMO_ZONE).date()
            scheduled = datetime.combine(local_day, time(hour), tzinfo=_DEMO_ZONE).astimezone(UTC)
            failed = rng.random() < 0.1
            duration = timedelta(seconds=rng.uniform(0.5, 40))
            rows.append({
                "job_id": job_id, "scheduled_at": to_db(scheduled), "trigger": "schedule",
                "instance_id": "demo", "host": "demo", "pid": 0, "started_at": to_db(scheduled),
                "finished_at": to_db(scheduled + duration), "status": "failed" if failed else "succeeded",
                "dry_run": False, "summary": None if failed else json.dumps({"examined": rng.randint(0, 500)}),
                "error": "OperationalError: database is locked" if failed else None,
            })
    return rows
