"""A payment's first create while its device still waits: DIGIT's refusal can be the answer.

A payment checked against the bill we served goes to `payments/_create` at once; DIGIT validates
what it knows better than we do (already paid, expired, amounts, modes). When DIGIT refuses that
first create, nothing was written there, so the device can simply be told "refused" (422) and
the stored payment closed as REFUSED, provided the device has not yet been told "accepted"
(202 after the budget ran out). `DeviceWaiting` decides that race once, whichever side comes
first; after a 202 the refusal takes the ordinary path (a person looks).

    DeviceWaiting()                     shared by the request and its inline attempt
      .refuse() -> bool                 the attempt: may the refusal be the device's answer?
      .accepted() -> bool               the request: may it answer "accepted" now?
    refusal_answer(payment, codes, details) -> (code, violations) stored with REFUSED, replayed
    refusal_from_history(payment)       the stored answer of a REFUSED payment
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from integrator.payments.models import Payment, PaymentRefusedByDigit, PaymentStatus, Violation

#: The top-level codes of a refusal: the bill's payment already in DIGIT, or anything else DIGIT
#: refused (its own codes are in the violations).
ALREADY_PAID = "BILL_ALREADY_PAID"
REFUSED_BY_DIGIT = "DIGIT_REFUSED_PAYMENT"


class DeviceWaiting:
    """Whether the device that handed over a payment still waits for the answer (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answer: str | None = None

    def refuse(self) -> bool:
        """True when the refusal becomes the device's answer (the device was told nothing yet)."""
        with self._lock:
            if self._answer is None:
                self._answer = "refused"
            return self._answer == "refused"

    def accepted(self) -> bool:
        """True when the device may be told "accepted"; False when a refusal got there first."""
        with self._lock:
            if self._answer is None:
                self._answer = "accepted"
            return self._answer == "accepted"


def refusal_answer(
    payment: Payment, *, already_paid: bool, details: Iterable[tuple[str, str]]
) -> tuple[str, list[Violation]]:
    """The device's answer to DIGIT's refusal `details` ((code, message) pairs) of `payment`."""
    bills = payment.bills
    if already_paid:
        return ALREADY_PAID, [
            Violation(
                code="BILL_ALREADY_PAID",
                field=f"bills[{i}].billId",
                message=f"DIGIT already holds a payment for bill {b.bill_id}",
            )
            for i, b in enumerate(bills)
        ]
    violations = [
        Violation(code=code, field=_field(payment, message), message=message or code)
        for code, message in details
    ]
    if not violations:
        violations = [
            Violation(
                code="DIGIT_REFUSED_PAYMENT", field="bills", message="DIGIT refused the payment"
            )
        ]
    return REFUSED_BY_DIGIT, violations


def _field(payment: Payment, message: str) -> str:
    """The bill a DIGIT message names (DIGIT puts bill ids in its texts), else the whole list."""
    for i, bill in enumerate(payment.bills):
        if bill.bill_id in message:
            return f"bills[{i}].billId"
    return "bills"


def refusal_detail(code: str, violations: Sequence[Violation]) -> dict[str, Any]:
    """What the REFUSED transition stores in the history, for replays."""
    return {
        "answer": code,
        "violations": [
            {"code": v.code, "field": v.field, "message": v.message} for v in violations
        ],
    }


def refusal_from_history(payment: Payment) -> PaymentRefusedByDigit:
    """The refusal the device was given for a REFUSED `payment` (the same answer on replay)."""
    for entry in reversed(payment.history):
        if entry.to_status is PaymentStatus.REFUSED:
            detail = entry.detail or {}
            violations = [
                Violation(code=str(v["code"]), field=str(v["field"]), message=str(v["message"]))
                for v in detail.get("violations", [])
            ]
            code = str(detail.get("answer", REFUSED_BY_DIGIT))
            return PaymentRefusedByDigit(code, violations, payment.id)
    return PaymentRefusedByDigit(
        REFUSED_BY_DIGIT,
        [
            Violation(
                code="DIGIT_REFUSED_PAYMENT", field="bills", message="DIGIT refused the payment"
            )
        ],
        payment.id,
    )
