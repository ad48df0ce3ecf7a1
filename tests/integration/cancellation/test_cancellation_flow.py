"""A cancellation end to end: asked for by the device that collected, approved by an operator,
sent to the DIGIT sandbox over real HTTP, the dues followed by a real worker, the device told by
GET and by its webhook."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import redis as redis_lib

from integrator import jsonutil
from integrator.payments.cancellation import (
    CancellationRefused,
    Cancellations,
    DuesState,
    RequestState,
)
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from integrator.store.open_claims import OpenClaimMarks
from tests.e2e.conftest import Sandbox, body_of
from tests.integration.cancellation.conftest import (
    AMRITSAR,
    ASHA,
    PT_RAMESH,
    Device,
    ask_to_cancel,
    current_bill,
    pay,
)
from tests.integration.jobs.conftest import wait_until
from tests.integration.webhooks.conftest import Receiver

Workers = Callable[..., subprocess.Popen[bytes]]


def _events(receiver: Receiver) -> list[dict[str, Any]]:
    return [jsonutil.loads(r.body) for r in receiver.received]


def test_a_device_cancellation_approved_by_an_operator_reverses_the_payment_and_reopens_dues(
    hooked_device: Device,
    services: Services,
    cancellations: Cancellations,
    world: Sandbox,
    receiver: Receiver,
    workers: Workers,
) -> None:
    workers()
    pos = hooked_device.pos
    original = current_bill(pos)
    paid = pay(pos)
    world.pass_backupdate_lag()
    assert pos.bills(tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH) == []

    asked = ask_to_cancel(pos, paid["id"], "Collected against the wrong consumer")

    assert asked.status_code == 202, asked.text
    request = body_of(asked)
    assert (request["paymentId"], request["state"]) == (paid["id"], "REQUESTED")
    seen = body_of(pos.get(f"/v1/payments/{paid['id']}"))
    assert seen["status"] == "REGISTERED" and seen["reversal"]["state"] == "REQUESTED"
    assert seen["reversal"]["requestedAt"] == request["requestedAt"]
    [digit_payment] = [p for p in world.payments() if p["id"] == _digit_id(services, paid["id"])]
    assert digit_payment["paymentStatus"] != "CANCELLED"  # only a request: nothing sent

    done = cancellations.approve(request["id"], operator=ASHA)

    assert done.state is RequestState.DONE
    [digit_payment] = [p for p in world.payments() if p["id"] == _digit_id(services, paid["id"])]
    assert (digit_payment["paymentStatus"], digit_payment["instrumentStatus"]) == (
        "CANCELLED",
        "CANCELLED",
    )
    payment = services.payments_store.get(paid["id"])
    assert payment is not None and payment.status is PaymentStatus.CANCELLED
    [moved] = [h for h in payment.history if h.to_status is PaymentStatus.CANCELLED]
    assert moved.actor == "operator:asha" and moved.reason == "Collected against the wrong consumer"
    assert moved.detail["requestedBy"] == f"device:{hooked_device.device_id}"
    assert moved.detail["approvedBy"] == "operator:asha"

    shown = body_of(pos.get(f"/v1/payments/{paid['id']}"))
    assert shown["status"] == "CANCELLED"
    assert shown["reversal"]["state"] == "DONE"
    assert shown["reversal"]["reason"] == "Collected against the wrong consumer"
    assert shown["reversal"]["requestedAt"] and shown["reversal"]["reversedAt"]

    cancelled_hook = wait_until(
        lambda: [e for e in _events(receiver) if e["event"] == "payment.cancelled"],
        timeout=20,
        what="the payment.cancelled webhook",
    )
    assert cancelled_hook[0]["payment"]["status"] == "CANCELLED"
    assert cancelled_hook[0]["payment"]["reversal"]["state"] == "DONE"

    # the worker follows the dues until billing re-opens them as a new bill
    followed = wait_until(
        lambda: (r := cancellations.get(done.id)).dues_state is DuesState.REOPENED and r,
        timeout=30,
        what="the successor bill",
    )
    successor = followed.successor_bills[original["billId"]]
    assert successor and successor != original["billId"]
    again = current_bill(pos)
    assert again["billId"] == successor
    assert again["totalAmount"] == original["totalAmount"]

    # the cancelled bill is dead: never paid again, here or in DIGIT
    refused = pos.pay(
        {
            "tenantId": AMRITSAR,
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "bills": [{"billId": original["billId"], "amount": original["totalAmount"]}],
        },
        key="pay-the-dead-bill",
    )
    assert refused.status_code == 422, refused.text
    # the device fetched the successor since: the old bill is superseded in what it was shown
    assert body_of(refused)["code"] in {"BILL_ALREADY_PAID", "BILL_SUPERSEDED"}


def test_the_device_cannot_approve_and_the_requester_cannot_decide(
    device: Device, cancellations: Cancellations, services: Services
) -> None:
    paid = pay(device.pos)
    made = cancellations.request_by_operator(
        operator=ASHA, payment_id=paid["id"], reason="Typed the wrong amount"
    )
    for decide in (cancellations.approve, cancellations.reject):
        try:
            decide(made.id, operator=ASHA)
        except CancellationRefused as exc:
            assert exc.code == "SAME_PERSON"
        else:
            raise AssertionError("the requester decided their own request")
    assert cancellations.get(made.id).state is RequestState.REQUESTED


def _digit_id(services: Services, payment_id: str) -> str:
    payment = services.payments_store.get(payment_id)
    assert payment is not None and payment.digit_payment_id
    return payment.digit_payment_id


def test_until_digit_reopens_the_dues_no_bill_is_said_as_not_yet_not_as_nothing_due(
    device: Device, cancellations: Cancellations, world: Sandbox
) -> None:
    pos = device.pos
    paid = pay(pos)
    world.pass_backupdate_lag()
    settled = pos.get("/v1/bills", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH)
    assert body_of(settled)["bills"] == [] and body_of(settled)["duesReopening"] == []
    world.admin("backupdate-lag", seconds=300)  # billing re-opens the dues five minutes later
    request = body_of(ask_to_cancel(pos, paid["id"]))
    assert cancellations.approve(request["id"], operator=ASHA).state is RequestState.DONE

    waiting = body_of(
        pos.get("/v1/bills", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH)
    )

    # DIGIT still shows the state before the cancellation: no bill, but not "nothing due"
    assert waiting["bills"] == []
    [reopening] = waiting["duesReopening"]
    assert reopening["action"] == "CANCEL" and reopening["reversedAt"]
    world.admin("clock", advance_seconds=400)
    reopened = body_of(
        pos.get("/v1/bills", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH)
    )
    assert [b["consumerCode"] for b in reopened["bills"]] == [PT_RAMESH]
    assert reopened["duesReopening"] == []


def test_a_remainder_bill_shown_before_the_dues_reopen_comes_with_the_reversal(
    device: Device, cancellations: Cancellations, world: Sandbox, redis: redis_lib.Redis
) -> None:
    pos = device.pos
    original = current_bill(pos)
    part = pay(pos, amount=Decimal(1000))
    world.pass_backupdate_lag()
    remainder = current_bill(pos)
    assert remainder["totalAmount"] == original["totalAmount"] - 1000
    plain = pos.get("/v1/bills", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH)
    assert body_of(plain)["duesReopening"] == []
    world.admin("backupdate-lag", seconds=300)
    request = body_of(ask_to_cancel(pos, part["id"]))
    assert cancellations.approve(request["id"], operator=ASHA).state is RequestState.DONE

    waiting = body_of(
        pos.get("/v1/bills", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH)
    )

    # DIGIT still shows the remainder: short by the reversed 1000 until billing re-opens
    assert [b["billId"] for b in waiting["bills"]] == [remainder["billId"]]
    [reopening] = waiting["duesReopening"]
    assert reopening["action"] == "CANCEL" and reopening["reversedAt"]
    # Redis losing its data loses no hint: the marks are rebuilt from the ledger, reversal too
    redis.flushall()
    for _ in range(2):
        again = pos.get(
            "/v1/bills", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH
        )
        assert body_of(again)["duesReopening"] == [reopening]
    assert redis.exists(OpenClaimMarks.complete_key())
    world.admin("clock", advance_seconds=400)
    reopened = body_of(
        pos.get("/v1/bills", tenantId=AMRITSAR, businessService="PT", consumerCode=PT_RAMESH)
    )
    # a bill new since the reversal: re-opened, before the dues job has recorded it
    assert cancellations.get(request["id"]).dues_state is DuesState.FOLLOWING
    [fresh] = reopened["bills"]
    assert fresh["billId"] != remainder["billId"]
    assert fresh["totalAmount"] == original["totalAmount"]
    assert reopened["duesReopening"] == []
