"""The open-payment marks that let GET /v1/bills skip the ledger, on the real PostgreSQL and
Redis: kept by PaymentStore, read by ServedBills in its one round trip, rebuilt from the ledger."""

from __future__ import annotations

import contextlib

import psycopg
import pytest
import redis as redis_lib

from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.store.db import Database
from integrator.store.open_claims import OpenClaimMarks
from integrator.store.payments import CreateOutcome, PaymentStore
from integrator.store.served import ServedBills
from integrator.store.snapshots import SnapshotStore
from tests.unit.payments.payment_factories import NOW, make_bill, make_line, make_payment


@pytest.fixture
def marks(redis: redis_lib.Redis) -> OpenClaimMarks:
    return OpenClaimMarks(redis)


@pytest.fixture
def store(db: Database, marks: OpenClaimMarks) -> PaymentStore:
    return PaymentStore(db, claim_marks=marks)


@pytest.fixture
def served(redis: redis_lib.Redis, marks: OpenClaimMarks, store: PaymentStore) -> ServedBills:
    snapshots = SnapshotStore(redis, retention_seconds=3600)
    return ServedBills(redis, snapshots=snapshots, marks=marks, read_open_claims=store.open_claims)


def _members(redis: redis_lib.Redis, consumer_code: str) -> set[bytes]:
    return set(redis.smembers(OpenClaimMarks.key(("pb.amritsar", "WS", consumer_code))))


def test_before_the_marks_are_complete_every_bill_may_be_pending_and_they_are_rebuilt(
    served: ServedBills, db: Database, marks: OpenClaimMarks
) -> None:
    # written without marks, as before the marks existed: only the rebuild can know of it
    unmarked = make_payment(bills=(make_line(consumer_code="C-OLD"),))
    assert PaymentStore(db).create(unmarked).outcome is CreateOutcome.CREATED
    old, other = make_bill(consumer_code="C-OLD"), make_bill(consumer_code="C-NONE")

    assert served.record([old, other], NOW) == [True, True]  # not complete: ask the ledger
    assert marks.is_complete()
    assert served.record([old, other], NOW) == [True, False]


def test_a_created_payment_is_marked_and_its_final_save_unmarks_it(
    served: ServedBills, store: PaymentStore, marks: OpenClaimMarks, redis: redis_lib.Redis
) -> None:
    served.record([make_bill(consumer_code="C-X")], NOW)  # completes the (empty) marks
    payment = make_payment(bills=(make_line(consumer_code="C-1"), make_line(consumer_code="C-2")))

    assert store.create(payment).outcome is CreateOutcome.CREATED
    bills = [make_bill(consumer_code=c) for c in ("C-1", "C-2", "C-3")]
    assert served.record(bills, NOW) == [True, True, False]
    attention = store.save(
        states.transition(payment, PaymentStatus.NEEDS_ATTENTION, actor="w", reason="x", at=NOW),
        fence=None,
    )
    assert served.record(bills, NOW) == [True, True, False]  # still open
    store.save(
        states.transition(attention, PaymentStatus.RESOLVED, actor="op", reason="done", at=NOW),
        fence=None,
    )

    assert served.record(bills, NOW) == [False, False, False]
    assert store.pending_for_consumer("pb.amritsar", "WS", "C-1") is None


def test_a_refused_create_leaves_no_mark_of_its_own(
    store: PaymentStore, redis: redis_lib.Redis
) -> None:
    first = make_payment(bills=(make_line(consumer_code="C-1"),))
    second = make_payment(bills=(make_line(consumer_code="C-1", bill_id="bill-other"),))
    assert store.create(first).outcome is CreateOutcome.CREATED

    refused = store.create(second)

    assert refused.outcome is CreateOutcome.CONFLICT and refused.payment_id == first.id
    assert _members(redis, "C-1") == {first.id.encode()}


def test_the_mark_is_written_before_the_ledger_is(
    store: PaymentStore, marks: OpenClaimMarks, redis: redis_lib.Redis, db: Database
) -> None:
    """Redis refusing the mark refuses the payment: no open claim without its mark."""
    payment = make_payment(bills=(make_line(consumer_code="C-1"),))
    broken = PaymentStore(db, claim_marks=OpenClaimMarks(redis_lib.Redis(host="127.0.0.1", port=1)))

    with pytest.raises(redis_lib.ConnectionError):
        broken.create(payment)

    assert store.get_many([payment.id]) == []


def test_a_rebuild_held_by_another_process_is_not_repeated(
    served: ServedBills, marks: OpenClaimMarks, redis: redis_lib.Redis
) -> None:
    redis.set("integrator:open-claims:rebuild-lock", "1", px=5000)

    assert served.record([make_bill(consumer_code="C-1")], NOW) == [True]
    assert not marks.is_complete()


def test_a_repeated_create_of_the_same_payment_keeps_its_mark(
    store: PaymentStore, redis: redis_lib.Redis
) -> None:
    """A create retried after an error that hid its commit (a replay, or the ledger refusing the
    duplicate row) must not take the mark of the payment the first call committed."""
    payment = make_payment(idempotency_key="k-again", bills=(make_line(consumer_code="C-1"),))
    assert store.create(payment).outcome is CreateOutcome.CREATED

    with contextlib.suppress(psycopg.Error):
        store.create(payment)

    assert store.pending_for_consumer("pb.amritsar", "WS", "C-1") == payment.id
    assert _members(redis, "C-1") == {payment.id.encode()}
