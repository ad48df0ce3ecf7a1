"""RECEIPTED_BY_HAND for a payment of several bills: DIGIT gives each bill of a payment its own
receipt (digest 5.3), so one receipt names the whole DIGIT payment it belongs to, and a clerk who
took the bills one by one made one DIGIT payment per bill: one receipt of each is named. Through
the domain operation, the console and the CLI, against the DIGIT sandbox over HTTP."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from integrator.payments.models import Payment, PaymentBill, PaymentStatus
from integrator.payments.operations import (
    OperationRefused,
    PaymentOperations,
    PaymentQuery,
    Resolution,
)
from integrator.services import Services
from integrator.settings import Settings
from tests.e2e.conftest import Sandbox
from tests.ops.conftest import (
    AMRITSAR,
    SW_RAMESH,
    WS_RAMESH,
    counter_payment,
    make_payment,
    signed_in,
)
from tests.ops.test_cli import ALICE, run


def current_bill(services: Services, business_service: str, consumer_code: str) -> PaymentBill:
    [bill] = services.digit.fetch_bills(
        tenant_id=AMRITSAR, business_service=business_service, consumer_code=consumer_code
    )
    return PaymentBill(
        bill_id=bill.id,
        bill_number=bill.bill_number,
        consumer_code=consumer_code,
        business_service=business_service,
        amount=bill.total_amount,
        total_due=bill.total_amount,
    )


def water_and_sewerage(services: Services, **overrides: Any) -> Payment:
    """NEEDS_ATTENTION: Ramesh's WS bill (815) and SW bill (315) paid together, 1130."""
    bills = (current_bill(services, "WS", WS_RAMESH), current_bill(services, "SW", SW_RAMESH))
    payment = make_payment(services, bills=bills, **overrides)
    assert [b.amount for b in payment.bills] == [Decimal(815), Decimal(315)]
    return payment


def receipts_of(digit_payment: dict[str, Any]) -> list[str]:
    return [d["receiptNumber"] for d in digit_payment["paymentDetails"]]


@pytest.mark.parametrize("named", [0, 1], ids=["the WS receipt", "the SW receipt"])
def test_one_receipt_of_our_two_bill_digit_payment_closes_it_and_records_both(
    services: Services, operations: PaymentOperations, named: int
) -> None:
    payment = water_and_sewerage(services)
    ours = services.digit.create_payment(services.registrar.digit_request(payment))
    receipts = {d.bill_id: d.receipt_number for d in ours.details}
    assert len(set(receipts.values())) == 2  # one receipt per bill

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=ours.details[named].receipt_number,
        note="DIGIT holds our payment",
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "RECEIPTED_BY_HAND")
    assert {b.bill_id: b.receipt_number for b in done.bills} == receipts
    assert done.digit_payment_id == ours.id
    detail = done.history[-1].detail
    assert sorted(detail["receiptNumbers"]) == sorted(receipts.values())
    assert detail["digitPaymentIds"] == [ours.id]
    for receipt in receipts.values():  # either receipt now finds the payment
        found = operations.finder.find(PaymentQuery(receipt_number=receipt))
        assert [p.id for p in found.payments] == [payment.id]


def test_a_clerks_separate_receipts_close_it_only_when_each_bills_receipt_is_named(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment = water_and_sewerage(services)
    ws_receipt = receipts_of(counter_payment(world))[0]
    sw_receipt = receipts_of(counter_payment(world, SW_RAMESH, "SW"))[0]

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=ws_receipt,
            note="the clerk took it at the counter",
        )
    assert refused.value.code == "RECEIPT_AMOUNT_DIFFERS"
    assert f"SW {SW_RAMESH} 0" in refused.value.message
    assert f"SW {SW_RAMESH} 315" in refused.value.message
    assert services.payments_store.get(payment.id).status is PaymentStatus.NEEDS_ATTENTION  # type: ignore[union-attr]

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=f"{ws_receipt}, {sw_receipt}",
        note="the clerk took it at the counter",
    )

    assert (done.status, done.resolution) == (PaymentStatus.RESOLVED, "RECEIPTED_BY_HAND")
    assert done.receipt_numbers == (ws_receipt, sw_receipt)
    assert len(done.history[-1].detail["digitPaymentIds"]) == 2


def test_a_clerks_receipts_replace_those_of_our_cancelled_digit_payment(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    # DIGIT_PAYMENT_CANCELLED: our DIGIT payment (receipts on the bills) was cancelled, the
    # dues re-opened as new bills, and a clerk took them again, one consumer at a time
    payment = water_and_sewerage(services)
    ours = services.digit.create_payment(services.registrar.digit_request(payment))
    payment = services.payments_store.save(
        replace(
            payment,
            digit_payment_id=ours.id,
            bills=tuple(
                replace(b, receipt_number=d.receipt_number)
                for b, d in zip(payment.bills, ours.details, strict=True)
            ),
        ),
        fence=None,
    )
    world.admin("cancel-payment", tenantId=AMRITSAR, paymentId=ours.id)
    world.pass_backupdate_lag()
    clerk = [counter_payment(world), counter_payment(world, SW_RAMESH, "SW")]
    assert {d["billId"] for p in clerk for d in p["paymentDetails"]}.isdisjoint(payment.bill_ids)

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=" ".join(receipts_of(p)[0] for p in clerk),
        note="a clerk took it again",
    )

    assert done.receipt_numbers == tuple(receipts_of(p)[0] for p in clerk)
    found = operations.finder.find(PaymentQuery(receipt_number=receipts_of(clerk[1])[0]))
    assert [p.id for p in found.payments] == [payment.id]


def test_a_bill_paid_by_two_receipts_is_refused_as_a_bill_records_one(
    services: Services, operations: PaymentOperations, world: Sandbox
) -> None:
    payment = make_payment(services)  # took 815 for the WS bill
    part = world.admin(
        "counter-payment",
        tenantId=AMRITSAR,
        businessService="WS",
        consumerCode=WS_RAMESH,
        amount=400,
    )
    first = receipts_of(part["Payments"][0])[0]
    world.pass_backupdate_lag()  # the remainder is billed anew, and the clerk takes it
    second = receipts_of(counter_payment(world))[0]

    with pytest.raises(OperationRefused) as refused:
        operations.resolve(
            payment.id,
            operator="alice",
            resolution=Resolution.RECEIPTED_BY_HAND,
            receipt_number=f"{first},{second}",
            note="the clerk took it in two goes",
        )

    assert refused.value.code == "SEVERAL_RECEIPTS_FOR_A_BILL"
    assert first in refused.value.message and second in refused.value.message


def test_the_console_closes_a_two_bill_payment_with_one_receipt_of_each_digit_payment(
    live: str, services: Services, world: Sandbox
) -> None:
    payment = water_and_sewerage(services)
    receipts = [
        receipts_of(counter_payment(world))[0],
        receipts_of(counter_payment(world, SW_RAMESH, "SW"))[0],
    ]
    http, csrf = signed_in(live, "alice")

    answer = http.post(
        f"{live}/ops/payments/{payment.id}/resolve",
        data={
            "csrf_token": csrf,
            "resolution": "RECEIPTED_BY_HAND",
            "receipt_number": ", ".join(receipts),
            "note": "the clerk took both bills",
        },
        timeout=30,
    )

    assert answer.status_code == 200 and "RESOLVED as RECEIPTED_BY_HAND" in answer.text
    for receipt in receipts:
        assert receipt in answer.text
    stored = services.payments_store.get(payment.id)
    assert stored is not None and stored.receipt_numbers == tuple(receipts)


def test_the_cli_closes_a_two_bill_payment_with_one_receipt_of_our_digit_payment(
    ops_settings: Settings, services: Services
) -> None:
    payment = water_and_sewerage(services)
    ours = services.digit.create_payment(services.registrar.digit_request(payment))

    code, out, err = run(
        ops_settings,
        "payments",
        "resolve",
        payment.id,
        "--as",
        "RECEIPTED_BY_HAND",
        "--receipt",
        ours.details[1].receipt_number,
        "--note",
        "DIGIT holds our payment",
        env=ALICE,
    )

    assert code == 0, err
    assert out.strip() == f"{payment.id}\tRESOLVED\tRECEIPTED_BY_HAND"
    stored = services.payments_store.get(payment.id)
    assert stored is not None
    assert sorted(stored.receipt_numbers) == sorted(d.receipt_number for d in ours.details)


def test_the_cli_takes_a_receipt_of_each_digit_payment_a_clerk_made(
    ops_settings: Settings, services: Services, world: Sandbox
) -> None:
    payment = water_and_sewerage(services)
    receipts = [
        receipts_of(counter_payment(world))[0],
        receipts_of(counter_payment(world, SW_RAMESH, "SW"))[0],
    ]

    code, _, err = run(
        ops_settings,
        "payments",
        "resolve",
        payment.id,
        "--as",
        "RECEIPTED_BY_HAND",
        "--receipt",
        receipts[0],
        "--receipt",
        receipts[1],
        "--note",
        "the clerk took both bills",
        env=ALICE,
    )

    assert code == 0, err
    stored = services.payments_store.get(payment.id)
    assert stored is not None and stored.receipt_numbers == tuple(receipts)
