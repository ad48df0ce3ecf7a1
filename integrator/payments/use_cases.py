"""The port the HTTP edge calls: what a PoS device may ask of the payments domain.

`integrator.api` depends on this module only (never on the service, Redis or DIGIT); the service
(`integrator.payments.service`) implements `PaymentUseCases`. Values crossing the port are frozen
dataclasses with `Decimal` money; failures are the exceptions below, each mapped to one HTTP status
in `integrator.api.errors`:

    PaymentError (payments.models)
    ├── PaymentRejected(violations)       422  a business rule refused the payment
    │   └── PaymentRefusedByDigit          422  DIGIT refused the first create (REFUSED)
    └── UseCaseError
        ├── IdempotencyKeyReused          422  the key was used by this device for another body
        ├── PaymentInProgress(payment_id) 409  one of our payments for the bill is not finished
        ├── RequestInFlight(retry_after)  409  the same key is being processed right now
        ├── OfflineUploadInProgress(retry_after) 409  another CASH upload of the device is
        │                                      being judged: nothing of this one was stored
        ├── DigitUnreachable(retry_after) 503  DIGIT cannot be reached and no snapshot vouches
        │                                      for the bill: nothing was stored
        ├── LedgerUnavailable(retry_after) 503 the ledger cannot be reached: retry the same key
        ├── ReceiptNotReady(status)       409  the payment has no DIGIT receipt (yet)
        ├── ConsumerCodeRequired          422  a receipt the device did not collect, without
        │                                      its consumer code
        ├── ReceiptLookupLimited          429  too many lookups of others' receipts
        └── NotFound                      404  no such payment / receipt for this device
            ├── PaymentNotFound
            └── ReceiptNotFound
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from integrator.payments.models import PaymentError, PaymentRefusedByDigit, PaymentRejected
from integrator.receipts import ReceiptStatus

if TYPE_CHECKING:
    from integrator.digit.models import Bill
    from integrator.payments.devices import Device
    from integrator.payments.models import Payability, Payment
    from integrator.payments.ports import OpenMarks

__all__ = [
    "AcceptOutcome",
    "BillLine",
    "BillOffer",
    "ConsumerCodeRequired",
    "DigitUnreachable",
    "IdempotencyKeyReused",
    "LedgerUnavailable",
    "MobileBills",
    "NotFound",
    "OfflineUploadInProgress",
    "PaymentInProgress",
    "PaymentNotFound",
    "PaymentRefusedByDigit",
    "PaymentRejected",
    "PaymentRequest",
    "PaymentUseCases",
    "PendingPayment",
    "Receipt",
    "ReceiptLine",
    "ReceiptLookupLimited",
    "ReceiptNotFound",
    "ReceiptNotReady",
    "RequestInFlight",
    "UseCaseError",
]

# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BillLine:
    """One bill of a payment request and the amount the payer hands over for it."""

    bill_id: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class PaymentRequest:
    """A payment as the edge validated it: canonical strings, Decimal amounts, distinct bills."""

    tenant_id: str
    payment_mode: str
    paid_by: str
    bills: tuple[BillLine, ...]
    payer_name: str | None = None
    mobile_number: str | None = None
    instrument_number: str | None = None
    instrument_date: date | None = None
    transaction_number: str | None = None
    collected_at: datetime | None = None

    @property
    def total_amount(self) -> Decimal:
        return sum((line.amount for line in self.bills), Decimal(0))


@dataclass(frozen=True, kw_only=True)
class PendingPayment:
    """One of our payments for a consumer that is not finished yet.

    `by_this_device` says whether the asking device made it: another device's payment is shown
    as "a payment is in progress" without its id (ids are for the device that made them).
    """

    id: str
    status: str
    by_this_device: bool = True


@dataclass(frozen=True, kw_only=True)
class BillOffer:
    """A bill as a device may pay it: DIGIT's bill, what may be paid, and any unfinished payment."""

    bill: Bill
    payability: Payability
    pending_payment: PendingPayment | None = None
    # why the bill cannot be paid through us now (e.g. TENANT_NOT_COLLECTABLE), None when it can
    not_payable_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class MobileBills:
    """Bills found for a payer's mobile number, and the cities that could not be searched in
    time (a partial answer rather than none: the device shows what was found and says which
    cities are missing)."""

    offers: list[BillOffer]
    unsearched_tenants: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AcceptOutcome:
    """The payment a POST /v1/payments produced; `replayed` when the key had been seen before."""

    payment: Payment
    replayed: bool = False


@dataclass(frozen=True, kw_only=True)
class ReceiptLine:
    """What one tax head of a receipt received."""

    tax_head_code: str
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """One DIGIT receipt (one bill of one DIGIT payment)."""

    receipt_number: str
    receipt_date: datetime | None
    tenant_id: str
    business_service: str
    consumer_code: str | None
    bill_id: str
    bill_number: str | None
    payer_name: str | None
    paid_by: str | None
    payment_mode: str
    amount_paid: Decimal
    total_due: Decimal | None = None
    lines: tuple[ReceiptLine, ...] = ()
    payment_id: str | None = None
    #: the payer's mobile number: only for a receipt of the asking device's own payment
    mobile_number: str | None = None
    #: the DIGIT payment's standing: a CANCELLED or DISHONOURED payment's receipt is void
    status: ReceiptStatus = ReceiptStatus.REGISTERED

    @property
    def valid(self) -> bool:
        """Does the receipt still stand (its payment neither cancelled nor dishonoured)?"""
        return self.status is ReceiptStatus.REGISTERED


# --- errors ----------------------------------------------------------------------------------


class UseCaseError(PaymentError):
    """Base of the errors a use case raises besides PaymentRejected; one HTTP status each."""


class IdempotencyKeyReused(UseCaseError):
    """This device already used the key for a payment with a different body."""

    def __init__(self, payment_id: str | None = None) -> None:
        self.payment_id = payment_id
        super().__init__("idempotency key already used for a different payment")


class PaymentInProgress(UseCaseError):
    """One of our payments for the same bill is not finished; paying again could pay twice."""

    def __init__(self, payment_id: str | None, *, bill_id: str | None = None) -> None:
        self.payment_id = payment_id  # None when another device made it
        self.bill_id = bill_id
        super().__init__(f"payment {payment_id or '(another device)'} for this bill is in progress")


class RequestInFlight(UseCaseError):
    """A request with the same idempotency key is being processed right now."""

    def __init__(self, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__("a request with this idempotency key is in progress")


class OfflineUploadInProgress(UseCaseError):
    """Another upload of the same device carrying CASH is being judged against the offline cash
    limit (they run one at a time) and did not finish within the wait; nothing was stored."""

    def __init__(self, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__("another upload of this device is in progress")


class DigitUnreachable(UseCaseError):
    """DIGIT cannot be reached and nothing vouches for the bill; nothing was stored."""

    def __init__(self, retry_after: int = 30) -> None:
        self.retry_after = retry_after
        super().__init__("DIGIT cannot be reached")


class LedgerUnavailable(UseCaseError):
    """The ledger (PostgreSQL) cannot be reached or has no free connection.

    Answered 503 + Retry-After. A payment is accepted only by a committed transaction, so the
    device retries with the same Idempotency-Key: it gets the payment if the commit happened,
    and a fresh acceptance if it did not. Nothing is half-written either way.
    """

    def __init__(self, message: str = "the ledger cannot be reached", retry_after: int = 2) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class ReceiptNotReady(UseCaseError):
    """The payment has no DIGIT receipt (yet, or ever): PENDING, NEEDS_ATTENTION, refunded."""

    def __init__(self, payment_id: str, status: str) -> None:
        self.payment_id = payment_id
        self.status = status
        super().__init__(f"payment {payment_id} has no DIGIT receipt: it is {status}")


class ConsumerCodeRequired(UseCaseError):
    """A receipt the device did not collect was looked up without its consumer code."""

    def __init__(self) -> None:
        super().__init__("consumerCode is required for a receipt this device did not collect")


class ReceiptLookupLimited(UseCaseError):
    """The device looked up too many receipts it did not collect in the last minute."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__("too many receipt lookups")


class NotFound(UseCaseError):
    """No such resource for this device."""

    code = "NOT_FOUND"


class PaymentNotFound(NotFound):
    code = "PAYMENT_NOT_FOUND"


class ReceiptNotFound(NotFound):
    code = "RECEIPT_NOT_FOUND"


# --- the port --------------------------------------------------------------------------------


class PaymentUseCases(Protocol):
    """What the PoS API asks of the payments domain. Every method is keyword-only.

    `device` is the authenticated caller; the edge has already checked that it may act for the
    tenant named in the request. Payments are only ever visible to the device that made them.
    """

    def bills_for_consumer(
        self,
        *,
        device: Device,
        tenant_id: str,
        business_service: str,
        consumer_code: str,
        open_marks: OpenMarks | None = None,
    ) -> list[BillOffer]:
        """The consumer's bills that are due (empty when nothing is due). `open_marks`: the
        consumer's open-payment marks if already read (with the request's admission)."""
        ...

    def bills_for_mobile(
        self,
        *,
        device: Device,
        tenant_id: str,
        mobile_number: str,
        business_service: str | None,
    ) -> MobileBills:
        """Bills due for a payer's mobile number, across the collectable services (or one), in
        a city or in every city of a state; the cities that could not be searched are named."""
        ...

    def validate_payment(self, *, device: Device, request: PaymentRequest) -> list[BillOffer]:
        """Every check `accept_payment` makes, nothing stored: the offers, in the request's order.

        Raises PaymentRejected, PaymentInProgress or DigitUnreachable.
        """
        ...

    def accept_payment(
        self, *, device: Device, idempotency_key: str, request: PaymentRequest
    ) -> AcceptOutcome:
        """Record the payment and try to register it with DIGIT within the budget.

        Raises PaymentRejected, IdempotencyKeyReused, PaymentInProgress, RequestInFlight or
        DigitUnreachable.
        """
        ...

    def get_payment(self, *, device: Device, payment_id: str) -> Payment:
        """One of this device's payments; PaymentNotFound otherwise."""
        ...

    def find_payment(self, *, device: Device, idempotency_key: str) -> Payment:
        """This device's payment made with `idempotency_key`; PaymentNotFound otherwise."""
        ...

    def receipt(
        self,
        *,
        device: Device,
        tenant_id: str,
        business_service: str,
        receipt_number: str,
        consumer_code: str | None = None,
    ) -> Receipt:
        """A DIGIT receipt of the tenant; ReceiptNotFound otherwise (DigitUnreachable if down).

        A receipt of one of the device's own payments comes with the payer's mobile number; any
        other needs `consumer_code` (ConsumerCodeRequired), comes without it, and counts against
        the device's lookup limit (ReceiptLookupLimited)."""
        ...
