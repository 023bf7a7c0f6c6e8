"""Twilio's REST API (2010-04-01) client."""

from __future__ import annotations

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

API_VERSION = "2010-04-01"
# Twilio error codes (https://www.twilio.com/docs/api/errors).
AUTH_CODES = frozenset({20003, 20005})  # authentication failed; account not active
RATE_LIMIT_CODE = 20429
# Invalid "To" number, recipient opted out (replied STOP), "To" is not a mobile number.
RECIPIENT_CODES = frozenset({21211, 21610, 21614})

# Account status → credential status. A closed account never comes back, so its token counts as expired.
ACCOUNT_STATUSES = {"active": "valid", "suspended": "invalid", "closed": "expired"}


class TwilioClient(ProviderClient):
    """Calls on an account SID (``account_ref``) with Basic auth (SID, auth token).

    SMS reminders go out from the credential's ``sender`` number.
    """

    provider: ClassVar[str] = "twilio"
    label: ClassVar[str] = "Twilio"

    def redactor(self, credential: ProviderCredential) -> Redactor:
        return Redactor([credential.secret], basic_user=credential.account_ref)

    def _url(self, sid: str, suffix: str = "") -> str:
        return f"{self.settings.twilio_api_url}/{API_VERSION}/Accounts/{quote(sid, safe='')}{suffix}.json"

    async def check_alive(self, credential: ProviderCredential, *, context: str) -> CredentialReport:
        return await self.fetch_status(credential, context=context)

    async def fetch_status(self, credential: ProviderCredential, *, context: str) -> CredentialReport:
        body = await self.request_json(
            "GET", self._url(credential.account_ref), credential=credential, context=context,
            auth=(credential.account_ref, credential.secret),
        )
        account_status = body.get("status")
        if account_status not in ACCOUNT_STATUSES:
            raise ProviderResponseError(
                _("Twilio returned the account status {status!r}; expected active, suspended or closed.").format(
                    status=str(account_status)[:40]),
                provider=self.provider, status_code=200,
            )
        status = ACCOUNT_STATUSES[str(account_status)]
        detail = None if status == "valid" else _("Twilio account is {status}.").format(status=account_status)
        # Twilio auth tokens do not expire, so there is no expiry to report.
        return CredentialReport(status, None, detail)

    async def send_reminder(
        self, credential: ProviderCredential, reminder: ReminderMessage, *, context: str
    ) -> str:
        if not credential.sender:
            raise ProviderResponseError(
                _("Twilio credential {id} has no sender number; set its From number.").format(id=credential.id),
                provider=self.provider,
            )
        body = await self.request_json(
            "POST", self._url(credential.account_ref, "/Messages"), credential=credential, context=context,
            sends_message=True, auth=(credential.account_ref, credential.secret),
            data={"To": reminder.to, "From": credential.sender, "Body": reminder.text},
        )
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            # NOTE: the request was accepted (2xx) without a message SID, so the message may have gone out.
            raise ProviderResponseError(
                _("Twilio accepted the message but returned no message SID."), provider=self.provider,
                status_code=200)
        return sid

    def error_from_response(self, response: httpx.Response, body: Any, redact: Redactor) -> ProviderError:
        status = response.status_code
        if not isinstance(body, dict) or "code" not in body:
            return self.error_without_object(response, redact)

        code = as_int(body.get("code"))
        detail = excerpt(str(body.get("message", "")), redact) or "-"
        where = _("Twilio returned HTTP {status}, error {code}: {detail}").format(
            status=status, code=code if code is not None else "?", detail=detail)
        details: dict[str, Any] = {"provider": self.provider, "status_code": status, "code": code}

        if code in AUTH_CODES or status == 401:
            return ProviderAuthError(_("The auth token was rejected. {where}").format(where=where), **details)
        if code == RATE_LIMIT_CODE or status == 429:
            return ProviderRateLimitError(
                _("Rate limited. {where}").format(where=where), retry_after=parse_retry_after(response), **details)
        if code in RECIPIENT_CODES:
            return ProviderRecipientError(_("The recipient cannot receive it. {where}").format(where=where), **details)
        if status >= 500:
            return ProviderServerError(where, retry_after=parse_retry_after(response), **details)
        return ProviderResponseError(_("Twilio rejected the request. {where}").format(where=where), **details)
