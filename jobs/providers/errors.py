"""Errors of provider calls, and the redaction that keeps secrets out of them.

Every exception a provider client raises is a :class:`ProviderError` whose
message has already been redacted: the token or auth token of the call, its
URL-encoded form and the Basic credentials built from it are replaced by
``***`` before the error is created, also when the provider echoes them back.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from jobs.errors import CronConsoleError

# Maximum length of provider text kept in an error; the rest of a large body is dropped.
MAX_DETAIL_CHARS = 300
REDACTED = "***"


def mask_secret(secret: str | None) -> str:
    """Show a secret as its last four characters, the only form shown to operators."""
    if not secret:
        return "-"
    return "…" + secret[-4:] if len(secret) > 8 else REDACTED


class Redactor:
    """Replaces known secrets, in every encoding a request may carry them, by ``***``."""

    def __init__(self, secrets: Iterable[str | None] = (), *, basic_user: str | None = None) -> None:
        self._needles: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            self._needles.update({secret, quote(secret, safe=""), quote_plus(secret)})
            if basic_user is not None:
                pair = f"{basic_user}:{secret}".encode()
                self._needles.add(base64.b64encode(pair).decode("ascii"))
        # Longer forms first, so that an encoded form containing the plain one is replaced whole.
        self._ordered = sorted(self._needles, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for needle in self._ordered:
            if needle in text:
                text = text.replace(needle, REDACTED)
        return text


class ProviderError(CronConsoleError):
    """A provider call that failed; the message is redacted and safe to store and show.

    Attributes:
        provider: ``meta`` or ``twilio``.
        status_code: HTTP status of the response, or None when no response came.
        code: the provider's error code (Meta ``error.code``, Twilio ``code``), when it sent one.
        subcode: Meta's ``error.error_subcode``, when it sent one.
    """

    title = "Provider call failed"
    # True when the same request may succeed if sent again after a pause.
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.code = code
        self.subcode = subcode


class ProviderAuthError(ProviderError):
    """The provider rejected the credential; ``credential_status`` is ``invalid`` or ``expired``."""

    title = "Credential rejected"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        credential_status: str = "invalid",
        status_code: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status_code=status_code, code=code, subcode=subcode)
        self.credential_status = credential_status


class ProviderRetryableError(ProviderError):
    """A failure that may pass if the same request is sent again after a pause.

    ``retry_after`` is the wait in seconds the provider asked for, when it gave one.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retry_after: float | None = None,
        status_code: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status_code=status_code, code=code, subcode=subcode)
        self.retry_after = retry_after


class ProviderRateLimitError(ProviderRetryableError):
    """The provider asked to slow down (HTTP 429, Meta codes 4, 80007, 130429, 131056, Twilio 20429)."""

    title = "Rate limited"


class ProviderServerError(ProviderRetryableError):
    """The provider returned a 5xx status."""

    title = "Provider unavailable"


class ProviderRecipientError(ProviderError):
    """The recipient cannot receive the message (invalid number, opted out): only that message fails."""

    title = "Recipient rejected"


class ProviderUncertainError(ProviderError):
    """A send whose request may have reached the provider without a response (a read time-out).

    The message may have been delivered, so it must not be sent again automatically.
    """

    title = "Send outcome unknown"


class ProviderConnectionError(ProviderError):
    """No response came: the connection failed, or a call that changes nothing timed out."""

    title = "Provider unreachable"


class ProviderResponseError(ProviderError):
    """The provider returned a status or a body the client does not understand."""

    title = "Unexpected provider response"
