"""reservation-reminders: remind customers of confirmed reservations over WhatsApp or SMS.

A run selects ``confirmed`` reservations on the ``whatsapp`` or ``sms`` channel
that start within ``reminder_lead_hours``, have no reminder yet, no uncertain
one, and fewer than ``reminder_max_attempts`` attempts. Each is skipped with a
reason (business has reminders off, no usable credential, no Twilio sender,
quiet hours in the business's time zone) or sent through the business's
credential: WhatsApp reservations through Meta, SMS ones through Twilio, at
most ``provider_concurrency`` requests in flight per provider.

No reminder is sent twice. Before sending, a run claims a batch of
reservations by setting ``reminder_uncertain_at``. The outcome of each send
then clears the claim (sent or failed) or keeps it (the provider may have the
message: a read time-out, a dropped connection or a cancelled run). A claimed
reservation is never selected again, so a crash mid-send leaves it uncertain
rather than sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from console.i18n import _, ngettext
from jobs.context import JobCancelled, JobContext, Summary
from jobs.provider_checks import ProviderNotConfiguredError, provider_hub
from jobs.providers import (
    ProviderAuthError,
    ProviderClient,
    ProviderCredential,
    ProviderError,
    ProviderHub,
    ProviderRecipientError,
    ProviderUncertainError,
    ReminderMessage,
    mask_secret,
)
from jobs.settings import Settings
from storage.db import Database, from_db, to_db
from storage.models import Business, Credential, Reservation

__all__ = ["ProviderNotConfiguredError", "reservation_reminders"]

CHANNEL_PROVIDERS = {"whatsapp": "meta", "sms": "twilio"}
SKIP_REASONS = (
    "skipped_business_disabled",
    "skipped_no_credential",
    "skipped_credential_invalid",
    "skipped_no_sender",
    "skipped_quiet_hours",
)
# Reservations in the alert that lists uncertain reminders; the rest are counted.
MAX_IDS_IN_ALERT = 20
# Outcomes are written in batches of this size, or at least this often (seconds).
WRITE_BATCH = 100
WRITE_INTERVAL = 0.25
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_RESERVATIONS = Reservation.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class PlannedReminder:
    """A reservation the run will remind, with the credential and the rendered message."""

    reservation_id: int
    attempts: int
    credential: ProviderCredential
    message: ReminderMessage

    @property
    def provider(self) -> str:
        return self.credential.provider


@dataclass
class ReminderPlan:
    """The run's selection: what to send and how many were skipped, by reason."""

    examined: int = 0
    to_send: list[PlannedReminder] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class SendOutcome:
    """The outcome of one send. ``kind``: sent, failed, rejected_credential, uncertain or released."""

    reminder: PlannedReminder
    kind: str
    at: datetime
    message_id: str | None = None
    error: str | None = None


async def reservation_reminders(ctx: JobContext) -> Summary:
    """Send the reminders due at ``ctx.now``; return the counts of sent, failed, uncertain and skipped.

    Summary keys: ``examined``, ``sent``, ``failed``, ``uncertain``, the
    ``skipped_*`` reasons, ``skipped_claimed_elsewhere`` (another run took the
    reservation first) and ``alerts``. A dry run selects and classifies the
    same reservations, sends nothing, logs each reminder it would send and
    reports them as ``sent``.
    """
    summary: Summary = {"examined": 0, "sent": 0, "failed": 0, "uncertain": 0,
                        **dict.fromkeys(SKIP_REASONS, 0), "skipped_claimed_elsewhere": 0, "alerts": 0}
    if not ctx.settings.reminders_enabled:
        ctx.logger.warning("Reminders are off (CRON_REMINDERS_ENABLED=false); nothing to do")
        return summary

    plan = await asyncio.to_thread(plan_reminders, ctx.database, ctx.settings, now=ctx.now)
    summary["examined"] = plan.examined
    summary.update(plan.skipped)
    ctx.logger.info("%s reservations due for a reminder: %s to send, skipped %s",
                    plan.examined, len(plan.to_send), dict(plan.skipped) or "none")

    if ctx.dry_run:
        for reminder in plan.to_send:
            ctx.logger.info("Would send reservation %s a reminder via %s (credential %s): %s",
                            reminder.reservation_id, reminder.provider, reminder.credential.id,
                            reminder.message.text)
        summary["sent"] = len(plan.to_send)
        return summary

    if plan.to_send:
        async with provider_hub(ctx) as hub:
            run = _SendRun(ctx, hub)
            await run.send_all(plan.to_send)
        for key, count in run.counts().items():
            summary[key] += count
        summary["alerts"] = run.raise_alerts()
    return summary


# --- Selection and rendering ---------------------------------------------------


def plan_reminders(database: Database, settings: Settings, *, now: datetime) -> ReminderPlan:
    """Select the reservations due for a reminder at ``now`` and classify each (runs in a thread)."""
    with database.session() as session:
        rows = select_due_reservations(session=session, now=now, settings=settings)
        business_ids = {business.id for _reservation, business in rows if business.id is not None}
        credentials = select_credentials(session=session, business_ids=business_ids)

    plan = ReminderPlan(examined=len(rows))
    quiet = parse_quiet_hours(settings.reminder_quiet_hours)
    for reservation, business in rows:
        reason, credential = classify(reservation, business, credentials, now=now, quiet=quiet, settings=settings)
        if reason is not None:
            plan.skipped[reason] += 1
            continue
        assert credential is not None and reservation.id is not None
        plan.to_send.append(PlannedReminder(
            reservation.id, reservation.reminder_attempts, credential,
            render_message(reservation, business, settings),
        ))
    return plan


def select_due_reservations(*, session: Session, now: datetime, settings: Settings) -> list[tuple[Reservation, Business]]:
    """Return reservations due for a reminder with their business, soonest first."""
    statement = (
        select(Reservation, Business)
        .join(Business, col(Business.id) == col(Reservation.business_id))
        .where(
            col(Reservation.status) == "confirmed",
            col(Reservation.channel).in_(tuple(CHANNEL_PROVIDERS)),
            col(Reservation.reminder_sent_at).is_(None),
            col(Reservation.reminder_uncertain_at).is_(None),
            col(Reservation.reminder_attempts) < settings.reminder_max_attempts,
            col(Reservation.starts_at) > to_db(now),
            col(Reservation.starts_at) <= to_db(now + timedelta(hours=settings.reminder_lead_hours)),
        )
        .order_by(col(Reservation.starts_at), col(Reservation.id))
    )
    return [(reservation, business) for reservation, business in session.exec(statement)]


def select_credentials(*, session: Session, business_ids: Iterable[int]) -> dict[tuple[int, str], list[Credential]]:
    """Return the credentials of ``business_ids`` by (business id, provider)."""
    ids = sorted(business_ids)
    found: dict[tuple[int, str], list[Credential]] = {}
    if not ids:
        return found
    statement = select(Credential).where(col(Credential.business_id).in_(ids)).order_by(col(Credential.id))
    for credential in session.exec(statement):
        found.setdefault((credential.business_id, credential.provider), []).append(credential)
    return found


def classify(
    reservation: Reservation,
    business: Business,
    credentials: dict[tuple[int, str], list[Credential]],
    *,
    now: datetime,
    quiet: tuple[time, time] | None,
    settings: Settings,
) -> tuple[str | None, ProviderCredential | None]:
    """Return (skip reason, None) or (None, the credential to send through)."""
    if not business.reminders_enabled:
        return "skipped_business_disabled", None

    provider = CHANNEL_PROVIDERS[reservation.channel]
    with_secret = [
        credential for credential in credentials.get((reservation.business_id, provider), [])
        if credential.secret and credential.secret_erased_at is None
    ]
    if not with_secret:
        return "skipped_no_credential", None
    working = [
        credential for credential in with_secret
        if credential.status in ("valid", "unknown")
        and (credential.expires_at is None or from_db(credential.expires_at) > now)
    ]
    if not working:
        return "skipped_credential_invalid", None
    # Prefer a credential last seen valid over one never checked.
    chosen = min(working, key=lambda credential: (credential.status != "valid", credential.id or 0))
    if provider == "twilio" and not chosen.sender:
        return "skipped_no_sender", None

    if quiet is not None and in_quiet_hours(now.astimezone(business_zone(business, settings)).time(), quiet):
        return "skipped_quiet_hours", None

    assert chosen.id is not None and chosen.secret is not None
    return None, ProviderCredential(chosen.id, provider, chosen.account_ref, chosen.secret, chosen.sender)


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """Read ``HH:MM-HH:MM`` (validated by the settings); empty or a zero-length interval means none."""
    if not value.strip():
        return None
    start_text, end_text = (part.strip() for part in value.split("-"))
    start, end = time.fromisoformat(start_text.zfill(5)), time.fromisoformat(end_text.zfill(5))
    return None if start == end else (start, end)


def in_quiet_hours(local: time, quiet: tuple[time, time]) -> bool:
    """Tell whether ``local`` falls in [start, end); an interval with start > end wraps past midnight."""
    start, end = quiet
    if start < end:
        return start <= local < end
    return local >= start or local < end


def business_zone(business: Business, settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(business.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        # NOTE: an unknown zone falls back to CRON_TIMEZONE, so quiet hours may be off by the difference.
        return settings.zone()


def render_message(reservation: Reservation, business: Business, settings: Settings) -> ReminderMessage:
    """Render the reminder in the business's language (ro, else en) and its local time."""
    language = "ro" if business.language.lower().startswith("ro") else "en"
    local = from_db(reservation.starts_at).astimezone(business_zone(business, settings))
    if language == "ro":
        starts_at_local = local.strftime("%d.%m.%Y, %H:%M")
        template, template_language = settings.reminder_template_ro, settings.whatsapp_template_language_ro
    else:
        starts_at_local = f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M}"
        template, template_language = settings.reminder_template_en, settings.whatsapp_template_language_en
    values = {
        "customer_name": reservation.customer_name,
        "business_name": business.name,
        "starts_at_local": starts_at_local,
        "party_size": str(reservation.party_size),
    }
    # Settings accept only these four bare placeholders, so format_map cannot reach attributes.
    text = string.Formatter().vformat(template, (), values)
    return ReminderMessage(
        to="".join(reservation.customer_phone.split()),
        text=text,
        template_name=settings.whatsapp_template_name,
        template_language=template_language,
        parameters=(values["customer_name"], values["business_name"], values["starts_at_local"],
                    values["party_size"]),
    )


# --- Sending -----------------------------------------------------------------------


class _SendRun:
    """The sending half of one run: claims, concurrent sends per provider, batched outcome writes."""

    def __init__(self, ctx: JobContext, hub: ProviderHub) -> None:
        self.ctx = ctx
        self.hub = hub
        self.outcomes: list[SendOutcome] = []
        self.pending: list[SendOutcome] = []
        self.claimed_waiting: set[int] = set()  # claimed but not yet handed to a send
        self.claimed_elsewhere = 0
        self.rejected: dict[int, ProviderAuthError] = {}  # credential id → the rejection
        self._wakeup = asyncio.Event()
        self._finished = False

    async def send_all(self, reminders: Sequence[PlannedReminder]) -> None:
        by_provider: dict[str, list[PlannedReminder]] = {}
        for reminder in reminders:
            by_provider.setdefault(reminder.provider, []).append(reminder)

        writer = asyncio.create_task(self._write_loop())
        try:
            async with asyncio.TaskGroup() as group:
                for provider, items in by_provider.items():
                    group.create_task(self._send_provider(self.hub.client(provider), items))
        except BaseExceptionGroup as failures:
            raise _first_failure(failures) from None
        finally:
            # Runs also when the run is cancelled: release the claims never sent and
            # store every outcome known so far, so that no sent reminder goes out again.
            self._finished = True
            self._wakeup.set()
            await asyncio.gather(writer, return_exceptions=True)
            await self._release_waiting()
            await self._flush()
            await self._mark_rejected_credentials()

    async def _send_provider(self, client: ProviderClient, reminders: list[PlannedReminder]) -> None:
        concurrency = self.ctx.settings.provider_concurrency
        claim_size = max(16, 2 * concurrency)
        queue: asyncio.Queue[PlannedReminder | None] = asyncio.Queue(maxsize=claim_size)

        async def feed() -> None:
            for start in range(0, len(reminders), claim_size):
                self.ctx.check_cancelled()
                chunk = reminders[start:start + claim_size]
                claimed = await asyncio.to_thread(
                    claim_reservations, self.ctx.database, [item.reservation_id for item in chunk],
                    at=self.ctx.clock.now())
                self.claimed_elsewhere += len(chunk) - len(claimed)
                for item in chunk:
                    if item.reservation_id in claimed:
                        self.claimed_waiting.add(item.reservation_id)
                        await queue.put(item)
            for _worker in range(concurrency):
                await queue.put(None)

        async def work() -> None:
            while (item := await queue.get()) is not None:
                self.claimed_waiting.discard(item.reservation_id)
                self._record(await self._send_one(client, item))

        async with asyncio.TaskGroup() as group:
            group.create_task(feed())
            for _worker in range(concurrency):
                group.create_task(work())

    async def _send_one(self, client: ProviderClient, reminder: PlannedReminder) -> SendOutcome:
        credential = reminder.credential
        now = self.ctx.clock.now
        if credential.id in self.rejected:
            return SendOutcome(reminder, "released", now())
        try:
            self.ctx.check_cancelled()
        except JobCancelled:
            self._record(SendOutcome(reminder, "released", now()))
            raise

        context = f"reminder for reservation {reminder.reservation_id} (credential {credential.id})"
        try:
            message_id = await client.send_reminder(credential, reminder.message, context=context)
        except ProviderAuthError as error:
            self.rejected.setdefault(credential.id, error)
            self.ctx.logger.error("Credential %s rejected by %s, reminder for reservation %s not sent: %s",
                                  credential.id, client.label, reminder.reservation_id, error)
            return SendOutcome(reminder, "rejected_credential", now(), error=error.message)
        except ProviderUncertainError as error:
            self.ctx.logger.error("Reminder for reservation %s may have been sent (%s): %s",
                                  reminder.reservation_id, client.label, error)
            return SendOutcome(reminder, "uncertain", now(), error=error.message)
        except ProviderRecipientError as error:
            self.ctx.logger.warning("Reminder for reservation %s rejected for its recipient: %s",
                                    reminder.reservation_id, error)
            return SendOutcome(reminder, "failed", now(), error=error.message)
        except ProviderError as error:
            self.ctx.logger.error("Reminder for reservation %s failed via %s: %s",
                                  reminder.reservation_id, client.label, error)
            return SendOutcome(reminder, "failed", now(), error=error.message)
        except asyncio.CancelledError:
            # The request may have left: keep the claim so that it is never sent again.
            self._record(SendOutcome(reminder, "uncertain", now(), error=_(
                "The run was cancelled while the reminder was being sent; it may have been delivered.")))
            raise
        self.ctx.logger.debug("Reminder for reservation %s sent via %s as %s",
                              reminder.reservation_id, client.label, message_id)
        return SendOutcome(reminder, "sent", now(), message_id=message_id)

    def _record(self, outcome: SendOutcome) -> None:
        self.outcomes.append(outcome)
        self.pending.append(outcome)
        if len(self.pending) >= WRITE_BATCH:
            self._wakeup.set()

    async def _write_loop(self) -> None:
        while not self._finished:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), WRITE_INTERVAL)
            self._wakeup.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self.pending = self.pending, []
        if batch:
            await asyncio.to_thread(save_outcomes, self.ctx.database, batch)

    async def _release_waiting(self) -> None:
        waiting, self.claimed_waiting = sorted(self.claimed_waiting), set()
        if waiting:
            await asyncio.to_thread(release_claims, self.ctx.database, waiting)

    async def _mark_rejected_credentials(self) -> None:
        if self.rejected:
            await asyncio.to_thread(mark_credentials_rejected, self.ctx.database, self.rejected)

    def counts(self) -> dict[str, int]:
        kinds = Counter(outcome.kind for outcome in self.outcomes)
        return {
            "sent": kinds["sent"],
            "failed": kinds["failed"] + kinds["rejected_credential"],
            "uncertain": kinds["uncertain"],
            "skipped_credential_invalid": kinds["released"],
            "skipped_claimed_elsewhere": self.claimed_elsewhere,
        }

    def raise_alerts(self) -> int:
        """Raise one alert per rejected credential and one for all uncertain reminders."""
        alerts = 0
        for credential_id, error in sorted(self.rejected.items()):
            reminder = next(o.reminder for o in self.outcomes if o.reminder.credential.id == credential_id)
            credential = reminder.credential
            self.ctx.raise_alert("credential_stopped_working", "critical", _(
                "Credential {provider} {account} ({secret}) was rejected while sending reminders; it is now "
                "marked {status} and its reminders wait. {error}"
            ).format(provider=credential.provider, account=credential.account_ref,
                     secret=mask_secret(credential.secret), status=error.credential_status, error=error.message))
            alerts += 1

        uncertain = sorted(o.reminder.reservation_id for o in self.outcomes if o.kind == "uncertain")
        if uncertain:
            shown = ", ".join(str(reservation_id) for reservation_id in uncertain[:MAX_IDS_IN_ALERT])
            more = len(uncertain) - MAX_IDS_IN_ALERT
            if more > 0:
                shown += _(" and {count} more").format(count=more)
            self.ctx.raise_alert("reminder_uncertain", "warning", ngettext(
                "{count} reminder may have been delivered without confirmation (reservation {ids}). "
                "It will not be sent again automatically; check with the customer.",
                "{count} reminders may have been delivered without confirmation (reservations {ids}). "
                "They will not be sent again automatically; check with the customers.",
                len(uncertain),
            ).format(count=len(uncertain), ids=shown))
            alerts += 1
        return alerts


def _first_failure(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """Pick the exception to re-raise from a task group: a cancellation first, else the first error."""
    leaves: list[BaseException] = []

    def collect(group: BaseExceptionGroup[BaseException]) -> None:
        for exception in group.exceptions:
            if isinstance(exception, BaseExceptionGroup):
                collect(exception)
            else:
                leaves.append(exception)

    collect(failures)
    for exception in leaves:
        if isinstance(exception, JobCancelled | asyncio.CancelledError):
            return exception
    return leaves[0]


# --- Database work (runs in a worker thread) ---------------------------------------


def claim_reservations(database: Database, reservation_ids: Sequence[int], *, at: datetime) -> set[int]:
    """Mark still-unreminded reservations as in flight; return the ids this run claimed."""
    statement = (
        update(_RESERVATIONS)
        .where(
            _RESERVATIONS.c.id.in_(reservation_ids),
            _RESERVATIONS.c.reminder_sent_at.is_(None),
            _RESERVATIONS.c.reminder_uncertain_at.is_(None),
        )
        .values(reminder_uncertain_at=to_db(at))
        .returning(_RESERVATIONS.c.id)
    )
    with database.session() as session:
        return {row[0] for row in session.connection().execute(statement)}


def release_claims(database: Database, reservation_ids: Sequence[int]) -> None:
    """Clear the claim of reservations whose reminder was never sent."""
    statement = update(_RESERVATIONS).where(_RESERVATIONS.c.id.in_(reservation_ids)).values(reminder_uncertain_at=None)
    with database.session() as session:
        session.connection().execute(statement)


def save_outcomes(database: Database, outcomes: Sequence[SendOutcome]) -> None:
    """Store a batch of send outcomes on their reservations, one transaction per batch.

    ``sent``, ``failed`` and ``uncertain`` count an attempt. ``rejected_credential``
    does not, because the reservation was not at fault. ``uncertain`` keeps the
    claim (``reminder_uncertain_at``), and ``released`` only clears it.
    """
    rows: dict[str, list[dict[str, object]]] = {}
    for outcome in outcomes:
        reminder = outcome.reminder
        row: dict[str, object] = {"b_id": reminder.reservation_id}
        if outcome.kind == "sent":
            row |= {"sent_at": to_db(outcome.at), "attempts": reminder.attempts + 1,
                    "message_id": outcome.message_id}
        elif outcome.kind in ("failed", "uncertain"):
            row |= {"attempts": reminder.attempts + 1, "error": outcome.error}
        elif outcome.kind == "rejected_credential":
            row |= {"error": outcome.error}
        if outcome.kind == "uncertain":
            row["uncertain_at"] = to_db(outcome.at)
        rows.setdefault(outcome.kind, []).append(row)

    table = _RESERVATIONS
    by_id = table.c.id == bindparam("b_id")
    statements = {
        "sent": update(table).where(by_id).values(
            reminder_sent_at=bindparam("sent_at"), reminder_attempts=bindparam("attempts"),
            reminder_message_id=bindparam("message_id"), last_reminder_error=None, reminder_uncertain_at=None),
        "failed": update(table).where(by_id).values(
            reminder_attempts=bindparam("attempts"), last_reminder_error=bindparam("error"),
            reminder_uncertain_at=None),
        "uncertain": update(table).where(by_id).values(
            reminder_attempts=bindparam("attempts"), last_reminder_error=bindparam("error"),
            reminder_uncertain_at=bindparam("uncertain_at")),
        "rejected_credential": update(table).where(by_id).values(
            last_reminder_error=bindparam("error"), reminder_uncertain_at=None),
        "released": update(table).where(by_id).values(reminder_uncertain_at=None),
    }
    with database.session() as session:
        connection = session.connection()
        for kind, parameters in rows.items():
            connection.execute(statements[kind], parameters)


def mark_credentials_rejected(database: Database, rejected: dict[int, ProviderAuthError]) -> None:
    """Store the status and error of credentials a provider rejected during the run."""
    with database.session() as session:
        for credential_id, error in rejected.items():
            credential = session.get(Credential, credential_id)
            if credential is None:
                continue
            credential.status = error.credential_status
            credential.last_error = error.message
            session.add(credential)
