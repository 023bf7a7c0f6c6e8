"""Shared parts of the Meta and Twilio clients: the request loop with retries, error mapping, redaction."""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx

from console.i18n import _
from jobs.providers.errors import (
    MAX_DETAIL_CHARS,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    ProviderRetryableError,
    ProviderServerError,
    ProviderUncertainError,
    Redactor,
)
from jobs.providers.retry import RetryPolicy, parse_retry_after
from jobs.settings import Settings

logger = logging.getLogger(__name__)

_SECRET_QUERY = re.compile(r"((?:input_token|access_token)=)[^&\s\"']*")


@dataclass(frozen=True)
class ProviderCredential:
    """The parts of a stored credential a call needs. ``secret`` is left out of ``repr``."""

    id: int
    provider: str
    account_ref: str
    secret: str = field(repr=False)
    sender: str | None = None


@dataclass(frozen=True)
class CredentialReport:
    """A provider's report on a credential.

    ``status`` is ``valid``, ``invalid`` or ``expired``; ``expires_at`` is aware
    UTC, or None when the credential does not expire or the provider did not report it.
    """

    status: str
    expires_at: datetime | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ReminderMessage:
    """One reminder to send.

    ``text`` is the rendered reminder, sent as the SMS body. WhatsApp sends the
    approved template ``template_name`` in ``template_language`` instead, with
    ``parameters`` as its body parameters.
    """

    to: str
    text: str
    template_name: str
    template_language: str
    parameters: tuple[str, ...]


def redact_url_text(text: str) -> str:
    """Hide token values carried in query strings (Meta's ``debug_token`` takes one)."""
    return _SECRET_QUERY.sub(r"\1***", text)


class _HttpxLogRedactor(logging.Filter):
    """Rewrites httpx's ``HTTP Request: GET <url>`` records so that no token in a URL reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url_text(str(arg)) if isinstance(arg, httpx.URL | str) else arg for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = redact_url_text(record.msg)
        return True


def install_httpx_log_redaction() -> None:
    """Attach the URL redaction filter to httpx's logger once per process."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _HttpxLogRedactor) for existing in httpx_logger.filters):
        httpx_logger.addFilter(_HttpxLogRedactor())


def excerpt(text: str, redact: Redactor) -> str:
    """Return a redacted, single-line, bounded excerpt of a provider's text."""
    flat = " ".join(redact_url_text(redact(text)).split())
    return flat if len(flat) <= MAX_DETAIL_CHARS else flat[: MAX_DETAIL_CHARS - 1] + "…"


class ProviderClient(ABC):
    """One provider's calls over the hub's shared ``httpx.AsyncClient``.

    ``semaphore`` bounds the requests in flight to this provider; it is held
    while a request is on the wire, never during a backoff wait.
    """

    provider: ClassVar[str]
    label: ClassVar[str]

    def __init__(
        self, http: httpx.AsyncClient, settings: Settings, retry: RetryPolicy, semaphore: asyncio.Semaphore
    ) -> None:
        self.http = http
        self.settings = settings
        self.retry = retry
        self.semaphore = semaphore

    @abstractmethod
    def redactor(self, credential: ProviderCredential) -> Redactor:
        """Return the redactor for every form in which this provider's requests carry the secret."""

    @abstractmethod
    def error_from_response(self, response: httpx.Response, body: Any, redact: Redactor) -> ProviderError:
        """Map a non-2xx response to the matching :class:`ProviderError` subclass."""

    @abstractmethod
    async def check_alive(self, credential: ProviderCredential, *, context: str) -> CredentialReport:
        """Ask whether the credential works; raise :class:`ProviderAuthError` when it does not."""

    @abstractmethod
    async def fetch_status(self, credential: ProviderCredential, *, context: str) -> CredentialReport:
        """Ask the provider for the credential's expiry or account status."""

    @abstractmethod
    async def send_reminder(
        self, credential: ProviderCredential, reminder: ReminderMessage, *, context: str
    ) -> str:
        """Send one reminder; return the provider's message id.

        Raises :class:`ProviderUncertainError` when the request may have reached
        the provider without a response, so the caller must not send it again.
        """

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        credential: ProviderCredential,
        context: str,
        sends_message: bool = False,
        **request_options: Any,
    ) -> dict[str, Any]:
        """Send a request, retrying rate limits and 5xx responses; return the JSON object in the response.

        ``context`` names the ids involved (credential, reservation) for the
        retry log. Every failure is raised as a redacted :class:`ProviderError`
        with no chained exception, because httpx's exceptions carry the request
        and its URL.
        """
        redact = self.redactor(credential)
        retry_number = 0
        while True:
            try:
                return await self._attempt(method, url, redact, sends_message, request_options)
            except ProviderRetryableError as error:
                delay = self.retry.delay_for(retry_number, error.retry_after)
                if delay is None:
                    raise
                retry_number += 1
                logger.warning(
                    "%s %s %s failed (%s); retry %d of %d in %.2f s: %s",
                    self.label, method, context, error.title, retry_number, self.retry.max_retries, delay, error,
                )
                await self.retry.sleep(delay)

    async def _attempt(
        self, method: str, url: str, redact: Redactor, sends_message: bool, options: dict[str, Any]
    ) -> dict[str, Any]:
        failure: ProviderError | None = None
        response: httpx.Response | None = None
        async with self.semaphore:
            try:
                response = await self.http.request(method, url, **options)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                failure = ProviderConnectionError(
                    _("{provider} could not be reached ({kind}); nothing was sent.").format(
                        provider=self.label, kind=type(error).__name__),
                    provider=self.provider,
                )
            except (httpx.TimeoutException, httpx.TransportError) as error:
                failure = self._lost_response(type(error).__name__, sends_message)

        # The failure is raised here, outside the except blocks, so it chains no httpx exception.
        if failure is not None:
            raise failure
        assert response is not None
        return self._parse(response, redact)

    def _lost_response(self, kind: str, sends_message: bool) -> ProviderError:
        if sends_message:
            return ProviderUncertainError(
                _("{provider} did not respond to the send in time ({kind}); the message may have been delivered, "
                  "so it will not be sent again automatically.").format(provider=self.label, kind=kind),
                provider=self.provider,
            )
        return ProviderConnectionError(
            _("{provider} did not respond in time ({kind}).").format(provider=self.label, kind=kind),
            provider=self.provider,
        )

    def _parse(self, response: httpx.Response, redact: Redactor) -> dict[str, Any]:
        body: Any
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if response.is_success:
            if isinstance(body, dict):
                return body
            raise ProviderResponseError(
                _("{provider} returned HTTP {status} with a body that is not a JSON object: {excerpt}").format(
                    provider=self.label, status=response.status_code, excerpt=excerpt(response.text, redact) or "-"),
                provider=self.provider, status_code=response.status_code,
            )
        raise self.error_from_response(response, body, redact)

    def error_without_object(self, response: httpx.Response, redact: Redactor) -> ProviderError:
        """Map an error response that carries no provider error object (a proxy page, an empty body)."""
        status = response.status_code
        text = excerpt(response.text, redact) or "-"
        message = _("{provider} returned HTTP {status} without an error object: {excerpt}").format(
            provider=self.label, status=status, excerpt=text)
        if status == 429:
            return ProviderRateLimitError(
                message, provider=self.provider, status_code=status, retry_after=parse_retry_after(response))
        if status >= 500:
            return ProviderServerError(
                message, provider=self.provider, status_code=status, retry_after=parse_retry_after(response))
        if status == 401:
            return ProviderAuthError(message, provider=self.provider, status_code=status)
        return ProviderResponseError(message, provider=self.provider, status_code=status)


def as_int(value: Any) -> int | None:
    """Read an error code that may come as a number or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
