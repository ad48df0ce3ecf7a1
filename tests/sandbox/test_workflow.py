"""`payments/{module}/_workflow` and billing's re-open of the dues (digest 13, Corrections 9)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import requests

from integrator.sandbox import billing, collection
from integrator.sandbox.backupdate import apply_back_update
from integrator.sandbox.world import SandboxConfig, World
from tests.sandbox.conftest import AMRITSAR, WS_RAMESH, Digit, body_of, codes, payment_body

PT = "PT-107-000123"  # Ramesh, Amritsar, two financial years
WORKFLOW = "/collection-services/payments/PT/_workflow"
LAG = 60
NOW_MS = int(time.time() * 1000)


def pay_pt(digit: Digit, amount: Any = None, code: str = PT, **overrides: Any) -> dict[str, Any]:
    bill = digit.bill(code, "PT")
    response = digit.pay([(bill, bill["totalAmount"] if amount is None else amount)], **overrides)
    assert response.status_code == 200, response.text
    [payment] = body_of(response)["Payments"]
    return payment  # type: ignore[no-any-return]


def workflow(digit: Digit, *items: dict[str, Any]) -> Any:
    return digit.post(WORKFLOW, {"PaymentWorkflows": list(items)})


def item(payment_id: str, action: str = "CANCEL", **extra: Any) -> dict[str, Any]:
    return {"paymentId": payment_id, "action": action, "tenantId": AMRITSAR, **extra}


def settle(digit: Digit) -> None:
    digit.admin("clock", {"advance_seconds": LAG + 1})


@pytest.fixture
def slow(digit: Digit) -> Digit:
    """The digit client with a back-update lag of a minute on the sandbox clock."""
    digit.admin("backupdate-lag", {"seconds": LAG})
    return digit


def test_cancel_answers_the_cancelled_payment_and_billing_reopens_later_as_a_new_bill(
    slow: Digit,
) -> None:
    digit = slow
    original = digit.bill(PT, "PT")
    payment = pay_pt(digit)
    settle(digit)
    assert body_of(digit.fetch(PT, "PT"))["Bill"] == []  # paid in full
    response = workflow(
        digit, item(payment["id"], reason="Wrong amount", additionalDetails={"posTxnId": "p9"})
    )
    assert response.status_code == 200, response.text
    body = body_of(response)
    assert body["ResponseInfo"]["status"] == "200 OK"
    [cancelled] = body["Payments"]
    assert (cancelled["paymentStatus"], cancelled["instrumentStatus"]) == ("CANCELLED",) * 2
    bill = cancelled["paymentDetails"][0]["bill"]
    assert (bill["status"], bill["isCancelled"]) == ("CANCELLED", True)
    assert bill["reasonForCancellation"] == "Wrong amount"
    assert bill["additionalDetails"] == {"posTxnId": "p9"}
    # not persisted: a search shows the status but no reason; CANCELLED is still returned
    [found] = body_of(
        digit.post("/collection-services/payments/PT/_search", tenantId=AMRITSAR, ids=payment["id"])
    )["Payments"]
    stored_bill = found["paymentDetails"][0]["bill"]
    assert (found["paymentStatus"], stored_bill["status"]) == ("CANCELLED", "CANCELLED")
    assert stored_bill["reasonForCancellation"] is None
    # until billing consumes the cancel topic, nothing is due
    assert body_of(digit.fetch(PT, "PT"))["Bill"] == []
    settle(digit)
    reopened = body_of(digit.fetch(PT, "PT"))
    assert reopened["ResposneInfo"] is None
    [new] = reopened["Bill"]
    assert new["id"] != original["id"] and new["billNumber"] != original["billNumber"]
    assert new["totalAmount"] == original["totalAmount"]
    # the cancelled bill id is dead forever: the DB's UNIQUE(billId) refuses it
    again = digit.pay([(original, original["totalAmount"])])
    assert codes(again) == ["PAYMENT_CREATION_FAILED"]
    assert "uk_egcl_paymentdetail" in body_of(again)["Errors"][0]["message"]
    assert original["id"] in body_of(again)["Errors"][0]["message"]


def test_a_partial_payment_cancelled_reopens_the_full_dues(slow: Digit) -> None:
    digit = slow
    original = digit.bill(PT, "PT")
    payment = pay_pt(digit, 1000)
    settle(digit)
    remainder = digit.bill(PT, "PT")
    assert remainder["totalAmount"] == original["totalAmount"] - 1000
    assert workflow(digit, item(payment["id"])).status_code == 200
    settle(digit)
    new = digit.bill(PT, "PT")
    assert new["id"] not in {original["id"], remainder["id"]}
    assert new["totalAmount"] == original["totalAmount"]
    old = body_of(
        digit.post("/billing-service/bill/v2/_search", tenantId=AMRITSAR, billId=remainder["id"])
    )["Bill"][0]
    assert old["status"] == "PAID"  # billing's row of an open bill is set PAID, never CANCELLED


def test_remit_is_consumed_like_a_cancellation_and_reopens_the_dues(slow: Digit) -> None:
    digit = slow
    original = digit.bill(PT, "PT")
    payment = pay_pt(digit)
    settle(digit)
    response = workflow(digit, item(payment["id"], "REMIT"))
    [remitted] = body_of(response)["Payments"]
    assert (remitted["paymentStatus"], remitted["instrumentStatus"]) == ("DEPOSITED", "REMITTED")
    assert remitted["paymentDetails"][0]["bill"]["status"] != "CANCELLED"
    settle(digit)
    assert digit.bill(PT, "PT")["totalAmount"] == original["totalAmount"]
    # now REMITTED: no longer a CANCEL candidate
    assert codes(workflow(digit, item(payment["id"]))) == ["RECEIPT_WORKFLOW_INVALID_RECEIPT"]


def test_a_repeat_on_the_cancel_topic_is_refused_audited_and_has_no_effect(slow: Digit) -> None:
    digit = slow
    original = digit.bill(PT, "PT")
    cheque = {
        "paymentMode": "CHEQUE",
        "instrumentNumber": "004512",
        "instrumentDate": NOW_MS - 86400 * 1000,
        "transactionNumber": "CHQ-004512",
    }
    payment = pay_pt(digit, **cheque)
    settle(digit)
    assert workflow(digit, item(payment["id"], "REMIT")).status_code == 200
    settle(digit)
    dishonoured = body_of(workflow(digit, item(payment["id"], "DISHONOUR", reason="Bounced")))
    [answer] = dishonoured["Payments"]
    assert (answer["paymentStatus"], answer["instrumentStatus"]) == ("DISHONOURED",) * 2
    assert answer["paymentDetails"][0]["bill"]["status"] == "CANCELLED"
    settle(digit)
    bill = digit.bill(PT, "PT")
    assert bill["totalAmount"] == original["totalAmount"]  # re-opened once, not twice
    audit = digit.get("backupdate-audit")["audit"]
    cancel_topic = [a for a in audit if a["topic"] == "cancel"]
    assert [a["error"] for a in cancel_topic] == [None, "EGBS_PAYMENT_BACKUPDATE_ERROR"]
    # a redelivery on the create topic is refused the same way
    digit.admin("redeliver", {"paymentId": payment["id"], "topic": "create"})
    settle(digit)
    assert digit.bill(PT, "PT")["id"] == bill["id"]
    assert digit.get("counters")["backupdate_duplicate"] == 2


def test_only_the_newest_payment_of_a_consumer_can_be_cancelled(slow: Digit) -> None:
    digit = slow
    first = pay_pt(digit, 1000)
    settle(digit)
    second = pay_pt(digit, 1000)
    refused = workflow(digit, item(first["id"]))
    assert codes(refused) == ["RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE"]
    assert body_of(refused)["Errors"][0]["message"].startswith("Can only cancel / dishonour")
    # cancelled in the same request, the newer one counts as removed
    both = workflow(digit, item(first["id"]), item(second["id"]))
    assert both.status_code == 200, both.text
    assert {p["paymentStatus"] for p in body_of(both)["Payments"]} == {"CANCELLED"}


def test_online_and_card_payments_can_never_be_cancelled(digit: Digit) -> None:
    card = pay_pt(digit, paymentMode="CARD", transactionNumber="T-1", instrumentNumber="4111")
    refused = workflow(digit, item(card["id"]))
    assert codes(refused) == ["RECEIPT_WORKFLOW_INVALID_RECEIPT"]
    assert body_of(refused)["Errors"][0]["message"] == (
        f"Payment not found in the system or not in editable state, {card['id']}"
    )


BAD: list[tuple[str, list[dict[str, Any]], list[str]]] = [
    ("no items", [], ["Size.paymentWorkflowRequest.paymentWorkflows"]),
    (
        "lower-case action",
        [item("P", "cancel")],
        ["NotNull.paymentWorkflowRequest.paymentWorkflows[0].action"],
    ),
    (
        "unknown action and no tenant",
        [{"paymentId": "P", "action": "REFUND"}],
        [
            "NotNull.paymentWorkflowRequest.paymentWorkflows[0].action",
            "NotNull.paymentWorkflowRequest.paymentWorkflows[0].tenantId",
        ],
    ),
    (
        "two actions",
        [item("P"), item("P", "REMIT")],
        ["PAYMENT_WORKFLOW_SINGLE_ACTION_ALLOWED"],
    ),
    (
        "two tenants",
        [item("P"), {**item("P"), "tenantId": "pb.jalandhar"}],
        ["CROSS_TENANT_OP_NOT_ALLOWED"],
    ),
    ("unknown payment", [item("no-such-payment")], ["RECEIPT_WORKFLOW_INVALID_RECEIPT"]),
    (
        "other tenant",
        [{**item("P"), "tenantId": "pb.jalandhar"}],
        ["RECEIPT_WORKFLOW_INVALID_RECEIPT"],
    ),
    ("dishonour of cash", [item("P", "DISHONOUR")], ["RECEIPT_WORKFLOW_INVALID_RECEIPT"]),
]


@pytest.mark.parametrize(("case", "items", "expected"), BAD, ids=[b[0] for b in BAD])
def test_bad_workflow_requests_are_refused_and_nothing_changes(
    digit: Digit, case: str, items: list[dict[str, Any]], expected: list[str]
) -> None:
    payment = pay_pt(digit)
    real = [{**i, "paymentId": payment["id"]} if i.get("paymentId") == "P" else i for i in items]
    response = workflow(digit, *real)
    assert response.status_code == 400, response.text
    assert sorted(codes(response)) == sorted(expected)
    [stored] = digit.get("payments")["Payments"]
    assert stored["paymentStatus"] == "NEW"


def test_a_cancel_on_billing_takes_back_the_advance_the_payment_created() -> None:
    """No seeded service lets a cancellable payment carry an advance, so billing is driven here."""
    world = World(SandboxConfig(backupdate_lag_seconds=0))
    consumer = world.consumer(AMRITSAR, "WS", WS_RAMESH)
    assert consumer is not None
    due = sum((d.due for d in world.demands_of(*consumer.key)), Decimal(0))
    [bill] = billing.bills_of(world, consumer, "ACTIVE")
    clerk = world.users[("COUNTER_CLERK", "EMPLOYEE", AMRITSAR)]
    body = {"Payment": payment_body([(bill, due + 100)])}
    payment = collection.create_payment(world, body, clerk)
    world.settle()
    assert sum((d.due for d in world.demands_of(*consumer.key)), Decimal(0)) == -100
    apply_back_update(world, payment, "cancel")
    assert sum((d.due for d in world.demands_of(*consumer.key)), Decimal(0)) == due
    assert not any(
        d.tax_head_code.endswith("ADVANCE_CARRYFORWARD")
        for dm in world.demands
        for d in dm.details
        if dm.consumer_code == WS_RAMESH
    )


def test_the_back_update_leaves_bills_alone_when_the_latest_bill_is_not_active() -> None:
    """Billing's updateBillStatus sets the consumer's ACTIVE bills PAID only when the latest bill
    it finds is ACTIVE (digest 6.5)."""
    world = World(SandboxConfig(backupdate_lag_seconds=0))
    consumer = world.consumer(AMRITSAR, "WS", WS_RAMESH)
    assert consumer is not None
    [bill] = billing.bills_of(world, consumer, "ACTIVE")
    clerk = world.users[("COUNTER_CLERK", "EMPLOYEE", AMRITSAR)]
    payment = collection.create_payment(
        world, {"Payment": payment_body([(bill, bill["totalAmount"])])}, clerk
    )
    newer = {**bill, "id": "a-newer-bill", "status": "EXPIRED"}
    world.bills.append(newer)  # the latest bill of the consumer, not ACTIVE

    apply_back_update(world, payment, "create")

    assert [b["status"] for b in billing.bills_of(world, consumer)] == ["ACTIVE", "EXPIRED"]
    newer["status"] = "ACTIVE"  # once the latest is ACTIVE, every ACTIVE bill becomes PAID
    apply_back_update(world, {**payment, "id": "another-payment"}, "create")
    assert [b["status"] for b in billing.bills_of(world, consumer)] == ["PAID", "PAID"]


def test_a_held_cancel_answers_the_gateways_timeout_and_is_applied_later_over_a_resend(
    slow: Digit,
) -> None:
    digit = slow
    payment = pay_pt(digit)
    settle(digit)
    digit.admin(
        "faults", {"hold_workflows": 1, "hold_seconds": 1.0, "gateway_timeout_seconds": 0.2}
    )

    held = workflow(digit, item(payment["id"]))

    assert held.status_code == 504
    found = body_of(
        digit.post("/collection-services/payments/PT/_search", tenantId=AMRITSAR, ids=payment["id"])
    )["Payments"]
    assert found[0]["paymentStatus"] != "CANCELLED"  # not applied yet
    # a resend meanwhile was validated against the payment still APPROVED: applied now
    assert workflow(digit, item(payment["id"])).status_code == 200
    deadline = time.monotonic() + 10
    while not digit.get("counters").get("late_workflow"):
        assert time.monotonic() < deadline, "the held call was never applied"
        time.sleep(0.1)
    settle(digit)
    # the held call was applied over the resend; billing took the cancel topic once
    counters = digit.get("counters")
    assert (counters["workflow_held"], counters["workflow_cancel"]) == (1, 2)
    cancel_topic = [a for a in digit.get("backupdate-audit")["audit"] if a["topic"] == "cancel"]
    assert [a["error"] for a in cancel_topic] == [None, "EGBS_PAYMENT_BACKUPDATE_ERROR"]


def test_digits_administrators_cancel_a_water_payment_under_digits_rules(slow: Digit) -> None:
    """`/_sandbox/cancel-payment` stands for DIGIT's administrators (the reference grants no role
    to cancel WS payments through the API); only a consumer's newest payment is cancelled."""
    digit = slow
    first = body_of(digit.pay([(digit.bill(), 300)]))["Payments"][0]
    settle(digit)  # the rest is billed anew
    second = body_of(digit.pay([(digit.bill(), 300)]))["Payments"][0]

    refused = requests.post(
        f"{digit.base}/_sandbox/cancel-payment",
        json={"tenantId": AMRITSAR, "paymentId": first["id"]},
        timeout=5,
    )
    assert refused.status_code == 400
    assert codes(refused) == ["RECEIPT_WORKFLOW_ACTION_NOT_APPLICABLE"]

    answer = digit.admin("cancel-payment", {"tenantId": AMRITSAR, "paymentId": second["id"]})
    [cancelled] = answer["Payments"]
    assert (cancelled["id"], cancelled["paymentStatus"]) == (second["id"], "CANCELLED")
