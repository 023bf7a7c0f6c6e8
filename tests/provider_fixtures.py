"""Fixtures and seed helpers shared by the provider, reminder and credential tests.

``tests/conftest.py`` loads this module as a plugin, so its fixtures are available to every test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from jobs.providers import ProviderHub, RetryPolicy
from jobs.providers.simulator import SimulatorServer
from jobs.settings import Settings
from storage.db import Database, to_db
from storage.models import Business, Credential, Reservation
from tests.conftest import DEFAULT_NOW

TWILIO_SID = "AC" + "0123456789abcdef" * 2
OTHER_TWILIO_SID = "AC" + "fedcba9876543210" * 2
META_PHONE_ID = "106540352242922"


class RecordingSleep:
    """An ``asyncio.sleep`` stand-in that records the delays and yields without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A running simulator whose token expiry is measured from the tests' fixed instant."""
    server = SimulatorServer(latency=0.0, clock=lambda: DEFAULT_NOW.timestamp())
    server.start()
    yield server
    server.stop()


def provider_settings(simulator: SimulatorServer, **overrides: Any) -> dict[str, Any]:
    """Return settings overrides that point both providers at ``simulator``."""
    return {"meta_graph_url": simulator.base_url, "twilio_api_url": simulator.base_url, **overrides}


@pytest.fixture
async def hub(simulator: SimulatorServer) -> AsyncIterator[ProviderHub]:
    """A hub on the simulator with fast retries (1 ms base delay) and short time-outs."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        meta_graph_url=simulator.base_url, twilio_api_url=simulator.base_url,
        provider_read_timeout_seconds=0.5, provider_concurrency=4,
    )
    providers = ProviderHub(settings, retry=RetryPolicy(max_retries=3, base_delay=0.001, max_delay=1.0))
    yield providers
    await providers.aclose()


def fast_hub(settings: Settings, sleep: RecordingSleep | None = None) -> ProviderHub:
    """A hub for ``settings`` whose retries do not wait (or wait through ``sleep``)."""
    retry = RetryPolicy(max_retries=settings.provider_max_retries, base_delay=0.001, max_delay=5.0)
    if sleep is not None:
        retry.sleep = sleep
    return ProviderHub(settings, retry=retry)


def add_business(database: Database, name: str = "Bistro Central", **fields: Any) -> int:
    with database.session() as session:
        business = Business(name=name, **fields)
        session.add(business)
        session.flush()
        assert business.id is not None
        return business.id


def add_credential(database: Database, business_id: int, provider: str, secret: str | None, **fields: Any) -> int:
    defaults: dict[str, Any] = {
        "account_ref": META_PHONE_ID if provider == "meta" else TWILIO_SID,
        "sender": None if provider == "meta" else "+15005550006",
        "status": "valid",
    }
    defaults.update(fields)
    with database.session() as session:
        credential = Credential(business_id=business_id, provider=provider, secret=secret, **defaults)
        session.add(credential)
        session.flush()
        assert credential.id is not None
        return credential.id


def add_reservation(
    database: Database,
    business_id: int,
    *,
    channel: str = "whatsapp",
    starts_in: timedelta = timedelta(hours=6),
    now: datetime = DEFAULT_NOW,
    phone: str = "+40700000001",
    **fields: Any,
) -> int:
    values: dict[str, Any] = {
        "customer_name": "Ana Pop", "customer_phone": phone, "party_size": 4, "status": "confirmed",
        "created_at": to_db(now - timedelta(days=2)),
    }
    values.update(fields)
    with database.session() as session:
        reservation = Reservation(business_id=business_id, channel=channel, starts_at=to_db(now + starts_in),
                                  **values)
        session.add(reservation)
        session.flush()
        assert reservation.id is not None
        return reservation.id


def get_reservation(database: Database, reservation_id: int) -> Reservation:
    with database.session() as session:
        reservation = session.get(Reservation, reservation_id)
        assert reservation is not None
        return reservation


def get_credential(database: Database, credential_id: int) -> Credential:
    with database.session() as session:
        credential = session.get(Credential, credential_id)
        assert credential is not None
        return credential
