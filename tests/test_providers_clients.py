"""The Meta and Twilio clients against the simulator: calls, error mapping, retries, time-outs."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import timedelta

import httpx
import pytest

from jobs.providers import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderCredential,
    ProviderHub,
    ProviderRateLimitError,
    ProviderRecipientError,
    ProviderResponseError,
    ProviderServerError,
    ProviderUncertainError,
    ReminderMessage,
    RetryPolicy,
    UnknownProviderError,
)
from jobs.providers.retry import parse_retry_after
from jobs.providers.simulator import SimulatorServer
from jobs.settings import Settings
from tests.conftest import DEFAULT_NOW
from tests.provider_fixtures import META_PHONE_ID, TWILIO_SID, RecordingSleep

MESSAGE = ReminderMessage(
    to="+40700000001", text="Hello Ana", template_name="reservation_reminder", template_language="ro",
    parameters=("Ana", "Bistro", "18.06.2026, 19:30", "4"),
)


def meta(token: str = "demo-meta-valid-1") -> ProviderCredential:
    return ProviderCredential(1, "meta", META_PHONE_ID, token)


def twilio(token: str = "demo-twilio-valid-1", sender: str | None = "+15005550006") -> ProviderCredential:
    return ProviderCredential(2, "twilio", TWILIO_SID, token, sender)


def make_hub(simulator: SimulatorServer, sleep: RecordingSleep, *, max_retries: int = 3,
             max_delay: float = 5.0, **settings: object) -> ProviderHub:
    values: dict[str, object] = {"meta_graph_url": simulator.base_url, "twilio_api_url": simulator.base_url,
                                 "provider_read_timeout_seconds": 0.5, **settings}
    return ProviderHub(
        Settings(_env_file=None, **values),  # type: ignore[call-arg, arg-type]
        retry=RetryPolicy(max_retries=max_retries, base_delay=0.01, max_delay=max_delay, sleep=sleep,
                          jitter=lambda: 1.0),
    )


# --- Calls that succeed ---------------------------------------------------------


async def test_meta_check_alive(hub: ProviderHub, simulator: SimulatorServer) -> None:
    report = await hub.meta.check_alive(meta(), context="credential 1")

    request = simulator.received[0]
    assert report.status == "valid"
    assert request.path == f"/v21.0/{META_PHONE_ID}"
    assert request.headers["authorization"] == "Bearer demo-meta-valid-1"


async def test_meta_fetch_status_expiry(hub: ProviderHub) -> None:
    never = await hub.meta.fetch_status(meta("demo-meta-valid-1"), context="credential 1")
    expiring = await hub.meta.fetch_status(meta("demo-meta-expiring-1"), context="credential 1")

    assert never.status == "valid"
    assert never.expires_at is None
    assert expiring.status == "valid"
    assert expiring.expires_at is not None
    assert DEFAULT_NOW < expiring.expires_at <= DEFAULT_NOW + timedelta(days=3)


async def test_meta_send_template_message(hub: ProviderHub, simulator: SimulatorServer) -> None:
    message_id = await hub.meta.send_reminder(meta(), MESSAGE, context="reservation 1")

    payload = simulator.received[0].json()
    assert message_id.startswith("wamid.")
    assert payload["messaging_product"] == "whatsapp"
    assert payload["type"] == "template"
    assert payload["to"] == "+40700000001"
    assert payload["template"]["name"] == "reservation_reminder"
    assert payload["template"]["language"] == {"code": "ro"}
    parameters = payload["template"]["components"][0]["parameters"]
    assert [parameter["text"] for parameter in parameters] == list(MESSAGE.parameters)


async def test_twilio_send_sms_form(hub: ProviderHub, simulator: SimulatorServer) -> None:
    sid = await hub.twilio.send_reminder(twilio(), MESSAGE, context="reservation 1")

    request = simulator.received[0]
    assert sid.startswith("SM")
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert request.form() == {"To": "+40700000001", "From": "+15005550006", "Body": "Hello Ana"}


@pytest.mark.parametrize(("token", "status"), [
    ("demo-twilio-valid-1", "valid"),
    ("demo-twilio-expired-1", "expired"),
], ids=["active", "closed"])
async def test_twilio_account_status(hub: ProviderHub, token: str, status: str) -> None:
    report = await hub.twilio.fetch_status(twilio(token), context="credential 2")

    assert report.status == status
    assert report.expires_at is None


async def test_hub_rejects_unknown_provider(hub: ProviderHub) -> None:
    with pytest.raises(UnknownProviderError):
        hub.client("telegram")


# --- Errors that are not retried ----------------------------------------------------


@pytest.mark.parametrize(("token", "state", "subcode"), [
    ("demo-meta-expired-1", "expired", 463),
    ("demo-meta-invalid-1", "invalid", 467),
], ids=["expired", "invalid"])
async def test_meta_auth_error_marks_state(
    hub: ProviderHub, simulator: SimulatorServer, token: str, state: str, subcode: int
) -> None:
    with pytest.raises(ProviderAuthError) as raised:
        await hub.meta.send_reminder(meta(token), MESSAGE, context="reservation 1")

    assert raised.value.credential_status == state
    assert raised.value.code == 190
    assert raised.value.subcode == subcode
    assert len(simulator.received) == 1


async def test_twilio_auth_error_not_retried(hub: ProviderHub, simulator: SimulatorServer) -> None:
    with pytest.raises(ProviderAuthError) as raised:
        await hub.twilio.check_alive(twilio("demo-twilio-invalid-1"), context="credential 2")

    assert raised.value.code == 20003
    assert raised.value.status_code == 401
    assert raised.value.credential_status == "invalid"
    assert len(simulator.received) == 1


@pytest.mark.parametrize(("provider", "opted_out", "code"), [
    ("twilio", False, 21211),
    ("twilio", True, 21610),
    ("meta", False, 131030),
    ("meta", True, 131050),
], ids=["twilio-invalid", "twilio-opted-out", "meta-invalid", "meta-opted-out"])
async def test_recipient_errors(
    hub: ProviderHub, simulator: SimulatorServer, provider: str, opted_out: bool, code: int
) -> None:
    simulator.reject_recipient(MESSAGE.to, opted_out=opted_out)
    credential = meta() if provider == "meta" else twilio()

    with pytest.raises(ProviderRecipientError) as raised:
        await hub.client(provider).send_reminder(credential, MESSAGE, context="reservation 1")

    assert raised.value.code == code
    assert len(simulator.received) == 1


async def test_malformed_success_body(hub: ProviderHub, simulator: SimulatorServer) -> None:
    simulator.inject("malformed", status=200)

    with pytest.raises(ProviderResponseError) as raised:
        await hub.meta.check_alive(meta(), context="credential 1")

    assert raised.value.status_code == 200
    assert "HTTP 200" in raised.value.message
    assert "upstream proxy error" in raised.value.message
    assert len(simulator.received) == 1


async def test_malformed_error_body_keeps_status(hub: ProviderHub, simulator: SimulatorServer) -> None:
    simulator.inject("malformed", status=400)

    with pytest.raises(ProviderResponseError) as raised:
        await hub.twilio.check_alive(twilio(), context="credential 2")

    assert raised.value.status_code == 400
    assert "HTTP 400" in str(raised.value)


async def test_twilio_without_sender(hub: ProviderHub, simulator: SimulatorServer) -> None:
    with pytest.raises(ProviderResponseError, match="no sender"):
        await hub.twilio.send_reminder(twilio(sender=None), MESSAGE, context="reservation 1")

    assert simulator.received == []


# --- Retries -------------------------------------------------------------------------


async def test_rate_limit_retried_after_retry_after(simulator: SimulatorServer) -> None:
    sleep = RecordingSleep()
    simulator.inject("rate_limit", provider="twilio", times=2, retry_after=2)

    async with make_hub(simulator, sleep) as providers:
        sid = await providers.twilio.send_reminder(twilio(), MESSAGE, context="reservation 1")

    assert sid.startswith("SM")
    assert len(simulator.received) == 3
    assert len(sleep.delays) == 2
    assert all(delay >= 2 for delay in sleep.delays)


async def test_backoff_grows_exponentially(simulator: SimulatorServer) -> None:
    sleep = RecordingSleep()
    simulator.inject("server_error", provider="meta", times=3)

    async with make_hub(simulator, sleep) as providers:
        await providers.meta.check_alive(meta(), context="credential 1")

    assert sleep.delays == pytest.approx([0.01, 0.02, 0.04])


async def test_retries_are_bounded(simulator: SimulatorServer) -> None:
    sleep = RecordingSleep()
    simulator.inject("server_error", status=503, times=None)

    async with make_hub(simulator, sleep, max_retries=2) as providers:
        with pytest.raises(ProviderServerError) as raised:
            await providers.meta.send_reminder(meta(), MESSAGE, context="reservation 1")

    assert raised.value.status_code == 503
    assert len(simulator.received) == 3
    assert len(sleep.delays) == 2


async def test_meta_rate_limit_code_exhausts(simulator: SimulatorServer) -> None:
    sleep = RecordingSleep()
    simulator.inject("rate_limit", provider="meta", times=None)

    async with make_hub(simulator, sleep, max_retries=1) as providers:
        with pytest.raises(ProviderRateLimitError) as raised:
            await providers.meta.send_reminder(meta(), MESSAGE, context="reservation 1")

    assert raised.value.code == 130429
    assert len(simulator.received) == 2


async def test_long_retry_after_gives_up(simulator: SimulatorServer) -> None:
    sleep = RecordingSleep()
    simulator.inject("rate_limit", times=None, retry_after=120)

    async with make_hub(simulator, sleep, max_delay=30.0) as providers:
        with pytest.raises(ProviderRateLimitError) as raised:
            await providers.twilio.check_alive(twilio(), context="credential 2")

    assert raised.value.retry_after == 120
    assert sleep.delays == []
    assert len(simulator.received) == 1


async def test_retry_logged_with_ids(simulator: SimulatorServer, caplog: pytest.LogCaptureFixture) -> None:
    sleep = RecordingSleep()
    simulator.inject("rate_limit", times=1)
    caplog.set_level(logging.WARNING, logger="jobs.providers")

    async with make_hub(simulator, sleep) as providers:
        await providers.twilio.send_reminder(twilio(), MESSAGE, context="reminder for reservation 41 (credential 2)")

    retries = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(retries) == 1
    assert "reservation 41" in retries[0].getMessage()
    assert "retry 1 of 3" in retries[0].getMessage()


# --- Time-outs and lost responses ---------------------------------------------------------


async def test_read_timeout_on_send_is_uncertain(simulator: SimulatorServer) -> None:
    sleep = RecordingSleep()
    simulator.inject("slow", delay=3.0, path_contains="/messages")

    async with make_hub(simulator, sleep, provider_read_timeout_seconds=0.2) as providers:
        with pytest.raises(ProviderUncertainError):
            await providers.meta.send_reminder(meta(), MESSAGE, context="reservation 1")

    assert len(simulator.received) == 1
    assert sleep.delays == []


async def test_dropped_connection_on_send_is_uncertain(hub: ProviderHub, simulator: SimulatorServer) -> None:
    simulator.inject("drop", path_contains="/Messages")

    with pytest.raises(ProviderUncertainError):
        await hub.twilio.send_reminder(twilio(), MESSAGE, context="reservation 1")

    assert len(simulator.received) == 1


async def test_read_timeout_on_lookup_is_connection_error(simulator: SimulatorServer) -> None:
    simulator.inject("slow", delay=3.0)

    async with make_hub(simulator, RecordingSleep(), provider_read_timeout_seconds=0.2) as providers:
        with pytest.raises(ProviderConnectionError):
            await providers.meta.check_alive(meta(), context="credential 1")


async def test_connection_refused(simulator: SimulatorServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(_env_file=None, meta_graph_url=f"http://127.0.0.1:{port}",  # type: ignore[call-arg]
                        twilio_api_url=f"http://127.0.0.1:{port}")

    async with ProviderHub(settings) as providers:
        with pytest.raises(ProviderConnectionError) as raised:
            await providers.twilio.send_reminder(twilio(), MESSAGE, context="reservation 1")

    assert raised.value.status_code is None
    assert raised.value.__context__ is None


# --- Concurrency -----------------------------------------------------------------------------


async def test_concurrency_bounded_per_provider(simulator: SimulatorServer) -> None:
    simulator.latency = 0.05

    async with make_hub(simulator, RecordingSleep(), provider_concurrency=3) as providers:
        await asyncio.gather(*(providers.meta.send_reminder(meta(), MESSAGE, context=f"reservation {n}")
                               for n in range(12)))

    assert simulator.peak_in_flight == 3
    assert len(simulator.received) == 12


# --- Retry policy and Retry-After parsing ---------------------------------------------------


def test_delay_for_jitter_bounds() -> None:
    low = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=10.0, jitter=lambda: 0.0)
    high = RetryPolicy(max_retries=5, base_delay=1.0, max_delay=10.0, jitter=lambda: 0.999)

    assert [low.delay_for(n, None) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert high.delay_for(4, None) == pytest.approx(9.995)
    assert low.delay_for(5, None) is None


def test_delay_for_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=3, base_delay=0.1, max_delay=10.0)

    assert policy.delay_for(0, 7.0) == 7.0
    assert policy.delay_for(0, 11.0) is None


@pytest.mark.parametrize(("headers", "expected"), [
    ({"Retry-After": "5"}, 5.0),
    ({"Retry-After": "0.25"}, 0.25),
    ({"Retry-After": "Wed, 17 Jun 2026 10:00:30 GMT", "Date": "Wed, 17 Jun 2026 10:00:00 GMT"}, 30.0),
    ({"Retry-After": "Wed, 17 Jun 2026 10:00:30 GMT"}, None),
    ({"Retry-After": "soon"}, None),
    ({}, None),
], ids=["seconds", "fraction", "http-date", "date-without-date-header", "garbage", "missing"])
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Response(429, headers=headers)) == expected
