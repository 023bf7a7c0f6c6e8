"""No token or auth token leaves the provider jobs: logs, summaries, errors, alerts, exceptions.

The simulator echoes the caller's token and Authorization header in every
error response, as a careless provider might, so each path that turns a
provider response into text is exercised with the secret in it.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Callable, Iterable
from datetime import timedelta
from urllib.parse import quote, quote_plus

import pytest
from sqlmodel import select

from jobs.context import JobContext
from jobs.provider_checks import sync_credentials, validate_credentials
from jobs.providers import ProviderCredential, ProviderError, ReminderMessage
from jobs.providers.simulator import SimulatorServer
from jobs.reminders import reservation_reminders
from storage.db import Database
from storage.models import Alert, Credential, Reservation
from tests.provider_fixtures import (
    META_PHONE_ID,
    TWILIO_SID,
    add_business,
    add_credential,
    add_reservation,
    fast_hub,
    provider_settings,
)

MakeContext = Callable[..., JobContext]

META_TOKENS = ("demo-meta-valid-Zq81SecretMetaA", "demo-meta-expired-Zq81SecretMetaB",
               "demo-meta-valid-Zq81SecretMetaC")
TWILIO_TOKENS = ("demo-twilio-valid-Zq81SecretTwiA", "demo-twilio-invalid-Zq81SecretTwiB")
SECRETS = META_TOKENS + TWILIO_TOKENS
# The secret part alone, so that a token cut short or re-encoded is still caught.
CORES = tuple(token.rsplit("-", 1)[1] for token in SECRETS)


def forbidden_forms() -> list[str]:
    forms = [*SECRETS, *CORES]
    for token in SECRETS:
        forms += [quote(token, safe=""), quote_plus(token)]
    for token in TWILIO_TOKENS:
        forms.append(base64.b64encode(f"{TWILIO_SID}:{token}".encode()).decode())
    return forms


def assert_clean(texts: Iterable[str], where: str) -> None:
    forms = forbidden_forms()
    for text in texts:
        for form in forms:
            assert form not in text, f"{where} contains a secret: {text[:300]!r}"


def exception_texts(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), "".join(traceback.format_exception(error)), repr(error.args)]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            texts += exception_texts(linked)
    return texts


@pytest.fixture
def leaky_provider(database: Database, simulator: SimulatorServer) -> SimulatorServer:
    """Credentials and reservations for every path, with a simulator that echoes secrets in errors."""
    business = add_business(database, "Bistro Central")
    for token in META_TOKENS:
        add_credential(database, business, "meta", token)
    add_credential(database, business, "twilio", TWILIO_TOKENS[0])
    other = add_business(database, "Harbour Grill", language="en")
    add_credential(database, other, "twilio", TWILIO_TOKENS[1], account_ref="AC" + "1" * 32)
    for n in range(6):
        add_reservation(database, business, channel="whatsapp" if n % 2 else "sms", phone=f"+4070000000{n}")
    add_reservation(database, other, channel="sms", phone="+40700000009")
    # A valid-looking credential that fails the phone lookup with an echoing 5xx.
    add_credential(database, add_business(database, "Echo"), "meta", META_TOKENS[2],
                   expires_at=None, account_ref="999")
    simulator.echo_tokens()
    return simulator


def inject_faults(simulator: SimulatorServer) -> None:
    simulator.inject("rate_limit", provider="twilio", times=2)
    simulator.inject("server_error", token=META_TOKENS[2], times=None)
    simulator.inject("malformed", status=502, provider="meta", path_contains="/messages", times=1)
    simulator.inject("slow", delay=1.5, provider="meta", path_contains="/messages", times=1)
    simulator.inject("echo_token", provider="twilio", path_contains="/Messages", times=1)


async def run_all(make_context: MakeContext, simulator: SimulatorServer) -> list[dict[str, object]]:
    summaries = []
    for job_id, job in (("validate-credentials", validate_credentials), ("sync-credentials", sync_credentials),
                        ("reservation-reminders", reservation_reminders)):
        ctx = make_context(job_id, **provider_settings(simulator, provider_read_timeout_seconds=0.3,
                                                       provider_max_retries=1))
        async with fast_hub(ctx.settings) as hub:
            ctx.providers = hub
            summaries.append(await job(ctx))
    return summaries


async def test_jobs_leak_no_secret(
    database: Database, make_context: MakeContext, leaky_provider: SimulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    inject_faults(leaky_provider)

    summaries = await run_all(make_context, leaky_provider)

    # The secrets did reach the simulator, and came back in its error responses.
    assert {request.token for request in leaky_provider.received} >= set(SECRETS)
    assert any(request.path.endswith("debug_token") for request in leaky_provider.received)
    assert summaries[2]["uncertain"] == 1
    assert summaries[2]["failed"] >= 1

    records = caplog.records
    assert records
    assert_clean((record.getMessage() for record in records), "a log record")
    assert_clean((repr(record.args) for record in records), "log record arguments")
    assert_clean((record.exc_text or "" for record in records), "a logged traceback")
    assert_clean([caplog.text], "the log output")
    assert_clean([json.dumps(summary) for summary in summaries], "a run summary")
    with database.session() as session:
        alerts = [alert.message for alert in session.exec(select(Alert))]
        credential_errors = [c.last_error or "" for c in session.exec(select(Credential))]
        reminder_errors = [r.last_reminder_error or "" for r in session.exec(select(Reservation))]
    assert alerts
    assert any(credential_errors)
    assert any(reminder_errors)
    assert_clean(alerts, "an alert")
    assert_clean(credential_errors, "a credential's last_error")
    assert_clean(reminder_errors, "a reservation's last_reminder_error")


@pytest.mark.parametrize("fault", ["echo_token", "server_error", "malformed", "slow", "drop"])
async def test_client_exceptions_leak_no_secret(
    make_context: MakeContext, simulator: SimulatorServer, fault: str
) -> None:
    simulator.echo_tokens()
    simulator.inject(fault, times=None, delay=1.0, status=502 if fault == "malformed" else None)
    ctx = make_context("reservation-reminders", **provider_settings(
        simulator, provider_read_timeout_seconds=0.2, provider_max_retries=1))
    message = ReminderMessage(f"+40{META_TOKENS[0]}", "x", "reservation_reminder", "ro", ("a",))
    calls = [
        ("meta", ProviderCredential(1, "meta", META_PHONE_ID, META_TOKENS[0])),
        ("twilio", ProviderCredential(2, "twilio", TWILIO_SID, TWILIO_TOKENS[0], "+15005550006")),
    ]

    raised: list[BaseException] = []
    async with fast_hub(ctx.settings) as hub:
        for provider, credential in calls:
            client = hub.client(provider)
            for call in (client.fetch_status(credential, context="secret test"),
                         client.send_reminder(credential, message, context="secret test")):
                with pytest.raises(ProviderError) as error:
                    await call
                raised.append(error.value)

    assert len(raised) == 4
    for error in raised:
        assert_clean(exception_texts(error), f"{type(error).__name__} after {fault}")


def test_credential_repr_hides_secret() -> None:
    credential = ProviderCredential(1, "twilio", TWILIO_SID, TWILIO_TOKENS[0])

    assert TWILIO_TOKENS[0] not in repr(credential)


async def test_expiring_alert_shows_last_four_only(
    database: Database, make_context: MakeContext, simulator: SimulatorServer
) -> None:
    business = add_business(database, "Bistro Central")
    add_credential(database, business, "meta", "demo-meta-expiring-Zq81SecretMetaE",
                   expires_at=None, status="valid")
    ctx = make_context("sync-credentials", **provider_settings(simulator))
    ctx.now = ctx.now + timedelta(seconds=1)

    async with fast_hub(ctx.settings) as hub:
        ctx.providers = hub
        await sync_credentials(ctx)

    with database.session() as session:
        messages = [alert.message for alert in session.exec(select(Alert))]
    assert len(messages) == 1
    assert "…etaE" in messages[0]
    assert "SecretMetaE" not in messages[0]
