"""What the device sees after an operator closes its payment: GET /v1/payments/{id} and by
Idempotency-Key over real HTTP, after each way of closing it (checked in the DIGIT sandbox); and
the process's observer is told once the ledger holds RESOLVED, never of a refusal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from integrator.observability.events import Observer
from integrator.ops.wiring import build_operations
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.operations import OperationRefused, PaymentOperations, Resolution
from integrator.services import Services
from tests.e2e.conftest import Pos, Sandbox, body_of
from tests.ops.conftest import SW_RAMESH, counter_payment, make_payment

NOTE = "cash handed back by counter 3, ref 2231"


@dataclass
class Device:
    pos: Pos
    device_id: str


@pytest.fixture
def device(live: str, services: Services) -> Device:
    found, key = services.devices.add("pos-amritsar-counter", ["pb"])
    return Device(pos=Pos(base=live, key=key), device_id=found.id)


def seen_by(device: Device, payment: Payment) -> dict[str, Any]:
    """The payment by id and by Idempotency-Key (the same answer), as the device reads it."""
    by_id = device.pos.get(f"/v1/payments/{payment.id}")
    by_key = device.pos.get("/v1/payments", idempotencyKey=payment.idempotency_key)
    assert by_id.status_code == by_key.status_code == 200, by_id.text
    assert body_of(by_id) == body_of(by_key)
    # the operator's name and note are for ops, not for the payer's device
    assert "alice" not in by_id.text and NOTE not in by_id.text
    shown: dict[str, Any] = body_of(by_id)
    return shown


def test_receipted_by_hand_is_seen_with_digits_receipt(
    services: Services, operations: PaymentOperations, world: Sandbox, device: Device
) -> None:
    payment = make_payment(services, device_id=device.device_id)
    receipt = counter_payment(world)["paymentDetails"][0]["receiptNumber"]
    assert seen_by(device, payment)["resolution"] is None

    done = operations.resolve(
        payment.id,
        operator="alice",
        resolution=Resolution.RECEIPTED_BY_HAND,
        receipt_number=receipt,
        note=NOTE,
    )

    shown = seen_by(device, payment)
    assert shown["status"] == "RESOLVED"
    resolved_at = done.history[-1].at.astimezone(services.settings.digit_timezone).isoformat()
    assert shown["resolution"] == {
        "kind": "RECEIPTED_BY_HAND",
        "receiptNumber": receipt,
        "resolvedAt": resolved_at,
    }
    assert resolved_at.endswith("+05:30")
    assert [r["receiptNumber"] for r in shown["receipts"]] == [receipt]
    assert shown["bills"][0]["receiptNumber"] == receipt


def test_refunded_is_seen_without_a_receipt(
    services: Services, operations: PaymentOperations, device: Device
) -> None:
    payment = make_payment(services, device_id=device.device_id)

    operations.resolve(payment.id, operator="alice", resolution=Resolution.REFUNDED, note=NOTE)

    shown = seen_by(device, payment)
    assert shown["status"] == "RESOLVED"
    assert shown["resolution"]["kind"] == "REFUNDED"
    assert shown["resolution"]["receiptNumber"] is None
    assert shown["resolution"]["resolvedAt"].endswith("+05:30")
    assert shown["receipts"] == []


@dataclass
class Recording(Observer):
    """Records each resolved payment with what the ledger held when it was told."""

    services: Services
    seen: list[tuple[str, PaymentStatus | None, bool]] = field(default_factory=list)

    def payment_resolved(self, payment: Payment) -> None:
        stored = self.services.payments_store.get(payment.id)
        lease = self.services.leases.acquire(payment.id, ttl_seconds=1)
        if lease is not None:
            self.services.leases.release(payment.id, lease)
        self.seen.append((payment.id, stored.status if stored else None, lease is not None))


def test_the_observer_hears_of_a_resolution_once_it_is_saved_and_not_of_a_refusal(
    services: Services, world: Sandbox
) -> None:
    recording = Recording(services)
    services.observer = recording
    operations = build_operations(services)
    refused = make_payment(services, consumer_code=SW_RAMESH, business_service="SW")
    closed = make_payment(services)
    world.faults(down=True)
    with pytest.raises(OperationRefused):
        operations.resolve(refused.id, operator="alice", resolution=Resolution.REFUNDED, note=NOTE)
    world.faults(down=False)

    operations.resolve(closed.id, operator="alice", resolution=Resolution.REFUNDED, note=NOTE)

    # told once, with the ledger already RESOLVED and the payment's lease given back
    assert recording.seen == [(closed.id, PaymentStatus.RESOLVED, True)]
