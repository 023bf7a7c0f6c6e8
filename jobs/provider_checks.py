"""validate-credentials and sync-credentials: ask Meta and Twilio about each credential.

validate-credentials asks whether each credential still works (Meta: the
phone-number id with the token; Twilio: the account with the SID and auth
token). sync-credentials asks what the provider reports about it (Meta:
``debug_token`` for validity and expiry; Twilio: the account status) and
stores the expiry. Both set ``status`` to ``valid``, ``invalid`` or
``expired``, keep the provider's error in ``last_error`` and alert on every
credential that stopped working. Calls run concurrently, at most
``provider_concurrency`` per provider. Credentials whose secret was erased are
skipped. A dry run asks the providers (read-only calls) but writes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from console.i18n import _
from jobs.context import JobContext, Summary
from jobs.errors import CronConsoleError
from jobs.providers import (
    CredentialReport,
    ProviderAuthError,
    ProviderCredential,
    ProviderError,
    ProviderHub,
    mask_secret,
)
from storage.db import Database, from_db, to_db
from storage.models import PROVIDERS, Business, Credential

BROKEN_STATUSES = ("invalid", "expired")


class ProviderNotConfiguredError(CronConsoleError):
    """``ctx.providers`` contains something that is not a :class:`ProviderHub`."""

    title = "No provider client"


@asynccontextmanager
async def provider_hub(ctx: JobContext) -> AsyncIterator[ProviderHub]:
    """Yield the engine's hub, or a hub of the run's own that is closed when the run ends."""
    if isinstance(ctx.providers, ProviderHub):
        yield ctx.providers
        return
    if ctx.providers is not None:
        raise ProviderNotConfiguredError(
            _("The engine passed {kind} as the provider clients; expected a ProviderHub.").format(
                kind=type(ctx.providers).__name__))
    hub = ProviderHub(ctx.settings)
    try:
        yield hub
    finally:
        await hub.aclose()


@dataclass(frozen=True)
class CredentialRow:
    """A credential as loaded for a check, with what an alert needs to name it."""

    credential: ProviderCredential
    business_name: str
    status: str
    expires_at: datetime | None

    @property
    def label(self) -> str:
        """The credential as operators see it: provider, account and the secret's last four characters."""
        cred = self.credential
        return f"{cred.provider} {cred.account_ref} ({mask_secret(cred.secret)}, {self.business_name})"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check. ``report`` is None when the provider could not be asked."""

    row: CredentialRow
    report: CredentialReport | None
    error: str | None

    @property
    def new_status(self) -> str:
        return self.report.status if self.report is not None else self.row.status


async def validate_credentials(ctx: JobContext) -> Summary:
    """Ask each provider whether each credential works; set its status and ``last_validated_at``.

    Summary: ``examined``, ``valid``, ``invalid``, ``expired``, ``errors``
    (provider unreachable, status left as it was), ``changed`` (status
    changes), ``skipped_erased``, ``alerts``.
    """
    return await _check_all(ctx, sync=False)


async def sync_credentials(ctx: JobContext) -> Summary:
    """Store what each provider reports about each credential: status, ``expires_at``, ``synced_at``.

    Alerts on credentials that stopped working and on credentials expiring
    within ``credential_expiry_warning_days``. Summary: the counts of
    validate-credentials plus ``expiring_soon``.
    """
    return await _check_all(ctx, sync=True)


async def _check_all(ctx: JobContext, *, sync: bool) -> Summary:
    rows, erased = await asyncio.to_thread(load_credentials, ctx.database)
    ctx.logger.info("Checking %s credentials (%s with an erased secret skipped)", len(rows), erased)

    async with provider_hub(ctx) as hub:
        results = await asyncio.gather(*(_check_one(ctx, hub, row, sync=sync) for row in rows))

    # Record the outcomes (a dry run only reports them).
    if not ctx.dry_run:
        await asyncio.to_thread(save_results, ctx.database, results, checked_at=ctx.now, sync=sync)

    counts: Counter[str] = Counter(result.new_status for result in results if result.report is not None)
    summary: Summary = {
        "examined": len(rows),
        "valid": counts["valid"],
        "invalid": counts["invalid"],
        "expired": counts["expired"],
        "errors": sum(1 for result in results if result.report is None),
        "changed": sum(1 for result in results if result.new_status != result.row.status),
        "skipped_erased": erased,
    }
    alerts = _raise_stopped_working(ctx, results)
    if sync:
        expiring = _expiring_soon(ctx, results)
        summary["expiring_soon"] = len(expiring)
        alerts += _raise_expiring(ctx, expiring)
    summary["alerts"] = alerts
    return summary


async def _check_one(ctx: JobContext, hub: ProviderHub, row: CredentialRow, *, sync: bool) -> CheckResult:
    ctx.check_cancelled()
    credential = row.credential
    client = hub.client(credential.provider)
    context = f"credential {credential.id}"
    try:
        if sync:
            report = await client.fetch_status(credential, context=context)
        else:
            report = await client.check_alive(credential, context=context)
    except ProviderAuthError as error:
        ctx.logger.warning("Credential %s (%s) was rejected: %s", credential.id, credential.provider, error)
        return CheckResult(row, CredentialReport(error.credential_status, row.expires_at, error.message), error.message)
    except ProviderError as error:
        ctx.logger.error("Could not check credential %s (%s): %s", credential.id, credential.provider, error)
        return CheckResult(row, None, error.message)

    # A token the provider still accepts is expired once its expiry has passed.
    if report.status == "valid" and report.expires_at is not None and report.expires_at <= ctx.now:
        report = CredentialReport("expired", report.expires_at, _("The token expired at {when}.").format(
            when=ctx.local_time(report.expires_at)))
    ctx.logger.debug("Credential %s (%s) is %s", credential.id, credential.provider, report.status)
    return CheckResult(row, report, report.detail)


def _raise_stopped_working(ctx: JobContext, results: Sequence[CheckResult]) -> int:
    """Raise one critical alert per credential whose status just turned invalid or expired."""
    alerts = 0
    for result in results:
        if result.new_status in BROKEN_STATUSES and result.row.status not in BROKEN_STATUSES:
            ctx.raise_alert("credential_stopped_working", "critical", _(
                "Credential {credential} stopped working: {status}. {error} "
                "Replace the token in the agent's settings."
            ).format(credential=result.row.label, status=result.new_status, error=result.error or ""))
            alerts += 1
    return alerts


def _expiring_soon(ctx: JobContext, results: Sequence[CheckResult]) -> list[CheckResult]:
    horizon = ctx.now + timedelta(days=ctx.settings.credential_expiry_warning_days)
    return [
        result for result in results
        if result.report is not None and result.report.status == "valid"
        and result.report.expires_at is not None and ctx.now < result.report.expires_at <= horizon
    ]


def _raise_expiring(ctx: JobContext, expiring: Sequence[CheckResult]) -> int:
    for result in expiring:
        assert result.report is not None and result.report.expires_at is not None
        days_left = (result.report.expires_at - ctx.now).total_seconds() / 86400
        ctx.raise_alert("credential_expiring", "warning", _(
            "Credential {credential} expires on {when} (in {days:.1f} days); renew the token before then."
        ).format(credential=result.row.label, when=ctx.local_time(result.report.expires_at),
                 days=days_left))
    return len(expiring)


# --- Database work (runs in a worker thread) ---------------------------------


def load_credentials(database: Database) -> tuple[list[CredentialRow], int]:
    """Return the credentials that still have a secret, and the number whose secret was erased."""
    with database.session() as session:
        return select_checkable_credentials(session=session)


def select_checkable_credentials(*, session: Session) -> tuple[list[CredentialRow], int]:
    statement = (
        select(Credential, Business.name)
        .join(Business, col(Business.id) == col(Credential.business_id))
        .where(col(Credential.provider).in_(PROVIDERS))
        .order_by(col(Credential.id))
    )
    rows: list[CredentialRow] = []
    erased = 0
    for credential, business_name in session.exec(statement):
        if not credential.secret or credential.secret_erased_at is not None:
            erased += 1
            continue
        assert credential.id is not None
        rows.append(CredentialRow(
            ProviderCredential(credential.id, credential.provider, credential.account_ref, credential.secret,
                               credential.sender),
            business_name, credential.status, from_db(credential.expires_at),
        ))
    return rows, erased


def save_results(database: Database, results: Sequence[CheckResult], *, checked_at: datetime, sync: bool) -> None:
    """Store each check result. A check that got no usable response only updates ``last_error``."""
    with database.session() as session:
        for result in results:
            credential = session.get(Credential, result.row.credential.id)
            if credential is None or credential.secret_erased_at is not None:
                continue  # deleted or erased while the run was asking the provider
            credential.last_error = result.error
            if result.report is not None:
                credential.status = result.report.status
                if sync:
                    credential.expires_at = to_db(result.report.expires_at)
                    credential.synced_at = to_db(checked_at)
                else:
                    credential.last_validated_at = to_db(checked_at)
            session.add(credential)
