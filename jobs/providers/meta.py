"""Meta's WhatsApp Cloud API (Graph API) client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from console.i18n import _
from jobs.providers.base import (
    CredentialReport,
    ProviderClient,
    ProviderCredential,
    ReminderMessage,
    as_int,
    excerpt,
)
from jobs.providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderRecipientError,
    ProviderResponseError,
    ProviderServerError,
    Redactor,
)
from jobs.providers.retry import parse_retry_after

# Graph API error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling
# and the WhatsApp Cloud API error-code list).
INVALID_TOKEN_CODE = 190
EXPIRED_TOKEN_SUBCODE = 463
# Permission errors (10 and 200-299) mean the token cannot do this call, so it is treated like an invalid one.
PERMISSION_CODES = frozenset({10, *range(200, 300)})
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
# Transient server-side failures: "unknown error" and "service temporarily unavailable".
SERVER_CODES = frozenset({1, 2, 131000, 131016})
# The recipient cannot get this message: invalid or undeliverable number, not in the allowed list,
# recipient is the sender, the customer opted out of marketing, outside the re-engagement window.
RECIPIENT_CODES = frozenset({131021, 131026, 131030, 131047, 131050})


class MetaClient(ProviderClient):
    """Calls on a WhatsApp phone-number id (``account_ref``) with its access token as a bearer token."""

    provider: ClassVar[str] = "meta"
    label: ClassVar[str] = "Meta"

    def redactor(self, credential: ProviderCredential) -> Redactor:
        return Redactor([credential.secret])

    def _url(self, *segments: str) -> str:
        path = "/".join(quote(segment, safe="") for segment in segments)
        return f"{self.settings.meta_graph_url}/{self.settings.meta_api_version}/{path}"

    @staticmethod
    def _auth(credential: ProviderCredential) -> dict[str, str]:
        return {"Authorization": f"Bearer {credential.secret}"}

    async def check_alive(self, credential: ProviderCredential, *, context: str) -> CredentialReport:
        body = await self.request_json(
            "GET", self._url(credential.account_ref), credential=credential, context=context,
            headers=self._auth(credential), params={"fields": "id,display_phone_number,verified_name"},
        )
        if str(body.get("id", "")) != credential.account_ref:
            raise ProviderResponseError(
                _("Meta returned phone number id {found!r} instead of {expected}.").format(
                    found=str(body.get("id", ""))[:40], expected=credential.account_ref),
                provider=self.provider, status_code=200,
            )
        return CredentialReport("valid")

    async def fetch_status(self, credential: ProviderCredential, *, context: str) -> CredentialReport:
        # The token inspects itself: debug_token accepts the token under test as the caller's token.
        body = await self.request_json(
            "GET", self._url("debug_token"), credential=credential, context=context,
            headers=self._auth(credential), params={"input_token": credential.secret},
        )
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("is_valid"), bool):
            raise ProviderResponseError(
                _("Meta's debug_token response has no data.is_valid."), provider=self.provider, status_code=200)
        expires_at = _epoch_to_datetime(data.get("expires_at"))
        if data["is_valid"]:
            return CredentialReport("valid", expires_at)

        raw_error = data.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        subcode = as_int(error.get("subcode"))
        detail = excerpt(str(error.get("message", "")), self.redactor(credential)) or None
        status = "expired" if subcode == EXPIRED_TOKEN_SUBCODE else "invalid"
        return CredentialReport(status, expires_at, detail)

    async def send_reminder(
        self, credential: ProviderCredential, reminder: ReminderMessage, *, context: str
    ) -> str:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": reminder.to,
            "type": "template",
            "template": {
                "name": reminder.template_name,
                "language": {"code": reminder.template_language},
                "components": [{
                    "type": "body",
                    "parameters": [{"type": "text", "text": value} for value in reminder.parameters],
                }],
            },
        }
        body = await self.request_json(
            "POST", self._url(credential.account_ref, "messages"), credential=credential, context=context,
            sends_message=True, headers=self._auth(credential), json=payload,
        )
        messages = body.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("id"):
            return str(messages[0]["id"])
        # NOTE: the request was accepted (2xx) without a message id, so the message may have gone out.
        raise ProviderResponseError(
            _("Meta accepted the message but returned no message id."), provider=self.provider, status_code=200)

    def error_from_response(self, response: httpx.Response, body: Any, redact: Redactor) -> ProviderError:
        status = response.status_code
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return self.error_without_object(response, redact)

        code = as_int(error.get("code"))
        subcode = as_int(error.get("error_subcode"))
        detail = excerpt(str(error.get("message", "")), redact) or "-"
        where = _("Meta returned HTTP {status}, error {code}{subcode}: {detail}").format(
            status=status, code=code if code is not None else "?",
            subcode=f"/{subcode}" if subcode is not None else "", detail=detail)
        details: dict[str, Any] = {"provider": self.provider, "status_code": status, "code": code, "subcode": subcode}

        if code == INVALID_TOKEN_CODE:
            state = "expired" if subcode == EXPIRED_TOKEN_SUBCODE else "invalid"
            return ProviderAuthError(
                _("The access token is {state}. {where}").format(state=state, where=where),
                credential_status=state, **details)
        if code in PERMISSION_CODES:
            return ProviderAuthError(
                _("The access token lacks a permission. {where}").format(where=where), **details)
        if code in RATE_LIMIT_CODES or status == 429:
            return ProviderRateLimitError(
                _("Rate limited. {where}").format(where=where), retry_after=parse_retry_after(response), **details)
        if code in RECIPIENT_CODES:
            return ProviderRecipientError(_("The recipient cannot receive it. {where}").format(where=where), **details)
        if status >= 500 or code in SERVER_CODES:
            return ProviderServerError(where, retry_after=parse_retry_after(response), **details)
        return ProviderResponseError(_("Meta rejected the request. {where}").format(where=where), **details)


def _epoch_to_datetime(value: Any) -> datetime | None:
    """Convert Graph's ``expires_at`` (Unix seconds, 0 for never) to aware UTC."""
    seconds = as_int(value)
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, UTC)
