"""Typed values going in and out of DIGIT. Amounts are Decimal; epoch-ms are aware datetimes.

These are the DIGIT edge's vocabulary; the domain maps them to its own models. Parsing from DIGIT's
JSON lives in `integrator.digit.parse`, building request bodies in `integrator.digit.client`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, kw_only=True)
class BillAccountDetail:
    """One tax head of one period (billAccountDetails[])."""

    tax_head_code: str
    amount: Decimal
    adjusted_amount: Decimal = Decimal(0)
    order: int = 0


@dataclass(frozen=True, kw_only=True)
class BillDetail:
    """One demand period of a bill (billDetails[])."""

    id: str
    demand_id: str | None
    from_period: datetime | None
    to_period: datetime | None
    expiry_date: datetime | None
    amount: Decimal
    account_details: tuple[BillAccountDetail, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Bill:
    """A bill as billing-service v2 returns it (`_fetchbill`, `_search`)."""

    id: str
    bill_number: str
    tenant_id: str
    business_service: str
    consumer_code: str
    status: str
    total_amount: Decimal
    bill_date: datetime | None
    payer_name: str | None = None
    mobile_number: str | None = None
    details: tuple[BillDetail, ...] = ()

    @property
    def expires_at(self) -> datetime | None:
        """A bill expires at its earliest billDetail expiry (collection's BILL_EXPIRED rule)."""
        expiries = [d.expiry_date for d in self.details]
        if not expiries or any(e is None for e in expiries):
            return None
        return min(e for e in expiries if e is not None)

    @property
    def period_from(self) -> datetime | None:
        starts = [d.from_period for d in self.details if d.from_period is not None]
        return min(starts) if starts else None

    @property
    def period_to(self) -> datetime | None:
        ends = [d.to_period for d in self.details if d.to_period is not None]
        return max(ends) if ends else None

    def lines(self) -> dict[str, Decimal]:
        """Amount per tax head, summed over periods, in DIGIT's order."""
        ordered = sorted(
            (a for d in self.details for a in d.account_details),
            key=lambda a: (a.order, a.tax_head_code),
        )
        totals: dict[str, Decimal] = {}
        for line in ordered:
            totals[line.tax_head_code] = totals.get(line.tax_head_code, Decimal(0)) + line.amount
        return totals


@dataclass(frozen=True, kw_only=True)
class PaymentRule:
    """MDMS BillingService.BusinessService flags for one businessService (docs/digit.md#mdms)."""

    business_service: str
    part_payment_allowed: bool
    advance_allowed: bool
    min_amount_payable: Decimal | None
    modes_not_allowed: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class Tenant:
    """A tenant from MDMS tenant.tenants: the state (`pb`) or a city (`pb.amritsar`)."""

    code: str
    name: str
    city_name: str | None = None


@dataclass(frozen=True, kw_only=True)
class PaymentLine:
    """One bill paid in a payment we ask DIGIT to create (one paymentDetail)."""

    bill_id: str
    business_service: str
    amount: Decimal
    total_due: Decimal


@dataclass(frozen=True, kw_only=True)
class PaymentCreate:
    """What we send to `payments/_create`. One DIGIT Payment, one paymentDetail per bill."""

    tenant_id: str
    payment_mode: str
    paid_by: str
    payer_name: str | None
    mobile_number: str | None
    lines: tuple[PaymentLine, ...]
    transaction_number: str
    instrument_number: str | None = None
    instrument_date: datetime | None = None
    additional_details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


@dataclass(frozen=True, kw_only=True)
class ReceiptLine:
    """Amount DIGIT apportioned to one tax head of a receipt."""

    tax_head_code: str
    amount: Decimal
    adjusted_amount: Decimal


@dataclass(frozen=True, kw_only=True)
class DigitPaymentDetail:
    """One paymentDetail of a DIGIT Payment: one bill, one receipt."""

    id: str
    bill_id: str
    business_service: str
    receipt_number: str
    receipt_date: datetime | None
    total_due: Decimal
    amount_paid: Decimal
    consumer_code: str | None = None
    bill_number: str | None = None
    lines: tuple[ReceiptLine, ...] = ()
    bill_status: str | None = None  # collection's copy of the bill: CANCELLED after a cancel
    bill_cancelled: bool = False  # its isCancelled (docs/digit.md#cancel)
    #: collection's copy of the bill as paid (periods and tax heads, for printing the receipt);
    #: None when the answer's bill lacks what a Bill needs
    bill: Bill | None = None


@dataclass(frozen=True, kw_only=True)
class DigitPayment:
    """A Payment as collection-services returns it (`_create`, `_search`)."""

    id: str
    tenant_id: str
    payment_mode: str
    payment_status: str | None
    instrument_status: str | None
    total_amount_paid: Decimal
    transaction_number: str | None
    transaction_date: datetime | None
    paid_by: str | None
    payer_name: str | None
    mobile_number: str | None
    additional_details: Mapping[str, Any]
    details: tuple[DigitPaymentDetail, ...]

    @property
    def is_live(self) -> bool:
        """Does this payment still pay its bills? False once DIGIT cancelled or dishonoured it
        (paymentStatus or instrumentStatus CANCELLED / DISHONOURED, docs/digit.md#cancel) or
        rejected its instrument: then BILL_ALREADY_PAID no longer counts it
        (docs/digit.md#codes)."""
        return (self.payment_status or "").upper() not in DEAD_PAYMENT_STATUSES and (
            self.instrument_status or ""
        ).upper() not in DEAD_INSTRUMENT_STATUSES

    @property
    def is_cancelled(self) -> bool:
        """Cancelled by `_workflow` CANCEL (not dishonoured)."""
        return (self.payment_status or "").upper() == "CANCELLED"


#: paymentStatus / instrumentStatus values of a payment that no longer pays its bills.
DEAD_PAYMENT_STATUSES = frozenset({"CANCELLED", "DISHONOURED"})
DEAD_INSTRUMENT_STATUSES = frozenset({"CANCELLED", "DISHONOURED", "REJECTED"})

#: `_workflow` actions a client may send. REMIT is left out on purpose: billing reverses a
#: remitted payment like a cancellation (docs/digit.md#cancel), so the integrator never sends it.
WORKFLOW_ACTIONS = frozenset({"CANCEL", "DISHONOUR"})


@dataclass(frozen=True, kw_only=True)
class WorkflowItem:
    """One payment to cancel or dishonour (`PaymentWorkflows[]`, docs/digit.md#cancel)."""

    payment_id: str  # the Payment id, not the receipt number
    reason: str | None = None
    additional_details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MobileLookup:
    """Bills found for a mobile number, and the cities that could not be searched in time (the
    answer is then partial: those cities' consumers may have bills too)."""

    bills: tuple[Bill, ...]
    failed_tenants: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.failed_tenants


@dataclass(frozen=True, kw_only=True)
class Role:
    """A DIGIT role the account holds: code at a tenant (login `UserRequest.roles[]`)."""

    code: str
    tenant_id: str


@dataclass(frozen=True, kw_only=True)
class AuthState:
    """What /readyz reports about DIGIT authentication (never the token itself)."""

    has_token: bool
    expires_at: datetime | None
    locked: bool
    locked_reason: str | None = None
    failed_logins: int = 0
    #: "credentials" (until `integrator digit unlock`) or "account" (DIGIT's lock: temporary)
    lock_kind: str | None = None
    #: DIGIT's account lock: when the next login will be tried
    locked_until: datetime | None = None
    refresh_expires_at: datetime | None = None
    roles: tuple[Role, ...] = ()

    @property
    def tenants(self) -> tuple[str, ...]:
        """The tenants at which the account holds a role."""
        return tuple(sorted({r.tenant_id for r in self.roles}))
