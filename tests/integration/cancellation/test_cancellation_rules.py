"""DIGIT's `_workflow` rules checked before anything is sent (the sandbox over real HTTP), the
two-person rule, and the outcomes that are not clean: DIGIT's refusal shown to the approver, and
a lost answer looked up before anything is sent again."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import requests

from integrator.payments.cancellation import (
    Action,
    CancellationRefused,
    Cancellations,
    RequestState,
)
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from tests.e2e.conftest import Sandbox, body_of
from tests.integration.cancellation.conftest import (
    AMRITSAR,
    ASHA,
    PT_RAMESH,
    RAVI,
    VIEWER,
    WS_RAMESH,
    Device,
    ask_to_cancel,
    pay,
)
from tests.sandbox.conftest import Digit

CHEQUE = {
    "paymentMode": "CHEQUE",
    "instrumentNumber": "004512",
    "instrumentDate": time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400)),
}


def _refused(code: str, call: object, *args: object, **kwargs: object) -> CancellationRefused:
    with pytest.raises(CancellationRefused) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    assert info.value.code == code, info.value.message
    return info.value


def _sandbox_payment(world: Sandbox, services: Services, payment_id: str) -> dict[str, object]:
    stored = services.payments_store.get(payment_id)
    assert stored is not None
    [found] = [p for p in world.payments() if p["id"] == stored.digit_payment_id]
    return found


def test_an_older_payment_is_refused_naming_the_newer_receipt(
    device: Device, world: Sandbox, sandbox: str
) -> None:
    first = pay(device.pos, amount=Decimal(1000))
    world.pass_backupdate_lag()
    second = pay(device.pos)

    answer = ask_to_cancel(device.pos, first["id"])

    assert answer.status_code == 422, answer.text
    problem = body_of(answer)
    assert problem["code"] == "CANCELLATION_NOT_NEWEST"
    assert second["receipts"][0]["receiptNumber"] in problem["detail"]
    # the newest one may be asked for
    assert ask_to_cancel(device.pos, second["id"]).status_code == 202


def test_card_payments_are_never_cancellable(device: Device) -> None:
    paid = pay(
        device.pos, paymentMode="CARD", transactionNumber="CARD-7781", instrumentNumber="4111"
    )

    answer = ask_to_cancel(device.pos, paid["id"])

    assert answer.status_code == 422, answer.text
    assert body_of(answer)["code"] == "CANCELLATION_MODE_NOT_ALLOWED"


def test_a_water_payment_is_refused_because_our_account_has_no_workflow_role_for_ws(
    device: Device, services: Services
) -> None:
    paid = pay(device.pos, consumer=WS_RAMESH, service="WS")
    assert not services.digit.may_cancel("WS", AMRITSAR)  # Punjab grants it for PT only
    assert services.digit.may_cancel("PT", AMRITSAR) is True

    answer = ask_to_cancel(device.pos, paid["id"])

    assert answer.status_code == 422, answer.text
    assert body_of(answer)["code"] == "CANCELLATION_NOT_PERMITTED"


def test_an_instrument_no_longer_approved_is_refused_at_approval(
    device: Device, cancellations: Cancellations, services: Services, world: Sandbox, sandbox: str
) -> None:
    paid = pay(device.pos)
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")
    clerk = Digit(sandbox)
    assert clerk.login().status_code == 200
    digit_id = _sandbox_payment(world, services, paid["id"])["id"]
    remitted = clerk.post(
        "/collection-services/payments/PT/_workflow",
        {"PaymentWorkflows": [{"paymentId": digit_id, "action": "REMIT", "tenantId": AMRITSAR}]},
    )
    assert remitted.status_code == 200, remitted.text

    refused = _refused("INSTRUMENT_NOT_APPROVED", cancellations.approve, made.id, operator=RAVI)

    assert "REMITTED" in refused.message
    assert cancellations.get(made.id).state is RequestState.REQUESTED  # nothing was sent
    assert world.counters().get("workflow_cancel", 0) == 0


def test_a_late_device_request_and_a_second_request_are_refused(
    device: Device, cancellations: Cancellations, services: Services
) -> None:
    paid = pay(device.pos)
    assert ask_to_cancel(device.pos, paid["id"]).status_code == 202
    again = ask_to_cancel(device.pos, paid["id"])
    assert again.status_code == 409 and body_of(again)["code"] == "CANCELLATION_ALREADY_REQUESTED"

    late = pay(device.pos, consumer="PT-107-000124")
    with services.db.transaction() as conn:  # collected 31 minutes ago
        conn.execute(
            "UPDATE payments SET collected_at = now() - interval '31 minutes' WHERE id = %s",
            (late["id"],),
        )
    answer = ask_to_cancel(device.pos, late["id"])
    assert answer.status_code == 409 and body_of(answer)["code"] == "CANCELLATION_WINDOW_PASSED"
    # an operator may still ask
    made = cancellations.request_by_operator(operator=ASHA, payment_id=late["id"], reason="late")
    assert made.state is RequestState.REQUESTED


def test_another_device_cannot_ask_and_a_blank_reason_is_refused(
    device: Device, services: Services, live: str
) -> None:
    from tests.e2e.conftest import Pos

    paid = pay(device.pos)
    _other, key = services.devices.add("pos-elsewhere", ["pb"])
    stranger = Pos(base=live, key=key)

    assert ask_to_cancel(stranger, paid["id"]).status_code == 404
    blank = ask_to_cancel(device.pos, paid["id"], "   ")
    assert blank.status_code == 422
    assert body_of(blank)["code"] == "CANCELLATION_REASON_REQUIRED"
    empty = ask_to_cancel(device.pos, paid["id"], "")
    assert empty.status_code == 422 and body_of(empty)["errors"][0]["field"] == "reason"


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("", "CANCELLATION_REASON_REQUIRED"),
        ("   ", "CANCELLATION_REASON_REQUIRED"),
        ("a" * 501, "CANCELLATION_REASON_REQUIRED"),
        ("wrong\u0000consumer", "INVALID_TEXT"),
        ("wrong \ud800 consumer", "INVALID_TEXT"),
    ],
)
def test_a_reason_breaking_its_rule_is_refused_on_reason_and_nothing_is_stored(
    device: Device, cancellations: Cancellations, reason: str, code: str
) -> None:
    paid = pay(device.pos)

    answer = requests.post(
        f"{device.pos.base}/v1/payments/{paid['id']}/cancellation",
        data=json.dumps({"reason": reason}),  # ASCII: an unpaired surrogate travels escaped
        headers=device.pos.headers(),
        timeout=30,
    )

    assert answer.status_code == 422, answer.text
    assert body_of(answer)["code"] == code
    assert [(e["field"], e["code"]) for e in body_of(answer)["errors"]] == [("reason", code)]
    assert cancellations.for_payment(paid["id"]) == []
    assert ask_to_cancel(device.pos, paid["id"]).status_code == 202


def test_a_viewer_can_neither_ask_nor_approve_nor_reject(
    device: Device, cancellations: Cancellations
) -> None:
    paid = pay(device.pos)
    _refused(
        "NOT_ALLOWED",
        cancellations.request_by_operator,
        operator=VIEWER,
        payment_id=paid["id"],
        reason="x",
    )
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")
    _refused("NOT_ALLOWED", cancellations.approve, made.id, operator=VIEWER)
    _refused("NOT_ALLOWED", cancellations.reject, made.id, operator=VIEWER)
    assert cancellations.get(made.id).state is RequestState.REQUESTED


def test_a_rejected_request_sends_nothing_and_a_new_one_may_follow(
    device: Device, cancellations: Cancellations, world: Sandbox, services: Services
) -> None:
    paid = pay(device.pos)
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")

    rejected = cancellations.reject(made.id, operator=RAVI, note="the amount was right")

    assert rejected.state is RequestState.REJECTED and rejected.decided_by == "operator:ravi"
    _refused("NOT_PENDING", cancellations.approve, made.id, operator=RAVI)
    assert world.counters().get("workflow_cancel", 0) == 0
    shown = body_of(device.pos.get(f"/v1/payments/{paid['id']}"))
    assert shown["status"] == "REGISTERED" and shown["reversal"]["state"] == "REJECTED"
    again = cancellations.request_by_operator(operator=RAVI, payment_id=paid["id"], reason="y")
    assert again.id != made.id


def test_digit_refusing_the_workflow_is_recorded_with_its_code_for_the_approver(
    device: Device, cancellations: Cancellations, services: Services, world: Sandbox, sandbox: str
) -> None:
    paid = pay(device.pos)
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")
    # a race between our check and the call: a counter clerk cancels it in between, so DIGIT
    # no longer holds it as a candidate and answers RECEIPT_WORKFLOW_INVALID_RECEIPT
    clerk = Digit(sandbox)
    assert clerk.login().status_code == 200
    digit_id = _sandbox_payment(world, services, paid["id"])["id"]
    original_rules = Cancellations._check_digit_rules
    try:
        # the check passes on what DIGIT showed a moment ago; DIGIT then refuses the call
        found = services.cancellations._digit_payment(services.payments_store.get(paid["id"]))  # type: ignore[arg-type]
        Cancellations._check_digit_rules = lambda self, payment, action: found  # type: ignore[method-assign,assignment,misc]
        cancelled = clerk.post(
            "/collection-services/payments/PT/_workflow",
            {
                "PaymentWorkflows": [
                    {"paymentId": digit_id, "action": "CANCEL", "tenantId": AMRITSAR}
                ]
            },
        )
        assert cancelled.status_code == 200
        refused = _refused("DIGIT_REFUSED", cancellations.approve, made.id, operator=RAVI)
    finally:
        Cancellations._check_digit_rules = original_rules  # type: ignore[method-assign]

    assert "RECEIPT_WORKFLOW_INVALID_RECEIPT" in refused.message
    stored = cancellations.get(made.id)
    assert stored.state is RequestState.REFUSED
    assert stored.digit_codes == ("RECEIPT_WORKFLOW_INVALID_RECEIPT",)
    payment = services.payments_store.get(paid["id"])
    assert payment is not None and payment.status is PaymentStatus.REGISTERED
    assert [h.codes for h in payment.history if h.event == "reversal_refused"] == [
        ("RECEIPT_WORKFLOW_INVALID_RECEIPT",)
    ]


def test_a_lost_answer_is_looked_up_before_anything_is_sent_again(
    device: Device, cancellations: Cancellations, services: Services, world: Sandbox
) -> None:
    paid = pay(device.pos)
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")
    world.faults(workflow_timeout_after_commit=1, hang_seconds=4)

    _refused("DIGIT_NO_ANSWER", cancellations.approve, made.id, operator=RAVI)

    assert cancellations.get(made.id).state is RequestState.UNKNOWN
    assert _sandbox_payment(world, services, paid["id"])["paymentStatus"] == "CANCELLED"
    calls = world.counters()["workflow_cancel"]
    assert calls == 1

    done = cancellations.approve(made.id, operator=RAVI)  # looks first: already cancelled

    assert done.state is RequestState.DONE
    assert world.counters()["workflow_cancel"] == 1  # never sent twice
    payment = services.payments_store.get(paid["id"])
    assert payment is not None and payment.status is PaymentStatus.CANCELLED


def test_a_lost_answer_for_a_call_that_never_landed_is_sent_again_after_looking(
    device: Device, cancellations: Cancellations, services: Services, world: Sandbox
) -> None:
    paid = pay(device.pos)
    made = cancellations.request_by_operator(operator=ASHA, payment_id=paid["id"], reason="x")
    world.faults(down=True)
    _refused("DIGIT_NO_ANSWER", cancellations.approve, made.id, operator=RAVI)
    assert cancellations.get(made.id).state is RequestState.REQUESTED  # refused before sending
    world.faults(down=False)

    done = cancellations.approve(made.id, operator=RAVI)

    assert done.state is RequestState.DONE
    assert world.counters()["workflow_cancel"] == 1


def test_a_bounced_cheque_is_dishonoured_with_approval_and_its_dues_reopen(
    device: Device, cancellations: Cancellations, services: Services, world: Sandbox
) -> None:
    cash = pay(device.pos)
    _refused(
        "NOT_A_CHEQUE",
        cancellations.request_by_operator,
        operator=ASHA,
        payment_id=cash["id"],
        reason="bounced",
        action=Action.DISHONOUR,
    )
    cheque = pay(device.pos, consumer="PT-107-000124", **CHEQUE)
    made = cancellations.request_by_operator(
        operator=ASHA,
        payment_id=cheque["id"],
        reason="Cheque 004512 bounced",
        action=Action.DISHONOUR,
    )

    done = cancellations.approve(made.id, operator=RAVI)

    assert done.state is RequestState.DONE
    found = _sandbox_payment(world, services, cheque["id"])
    assert (found["paymentStatus"], found["instrumentStatus"]) == ("DISHONOURED", "DISHONOURED")
    shown = body_of(device.pos.get(f"/v1/payments/{cheque['id']}"))
    assert shown["status"] == "DISHONOURED"
    assert shown["reversal"]["action"] == "DISHONOUR" and shown["reversal"]["state"] == "DONE"
    world.pass_backupdate_lag()
    followed = cancellations.follow_dues(done.id, last_try=False)
    assert followed.successor_bills[cheque["bills"][0]["billId"]]


def test_a_bill_whose_payment_a_clerk_reversed_is_refused_at_the_counter(
    device: Device, world: Sandbox, sandbox: str
) -> None:
    clerk = Digit(sandbox)
    assert clerk.login().status_code == 200
    bill = clerk.bill(PT_RAMESH, "PT")  # never served through us: checked in DIGIT
    made = clerk.pay([(bill, bill["totalAmount"])], tenantId=AMRITSAR, businessService="PT")
    assert made.status_code == 200, made.text
    [clerk_payment] = body_of(made)["Payments"]
    reversed_ = clerk.post(
        "/collection-services/payments/PT/_workflow",
        {
            "PaymentWorkflows": [
                {"paymentId": clerk_payment["id"], "action": "CANCEL", "tenantId": AMRITSAR}
            ]
        },
    )
    assert reversed_.status_code == 200, reversed_.text

    # billing has consumed neither topic: the bill still looks ACTIVE, but DIGIT's
    # UNIQUE(billId) would refuse it for good
    answer = device.pos.pay(
        {
            "tenantId": AMRITSAR,
            "paymentMode": "CASH",
            "paidBy": "Ramesh Kumar",
            "bills": [{"billId": bill["id"], "amount": bill["totalAmount"]}],
        },
        key="pay-a-reversed-bill",
    )

    # DIGIT's create refuses it (PAYMENT_CREATION_FAILED naming the bill): a clean refusal
    assert answer.status_code == 422, answer.text
    assert body_of(answer)["code"] == "BILL_ALREADY_PAID"
    assert [p["id"] for p in world.payments_for_bill(bill["id"])] == [clerk_payment["id"]]
