"""Clients for Meta's WhatsApp Cloud API and Twilio, their errors, and a local simulator of both.

The engine creates one :class:`ProviderHub` per start and hands it to runs as
``ctx.providers``. ``jobs.providers.simulator`` is imported only by tests, the
benchmark and the demo.
"""

from jobs.providers.base import (
    CredentialReport,
    ProviderClient,
    ProviderCredential,
    ReminderMessage,
)
from jobs.providers.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRecipientError,
    ProviderResponseError,
    ProviderRetryableError,
    ProviderServerError,
    ProviderUncertainError,
    Redactor,
    mask_secret,
)
from jobs.providers.hub import ProviderHub, UnknownProviderError
from jobs.providers.retry import RetryPolicy

__all__ = [
    "CredentialReport",
    "ProviderAuthError",
    "ProviderClient",
    "ProviderConnectionError",
    "ProviderCredential",
    "ProviderError",
    "ProviderHub",
    "ProviderRateLimitError",
    "ProviderRecipientError",
    "ProviderResponseError",
    "ProviderRetryableError",
    "ProviderServerError",
    "ProviderUncertainError",
    "Redactor",
    "ReminderMessage",
    "RetryPolicy",
    "UnknownProviderError",
    "mask_secret",
]
