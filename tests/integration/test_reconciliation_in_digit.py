"""Reconciliation of REGISTERED payments against the sandbox over real HTTP, with a real ledger:
a create DIGIT committed late on a bill the payment no longer names is found, and two live DIGIT
payments carrying one payment id are flagged DUPLICATE_IN_DIGIT."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
import requests

from integrator.digit.client import DigitClient
from integrator.payments.models import PaymentStatus
from integrator.payments.reconciliation import FLAGGED_EVENT, Reconciler, Verdict
from integrator.payments.registration import AttemptResult, Registrar
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.leases import LeaseStore
from integrator.store.payments import PaymentStore
from integrator.store.reconciliation import ReconciliationStore
from tests.integration.jobs.conftest import make_pending
from tests.support.processes import wait_for

CONSUMER = ("WS", "WS/107/2019-20/000022")
HOLD_SECONDS = 4.0
LEASE_SECONDS = 1.5


@pytest.fixture
def client(settings: Settings, sandbox: str, redis: redis_lib.Redis) -> Iterator[DigitClient]:
    connection = redis_lib.Redis.from_url(settings.redis_url)
    yield DigitClient(settings=settings, redis=connection)
    connection.close()


def _admin(sandbox: str, path: str, body: dict[str, object]) -> None:
    requests.post(f"{sandbox}/_sandbox/{path}", json=body, timeout=10).raise_for_status()


def _counter(sandbox: str, name: str) -> int:
    counters = requests.get(f"{sandbox}/_sandbox/counters", timeout=5).json()
    return int(counters.get(name, 0))


def test_two_live_digit_payments_carrying_our_id_on_two_bills_are_flagged_duplicate_in_digit(
    settings: Settings, sandbox: str, db: Database, client: DigitClient
) -> None:
    """Without the settle guard (settle period 0) a create DIGIT held and committed late on
    the expired bill, and the retry paid the successor bill: the ledger names only the
    successor. Reconciliation searches every bill the payment targeted and its consumer's
    payments, so it sees both, and flags the payment; the status stays REGISTERED."""
    store = PaymentStore(db)
    registrar = Registrar(
        payments=store,
        leases=LeaseStore(db),
        digit=client,
        lease_ttl_seconds=LEASE_SECONDS,
        timezone=settings.digit_timezone,
        clock=lambda: datetime.now(UTC),
        create_settle_seconds=0.0,
    )
    payment = make_pending(client, store, CONSUMER)
    _admin(
        sandbox,
        "faults",
        {"hold_creates": 1, "hold_seconds": HOLD_SECONDS, "gateway_timeout_seconds": 0.5},
    )
    assert registrar.attempt(payment.id, actor="worker").result is AttemptResult.RETRY_LATER
    _admin(sandbox, "clock", {"advance_seconds": 16 * 86400})
    time.sleep(LEASE_SECONDS + 0.2)
    assert registrar.attempt(payment.id, actor="worker").result is AttemptResult.REGISTERED
    wait_for(
        lambda: _counter(sandbox, "late_commit") >= 1,
        timeout=HOLD_SECONDS + 10,
        what="the held create to commit late on the old bill",
    )
    registered = store.get(payment.id)
    assert registered is not None and registered.bills[0].retargeted_from is not None
    flags = ReconciliationStore(db)
    reconciler = Reconciler(
        payments=store, digit=client, flags=flags, clock=lambda: datetime.now(UTC)
    )

    report = reconciler.run(lookback=timedelta(days=30))

    assert report.complete and report.newly_flagged == [payment.id]
    flag = flags.get(payment.id)
    assert flag is not None and flag.reason == Verdict.DUPLICATE_IN_DIGIT.value
    # the flag names the extra DIGIT payment, not the one the ledger registered
    assert flag.digit_payment_id != registered.digit_payment_id
    assert len(flag.detail["liveDigitPayments"]) == 2
    after = store.get(payment.id)
    assert after is not None and after.status is PaymentStatus.REGISTERED
    assert after.history[-1].event == FLAGGED_EVENT
    assert after.history[-1].reason == "DUPLICATE_IN_DIGIT"


def test_a_registered_payment_whose_digit_payment_sits_on_a_bill_it_no_longer_names_is_healthy(
    settings: Settings, sandbox: str, db: Database, client: DigitClient
) -> None:
    """With the guard, the late commit on the expired bill is adopted: the ledger's payment
    keeps the old bill, DIGIT holds exactly one payment of ours, and reconciliation agrees."""
    store = PaymentStore(db)
    registrar = Registrar(
        payments=store,
        leases=LeaseStore(db),
        digit=client,
        lease_ttl_seconds=LEASE_SECONDS,
        timezone=settings.digit_timezone,
        clock=lambda: datetime.now(UTC),
        create_settle_seconds=3600.0,
    )
    payment = make_pending(client, store, CONSUMER)
    _admin(
        sandbox,
        "faults",
        {"hold_creates": 1, "hold_seconds": HOLD_SECONDS, "gateway_timeout_seconds": 0.5},
    )
    registrar.attempt(payment.id, actor="worker")
    _admin(sandbox, "clock", {"advance_seconds": 16 * 86400})
    wait_for(
        lambda: _counter(sandbox, "late_commit") >= 1,
        timeout=HOLD_SECONDS + 10,
        what="the held create to commit late",
    )
    time.sleep(LEASE_SECONDS + 0.2)
    assert registrar.attempt(payment.id, actor="worker").result is AttemptResult.REGISTERED
    flags = ReconciliationStore(db)
    reconciler = Reconciler(
        payments=store, digit=client, flags=flags, clock=lambda: datetime.now(UTC)
    )

    report = reconciler.run(lookback=timedelta(days=30))

    assert report.complete and report.checked == 1 and report.healthy == 1
    assert flags.count() == 0
