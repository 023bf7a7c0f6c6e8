"""The provider clients of one engine, on one shared HTTP connection pool."""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx

from console.i18n import _
from jobs.errors import CronConsoleError
from jobs.providers.base import ProviderClient, install_httpx_log_redaction
from jobs.providers.meta import MetaClient
from jobs.providers.retry import RetryPolicy
from jobs.providers.twilio import TwilioClient
from jobs.settings import Settings

USER_AGENT = "cron-console/0.1"


class UnknownProviderError(CronConsoleError):
    title = "Unknown provider"


class ProviderHub:
    """A Meta and a Twilio client sharing one ``httpx.AsyncClient``.

    The engine creates one hub per start and shares it between runs, so the
    per-provider limit of ``provider_concurrency`` requests in flight applies
    across jobs running at the same time. ``retry`` and ``transport`` exist for
    tests and benchmarks; by default retries follow ``provider_max_retries`` and
    ``provider_max_retry_delay_seconds`` with a 0.5 s base delay.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        install_httpx_log_redaction()
        self.settings = settings
        self.retry = retry or RetryPolicy(
            max_retries=settings.provider_max_retries, max_delay=settings.provider_max_retry_delay_seconds)
        timeout = httpx.Timeout(
            connect=settings.provider_connect_timeout_seconds,
            read=settings.provider_read_timeout_seconds,
            write=settings.provider_read_timeout_seconds,
            pool=settings.provider_connect_timeout_seconds,
        )
        # Each provider has at most provider_concurrency requests in flight (its semaphore), so this
        # pool never makes a request wait for a connection.
        connections = 2 * settings.provider_concurrency
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.http = httpx.AsyncClient(
            timeout=timeout, limits=limits, transport=transport, follow_redirects=False,
            headers={"User-Agent": USER_AGENT}, trust_env=False,
        )
        self.meta = MetaClient(self.http, settings, self.retry, asyncio.Semaphore(settings.provider_concurrency))
        self.twilio = TwilioClient(self.http, settings, self.retry, asyncio.Semaphore(settings.provider_concurrency))

    def client(self, provider: str) -> ProviderClient:
        """Return the client for ``meta`` or ``twilio``."""
        if provider == "meta":
            return self.meta
        if provider == "twilio":
            return self.twilio
        raise UnknownProviderError(
            _("No client for provider {provider!r}; expected meta or twilio.").format(provider=provider))

    async def aclose(self) -> None:
        """Close the connection pool; the hub cannot be used afterwards."""
        await self.http.aclose()

    async def __aenter__(self) -> ProviderHub:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
