"""validate-credentials and sync-credentials against the simulator, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from jobs.clock import local_time
from jobs.context import JobContext, Summary
from jobs.provider_checks import ProviderNotConfiguredError, sync_credentials, validate_credentials
from jobs.providers.simulator import SimulatorServer
from storage.db import Database, from_db
from storage.models import Alert
from tests.conftest import DEFAULT_NOW
from tests.provider_fixtures import (
    add_business,
    add_credential,
    fast_hub,
    get_credential,
    provider_settings,
)

MakeContext = Callable[..., JobContext]


def context(make_context: MakeContext, simulator: SimulatorServer, job_id: str, *, dry_run: bool = False,
            **overrides: object) -> JobContext:
    return make_context(job_id, dry_run=dry_run, **provider_settings(simulator, **overrides))


async def validate(ctx: JobContext) -> Summary:
    async with fast_hub(ctx.settings) as hub:
        ctx.providers = hub
        return await validate_credentials(ctx)


async def sync(ctx: JobContext) -> Summary:
    async with fast_hub(ctx.settings) as hub:
        ctx.providers = hub
        return await sync_credentials(ctx)


def alerts(database: Database) -> list[Alert]:
    with database.session() as session:
        return list(session.exec(select(Alert).order_by(Alert.id)))  # type: ignore[arg-type]


@pytest.fixture
def credentials(database: Database) -> dict[str, int]:
    """One credential per token state and provider, plus one with an erased secret."""
    business = add_business(database, "Bistro Central")
    ids = {
        f"{provider}-{state}": add_credential(database, business, provider, f"demo-{provider}-{state}-1")
        for provider in ("meta", "twilio") for state in ("valid", "invalid", "expired", "expiring")
    }
    ids["erased"] = add_credential(database, business, "meta", None, status="expired",
                                   secret_erased_at=DEFAULT_NOW - timedelta(days=1))
    return ids


async def test_validate_sets_statuses(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    summary = await validate(context(make_context, simulator, "validate-credentials"))

    expected = {
        "meta-valid": "valid", "meta-invalid": "invalid", "meta-expired": "expired", "meta-expiring": "valid",
        "twilio-valid": "valid", "twilio-invalid": "invalid", "twilio-expired": "expired",
        "twilio-expiring": "valid",
    }
    for name, status in expected.items():
        stored = get_credential(database, credentials[name])
        assert (name, stored.status) == (name, status)
        assert from_db(stored.last_validated_at) == DEFAULT_NOW
        assert (stored.last_error is None) == (status == "valid")
    assert summary == {"examined": 8, "valid": 4, "invalid": 2, "expired": 2, "errors": 0, "changed": 4,
                       "skipped_erased": 1, "alerts": 4}


async def test_validate_keeps_provider_error(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    await validate(context(make_context, simulator, "validate-credentials"))

    assert "190/463" in (get_credential(database, credentials["meta-expired"]).last_error or "")
    assert "20003" in (get_credential(database, credentials["twilio-invalid"]).last_error or "")
    assert "closed" in (get_credential(database, credentials["twilio-expired"]).last_error or "")


async def test_validate_skips_erased_secret(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    await validate(context(make_context, simulator, "validate-credentials"))

    erased = get_credential(database, credentials["erased"])
    assert erased.last_validated_at is None
    assert len(simulator.received) == 8


async def test_alerts_only_when_status_turns_bad(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    first = await validate(context(make_context, simulator, "validate-credentials"))
    second = await validate(context(make_context, simulator, "validate-credentials"))

    raised = alerts(database)
    assert first["alerts"] == 4
    assert second["alerts"] == 0
    assert second["changed"] == 0
    assert {alert.kind for alert in raised} == {"credential_stopped_working"}
    assert {alert.severity for alert in raised} == {"critical"}
    assert any("…id-1" in alert.message and "Bistro Central" in alert.message for alert in raised)


async def test_validate_dry_run_changes_nothing(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    dry = await validate(context(make_context, simulator, "validate-credentials", dry_run=True))

    for credential_id in credentials.values():
        stored = get_credential(database, credential_id)
        assert stored.last_validated_at is None
        assert stored.last_error is None
    assert alerts(database) == []
    real = await validate(context(make_context, simulator, "validate-credentials"))
    assert dry == real


async def test_unreachable_provider_keeps_status(
    database: Database, make_context: MakeContext, simulator: SimulatorServer
) -> None:
    business = add_business(database)
    credential = add_credential(database, business, "twilio", "demo-twilio-invalid-1", status="valid")
    simulator.inject("server_error", times=None)

    summary = await validate(context(make_context, simulator, "validate-credentials", provider_max_retries=1))

    stored = get_credential(database, credential)
    assert summary["errors"] == 1
    assert summary["invalid"] == 0
    assert stored.status == "valid"
    assert stored.last_validated_at is None
    assert "503" in (stored.last_error or "")
    assert alerts(database) == []


async def test_sync_stores_expiry_and_alerts(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    summary = await sync(context(make_context, simulator, "sync-credentials"))

    expiring = get_credential(database, credentials["meta-expiring"])
    assert expiring.status == "valid"
    assert expiring.expires_at is not None
    assert DEFAULT_NOW < from_db(expiring.expires_at) <= DEFAULT_NOW + timedelta(days=3)
    assert from_db(expiring.synced_at) == DEFAULT_NOW
    assert get_credential(database, credentials["meta-valid"]).expires_at is None
    assert get_credential(database, credentials["twilio-expired"]).status == "expired"
    assert summary["expiring_soon"] == 1
    warnings = [alert for alert in alerts(database) if alert.kind == "credential_expiring"]
    assert len(warnings) == 1
    assert warnings[0].severity == "warning"
    assert "meta" in warnings[0].message
    local_expiry = local_time(from_db(expiring.expires_at), ZoneInfo("Europe/Bucharest"))
    assert local_expiry.endswith(" +03:00"), "June is summer time in the default zone"
    assert f"expires on {local_expiry} " in warnings[0].message
    assert "+00:00" not in warnings[0].message


async def test_sync_warning_window_setting(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    summary = await sync(context(make_context, simulator, "sync-credentials", credential_expiry_warning_days=1))

    assert summary["expiring_soon"] == 0


async def test_sync_marks_token_past_expiry(
    database: Database, make_context: MakeContext, simulator: SimulatorServer
) -> None:
    business = add_business(database)
    credential = add_credential(database, business, "meta", "demo-meta-expiring-1")
    later = DEFAULT_NOW + timedelta(days=5)
    ctx = make_context("sync-credentials", now=later, **provider_settings(simulator))

    summary = await sync(ctx)

    assert summary["expired"] == 1
    stored = get_credential(database, credential)
    assert stored.status == "expired"
    assert stored.expires_at is not None
    local_expiry = local_time(from_db(stored.expires_at), ZoneInfo("Europe/Bucharest"))
    assert stored.last_error == f"The token expired at {local_expiry}."


async def test_runs_with_own_hub(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    ctx = context(make_context, simulator, "validate-credentials")

    summary = await validate_credentials(ctx)

    assert summary["examined"] == 8


async def test_rejects_foreign_provider_object(
    database: Database, make_context: MakeContext, simulator: SimulatorServer, credentials: dict[str, int]
) -> None:
    ctx = context(make_context, simulator, "validate-credentials")
    ctx.providers = object()

    with pytest.raises(ProviderNotConfiguredError):
        await validate_credentials(ctx)
