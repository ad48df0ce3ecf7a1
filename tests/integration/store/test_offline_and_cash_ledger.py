"""Offline marks, hand-overs and closed days in the ledger (revision 0007): the rules hold as
constraints, whatever the code above them does."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
import redis as redis_lib

from integrator.payments import states
from integrator.payments.cash_records import HandoverEntry, OfflineArrival
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.ports import BillHeld, ConsumerHeld, CreateOutcome
from integrator.store.cash import CashStore, DayAlreadyClosed, Scope
from integrator.store.db import Database
from integrator.store.devices import DeviceStore
from integrator.store.offline import LimitOverrides, OfflineStore
from integrator.store.payments import PaymentStore
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

DAY = date(2026, 3, 31)


def _device(db: Database, redis: redis_lib.Redis) -> str:
    device, _key = DeviceStore(db, redis).add("field-1", ["pb.amritsar"])
    return device.id


def entry(*, expected: int, counted: int, reason: str | None = None) -> HandoverEntry:
    return HandoverEntry(
        tenant_id="pb.amritsar", payment_mode="CASH", expected=Decimal(expected),
        counted=Decimal(counted), reason=reason, cashier="c", at=NOW, payment_ids=(),
    )  # fmt: skip


def test_a_counted_amount_unlike_the_expected_one_needs_a_reason_in_the_ledger(
    db: Database, redis: redis_lib.Redis
) -> None:
    device_id = _device(db, redis)
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction() as conn:
        conn.execute(
            "INSERT INTO cash_handovers (id, device_id, tenant_id, payment_mode, expected,"
            " counted, reason, cashier, at) VALUES ('h1', %s, 'pb.amritsar', 'CASH', 100, 90,"
            " '  ', 'c', now())",
            (device_id,),
        )
    [recorded] = CashStore(db).settle(
        device_id, ["CASH"], lambda held: [entry(expected=100, counted=90, reason="short")]
    )
    assert recorded.difference == Decimal(-10)
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("UPDATE cash_handovers SET counted = 100")


def test_a_day_is_closed_once_and_its_stored_figures_never_change(
    db: Database, redis: redis_lib.Redis
) -> None:
    store = CashStore(db)
    store.close_day(Scope.DEVICE, "dev-1", DAY, figures={"n": Decimal(5)}, closed_by="c", at=NOW)

    with pytest.raises(DayAlreadyClosed):
        store.close_day(Scope.DEVICE, "dev-1", DAY, figures={"n": 6}, closed_by="c", at=NOW)
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("UPDATE day_closes SET figures = '{}'")
    closed = store.closed_day(Scope.DEVICE, "dev-1", DAY)
    assert closed is not None and closed[2] == {"n": Decimal(5)}
    # another device, or the city, closes the same day on its own
    store.close_day(Scope.CITY, "pb.amritsar", DAY, figures={}, closed_by="c", at=NOW)


def test_collected_and_handed_over_sum_by_city_and_mode(
    db: Database, redis: redis_lib.Redis
) -> None:
    payment = make_payment(device_id="dev-9", bills=(make_line(amount=Decimal(500)),))
    assert PaymentStore(db).create(payment).outcome.value == "CREATED"
    store = CashStore(db)
    store.settle(_device(db, redis), ["CASH"], lambda held: [entry(expected=0, counted=0)])

    [sums] = store.sums(Scope.DEVICE, "dev-9", NOW - timedelta(days=1), NOW + timedelta(days=1))

    assert (sums.tenant_id, sums.payment_mode) == (payment.tenant_id, payment.payment_mode)
    assert sums.collected == Decimal(500) and sums.collected_count == 1
    assert store.sums(Scope.DEVICE, "dev-9", NOW + timedelta(days=1), NOW + timedelta(days=2)) == []


def test_a_payment_is_marked_offline_once_and_limits_fall_back_per_column(
    db: Database, redis: redis_lib.Redis
) -> None:
    payment = make_payment()
    assert PaymentStore(db).create(payment).outcome.value == "CREATED"
    offline = OfflineStore(db)
    for _ in range(2):
        offline.mark(payment, request_fingerprint="fp", collected_at=NOW - timedelta(hours=2),
                     detail={})  # fmt: skip
    assert list(offline.marks([payment.id])) == [payment.id]
    device_id = _device(db, redis)
    offline.set_limits(device_id, LimitOverrides(cash_in_hand_cap=Decimal(900)), now=NOW)
    assert offline.limits_for(device_id) == LimitOverrides(cash_in_hand_cap=Decimal(900))


def _quarantined(consumer_code: str, bill_id: str) -> Payment:
    """A payment as an offline upload quarantines it: NEEDS_ATTENTION, holding no claims."""
    payment = make_payment(bills=(make_line(bill_id=bill_id, consumer_code=consumer_code),))
    return states.transition(
        payment, PaymentStatus.NEEDS_ATTENTION, actor="offline-upload",
        reason="OFFLINE_CONFLICT", at=NOW,
    )  # fmt: skip


def test_a_retried_quarantined_payment_holds_its_consumer_again(db: Database) -> None:
    store, offline = PaymentStore(db), OfflineStore(db)
    quarantined = _quarantined("C1", "old-bill")
    offline.quarantine(quarantined, request_fingerprint="fp", collected_at=NOW, detail={})
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") is None

    retried = store.save(
        states.transition(quarantined, PaymentStatus.PENDING, actor="op", reason="retry", at=NOW),
        fence=None,
    )

    assert retried.status is PaymentStatus.PENDING
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") == quarantined.id
    assert store.live_payment_for_bills(["old-bill"]) == {"old-bill": quarantined.id}
    # a second payment of the consumer, on its new bill, waits for the retried one
    other = make_payment(bills=(make_line(bill_id="new-bill", consumer_code="C1"),))
    result = store.create(other)
    assert (result.outcome, result.payment_id) == (CreateOutcome.CONFLICT, quarantined.id)


def test_a_quarantined_payment_is_not_reopened_while_another_payment_of_its_consumer_is_open(
    db: Database,
) -> None:
    store, offline = PaymentStore(db), OfflineStore(db)
    quarantined = _quarantined("C1", "old-bill")
    offline.quarantine(quarantined, request_fingerprint="fp", collected_at=NOW, detail={})
    counter = make_payment(bills=(make_line(bill_id="new-bill", consumer_code="C1"),))
    assert store.create(counter).outcome is CreateOutcome.CREATED

    with pytest.raises(ConsumerHeld) as held:
        store.save(
            states.transition(
                quarantined, PaymentStatus.PENDING, actor="op", reason="retry", at=NOW
            ),
            fence=None,
        )

    assert held.value.holder == counter.id
    stored = store.get(quarantined.id)
    assert stored is not None and stored.status is PaymentStatus.NEEDS_ATTENTION
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") == counter.id


def test_a_quarantined_payment_saved_still_needing_attention_takes_no_claim(
    db: Database,
) -> None:
    store, offline = PaymentStore(db), OfflineStore(db)
    quarantined = _quarantined("C1", "b1")
    offline.quarantine(quarantined, request_fingerprint="fp", collected_at=NOW, detail={})
    # the same bill was paid meanwhile through us, at the counter: registered
    counter = make_payment(bills=(make_line(bill_id="b1", consumer_code="C1"),))
    assert store.create(counter).outcome is CreateOutcome.CREATED
    store.save(
        states.transition(counter, PaymentStatus.REGISTERED, actor="w", reason="ok", at=NOW),
        fence=None,
    )

    # a history entry (reconciliation, a note) on the quarantined payment
    store.save(states.record(quarantined, "checked", actor="reconcile", at=NOW), fence=None)

    assert store.live_payment_for_bills(["b1"]) == {"b1": counter.id}
    assert store.pending_for_consumer("pb.amritsar", "WS", "C1") is None
    # and its retry names the bill's payment
    stored = store.get(quarantined.id)
    assert stored is not None
    with pytest.raises(BillHeld) as held:
        store.save(
            states.transition(stored, PaymentStatus.PENDING, actor="op", reason="retry", at=NOW),
            fence=None,
        )
    assert (held.value.bill_id, held.value.holder) == ("b1", counter.id)


def test_an_uploaded_payment_is_marked_offline_in_its_own_transaction(db: Database) -> None:
    store, offline = PaymentStore(db), OfflineStore(db)
    arrival = OfflineArrival(
        request_fingerprint="fp-sent",
        collected_at=NOW - timedelta(hours=3),
        detail={"retargeted": [{"from": "b-old", "to": "b-new"}]},
    )
    payment = make_payment(bills=(make_line(bill_id="b-new", consumer_code="C1"),))
    assert store.create(payment, offline=arrival).outcome is CreateOutcome.CREATED
    # refused (the consumer is held): neither the payment nor its mark is written
    refused = make_payment(bills=(make_line(bill_id="b-other", consumer_code="C1"),))
    assert store.create(refused, offline=arrival).outcome is CreateOutcome.CONFLICT

    marks = offline.marks([payment.id, refused.id])

    assert list(marks) == [payment.id]
    mark = marks[payment.id]
    assert (mark.request_fingerprint, mark.collected_at, mark.quarantined) == (
        "fp-sent",
        NOW - timedelta(hours=3),
        False,
    )
    assert mark.detail == {"retargeted": [{"from": "b-old", "to": "b-new"}]}


def test_offline_cash_held_counts_cash_uploaded_since_the_last_cash_hand_over_and_not_given_back(
    db: Database, redis: redis_lib.Redis
) -> None:
    store, offline, cash = PaymentStore(db), OfflineStore(db), CashStore(db)
    device_id = _device(db, redis)
    arrival = OfflineArrival(request_fingerprint="fp", collected_at=NOW - timedelta(hours=1),
                             detail={})  # fmt: skip

    def uploaded(amount: int, consumer: str, *, at_minutes: int, **overrides: object) -> Payment:
        payment = make_payment(
            device_id=device_id,
            created_at=NOW + timedelta(minutes=at_minutes),
            collected_at=NOW - timedelta(hours=1),
            bills=(make_line(consumer_code=consumer, amount=amount, total_due=amount),),
            **overrides,
        )
        assert store.create(payment, offline=arrival).outcome is CreateOutcome.CREATED
        return payment

    uploaded(100, "C-before", at_minutes=0)  # settled by the hand-over below
    cash.settle(device_id, ["CASH"], lambda held: [replace(
        entry(expected=100, counted=100), at=NOW + timedelta(minutes=1),
        payment_ids=tuple(h.payment_id for h in held))])  # fmt: skip
    uploaded(200, "C-held", at_minutes=2)
    uploaded(400, "C-cheque", at_minutes=2, payment_mode="CHEQUE")  # not cash
    refunded = uploaded(800, "C-refunded", at_minutes=3)
    attention = states.transition(refunded, PaymentStatus.NEEDS_ATTENTION, actor="w",
                                  reason="x", at=NOW)  # fmt: skip
    attention = store.save(attention, fence=None)
    store.save(states.transition(attention, PaymentStatus.RESOLVED, actor="op",
                                 reason="REFUNDED", at=NOW), fence=None)  # fmt: skip
    judged = uploaded(1600, "C-judged", at_minutes=4)  # in the upload being judged
    beyond = _quarantined("C-beyond", "bill-beyond")
    beyond = replace(beyond, device_id=device_id, created_at=NOW + timedelta(minutes=5))
    offline.quarantine(beyond, request_fingerprint="fp", collected_at=NOW,
                       detail={"code": "OFFLINE_CASH_LIMIT_EXCEEDED"})  # fmt: skip
    other_reason = _quarantined("C-moved", "bill-moved")
    other_reason = replace(other_reason, device_id=device_id,
                           created_at=NOW + timedelta(minutes=5))  # fmt: skip
    offline.quarantine(other_reason, request_fingerprint="fp", collected_at=NOW,
                       detail={"code": "BILL_ALREADY_PAID"})  # fmt: skip

    held = offline.cash_held(device_id, excluding_keys=[judged.idempotency_key])

    assert held == Decimal(200) + other_reason.total_amount
    assert offline.cash_held("another-device") == Decimal(0)
