"""validate-credentials and sync-credentials: ask Meta and Twilio about each credential."""

from __future__ import annotations

from console.i18n import _
from jobs.context import JobContext, Summary
from jobs.errors import CronConsoleError


class ProviderNotConfiguredError(CronConsoleError):
    title = "No provider client"


async def validate_credentials(ctx: JobContext) -> Summary:
    # TODO: replace with the provider clients; until then the job reports that none is configured.
    raise ProviderNotConfiguredError(_("No provider client is configured, so credentials cannot be validated."))


async def sync_credentials(ctx: JobContext) -> Summary:
    raise ProviderNotConfiguredError(_("No provider client is configured, so credentials cannot be synced."))
