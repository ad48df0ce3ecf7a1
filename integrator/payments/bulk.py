"""Which payments an operator's retry can help, and the outcome of acting on many at once.

    retry_refusal(payment)       None when a retry may help, else (code, why)
    plan_retry(payments)         RetryPlan: the payments a retry would touch, the rest with why
    claim_refusal(payment, claims)  None, or why the retry's save would be refused because
                                 another payment of ours holds its bill or consumer (read-only)
    bill_held / consumer_held    those refusals' (code, why): the real retry's too

A retry sends a NEEDS_ATTENTION payment back to the worker. Some reasons are decided by what DIGIT
holds, not by a passing error: retrying them would only come back to the same reason, so they are
not offered (the console hides the button, bulk actions skip them, the CLI says why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from integrator.payments import states
from integrator.payments.models import Payment, PaymentStatus

#: NEEDS_ATTENTION reasons a retry cannot change, with what to do instead.
RETRY_CANNOT_HELP: Mapping[str, str] = MappingProxyType(
    {
        "BILL_PAID_ELSEWHERE": "DIGIT holds someone else's payment for the bill: resolve it"
        " (REFUNDED once the money is returned)",
        "DUPLICATE_IN_DIGIT": "DIGIT holds two payments of ours: cancel one in DIGIT, then resolve",
        "DIGIT_PAYMENT_CANCELLED": "DIGIT cancelled or dishonoured our payment: resolve it",
    }
)

#: How many payments a confirmation page or the CLI shows before acting.
SAMPLE_SIZE = 10


def retry_refusal(payment: Payment) -> tuple[str, str] | None:
    """Why a retry of `payment` is not offered (code, explanation), or None when it may help."""
    if states.is_final(payment.status):
        return "NOT_RETRYABLE", f"{payment.status.value} is final"
    reason = payment.needs_attention_reason or ""
    if payment.status is PaymentStatus.NEEDS_ATTENTION and reason in RETRY_CANNOT_HELP:
        return reason, RETRY_CANNOT_HELP[reason]
    return None


#: The codes of claim_refusal: another payment holds a bill or consumer now (it may let go).
CLAIM_REFUSALS = frozenset({"BILL_HAS_LIVE_PAYMENT", "CONSUMER_HAS_OPEN_PAYMENT"})


def bill_held(bill_id: str | None, holder: str | None) -> tuple[str, str]:
    """Why a payment cannot go back to PENDING: another live payment of ours pays its bill."""
    return (
        "BILL_HAS_LIVE_PAYMENT",
        f"bill {bill_id or '?'} is already paid by another payment of ours "
        f"({holder or 'unknown'}): this payment cannot be registered against it",
    )


def consumer_held(holder: str | None) -> tuple[str, str]:
    """Why a payment cannot go back to PENDING: another open payment holds its consumer."""
    return (
        "CONSUMER_HAS_OPEN_PAYMENT",
        f"another payment of this consumer is open ({holder or 'unknown'}): "
        "register, resolve or cancel it first, then retry this one",
    )


class Claims(Protocol):
    """Who holds a bill or a consumer now (store.payments.PaymentStore), read without a lock."""

    def live_payment_for_bills(self, bill_ids: Sequence[str]) -> dict[str, str]: ...

    def pending_for_consumers(
        self, consumers: Sequence[tuple[str, str, str]]
    ) -> list[str | None]: ...


def claim_refusal(payment: Payment, claims: Claims) -> tuple[str, str] | None:
    """Why retrying `payment` would be refused by the ledger right now, or None: a retry takes a
    NEEDS_ATTENTION payment back to PENDING, which makes its bills live and its consumers open
    again (the partial unique indexes the real save meets: store.payments). A payment that
    still holds them (the usual NEEDS_ATTENTION) is its own holder; a quarantined one holds none.
    What the real retry then meets is the same check, made by the ledger at its save."""
    if payment.status is not PaymentStatus.NEEDS_ATTENTION:
        return None  # PENDING keeps its claims; a final status is refused by retry_refusal
    bills = claims.live_payment_for_bills([b.bill_id for b in payment.bills])
    for bill in payment.bills:
        holder = bills.get(bill.bill_id)
        if holder is not None and holder != payment.id:
            return bill_held(bill.bill_id, holder)
    consumers = list(payment.consumer_keys)
    for holder in claims.pending_for_consumers(consumers):
        if holder is not None and holder != payment.id:
            return consumer_held(holder)
    return None


@dataclass(frozen=True, kw_only=True)
class RetryPlan:
    """What a bulk retry would do, shown to the operator before anything is done."""

    eligible: tuple[Payment, ...] = ()
    skipped: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # id -> (code, why)

    @property
    def sample(self) -> tuple[Payment, ...]:
        return self.eligible[:SAMPLE_SIZE]

    @property
    def skipped_by_code(self) -> dict[str, int]:
        return _count(code for code, _ in self.skipped.values())


def plan_retry(payments: Iterable[Payment], claims: Claims | None = None) -> RetryPlan:
    """What retrying `payments` would do; with `claims`, also what the ledger would refuse
    (claim_refusal), so a dry run says what the real run will skip."""
    eligible: list[Payment] = []
    skipped: dict[str, tuple[str, str]] = {}
    for payment in payments:
        refusal = retry_refusal(payment)
        if refusal is None and claims is not None:
            refusal = claim_refusal(payment, claims)
        if refusal is None:
            eligible.append(payment)
        else:
            skipped[payment.id] = refusal
    return RetryPlan(eligible=tuple(eligible), skipped=skipped)


@dataclass(frozen=True, kw_only=True)
class BulkResult:
    """How many were acted on, and the rest with the code of why not."""

    acted: tuple[str, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)  # payment id -> code

    @property
    def skipped_by_code(self) -> dict[str, int]:
        return _count(self.skipped.values())

    def summary(self, verb: str = "retried") -> str:
        text = f"{verb} {len(self.acted)}, skipped {len(self.skipped)}"
        if self.skipped:
            text += " (" + ", ".join(f"{c}: {n}" for c, n in self.skipped_by_code.items()) + ")"
        return text


def _count(codes: Iterable[str]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for code in codes:
        counted[code] = counted.get(code, 0) + 1
    return dict(sorted(counted.items()))
