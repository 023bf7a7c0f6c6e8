"""The provider simulator responds like Meta and Twilio, and misbehaves on request."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from jobs.providers.simulator import SimulatorServer, token_state
from tests.conftest import DEFAULT_NOW
from tests.provider_fixtures import OTHER_TWILIO_SID, TWILIO_SID

META_PHONE = "106540352242922"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def meta_get(base: str, path: str, token: str, **params: str) -> httpx.Response:
    return httpx.get(f"{base}/v21.0/{path}", headers={"Authorization": f"Bearer {token}"}, params=params)


def twilio_account(base: str, sid: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/2010-04-01/Accounts/{sid}.json", auth=(sid, token))


def twilio_send(base: str, token: str, **form: str) -> httpx.Response:
    return httpx.post(f"{base}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json", auth=(TWILIO_SID, token), data=form)


def meta_send(base: str, token: str, to: str = "+40700000001") -> httpx.Response:
    payload = {"messaging_product": "whatsapp", "to": to, "type": "template",
               "template": {"name": "reservation_reminder", "language": {"code": "ro"}}}
    return httpx.post(f"{base}/v21.0/{META_PHONE}/messages", headers={"Authorization": f"Bearer {token}"},
                      json=payload)


@pytest.mark.parametrize(("token", "state"), [
    ("demo-meta-valid-1", "valid"),
    ("demo-meta-invalid-2", "invalid"),
    ("demo-twilio-expired-3", "expired"),
    ("demo-twilio-expiring-4", "expiring"),
    ("demo-meta-weird-5", "valid"),
    ("EAAG-real-looking-token", "valid"),
], ids=["valid", "invalid", "expired", "expiring", "unknown-state", "other"])
def test_token_state_convention(token: str, state: str) -> None:
    assert token_state(token) == state


def test_meta_phone_number_lookup(simulator: SimulatorServer) -> None:
    response = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-1")

    assert response.status_code == 200
    assert response.json()["id"] == META_PHONE
    assert simulator.received[0].provider == "meta"
    assert simulator.received[0].token == "demo-meta-valid-1"
    assert simulator.received[0].account_ref == META_PHONE


def test_meta_debug_token_expiry(simulator: SimulatorServer) -> None:
    valid = meta_get(simulator.base_url, "debug_token", "demo-meta-valid-1", input_token="demo-meta-valid-1")
    expiring = meta_get(simulator.base_url, "debug_token", "demo-meta-expiring-1",
                        input_token="demo-meta-expiring-1")

    assert valid.json()["data"]["is_valid"] is True
    assert valid.json()["data"]["expires_at"] == 0
    expires_at = expiring.json()["data"]["expires_at"]
    assert 0 < expires_at - DEFAULT_NOW.timestamp() <= 3 * 86400


@pytest.mark.parametrize(("token", "subcode"), [("demo-meta-expired-1", 463), ("demo-meta-invalid-1", 467)],
                         ids=["expired", "invalid"])
def test_meta_rejected_tokens(simulator: SimulatorServer, token: str, subcode: int) -> None:
    response = meta_get(simulator.base_url, META_PHONE, token)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 190
    assert error["error_subcode"] == subcode
    assert error["type"] == "OAuthException"
    assert "fbtrace_id" in error


def test_meta_send_returns_message_id(simulator: SimulatorServer) -> None:
    response = meta_send(simulator.base_url, "demo-meta-valid-1")

    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["messages"][0]["id"].startswith("wamid.")
    assert simulator.received[0].json()["template"]["name"] == "reservation_reminder"


def test_meta_send_without_template_is_rejected(simulator: SimulatorServer) -> None:
    response = httpx.post(f"{simulator.base_url}/v21.0/{META_PHONE}/messages",
                          headers={"Authorization": "Bearer demo-meta-valid-1"},
                          json={"messaging_product": "whatsapp", "to": "+40700000001", "type": "text"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 131008


@pytest.mark.parametrize(("token", "status"), [
    ("demo-twilio-valid-1", "active"),
    ("demo-twilio-expiring-1", "active"),
    ("demo-twilio-expired-1", "closed"),
], ids=["valid", "expiring", "expired"])
def test_twilio_account_status(simulator: SimulatorServer, token: str, status: str) -> None:
    response = twilio_account(simulator.base_url, TWILIO_SID, token)

    assert response.status_code == 200
    assert response.json()["sid"] == TWILIO_SID
    assert response.json()["status"] == status


def test_twilio_invalid_token_is_20003(simulator: SimulatorServer) -> None:
    response = twilio_account(simulator.base_url, TWILIO_SID, "demo-twilio-invalid-1")

    assert response.status_code == 401
    assert response.json() == {"code": 20003, "message": "Authenticate",
                               "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}


def test_twilio_credentials_of_another_account(simulator: SimulatorServer) -> None:
    response = httpx.get(f"{simulator.base_url}/2010-04-01/Accounts/{TWILIO_SID}.json",
                         auth=(OTHER_TWILIO_SID, "demo-twilio-valid-1"))

    assert response.status_code == 401


def test_twilio_malformed_sid_not_found(simulator: SimulatorServer) -> None:
    response = twilio_account(simulator.base_url, "AC123", "demo-twilio-valid-1")

    assert response.status_code == 404
    assert response.json()["code"] == 20404


def test_twilio_send_records_form(simulator: SimulatorServer) -> None:
    response = twilio_send(simulator.base_url, "demo-twilio-valid-1", To="+40700000001", From="+15005550006",
                           Body="Hello")

    assert response.status_code == 201
    assert response.json()["sid"].startswith("SM")
    assert response.json()["status"] == "queued"
    assert simulator.received[0].form() == {"To": "+40700000001", "From": "+15005550006", "Body": "Hello"}


def test_twilio_send_to_closed_account(simulator: SimulatorServer) -> None:
    response = twilio_send(simulator.base_url, "demo-twilio-expired-1", To="+40700000001",
                           From="+15005550006", Body="Hello")

    assert response.status_code == 401
    assert response.json()["code"] == 20005


def test_twilio_send_without_to(simulator: SimulatorServer) -> None:
    response = twilio_send(simulator.base_url, "demo-twilio-valid-1", From="+15005550006", Body="Hello")

    assert response.status_code == 400
    assert response.json()["code"] == 21604


def test_rejected_recipients(simulator: SimulatorServer) -> None:
    simulator.reject_recipient("+40700000009")
    simulator.reject_recipient("+40700000008", opted_out=True)

    invalid = twilio_send(simulator.base_url, "demo-twilio-valid-1", To="+40700000009", From="+1", Body="x")
    opted_out = twilio_send(simulator.base_url, "demo-twilio-valid-1", To="+40700000008", From="+1", Body="x")
    whatsapp = meta_send(simulator.base_url, "demo-meta-valid-1", to="+40700000009")

    assert invalid.json()["code"] == 21211
    assert opted_out.json()["code"] == 21610
    assert whatsapp.json()["error"]["code"] == 131030


def test_rate_limit_fault_with_retry_after(simulator: SimulatorServer) -> None:
    simulator.inject("rate_limit", provider="twilio", times=2, retry_after=3)

    answers = [twilio_account(simulator.base_url, TWILIO_SID, "demo-twilio-valid-1") for _ in range(3)]
    meta = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-1")

    assert [answer.status_code for answer in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert answers[0].json()["code"] == 20429
    assert meta.status_code == 200


def test_meta_rate_limit_codes(simulator: SimulatorServer) -> None:
    simulator.inject("rate_limit", provider="meta", times=2)

    send = meta_send(simulator.base_url, "demo-meta-valid-1")
    lookup = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-1")

    assert send.json()["error"]["code"] == 130429
    assert lookup.json()["error"]["code"] == 4


def test_server_error_fault(simulator: SimulatorServer) -> None:
    simulator.inject("server_error", status=502, times=None, path_contains="/messages")

    first = meta_send(simulator.base_url, "demo-meta-valid-1")
    second = meta_send(simulator.base_url, "demo-meta-valid-1")
    lookup = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-1")

    assert (first.status_code, second.status_code, lookup.status_code) == (502, 502, 200)
    assert first.json()["error"]["code"] == 2


def test_malformed_fault(simulator: SimulatorServer) -> None:
    simulator.inject("malformed")

    response = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-1")

    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_fault_for_one_token(simulator: SimulatorServer) -> None:
    simulator.inject("server_error", token="demo-meta-valid-2", times=None)

    other = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-1")
    targeted = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-2")

    assert other.status_code == 200
    assert targeted.status_code == 503


def test_slow_fault_times_out_client(simulator: SimulatorServer) -> None:
    simulator.inject("slow", delay=2.0)

    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{simulator.base_url}/v21.0/{META_PHONE}", headers={"Authorization": "Bearer t"}, timeout=0.2)

    assert time.monotonic() - started < 1.5


def test_drop_fault_closes_connection(simulator: SimulatorServer) -> None:
    simulator.inject("drop")

    with pytest.raises(httpx.RemoteProtocolError):
        meta_send(simulator.base_url, "demo-meta-valid-1")


def test_echo_tokens_repeats_secret(simulator: SimulatorServer) -> None:
    simulator.echo_tokens()

    response = twilio_account(simulator.base_url, TWILIO_SID, "demo-twilio-invalid-7")

    basic = base64.b64encode(f"{TWILIO_SID}:demo-twilio-invalid-7".encode()).decode()
    assert "demo-twilio-invalid-7" in response.json()["message"]
    assert basic in response.json()["message"]


def test_set_token_state_overrides_name(simulator: SimulatorServer) -> None:
    simulator.set_token_state("plain-token", "expired")

    response = meta_get(simulator.base_url, META_PHONE, "plain-token")

    assert response.json()["error"]["error_subcode"] == 463


def test_latency_and_peak_in_flight(simulator: SimulatorServer) -> None:
    simulator.latency = 0.05

    started = time.monotonic()
    response = meta_get(simulator.base_url, META_PHONE, "demo-meta-valid-1")

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.05
    assert simulator.peak_in_flight == 1


def test_unknown_path_is_404(simulator: SimulatorServer) -> None:
    response = httpx.get(f"{simulator.base_url}/nothing/here")

    assert response.status_code == 404


def test_stop_refuses_further_requests() -> None:
    server = SimulatorServer()
    base_url = server.start()
    server.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base_url}/v21.0/{META_PHONE}", timeout=1.0)


def test_inject_rejects_unknown_kind(simulator: SimulatorServer) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        simulator.inject("explode")


def test_command_line_serves_until_killed() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.providers.simulator", "--port", "0"],
        stdout=subprocess.PIPE, text=True, cwd=str(PROJECT_ROOT),
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        base_url = first_line.split(" on ", 1)[1].split(";", 1)[0]
        response = twilio_account(base_url, TWILIO_SID, "demo-twilio-valid-1")
        assert response.status_code == 200
        assert "CRON_META_GRAPH_URL=" in process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=5)
