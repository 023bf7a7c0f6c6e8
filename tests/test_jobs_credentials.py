"""cleanup-expired-credentials: expiry, erasure after the grace days, and secrets kept out of every output."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest

from jobs.context import JobContext
from jobs.credentials import cleanup_expired_credentials
from storage.db import Database, from_db
from storage.queries import CREDENTIALS
from tests.conftest import DEFAULT_NOW
from tests.rows import add_business, add_credential, alerts, column_values

NOW = DEFAULT_NOW
SECOND = timedelta(seconds=1)
MakeContext = Callable[..., JobContext]


def test_expiry_and_erasure_boundaries(
    database: Database, make_context: MakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    business = add_business(database)
    grace_cutoff = NOW - timedelta(days=7)
    just_expired = add_credential(database, business, secret="demo-meta-expired-1", expires_at=NOW - SECOND)
    not_yet = add_credential(database, business, secret="demo-meta-expiring-2", expires_at=NOW + SECOND)
    at_now = add_credential(database, business, secret="demo-meta-expiring-3", expires_at=NOW)
    past_grace = add_credential(database, business, provider="twilio", secret="demo-twilio-expired-4",
                                status="expired", expires_at=grace_cutoff - SECOND)
    at_grace = add_credential(database, business, secret="demo-meta-expired-5", status="valid",
                              expires_at=grace_cutoff)
    never = add_credential(database, business, secret="demo-meta-valid-6", expires_at=None)

    caplog.set_level(logging.DEBUG)
    dry = cleanup_expired_credentials(make_context("cleanup-expired-credentials", dry_run=True))
    assert column_values(database, CREDENTIALS, "secret", past_grace) == "demo-twilio-expired-4"
    real = cleanup_expired_credentials(make_context("cleanup-expired-credentials"))

    assert real == {"expired": 2, "erased": 1, "alerts": 2}
    assert dry == real
    assert column_values(database, CREDENTIALS, "status", just_expired) == "expired"
    assert column_values(database, CREDENTIALS, "secret", just_expired) == "demo-meta-expired-1"
    assert column_values(database, CREDENTIALS, "status", at_grace) == "expired"
    assert column_values(database, CREDENTIALS, "secret", at_grace) == "demo-meta-expired-5"
    assert column_values(database, CREDENTIALS, "status", not_yet) == "valid"
    assert column_values(database, CREDENTIALS, "status", at_now) == "valid"
    assert column_values(database, CREDENTIALS, "status", never) == "valid"
    assert column_values(database, CREDENTIALS, "secret", past_grace) is None
    assert from_db(column_values(database, CREDENTIALS, "secret_erased_at", past_grace)) == NOW

    recorded = alerts(database)
    assert [(alert.kind, alert.severity) for alert in recorded] == [
        ("credentials_expired", "warning"), ("credential_secrets_erased", "info")]
    assert recorded[0].message == ("2 credentials have passed their expiry date and are now marked expired "
                                   "(meta: 2).")
    outputs = [alert.message for alert in recorded] + [record.getMessage() for record in caplog.records]
    outputs.append(repr(real))
    assert not [text for text in outputs if "demo-" in text]


def test_rerun_changes_nothing(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    for index in range(10):
        add_credential(database, business, secret=f"demo-meta-expired-{index}",
                       expires_at=NOW - timedelta(days=8 + index))

    first = cleanup_expired_credentials(make_context("cleanup-expired-credentials", delete_batch_size=3))
    second = cleanup_expired_credentials(make_context("cleanup-expired-credentials", delete_batch_size=3))

    assert first == {"expired": 10, "erased": 10, "alerts": 2}
    assert second == {"expired": 0, "erased": 0, "alerts": 0}
    assert len(alerts(database)) == 2


def test_grace_days_setting(database: Database, make_context: MakeContext) -> None:
    business = add_business(database)
    credential = add_credential(database, business, expires_at=NOW - timedelta(days=1, seconds=1))

    summary = cleanup_expired_credentials(
        make_context("cleanup-expired-credentials", expired_credential_grace_days=1))

    assert summary["erased"] == 1
    assert column_values(database, CREDENTIALS, "secret", credential) is None
