"""Exponential backoff with jitter for rate-limited and 5xx provider calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from random import random as uniform_random

import httpx


@dataclass
class RetryPolicy:
    """When and how long to wait before sending a failed request again.

    The n-th retry (counting from 0) waits ``base_delay * 2**n`` seconds, capped
    at ``max_delay``, times a random factor between 0.5 and 1.0, and never less
    than the provider's ``Retry-After``. A ``Retry-After`` longer than
    ``max_delay`` ends the retries at once, so that a run never sleeps for long.
    Tests pass a small ``base_delay`` or their own ``sleep``.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    jitter: Callable[[], float] = uniform_random  # a number in [0, 1); tests fix it

    def delay_for(self, retry_number: int, retry_after: float | None) -> float | None:
        """Return the wait in seconds before retry ``retry_number`` (from 0), or None to give up."""
        if retry_number >= self.max_retries:
            return None
        if retry_after is not None and retry_after > self.max_delay:
            return None
        backoff = min(self.max_delay, self.base_delay * 2.0**retry_number)
        delay = backoff * (0.5 + 0.5 * self.jitter())
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


def parse_retry_after(response: httpx.Response) -> float | None:
    """Read ``Retry-After`` as seconds: a number, or an HTTP date measured from the response's ``Date``.

    Returns None when the header is missing or unreadable, or when it is a date
    and the response has no ``Date`` header to measure it from.
    """
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        return max(0.0, seconds)

    date_header = response.headers.get("date")
    if date_header is None:
        return None
    try:
        until = parsedate_to_datetime(value)
        sent = parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (until - sent).total_seconds())
