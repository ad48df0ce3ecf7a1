"""PaymentStore in a real PostgreSQL: atomic create, consumer claims, guarded saves, look-ups."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest

from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.store.db import Database
from integrator.store.leases import LeaseStore
from integrator.store.payments import (
    ConcurrentModification,
    CreateOutcome,
    IntegrityRefused,
    PaymentStore,
    StaleFence,
)
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

P, R, N, X = (
    PaymentStatus.PENDING,
    PaymentStatus.REGISTERED,
    PaymentStatus.NEEDS_ATTENTION,
    PaymentStatus.RESOLVED,
)


@pytest.fixture
def store(db: Database) -> PaymentStore:
    return PaymentStore(db)


@pytest.fixture
def leases(db: Database) -> LeaseStore:
    return LeaseStore(db)


def test_create_writes_payment_idempotency_record_claims_and_bills_together(
    store: PaymentStore,
) -> None:
    payment = make_payment(
        idempotency_key="k-1",
        bills=(
            make_line(bill_id="b1", consumer_code="C1"),
            make_line(bill_id="b2", consumer_code="C2"),
        ),
    )
    result = store.create(payment)
    assert result.outcome is CreateOutcome.CREATED and result.payment_id == payment.id
    assert store.get(payment.id) == payment
    assert store.get_by_idempotency("dev-1", "k-1") == payment
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") == payment.id
    assert store.pending_for_consumer("pb.amritsar", "WS", "C2") == payment.id
    assert store.ids_by_status(P) == [payment.id]
    assert store.ids_for_bill("b2") == [payment.id]
    assert store.ids_for_consumer("C1") == [payment.id]
    assert store.ids_for_mobile_last4("3210") == [payment.id]
    assert store.ids_for_idempotency_key("k-1") == [payment.id]


def test_same_key_same_request_replays_and_different_request_mismatches(
    store: PaymentStore,
) -> None:
    first = make_payment(idempotency_key="k", fingerprint="fp-a")
    assert store.create(first).outcome is CreateOutcome.CREATED
    replay = store.create(make_payment(idempotency_key="k", fingerprint="fp-a"))
    assert (replay.outcome, replay.payment_id) == (CreateOutcome.REPLAY, first.id)
    other = store.create(make_payment(idempotency_key="k", fingerprint="fp-b"))
    assert other.outcome is CreateOutcome.MISMATCH
    # the same key on another device is another key
    assert (
        store.create(
            make_payment(
                device_id="dev-2",
                idempotency_key="k",
                fingerprint="fp-b",
                bills=(make_line(consumer_code="OTHER"),),
            )
        ).outcome
        is CreateOutcome.CREATED
    )
    assert store.count_by_status()[P] == 2


def test_a_consumer_with_an_unfinished_payment_refuses_another_and_nothing_is_written(
    store: PaymentStore, database_url: str
) -> None:
    holder = make_payment(bills=(make_line(bill_id="b1", consumer_code="C1"),))
    store.create(holder)
    second = make_payment(
        bills=(
            make_line(bill_id="b9", consumer_code="C9"),
            make_line(bill_id="b2", consumer_code="C1"),
        )
    )
    result = store.create(second)
    assert result.outcome is CreateOutcome.CONFLICT
    assert result.payment_id == holder.id
    assert result.conflict == ("pb.amritsar", "WS", "C1")
    assert store.get(second.id) is None
    assert store.pending_for_consumer("pb.amritsar", "WS", "C9") is None
    assert store.get_by_idempotency("dev-1", second.idempotency_key) is None
    assert store.ids_for_bill("b9") == []
    with psycopg.connect(database_url) as conn:  # only the holder's rows exist
        for table in ("payments", "payment_bills", "payment_consumers", "idempotency_keys"):
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert count == (1,), table


def test_concurrent_identical_creates_make_one_payment(store: PaymentStore) -> None:
    barrier = threading.Barrier(16)
    results = []
    candidates = [make_payment(idempotency_key="same", fingerprint="fp") for _ in range(16)]

    def go(i: int) -> None:
        barrier.wait()
        results.append(store.create(candidates[i]))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    created = [r for r in results if r.outcome is CreateOutcome.CREATED]
    assert len(created) == 1
    winner = created[0].payment_id
    assert {r.payment_id for r in results} == {winner}
    assert {r.outcome for r in results} == {CreateOutcome.CREATED, CreateOutcome.REPLAY}
    assert store.count_by_status()[P] == 1
    assert [p.id for p in store.list_recent().payments] == [winner]


def test_concurrent_payments_for_one_consumer_make_one_payment(store: PaymentStore) -> None:
    barrier = threading.Barrier(12)
    results = []

    def go() -> None:
        payment = make_payment(bills=(make_line(consumer_code="C1"),))
        barrier.wait()
        results.append(store.create(payment))

    threads = [threading.Thread(target=go) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted(r.outcome for r in results)
    assert outcomes.count(CreateOutcome.CREATED) == 1
    assert outcomes.count(CreateOutcome.CONFLICT) == 11


def test_a_final_state_releases_the_consumer_locks(store: PaymentStore) -> None:
    payment = make_payment(bills=(make_line(consumer_code="C1"),))
    store.create(payment)
    registered = store.save(
        states.transition(payment, R, actor="w", reason="ok", at=NOW), fence=None
    )
    assert registered.version == 1
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") is None
    # DIGIT's next bill for the consumer has another id
    again = make_payment(bills=(make_line(bill_id="next-bill", consumer_code="C1"),))
    assert store.create(again).outcome is CreateOutcome.CREATED


def test_needs_attention_keeps_the_locks_and_resolved_releases_them(store: PaymentStore) -> None:
    payment = make_payment(bills=(make_line(consumer_code="C1"),))
    store.create(payment)
    attention = store.save(
        states.transition(payment, N, actor="w", reason="unclear", at=NOW), fence=None
    )
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") == payment.id
    assert store.create(make_payment(bills=(make_line(consumer_code="C1"),))).outcome is (
        CreateOutcome.CONFLICT
    )
    store.save(states.transition(attention, X, actor="op", reason="refunded", at=NOW), fence=None)
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") is None


def test_status_indexes_follow_every_change(store: PaymentStore) -> None:
    a, b, c = (make_payment(bills=(make_line(consumer_code=f"C{i}"),)) for i in range(3))
    for p in (a, b, c):
        store.create(p)
    a1 = store.save(states.transition(a, N, actor="w", reason="x", at=NOW), fence=None)
    a2 = store.save(states.transition(a1, P, actor="op", reason="retry", at=NOW), fence=None)
    store.save(states.transition(a2, R, actor="w", reason="ok", at=NOW), fence=None)
    b1 = store.save(states.transition(b, N, actor="w", reason="x", at=NOW), fence=None)
    store.save(states.transition(b1, X, actor="op", reason="done", at=NOW), fence=None)
    assert store.count_by_status() == {
        P: 1,
        R: 1,
        N: 0,
        X: 1,
        PaymentStatus.CANCELLED: 0,
        PaymentStatus.DISHONOURED: 0,
        PaymentStatus.REFUSED: 0,
    }
    assert store.ids_by_status(P) == [c.id]
    assert store.ids_by_status(R) == [a.id]
    assert store.ids_by_status(X) == [b.id]
    stored_a = store.get(a.id)
    assert stored_a is not None and stored_a.status is R and stored_a.version == 3
    assert [h.to_status for h in stored_a.history] == [N, P, R]


def test_a_stale_copy_is_refused(store: PaymentStore) -> None:
    payment = make_payment()
    store.create(payment)
    store.save(states.record(payment, "attempt", actor="w", at=NOW), fence=None)
    with pytest.raises(ConcurrentModification):
        store.save(states.transition(payment, N, actor="w", reason="x", at=NOW), fence=None)


def test_the_database_refuses_a_status_outside_the_state_machine(
    store: PaymentStore, database_url: str
) -> None:
    payment = make_payment()
    store.create(payment)
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE payments SET status = 'PAID' WHERE id = %s", (payment.id,))


@pytest.mark.parametrize(
    ("column", "value"),
    [("amount", "0"), ("amount", "-5"), ("amount", "10.50"), ("total_due", "-1")],
)
def test_the_database_refuses_money_that_is_not_positive_whole_rupees(
    store: PaymentStore, database_url: str, column: str, value: str
) -> None:
    payment = make_payment()
    store.create(payment)
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            f"UPDATE payment_bills SET {column} = %s::numeric WHERE payment_id = %s",
            (value, payment.id),
        )


def test_history_and_targets_are_append_only(store: PaymentStore, database_url: str) -> None:
    payment = make_payment()
    store.create(payment)
    store.save(states.mark_create_sent(payment, ["b1"], actor="w", at=NOW), fence=None)
    for statement in (
        "UPDATE payment_history SET actor = 'someone' WHERE payment_id = %s",
        "DELETE FROM payment_history WHERE payment_id = %s",
        "DELETE FROM payment_targets WHERE payment_id = %s",
    ):
        with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.RaiseException):
            conn.execute(statement, (payment.id,))


def test_a_bill_held_by_a_live_payment_refuses_a_second_one(store: PaymentStore) -> None:
    first = make_payment(bills=(make_line(bill_id="b1", consumer_code="C1"),))
    store.create(first)
    registered = store.save(states.transition(first, R, actor="w", reason="ok", at=NOW), fence=None)
    assert registered.status is R
    # the consumer is free again, but the bill stays paid by the REGISTERED payment
    again = make_payment(bills=(make_line(bill_id="b1", consumer_code="C1"),))
    result = store.create(again)
    assert (result.outcome, result.payment_id, result.bill_id) == (
        CreateOutcome.BILL_TAKEN,
        first.id,
        "b1",
    )
    assert store.get(again.id) is None


def _wait_for_lease_expiry(leases: LeaseStore, payment_id: str) -> None:
    deadline = time.monotonic() + 2
    while leases.current(payment_id) is not None:
        assert time.monotonic() < deadline, "lease did not expire"
        time.sleep(0.01)


def test_writes_with_an_expired_lease_are_refused(store: PaymentStore, leases: LeaseStore) -> None:
    payment = make_payment()
    store.create(payment)
    token = leases.acquire(payment.id, ttl_seconds=0.05)
    assert token is not None
    sent = store.save(states.mark_create_sent(payment, ["bill-1"], actor="w", at=NOW), fence=token)
    assert sent.create_sent
    _wait_for_lease_expiry(leases, payment.id)
    with pytest.raises(StaleFence):
        store.save(states.transition(sent, R, actor="w", reason="ok", at=NOW), fence=token)
    # a newer attempt takes over; the old token stays refused
    newer = leases.acquire(payment.id, ttl_seconds=5)
    assert newer is not None and newer > token
    with pytest.raises(StaleFence):
        store.save(states.transition(sent, R, actor="w", reason="ok", at=NOW), fence=token)
    done = store.save(states.transition(sent, R, actor="w", reason="ok", at=NOW), fence=newer)
    assert done.status is R


def test_create_sent_is_never_forgotten_and_targets_only_grow(store: PaymentStore) -> None:
    payment = make_payment()
    store.create(payment)
    sent = store.save(states.mark_create_sent(payment, ["b1", "b2"], actor="w", at=NOW), fence=None)
    with pytest.raises(IntegrityRefused):
        store.save(replace(sent, create_sent=False), fence=None)
    with pytest.raises(IntegrityRefused):
        store.save(replace(sent, targeted_bill_ids=frozenset({"b1"})), fence=None)
    grown = store.save(states.mark_create_sent(sent, ["b3"], actor="w", at=NOW), fence=None)
    assert grown.targeted_bill_ids == {"b1", "b2", "b3"}
    assert store.ids_for_bill("b3") == [payment.id]


def test_a_save_cannot_change_the_consumers_it_holds_locks_for(store: PaymentStore) -> None:
    payment = make_payment(bills=(make_line(consumer_code="C1"),))
    store.create(payment)
    moved = replace(payment, bills=(make_line(consumer_code="C2"),))
    with pytest.raises(IntegrityRefused):
        store.save(states.transition(moved, R, actor="w", reason="ok", at=NOW), fence=None)
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") == payment.id


def test_a_save_cannot_reorder_the_bills(store: PaymentStore) -> None:
    payment = make_payment(
        bills=(
            make_line(bill_id="b2", consumer_code="C2"),
            make_line(bill_id="b1", consumer_code="C1"),
        )
    )
    store.create(payment)
    reordered = replace(payment, bills=tuple(reversed(payment.bills)))
    with pytest.raises(IntegrityRefused):
        store.save(states.transition(reordered, R, actor="w", reason="ok", at=NOW), fence=None)


def test_receipts_and_retargeted_bills_are_indexed_on_save(store: PaymentStore) -> None:
    payment = make_payment(bills=(make_line(bill_id="old", consumer_code="C1"),))
    store.create(payment)
    retargeted = replace(
        payment,
        bills=(
            make_line(
                bill_id="new",
                consumer_code="C1",
                retargeted_from="old",
                receipt_number="03/2025-26/000042",
            ),
        ),
    )
    store.save(states.transition(retargeted, R, actor="w", reason="ok", at=NOW), fence=None)
    assert store.ids_for_receipt("03/2025-26/000042") == [payment.id]
    assert store.ids_for_bill("new") == [payment.id]
    assert store.ids_for_bill("old") == [payment.id]


def test_list_recent_pages_newest_first_with_equal_times(store: PaymentStore) -> None:
    created = []
    for i in range(7):
        # pairs of payments share a millisecond, to exercise the cursor's tie-break
        p = make_payment(
            id=f"pay-{i:02d}",
            created_at=NOW + timedelta(seconds=i // 2),
            bills=(make_line(consumer_code=f"C{i}"),),
        )
        store.create(p)
        created.append(p)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_recent(cursor, limit=3)
        seen += [p.id for p in page.payments]
        cursor = page.next_cursor
        if cursor is None:
            break
    expected = [p.id for p in sorted(created, key=lambda p: (p.created_at, p.id), reverse=True)]
    assert seen == expected
    assert store.ids_created_between(NOW + timedelta(seconds=1), NOW + timedelta(seconds=3)) == [
        "pay-05",
        "pay-04",
        "pay-03",
        "pay-02",
    ]


def test_identical_failed_attempts_are_one_history_entry_with_a_count(
    store: PaymentStore, database_url: str
) -> None:
    payment = make_payment()
    store.create(payment)
    current = payment
    for minute in range(50):
        current = store.save(
            states.record(
                current,
                "attempt",
                actor="worker",
                at=NOW + timedelta(minutes=minute),
                reason="DigitAuthLocked",
                detail={"spent": False},
            ),
            fence=None,
        )
    stored = store.get(payment.id)
    assert stored is not None
    [entry] = stored.history
    assert (entry.count, entry.at, entry.last_at) == (50, NOW, NOW + timedelta(minutes=49))
    # any other change to a stored entry is still refused by the database
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute(
            "UPDATE payment_history SET reason = 'other' WHERE payment_id = %s", (payment.id,)
        )
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute(
            "UPDATE payment_history SET repeat_count = 1 WHERE payment_id = %s", (payment.id,)
        )
