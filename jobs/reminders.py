"""reservation-reminders: remind customers of confirmed reservations over WhatsApp or SMS."""

from __future__ import annotations

from console.i18n import _
from jobs.context import JobContext, Summary
from jobs.provider_checks import ProviderNotConfiguredError


async def reservation_reminders(ctx: JobContext) -> Summary:
    # TODO: replace with the provider clients; until then the job reports that none is configured.
    raise ProviderNotConfiguredError(_("No provider client is configured, so no reminder can be sent."))
