"""The operator's use cases against a real Redis and the DIGIT sandbox over HTTP."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from rq import Queue

from integrator.jobs.scheduling import job_id_for
from integrator.payments import states
from integrator.payments.models import Payment, PaymentBill, PaymentStatus
from integrator.payments.operations import (
    OperationRefused,
    PaymentOperations,
    PaymentQuery,
    Resolution,
)
from integrator.payments.ports import CreateOutcome
from integrator.services import Services
from tests.e2e.conftest import Sandbox
from tests.ops.conftest import SW_RAMESH, WS_RAMESH, counter_payment, make_payment


def registration_jobs(services: Services) -> list[str]:
    return Queue("registration", connection=services.redis).job_ids


def test_retry_moves_needs_attention_back_to_pending_and_schedules_it_now(
    services: Services, operations: PaymentOperations
) -> None:
    payment = make_payment(services)

    done = operations.retry(payment.id, operator="alice")

    assert done.status is PaymentStatus.PENDING
    assert done.needs_attention_reason is None
    last = done.history[-1]
    assert (last.actor, last.from_status, last.to_status) == (
        "operator:alice",
        PaymentStatus.NEEDS_ATTENTION,
        PaymentStatus.PENDING,
    )
    assert registration_jobs(services) == [job_id_for(payment.id)]


def test_retry_of_a_pending_payment_is_recorded_and_scheduled(
    services: Services, operations: PaymentOperations
) -> None:
    payment = make_payment(services, status=PaymentStatus.PENDING)

    done = operations.retry(payment.id, operator="alice")

    assert done.status is PaymentStatus.PENDING
    assert (done.history[-1].event, done.history[-1].actor) == ("operator_retry", "operator:alice")
    assert registration_jobs(services) == [job_id_for(payment.id)]


def test_retry_while_an_attempt_holds_the_payment_is_refused_and_writes_nothing(
    services: Services, operations: PaymentOperations
) -> None:
    # an unfenced write during an attempt made the attempt's own saves fail (found by review)
    from integrator.store.leases import LeaseStore

    payment = make_payment(services, status=PaymentStatus.PENDING)
    assert LeaseStore(services.db).acquire(payment.id, ttl_seconds=30) is not None

    with pytest.raises(OperationRefused) as refused:
        operations.retry(payment.id, operator="alice")

    assert refused.value.code == "BUSY"
    stored = operations.get(payment.id)
    assert stored.version == payment.version and stored.history == payment.history
    assert registration_jobs(services) == []


def test_a_final_payment_is_not_retried(services: Services, operations: PaymentOperations) -> None:
    payment = make_payment(services, status=PaymentStatus.REGISTERED)
    with pytest.raises(OperationRefused) as refused:
        operations.retry(payment.id, operator="alice")
    assert refused.value.code == "NOT_RETRYABLE"


def quarantined_offline(services: Services, *, bill_id: str) -> Payment:
    """A payment an offline upload quarantined: stored holding neither its bill nor its
    consumer (integrator.store.offline)."""
    now = datetime.now(UTC)
    n = uuid.uuid4().hex[:8]
    payment = Payment(
        id=f"pay-offline-{n}", device_id="dev-1", idempotency_key=f"offline-{n}",
        fingerprint="f" * 64, status=PaymentStatus.PENDING, tenant_id="pb.amritsar",
        payment_mode="CASH", paid_by="Ramesh Kumar", payer_name="Ramesh Kumar",
        mobile_number=None, instrument_number=None, instrument_date=None,
        transaction_number=None, collected_at=now - timedelta(hours=1),
        bills=(
            PaymentBill(bill_id=bill_id, bill_number="B-1", consumer_code=WS_RAMESH,
                        business_service="WS", amount=Decimal(815), total_due=Decimal(815)),
        ),
        created_at=now,
    )  # fmt: skip
    quarantined = states.transition(
        payment, PaymentStatus.NEEDS_ATTENTION, actor="offline-upload",
        reason="OFFLINE_CONFLICT", at=now,
    )  # fmt: skip
    created = services.offline_store.quarantine(
        quarantined, request_fingerprint="f" * 64, collected_at=payment.collected_at, detail={}
    )
    assert created.outcome is CreateOutcome.CREATED
    return quarantined


def quarantined_offline_copy(payment: Payment) -> Payment:
    """Another payment of the same consumer, on the consumer's next bill."""
    n = uuid.uuid4().hex[:8]
    bill = replace(payment.bills[0], bill_id=f"next-bill-{n}")
    return replace(
        payment, id=f"pay-next-{n}", idempotency_key=f"next-{n}", bills=(bill,), history=()
    )


def test_a_retried_quarantined_payment_holds_its_consumer_against_a_second_payment(
    services: Services, operations: PaymentOperations
) -> None:
    quarantined = quarantined_offline(services, bill_id="bill-served-offline")

    retried = operations.retry(quarantined.id, operator="alice")

    assert retried.status is PaymentStatus.PENDING
    consumer = quarantined.bills[0].consumer_code
    # another payment of the consumer (on its current bill) waits for the retried one
    second = replace(quarantined_offline_copy(quarantined), status=PaymentStatus.PENDING)
    result = services.payments_store.create(second)
    assert (result.outcome, result.payment_id) == (CreateOutcome.CONFLICT, quarantined.id)
    assert services.payments_store.pending_for_consumer("pb.amritsar", "WS", consumer) == (
        quarantined.id
    )


def test_a_quarantined_payment_is_not_retried_while_another_of_its_consumer_is_open(
    services: Services, operations: PaymentOperations
) -> None:
    quarantined = quarantined_offline(services, bill_id="bill-served-offline")
    open_payment = make_payment(services)  # NEEDS_ATTENTION on the consumer's current bill

    with pytest.raises(OperationRefused) as refused:
        operations.retry(quarantined.id, operator="alice")

    assert refused.value.code == "CONSUMER_HAS_OPEN_PAYMENT"
    assert open_payment.id in refused.value.message
    stored = services.payments_store.get(quarantined.id)
    assert stored is not None and stored.status is PaymentStatus.NEEDS_ATTENTION
    assert registration_jobs(services) == []


def test_retry_matching_retries_only_needs_attention_payments_of_the_filter(
    services: Services, operations: PaymentOperations
) -> None:
    # one unfinished payment per consumer and tenant (the consumer lock): vary the tenant
    ws = [make_payment(services, bill_id=f"ws-bill-{i}", tenant_id=f"pb.t{i}") for i in range(3)]
    sw = make_payment(services, consumer_code=SW_RAMESH, business_service="SW", bill_id="sw-bill-1")
    pending = make_payment(
        services, status=PaymentStatus.PENDING, bill_id="ws-bill-p", consumer_code="WS/OTHER"
    )

    summary = operations.retry_matching(
        PaymentQuery(consumer_code=ws[0].bills[0].consumer_code), operator="alice"
    )

    assert sorted(summary.retried) == sorted(p.id for p in ws)
    assert services.payments_store.get(sw.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]
    assert pending.id not in summary.retried


def test_refunded_is_refused_while_digit_holds_our_own_payment(
    services: Services, operations: PaymentOperations
) -> None:
    payment = make_payment(services)
    ours = services.digit.create_payment(services.registrar.digit_request(payment))
    receipt = ours.details[0].receipt_number

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id, operator="alice", resolution=Resolution.REFUNDED, note="cash given back"
        )

    assert refused.value.code == "DIGIT_HOLDS_PAYMENT"
    assert receipt in refused.value.message
    assert services.payments_store.get(payment.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


@pytest.mark.parametrize("counter_amount", [None, 100], ids=["whole bill", "part of it"])
def test_a_bill_paid_elsewhere_is_closed_as_refunded_and_frees_the_consumer(
    services: Services, operations: PaymentOperations, world: Sandbox, counter_amount: int | None
) -> None:
    payment = make_payment(services)
    extra = {} if counter_amount is None else {"amount": counter_amount}
    world.admin(
        "counter-payment",
        tenantId="pb.amritsar",
        businessService="WS",
        consumerCode=payment.bills[0].consumer_code,
        **extra,
    )

    done = operations.resolve(
        payment.id, operator="alice", resolution=Resolution.REFUNDED, note="cash given back"
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "REFUNDED")
    assert (
        services.payments_store.pending_for_consumer(
            "pb.amritsar", "WS", payment.bills[0].consumer_code
        )
        is None
    )


def test_receipted_by_hand_refuses_a_receipt_for_another_amount(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment = make_payment(services)  # took 815
    partial = world.admin(
        "counter-payment",
        tenantId="pb.amritsar",
        businessService="WS",
        consumerCode=payment.bills[0].consumer_code,
        amount=100,
    )
    receipt = partial["Payments"][0]["paymentDetails"][0]["receiptNumber"]

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=receipt,
            note="by hand",
        )

    assert refused.value.code == "RECEIPT_AMOUNT_DIFFERS"
    assert "100" in refused.value.message and "815" in refused.value.message


def test_refunded_is_refused_while_digit_is_unreachable(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment = make_payment(services)
    world.faults(down=True)

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id, operator="alice", resolution=Resolution.REFUNDED, note="cash given back"
        )

    assert refused.value.code == "DIGIT_UNREACHABLE"
    assert services.payments_store.get(payment.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


def test_refunded_after_digit_shows_no_payment_resolves_with_the_note(
    services: Services, operations: PaymentOperations
) -> None:
    payment = make_payment(services)

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.REFUNDED,
        note="cash given back at the counter",
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "REFUNDED")
    last = done.history[-1]
    assert last.actor == "operator:alice"
    assert last.detail["note"] == "cash given back at the counter"
    # final: the consumer is free for a new payment
    assert (
        services.payments_store.pending_for_consumer(
            "pb.amritsar", "WS", payment.bills[0].consumer_code
        )
        is None
    )


def test_receipted_by_hand_verifies_the_receipt_in_digit_and_keeps_it(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment = make_payment(services)
    receipt = counter_payment(world)["paymentDetails"][0]["receiptNumber"]

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=receipt,
        note="the clerk took it at the counter",
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "RECEIPTED_BY_HAND")
    assert done.receipt_numbers == (receipt,)
    assert done.history[-1].detail["receiptNumber"] == receipt
    found = operations.finder.find(PaymentQuery(receipt_number=receipt))
    assert [p.id for p in found.payments] == [payment.id]


def test_receipted_by_hand_with_a_receipt_digit_does_not_know_is_refused(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment = make_payment(services)
    other_bill_receipt = counter_payment(world, SW_RAMESH, "SW")["paymentDetails"][0][
        "receiptNumber"
    ]

    for receipt in ("NO/SUCH/RECEIPT", other_bill_receipt):
        with pytest.raises(OperationRefused) as refused:
            operations.resolve(
                payment.id,
                operator="alice",
                resolution=Resolution.RECEIPTED_BY_HAND,
                receipt_number=receipt,
                note="by hand",
            )
        assert refused.value.code == "RECEIPT_NOT_FOUND", receipt


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"resolution": Resolution.REFUNDED, "note": "  "}, "NOTE_REQUIRED"),
        ({"resolution": Resolution.RECEIPTED_BY_HAND, "note": "x"}, "RECEIPT_REQUIRED"),
    ],
)
def test_resolve_needs_a_note_and_a_receipt(
    services: Services, operations: PaymentOperations, kwargs: dict[str, object], code: str
) -> None:
    payment = make_payment(services, bill_id="b-1")
    with pytest.raises(OperationRefused) as refused:
        operations.resolve(payment.id, operator="alice", **kwargs)  # type: ignore[arg-type]
    assert refused.value.code == code


def test_a_pending_payment_cannot_be_resolved(
    services: Services, operations: PaymentOperations
) -> None:
    payment = make_payment(services, status=PaymentStatus.PENDING, bill_id="b-1")
    with pytest.raises(OperationRefused) as refused:
        operations.resolve(payment.id, operator="alice", resolution=Resolution.REFUNDED, note="x")
    assert refused.value.code == "NOT_RESOLVABLE"


def test_finder_answers_each_criterion_newest_first(
    services: Services, operations: PaymentOperations
) -> None:
    base = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    old = make_payment(
        services,
        bill_id="b-old",
        created_at=base - timedelta(days=5),
        consumer_code="C-1",
        mobile_number="9000001111",
    )
    new = make_payment(
        services,
        bill_id="b-new",
        created_at=base,
        consumer_code="C-1",
        tenant_id="pb.jalandhar",
        status=PaymentStatus.PENDING,
        mobile_number="9000002222",
    )
    find = operations.finder.find

    def ids(**criteria: object) -> list[str]:
        return [p.id for p in find(PaymentQuery(**criteria)).payments]  # type: ignore[arg-type]

    assert ids() == [new.id, old.id]
    assert ids(payment_id=old.id) == [old.id]
    assert ids(idempotency_key=new.idempotency_key) == [new.id]
    assert ids(bill_id="b-old") == [old.id]
    assert ids(consumer_code="C-1") == [new.id, old.id]
    assert ids(consumer_code="C-1", status=PaymentStatus.PENDING) == [new.id]
    assert ids(mobile_digits="1111") == [old.id]
    assert ids(mobile_digits="+91 90000 02222") == [new.id]
    assert ids(created_from=date(2026, 3, 10)) == [new.id]
    assert ids(created_to=date(2026, 3, 9)) == [old.id]
    assert ids(status=PaymentStatus.NEEDS_ATTENTION) == [old.id]
    assert ids(
        status=PaymentStatus.NEEDS_ATTENTION,
        created_from=date(2026, 3, 1),
        created_to=date(2026, 3, 31),
    ) == [old.id]
    assert ids(status=PaymentStatus.PENDING, created_to=date(2026, 3, 9)) == []


@pytest.mark.parametrize(
    "criteria", [{}, {"consumer_code": "C-9"}, {"status": PaymentStatus.NEEDS_ATTENTION}]
)
def test_finder_pages_with_a_cursor_without_gaps_or_repeats(
    services: Services, operations: PaymentOperations, criteria: dict[str, object]
) -> None:
    made = [
        make_payment(
            services,
            bill_id=f"b-{i}",
            consumer_code="C-9",
            tenant_id=f"pb.t{i}",
            created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        )
        for i in range(7)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        page = operations.finder.find(
            PaymentQuery(**criteria),
            cursor=cursor,  # type: ignore[arg-type]
            limit=3,
        )
        seen += [p.id for p in page.payments]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [p.id for p in reversed(made)]


def test_a_receipt_already_recorded_on_another_payment_cannot_close_this_one(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    first = make_payment(services)
    receipt = counter_payment(world)["paymentDetails"][0]["receiptNumber"]
    operations.resolve(
        first.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=receipt,
        note="the clerk took it at the counter",
    )
    second = make_payment(services, tenant_id="pb.amritsar", bill_id=first.bills[0].bill_id)

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            second.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=receipt,
            note="the same receipt again",
        )

    assert refused.value.code == "RECEIPT_OF_ANOTHER_PAYMENT"
    assert services.payments_store.get(second.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


def _create_unanswered(services: Services, *, sent_ago: timedelta, **payment: Any) -> Payment:
    """NEEDS_ATTENTION after a create DIGIT gave no answer to, `sent_ago`: DIGIT may still
    commit that create until CREATE_SETTLE_SECONDS after it was sent."""
    payment = make_payment(services, status=PaymentStatus.PENDING, **payment)
    sent_at = datetime.now(UTC) - sent_ago
    sent = states.mark_create_sent(payment, payment.bill_ids, actor="worker", at=sent_at)
    tried = states.record(
        sent,
        "attempt",
        actor="worker",
        at=sent_at + timedelta(seconds=30),
        reason="DigitUnavailable",
        detail={"createUnknown": True},
    )
    moved = states.transition(
        tried,
        PaymentStatus.NEEDS_ATTENTION,
        actor="worker",
        reason="DIGIT_REJECTED",
        at=sent_at + timedelta(minutes=1),
        codes=("INVALID_PAYMENTDETAIL",),
    )
    return services.payments_store.save(moved, fence=None)


def test_refunded_is_refused_while_a_create_of_ours_may_still_commit(
    services: Services, operations: PaymentOperations
) -> None:
    assert services.settings.create_settle_seconds == 7200
    payment = _create_unanswered(services, sent_ago=timedelta(minutes=10))

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id, operator="alice", resolution=Resolution.REFUNDED, note="cash given back"
        )

    assert refused.value.code == "CREATE_MAY_STILL_COMMIT"
    settles = payment.history[-3].at + timedelta(seconds=7200)  # the create_sent entry
    assert settles.isoformat(timespec="minutes") in refused.value.message
    assert services.payments_store.get(payment.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


def test_refunded_is_allowed_once_the_unanswered_create_has_settled(
    services: Services, operations: PaymentOperations
) -> None:
    payment = _create_unanswered(services, sent_ago=timedelta(hours=2, minutes=5))

    done = operations.resolve(
        payment.id, operator="alice", resolution=Resolution.REFUNDED, note="cash given back"
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "REFUNDED")


def test_a_clerks_receipt_is_refused_while_a_create_of_ours_may_still_commit(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment = _create_unanswered(services, sent_ago=timedelta(minutes=10))
    receipt = counter_payment(world)["paymentDetails"][0]["receiptNumber"]

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=receipt,
            note="the clerk took it at the counter",
        )

    assert refused.value.code == "CREATE_MAY_STILL_COMMIT"


def test_our_own_late_create_is_receipted_by_hand_within_the_settle_period(
    services: Services, operations: PaymentOperations
) -> None:
    payment = _create_unanswered(services, sent_ago=timedelta(minutes=10))
    # the unanswered create, committed late by DIGIT: it carries our payment id
    ours = services.digit.create_payment(services.registrar.digit_request(payment))
    receipt = ours.details[0].receipt_number

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=receipt,
        note="DIGIT recorded our create late",
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "RECEIPTED_BY_HAND")


def test_a_clerks_receipt_is_refused_once_our_own_create_has_landed(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    # settled long ago, but DIGIT did commit our create: a clerk's receipt beside it would
    # record the consumer's money twice
    payment = _create_unanswered(services, sent_ago=timedelta(hours=3), amount=Decimal(300))
    ours = services.digit.create_payment(services.registrar.digit_request(payment))
    world.pass_backupdate_lag()  # the remainder is billed anew, and a clerk takes it
    receipt = counter_payment(world)["paymentDetails"][0]["receiptNumber"]

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=receipt,
            note="the clerk took it at the counter",
        )

    assert refused.value.code == "DIGIT_HOLDS_PAYMENT"
    assert ours.details[0].receipt_number in refused.value.message
