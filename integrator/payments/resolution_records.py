"""How a RESOLVED payment was closed, as readers outside the operator's desk see it.

    Resolution             the ways an operator closes a NEEDS_ATTENTION payment (the
                           payment's `resolution`; the checks each needs are in
                           `payments.resolutions`)
    ResolutionRecord       its kind, the receipt the operator gave, and when
    resolution_of(p)       the record of a RESOLVED payment, None for any other
    receipted_by_hand(p)   RESOLVED as RECEIPTED_BY_HAND: DIGIT holds its receipt

Values only (no rules, no ports): the API's payment view, its webhooks and receipt printing read
them. The kind is the payment's `resolution`, as the settlement report reads it; the rest comes
from the history entry of the move to RESOLVED, which `PaymentOperations.resolve` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from integrator.payments.models import Payment, PaymentStatus


class Resolution(StrEnum):
    """How an operator closed a NEEDS_ATTENTION payment (stored as its `resolution`)."""

    RECEIPTED_BY_HAND = "RECEIPTED_BY_HAND"  # a clerk registered it in DIGIT; receipt verified
    REFUNDED = "REFUNDED"  # the money went back to the payer; DIGIT holds no payment


@dataclass(frozen=True, kw_only=True)
class ResolutionRecord:
    """What a RESOLVED payment says of its closing. The operator's note and name are left out:
    they were written for ops (the console and the audit show them), not for the payer's device."""

    kind: str  # a Resolution value
    receipt_number: str | None  # DIGIT's receipt the operator gave (RECEIPTED_BY_HAND)
    resolved_at: datetime


def resolution_of(payment: Payment) -> ResolutionRecord | None:
    """How `payment` was closed, or None unless it is RESOLVED."""
    if payment.status is not PaymentStatus.RESOLVED:
        return None
    for entry in reversed(payment.history):
        if entry.to_status is PaymentStatus.RESOLVED:
            receipt = entry.detail.get("receiptNumber")
            return ResolutionRecord(
                kind=payment.resolution or entry.reason or "",
                receipt_number=str(receipt) if receipt else None,
                resolved_at=entry.at,
            )
    return None  # every move to RESOLVED is recorded (states.transition); never reached


def receipted_by_hand(payment: Payment) -> bool:
    """Closed with a receipt that `PaymentOperations.resolve` verified in DIGIT (and stored on
    the bills it pays): the payment has DIGIT receipts although it was never REGISTERED."""
    return (
        payment.status is PaymentStatus.RESOLVED
        and payment.resolution == Resolution.RECEIPTED_BY_HAND
    )
