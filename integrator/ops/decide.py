"""What an operator needs to decide about one payment: what DIGIT holds for its bills (someone
else's payment, or ours), what reconciliation flagged on it (both the forward check's flag and
the walk's findings: the page shows them here only), whether a retry can help, and what to do.

DIGIT is asked only for payments a person must decide (NEEDS_ATTENTION); when it, or the ledger's
flags, cannot be asked the page says so and shows the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from integrator.digit.models import DigitPayment
from integrator.masking import mask_mobile
from integrator.payments.bulk import retry_refusal
from integrator.payments.flags import FlagItem
from integrator.payments.models import Payment, PaymentStatus
from integrator.payments.registration import Lookup, Registrar

log = logging.getLogger("integrator.ops")

#: Per NEEDS_ATTENTION reason: what happened and what the operator can do.
GUIDANCE: Mapping[str, str] = MappingProxyType(
    {
        "BILL_PAID_ELSEWHERE": "Someone else paid this bill in DIGIT (below). Our payer's money "
        "was taken too: return it and mark the payment REFUNDED. A retry would meet the same "
        "payment, so it is not offered.",
        "DUPLICATE_IN_DIGIT": "DIGIT holds more than one payment carrying this payment's id: "
        "the payer was charged twice. Ask DIGIT's administrators to cancel the extra one (DIGIT "
        "cancels only a consumer's newest payment; the integrator's reversal is for registered "
        "payments only), then mark RECEIPTED_BY_HAND with a receipt of the one that stays. "
        "While both are live it is refused (DIGIT_HOLDS_DUPLICATE).",
        "DIGIT_PAYMENT_CANCELLED": "DIGIT cancelled or dishonoured our payment. Return the money "
        "(REFUNDED) or have a clerk receipt it again (RECEIPTED_BY_HAND with the new receipts: "
        "one of each DIGIT payment the clerk made).",
        "DIGIT_REJECTED": "DIGIT refused the payment (codes in the history). If the cause is "
        "fixed (a bill, a role, a setting), retry; otherwise return the money (REFUNDED).",
        "RETRIES_EXHAUSTED": "DIGIT did not answer for too long. Retry once DIGIT answers "
        "(see the overview); if a clerk already receipted it, give that receipt.",
        "DIGIT_AUTH_BLOCKED": "The integrator's DIGIT account could not log in or lacked a role. "
        "Fix the account (`integrator check`), then retry.",
        "BILL_EXPIRED_TOTAL_CHANGED": "DIGIT replaced the bill with one of another total "
        "(penalty, interest, or a payment made meanwhile), so the payer's amount no longer fits. "
        "Return the money (REFUNDED), or have a clerk take it against the new bill in DIGIT "
        "(RECEIPTED_BY_HAND with that receipt).",
        "BILL_EXPIRED_NO_BILL": "DIGIT replaced the bill and the consumer has no bill to pay "
        "now. Check the consumer in DIGIT: return the money (REFUNDED), or retry once DIGIT "
        "shows a bill again.",
        "BILL_EXPIRED_SUCCESSOR_TAKEN": "DIGIT replaced the bill, and the consumer's new bill "
        "is already being paid by another payment here (see the consumer's payments). Return "
        "this payer's money (REFUNDED), or retry once that other payment is closed.",
        "OFFLINE_CONFLICT": "Collected offline, and the world moved before the upload (the "
        "history says what changed). Return the money (REFUNDED), have a clerk receipt it in "
        "DIGIT (RECEIPTED_BY_HAND), or retry against the current bill if the rules allow it.",
        "DIGIT_FORBIDDEN": "DIGIT's access control refused the integrator's account for this "
        "city or module. Give the account the role (`integrator check` shows what it may do), "
        "then retry.",
        "RECEIPT_MISSING": "DIGIT holds our payment but not a receipt for every bill. Check the "
        "receipts in DIGIT, then mark RECEIPTED_BY_HAND with one of its receipts (it stands for "
        "the whole DIGIT payment).",
    }
)
DEFAULT_GUIDANCE = (
    "Look at the history and at what DIGIT holds below; retry when the cause is fixed, or "
    "resolve: REFUNDED when the money went back, RECEIPTED_BY_HAND with DIGIT's receipt (one "
    "receipt of each DIGIT payment that paid the bills: DIGIT gives each bill its own)."
)


@dataclass(frozen=True, kw_only=True)
class DigitPaymentView:
    """A DIGIT payment for this payment's bills, as an operator reads it."""

    id: str
    ours: bool  # carries this payment's id
    live: bool
    paid_by: str
    mobile: str  # masked
    mode: str
    amount: Decimal
    at: datetime | None
    receipts: tuple[str, ...]
    status: str


@dataclass(frozen=True, kw_only=True)
class Decision:
    guidance: str
    retry_refused: tuple[str, str] | None  # (code, why) when a retry is not offered
    competing: tuple[DigitPaymentView, ...] = ()  # someone else's live payments for the bills
    ours_in_digit: tuple[DigitPaymentView, ...] = ()
    digit_asked: bool = False
    digit_error: str | None = None
    flags: tuple[FlagItem, ...] = ()  # open flags and findings naming the payment
    flags_error: str | None = None


def _view(found: DigitPayment, payment: Payment, *, ours: bool) -> DigitPaymentView:
    bills = payment.targeted_bill_ids | set(payment.bill_ids)
    receipts = tuple(
        sorted({d.receipt_number for d in found.details if d.bill_id in bills or ours})
    ) or tuple(sorted({d.receipt_number for d in found.details}))
    when = found.transaction_date or next(
        (d.receipt_date for d in found.details if d.receipt_date), None
    )
    return DigitPaymentView(
        id=found.id,
        ours=ours,
        live=found.is_live,
        paid_by=found.payer_name or found.paid_by or "",
        mobile=mask_mobile(found.mobile_number) or "",
        mode=found.payment_mode,
        amount=found.total_amount_paid,
        at=when,
        receipts=receipts,
        status=found.payment_status or "",
    )


def _read_flags(
    payment: Payment, flags: Callable[[], Sequence[FlagItem]]
) -> tuple[tuple[FlagItem, ...], str | None]:
    """The payment's reconciliation flags, or why they could not be read (the page still
    shows the payment)."""
    try:
        return tuple(flags()), None
    except Exception as exc:
        log.exception(
            "ops page: reconciliation flags could not be read", extra={"payment_id": payment.id}
        )
        return (
            (),
            f"Reconciliation flags could not be read ({type(exc).__name__}): try again shortly",
        )


def decide(
    payment: Payment,
    *,
    registrar: Callable[[], Registrar],
    flags: Callable[[], Sequence[FlagItem]],
) -> Decision:
    """`flags` reads the open flags and findings naming the payment (`Flags.of_payment`)."""
    flagged, flags_error = _read_flags(payment, flags)
    reason = payment.needs_attention_reason or ""
    guidance = GUIDANCE.get(reason, DEFAULT_GUIDANCE)
    if payment.status is PaymentStatus.RESOLVED:
        guidance = f"Closed by an operator as {payment.resolution}: nothing left to decide."
    elif payment.status is PaymentStatus.REGISTERED:
        guidance = "Registered in DIGIT: nothing to decide" + (
            " unless reconciliation flagged it (below)." if flagged else "."
        )
    elif payment.status is PaymentStatus.PENDING:
        guidance = "The worker is registering it; a retry only makes the next attempt sooner."
    decision = Decision(
        guidance=guidance,
        retry_refused=retry_refusal(payment),
        flags=flagged,
        flags_error=flags_error,
    )
    if payment.status is not PaymentStatus.NEEDS_ATTENTION:
        return decision
    try:
        found: Lookup = registrar().lookup(payment)
    except Exception as exc:  # the page shows what it could not ask; it never breaks
        log.warning(
            "ops page: DIGIT could not be asked",
            extra={"payment_id": payment.id, "error": type(exc).__name__},
        )
        return replace(
            decision,
            digit_asked=True,
            digit_error=f"DIGIT could not be asked ({type(exc).__name__}): try again shortly",
        )
    return replace(
        decision,
        digit_asked=True,
        competing=tuple(_view(p, payment, ours=False) for p in found.others),
        ours_in_digit=tuple(_view(p, payment, ours=True) for p in found.all_ours),
    )
