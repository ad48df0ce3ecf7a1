"""Every reason a payment can need attention for comes with guidance for the operator."""

from __future__ import annotations

from integrator.ops.decide import GUIDANCE
from integrator.payments import registration
from integrator.payments.offline import OFFLINE_CONFLICT

DECIDED_ELSEWHERE = {
    "BILL_PAID_ELSEWHERE",
    "DUPLICATE_IN_DIGIT",
    "DIGIT_REJECTED",
    "RECEIPT_MISSING",
    OFFLINE_CONFLICT,
}


def test_every_needs_attention_reason_has_guidance() -> None:
    reasons = DECIDED_ELSEWHERE | {
        registration.RETRIES_EXHAUSTED,
        registration.DIGIT_AUTH_BLOCKED,
        registration.DIGIT_FORBIDDEN,
        registration.DIGIT_PAYMENT_CANCELLED,
        registration.BILL_EXPIRED_TOTAL_CHANGED,
        registration.BILL_EXPIRED_NO_BILL,
        registration.BILL_EXPIRED_SUCCESSOR_TAKEN,
    }
    assert reasons - set(GUIDANCE) == set()
