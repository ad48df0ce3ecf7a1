"""A create DIGIT commits long after we gave up on it must not make the consumer pay twice.

The sandbox holds a validated create (the gateway answers 504 at once), the bill expires by
DIGIT's calendar meanwhile, and the held create commits anyway, later, on the old bill. Real
ledger, the sandbox over real HTTP, the registrar as the worker runs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from integrator.digit.client import DigitClient
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.registration import (
    AWAITING_CREATE_SETTLE,
    PAYMENT_ID_KEY,
    AttemptResult,
    Registrar,
)
from integrator.settings import Settings
from integrator.store.db import Database
from integrator.store.leases import LeaseStore
from integrator.store.payments import PaymentStore
from tests.integration.jobs.conftest import make_pending
from tests.support.processes import wait_for

CONSUMER = ("WS", "WS/107/2019-20/000022")
HOLD_SECONDS = 6.0
LEASE_SECONDS = 1.5


@pytest.fixture
def client(settings: Settings, sandbox: str, redis: object) -> Iterator[DigitClient]:
    import redis as redis_lib

    connection = redis_lib.Redis.from_url(settings.redis_url)
    yield DigitClient(settings=settings, redis=connection)
    connection.close()


def _admin(sandbox: str, path: str, body: dict[str, object]) -> dict[str, object]:
    answer = requests.post(f"{sandbox}/_sandbox/{path}", json=body, timeout=10)
    answer.raise_for_status()
    result: dict[str, object] = answer.json()
    return result


def _ours(sandbox: str, payment_id: str) -> list[dict[str, object]]:
    payments = requests.get(f"{sandbox}/_sandbox/payments", timeout=10).json()["Payments"]
    return [
        p for p in payments if (p.get("additionalDetails") or {}).get(PAYMENT_ID_KEY) == payment_id
    ]


def _payment_on_current_bill(client: DigitClient, store: PaymentStore) -> Payment:
    return make_pending(client, store, CONSUMER)


@pytest.mark.parametrize("settle_seconds", [3600.0, 0.0], ids=["with the guard", "without"])
def test_a_late_commit_after_the_bill_expired_is_adopted_not_paid_twice(
    settings: Settings, sandbox: str, db: Database, client: DigitClient, settle_seconds: float
) -> None:
    store = PaymentStore(db)
    registrar = Registrar(
        payments=store,
        leases=LeaseStore(db),
        digit=client,
        lease_ttl_seconds=LEASE_SECONDS,
        timezone=settings.digit_timezone,
        clock=lambda: datetime.now(UTC),
        create_settle_seconds=settle_seconds,
    )
    payment = _payment_on_current_bill(client, store)
    # DIGIT validates the create, holds it, and the gateway gives up at once
    _admin(
        sandbox,
        "faults",
        {"hold_creates": 1, "hold_seconds": HOLD_SECONDS, "gateway_timeout_seconds": 0.5},
    )
    first = registrar.attempt(payment.id, actor="worker")
    assert first.result is AttemptResult.RETRY_LATER
    # DIGIT's calendar passes the bill's expiry while the create is held
    _admin(sandbox, "clock", {"advance_seconds": 16 * 86400})
    time.sleep(LEASE_SECONDS + 0.2)  # the kept lease has run out: the next attempt may look

    second = registrar.attempt(payment.id, actor="worker")

    if settle_seconds:
        # nothing of ours found yet, the bill expired: stay on the old bill, say why
        assert second.result is AttemptResult.RETRY_LATER
        assert second.payment is not None and second.payment.status is PaymentStatus.PENDING
        assert second.payment.history[-1].reason == AWAITING_CREATE_SETTLE
        assert "waiting until" in (second.payment.last_error or "")
        assert second.payment.bills[0].retargeted_from is None
    wait_for(
        lambda: (
            requests.get(f"{sandbox}/_sandbox/counters", timeout=5).json().get("late_commit", 0)
            + requests.get(f"{sandbox}/_sandbox/counters", timeout=5)
            .json()
            .get("late_commit_dropped", 0)
            >= 1
        ),
        timeout=HOLD_SECONDS + 10,
        what="the held create to commit late",
    )
    final = registrar.attempt(payment.id, actor="worker")
    stored = store.get(payment.id)
    assert stored is not None
    live = [p for p in _ours(sandbox, payment.id) if p.get("paymentStatus") != "CANCELLED"]
    if settle_seconds:
        assert final.result is AttemptResult.REGISTERED
        assert stored.status is PaymentStatus.REGISTERED
        assert len(live) == 1  # the late commit, adopted: one DIGIT payment, one receipt
    else:
        # what the guard prevents (the code before it behaved like a zero settle period): the
        # payment moved onto the successor bill and was registered there, then the held create
        # committed on the old bill: DIGIT holds two payments of ours, the consumer paid twice
        assert stored.status is PaymentStatus.REGISTERED
        assert stored.bills[0].retargeted_from is not None
        assert len(live) == 2


def test_a_create_refused_by_the_unique_bill_constraint_adopts_our_earlier_create(
    settings: Settings, sandbox: str, db: Database, client: DigitClient
) -> None:
    """DIGIT holds our first create with its row already inserted; our retry waits on the
    bill's unique constraint and fails with PAYMENT_CREATION_FAILED once the first commits:
    "a payment for this bill exists", looked up and adopted, never NEEDS_ATTENTION."""
    lease = 6.0  # outlives the retry's wait on the held row (about 3 s)
    store = PaymentStore(db)
    registrar = Registrar(
        payments=store,
        leases=LeaseStore(db),
        digit=client,
        lease_ttl_seconds=lease,
        timezone=settings.digit_timezone,
        clock=lambda: datetime.now(UTC),
    )
    payment = _payment_on_current_bill(client, store)
    _admin(
        sandbox,
        "faults",
        {
            "hold_creates": 1,
            "hold_seconds": lease + 3.0,
            "hold_phase": "after_insert",
            "gateway_timeout_seconds": 0.5,
        },
    )
    assert registrar.attempt(payment.id, actor="worker").result is AttemptResult.RETRY_LATER
    time.sleep(lease + 0.2)  # the kept lease runs out while DIGIT still holds the first create

    retried = registrar.attempt(payment.id, actor="worker")

    assert retried.result is AttemptResult.REGISTERED, retried
    assert retried.payment is not None
    assert retried.payment.history[-1].reason == "adopted"
    counters = requests.get(f"{sandbox}/_sandbox/counters", timeout=5).json()
    assert counters.get("payment_create", 0) == 2  # the retry was sent, and refused
    assert len(_ours(sandbox, payment.id)) == 1


def test_a_create_on_the_successor_bill_that_got_no_answer_also_waits_to_settle(
    settings: Settings, sandbox: str, db: Database, client: DigitClient
) -> None:
    """The second create (after a move onto the consumer's new bill) is as unknown as a first
    one: when that bill expires too, the payment waits instead of moving on a second time."""
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
    payment = _payment_on_current_bill(client, store)
    # the bill expires before the first create: DIGIT refuses it (nothing written) and the
    # payment moves onto the successor, whose create DIGIT holds while the gateway gives up
    _admin(sandbox, "clock", {"advance_seconds": 16 * 86400})
    _fresh_token(client, payment)
    _admin(
        sandbox,
        "faults",
        {"hold_creates": 1, "hold_seconds": HOLD_SECONDS, "gateway_timeout_seconds": 0.5},
    )
    first = registrar.attempt(payment.id, actor="worker")
    assert first.result is AttemptResult.RETRY_LATER
    moved = store.get(payment.id)
    assert moved is not None and moved.bills[0].retargeted_from == payment.bills[0].bill_id
    assert moved.history[-1].detail.get("createUnknown") is True
    # the successor expires as well while its create is held
    _admin(sandbox, "clock", {"advance_seconds": 16 * 86400})
    _fresh_token(client, payment)
    time.sleep(LEASE_SECONDS + 0.2)

    second = registrar.attempt(payment.id, actor="worker")

    assert second.result is AttemptResult.RETRY_LATER
    assert second.payment is not None
    assert second.payment.history[-1].reason == AWAITING_CREATE_SETTLE
    assert second.payment.bills[0].bill_id == moved.bills[0].bill_id  # not moved again
    wait_for(
        lambda: (
            requests.get(f"{sandbox}/_sandbox/counters", timeout=5).json().get("late_commit", 0)
            >= 1
        ),
        timeout=HOLD_SECONDS + 10,
        what="the held create to commit late",
    )
    final = registrar.attempt(payment.id, actor="worker")
    assert final.result is AttemptResult.REGISTERED
    live = [p for p in _ours(sandbox, payment.id) if p.get("paymentStatus") != "CANCELLED"]
    assert len(live) == 1  # the late commit on the successor, adopted: the consumer paid once


def _fresh_token(client: DigitClient, payment: Payment) -> None:
    """DIGIT's calendar jumped past the token's life: a read (re-sent once after a refused
    token, unlike a create) logs in again, so the attempts under test meet no 401."""
    bill = payment.bills[0]
    client.fetch_bills(
        tenant_id=payment.tenant_id,
        business_service=bill.business_service,
        consumer_code=bill.consumer_code,
    )
