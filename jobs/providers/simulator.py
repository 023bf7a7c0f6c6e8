"""A local HTTP server that responds to the Meta Graph API and Twilio calls this console makes.

One server serves both providers, because their paths do not collide: point
``CRON_META_GRAPH_URL`` and ``CRON_TWILIO_API_URL`` at the same base URL.

In-process (tests, the benchmark)::

    simulator = SimulatorServer(latency=0.0)
    base_url = simulator.start()          # http://127.0.0.1:<port>, served by a background thread
    simulator.inject("rate_limit", provider="meta", times=2, retry_after=0.01)
    ...
    simulator.received                     # every request, as RecordedRequest
    simulator.stop()

From the command line (the demo)::

    python -m jobs.providers.simulator --port 8808 --latency 0.05

Tokens decide how a credential behaves: Meta access tokens ``demo-meta-<state>-<n>``
and Twilio auth tokens ``demo-twilio-<state>-<n>``, with ``<state>`` one of
``valid``, ``invalid``, ``expired`` or ``expiring`` (valid, but expiring within
3 days). Any other token is valid. Twilio has no token expiry: an ``expired``
Twilio token belongs to a ``closed`` account and an ``expiring`` one to an
``active`` account. Twilio account SIDs must be ``AC`` followed by 32 hex digits.

The responses copy the shapes the real APIs document: Graph's ``error`` object
with ``code``, ``error_subcode`` and ``fbtrace_id``; Twilio's ``code``,
``message``, ``more_info`` and ``status``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

TOKEN_STATES = ("valid", "invalid", "expired", "expiring")
EXPIRING_WITHIN_SECONDS = 2 * 24 * 3600  # "expiring" tokens expire 2 days after the simulator's clock
FAULT_KINDS = ("rate_limit", "server_error", "slow", "malformed", "echo_token", "drop")

_META_PATH = re.compile(r"^/(v\d+\.\d+)/([^/]+)(/messages)?$")
_TWILIO_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+?)(/Messages)?\.json$")
_TWILIO_SID = re.compile(r"^AC[0-9a-f]{32}$")
_TOKEN = re.compile(r"^demo-(meta|twilio)-([a-z]+)-")

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class RecordedRequest:
    """One request the simulator received. ``token`` is the bearer token or Basic password."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    provider: str  # "meta", "twilio" or "unknown"
    token: str | None = None
    account_ref: str | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Fault:
    """A misbehaviour the simulator applies to matching requests, ``times`` times (None: every time).

    Kinds: ``rate_limit`` (HTTP 429, Meta code 130429 or 4, Twilio 20429, with
    ``Retry-After: retry_after`` when set), ``server_error`` (``status``, default
    503), ``slow`` (waits ``delay`` seconds, then responds normally), ``malformed``
    (``status``, default 200, with a body that is not JSON), ``echo_token``
    (HTTP 400 whose message repeats the token and the Authorization header) and
    ``drop`` (closes the connection without answering).
    """

    kind: str
    provider: str | None = None
    path_contains: str | None = None
    token: str | None = None
    times: int | None = 1
    retry_after: float | None = None
    status: int | None = None
    delay: float = 0.0
    applied: int = 0

    def matches(self, request: RecordedRequest) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.provider is not None and request.provider != self.provider:
            return False
        if self.path_contains is not None and self.path_contains not in request.path:
            return False
        return self.token is None or request.token == self.token


@dataclass
class _State:
    """State shared by the handler threads, guarded by ``lock``."""

    latency: float
    clock: Callable[[], float]
    lock: threading.Lock = field(default_factory=threading.Lock)
    received: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    bad_recipients: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)
    token_states: dict[str, str] = field(default_factory=dict)
    echo_tokens: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    peak_in_flight: int = 0


def token_state(token: str, overrides: dict[str, str] | None = None) -> str:
    """Return the behaviour of ``token``: an override, else its ``demo-<provider>-<state>-<n>`` state, else valid."""
    if overrides and token in overrides:
        return overrides[token]
    match = _TOKEN.match(token)
    if match and match.group(2) in TOKEN_STATES:
        return match.group(2)
    return "valid"


class SimulatorServer:
    """The simulator, served by a thread of its own on 127.0.0.1.

    Args:
        latency: seconds every response waits before it is sent.
        clock: Unix time used for token expiry; tests pass their fixed instant.
        host, port: where to listen; port 0 picks a free port.
    """

    def __init__(
        self,
        latency: float = 0.0,
        *,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._state = _State(latency=latency, clock=clock)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- Life cycle ------------------------------------------------------------

    def start(self) -> str:
        """Start serving in a background thread; return the base URL for both providers."""
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._state.stopping.clear()
        self._server = _Server(self._address, _handler_for(self._state))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="provider-simulator", daemon=True)
        self._thread.start()
        logger.info("Provider simulator listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving, close open connections and wake responses that are still waiting."""
        if self._server is None:
            return
        self._state.stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        logger.info("Provider simulator stopped")

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- Knobs -------------------------------------------------------------------

    @property
    def latency(self) -> float:
        return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.latency = seconds

    @property
    def received(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._state.lock:
            return list(self._state.received)

    def clear_received(self) -> None:
        """Forget the recorded requests and reset :attr:`peak_in_flight`."""
        with self._state.lock:
            self._state.received.clear()
            self._state.peak_in_flight = self._state.in_flight

    @property
    def peak_in_flight(self) -> int:
        """The largest number of requests being answered at the same time since the last reset."""
        with self._state.lock:
            return self._state.peak_in_flight

    def inject(
        self,
        kind: str,
        *,
        provider: str | None = None,
        times: int | None = 1,
        path_contains: str | None = None,
        token: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Make matching requests misbehave; see :class:`Fault` for the kinds. Returns the fault."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        fault = Fault(kind, provider, path_contains, token, times, retry_after, status, delay)
        with self._state.lock:
            self._state.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._state.lock:
            self._state.faults.clear()

    def reject_recipient(self, phone: str, *, opted_out: bool = False) -> None:
        """Make sends to ``phone`` fail: an invalid number (Twilio 21211, Meta 131030) or an opt-out (21610, 131050)."""
        with self._state.lock:
            (self._state.opted_out if opted_out else self._state.bad_recipients).add(phone)

    def set_token_state(self, token: str, state: str) -> None:
        """Give ``token`` one of the states of the naming convention, whatever its name."""
        if state not in TOKEN_STATES:
            raise ValueError(f"unknown token state {state!r}; expected one of {', '.join(TOKEN_STATES)}")
        with self._state.lock:
            self._state.token_states[token] = state

    def echo_tokens(self, enabled: bool = True) -> None:
        """Make every error answer repeat the caller's token, as a careless provider might."""
        self._state.echo_tokens = enabled


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 drops connections opened in a burst, and the client's
    # retransmission then costs a second.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close kept-alive connections, so that a stopped simulator sends no more responses."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _handler_for(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        shared = state

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "provider-simulator/1"
    # Headers and body leave in separate writes. With Nagle's algorithm on, the body then waits
    # for the client's delayed ACK (about 40 ms on Linux) on every kept-alive request.
    disable_nagle_algorithm = True
    shared: _State

    def log_message(self, format: str, *args: Any) -> None:
        # The request line may carry a token in its query (debug_token), so it is not logged.
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        with self.shared.lock:
            self.shared.in_flight += 1
            self.shared.peak_in_flight = max(self.shared.peak_in_flight, self.shared.in_flight)
        try:
            self._answer()
        finally:
            with self.shared.lock:
                self.shared.in_flight -= 1

    def _answer(self) -> None:
        request = self._record()
        fault = self._take_fault(request)
        if self.shared.latency > 0:
            self.shared.stopping.wait(self.shared.latency)

        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            return
        if fault is not None and fault.kind == "slow":
            self.shared.stopping.wait(fault.delay)
        if fault is not None and fault.kind not in ("slow", "drop"):
            answer = _fault_answer(fault, request)
        elif request.provider == "meta":
            answer = _MetaApi(self.shared, request).answer()
        elif request.provider == "twilio":
            answer = _TwilioApi(self.shared, request).answer()
        else:
            answer = _json(404, {"error": {"message": f"Unknown path {request.path}", "code": 803}})

        if self.shared.echo_tokens and answer[0] >= 400:
            answer = _echo_answer(answer[0], request)
        self._send(answer)

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {key.lower(): value for key, value in self.headers.items()}
        provider, token, account_ref = _identify(parts.path, headers, query)
        request = RecordedRequest(self.command, parts.path, query, headers, body, provider, token, account_ref)
        with self.shared.lock:
            self.shared.received.append(request)
        return request

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        with self.shared.lock:
            for fault in self.shared.faults:
                if fault.matches(request):
                    fault.applied += 1
                    return fault
        return None

    def _send(self, answer: Answer) -> None:
        status, headers, body = answer
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a read time-out); there is no one left to answer.
            self.close_connection = True


def _identify(path: str, headers: dict[str, str], query: dict[str, str]) -> tuple[str, str | None, str | None]:
    """Return the provider a path belongs to, the caller's token and the account in the path."""
    authorization = headers.get("authorization", "")
    twilio = _TWILIO_PATH.match(path)
    if twilio:
        token = None
        if authorization.startswith("Basic "):
            try:
                _user, _colon, token = base64.b64decode(authorization[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                token = None
        return "twilio", token, twilio.group(1)
    meta = _META_PATH.match(path)
    if meta:
        token = authorization[7:] if authorization.startswith("Bearer ") else query.get("access_token")
        account = None if meta.group(2) == "debug_token" else meta.group(2)
        return "meta", token, account
    return "unknown", None, None


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    merged = {"Content-Type": "application/json", "Date": formatdate(usegmt=True), **(headers or {})}
    return status, merged, json.dumps(payload).encode()


def _meta_error(status: int, code: int, message: str, *, subcode: int | None = None,
                error_type: str = "OAuthException", headers: dict[str, str] | None = None) -> Answer:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code,
                             "fbtrace_id": secrets.token_urlsafe(12)}
    if subcode is not None:
        error["error_subcode"] = subcode
    return _json(status, {"error": error}, headers)


def _twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Answer:
    payload = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
               "status": status}
    return _json(status, payload, headers)


def _fault_answer(fault: Fault, request: RecordedRequest) -> Answer:
    retry = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    if fault.kind == "rate_limit":
        if request.provider == "twilio":
            return _twilio_error(429, 20429, "Too Many Requests", retry)
        code = 130429 if request.path.endswith("/messages") else 4
        return _meta_error(429, code, f"(#{code}) Rate limit hit", error_type="OAuthException", headers=retry)
    if fault.kind == "server_error":
        status = fault.status or 503
        if request.provider == "twilio":
            return _twilio_error(status, 20500, "Internal Server Error", retry)
        return _meta_error(status, 2, "Service temporarily unavailable", error_type="OAuthException", headers=retry)
    if fault.kind == "malformed":
        body = b"<html><body>upstream proxy error</body></html>"
        return fault.status or 200, {"Content-Type": "text/html", **retry}, body
    return _echo_answer(400, request)


def _echo_answer(status: int, request: RecordedRequest) -> Answer:
    echoed = f"token {request.token} rejected; Authorization: {request.headers.get('authorization', '')}"
    if request.query:
        echoed += f"; query {request.query}"
    if request.provider == "twilio":
        return _twilio_error(status, 20001, echoed)
    return _meta_error(status, 100, echoed)


class _MetaApi:
    """The Graph API calls: phone-number lookup, debug_token and template messages."""

    def __init__(self, state: _State, request: RecordedRequest) -> None:
        self.state = state
        self.request = request

    def answer(self) -> Answer:
        request = self.request
        match = _META_PATH.match(request.path)
        assert match is not None
        node, messages = match.group(2), match.group(3)
        if not request.token:
            return _meta_error(400, 2500, "An active access token must be used to query information.")
        state = token_state(request.token, self.state.token_states)
        if state == "invalid":
            return _meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token", subcode=467)
        if state == "expired":
            return _meta_error(401, 190, "Error validating access token: Session has expired.", subcode=463)

        if node == "debug_token" and request.method == "GET":
            return self._debug_token(state)
        if not node.isdigit():
            return _meta_error(400, 100, f"Unsupported request - Object with ID '{node}' does not exist.",
                               subcode=33, error_type="GraphMethodException")
        if messages and request.method == "POST":
            return self._send(node)
        if not messages and request.method == "GET":
            return _json(200, {"id": node, "display_phone_number": f"+40 700 {node[-6:]}",
                               "verified_name": f"Demo business {node[-4:]}", "quality_rating": "GREEN"})
        return _meta_error(400, 100, "Unsupported request method", error_type="GraphMethodException")

    def _debug_token(self, state: str) -> Answer:
        input_token = self.request.query.get("input_token")
        if not input_token:
            return _meta_error(400, 100, "The parameter input_token is required")
        input_state = token_state(input_token, self.state.token_states)
        now = int(self.state.clock())
        data: dict[str, Any] = {
            "app_id": "100000000000001", "type": "SYSTEM_USER", "application": "Demo agent",
            "is_valid": input_state in ("valid", "expiring"),
            "expires_at": now + EXPIRING_WITHIN_SECONDS if input_state == "expiring" else 0,
            "scopes": ["whatsapp_business_messaging", "whatsapp_business_management"],
        }
        if input_state == "expired":
            data["expires_at"] = now - 3600
            data["error"] = {"code": 190, "message": "Session has expired.", "subcode": 463}
        elif input_state == "invalid":
            data["error"] = {"code": 190, "message": "Invalid OAuth access token.", "subcode": 467}
        return _json(200, {"data": data})

    def _send(self, phone_number_id: str) -> Answer:
        try:
            payload = self.request.json()
        except ValueError:
            return _meta_error(400, 100, "(#100) The request body is not valid JSON")
        if not isinstance(payload, dict) or payload.get("messaging_product") != "whatsapp":
            return _meta_error(400, 100, "(#100) The parameter messaging_product is required.")
        to = payload.get("to")
        if not isinstance(to, str) or not to:
            return _meta_error(400, 100, "(#100) The parameter to is required.")
        template = payload.get("template")
        if payload.get("type") != "template" or not isinstance(template, dict) or not template.get("name"):
            return _meta_error(400, 131008, "(#131008) Required parameter is missing: template.name")
        with self.state.lock:
            bad, opted_out = to in self.state.bad_recipients, to in self.state.opted_out
        if bad:
            return _meta_error(400, 131030, "(#131030) Recipient phone number not in allowed list")
        if opted_out:
            return _meta_error(400, 131050, "(#131050) Unable to deliver the message: the user stopped marketing messages")
        wa_id = to.lstrip("+")
        message_id = "wamid." + base64.b64encode(secrets.token_bytes(24)).decode()
        return _json(200, {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": wa_id}],
                           "messages": [{"id": message_id, "message_status": "accepted"}]})


class _TwilioApi:
    """The Twilio calls: account lookup and message creation."""

    def __init__(self, state: _State, request: RecordedRequest) -> None:
        self.state = state
        self.request = request

    def answer(self) -> Answer:
        request = self.request
        sid = request.account_ref or ""
        user = ""
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            try:
                user = base64.b64decode(authorization[6:]).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                user = ""
        if not request.token or user != sid:
            return _twilio_error(401, 20003, "Authenticate")
        if not _TWILIO_SID.match(sid):
            return _twilio_error(404, 20404, f"The requested resource /2010-04-01/Accounts/{sid}.json was not found")
        state = token_state(request.token, self.state.token_states)
        if state == "invalid":
            return _twilio_error(401, 20003, "Authenticate")
        account_status = "closed" if state == "expired" else "active"

        if request.path.endswith("/Messages.json"):
            if request.method != "POST":
                return _twilio_error(405, 20004, "Method not allowed")
            if account_status != "active":
                return _twilio_error(401, 20005, "Account not active")
            return self._send(sid)
        if request.method != "GET":
            return _twilio_error(405, 20004, "Method not allowed")
        return _json(200, {
            "sid": sid, "friendly_name": f"Demo account {sid[-4:]}", "status": account_status, "type": "Full",
            "date_created": formatdate(self.state.clock() - 400 * 86400, usegmt=True),
            "uri": f"/2010-04-01/Accounts/{sid}.json",
        })

    def _send(self, sid: str) -> Answer:
        form = self.request.form()
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _twilio_error(400, 21602, "Message body is required.")
        with self.state.lock:
            bad, opted_out = to in self.state.bad_recipients, to in self.state.opted_out
        if bad:
            return _twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if opted_out:
            return _twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        message_sid = "SM" + secrets.token_hex(16)
        return _json(201, {
            "sid": message_sid, "account_sid": sid, "to": to, "from": sender, "body": body, "status": "queued",
            "num_segments": "1", "direction": "outbound-api", "date_created": formatdate(self.state.clock(), usegmt=True),
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message_sid}.json",
        })


def main(argv: list[str] | None = None) -> int:
    """Serve the simulator in the foreground until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.providers.simulator",
        description="Local simulator of the Meta Graph API and Twilio calls made by cron-console.")
    parser.add_argument("--port", type=int, default=8808, help="TCP port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every response waits before it is sent")
    args = parser.parse_args(argv)

    simulator = SimulatorServer(args.latency, host=args.host, port=args.port)
    base_url = simulator.start()
    print(f"Provider simulator on {base_url}; point the console at it with:", flush=True)
    print(f"  CRON_META_GRAPH_URL={base_url}", flush=True)
    print(f"  CRON_TWILIO_API_URL={base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
