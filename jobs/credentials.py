"""cleanup-expired-credentials: mark credentials past expiry, then erase their secret."""

from __future__ import annotations

from datetime import timedelta

from console.i18n import ngettext
from jobs.context import JobContext, Summary, batch_hooks
from storage.db import to_db
from storage.queries import (
    CREDENTIALS,
    count_by,
    count_rows,
    credentials_past_expiry,
    credentials_with_secret_expired_before,
    update_in_batches,
)


def cleanup_expired_credentials(ctx: JobContext) -> Summary:
    """Set ``expired`` on credentials whose ``expires_at`` has passed, and erase old secrets.

    A credential that expired more than ``CRON_EXPIRED_CREDENTIAL_GRACE_DAYS``
    ago loses its secret (set to NULL, ``secret_erased_at`` set to the run's
    instant), so that no dead token stays in the database. Secrets are never
    read: the queries only test them for NULL. Newly expired credentials raise
    one warning alert, erased secrets one info alert. Summary: ``expired``,
    ``erased``, ``alerts``.

    NOTE: a credential that a provider reported ``expired`` but whose
    ``expires_at`` is unknown (NULL) keeps its secret, because the grace
    period has no start to count from.
    """
    grace_cutoff = ctx.now - timedelta(days=ctx.settings.expired_credential_grace_days)
    to_expire = credentials_past_expiry(ctx.now)
    to_erase = credentials_with_secret_expired_before(grace_cutoff)
    batch_size = ctx.settings.delete_batch_size
    with ctx.database.session() as session:
        expiring_by_provider = count_by(CREDENTIALS, "provider", to_expire, session=session)
        erasable = count_rows(CREDENTIALS, to_erase, session=session)
    expiring = sum(expiring_by_provider.values())

    if ctx.dry_run:
        ctx.logger.info("Dry run: would mark %s credentials expired and erase %s secrets", expiring, erasable)
        expired, erased = expiring, erasable
    else:
        ctx.progress.update({"expired": 0, "erased": 0, "alerts": 0})
        expired = update_in_batches(
            ctx.database, CREDENTIALS, to_expire, {"status": "expired"},
            order_by=[CREDENTIALS.c.expires_at], batch_size=batch_size,
            **batch_hooks(ctx, "expired"),
        ).rows
        # Erasing also sets the status: the filter does not require "expired",
        # so a credential that expired long ago and was never marked is covered.
        erased = update_in_batches(
            ctx.database, CREDENTIALS, to_erase,
            {"secret": None, "secret_erased_at": to_db(ctx.now), "status": "expired"},
            order_by=[CREDENTIALS.c.expires_at], batch_size=batch_size,
            **batch_hooks(ctx, "erased"),
        ).rows
        ctx.logger.info("Marked %s credentials expired and erased %s secrets", expired, erased)

    alerts = 0
    if expired:
        providers = ", ".join(f"{provider}: {count}" for provider, count in sorted(expiring_by_provider.items()))
        ctx.raise_alert("credentials_expired", "warning", ngettext(
            "{count} credential has passed its expiry date and is now marked expired ({providers}).",
            "{count} credentials have passed their expiry date and are now marked expired ({providers}).",
            expired,
        ).format(count=expired, providers=providers))
        alerts += 1
    if erased:
        ctx.raise_alert("credential_secrets_erased", "info", ngettext(
            "Erased the secret of {count} credential expired for more than {days} days.",
            "Erased the secrets of {count} credentials expired for more than {days} days.",
            erased,
        ).format(count=erased, days=ctx.settings.expired_credential_grace_days))
        alerts += 1
    return {"expired": expired, "erased": erased, "alerts": alerts}
