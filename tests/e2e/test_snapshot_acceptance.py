"""While DIGIT is unreachable a payment is accepted from a bill snapshot only if the ledger holds
no REGISTERED or open payment for that bill: the integrator over real HTTP, the sandbox over real
HTTP, the real ledger."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.services import Services
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.e2e.test_pos_api import WS_RAMESH, current_bill, payment_body


def _stored_ids(services: Services) -> set[str]:
    store = services.payments_store
    return {i for status in PaymentStatus for i in store.ids_by_status(status, limit=1000)}


def test_a_bill_we_registered_is_not_taken_again_from_its_snapshot_while_digit_is_down(
    pos: Pos, other_pos: Pos, world: Sandbox, services: Services
) -> None:
    # the bill was served to both devices (each fetch refreshes its 24-hour snapshot)
    bill = current_bill(pos, WS_RAMESH)
    assert current_bill(other_pos, WS_RAMESH)["billId"] == bill["billId"]
    paid = pos.pay(payment_body([(bill["billId"], 815)]), key="snap-registered-1")
    assert paid.status_code == 201 and body_of(paid)["status"] == "REGISTERED", paid.text
    before = _stored_ids(services)
    world.faults(down=True)  # DIGIT unreachable: only the snapshot can vouch for the bill

    again = other_pos.pay(payment_body([(bill["billId"], 815)]), key="snap-registered-2")

    assert again.status_code == 422, again.text
    problem: dict[str, Any] = body_of(again)
    assert problem["code"] == "BILL_ALREADY_PAID"
    # the ledger refused it (the bill's live payment), not DIGIT: DIGIT was not reachable
    assert "already recorded" in str(problem), problem
    assert _stored_ids(services) == before  # nothing kept
    world.faults(down=False)


@pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.NEEDS_ATTENTION])
def test_a_bill_with_an_open_payment_is_not_taken_again_from_its_snapshot_while_digit_is_down(
    pos: Pos, other_pos: Pos, world: Sandbox, services: Services, status: PaymentStatus
) -> None:
    bill = current_bill(pos, WS_RAMESH)
    current_bill(other_pos, WS_RAMESH)
    world.faults(down=True)
    first = pos.pay(payment_body([(bill["billId"], 815)]), key="snap-open-1")
    assert first.status_code == 202, first.text
    first_id = body_of(first)["id"]
    if status is PaymentStatus.NEEDS_ATTENTION:
        store = services.payments_store
        stored = store.get(first_id)
        assert stored is not None
        store.save(
            replace(
                states.transition(
                    stored, status, actor="test", reason="DIGIT_REJECTED", at=stored.created_at
                ),
                needs_attention_reason="DIGIT_REJECTED",
            ),
            fence=None,
        )
    before = _stored_ids(services)

    again = other_pos.pay(payment_body([(bill["billId"], 815)]), key="snap-open-2")

    # refused: the consumer's open payment (409) or the bill's live payment (422), never kept
    assert again.status_code in (409, 422), again.text
    assert body_of(again)["code"] in ("PAYMENT_IN_PROGRESS", "BILL_ALREADY_PAID")
    assert _stored_ids(services) == before
    world.faults(down=False)
