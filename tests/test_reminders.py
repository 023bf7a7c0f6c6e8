"""reservation-reminders against the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from jobs.context import JobContext, Summary
from jobs.errors import ConfigError
from jobs.providers.simulator import SimulatorServer
from jobs.reminders import in_quiet_hours, parse_quiet_hours, reservation_reminders
from jobs.settings import load_settings
from storage.db import Database, from_db
from storage.models import Alert
from tests.conftest import DEFAULT_NOW
from tests.provider_fixtures import (
    RecordingSleep,
    add_business,
    add_credential,
    add_reservation,
    fast_hub,
    get_credential,
    get_reservation,
    provider_settings,
)

MakeContext = Callable[..., JobContext]
# 10:00 UTC is 13:00 in Bucharest (summer time): outside the default quiet hours.
NOW = DEFAULT_NOW


def context(make_context: MakeContext, simulator: SimulatorServer, *, dry_run: bool = False,
            now: datetime = NOW, **overrides: object) -> JobContext:
    overrides = {"provider_read_timeout_seconds": 0.5, **overrides}
    return make_context("reservation-reminders", dry_run=dry_run, now=now,
                        **provider_settings(simulator, **overrides))


async def run(ctx: JobContext, sleep: RecordingSleep | None = None) -> Summary:
    async with fast_hub(ctx.settings, sleep) as hub:
        ctx.providers = hub
        return await reservation_reminders(ctx)


def alerts(database: Database) -> list[Alert]:
    with database.session() as session:
        return list(session.exec(select(Alert).order_by(Alert.id)))  # type: ignore[arg-type]


def sends(simulator: SimulatorServer) -> list[str]:
    return [request.path for request in simulator.received if request.method == "POST"]


@pytest.fixture
def shop(database: Database) -> dict[str, int]:
    """A Romanian business with a working Meta and Twilio credential."""
    business = add_business(database, "Bistro Central", language="ro")
    return {
        "business": business,
        "meta": add_credential(database, business, "meta", "demo-meta-valid-1"),
        "twilio": add_credential(database, business, "twilio", "demo-twilio-valid-1"),
    }


async def test_sends_whatsapp_and_sms(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    whatsapp = add_reservation(database, shop["business"], channel="whatsapp", phone="+40700000001")
    sms = add_reservation(database, shop["business"], channel="sms", phone="+40700000002")

    summary = await run(context(make_context, simulator))

    assert summary["sent"] == 2
    assert summary["failed"] == 0
    assert summary["examined"] == 2
    for reservation_id in (whatsapp, sms):
        reservation = get_reservation(database, reservation_id)
        assert reservation.reminder_sent_at is not None
        assert from_db(reservation.reminder_sent_at) == NOW
        assert reservation.reminder_attempts == 1
        assert reservation.reminder_uncertain_at is None
        assert reservation.reminder_message_id
    assert get_reservation(database, whatsapp).reminder_message_id.startswith("wamid.")  # type: ignore[union-attr]
    assert get_reservation(database, sms).reminder_message_id.startswith("SM")  # type: ignore[union-attr]


async def test_text_in_business_language(
    database: Database, make_context: MakeContext, simulator: SimulatorServer
) -> None:
    romanian = add_business(database, "Bistro Central", language="ro")
    english = add_business(database, "Harbour Grill", language="en", timezone="Europe/London")
    for business in (romanian, english):
        add_credential(database, business, "twilio", "demo-twilio-valid-1")
    add_reservation(database, romanian, channel="sms", phone="+40700000001", starts_in=timedelta(hours=9.5))
    add_reservation(database, english, channel="sms", phone="+44700000002", starts_in=timedelta(hours=9.5))

    await run(context(make_context, simulator))

    bodies = {request.form()["To"]: request.form()["Body"] for request in simulator.received}
    assert bodies["+40700000001"] == (
        "Bună ziua, Ana Pop! Vă reamintim rezervarea la Bistro Central pe 17.06.2026, 22:30, pentru 4 persoane.")
    assert bodies["+44700000002"] == (
        "Hello Ana Pop, this is a reminder of your reservation at Harbour Grill on 17 Jun 2026, 20:30, party of 4.")


async def test_custom_template_and_whatsapp_settings(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    add_reservation(database, shop["business"], channel="whatsapp")
    add_reservation(database, shop["business"], channel="sms", phone="+40700000002")
    ctx = context(make_context, simulator, reminder_template_ro="{business_name}: {customer_name} x{party_size}",
                  whatsapp_template_name="reminder_v2", whatsapp_template_language_ro="ro")

    await run(ctx)

    by_provider = {request.provider: request for request in simulator.received}
    assert by_provider["twilio"].form()["Body"] == "Bistro Central: Ana Pop x4"
    template = by_provider["meta"].json()["template"]
    assert template["name"] == "reminder_v2"
    assert template["language"]["code"] == "ro"


def test_unknown_placeholder_rejected_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CRON_REMINDER_TEMPLATE_EN", "Hi {customer}, see you at {business_name}")

    with pytest.raises(ConfigError) as raised:
        load_settings()

    assert "CRON_REMINDER_TEMPLATE_EN" in raised.value.message
    assert "{customer}" in raised.value.message
    assert "{customer_name}" in raised.value.message


async def test_selection_window_and_states(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    business = shop["business"]
    due = add_reservation(database, business, starts_in=timedelta(hours=23))
    not_yet = [
        add_reservation(database, business, starts_in=timedelta(hours=25)),
        add_reservation(database, business, starts_in=timedelta(minutes=-5)),
        add_reservation(database, business, status="cancelled"),
        add_reservation(database, business, channel="web"),
        add_reservation(database, business, reminder_sent_at=NOW - timedelta(hours=1)),
        add_reservation(database, business, reminder_uncertain_at=NOW - timedelta(hours=1)),
        add_reservation(database, business, reminder_attempts=3),
    ]

    summary = await run(context(make_context, simulator))

    assert summary["examined"] == 1
    assert summary["sent"] == 1
    assert get_reservation(database, due).reminder_sent_at is not None
    for reservation_id in not_yet:
        assert get_reservation(database, reservation_id).reminder_message_id is None


async def test_skip_reasons(database: Database, make_context: MakeContext, simulator: SimulatorServer) -> None:
    disabled = add_business(database, "Closed for reminders", reminders_enabled=False)
    add_credential(database, disabled, "meta", "demo-meta-valid-1")
    no_credential = add_business(database, "No credential")
    erased = add_business(database, "Erased secret")
    add_credential(database, erased, "meta", None, secret_erased_at=NOW - timedelta(days=1), status="expired")
    invalid = add_business(database, "Invalid credential")
    add_credential(database, invalid, "meta", "demo-meta-invalid-1", status="invalid")
    past_expiry = add_business(database, "Expired credential")
    add_credential(database, past_expiry, "meta", "demo-meta-valid-2", expires_at=NOW - timedelta(hours=1))
    no_sender = add_business(database, "No sender")
    add_credential(database, no_sender, "twilio", "demo-twilio-valid-1", sender=None)
    for business in (disabled, no_credential, erased, invalid, past_expiry):
        add_reservation(database, business)
    add_reservation(database, no_sender, channel="sms")

    summary = await run(context(make_context, simulator))

    assert summary["examined"] == 6
    assert summary["sent"] == 0
    assert summary["skipped_business_disabled"] == 1
    assert summary["skipped_no_credential"] == 2
    assert summary["skipped_credential_invalid"] == 2
    assert summary["skipped_no_sender"] == 1
    assert simulator.received == []


async def test_quiet_hours_wait_for_next_run(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    # Starts on 18 June at 08:00 UTC (11:00 in Bucharest).
    reservation = add_reservation(database, shop["business"], starts_in=timedelta(hours=22))
    night = datetime(2026, 6, 17, 19, 0, tzinfo=UTC)  # 22:00 in Bucharest
    morning = datetime(2026, 6, 18, 6, 0, tzinfo=UTC)  # 09:00 in Bucharest

    at_night = await run(context(make_context, simulator, now=night))
    in_morning = await run(context(make_context, simulator, now=morning))

    assert at_night["skipped_quiet_hours"] == 1
    assert at_night["sent"] == 0
    assert in_morning["sent"] == 1
    assert get_reservation(database, reservation).reminder_sent_at is not None


async def test_quiet_hours_in_business_zone(
    database: Database, make_context: MakeContext, simulator: SimulatorServer
) -> None:
    # 19:00 UTC is 22:00 in Bucharest but 15:00 in New York.
    new_york = add_business(database, "Deli", language="en", timezone="America/New_York")
    add_credential(database, new_york, "meta", "demo-meta-valid-1")
    add_reservation(database, new_york, starts_in=timedelta(hours=14))

    summary = await run(context(make_context, simulator, now=datetime(2026, 6, 17, 19, 0, tzinfo=UTC)))

    assert summary["sent"] == 1


def test_quiet_hours_interval() -> None:
    night = parse_quiet_hours("21:00-09:00")
    lunch = parse_quiet_hours("12:00-13:30")
    assert night is not None and lunch is not None

    assert in_quiet_hours(datetime(2026, 1, 1, 21, 0).time(), night)
    assert in_quiet_hours(datetime(2026, 1, 1, 8, 59).time(), night)
    assert not in_quiet_hours(datetime(2026, 1, 1, 9, 0).time(), night)
    assert in_quiet_hours(datetime(2026, 1, 1, 13, 0).time(), lunch)
    assert not in_quiet_hours(datetime(2026, 1, 1, 13, 30).time(), lunch)
    assert parse_quiet_hours("") is None
    assert parse_quiet_hours("10:00-10:00") is None


async def test_dry_run_sends_nothing(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    ids = [add_reservation(database, shop["business"], phone=f"+4070000000{n}") for n in range(3)]
    add_reservation(database, add_business(database, "No credential"))

    dry = await run(context(make_context, simulator, dry_run=True))
    assert simulator.received == []
    for reservation_id in ids:
        reservation = get_reservation(database, reservation_id)
        assert reservation.reminder_attempts == 0
        assert reservation.reminder_uncertain_at is None
    real = await run(context(make_context, simulator))

    assert dry["sent"] == 3
    assert dry["skipped_no_credential"] == 1
    assert real["sent"] == dry["sent"]
    assert real["skipped_no_credential"] == dry["skipped_no_credential"]


async def test_bad_recipient_fails_only_that_reminder(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    simulator.reject_recipient("+40700000009")
    good = add_reservation(database, shop["business"], channel="sms", phone="+40700000001")
    bad = add_reservation(database, shop["business"], channel="sms", phone="+40700000009")

    summary = await run(context(make_context, simulator))

    assert summary["sent"] == 1
    assert summary["failed"] == 1
    assert get_reservation(database, good).reminder_sent_at is not None
    failed = get_reservation(database, bad)
    assert failed.reminder_sent_at is None
    assert failed.reminder_attempts == 1
    assert failed.reminder_uncertain_at is None
    assert "21211" in (failed.last_reminder_error or "")


async def test_attempts_stop_at_maximum(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    simulator.reject_recipient("+40700000009")
    reservation = add_reservation(database, shop["business"], channel="sms", phone="+40700000009")

    summaries = [await run(context(make_context, simulator, reminder_max_attempts=2)) for _ in range(3)]

    assert [summary["failed"] for summary in summaries] == [1, 1, 0]
    assert summaries[2]["examined"] == 0
    assert get_reservation(database, reservation).reminder_attempts == 2
    assert len(sends(simulator)) == 2


async def test_rate_limit_retried_within_run(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    simulator.inject("rate_limit", provider="meta", times=2, retry_after=1)
    reservation = add_reservation(database, shop["business"])
    sleep = RecordingSleep()

    summary = await run(context(make_context, simulator), sleep)

    assert summary["sent"] == 1
    assert sleep.delays and min(sleep.delays) >= 1
    assert get_reservation(database, reservation).reminder_attempts == 1


async def test_server_errors_exhausted_count_attempt(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    simulator.inject("server_error", times=None)
    reservation = add_reservation(database, shop["business"])

    summary = await run(context(make_context, simulator, provider_max_retries=2))

    assert summary["failed"] == 1
    assert len(sends(simulator)) == 3
    failed = get_reservation(database, reservation)
    assert failed.reminder_attempts == 1
    assert "503" in (failed.last_reminder_error or "")


async def test_read_timeout_marks_uncertain_once(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    simulator.inject("slow", delay=2.0, path_contains="/messages")
    reservation = add_reservation(database, shop["business"])
    ctx = context(make_context, simulator, provider_read_timeout_seconds=0.2)

    first = await run(ctx)
    second = await run(context(make_context, simulator))

    assert first["uncertain"] == 1
    assert first["sent"] == 0
    uncertain = get_reservation(database, reservation)
    assert from_db(uncertain.reminder_uncertain_at) == NOW
    assert uncertain.reminder_sent_at is None
    assert uncertain.reminder_attempts == 1
    assert second["examined"] == 0
    assert len(sends(simulator)) == 1
    raised = [alert for alert in alerts(database) if alert.kind == "reminder_uncertain"]
    assert len(raised) == 1
    assert str(reservation) in raised[0].message


async def test_rejected_credential_marked_and_alerted(
    database: Database, make_context: MakeContext, simulator: SimulatorServer
) -> None:
    business = add_business(database, "Bistro")
    credential = add_credential(database, business, "meta", "demo-meta-expired-1")
    reservations = [add_reservation(database, business, phone=f"+4070000000{n}") for n in range(5)]

    summary = await run(context(make_context, simulator, provider_concurrency=1))

    assert summary["failed"] == 1
    assert summary["skipped_credential_invalid"] == 4
    assert len(sends(simulator)) == 1
    stored = get_credential(database, credential)
    assert stored.status == "expired"
    assert "190" in (stored.last_error or "")
    for reservation_id in reservations:
        reservation = get_reservation(database, reservation_id)
        assert reservation.reminder_attempts == 0
        assert reservation.reminder_uncertain_at is None
    assert [alert.kind for alert in alerts(database)] == ["credential_stopped_working"]
    again = await run(context(make_context, simulator))
    assert again["skipped_credential_invalid"] == 5


async def test_concurrency_limit_per_provider(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    simulator.latency = 0.03
    for n in range(24):
        add_reservation(database, shop["business"], channel="whatsapp" if n % 2 else "sms",
                        phone=f"+407000000{n:02d}")

    summary = await run(context(make_context, simulator, provider_concurrency=3))

    assert summary["sent"] == 24
    # Three per provider, two providers at once.
    assert simulator.peak_in_flight == 6


async def test_cancelled_run_keeps_in_flight_uncertain(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    simulator.latency = 0.5
    ids = [add_reservation(database, shop["business"], phone=f"+407000000{n:02d}") for n in range(10)]
    ctx = context(make_context, simulator, provider_concurrency=2)

    async with fast_hub(ctx.settings) as hub:
        ctx.providers = hub
        task = asyncio.create_task(reservation_reminders(ctx))
        while simulator.peak_in_flight < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    states = [get_reservation(database, reservation_id) for reservation_id in ids]
    uncertain = [r for r in states if r.reminder_uncertain_at is not None]
    untouched = [r for r in states if r.reminder_uncertain_at is None and r.reminder_sent_at is None]
    assert len(uncertain) == 2
    assert all(r.reminder_attempts == 1 for r in uncertain)
    assert all("cancelled" in (r.last_reminder_error or "") for r in uncertain)
    assert len(untouched) == 8
    assert all(r.reminder_attempts == 0 for r in untouched)


async def test_reminders_switched_off(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    add_reservation(database, shop["business"])

    summary = await run(context(make_context, simulator, reminders_enabled=False))

    assert summary["examined"] == 0
    assert simulator.received == []


async def test_own_hub_when_engine_has_none(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, shop: dict[str, int]
) -> None:
    add_reservation(database, shop["business"])
    ctx = context(make_context, simulator)
    assert ctx.providers is None

    summary = await reservation_reminders(ctx)

    assert summary["sent"] == 1
