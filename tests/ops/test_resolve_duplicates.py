"""DUPLICATE_IN_DIGIT: two live DIGIT payments carry one payment's id (a create DIGIT committed
late on the old bill, beside the one on its successor), so the payer was charged twice. The
payment is not closed with either receipt while both are live; once DIGIT cancelled the extra
one, the receipt of the one that stays closes it. The chaos run's closing does the same."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from chaos.closing import LIVE_INSTRUMENT_STATUSES, PAYMENT_ID_KEY, close_one
from integrator.digit.models import DigitPayment
from integrator.jobs.reconcile import ReconcileWiring, run_digit_walk
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.operations import OperationRefused, PaymentOperations, Resolution
from integrator.services import Services
from tests.e2e.conftest import Sandbox
from tests.ops.conftest import AMRITSAR, WS_RAMESH, make_payment


def charged_twice(services: Services, world: Sandbox) -> tuple[Payment, DigitPayment, DigitPayment]:
    """NEEDS_ATTENTION with two live DIGIT payments of ours for Ramesh's water: 300 on the bill
    the device paid, and 300 on the bill DIGIT made for the rest (its successor)."""
    payment = make_payment(services, amount=Decimal(300))
    first = services.digit.create_payment(services.registrar.digit_request(payment))
    world.pass_backupdate_lag()  # the remainder is billed anew
    [successor] = services.digit.fetch_bills(
        tenant_id=AMRITSAR, business_service="WS", consumer_code=WS_RAMESH
    )
    moved = replace(
        payment,
        bills=(
            replace(payment.bills[0], bill_id=successor.id, retargeted_from=payment.bill_ids[0]),
        ),
    )
    second = services.digit.create_payment(services.registrar.digit_request(moved))
    return payment, first, second


def live_ours(world: Sandbox, payment_id: str) -> list[dict[str, Any]]:
    return [
        p
        for p in world.payments()
        if (p.get("additionalDetails") or {}).get(PAYMENT_ID_KEY) == payment_id
        and p["instrumentStatus"] in LIVE_INSTRUMENT_STATUSES
    ]


@pytest.mark.parametrize("named", ["first", "second"])
def test_neither_receipt_closes_a_payment_digit_holds_twice(
    services: Services, operations: PaymentOperations, world: Sandbox, named: str
) -> None:
    payment, first, second = charged_twice(services, world)
    receipt = (first if named == "first" else second).details[0].receipt_number

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=receipt,
            note="DIGIT holds our payment",
        )

    assert refused.value.code == "DIGIT_HOLDS_DUPLICATE"
    for held in (first, second):
        assert held.details[0].receipt_number in refused.value.message
    assert services.payments_store.get(payment.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]


def test_naming_both_receipts_does_not_close_it_either(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment, first, second = charged_twice(services, world)

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=f"{first.details[0].receipt_number} {second.details[0].receipt_number}",
            note="DIGIT holds our payment",
        )

    assert refused.value.code == "DIGIT_HOLDS_DUPLICATE"


def test_once_digit_cancelled_the_extra_one_the_receipt_that_stays_closes_it(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment, first, second = charged_twice(services, world)
    world.admin("cancel-payment", tenantId=AMRITSAR, paymentId=second.id)  # the newer one

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=first.details[0].receipt_number,
        note="DIGIT cancelled the extra payment",
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "RECEIPTED_BY_HAND")
    assert done.digit_payment_id == first.id
    assert done.receipt_numbers == (first.details[0].receipt_number,)


def test_the_chaos_closing_cancels_the_extra_payment_first_and_the_walk_finds_nothing(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment, first, second = charged_twice(services, world)

    done, refused = close_one(
        operations, payment, live_ours(world, payment.id), sandbox_url=world.base
    )

    assert (done, refused) == ("RECEIPTED_BY_HAND", None)
    assert [p["id"] for p in live_ours(world, payment.id)] == [first.id]
    [extra] = [p for p in world.payments() if p["id"] == second.id]
    assert extra["paymentStatus"] == "CANCELLED"
    closed = services.payments_store.get(payment.id)
    assert closed is not None and closed.status is PaymentStatus.RESOLVED
    assert closed.digit_payment_id == first.id
    today = datetime.now(services.settings.digit_timezone).date()
    walk = run_digit_walk(ReconcileWiring.of_services(services), first=today, last=today)
    assert [f for f in walk.summary()["findings"] if f["paymentId"] == payment.id] == []
    assert walk.summary()["explained"] >= 1
