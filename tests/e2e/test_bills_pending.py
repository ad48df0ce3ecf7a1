"""GET /v1/bills and payments while one of our payments for the consumer is unfinished: the
device that made it sees its id, any other device only that a payment is in progress."""

from __future__ import annotations

from integrator.services import Services
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.e2e.test_pos_api import WS_RAMESH, current_bill, payment_body


def test_another_devices_pending_payment_is_shown_as_in_progress_without_its_id(
    pos: Pos, other_pos: Pos, world: Sandbox, services: Services
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    world.faults(down=True)
    first = pos.pay(payment_body([(bill["billId"], 815)]), key="pending-private-1")
    assert first.status_code == 202, first.text
    payment_id = body_of(first)["id"]
    world.faults(down=False)

    own = current_bill(pos, WS_RAMESH)["pendingPayment"]
    theirs_response = other_pos.get(
        "/v1/bills", tenantId="pb.amritsar", businessService="WS", consumerCode=WS_RAMESH
    )
    refused = other_pos.pay(payment_body([(bill["billId"], 815)]), key="pending-private-2")

    assert own["id"] == payment_id and own["byThisDevice"] is True
    [theirs] = body_of(theirs_response)["bills"]
    assert theirs["pendingPayment"] == {
        "id": None,
        "status": "PENDING",
        "byThisDevice": False,
        "message": "A payment is in progress.",
    }
    assert payment_id not in theirs_response.text
    assert refused.status_code == 409, refused.text
    assert body_of(refused)["code"] == "PAYMENT_IN_PROGRESS"
    assert body_of(refused)["paymentId"] is None
    assert payment_id not in refused.text
