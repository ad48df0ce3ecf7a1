"""A payment an operator closed (RESOLVED) tells its device how: `resolution` on GET, the receipt
it was closed with in `receipts`, the same in a webhook's body, and all of it as published."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openapi_schema_validator import OAS30Validator

from integrator import jsonutil
from integrator.api.openapi import build_spec
from integrator.api.wire import Wire
from integrator.payments import states
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.resolution_records import Resolution
from integrator.webhooks.delivery import build_body
from integrator.webhooks.models import WebhookEvent
from tests.unit.api.conftest import Edge, build_edge, make_payment

RESOLVED_AT = datetime(2024, 5, 1, 11, 50, 9, tzinfo=UTC)
HAND_RECEIPT = "05/2024-25/000187"
NOTE = "clerk Gurpreet took it at counter 3, see register p. 41"


def resolved(resolution: Resolution) -> Payment:
    """pay-1 of dev-1, NEEDS_ATTENTION, closed by operator alice as `resolution` (the history
    entry and bills as PaymentOperations.resolve leaves them)."""
    payment = make_payment(status=PaymentStatus.NEEDS_ATTENTION, key="k-1")
    detail: dict[str, object] = {"note": NOTE}
    if resolution is Resolution.RECEIPTED_BY_HAND:
        detail.update(receiptNumber=HAND_RECEIPT, digitPaymentId="dp-9")
        bills = tuple(
            replace(b, receipt_number=HAND_RECEIPT, receipt_date=RESOLVED_AT) for b in payment.bills
        )
        payment = replace(payment, bills=bills)
    return states.transition(
        payment,
        PaymentStatus.RESOLVED,
        actor="operator:alice",
        reason=resolution.value,
        at=RESOLVED_AT,
        detail=detail,
    )


def answers(edge: Edge, payment: Payment) -> list[dict[str, Any]]:
    """GET by id and by Idempotency-Key, as the device reads them."""
    edge.payments.payments[("dev-1", payment.idempotency_key)] = payment
    found = []
    for path in ("/v1/payments/pay-1", f"/v1/payments?idempotencyKey={payment.idempotency_key}"):
        response = edge.client.get(path, headers=edge.headers())
        assert response.status_code == 200, response.get_data(as_text=True)
        text = response.get_data(as_text=True)
        # written for ops, not for the payer's device
        assert "alice" not in text and NOTE not in text and "dp-9" not in text
        found.append(json.loads(text))
    return found


def test_receipted_by_hand_shows_the_receipt_and_when(edge: Edge) -> None:
    for body in answers(edge, resolved(Resolution.RECEIPTED_BY_HAND)):
        assert body["status"] == "RESOLVED"
        assert body["resolution"] == {
            "kind": "RECEIPTED_BY_HAND",
            "receiptNumber": HAND_RECEIPT,
            "resolvedAt": "2024-05-01T17:20:09+05:30",  # DIGIT_TIMEZONE, as every time
        }
        assert [r["receiptNumber"] for r in body["receipts"]] == [HAND_RECEIPT]
        assert body["receipts"][0]["receiptDate"] == "2024-05-01T17:20:09+05:30"


def test_refunded_says_so_with_no_receipt(edge: Edge) -> None:
    for body in answers(edge, resolved(Resolution.REFUNDED)):
        assert body["status"] == "RESOLVED"
        assert body["resolution"] == {
            "kind": "REFUNDED",
            "receiptNumber": None,
            "resolvedAt": "2024-05-01T17:20:09+05:30",
        }
        assert body["receipts"] == []


@pytest.mark.parametrize(
    "status",
    [PaymentStatus.PENDING, PaymentStatus.NEEDS_ATTENTION, PaymentStatus.REGISTERED],
)
def test_a_payment_no_operator_closed_has_no_resolution(edge: Edge, status: PaymentStatus) -> None:
    edge.payments.payments[("dev-1", "k-1")] = make_payment(status=status, key="k-1")
    body = edge.client.get("/v1/payments/pay-1", headers=edge.headers()).get_json()
    assert body["resolution"] is None


@pytest.mark.parametrize("resolution", list(Resolution))
def test_the_answer_matches_the_published_payment_schema(
    edge: Edge, resolution: Resolution
) -> None:
    document: dict[str, Any] = json.loads(jsonutil.dumps(build_spec().to_dict()))
    schema = {"$ref": "#/components/schemas/Payment"}
    validate = OAS30Validator({"allOf": [schema], "components": document["components"]})
    published = document["components"]["schemas"]["Payment"]["properties"]
    assert "resolution" in published

    [body, _by_key] = answers(edge, resolved(resolution))

    validate.validate(body)
    assert (
        body["resolution"]["kind"]
        in document["components"]["schemas"]["Resolution"]["properties"]["kind"]["enum"]
    )


def test_the_webhook_body_shows_the_resolution_as_get_does(edge: Edge) -> None:
    payment = resolved(Resolution.RECEIPTED_BY_HAND)
    [shown, _by_key] = answers(edge, payment)

    sent = json.loads(
        build_body(WebhookEvent.RESOLVED, RESOLVED_AT, payment, delivery_id="d-1", wire=Wire())
    )

    assert sent["event"] == "payment.resolved"
    assert sent["deliveryId"] == "d-1"
    assert sent["payment"]["resolution"] == shown["resolution"]
    assert sent["payment"]["receipts"] == shown["receipts"]


def test_the_webhook_payment_equals_get_in_the_configured_timezone() -> None:
    """DIGIT_TIMEZONE other than the default: the webhook's payment is GET's answer, offsets too."""
    zone = ZoneInfo("America/Sao_Paulo")
    edge = build_edge(timezone=zone)
    payment = resolved(Resolution.RECEIPTED_BY_HAND)
    [shown, _by_key] = answers(edge, payment)

    sent = json.loads(
        build_body(WebhookEvent.RESOLVED, RESOLVED_AT, payment, delivery_id="d-1", wire=Wire(zone))
    )

    assert sent["payment"] == shown
    assert shown["createdAt"].endswith("-03:00")
