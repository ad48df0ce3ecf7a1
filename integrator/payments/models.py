"""The payment domain's values. Money is Decimal; times are timezone-aware datetimes.

    PaymentError                    base of the domain's errors
    ├── InvalidTransition           a status change not in `states.ALLOWED` (states.py)
    └── PaymentRejected             the request is invalid: carries the `Violation`s (422)

All values are frozen, keyword-only dataclasses: change them with `dataclasses.replace` (or the
helpers in `states.py`), never in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from integrator.payments.devices import Device

#: The characters of every payment id (`service.new_payment_id`: pay_ and 24 hex digits; older
#: and test ids use - too): a text outside it is no payment's id.
PAYMENT_ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"

__all__ = [
    "AmountExactness",
    "ConsumerKey",
    "Device",
    "HistoryEntry",
    "InvalidTransition",
    "Payability",
    "Payment",
    "PaymentBill",
    "PaymentError",
    "PaymentMode",
    "PaymentRejected",
    "PaymentStatus",
    "Violation",
]


class PaymentStatus(StrEnum):
    """Where a payment is in its life. Registration is over in REGISTERED, RESOLVED, REFUSED,
    CANCELLED and DISHONOURED (states.FINAL); only a REGISTERED payment can still be reversed."""

    PENDING = "PENDING"  # accepted by us, not (yet) known to be recorded in DIGIT
    REGISTERED = "REGISTERED"  # DIGIT holds it: receipts known
    NEEDS_ATTENTION = "NEEDS_ATTENTION"  # refused or unclear: a person looks
    RESOLVED = "RESOLVED"  # an operator closed it (refunded, registered by hand, ...)
    CANCELLED = "CANCELLED"  # DIGIT cancelled it on an approved request (payments.cancellation)
    DISHONOURED = "DISHONOURED"  # its cheque/DD bounced: DIGIT dishonoured it on approval
    # DIGIT refused its first create while the device still waited for the answer: the device
    # was told so (422), no money was taken and nothing is registered
    REFUSED = "REFUSED"


class PaymentMode(StrEnum):
    """collection-services' PaymentModeEnum (docs/digit.md#create)."""

    CASH = "CASH"
    CHEQUE = "CHEQUE"
    DD = "DD"
    ONLINE = "ONLINE"
    CARD = "CARD"
    OFFLINE_NEFT = "OFFLINE_NEFT"
    OFFLINE_RTGS = "OFFLINE_RTGS"
    ONLINE_NEFT = "ONLINE_NEFT"
    ONLINE_RTGS = "ONLINE_RTGS"
    POSTAL_ORDER = "POSTAL_ORDER"


class AmountExactness(StrEnum):
    """BBPS amountExactness of a bill, from its effective minimum and maximum payable."""

    EXACT = "EXACT"  # min == max == total
    EXACT_AND_ABOVE = "EXACT_AND_ABOVE"  # advance only: total <= amount <= max
    EXACT_AND_BELOW = "EXACT_AND_BELOW"  # part payment only: min <= amount <= total
    ADHOC = "ADHOC"  # both: min <= amount <= max


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One reason a request is refused before anything is stored (one 422 problem entry).

    `code` is stable (devices switch on it), `field` is the JSON path in the request
    (e.g. `bills[1].amount`), `message` is for people.
    """

    code: str
    field: str
    message: str


class PaymentError(Exception):
    """Base of the payment domain's errors."""


class InvalidTransition(PaymentError):
    """A status change that `states.ALLOWED` does not permit."""

    def __init__(self, payment_id: str, from_status: PaymentStatus, to_status: PaymentStatus):
        super().__init__(f"payment {payment_id}: {from_status} -> {to_status} is not allowed")
        self.payment_id = payment_id
        self.from_status = from_status
        self.to_status = to_status


class PaymentRejected(PaymentError):
    """The request is invalid; nothing was stored. Mapped to 422 with every violation."""

    def __init__(self, violations: Sequence[Violation]):
        super().__init__("; ".join(f"{v.field}: {v.code}" for v in violations))
        self.violations = tuple(violations)


class PaymentRefusedByDigit(PaymentRejected):
    """DIGIT refused the payment's first create while the device waited: nothing is registered,
    the stored payment is closed as REFUSED, and a replay of its Idempotency-Key gets this again.
    `code` is BILL_ALREADY_PAID or DIGIT_REFUSED_PAYMENT; the violations carry DIGIT's codes;
    `payment_id` names the closed payment."""

    def __init__(self, code: str, violations: Sequence[Violation], payment_id: str | None = None):
        super().__init__(violations)
        self.code = code
        self.payment_id = payment_id


class ConsumerKey(NamedTuple):
    """One consumer: at most one unfinished payment may hold it (the consumer lock)."""

    tenant_id: str
    business_service: str
    consumer_code: str


@dataclass(frozen=True, kw_only=True)
class Payability:
    """What may be paid on one bill now (the payment-rule view a device is shown).

    `part_payment_allowed`/`advance_allowed` are the MDMS flags; `minimum_payable` and
    `maximum_payable` are the effective bounds and `exactness` is derived from them.
    """

    bill_id: str
    business_service: str
    total: Decimal
    part_payment_allowed: bool
    advance_allowed: bool
    minimum_payable: Decimal
    maximum_payable: Decimal
    exactness: AmountExactness
    payment_modes_not_allowed: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class PaymentBill:
    """One bill paid by a payment: becomes one DIGIT paymentDetail and one receipt."""

    bill_id: str
    bill_number: str
    consumer_code: str
    business_service: str
    amount: Decimal  # what the payer pays on this bill
    total_due: Decimal  # the bill's totalAmount when we accepted the payment
    receipt_number: str | None = None
    receipt_date: datetime | None = None
    # When DIGIT superseded the bill we accepted, the payment may be re-targeted to its successor:
    # `bill_id` is then the successor and `retargeted_from` the bill the device paid.
    retargeted_from: str | None = None
    balance_left: Decimal | None = None  # what remained due on the bill after this payment


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    """One recorded event of a payment: a status change, an attempt, an operator action."""

    at: datetime
    actor: str  # "device:<id>", "worker", "operator:<name>", ...
    event: str  # "created", "transition", "create_sent", "attempt", ...
    from_status: PaymentStatus | None = None
    to_status: PaymentStatus | None = None
    reason: str | None = None
    codes: tuple[str, ...] = ()  # e.g. DIGIT Errors[].code
    latency_ms: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)  # JSON-able (jsonutil) values only
    # Identical failed attempts in a row are one entry, so history cannot grow without bound:
    # how many there were, and when the last one happened (`at` is the first).
    count: int = 1
    last_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class Payment:
    """One PoS payment: one tenant, 1-20 bills, one DIGIT Payment, one receipt per bill."""

    id: str
    device_id: str
    idempotency_key: str
    fingerprint: str  # of the validated canonical request (rules.fingerprint)
    status: PaymentStatus
    tenant_id: str
    payment_mode: str
    paid_by: str
    payer_name: str | None
    mobile_number: str | None
    instrument_number: str | None
    instrument_date: date | None  # a calendar day in DIGIT's time zone
    transaction_number: str | None
    collected_at: datetime | None  # when the device says it took the money
    bills: tuple[PaymentBill, ...]
    created_at: datetime
    provisional: bool = False  # accepted on a bill snapshot while DIGIT was unreachable
    registered_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    create_sent: bool = False  # a payments/_create may have reached DIGIT: search before resending
    targeted_bill_ids: frozenset[str] = frozenset()  # every billId ever sent to DIGIT (only grows)
    digit_payment_id: str | None = None
    needs_attention_reason: str | None = None
    resolution: str | None = None
    history: tuple[HistoryEntry, ...] = ()
    # Optimistic-concurrency version, maintained by store.payments: a save of a stale copy fails.
    version: int = 0

    @property
    def total_amount(self) -> Decimal:
        """Sum of what is paid on each bill."""
        return sum((b.amount for b in self.bills), Decimal(0))

    @property
    def consumer_keys(self) -> tuple[ConsumerKey, ...]:
        """The distinct consumers this payment pays, in bill order (the consumer locks it holds)."""
        seen: dict[ConsumerKey, None] = {}
        for bill in self.bills:
            seen.setdefault(ConsumerKey(self.tenant_id, bill.business_service, bill.consumer_code))
        return tuple(seen)

    @property
    def bill_ids(self) -> tuple[str, ...]:
        """The billIds currently paid (after any re-targeting), in bill order."""
        return tuple(b.bill_id for b in self.bills)

    @property
    def receipt_numbers(self) -> tuple[str, ...]:
        return tuple(b.receipt_number for b in self.bills if b.receipt_number)

    @property
    def mobile_last4(self) -> str | None:
        """Last four digits of the payer's mobile (the ops console searches by them)."""
        digits = "".join(ch for ch in (self.mobile_number or "") if ch.isdigit())
        return digits[-4:] if len(digits) >= 4 else None
