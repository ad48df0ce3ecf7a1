"""What every operator action shares: the refusal it raises and the actor it records.

    OperationRefused            the action is not possible now; `code` says why:
        NOT_FOUND               no such payment
        NOT_RETRYABLE           only PENDING and NEEDS_ATTENTION payments are retried
        NOT_RESOLVABLE          only NEEDS_ATTENTION payments are resolved (states.ALLOWED)
        NOTE_REQUIRED           a resolution needs a note saying what the operator did
        RECEIPT_REQUIRED        RECEIPTED_BY_HAND needs DIGIT's receipt number(s)
        RECEIPT_NOT_FOUND       DIGIT has no live payment with that receipt for this payment's
                                bills or consumers in its city
        RECEIPT_AMOUNT_DIFFERS  the DIGIT payments the receipts name pay its bills other amounts
                                than this payment took for them (or leave a bill unpaid)
        SEVERAL_RECEIPTS_FOR_A_BILL one bill is paid by several of the receipts: a bill records one
        RECEIPT_OF_ANOTHER_PAYMENT the receipt is recorded on (or carries the id of) another payment
        DIGIT_HOLDS_PAYMENT     DIGIT holds a live payment carrying our id: REFUNDED, or
                                RECEIPTED_BY_HAND with another receipt, refused
        DIGIT_HOLDS_DUPLICATE   RECEIPTED_BY_HAND with our own receipt while DIGIT holds more than
                                one live payment carrying our id: DIGIT must cancel the extra first
        CREATE_MAY_STILL_COMMIT a create of ours got no answer and its settle period
                                (CREATE_SETTLE_SECONDS) has not passed: DIGIT may still record it,
                                so it cannot be refunded, or receipted by another receipt, yet
        DIGIT_UNREACHABLE       DIGIT gave no usable answer: nothing can be verified, nothing done
        DIGIT_REJECTED          DIGIT refused the search itself
        BUSY                    a registration attempt holds the payment now: try again shortly
        CHANGED                 the payment changed while the operator looked: reload, decide again
        CONSUMER_HAS_OPEN_PAYMENT a retry would reopen a consumer another open payment holds
                                (a quarantined offline payment holds none until retried)
        BILL_HAS_LIVE_PAYMENT   a retry would make a bill live that another live payment pays
        BAD_QUERY               a search's cursor or criteria cannot be read

Every action is recorded in the payment's history with actor `operator:<name>`.
"""

from __future__ import annotations

from integrator.payments.models import PaymentError


class OperationRefused(PaymentError):
    """An operator action that cannot be done now; `code` is stable (see the module docstring)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def actor_of(operator: str) -> str:
    """The history's actor for an operator's action."""
    return f"operator:{operator}"
